/*-------------------------------------------------------------------------
 *
 * bounds.h
 *	  The bounds of what a user may store: the window of every timestamp and
 *	  date, how far an appointment may lie, the length of every free text.
 *
 * One definition (issue 11), read by the SQL functions' argument checks and
 * by the tables' CHECK constraints alike; a free text is bounded because it
 * reaches a webhook or a report.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_BOUNDS_H
#define ALLIANCE_BOUNDS_H

#include "datatype/timestamp.h"
#include "utils/date.h"

/*
 * Every instant and date lies in [1900-01-01, 2200-01-01), in UTC: older than
 * any living patient's records, further ahead than any plan, and far inside
 * what timestamptz arithmetic and time zone conversion can represent.
 */
#define BOUNDS_FIRST_YEAR	1900
#define BOUNDS_END_YEAR		2200

/* an appointment (alliance.schedule) lies within a day before and a year after now */
#define BOUNDS_SCHEDULE_PAST		USECS_PER_DAY
#define BOUNDS_SCHEDULE_AHEAD		(INT64CONST(366) * USECS_PER_DAY)

/* The longest free texts, in characters */
#define BOUNDS_PATIENT_REF		64		/* an ID card number, MRN or EMPI id */
#define BOUNDS_DOCTOR_REF		64		/* a family doctor (team), as its institution names it */
#define BOUNDS_REASON			2000	/* why the patient is referred */
#define BOUNDS_NOTE				2000	/* the note of a transition */
#define BOUNDS_SUMMARY			4000	/* the outcome summary of complete() */
#define BOUNDS_KIND				64		/* a teleconsultation's kind */
#define BOUNDS_SPECIALTY		64		/* a specialty (routing rules, institutions) */
#define BOUNDS_NAME				200		/* an alliance's or institution's name */
#define BOUNDS_REGION			200		/* an institution's region */

extern TimestampTz alliance_bounds_first_instant(void);
extern TimestampTz alliance_bounds_end_instant(void);
extern void alliance_bounds_check_instant(TimestampTz value, const char *what);
extern void alliance_bounds_check_day(DateADT value, const char *what);
extern void alliance_bounds_check_day_span(DateADT start, int32 days, const char *what);
extern void alliance_bounds_check_appointment(TimestampTz value, const char *what);
extern void alliance_bounds_check_text(const char *value, int len, int limit, const char *what);
extern void alliance_bounds_check_not_blank(const char *value, int len, const char *what);

#endif							/* ALLIANCE_BOUNDS_H */
