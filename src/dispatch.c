/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  The dispatcher of one database (SPEC §6): it delivers the outbox as
 *	  signed webhooks and retries on alliance.retry_schedule (the setting
 *	  is parsed here).  The chores worker (chores.c) does everything else.
 *
 * A turn of the loop records what finished and claims what is due in one
 * short transaction, then -- only once that transaction has committed --
 * starts the claimed requests with no transaction open, and waits: on its
 * latch, which a committing backend sets, on libcurl's sockets and timer,
 * and on the next deadline, whichever comes first.  Claimed rows carry a
 * lease (lease_until) instead of a lock, so nothing stays locked while HTTP
 * is in flight; a dispatcher that starts releases the leases of its dead
 * predecessor, so a crash loses nothing and at worst sends a notification
 * twice, with the same webhook-id.
 *
 * What finished is kept until a commit has recorded it: a turn that fails
 * records it at the next.  Rows another session holds locked are skipped,
 * never waited for, and recorded later.  A notification whose payload
 * cannot be built is marked dead with the error; the others go on.
 *
 * Order: a notification is not claimed while an earlier one of the same
 * referral to the same institution is still pending, so each receiver sees a
 * referral's events in order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "storage/ipc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "parse.h"
#include "settings.h"
#include "stmt.h"
#include "webhook.h"
#include "worker.h"


#define MAX_SCHEDULE		64
#define MAX_GONE			256
#define LONGEST_SLEEP_MS	60000
#define FAILED_TURN_SLEEP_MS 1000
/* how soon to try again what was held by another session, or blocked */
#define RETRY_HELD_MS		1000
#define NO_EXTENSION_SLEEP_MS 10000
/* how long a statement of the dispatcher waits for a lock another session holds */
#define DISPATCH_LOCK_TIMEOUT "1s"

typedef struct RetrySchedule
{
	int			n;
	double		seconds[MAX_SCHEDULE];
} RetrySchedule;

/* alliance.retry_schedule, parsed; the default until the setting is assigned */
static RetrySchedule schedule = {10, {0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400}};

static DispatcherSlot *slot;
static WebhookSender *sender;

/*
 * Attempts that finished and are not recorded yet.  A turn moves those it
 * records to "recording", which its commit frees and its abort gives back.
 */
static Delivery *finished;
static Delivery *recording;

/*
 * Receivers that answered 410 Gone, whose endpoint is still to disable (as
 * long as it is still registered at that URL)
 */
typedef struct Gone
{
	int64		institution_id;
	char		url[1024];
} Gone;

static Gone gone[MAX_GONE];
static int	ngone = 0;
static int	ngone_done = 0;		/* of those, disabled by this turn */

static bool leases_released = false;

/* A notification claimed by a turn, started once its transaction committed */
typedef struct Claimed
{
	int64		outbox_id;
	int64		referral_id;
	int64		event_id;
	int64		institution_id;
	int			attempts;
	bool		fhir;
	char	   *url;
	char	   *secret;
	char	   *body;
} Claimed;

typedef struct Turn
{
	MemoryContext cxt;			/* lives until the turn's requests are started */
	bool		extension;
	int			nclaimed;
	Claimed    *claimed;
	bool		has_next_due;
	double		next_due_seconds;	/* until the next retry */
	int64		delivered;		/* recorded by the turn, for the slot's figures */
	int64		failed;
	const char *last_error;
} Turn;

/*
 * What is due, within the limits: $1 free slots, $2/$3 requests in flight
 * per institution, $4 at most per endpoint, $5 institutions at that limit,
 * $6 the lease in seconds.  CLAIM_RETURNING says what comes back: with the
 * payload, or without it when payloads are built one at a time.
 */
