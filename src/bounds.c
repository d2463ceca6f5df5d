/*-------------------------------------------------------------------------
 *
 * bounds.c
 *	  The bounds of what a user may store (bounds.h), checked on the SQL
 *	  functions' arguments and, as SQL functions, by CHECK constraints.
 *
 * A timestamp outside the window, or 'infinity', would make the months the
 * indicators span unbounded and the worker's deadline arithmetic overflow;
 * an unbounded text would make every notification of its referral too big to
 * build.  Both are refused when written, with the limit in the message.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "bounds.h"

/* The named text limits the CHECK constraints and alliance.text_limits() use */
typedef struct TextLimit
{
	const char *what;
	int			limit;
	bool		not_blank;
} TextLimit;

static const TextLimit text_limits[] = {
	{"patient_ref", BOUNDS_PATIENT_REF, true},
	{"doctor_ref", BOUNDS_DOCTOR_REF, true},
	{"reason", BOUNDS_REASON, false},
	{"note", BOUNDS_NOTE, false},
	{"summary", BOUNDS_SUMMARY, false},
	/* an event's note holds a transition's note or complete()'s summary */
	{"event note", Max(BOUNDS_NOTE, BOUNDS_SUMMARY), false},
	{"kind", BOUNDS_KIND, true},
	{"specialty", BOUNDS_SPECIALTY, true},
	{"name", BOUNDS_NAME, true},
	{"region", BOUNDS_REGION, false},
};

/* Days from PostgreSQL's epoch to January 1st of a year */
static DateADT
first_day_of(int year)
{
	return date2j(year, 1, 1) - POSTGRES_EPOCH_JDATE;
}

/* The first instant of the window: 1900-01-01 00:00 UTC */
TimestampTz
alliance_bounds_first_instant(void)
{
	return (TimestampTz) first_day_of(BOUNDS_FIRST_YEAR) * USECS_PER_DAY;
}

/* The first instant after the window: 2200-01-01 00:00 UTC */
TimestampTz
alliance_bounds_end_instant(void)
{
	return (TimestampTz) first_day_of(BOUNDS_END_YEAR) * USECS_PER_DAY;
}

/* Raise 22008 unless value lies in the window */
void
alliance_bounds_check_instant(TimestampTz value, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(value) ||
		value < alliance_bounds_first_instant() || value >= alliance_bounds_end_instant())
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s %s is outside %d-01-01 to %d-01-01", what,
						timestamptz_to_str(value), BOUNDS_FIRST_YEAR, BOUNDS_END_YEAR),
				 errdetail("Instants from %d-01-01 00:00 UTC up to, not including, %d-01-01 00:00 UTC are accepted.",
						   BOUNDS_FIRST_YEAR, BOUNDS_END_YEAR)));
}

static char *
day_to_str(DateADT value)
{
	return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(value)));
}

/* Raise 22008 unless value lies in the window */
void
alliance_bounds_check_day(DateADT value, const char *what)
{
	if (DATE_NOT_FINITE(value) ||
		value < first_day_of(BOUNDS_FIRST_YEAR) || value >= first_day_of(BOUNDS_END_YEAR))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s %s is outside %d-01-01 to %d-01-01", what,
						day_to_str(value), BOUNDS_FIRST_YEAR, BOUNDS_END_YEAR),
				 errdetail("Dates from %d-01-01 up to, not including, %d-01-01 are accepted.",
						   BOUNDS_FIRST_YEAR, BOUNDS_END_YEAR)));
}

/*
 * Raise 22008 unless the days days from start on (start included) lie in the
 * window; a days below 1 counts as 1 (its own check says more).
 */
void
alliance_bounds_check_day_span(DateADT start, int32 days, const char *what)
{
	int64		last;

	alliance_bounds_check_day(start, what);
	last = (int64) start + Max(days, 1) - 1;
	if (last >= first_day_of(BOUNDS_END_YEAR))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s %s plus %d days ends after %d-01-01", what,
						day_to_str(start), days, BOUNDS_END_YEAR),
				 errdetail("Dates from %d-01-01 up to, not including, %d-01-01 are accepted.",
						   BOUNDS_FIRST_YEAR, BOUNDS_END_YEAR)));
}

/*
 * Raise 22008 unless value is a plausible appointment: in the window, and
 * from a day before this transaction's start to a year after it.
 */
void
alliance_bounds_check_appointment(TimestampTz value, const char *what)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	alliance_bounds_check_instant(value, what);
	if (value < now - BOUNDS_SCHEDULE_PAST)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s %s is more than a day in the past", what, timestamptz_to_str(value)),
				 errdetail("An appointment is booked from a day before now to a year after now."),
				 errhint("Check the date; a patient who did not come becomes a no-show on its own.")));
	if (value > now + BOUNDS_SCHEDULE_AHEAD)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("%s %s is more than a year ahead", what, timestamptz_to_str(value)),
				 errdetail("An appointment is booked from a day before now to a year after now."),
				 errhint("Check the year.")));
}

