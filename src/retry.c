/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  When a failed delivery is tried again: alliance.retry_schedule, parsed
 *	  by its check hook, and the delay before the next try.
 *
 * The schedule's default is the setting's boot value (settings.c): the
 * assign hook runs with it when the setting is defined.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "utils/guc.h"

#include "parse.h"
#include "retry.h"
#include "settings.h"

#define MAX_SCHEDULE		64

/* how long a receiver's Retry-After is honoured, at most */
#define RETRY_AFTER_MAX_SECONDS (24 * 60 * 60)

typedef struct RetrySchedule
{
	int			n;
	double		seconds[MAX_SCHEDULE];
} RetrySchedule;

/* alliance.retry_schedule, parsed */
static RetrySchedule schedule;

bool
alliance_retry_schedule_check(char **newval, void **extra, GucSource source)
{
	RetrySchedule *parsed = malloc(sizeof(RetrySchedule));

	if (parsed == NULL)
		return false;
	if (!alliance_duration_list_parse(*newval, strlen(*newval), parsed->seconds, MAX_SCHEDULE, &parsed->n))
	{
		GUC_check_errdetail("The retry schedule is a comma-separated list of at most %d durations "
							"of at most a year, such as \"0,5s,5min,30min,2h\".", MAX_SCHEDULE);
		free(parsed);
		return false;
	}
	*extra = parsed;
	return true;
}

void
alliance_retry_schedule_assign(const char *newval, void *extra)
{
	if (extra)
		schedule = *(RetrySchedule *) extra;
}

/*
 * Seconds before the next try of a delivery that failed on its attempt
 * number attempts + 1, or -1 to give up: the schedule's next step with
 * jitter, or longer if the receiver asked for it with Retry-After (seconds,
 * or -1), honoured up to a day.  A 410 Gone is never tried again.
 */
double
alliance_retry_delay(int attempts, long http_status, double retry_after)
{
	int			next = attempts + 1;
	double		delay;

	if (http_status == 410 || next >= schedule.n)
		return -1;
	delay = schedule.seconds[next] * (0.9 + 0.2 * pg_prng_double(&pg_global_prng_state));
	return Max(delay, Min(retry_after, RETRY_AFTER_MAX_SECONDS));
}