#define CLAIM_DUE(returning) \
	"WITH busy (institution_id, used) AS (SELECT * FROM unnest($2::bigint[], $3::int[]))," \
	" due AS (" \
	"   SELECT o.referral_id, o.id, o.institution_id, o.next_attempt_at" \
	"     FROM alliance.outbox o" \
	"    WHERE o.status = 'pending' AND o.next_attempt_at <= now()" \
	"      AND (o.lease_until IS NULL OR o.lease_until <= now())" \
	"      AND o.institution_id <> ALL ($5::bigint[])" \
	"      AND EXISTS (SELECT FROM alliance.endpoint e WHERE e.institution_id = o.institution_id AND e.active)" \
	"      AND NOT EXISTS (SELECT FROM alliance.outbox p" \
	"                       WHERE p.referral_id = o.referral_id AND p.institution_id = o.institution_id" \
	"                         AND p.status = 'pending' AND p.id < o.id)" \
	"    ORDER BY o.next_attempt_at, o.id" \
	"    LIMIT $1 * 8)," \
	" candidate AS (" \
	"   SELECT d.referral_id, d.id, d.next_attempt_at" \
	"     FROM (SELECT due.*, row_number() OVER (PARTITION BY due.institution_id" \
	"                                            ORDER BY due.next_attempt_at, due.id) AS n" \
	"             FROM due) d" \
	"     LEFT JOIN busy b ON b.institution_id = d.institution_id" \
	"    WHERE d.n <= $4 - coalesce(b.used, 0)" \
	"    ORDER BY d.next_attempt_at, d.id" \
	"    LIMIT $1)," \
	" locked AS (" \
	"   SELECT o.referral_id, o.id FROM alliance.outbox o" \
	"     JOIN candidate c ON c.referral_id = o.referral_id AND c.id = o.id" \
	"    WHERE o.status = 'pending'" \
	"      FOR UPDATE OF o SKIP LOCKED)" \
	" UPDATE alliance.outbox o SET lease_until = now() + make_interval(secs => $6)" \
	"   FROM locked l, alliance.endpoint e" \
	"  WHERE o.referral_id = l.referral_id AND o.id = l.id" \
	"    AND e.institution_id = o.institution_id AND e.active" \
	" RETURNING o.id, o.referral_id, o.event_id, o.institution_id, o.attempts," \
	"           e.url, e.secret, e.format = 'fhir', " returning

#define CLAIM_ARGS 6, {INT4OID, INT8ARRAYOID, INT4ARRAYOID, INT4OID, INT8ARRAYOID, FLOAT8OID}

static Stmt claim_due = {
	CLAIM_DUE("alliance.event_payload(o.referral_id, o.event_id, e.format::text)"), CLAIM_ARGS
};

static Stmt claim_due_bare = {
	CLAIM_DUE("e.format::text"), CLAIM_ARGS
};

static Stmt build_payload = {
	"SELECT alliance.event_payload($1, $2, $3)",
	3, {INT8OID, INT8OID, TEXTOID}
};

static Stmt bury = {
	"UPDATE alliance.outbox o SET status = 'dead', lease_until = NULL, last_error = r.error"
	"  FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS r(referral_id, id, error)"
	" WHERE o.referral_id = r.referral_id AND o.id = r.id AND o.status = 'pending'",
	3, {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID}
};

/*
 * Record finished attempts: the outbox rows and the delivery log, in one
 * statement, for the rows no other session holds locked.  Returns the
 * attempts it is done with: recorded, or whose row is no longer pending.
 */
static Stmt record_attempts = {
	"WITH r AS ("
	"   SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::float8[],"
	"                        $6::float8[], $7::timestamptz[])"
	"       AS r(referral_id, id, http_status, error, delay, duration_ms, started_at)),"
	" l AS ("
	"   SELECT o.referral_id, o.id FROM alliance.outbox o"
	"     JOIN r ON r.referral_id = o.referral_id AND r.id = o.id"
	"    WHERE o.status = 'pending'"
	"      FOR UPDATE OF o SKIP LOCKED),"
	" u AS ("
	"   UPDATE alliance.outbox o"
	"      SET attempts = o.attempts + 1, lease_until = NULL,"
	"          last_status = nullif(r.http_status, 0), last_error = r.error,"
	"          status = CASE WHEN r.error IS NULL THEN 'delivered'"
	"                        WHEN r.delay < 0 THEN 'dead' ELSE 'pending' END::alliance.outbox_status,"
	"          delivered_at = CASE WHEN r.error IS NULL THEN now() END,"
	"          next_attempt_at = CASE WHEN r.error IS NOT NULL AND r.delay >= 0"
	"                                 THEN now() + make_interval(secs => r.delay)"
	"                                 ELSE o.next_attempt_at END"
	"     FROM r, l"
	"    WHERE o.referral_id = l.referral_id AND o.id = l.id"
	"      AND r.referral_id = l.referral_id AND r.id = l.id"
	"   RETURNING o.id, o.referral_id, o.event_id, o.institution_id, o.attempts),"
	" logged AS ("
	"   INSERT INTO alliance.delivery_log (outbox_id, referral_id, event_id, institution_id, attempt,"
	"                                     at, duration_ms, http_status, error)"
	"   SELECT u.id, u.referral_id, u.event_id, u.institution_id, u.attempts,"
	"          r.started_at, r.duration_ms, nullif(r.http_status, 0), r.error"
	"     FROM u JOIN r ON r.referral_id = u.referral_id AND r.id = u.id)"
	" SELECT r.referral_id, r.id FROM r"
	"  WHERE EXISTS (SELECT FROM l WHERE l.referral_id = r.referral_id AND l.id = r.id)"
	"     OR NOT EXISTS (SELECT FROM alliance.outbox o"
	"                     WHERE o.referral_id = r.referral_id AND o.id = r.id AND o.status = 'pending')",
	7, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID,
		TIMESTAMPTZARRAYOID}
};