/*
 * Raise 22001 if value (len bytes) is longer than limit characters.  The
 * characters are counted only when the bytes could hold too many.
 */
void
alliance_bounds_check_text(const char *value, int len, int limit, const char *what)
{
	if (len <= limit)
		return;
	if ((int64) len > (int64) limit * pg_database_encoding_max_length() ||
		pg_mbstrlen_with_len(value, len) > limit)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is longer than %d characters", what, limit),
				 errhint("Store the full text in the member's own system and pass a reference or an excerpt.")));
}

/*
 * Raise 22023 if value (len bytes) is empty or only white space (ASCII, the
 * no-break space U+00A0 or the ideographic space U+3000).
 */
void
alliance_bounds_check_not_blank(const char *value, int len, const char *what)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	int			i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) value[i];

		if (c == ' ' || (c >= '\t' && c <= '\r'))
			i++;
		else if (utf8 && c == 0xC2 && i + 1 < len && (unsigned char) value[i + 1] == 0xA0)
			i += 2;
		else if (utf8 && c == 0xE3 && i + 2 < len && (unsigned char) value[i + 1] == 0x80 &&
				 (unsigned char) value[i + 2] == 0x80)
			i += 3;
		else
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must not be %s", what, len == 0 ? "empty" : "blank"),
			 errhint("Pass a value with at least one character that is not white space.")));
}

static const TextLimit *
find_limit(text *what)
{
	char	   *name = text_to_cstring(what);

	for (int i = 0; i < lengthof(text_limits); i++)
		if (strcmp(text_limits[i].what, name) == 0)
			return &text_limits[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("no text limit is named \"%s\"", name),
			 errhint("alliance.text_limits() lists them.")));
	pg_unreachable();
}

static void
check_named(text *value, const TextLimit *limit)
{
	const char *data = VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);

	alliance_bounds_check_text(data, len, limit->limit, limit->what);
	if (limit->not_blank)
		alliance_bounds_check_not_blank(data, len, limit->what);
}

/*
 * alliance.check_text(value text, what text) → boolean: true, or 22001 when
 * value is longer than the limit named what (22023 when it must not be blank
 * and is).  For CHECK constraints.
 */
PG_FUNCTION_INFO_V1(alliance_bounds_text_sql);
Datum
alliance_bounds_text_sql(PG_FUNCTION_ARGS)
{
	check_named(PG_GETARG_TEXT_PP(0), find_limit(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_BOOL(true);
}

/* alliance.check_texts(value text[], what text) → boolean: each element */
PG_FUNCTION_INFO_V1(alliance_bounds_texts_sql);
Datum
alliance_bounds_texts_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	const TextLimit *limit = find_limit(PG_GETARG_TEXT_PP(1));
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			check_named(DatumGetTextPP(elems[i]), limit);
	PG_RETURN_BOOL(true);
}

/*
 * alliance.check_instant(value timestamptz, what text) → boolean: true, or
 * 22008 outside the window.  For CHECK constraints.
 */
PG_FUNCTION_INFO_V1(alliance_bounds_instant_sql);
Datum
alliance_bounds_instant_sql(PG_FUNCTION_ARGS)
{
	alliance_bounds_check_instant(PG_GETARG_TIMESTAMPTZ(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_BOOL(true);
}

/*
 * alliance.check_days(start date, days integer, what text) → boolean: true,
 * or 22008 unless start and its days lie in the window.  For CHECK
 * constraints.
 */
PG_FUNCTION_INFO_V1(alliance_bounds_days_sql);
Datum
alliance_bounds_days_sql(PG_FUNCTION_ARGS)
{
	alliance_bounds_check_day_span(PG_GETARG_DATEADT(0), PG_GETARG_INT32(1),
						  text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_BOOL(true);
}

/* alliance.text_limits() → (what text, max_characters integer, not_blank boolean) */
PG_FUNCTION_INFO_V1(alliance_text_limits_sql);
Datum
alliance_text_limits_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < lengthof(text_limits); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(text_limits[i].what);
		values[1] = Int32GetDatum(text_limits[i].limit);
		values[2] = BoolGetDatum(text_limits[i].not_blank);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * alliance.time_window() → (first timestamptz, "end" timestamptz,
 * schedule_past interval, schedule_ahead interval)
 */
PG_FUNCTION_INFO_V1(alliance_time_window_sql);
Datum
alliance_time_window_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Interval   *past = palloc0(sizeof(Interval));
	Interval   *ahead = palloc0(sizeof(Interval));

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	past->day = BOUNDS_SCHEDULE_PAST / USECS_PER_DAY;
	ahead->day = BOUNDS_SCHEDULE_AHEAD / USECS_PER_DAY;
	values[0] = TimestampTzGetDatum(alliance_bounds_first_instant());
	values[1] = TimestampTzGetDatum(alliance_bounds_end_instant());
	values[2] = IntervalPGetDatum(past);
	values[3] = IntervalPGetDatum(ahead);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
