/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  The dispatcher of one database (SPEC §6): it delivers the outbox as
 *	  signed webhooks, retries on alliance.retry_schedule, expires overdue
 *	  referrals and no-shows through the gate, prunes the delivery log and
 *	  refreshes the indicators.  Also alliance.redeliver().
 *
 * A turn of the loop records what finished and claims what is due in one
 * short transaction, then starts the claimed requests with no transaction
 * open, and waits -- on its latch, which a committing backend sets, on
 * libcurl's sockets and timer, and on the next deadline -- whichever comes
 * first.  Claimed rows carry a lease (lease_until) instead of a lock, so
 * nothing stays locked while HTTP is in flight; a dispatcher that starts
 * releases the leases of its dead predecessor, so a crash loses nothing and
 * at worst sends a notification twice, with the same webhook-id.
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

#include "access.h"
#include "alliance.h"
#include "exec.h"
#include "parse.h"
#include "referral.h"
#include "webhook.h"
#include "worker.h"

#define MAX_SCHEDULE		64
#define EXPIRY_BATCH		500
#define PRUNE_BATCH			10000
#define STATS_EVERY_MS		5000
#define PRUNE_EVERY_MS		60000
#define SLA_CHECK_EVERY_MS	1000
#define LONGEST_SLEEP_MS	60000
#define NO_EXTENSION_SLEEP_MS 10000

typedef struct RetrySchedule
{
	int			n;
	double		seconds[MAX_SCHEDULE];
} RetrySchedule;

/* alliance.retry_schedule, parsed; the default until the setting is assigned */
static RetrySchedule schedule = {10, {0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400}};

static DispatcherSlot *slot;
static WebhookSender *sender;
static Delivery *finished;		/* done, to be recorded */
static bool leases_released = false;
static TimestampTz next_sla_check = 0;
static TimestampTz next_stats = 0;
static TimestampTz next_prune = 0;
static TimestampTz next_refresh = 0;

/* A turn's claimed deliveries, started once its transaction committed */
typedef struct Claimed
{
	Delivery   *d;
	char	   *secret;
} Claimed;

typedef struct Turn
{
	MemoryContext cxt;			/* lives until the turn's requests are started */
	bool		extension;
	int			nclaimed;
	Claimed    *claimed;
	bool		has_next_due;
	double		next_due_seconds;	/* until the next retry or deadline */
	bool		expiry_backlog;
} Turn;

static Stmt claim_due = {
	"WITH busy (institution_id, used) AS (SELECT * FROM unnest($2::bigint[], $3::int[])),"
	" due AS ("
	"   SELECT o.referral_id, o.id, o.institution_id, o.next_attempt_at"
	"     FROM alliance.outbox o"
	"    WHERE o.status = 'pending' AND o.next_attempt_at <= now()"
	"      AND (o.lease_until IS NULL OR o.lease_until <= now())"
	"      AND o.institution_id <> ALL ($5::bigint[])"
	"      AND EXISTS (SELECT FROM alliance.endpoint e WHERE e.institution_id = o.institution_id AND e.active)"
	/* in order: not while an earlier one of its referral to its receiver is pending */
	"      AND NOT EXISTS (SELECT FROM alliance.outbox p"
	"                       WHERE p.referral_id = o.referral_id AND p.institution_id = o.institution_id"
	"                         AND p.status = 'pending' AND p.id < o.id)"
	"    ORDER BY o.next_attempt_at, o.id"
	"    LIMIT $1 * 8),"
	/* then at most $4 in flight per endpoint */
	" candidate AS ("
	"   SELECT d.referral_id, d.id, d.next_attempt_at"
	"     FROM (SELECT due.*, row_number() OVER (PARTITION BY due.institution_id"
	"                                            ORDER BY due.next_attempt_at, due.id) AS n"
	"             FROM due) d"
	"     LEFT JOIN busy b ON b.institution_id = d.institution_id"
	"    WHERE d.n <= $4 - coalesce(b.used, 0)"
	"    ORDER BY d.next_attempt_at, d.id"
	"    LIMIT $1),"
	" locked AS ("
	"   SELECT o.referral_id, o.id FROM alliance.outbox o"
	"     JOIN candidate c ON c.referral_id = o.referral_id AND c.id = o.id"
	"    WHERE o.status = 'pending'"
	"      FOR UPDATE OF o SKIP LOCKED)"
	" UPDATE alliance.outbox o SET lease_until = now() + make_interval(secs => $6)"
	"   FROM locked l, alliance.endpoint e"
	"  WHERE o.referral_id = l.referral_id AND o.id = l.id"
	"    AND e.institution_id = o.institution_id AND e.active"
	" RETURNING o.id, o.referral_id, o.event_id, o.institution_id, o.attempts,"
	"           e.url, e.secret, e.format = 'fhir',"
	"           alliance.event_payload(o.referral_id, o.event_id, e.format)",
	6, {INT4OID, INT8ARRAYOID, INT4ARRAYOID, INT4OID, INT8ARRAYOID, FLOAT8OID}
};