/*
 * Disable the endpoints that answered 410 Gone, and bury what was still
 * waiting for them; returns the institutions it is done with (an endpoint
 * row another session holds locked waits for a later turn).
 */
static Stmt disable_gone = {
	"WITH a (institution_id, url) AS (SELECT * FROM unnest($1::bigint[], $2::text[])),"
	" g AS ("
	"   SELECT e.institution_id FROM alliance.endpoint e JOIN a USING (institution_id)"
	"    WHERE e.active AND e.url = a.url FOR UPDATE OF e SKIP LOCKED),"
	" off AS ("
	"   UPDATE alliance.endpoint e SET active = false, updated_at = now()"
	"     FROM g WHERE e.institution_id = g.institution_id RETURNING e.institution_id),"
	" buried AS ("
	"   UPDATE alliance.outbox o"
	"      SET status = 'dead',"
	"          last_error = 'not sent: the endpoint was disabled when the receiver answered 410 Gone'"
	"    WHERE o.institution_id IN (SELECT institution_id FROM off) AND o.status = 'pending'"
	"      AND (o.lease_until IS NULL OR o.lease_until <= now()))"
	" SELECT a.institution_id FROM a"
	"  WHERE a.institution_id IN (SELECT institution_id FROM g)"
	"     OR NOT EXISTS (SELECT FROM alliance.endpoint e"
	"                     WHERE e.institution_id = a.institution_id AND e.active AND e.url = a.url)",
	2, {INT8ARRAYOID, TEXTARRAYOID}
};

static Stmt release_leases = {
	"UPDATE alliance.outbox SET lease_until = NULL WHERE status = 'pending' AND lease_until IS NOT NULL",
	0, {InvalidOid}
};

/*
 * Seconds until the next retry is due, at most a day ahead: whatever is
 * stored (a year 294276, infinity), the arithmetic cannot overflow.
 */
static Stmt next_due = {
	"SELECT extract(epoch FROM least("
	"   (SELECT o.next_attempt_at FROM alliance.outbox o"
	"     WHERE o.status = 'pending' AND o.lease_until IS NULL"
	"       AND EXISTS (SELECT FROM alliance.endpoint e WHERE e.institution_id = o.institution_id AND e.active)"
	"     ORDER BY o.next_attempt_at LIMIT 1),"
	"   now() + interval '1 day') - now())::float8",
	0, {InvalidOid}
};

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

/* ms from now to now + seconds, within [0, LONGEST_SLEEP_MS] */
static long
ms_until(double seconds)
{
	if (seconds <= 0)
		return 0;
	return (long) Min(seconds * 1000.0 + 1, LONGEST_SLEEP_MS);
}

/*
 * Seconds before the next try of a failed delivery, or -1 to give up: the
 * schedule's next step with jitter, or longer if the receiver asked for it
 * with Retry-After (honoured up to a day).
 */
#define RETRY_AFTER_MAX_SECONDS (24 * 60 * 60)

static double
retry_delay(const Delivery *d)
{
	int			next = d->attempts + 1;
	double		delay;

	if (d->http_status == 410 || next >= schedule.n)
		return -1;
	delay = schedule.seconds[next] * (0.9 + 0.2 * pg_prng_double(&pg_global_prng_state));
	return Max(delay, Min(d->retry_after, RETRY_AFTER_MAX_SECONDS));
}

