/*-------------------------------------------------------------------------
 *
 * labels.h
 *	  The extension's SQL enum types as C sees them: each label by its
 *	  position, the text of the labels read from the catalog (labels.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_LABELS_H
#define ALLIANCE_LABELS_H

/* The enum types whose labels C code acts on */
typedef enum EnumType
{
	ENUM_REFERRAL_STATUS,
	ENUM_ACUITY,
	ENUM_URGENCY,
	ENUM_DIRECTION,
	ENUM_TYPE_COUNT
} EnumType;

/* alliance.referral_status, in the enum's order */
typedef enum ReferralStatus
{
	RS_DRAFT,
	RS_REQUESTED,
	RS_ACCEPTED,
	RS_SCHEDULED,
	RS_ARRIVED,
	RS_COMPLETED,
	RS_REJECTED,
	RS_CANCELLED,
	RS_EXPIRED,
	RS_NO_SHOW,
	RS_COUNT
} ReferralStatus;

/* alliance.acuity (急慢分治), in the enum's order */
typedef enum Acuity
{
	ACUITY_ACUTE,
	ACUITY_CHRONIC,
	ACUITY_REHAB,
	ACUITY_COUNT
} Acuity;

/* alliance.urgency, in the enum's order */
typedef enum Urgency
{
	URGENCY_EMERGENCY,
	URGENCY_URGENT,
	URGENCY_ROUTINE,
	URGENCY_COUNT
} Urgency;

/* alliance.direction, in the enum's order */
typedef enum Direction
{
	DIRECTION_UPWARD,
	DIRECTION_DOWNWARD,
	DIRECTION_LATERAL,
	DIRECTION_COUNT
} Direction;

/* the label at position of the type (an error when out of range) */
extern const char *alliance_label(EnumType type, int position);

/* the position of label in the type (an error when it is none of its labels) */
extern int	alliance_label_position(EnumType type, const char *label);

#endif							/* ALLIANCE_LABELS_H */