static Stmt record_attempts = {
	"WITH r AS ("
	"   SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::float8[],"
	"                        $6::float8[], $7::timestamptz[])"
	"       AS r(referral_id, id, http_status, error, delay, duration_ms, started_at)),"
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
	"     FROM r"
	"    WHERE o.referral_id = r.referral_id AND o.id = r.id AND o.status = 'pending'"
	"   RETURNING o.id, o.referral_id, o.event_id, o.institution_id, o.attempts)"
	" INSERT INTO alliance.delivery_log (outbox_id, referral_id, event_id, institution_id, attempt,"
	"                                   at, duration_ms, http_status, error)"
	" SELECT u.id, u.referral_id, u.event_id, u.institution_id, u.attempts,"
	"        r.started_at, r.duration_ms, nullif(r.http_status, 0), r.error"
	"   FROM u JOIN r ON r.referral_id = u.referral_id AND r.id = u.id",
	7, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID,
		TIMESTAMPTZARRAYOID}
};

static Stmt disable_gone = {
	"WITH gone AS ("
	"   UPDATE alliance.endpoint SET active = false, updated_at = now()"
	"    WHERE institution_id = ANY ($1) AND active RETURNING institution_id)"
	" UPDATE alliance.outbox o"
	"    SET status = 'dead',"
	"        last_error = 'not sent: the endpoint was disabled when the receiver answered 410 Gone'"
	"  WHERE o.institution_id IN (SELECT institution_id FROM gone) AND o.status = 'pending'"
	"    AND (o.lease_until IS NULL OR o.lease_until <= now())",
	1, {INT8ARRAYOID}
};

static Stmt release_leases = {
	"UPDATE alliance.outbox SET lease_until = NULL WHERE status = 'pending' AND lease_until IS NOT NULL",
	0, {InvalidOid}
};

static Stmt next_due = {
	"SELECT extract(epoch FROM least("
	"   (SELECT o.next_attempt_at FROM alliance.outbox o"
	"     WHERE o.status = 'pending' AND o.lease_until IS NULL"
	"       AND EXISTS (SELECT FROM alliance.endpoint e WHERE e.institution_id = o.institution_id AND e.active)"
	"     ORDER BY o.next_attempt_at LIMIT 1),"
	"   (SELECT min(r.due_at) FROM alliance.referral r WHERE r.status = 'requested'),"
	"   (SELECT min(r.scheduled_at) FROM alliance.referral r WHERE r.status = 'scheduled')"
	"       + make_interval(secs => $1)) - now())::float8",
	1, {FLOAT8OID}
};

static Stmt overdue_requested = {
	"SELECT id FROM alliance.referral WHERE status = 'requested' AND due_at <= now()"
	" ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED",
	1, {INT4OID}
};

static Stmt overdue_scheduled = {
	"SELECT id FROM alliance.referral WHERE status = 'scheduled'"
	"   AND scheduled_at <= now() - make_interval(secs => $2)"
	" ORDER BY scheduled_at LIMIT $1 FOR UPDATE SKIP LOCKED",
	2, {INT4OID, FLOAT8OID}
};

static Stmt queue_stats = {
	"SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at))::float8, 0)"
	"  FROM alliance.outbox WHERE status = 'pending'",
	0, {InvalidOid}
};

static Stmt prune_log = {
	"DELETE FROM alliance.delivery_log d"
	" USING (SELECT referral_id, id FROM alliance.delivery_log"
	"         WHERE at < now() - make_interval(secs => $1) LIMIT $2) old"
	" WHERE d.referral_id = old.referral_id AND d.id = old.id",
	2, {FLOAT8OID, INT4OID}
};