static bool
delivered(const Delivery *d)
{
	return d->error[0] == '\0' && d->http_status >= 200 && d->http_status <= 299;
}

static Datum
int8_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
float8_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
int4_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT));
}

static Datum
text_array(Datum *elems, bool *nulls, int n)
{
	return PointerGetDatum(construct_md_array(elems, nulls, 1, &n, (int[]) {1},
											  TEXTOID, -1, false, TYPALIGN_INT));
}

/* Remember that an institution's receiver answered 410 Gone */
static void
note_gone(const Delivery *d)
{
	for (int i = 0; i < ngone; i++)
		if (gone[i].institution_id == d->institution_id)
			return;
	if (ngone < MAX_GONE)
	{
		gone[ngone].institution_id = d->institution_id;
		strlcpy(gone[ngone].url, d->url, sizeof(gone[ngone].url));
		ngone++;
	}
}

/*
 * Record the attempts that finished: those done move from finished to
 * recording, and count towards the turn's figures.
 */
static void
record_finished(Turn *turn)
{
	int			n = 0;
	Datum	   *referral;
	Datum	   *id;
	Datum	   *status;
	Datum	   *error;
	Datum	   *delay;
	Datum	   *duration;
	Datum	   *started;
	bool	   *error_null;
	Datum		values[7];
	Delivery   *d;
	Delivery  **link;

	for (d = finished; d; d = d->next)
		n++;
	if (n == 0)
		return;
	referral = palloc(n * sizeof(Datum));
	id = palloc(n * sizeof(Datum));
	status = palloc(n * sizeof(Datum));
	error = palloc(n * sizeof(Datum));
	error_null = palloc(n * sizeof(bool));
	delay = palloc(n * sizeof(Datum));
	duration = palloc(n * sizeof(Datum));
	started = palloc(n * sizeof(Datum));

	n = 0;
	for (d = finished; d; d = d->next, n++)
	{
		bool		ok_d = delivered(d);

		referral[n] = Int64GetDatum(d->referral_id);
		id[n] = Int64GetDatum(d->outbox_id);
		status[n] = Int32GetDatum((int32) d->http_status);
		error_null[n] = ok_d;
		error[n] = ok_d ? (Datum) 0 : CStringGetTextDatum(d->error);
		delay[n] = Float8GetDatum(ok_d ? 0 : retry_delay(d));
		duration[n] = Float8GetDatum(d->duration_ms);
		started[n] = TimestampTzGetDatum(d->started_at);
	}

	values[0] = int8_array(referral, n);
	values[1] = int8_array(id, n);
	values[2] = int4_array(status, n);
	values[3] = text_array(error, error_null, n);
	values[4] = float8_array(delay, n);
	values[5] = float8_array(duration, n);
	values[6] = PointerGetDatum(construct_array(started, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	alliance_stmt_run(&record_attempts, values, NULL, 0);

	/* move what is done to recording; the rest waits for a later turn */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		done_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		for (link = &finished; *link; link = &(*link)->next)
		{
			if ((*link)->outbox_id != done_id)
				continue;
			d = *link;
			*link = d->next;
			d->next = recording;
			recording = d;
			if (delivered(d))
				turn->delivered++;
			else
			{
				turn->failed++;
				turn->last_error = d->error;
			}
			if (d->http_status == 410)
				note_gone(d);
			break;
		}
	}
}

/* Disable the endpoints that answered 410 Gone, as far as no one holds them */
static void
disable_gone_endpoints(void)
{
	Datum		ids[MAX_GONE];
	Datum		urls[MAX_GONE];
	Datum		values[2];
	int			kept = 0;

	ngone_done = 0;
	if (ngone == 0)
		return;
	for (int i = 0; i < ngone; i++)
	{
		ids[i] = Int64GetDatum(gone[i].institution_id);
		urls[i] = CStringGetTextDatum(gone[i].url);
	}
	values[0] = int8_array(ids, ngone);
	values[1] = text_array(urls, NULL, ngone);
	alliance_stmt_run(&disable_gone, values, NULL, 0);
	/* done ones to the front, so that a commit can forget them */
	for (int i = 0; i < ngone; i++)
	{
		bool		done = false;

		for (uint64 k = 0; k < SPI_processed && !done; k++)
		{
			bool		isnull;

			done = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull)) == gone[i].institution_id;
		}
		if (done)
		{
			Gone		t = gone[kept];

			gone[kept++] = gone[i];
			gone[i] = t;
		}
	}
	ngone_done = kept;
}

