/*-------------------------------------------------------------------------
 *
 * indicators.c
 *	  The calendar of the indicators: alliance.timezone, the zone whose
 *	  months they count in, as the library holds it and as it is checked.
 *
 * The indicators themselves are SQL (compute_indicators, refresh_indicators
 * in the extension script): triggers note which (alliance, month) keys a
 * change touches, and a refresh recomputes those keys alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "settings.h"

/*
 * alliance.indicator_timezone() → text: alliance.timezone as the library
 * holds it.  Being here, it loads the library first, which turns a value a
 * session set before (a placeholder) back to the server's.
 */
PG_FUNCTION_INFO_V1(indicator_timezone);
Datum
indicator_timezone(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(alliance_timezone));
}

/* check hook of alliance.timezone: a time zone PostgreSQL knows */
bool
alliance_timezone_check(char **newval, void **extra, GucSource source)
{
	if (pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("\"%s\" is not a time zone PostgreSQL knows, such as Asia/Shanghai.", *newval);
		return false;
	}
	return true;
}