static Stmt refresh_exists = {
	"SELECT to_regprocedure('alliance.refresh_indicators()') IS NOT NULL",
	0, {InvalidOid}
};

static Stmt refresh = {
	"SELECT alliance.refresh_indicators()",
	0, {InvalidOid}
};

bool
retry_schedule_check(char **newval, void **extra, GucSource source)
{
	RetrySchedule *parsed = malloc(sizeof(RetrySchedule));

	if (parsed == NULL)
		return false;
	if (!duration_list_parse(*newval, strlen(*newval), parsed->seconds, MAX_SCHEDULE, &parsed->n))
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
retry_schedule_assign(const char *newval, void *extra)
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

static void
note_error(const char *message)
{
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	strlcpy(slot->last_error, message, ERROR_TEXT_SIZE);
	slot->last_error_at = GetCurrentTimestamp();
	LWLockRelease(alliance_shared->lock);
}

/*
 * Run fn in a transaction of its own.  An error is logged and remembered
 * in the slot, the transaction rolled back, and the dispatcher goes on.
 */
static bool
in_transaction(void (*fn) (void *), void *arg, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	PG_TRY();
	{
		fn(arg);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("alliance dispatcher: %s failed: %s", what, edata->message)));
		note_error(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(cxt);
	return ok;
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
array_of(Datum *elems, int n, Oid type, int16 len, bool byval, char align)
{
	return PointerGetDatum(construct_array(elems, n, type, len, byval, align));
}

/* Write the attempts that finished: outbox rows and delivery log, in one go */
static void
record_finished(void)
{
	int			n = 0;
	int			ngone = 0;
	int64		ok = 0;
	int64		failed_count = 0;
	const char *last_error = NULL;
	Datum	   *referral;
	Datum	   *id;
	Datum	   *status;
	Datum	   *error;
	Datum	   *delay;
	Datum	   *duration;
	Datum	   *started;
	Datum	   *gone;
	bool	   *error_null;
	Datum		values[7];
	Delivery   *d;
	Delivery   *next;

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
	gone = palloc(n * sizeof(Datum));

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
		if (d->http_status == 410)
			gone[ngone++] = Int64GetDatum(d->institution_id);
		if (ok_d)
			ok++;
		else
		{
			failed_count++;
			last_error = d->error;
		}
	}

	values[0] = array_of(referral, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[1] = array_of(id, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[2] = array_of(status, n, INT4OID, 4, true, TYPALIGN_INT);
	values[3] = PointerGetDatum(construct_md_array(error, error_null, 1, &n, (int[]) {1},
												   TEXTOID, -1, false, TYPALIGN_INT));
	values[4] = array_of(delay, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[5] = array_of(duration, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[6] = array_of(started, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	stmt_run(&record_attempts, values, NULL, 0);
	if (ngone > 0)
	{
		values[0] = array_of(gone, ngone, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
		stmt_run(&disable_gone, values, NULL, 0);
	}

	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->delivered += ok;
	slot->failed += failed_count;
	if (last_error)
	{
		strlcpy(slot->last_error, last_error, ERROR_TEXT_SIZE);
		slot->last_error_at = GetCurrentTimestamp();
	}
	LWLockRelease(alliance_shared->lock);

	for (d = finished; d; d = next)
	{
		next = d->next;
		webhook_free_delivery(sender, d);
	}
	finished = NULL;
}

/* Claim what is due, within the limits, for turn->claimed */
static void
claim(Turn *turn, MemoryContext keep)
{
	int			free_slots = alliance_max_in_flight - webhook_in_flight(sender);
	int			nbusy = 0;
	int			nfull = 0;
	Datum	   *ids;
	Datum	   *used;
	Datum	   *full;
	Datum		values[6];
	Delivery   *d;

	if (free_slots <= 0)
		return;

	/* requests in flight per institution */
	ids = palloc((webhook_in_flight(sender) + 1) * sizeof(Datum));
	used = palloc((webhook_in_flight(sender) + 1) * sizeof(Datum));
	full = palloc((webhook_in_flight(sender) + 1) * sizeof(Datum));
	for (d = webhook_in_flight_list(sender); d; d = d->next)
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
	values[1] = array_of(ids, nbusy, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[2] = array_of(used, nbusy, INT4OID, 4, true, TYPALIGN_INT);
	values[3] = Int32GetDatum(alliance_max_in_flight_per_endpoint);
	values[4] = array_of(full, nfull, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	/* a lease outlives any request, even one queued behind a slow endpoint */
	values[5] = Float8GetDatum(2.0 * alliance_http_timeout / 1000.0 + 30);
	stmt_run(&claim_due, values, NULL, 0);

	turn->claimed = MemoryContextAlloc(keep, Max(SPI_processed, 1) * sizeof(Claimed));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *body = SPI_getvalue(tuple, desc, 9);
		Claimed    *c = &turn->claimed[turn->nclaimed++];

		c->d = webhook_new_delivery(sender, SPI_getvalue(tuple, desc, 6), body ? body : "{}");
		c->d->outbox_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		c->d->referral_id = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
		c->d->event_id = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
		c->d->institution_id = DatumGetInt64(SPI_getbinval(tuple, desc, 4, &isnull));
		c->d->attempts = DatumGetInt32(SPI_getbinval(tuple, desc, 5, &isnull));
		c->d->fhir = DatumGetBool(SPI_getbinval(tuple, desc, 8, &isnull));
		c->secret = MemoryContextStrdup(keep, SPI_getvalue(tuple, desc, 7));
	}
}

static void
deliver_step(void *arg)
{
	Turn	   *turn = (Turn *) arg;
	StmtScope	scope;
	Datum		grace = Float8GetDatum((double) alliance_no_show_grace);
	Datum		due;

	turn->extension = OidIsValid(get_extension_oid("alliance", true));
	if (!turn->extension)
	{
		leases_released = false;
		return;
	}
	stmt_begin(&scope, false);
	if (!leases_released)
	{
		stmt_run(&release_leases, NULL, NULL, 0);
		leases_released = true;
	}
	record_finished();
	claim(turn, turn->cxt);
	stmt_run(&next_due, &grace, NULL, 1);
	turn->has_next_due = stmt_get(1, &due);
	if (turn->has_next_due)
		turn->next_due_seconds = DatumGetFloat8(due);
	stmt_end(&scope);
}

/* Move what the worker moves: overdue requested referrals, and no-shows */
static void
expire_overdue(Turn *turn)
{
	Datum		values[2];
	int64	   *ids[2];
	uint64		n[2];
	ReferralStatus targets[2] = {RS_EXPIRED, RS_NO_SHOW};
	const char *notes[2] = {
		"nobody answered within the SLA (alliance.sla_*)",
		"the patient did not come (alliance.no_show_grace)"
	};

	values[0] = Int32GetDatum(EXPIRY_BATCH);
	values[1] = Float8GetDatum((double) alliance_no_show_grace);
	for (int k = 0; k < 2; k++)
	{
		stmt_run(k == 0 ? &overdue_requested : &overdue_scheduled, values, NULL, 0);
		n[k] = SPI_processed;
		ids[k] = palloc(Max(n[k], 1) * sizeof(int64));
		for (uint64 i = 0; i < n[k]; i++)
		{
			bool		isnull;

			ids[k][i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		turn->expiry_backlog |= (n[k] == EXPIRY_BATCH);
	}
	for (int k = 0; k < 2; k++)
		for (uint64 i = 0; i < n[k]; i++)
		{
			Transition	t = {0};

			t.referral_id = ids[k][i];
			t.to = targets[k];
			t.note = notes[k];
			t.actor = "alliance";
			(void) referral_transition(&t);
		}
}

typedef struct Chores
{
	Turn	   *turn;
	bool		sla;
	bool		stats;
	bool		prune;
	bool		refresh;
} Chores;

static void
chores_step(void *arg)
{
	Chores	   *c = (Chores *) arg;
	StmtScope	scope;
	Datum		values[2];

	if (!OidIsValid(get_extension_oid("alliance", true)))
		return;
	stmt_begin(&scope, false);
	if (c->sla)
		expire_overdue(c->turn);
	if (c->stats)
	{
		bool		isnull;

		stmt_run(&queue_stats, NULL, NULL, 1);
		LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
		slot->queue_depth = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		slot->oldest_pending_seconds = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		LWLockRelease(alliance_shared->lock);
	}
	if (c->prune)
	{
		values[0] = Float8GetDatum((double) alliance_log_retention);
		values[1] = Int32GetDatum(PRUNE_BATCH);
		stmt_run(&prune_log, values, NULL, 0);
		if (SPI_processed == PRUNE_BATCH)
			next_prune = 0;		/* more to do next turn */
	}
	if (c->refresh)
	{
		Datum		exists;

		stmt_run(&refresh_exists, NULL, NULL, 1);
		if (stmt_get(1, &exists) && DatumGetBool(exists))
			stmt_run(&refresh, NULL, NULL, 0);
	}
	stmt_end(&scope);
}

/* One turn: returns how long to wait, in ms */
static long
dispatcher_turn(void)
{
	MemoryContext keep = CurrentMemoryContext;
	Turn		turn = {0};
	Chores		chores = {0};
	TimestampTz now;
	long		timeout;

	/* what is claimed must outlive the transaction that claims it */
	turn.cxt = keep;

	in_transaction(deliver_step, &turn, "delivering notifications");
	MemoryContextSwitchTo(keep);

	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->state = turn.extension ? DISPATCHER_RUNNING : DISPATCHER_WAITING;
	LWLockRelease(alliance_shared->lock);
	if (!turn.extension)
		return NO_EXTENSION_SLEEP_MS;

	/* no transaction is open while the requests run */
	for (int i = 0; i < turn.nclaimed; i++)
		webhook_start(sender, turn.claimed[i].d, turn.claimed[i].secret);

	now = GetCurrentTimestamp();
	chores.turn = &turn;
	chores.sla = now >= next_sla_check;
	chores.stats = now >= next_stats;
	chores.prune = now >= next_prune;
	chores.refresh = now >= next_refresh;
	if (chores.sla || chores.stats || chores.prune || chores.refresh)
	{
		if (chores.sla)
			next_sla_check = TimestampTzPlusMilliseconds(now, SLA_CHECK_EVERY_MS);
		if (chores.stats)
			next_stats = TimestampTzPlusMilliseconds(now, STATS_EVERY_MS);
		if (chores.prune)
			next_prune = TimestampTzPlusMilliseconds(now, PRUNE_EVERY_MS);
		if (chores.refresh)
			next_refresh = TimestampTzPlusMilliseconds(now, (int64) alliance_refresh_interval * 1000);
		in_transaction(chores_step, &chores, "expiring, pruning, refreshing");
		MemoryContextSwitchTo(keep);
		if (turn.expiry_backlog)
			next_sla_check = 0;
	}

	/*
	 * Sleep until the next thing due.  Something already due but not claimed
	 * waits for a request to finish (its endpoint is busy, or an earlier
	 * notification of its referral is in flight), which wakes us; or for the
	 * next SLA check, within a second.
	 */
	timeout = LONGEST_SLEEP_MS;
	if (turn.has_next_due)
		timeout = turn.next_due_seconds > 0 ? ms_until(turn.next_due_seconds) : SLA_CHECK_EVERY_MS;
	if (next_sla_check == 0 || next_prune == 0)
		timeout = 0;
	else
	{
		long		secs;
		int			usecs;

		TimestampDifference(GetCurrentTimestamp(), Min(next_stats, Min(next_prune, next_refresh)),
							&secs, &usecs);
		timeout = Min(timeout, secs * 1000 + usecs / 1000 + 1);
	}
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
	slot->exit_requested = false;
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
	 * marked delivered, or expiring again: the at-least-once promise holds.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Its statements are planned for the queue as it is (a generic plan
	 * guesses a LIMIT $1 reads a tenth of a million-row queue), and never
	 * JIT-compiled: they read little, and LLVM would add 50 MB to the
	 * process.
	 */
	SetConfigOption("plan_cache_mode", "force_custom_plan", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(FATAL, (errmsg("could not initialize libcurl")));
	sender = webhook_sender_create(dbname);
	turn_context = AllocSetContextCreate(TopMemoryContext, "alliance dispatcher turn",
										 ALLOCSET_DEFAULT_SIZES);
	ereport(LOG, (errmsg("alliance dispatcher started for database \"%s\"", dbname)));

	for (;;)
	{
		long		timeout;
		bool		leave;
		Delivery   *done;

		/* SIGTERM: stop between batches (in-flight rows keep their lease) */
		(void) worker_check_signals();
		LWLockAcquire(alliance_shared->lock, LW_SHARED);
		leave = slot->exit_requested;
		LWLockRelease(alliance_shared->lock);
		if (leave)
		{
			ereport(LOG, (errmsg("alliance dispatcher for database \"%s\" leaves for DROP DATABASE", dbname)));
			proc_exit(0);
		}

		MemoryContextReset(turn_context);
		MemoryContextSwitchTo(turn_context);
		timeout = dispatcher_turn();
		webhook_wait(sender, timeout, PG_WAIT_EXTENSION);

		/* what finished is recorded at the next turn */
		while ((done = webhook_take_done(sender)) != NULL)
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

/*
 * alliance.redeliver(outbox_id): send a dead notification again, from the
 * first try of the schedule.
 */
static Stmt dead_notification = {
	"SELECT o.institution_id, o.referral_id, coalesce(e.active, false)"
	"  FROM alliance.outbox o LEFT JOIN alliance.endpoint e ON e.institution_id = o.institution_id"
	" WHERE o.id = $1 AND o.status = 'dead'",
	1, {INT8OID}
};

static Stmt revive = {
	"UPDATE alliance.outbox SET status = 'pending', attempts = 0, next_attempt_at = now(),"
	"       lease_until = NULL, last_error = NULL, last_status = NULL"
	" WHERE status = 'dead' AND (($1 IS NOT NULL AND id = $1) OR ($2 IS NOT NULL AND institution_id = $2))",
	2, {INT8OID, INT8OID}
};

static Stmt endpoint_active = {
	"SELECT active FROM alliance.endpoint WHERE institution_id = $1",
	1, {INT8OID}
};

static void
require_active_endpoint(bool active, int64 institution_id)
{
	if (!active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the webhook endpoint of institution " INT64_FORMAT " is not active", institution_id),
				 errhint("Register it again with alliance.set_endpoint(); a receiver that answered 410 Gone was disabled.")));
}

PG_FUNCTION_INFO_V1(redeliver);
Datum
redeliver(PG_FUNCTION_ARGS)
{
	int64		outbox_id;
	Caller		caller;
	StmtScope	scope;
	Datum		values[2];
	char		nulls[2] = "  ";
	bool		isnull;
	int64		institution_id;

	arg_require(fcinfo, 0, "outbox_id");
	outbox_id = PG_GETARG_INT64(0);
	caller_identify(&caller);

	stmt_begin(&scope, true);
	values[0] = Int64GetDatum(outbox_id);
	stmt_run(&dead_notification, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no dead notification " INT64_FORMAT, outbox_id),
				 errhint("alliance.redeliver() sends again a notification whose tries ran out; see alliance.outbox where status = 'dead'.")));
	institution_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	caller_require_institution(&caller, institution_id, "redeliver a notification");
	require_active_endpoint(DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)),
							institution_id);
	nulls[1] = 'n';
	stmt_run(&revive, values, nulls, 0);
	stmt_end(&scope);
	worker_wake_at_commit();
	PG_RETURN_VOID();
}

/* alliance.redeliver_dead(institution_id): all of an institution's dead notifications */
PG_FUNCTION_INFO_V1(redeliver_dead);
Datum
redeliver_dead(PG_FUNCTION_ARGS)
{
	int64		institution_id;
	Caller		caller;
	StmtScope	scope;
	Datum		values[2];
	char		nulls[2] = "n ";
	Datum		active;
	uint64		revived;

	arg_require(fcinfo, 0, "institution_id");
	institution_id = PG_GETARG_INT64(0);
	caller_identify(&caller);
	caller_require_institution(&caller, institution_id, "redeliver notifications");

	stmt_begin(&scope, true);
	values[0] = Int64GetDatum(institution_id);
	stmt_run(&endpoint_active, values, NULL, 1);
	require_active_endpoint(stmt_get(1, &active) && DatumGetBool(active), institution_id);
	values[1] = Int64GetDatum(institution_id);
	stmt_run(&revive, values, nulls, 0);
	revived = SPI_processed;
	stmt_end(&scope);
	if (revived > 0)
		worker_wake_at_commit();
	PG_RETURN_INT64((int64) revived);
}