/* Column col of row i of the last result as a string in cxt, or NULL */
static char *
column_string(uint64 i, int col, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

static int64
column_int8(uint64 i, int col)
{
	bool		isnull;

	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, col, &isnull));
}

/*
 * Claim what is due, within the limits, into turn->claimed; with_payload
 * builds the bodies in the claim, else they are left NULL.
 */
static void
claim(Turn *turn, bool with_payload)
{
	int			in_flight = alliance_webhook_in_flight(sender);
	int			free_slots = alliance_max_in_flight - in_flight;
	int			nbusy = 0;
	int			nfull = 0;
	Datum	   *ids;
	Datum	   *used;
	Datum	   *full;
	Datum		values[6];
	Delivery   *d;

	turn->nclaimed = 0;
	if (free_slots <= 0)
		return;

	/* requests in flight per institution */
	ids = palloc((in_flight + 1) * sizeof(Datum));
	used = palloc((in_flight + 1) * sizeof(Datum));
	full = palloc((in_flight + 1) * sizeof(Datum));
	for (d = alliance_webhook_in_flight_list(sender); d; d = d->next)
	{
		int			i;

		for (i = 0; i < nbusy; i++)
			if (DatumGetInt64(ids[i]) == d->institution_id)
				break;
		if (i == nbusy)
		{
			ids[nbusy] = Int64GetDatum(d->institution_id);
			used[nbusy++] = Int32GetDatum(0);
		}
		used[i] = Int32GetDatum(DatumGetInt32(used[i]) + 1);
	}
	for (int i = 0; i < nbusy; i++)
		if (DatumGetInt32(used[i]) >= alliance_max_in_flight_per_endpoint)
			full[nfull++] = ids[i];

	values[0] = Int32GetDatum(free_slots);
	values[1] = int8_array(ids, nbusy);
	values[2] = int4_array(used, nbusy);
	values[3] = Int32GetDatum(alliance_max_in_flight_per_endpoint);
	values[4] = int8_array(full, nfull);
	/* a lease outlives any request, even one queued behind a slow endpoint */
	values[5] = Float8GetDatum(2.0 * alliance_http_timeout / 1000.0 + 30);
	alliance_stmt_run(with_payload ? &claim_due : &claim_due_bare, values, NULL, 0);

	turn->claimed = MemoryContextAlloc(turn->cxt, Max(SPI_processed, 1) * sizeof(Claimed));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Claimed    *c = &turn->claimed[turn->nclaimed++];
		bool		isnull;

		c->outbox_id = column_int8(i, 1);
		c->referral_id = column_int8(i, 2);
		c->event_id = column_int8(i, 3);
		c->institution_id = column_int8(i, 4);
		c->attempts = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &isnull));
		c->url = column_string(i, 6, turn->cxt);
		c->secret = column_string(i, 7, turn->cxt);
		c->fhir = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 8, &isnull));
		/* with_payload: the body; else the format, for build_payloads */
		c->body = column_string(i, 9, turn->cxt);
	}
}

/*
 * Run fn in a subtransaction; on error, roll it back and return the error
 * message (in the caller's memory context), else NULL.
 */
static char *
in_subtransaction(void (*fn) (void *), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile message = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		message = pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return message;
}

static void
claim_with_payloads(void *arg)
{
	claim((Turn *) arg, true);
}

typedef struct PayloadJob
{
	Turn	   *turn;
	Claimed    *c;
} PayloadJob;

static void
build_one_payload(void *arg)
{
	PayloadJob *job = (PayloadJob *) arg;
	Datum		values[3];
	Datum		body;

	values[0] = Int64GetDatum(job->c->referral_id);
	values[1] = Int64GetDatum(job->c->event_id);
	values[2] = CStringGetTextDatum(job->c->body);	/* the format, from claim_due_bare */
	alliance_stmt_run(&build_payload, values, NULL, 1);
	job->c->body = alliance_stmt_get(1, &body)
		? MemoryContextStrdup(job->turn->cxt, TextDatumGetCString(body))
		: NULL;
}

/*
 * Claim, building the payloads one at a time, each in a subtransaction: a
 * notification whose payload fails (a poisonous row) is marked dead with
 * the error, and the others go on.
 */
static void
claim_one_by_one(Turn *turn)
{
	Datum	   *referral;
	Datum	   *id;
	Datum	   *error;
	int			nbad = 0;
	int			kept = 0;

	claim(turn, false);
	if (turn->nclaimed == 0)
		return;
	referral = palloc(turn->nclaimed * sizeof(Datum));
	id = palloc(turn->nclaimed * sizeof(Datum));
	error = palloc(turn->nclaimed * sizeof(Datum));
	for (int i = 0; i < turn->nclaimed; i++)
	{
		PayloadJob	job = {turn, &turn->claimed[i]};
		char	   *message = in_subtransaction(build_one_payload, &job);

		if (message == NULL)
		{
			turn->claimed[kept++] = turn->claimed[i];
			continue;
		}
		ereport(LOG,
				(errmsg("alliance dispatcher: notification " INT64_FORMAT " is dead: its payload could not be built: %s",
						turn->claimed[i].outbox_id, message)));
		referral[nbad] = Int64GetDatum(turn->claimed[i].referral_id);
		id[nbad] = Int64GetDatum(turn->claimed[i].outbox_id);
		error[nbad++] = CStringGetTextDatum(psprintf("not sent: the payload could not be built: %.200s", message));
	}
	turn->nclaimed = kept;
	if (nbad > 0)
	{
		Datum		values[3];

		values[0] = int8_array(referral, nbad);
		values[1] = int8_array(id, nbad);
		values[2] = text_array(error, NULL, nbad);
		alliance_stmt_run(&bury, values, NULL, 0);
	}
}

static void
deliver_step(void *arg)
{
	Turn	   *turn = (Turn *) arg;
	StmtScope	scope;
	Datum		due;
	char	   *problem;

	turn->extension = OidIsValid(get_extension_oid("alliance", true));
	if (!turn->extension)
	{
		leases_released = false;
		return;
	}
	alliance_stmt_begin(&scope, false);
	if (!leases_released)
		alliance_stmt_run(&release_leases, NULL, NULL, 0);
	record_finished(turn);
	disable_gone_endpoints();
	problem = in_subtransaction(claim_with_payloads, turn);
	if (problem != NULL)
	{
		ereport(LOG,
				(errmsg("alliance dispatcher: claiming with payloads failed, building them one at a time: %s", problem)));
		claim_one_by_one(turn);
	}
	alliance_stmt_run(&next_due, NULL, NULL, 1);
	turn->has_next_due = alliance_stmt_get(1, &due);
	if (turn->has_next_due)
		turn->next_due_seconds = DatumGetFloat8(due);
	alliance_stmt_end(&scope);
}

/* After the turn's commit: forget what it recorded, count it, start what it claimed */
static void
turn_committed(Turn *turn)
{
	Delivery   *d;
	Delivery   *next;

	leases_released = true;
	for (d = recording; d; d = next)
	{
		next = d->next;
		alliance_webhook_free_delivery(sender, d);
	}
	recording = NULL;
	memmove(gone, gone + ngone_done, (ngone - ngone_done) * sizeof(Gone));
	ngone -= ngone_done;
	ngone_done = 0;

	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->delivered += turn->delivered;
	slot->failed += turn->failed;
	if (turn->last_error)
	{
		strlcpy(slot->last_error, turn->last_error, ERROR_TEXT_SIZE);
		slot->last_error_at = GetCurrentTimestamp();
	}
	LWLockRelease(alliance_shared->lock);

	/* no transaction is open while the requests run */
	for (int i = 0; i < turn->nclaimed; i++)
	{
		Claimed    *c = &turn->claimed[i];

		d = alliance_webhook_new_delivery(sender, c->url, c->body ? c->body : "{}");
		d->outbox_id = c->outbox_id;
		d->referral_id = c->referral_id;
		d->event_id = c->event_id;
		d->institution_id = c->institution_id;
		d->attempts = c->attempts;
		d->fhir = c->fhir;
		alliance_webhook_start(sender, d, c->secret);
	}
}

/* After the turn's abort: what it recorded is to record again; nothing starts */
static void
turn_aborted(void)
{
	Delivery   *d;
	Delivery   *next;

	for (d = recording; d; d = next)
	{
		next = d->next;
		d->next = finished;
		finished = d;
	}
	recording = NULL;
	ngone_done = 0;
}

/* One turn: returns how long to wait, in ms */
static long
dispatcher_turn(void)
{
	MemoryContext keep = CurrentMemoryContext;
	Turn		turn = {0};
	bool		ok;
	long		timeout;

	/* what is claimed must outlive the transaction that claims it */
	turn.cxt = keep;
	ok = alliance_worker_in_transaction(slot, deliver_step, &turn, "delivering notifications");
	MemoryContextSwitchTo(keep);

	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->state = (ok && !turn.extension) ? DISPATCHER_WAITING : DISPATCHER_RUNNING;
	LWLockRelease(alliance_shared->lock);

	if (!ok)
	{
		/* nothing is sent without a committed lease; try again in a while */
		turn_aborted();
		return FAILED_TURN_SLEEP_MS;
	}
	if (!turn.extension)
		return NO_EXTENSION_SLEEP_MS;
	turn_committed(&turn);

	/*
	 * Sleep until the next retry is due.  Something already due but not
	 * claimed waits for a request to finish (its endpoint is busy, or an
	 * earlier notification of its referral is in flight), which wakes us; or
	 * a second at most.
	 */
	timeout = !turn.has_next_due ? LONGEST_SLEEP_MS
		: turn.next_due_seconds > 0 ? ms_until(turn.next_due_seconds) : RETRY_HELD_MS;
	/* rows or endpoints another session held: again soon */
	if (finished != NULL || ngone > 0)
		timeout = Min(timeout, RETRY_HELD_MS);
	return timeout;
}

static void
dispatcher_detach(int code, Datum arg)
{
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->pid = 0;
	slot->latch = NULL;
	LWLockRelease(alliance_shared->lock);
}

void
alliance_dispatcher_main(Datum arg)
{
	int			slotno = DatumGetInt32(arg);
	Oid			dboid;
	char		dbname[NAMEDATALEN];
	MemoryContext turn_context;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	slot = &alliance_shared->slots[slotno];
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	dboid = slot->dboid;
	strlcpy(dbname, slot->dbname, NAMEDATALEN);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	slot->state = DISPATCHER_STARTING;
	slot->started_at = GetCurrentTimestamp();
	LWLockRelease(alliance_shared->lock);
	before_shmem_exit(dispatcher_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("alliance dispatcher");

	/* the database's name now (a rename keeps its OID) */
	StartTransactionCommand();
	strlcpy(dbname, get_database_name(MyDatabaseId), NAMEDATALEN);
	CommitTransactionCommand();
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	strlcpy(slot->dbname, dbname, NAMEDATALEN);
	LWLockRelease(alliance_shared->lock);

	/*
	 * Losing the last commits in a crash only means sending again what was
	 * marked delivered: the at-least-once promise holds.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Its statements are planned for the queue as it is (a generic plan
	 * guesses a LIMIT $1 reads a tenth of a million-row queue), and never
	 * JIT-compiled: they read little, and LLVM would add 50 MB to the
	 * process.  Its row locks are taken with SKIP LOCKED; a table lock held
	 * elsewhere fails its turn instead of stopping it.
	 */
	SetConfigOption("plan_cache_mode", "force_custom_plan", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", DISPATCH_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(FATAL, (errmsg("could not initialize libcurl")));
	sender = alliance_webhook_sender_create(dbname);
	turn_context = AllocSetContextCreate(TopMemoryContext, "alliance dispatcher turn",
										 ALLOCSET_DEFAULT_SIZES);
	ereport(LOG, (errmsg("alliance dispatcher started for database \"%s\"", dbname)));

	for (;;)
	{
		long		timeout;
		Delivery   *done;

		/* SIGTERM: stop between batches (in-flight rows keep their lease) */
		(void) alliance_worker_check_signals();
		if (alliance_worker_exit_requested(slot))
		{
			ereport(LOG, (errmsg("alliance dispatcher for database \"%s\" leaves for DROP DATABASE", dbname)));
			proc_exit(0);
		}

		MemoryContextReset(turn_context);
		MemoryContextSwitchTo(turn_context);
		timeout = dispatcher_turn();
		alliance_webhook_wait(sender, timeout, PG_WAIT_EXTENSION);

		/* what finished is recorded at the next turn */
		while ((done = alliance_webhook_take_done(sender)) != NULL)
		{
			Delivery   *next;

			for (; done; done = next)
			{
				next = done->next;
				done->next = finished;
				finished = done;
			}
		}
	}
}
