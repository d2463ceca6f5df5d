/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  The dispatcher of one database: it delivers the outbox as signed
 *	  webhooks, retrying on alliance.retry_schedule (retry.c).
 *
 * A turn records what finished and claims what is due in one short
 * transaction; only once it has committed are the claimed requests started,
 * with no transaction open.  Claims run ahead of the requests: up to twice
 * a window (max_in_flight, and max_in_flight_per_endpoint per endpoint) is
 * claimed and waits in memory, so that a request that finishes is followed
 * at once by the next, before any database work, and a turn records and
 * claims about a window at once.  The loop waits on one wait set: its latch
 * (a committing backend sets it), libcurl's sockets and timer, and the next
 * retry.  A claim probes each active endpoint with room for its oldest due
 * rows (the index outbox_due): a busy endpoint's rows are not read, a
 * failing endpoint's wait beyond now() on their own schedule, and a slow one
 * gets nothing claimed ahead.  Claimed rows carry a lease (lease_until)
 * instead of a lock, so nothing stays locked while HTTP is in flight; a
 * dispatcher that starts releases the leases of its dead predecessor, so a
 * crash loses nothing and at worst sends a notification twice, with the
 * same webhook-id.
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
 * On a Citus cluster (alliance.outbox distributed), the dispatcher of each
 * node delivers the notifications of the outbox shards that node holds: the
 * same statements, run on each shard placement and its colocated shards
 * (placements.c), each placement with plans of its own; a claim takes from
 * the placements in turn while there is room.  A node that holds no outbox
 * shard (the coordinator) idles.  A commit on another node queues rows here
 * without setting our latch, so a turn comes at least every CLUSTER_POLL_MS.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
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

#include "placements.h"
#include "retry.h"
#include "settings.h"
#include "stmt.h"
#include "webhook.h"
#include "slots.h"
#include "workers.h"


#define MAX_GONE			256
#define LONGEST_SLEEP_MS	60000
#define FAILED_TURN_SLEEP_MS 1000
/* how soon to try again what was held by another session, or blocked */
#define RETRY_HELD_MS		1000
/* an endpoint whose oldest request has waited this long gets no claims ahead */
#define SLOW_ENDPOINT_MS	1000
/*
 * Claimed ahead: per endpoint and in all, twice as many as may be in flight,
 * so that a turn records and claims a whole window at once
 */
#define CLAIM_AHEAD			2
/* how long a finished request may wait for a turn to record it */
#define RECORD_DELAY_MS		2
#define NO_EXTENSION_SLEEP_MS 10000
/* how long a statement of the dispatcher waits for a lock another session holds */
#define DISPATCH_LOCK_TIMEOUT "1s"
/*
 * On a Citus cluster: how often the node's placements are read again (and
 * after a failed turn), and how long at most between turns, since a commit
 * on another node (refer() on the coordinator, routed here) wakes nobody
 * here.
 */
#define PLACEMENTS_EVERY_MS	5000
#define CLUSTER_POLL_MS		500

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

/*
 * A notification claimed by a turn: started once the turn's transaction has
 * committed and there is room for it, freed once started
 */
typedef struct Claimed
{
	int64		outbox_id;
	int64		referral_id;
	int64		event_id;
	int64		institution_id;
	int			attempts;
	int			shard;			/* the placement it was claimed from; -1 on one server */
	bool		fhir;
	char	   *url;
	char	   *secret;
	char	   *body;
	struct Claimed *next;
} Claimed;

/* what is claimed and not started yet, oldest first, in ready_cxt */
static Claimed *ready;
static Claimed *ready_tail;
static int	nready = 0;
static MemoryContext ready_cxt;

/* the institution the last claim ended with: the next starts after it */
static int64 last_claimed_for = 0;

typedef struct Turn
{
	bool		extension;
	bool		idle;			/* on a cluster, this node holds no shard of the outbox */
	MemoryContext cxt;			/* the turn's, outliving its transaction and SPI */
	int			nclaimed;
	Claimed   **claimed;		/* in ready_cxt, the array in the turn's */
	bool		due_unclaimed;	/* something due was not claimed */
	int64		delivered;		/* recorded by the turn, for the slot's figures */
	int64		failed;
	const char *last_error;
} Turn;

/*
 * What is due, per endpoint: for every active endpoint with room -- $1/$2
 * the requests each institution has in flight or claimed, $3 how many it
 * may have at once -- its oldest due notifications, at most $4 in all,
 * leased for $5 seconds.  Each endpoint is a probe of outbox_due: the rows
 * of a busy endpoint are not read at all, and those of a failing one wait
 * beyond now() on their own schedule, where no probe reaches them.
 * Endpoints are taken in turn from the one after $6, so that the total
 * limit is shared.  A notification waits for the earlier ones of its
 * referral to the same institution, looked up by the referral (outbox_pkey:
 * the status compared as text, so that no plan can take the institution's
 * whole queue for it).  CLAIM_DUE's argument says what comes back: with the
 * payload, or without it when payloads are built one at a time.
 */
#define CLAIM_DUE(returning) \
	"WITH busy (institution_id, used) AS (SELECT * FROM unnest($1::bigint[], $2::int[]))," \
	" e AS (" \
	"   SELECT ep.institution_id, ep.url, ep.format, $3 - coalesce(b.used, 0) AS room" \
	"     FROM alliance.webhook_endpoint ep LEFT JOIN busy b USING (institution_id)" \
	"    WHERE ep.active AND coalesce(b.used, 0) < $3" \
	"    ORDER BY ep.institution_id <= $6, ep.institution_id)," \
	" c AS (" \
	"   SELECT d.referral_id, d.id, e.url, e.format FROM e CROSS JOIN LATERAL (" \
	"     SELECT o.referral_id, o.id FROM alliance.outbox o" \
	"      WHERE o.institution_id = e.institution_id AND o.status = 'pending'" \
	"        AND o.next_attempt_at <= now()" \
	"        AND (o.lease_until IS NULL OR o.lease_until <= now())" \
	"        AND NOT EXISTS (SELECT FROM alliance.outbox p" \
	"                         WHERE p.referral_id = o.referral_id AND p.id < o.id" \
	"                           AND p.institution_id = o.institution_id AND p.status::text = 'pending')" \
	"      ORDER BY o.next_attempt_at, o.id" \
	"      LIMIT e.room" \
	"      FOR UPDATE OF o SKIP LOCKED) d" \
	"   LIMIT $4)" \
	" UPDATE alliance.outbox o SET lease_until = now() + make_interval(secs => $5)" \
	"   FROM c, alliance.referral r, alliance.referral_event ev" \
	"  WHERE o.referral_id = c.referral_id AND o.id = c.id" \
	"    AND r.id = o.referral_id AND ev.referral_id = o.referral_id AND ev.id = o.event_id" \
	" RETURNING o.id, o.referral_id, o.event_id, o.institution_id, o.attempts, c.url," \
	"           (SELECT s.secret FROM alliance.webhook_secret s WHERE s.institution_id = o.institution_id)," \
	"           c.format = 'fhir', " returning

#define CLAIM_ARGS 6, {INT8ARRAYOID, INT4ARRAYOID, INT4OID, INT4OID, FLOAT8OID, INT8OID}

static Stmt claim_due = {
	CLAIM_DUE("alliance.event_payload_of(r, ev, c.format::text)"), CLAIM_ARGS
};

static Stmt claim_due_bare = {
	CLAIM_DUE("c.format::text"), CLAIM_ARGS
};

/* one payload, built as the claim builds them */
static Stmt build_payload = {
	"SELECT alliance.event_payload_of(r, e, $3) FROM alliance.referral r, alliance.referral_event e"
	" WHERE r.id = $1 AND e.referral_id = $1 AND e.id = $2",
	3, {INT8OID, INT8OID, TEXTOID}
};

static Stmt bury = {
	"UPDATE alliance.outbox o SET status = 'dead', lease_until = NULL, last_error = r.error"
	"  FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS r(referral_id, id, error)"
	" WHERE o.referral_id = r.referral_id AND o.id = r.id AND o.status::text = 'pending'",
	3, {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID}
};

/*
 * Record finished attempts: the outbox rows and the delivery log, in one
 * statement, for the rows no other session holds locked.  Returns the
 * attempts it is done with: recorded, or whose row is no longer pending.
 *
 * Here and below, a row looked up by its key has its status compared as
 * text: a plan made when the outbox was empty could otherwise read a
 * partial index of the pending rows from end to end for each of them.
 */
/*
 * (log_id, log_id_value: empty on one server, where the column's default
 * draws it; on a shard, which has no defaults, the id column and nextval)
 */
#define RECORD_ATTEMPTS(log_id, log_id_value) \
	"WITH r AS (" \
	"   SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::float8[]," \
	"                        $6::float8[], $7::timestamptz[])" \
	"       AS r(referral_id, id, http_status, error, delay, duration_ms, started_at))," \
	" l AS (" \
	"   SELECT r.* FROM r CROSS JOIN LATERAL (" \
	"     SELECT FROM alliance.outbox o" \
	"      WHERE o.referral_id = r.referral_id AND o.id = r.id AND o.status::text = 'pending'" \
	"        FOR UPDATE OF o SKIP LOCKED) o)," \
	" u AS (" \
	"   UPDATE alliance.outbox o" \
	"      SET attempts = o.attempts + 1, lease_until = NULL," \
	"          last_status = nullif(l.http_status, 0), last_error = l.error," \
	"          status = CASE WHEN l.error IS NULL THEN 'delivered'" \
	"                        WHEN l.delay < 0 THEN 'dead' ELSE 'pending' END::alliance.outbox_status," \
	"          delivered_at = CASE WHEN l.error IS NULL THEN now() END," \
	"          next_attempt_at = CASE WHEN l.error IS NOT NULL AND l.delay >= 0" \
	"                                 THEN now() + make_interval(secs => l.delay)" \
	"                                 ELSE o.next_attempt_at END" \
	"     FROM l" \
	"    WHERE o.referral_id = l.referral_id AND o.id = l.id" \
	"   RETURNING o.id, o.referral_id, o.event_id, o.institution_id, o.attempts," \
	"             l.started_at, l.duration_ms, l.http_status, l.error)," \
	" logged AS (" \
	"   INSERT INTO alliance.delivery_log (" log_id "outbox_id, referral_id, event_id, institution_id, attempt," \
	"                                     at, duration_ms, http_status, error)" \
	"   SELECT " log_id_value "u.id, u.referral_id, u.event_id, u.institution_id, u.attempts," \
	"          u.started_at, u.duration_ms, nullif(u.http_status, 0), u.error" \
	"     FROM u)" \
	" SELECT r.referral_id, r.id FROM r" \
	"  WHERE EXISTS (SELECT FROM l WHERE l.referral_id = r.referral_id AND l.id = r.id)" \
	"     OR NOT EXISTS (SELECT FROM alliance.outbox o" \
	"                     WHERE o.referral_id = r.referral_id AND o.id = r.id AND o.status::text = 'pending')"

#define RECORD_ARGS 7, {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, \
	TIMESTAMPTZARRAYOID}

static Stmt record_attempts = {RECORD_ATTEMPTS("", ""), RECORD_ARGS};

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
 * Seconds until the next notification to an active endpoint falls due, at
 * most a day ahead (whatever is stored -- a year 294276, infinity -- the
 * arithmetic cannot overflow); and whether one is due that nobody has
 * claimed (another session held its row: with nothing in flight, no
 * finished request would bring a turn).  Probes of outbox_due per
 * endpoint, as the claim.
 */
static Stmt next_due = {
	"SELECT extract(epoch FROM least("
	"   (SELECT min(n.at) FROM alliance.webhook_endpoint e CROSS JOIN LATERAL ("
	"      SELECT o.next_attempt_at AS at FROM alliance.outbox o"
	"       WHERE o.institution_id = e.institution_id AND o.status = 'pending' AND o.next_attempt_at > now()"
	"       ORDER BY o.next_attempt_at LIMIT 1) n"
	"     WHERE e.active),"
	"   now() + interval '1 day') - now())::float8",
	0, {InvalidOid}
};

static Stmt due_unclaimed = {
	"SELECT EXISTS (SELECT FROM alliance.webhook_endpoint e"
	"                WHERE e.active AND EXISTS ("
	"                  SELECT FROM alliance.outbox o"
	"                   WHERE o.institution_id = e.institution_id AND o.status = 'pending'"
	"                     AND o.next_attempt_at <= now() AND o.lease_until IS NULL))",
	0, {InvalidOid}
};

/*
 * On a Citus cluster (alliance.outbox distributed): the statements above on
 * each shard placement of the outbox this node holds, with its colocated
 * referral, referral_event and delivery_log shards and the node's
 * placements of the reference tables (placements.c).  A shard's rows are of
 * its own row type, so the payload is built from rows cast back to the
 * tables' types.  What 410 Gone disables is written through Citus instead
 * (a reference table; the outbox of every node).
 */
#define PAYLOAD_OF_SHARD_ROWS \
	"alliance.event_payload_of(ROW(r.*)::alliance.referral, ROW(ev.*)::alliance.referral_event, c.format::text)"

typedef enum ShardStmt
{
	SHARD_CLAIM_DUE,
	SHARD_CLAIM_DUE_BARE,
	SHARD_BUILD_PAYLOAD,
	SHARD_BURY,
	SHARD_RECORD_ATTEMPTS,
	SHARD_RELEASE_LEASES,
	SHARD_NEXT_DUE,
	SHARD_DUE_UNCLAIMED,
	NUM_SHARD_STMTS
} ShardStmt;

static Stmt shard_templates[NUM_SHARD_STMTS] = {
	[SHARD_CLAIM_DUE] = {CLAIM_DUE(PAYLOAD_OF_SHARD_ROWS), CLAIM_ARGS},
	[SHARD_BUILD_PAYLOAD] = {
		"SELECT alliance.event_payload_of(ROW(r.*)::alliance.referral, ROW(e.*)::alliance.referral_event, $3)"
		"  FROM alliance.referral r, alliance.referral_event e"
		" WHERE r.id = $1 AND e.referral_id = $1 AND e.id = $2",
		3, {INT8OID, INT8OID, TEXTOID}
	},
	[SHARD_RECORD_ATTEMPTS] = {
		RECORD_ATTEMPTS("id, ", "pg_catalog.nextval('alliance.delivery_log_id_seq'), "), RECORD_ARGS
	},
	/* the others are the one-server statements, copied at start */
};

/* 410 Gone on a cluster: the endpoint, through Citus (a reference table) */
static Stmt disable_gone_one = {
	"UPDATE alliance.webhook_endpoint SET active = false, updated_at = $3"
	" WHERE institution_id = $1 AND active AND url = $2",
	3, {INT8OID, TEXTOID, TIMESTAMPTZOID}
};

/* ... and what was still waiting for them, on every node */
static Stmt bury_gone_all = {
	"UPDATE alliance.outbox"
	"   SET status = 'dead',"
	"       last_error = 'not sent: the endpoint was disabled when the receiver answered 410 Gone'"
	" WHERE institution_id = ANY ($1) AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $2)",
	2, {INT8ARRAYOID, TIMESTAMPTZOID}
};

static Placements placements;

/* the placement the next claim starts with, so that no shard waits behind the others */
static int	first_shard = 0;

/*
 * When the next retry falls due, as last looked up; looked up again when a
 * turn recorded a failure (which schedules one), when that time has come,
 * and at least every second (another session may have scheduled one).
 */
static TimestampTz next_due_at = 0;
static TimestampTz next_due_looked_up = 0;

/* ms from now to now + seconds, within [0, LONGEST_SLEEP_MS] */
static long
ms_until(double seconds)
{
	if (seconds <= 0)
		return 0;
	return (long) Min(seconds * 1000.0 + 1, LONGEST_SLEEP_MS);
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

/* Whether a finished attempt is one of shard's (-1: on one server, all are) */
static bool
of_shard(const Delivery *d, int shard)
{
	return shard < 0 || alliance_placements_shard_of(&placements, d->referral_id) == shard;
}

/*
 * Record the attempts that finished, those of one shard placement on a
 * cluster (stmt is record_attempts on it), or all with shard -1: those done
 * move from finished to recording, and count towards the turn's figures.
 */
static void
record_finished_of(Turn *turn, Stmt *stmt, int shard)
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
		n += of_shard(d, shard);
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
	for (d = finished; d; d = d->next)
	{
		bool		ok_d = delivered(d);

		if (!of_shard(d, shard))
			continue;

		referral[n] = Int64GetDatum(d->referral_id);
		id[n] = Int64GetDatum(d->outbox_id);
		status[n] = Int32GetDatum((int32) d->http_status);
		error_null[n] = ok_d;
		error[n] = ok_d ? (Datum) 0 : CStringGetTextDatum(d->error);
		delay[n] = Float8GetDatum(ok_d ? 0 : alliance_retry_delay(d->attempts, d->http_status, d->retry_after));
		duration[n] = Float8GetDatum(d->duration_ms);
		started[n] = TimestampTzGetDatum(d->started_at);
		n++;
	}

	values[0] = int8_array(referral, n);
	values[1] = int8_array(id, n);
	values[2] = int4_array(status, n);
	values[3] = text_array(error, error_null, n);
	values[4] = float8_array(delay, n);
	values[5] = float8_array(duration, n);
	values[6] = PointerGetDatum(construct_array(started, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	alliance_stmt_run(stmt, values, NULL, 0);

	/* move what is done to recording; the rest waits for a later turn */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		done_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		for (link = &finished; *link; link = &(*link)->next)
		{
			if ((*link)->outbox_id != done_id || !of_shard(*link, shard))
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

/*
 * Record the attempts that finished: on one server in one statement; on a
 * cluster, per shard placement.  An attempt whose shard is no longer on
 * this node (moved by a rebalance) is not recorded here: its row keeps its
 * lease, and the node holding it now sends it again once the lease has run
 * out (at least once).
 */
static void
record_finished(Turn *turn)
{
	Delivery  **link;

	if (!placements.distributed)
	{
		record_finished_of(turn, &record_attempts, -1);
		return;
	}
	for (int s = 0; s < placements.nshards; s++)
		record_finished_of(turn, alliance_placements_stmt(&placements, s, SHARD_RECORD_ATTEMPTS), s);
	for (link = &finished; *link;)
	{
		Delivery   *d = *link;

		if (alliance_placements_shard_of(&placements, d->referral_id) >= 0)
		{
			link = &d->next;
			continue;
		}
		ereport(LOG,
				(errmsg("alliance dispatcher: the attempt at notification " INT64_FORMAT " is not recorded: its shard is no longer on this node",
						d->outbox_id),
				 errdetail("The node holding it now sends it again when its lease runs out.")));
		*link = d->next;
		d->next = recording;
		recording = d;
	}
}

/*
 * On a cluster: disable each endpoint that answered 410 Gone through Citus
 * (webhook_endpoint is a reference table: every node's copy), then bury
 * what was still waiting for those disabled now, on every node.  A lock
 * held elsewhere fails the turn (lock_timeout); a later one does it.
 */
static void
disable_gone_on_cluster(void)
{
	Datum		ids[MAX_GONE];
	Datum		values[3];
	int			ndisabled = 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	for (int i = 0; i < ngone; i++)
	{
		values[0] = Int64GetDatum(gone[i].institution_id);
		values[1] = CStringGetTextDatum(gone[i].url);
		values[2] = TimestampTzGetDatum(now);
		alliance_stmt_run(&disable_gone_one, values, NULL, 0);
		if (SPI_processed > 0)
			ids[ndisabled++] = values[0];
	}
	if (ndisabled > 0)
	{
		values[0] = int8_array(ids, ndisabled);
		values[1] = TimestampTzGetDatum(now);
		alliance_stmt_run(&bury_gone_all, values, NULL, 0);
	}
	ngone_done = ngone;
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
	if (placements.distributed)
	{
		disable_gone_on_cluster();
		return;
	}
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
 * The requests an institution has in flight and claimed, and since when its
 * oldest request in flight has been waiting
 */
typedef struct Load
{
	int64		institution_id;
	int			in_flight;
	int			claimed;
	TimestampTz oldest;
} Load;

static Load *
load_of(Load *loads, int *nloads, int64 institution_id)
{
	for (int i = 0; i < *nloads; i++)
		if (loads[i].institution_id == institution_id)
			return &loads[i];
	loads[*nloads].institution_id = institution_id;
	loads[*nloads].in_flight = 0;
	loads[*nloads].claimed = 0;
	loads[*nloads].oldest = 0;
	return &loads[(*nloads)++];
}

/* The load of every institution with requests in flight or claimed; returns how many */
static int
current_loads(Load *loads)
{
	int			n = 0;

	for (Delivery *d = alliance_webhook_in_flight_list(sender); d; d = d->next)
	{
		Load	   *l = load_of(loads, &n, d->institution_id);

		l->in_flight++;
		if (l->oldest == 0 || d->started_at < l->oldest)
			l->oldest = d->started_at;
	}
	for (Claimed *c = ready; c; c = c->next)
		load_of(loads, &n, c->institution_id)->claimed++;
	return n;
}

/*
 * Claim what is due into turn->claimed with stmt (claim_due or
 * claim_due_bare, on the shard placement shard on a cluster), at most room
 * rows, within the limits: at most max_in_flight requests in flight and
 * CLAIM_AHEAD times as many claimed ahead, so that a request that finishes
 * is followed at once by the next; per endpoint, at most
 * max_in_flight_per_endpoint in flight and CLAIM_AHEAD times as many ahead
 * (counting what the turn claimed already), but none ahead for an endpoint
 * whose oldest request has waited a second (a slow receiver holds no more
 * rows than it has requests).  claim_due builds the bodies in the claim,
 * claim_due_bare leaves the format there instead.
 */
static void
claim_from(Turn *turn, Stmt *stmt, int shard, int room)
{
	int			limit = alliance_max_in_flight_per_endpoint;
	Load	   *loads;
	int			nloads;
	Datum	   *ids;
	Datum	   *used;
	Datum		values[6];
	TimestampTz slow = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), -SLOW_ENDPOINT_MS);

	loads = palloc((alliance_webhook_in_flight(sender) + nready + turn->nclaimed + 1) * sizeof(Load));
	nloads = current_loads(loads);
	/* on a cluster, what this turn claimed from the placements before */
	for (int i = 0; i < turn->nclaimed; i++)
		load_of(loads, &nloads, turn->claimed[i]->institution_id)->claimed++;
	ids = palloc((nloads + 1) * sizeof(Datum));
	used = palloc((nloads + 1) * sizeof(Datum));
	for (int i = 0; i < nloads; i++)
	{
		Load	   *l = &loads[i];
		bool		is_slow = l->in_flight > 0 && l->oldest < slow;

		ids[i] = Int64GetDatum(l->institution_id);
		/* a slow endpoint has no room ahead */
		used[i] = Int32GetDatum((is_slow ? CLAIM_AHEAD * limit : 0) + l->in_flight + l->claimed);
	}
	values[0] = int8_array(ids, nloads);
	values[1] = int4_array(used, nloads);
	values[2] = Int32GetDatum((1 + CLAIM_AHEAD) * limit);
	values[3] = Int32GetDatum(room);
	/* a lease outlives any request, even one queued behind a slow endpoint */
	values[4] = Float8GetDatum(2.0 * alliance_http_timeout / 1000.0 + 30);
	values[5] = Int64GetDatum(last_claimed_for);
	alliance_stmt_run(stmt, values, NULL, 0);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Claimed    *c = MemoryContextAlloc(ready_cxt, sizeof(Claimed));
		bool		isnull;

		turn->claimed[turn->nclaimed++] = c;
		c->outbox_id = column_int8(i, 1);
		c->referral_id = column_int8(i, 2);
		c->event_id = column_int8(i, 3);
		c->institution_id = column_int8(i, 4);
		c->attempts = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &isnull));
		c->shard = shard;
		c->url = column_string(i, 6, ready_cxt);
		c->secret = column_string(i, 7, ready_cxt);
		c->fhir = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 8, &isnull));
		/* with_payload: the body; else the format, for build_payloads */
		c->body = column_string(i, 9, ready_cxt);
		c->next = NULL;
		last_claimed_for = c->institution_id;
	}
}

/*
 * Claim, as claim_from says: on one server from alliance.outbox; on a
 * cluster from each shard placement of it on this node in turn, the next
 * turn starting with the next placement, while there is room.
 */
static void
claim(Turn *turn, bool with_payload)
{
	int			room = (1 + CLAIM_AHEAD) * alliance_max_in_flight - alliance_webhook_in_flight(sender) - nready;

	turn->nclaimed = 0;
	if (room <= 0)
		return;
	/* not in SPI's memory: turn_committed reads it after SPI_finish */
	turn->claimed = MemoryContextAlloc(turn->cxt, room * sizeof(Claimed *));
	if (!placements.distributed)
	{
		claim_from(turn, with_payload ? &claim_due : &claim_due_bare, -1, room);
		return;
	}
	for (int k = 0; k < placements.nshards && turn->nclaimed < room; k++)
	{
		int			s = (first_shard + k) % placements.nshards;

		claim_from(turn, alliance_placements_stmt(&placements, s, with_payload ? SHARD_CLAIM_DUE : SHARD_CLAIM_DUE_BARE),
				   s, room - turn->nclaimed);
	}
	if (placements.nshards > 0)
		first_shard = (first_shard + 1) % placements.nshards;
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
	alliance_stmt_run(job->c->shard < 0 ? &build_payload
					  : alliance_placements_stmt(&placements, job->c->shard, SHARD_BUILD_PAYLOAD),
					  values, NULL, 1);
	pfree(job->c->body);
	job->c->body = alliance_stmt_get(1, &body)
		? MemoryContextStrdup(ready_cxt, TextDatumGetCString(body))
		: NULL;
}

static void
free_claimed(Claimed *c)
{
	if (c->url)
		pfree(c->url);
	if (c->secret)
		pfree(c->secret);
	if (c->body)
		pfree(c->body);
	pfree(c);
}

/* Forget what a turn claimed (its transaction did not commit) */
static void
forget_claimed(Turn *turn)
{
	for (int i = 0; i < turn->nclaimed; i++)
		free_claimed(turn->claimed[i]);
	turn->nclaimed = 0;
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
	int		   *bad_shard;
	int			nbad = 0;
	int			kept = 0;

	forget_claimed(turn);
	claim(turn, false);
	if (turn->nclaimed == 0)
		return;
	referral = palloc(turn->nclaimed * sizeof(Datum));
	id = palloc(turn->nclaimed * sizeof(Datum));
	error = palloc(turn->nclaimed * sizeof(Datum));
	bad_shard = palloc(turn->nclaimed * sizeof(int));
	for (int i = 0; i < turn->nclaimed; i++)
	{
		Claimed    *c = turn->claimed[i];
		PayloadJob	job = {turn, c};
		char	   *message = in_subtransaction(build_one_payload, &job);

		if (message == NULL)
		{
			turn->claimed[kept++] = c;
			continue;
		}
		ereport(LOG,
				(errmsg("alliance dispatcher: notification " INT64_FORMAT " is dead: its payload could not be built: %s",
						c->outbox_id, message)));
		bad_shard[nbad] = c->shard;
		referral[nbad] = Int64GetDatum(c->referral_id);
		id[nbad] = Int64GetDatum(c->outbox_id);
		error[nbad++] = CStringGetTextDatum(psprintf("not sent: the payload could not be built: %.200s", message));
		/* the format string, or what is left of the body */
		c->body = NULL;
		free_claimed(c);
	}
	turn->nclaimed = kept;
	/* one statement per shard placement they were claimed from (-1: one server) */
	while (nbad > 0)
	{
		int			shard = bad_shard[0];
		int			n = 0;
		int			left = 0;
		Datum	   *r = palloc(nbad * sizeof(Datum));
		Datum	   *o = palloc(nbad * sizeof(Datum));
		Datum	   *e = palloc(nbad * sizeof(Datum));
		Datum		values[3];

		for (int i = 0; i < nbad; i++)
		{
			if (bad_shard[i] == shard)
			{
				r[n] = referral[i];
				o[n] = id[i];
				e[n++] = error[i];
				continue;
			}
			bad_shard[left] = bad_shard[i];
			referral[left] = referral[i];
			id[left] = id[i];
			error[left++] = error[i];
		}
		nbad = left;
		values[0] = int8_array(r, n);
		values[1] = int8_array(o, n);
		values[2] = text_array(e, NULL, n);
		alliance_stmt_run(shard < 0 ? &bury : alliance_placements_stmt(&placements, shard, SHARD_BURY),
						  values, NULL, 0);
	}
}

/*
 * Seconds until the next retry falls due (next_due), over every shard
 * placement on a cluster; false when nothing is pending
 */
static bool
seconds_to_next_due(double *seconds)
{
	Datum		value;
	bool		found = false;

	if (!placements.distributed)
	{
		alliance_stmt_run(&next_due, NULL, NULL, 1);
		if (alliance_stmt_get(1, &value))
			*seconds = DatumGetFloat8(value);
		return alliance_stmt_get(1, &value);
	}
	for (int s = 0; s < placements.nshards; s++)
	{
		alliance_stmt_run(alliance_placements_stmt(&placements, s, SHARD_NEXT_DUE), NULL, NULL, 1);
		if (alliance_stmt_get(1, &value) && (!found || DatumGetFloat8(value) < *seconds))
		{
			*seconds = DatumGetFloat8(value);
			found = true;
		}
	}
	return found;
}

/* Whether something due is unclaimed (due_unclaimed), on any shard placement on a cluster */
static bool
anything_due_unclaimed(void)
{
	Datum		value;

	if (!placements.distributed)
	{
		alliance_stmt_run(&due_unclaimed, NULL, NULL, 1);
		return alliance_stmt_get(1, &value) && DatumGetBool(value);
	}
	for (int s = 0; s < placements.nshards; s++)
	{
		alliance_stmt_run(alliance_placements_stmt(&placements, s, SHARD_DUE_UNCLAIMED), NULL, NULL, 1);
		if (alliance_stmt_get(1, &value) && DatumGetBool(value))
			return true;
	}
	return false;
}

/* Release the leases a dead predecessor left, on every shard placement on a cluster */
static void
release_all_leases(void)
{
	if (!placements.distributed)
	{
		alliance_stmt_run(&release_leases, NULL, NULL, 0);
		return;
	}
	for (int s = 0; s < placements.nshards; s++)
		alliance_stmt_run(alliance_placements_stmt(&placements, s, SHARD_RELEASE_LEASES), NULL, NULL, 0);
}

/* Read this node's placements again when it is time; say when they changed */
static void
look_at_placements(void)
{
	if (!alliance_placements_refresh(&placements, PLACEMENTS_EVERY_MS))
		return;
	first_shard = 0;
	if (!placements.distributed)
		ereport(LOG, (errmsg("alliance dispatcher: alliance.outbox is not distributed here: delivering from the table")));
	else if (placements.nshards == 0)
		ereport(LOG, (errmsg("alliance dispatcher: this node holds no shard of alliance.outbox: idle")));
	else
		ereport(LOG, (errmsg("alliance dispatcher: delivering from the %d shards of alliance.outbox on this node",
							 placements.nshards)));
}

static void
deliver_step(void *arg)
{
	Turn	   *turn = (Turn *) arg;
	StmtScope	scope;
	double		seconds = 0;
	char	   *problem;
	TimestampTz now;

	turn->extension = OidIsValid(get_extension_oid("alliance", true));
	if (!turn->extension)
	{
		leases_released = false;
		return;
	}
	alliance_stmt_begin(&scope, false);
	look_at_placements();
	turn->idle = placements.distributed && placements.nshards == 0;
	if (turn->idle)
	{
		/* the coordinator, say: nothing of the outbox is delivered from here */
		next_due_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PLACEMENTS_EVERY_MS);
		alliance_stmt_end(&scope);
		return;
	}
	if (!leases_released)
		release_all_leases();
	record_finished(turn);
	disable_gone_endpoints();
	problem = in_subtransaction(claim_with_payloads, turn);
	if (problem != NULL)
	{
		ereport(LOG,
				(errmsg("alliance dispatcher: claiming with payloads failed, building them one at a time: %s", problem)));
		claim_one_by_one(turn);
	}
	now = GetCurrentTimestamp();
	if (turn->failed > 0 || now >= next_due_at ||
		now >= TimestampTzPlusMilliseconds(next_due_looked_up, RETRY_HELD_MS))
	{
		next_due_at = TimestampTzPlusMilliseconds(now, seconds_to_next_due(&seconds)
												  ? ms_until(seconds) : LONGEST_SLEEP_MS);
		next_due_looked_up = now;
	}
	turn->due_unclaimed = false;
	if (turn->nclaimed == 0 && nready == 0 && alliance_webhook_in_flight(sender) == 0)
		turn->due_unclaimed = anything_due_unclaimed();
	alliance_stmt_end(&scope);
}

/* After the turn's commit: forget what it recorded, count it, queue what it claimed */
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

	if (turn->delivered > 0 || turn->failed > 0)
	{
		LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
		slot->delivered += turn->delivered;
		slot->failed += turn->failed;
		if (turn->last_error)
		{
			strlcpy(slot->last_error, turn->last_error, ERROR_TEXT_SIZE);
			slot->last_error_at = GetCurrentTimestamp();
		}
		LWLockRelease(alliance_shared->lock);
	}

	/* the leases are committed: these may be sent */
	for (int i = 0; i < turn->nclaimed; i++)
	{
		Claimed    *c = turn->claimed[i];

		if (ready_tail)
			ready_tail->next = c;
		else
			ready = c;
		ready_tail = c;
		nready++;
	}
	turn->nclaimed = 0;
}

/* After the turn's abort: what it recorded is to record again; nothing it claimed starts */
static void
turn_aborted(Turn *turn)
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
	forget_claimed(turn);
}

/*
 * The extension was dropped: its rows went with it, so what is claimed is
 * not sent and what finished is not recorded.
 */
static void
forget_all(void)
{
	Delivery   *d;
	Delivery   *next;

	while (ready != NULL)
	{
		Claimed    *c = ready;

		ready = c->next;
		free_claimed(c);
	}
	ready_tail = NULL;
	nready = 0;
	for (d = finished; d; d = next)
	{
		next = d->next;
		alliance_webhook_free_delivery(sender, d);
	}
	finished = NULL;
	ngone = 0;
}

/*
 * Start what is claimed, oldest first, as far as the limits allow: at most
 * max_in_flight requests in flight, and max_in_flight_per_endpoint to one
 * endpoint.  No transaction is open: the leases were committed.
 */
static void
start_ready(void)
{
	Claimed   **link = &ready;
	Claimed    *prev = NULL;
	Load	   *loads;
	int			nloads;

	if (ready == NULL || alliance_webhook_in_flight(sender) >= alliance_max_in_flight)
		return;
	loads = palloc((alliance_webhook_in_flight(sender) + nready + 1) * sizeof(Load));
	nloads = current_loads(loads);

	while (*link && alliance_webhook_in_flight(sender) < alliance_max_in_flight)
	{
		Claimed    *c = *link;
		Load	   *l = load_of(loads, &nloads, c->institution_id);
		Delivery   *d;

		if (l->in_flight >= alliance_max_in_flight_per_endpoint)
		{
			prev = c;
			link = &c->next;
			continue;
		}
		*link = c->next;
		if (ready_tail == c)
			ready_tail = prev;
		nready--;
		l->in_flight++;

		d = alliance_webhook_new_delivery(sender, c->url, c->body ? c->body : "{}");
		d->outbox_id = c->outbox_id;
		d->referral_id = c->referral_id;
		d->event_id = c->event_id;
		d->institution_id = c->institution_id;
		d->attempts = c->attempts;
		d->fhir = c->fhir;
		alliance_webhook_start(sender, d, c->secret ? c->secret : "");
		free_claimed(c);
	}
	pfree(loads);
}

/*
 * One turn: record, claim, commit, start.  Returns how long to wait at most
 * before the next, in ms.
 */
static long
dispatcher_turn(void)
{
	MemoryContext keep = CurrentMemoryContext;
	Turn		turn = {0};
	bool		ok;
	long		timeout;

	turn.cxt = keep;

	ok = alliance_worker_in_transaction(slot, deliver_step, &turn, "delivering notifications");
	MemoryContextSwitchTo(keep);

	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->state = (ok && !turn.extension) ? DISPATCHER_WAITING
		: (ok && turn.idle) ? DISPATCHER_IDLE : DISPATCHER_RUNNING;
	LWLockRelease(alliance_shared->lock);

	if (!ok)
	{
		/*
		 * Nothing is sent without a committed lease; try again in a while,
		 * with the placements read again (a shard may have moved away)
		 */
		alliance_placements_mark_stale(&placements);
		turn_aborted(&turn);
		return FAILED_TURN_SLEEP_MS;
	}
	if (!turn.extension)
	{
		alliance_placements_mark_stale(&placements);
		forget_all();
		return NO_EXTENSION_SLEEP_MS;
	}
	turn_committed(&turn);
	start_ready();

	/*
	 * Sleep until the next retry is due.  What is due but was not claimed
	 * (its endpoint is busy, an earlier notification of its referral is in
	 * flight, another session held its row) is claimed when a request
	 * finishes, which wakes us; or within a second.
	 */
	timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_due_at);
	if (turn.due_unclaimed || finished != NULL || ngone > 0)
		timeout = Min(timeout, RETRY_HELD_MS);

	/*
	 * On a cluster a commit on another node queues notifications here
	 * without waking us (refer() runs on the coordinator, its rows land on
	 * this node's shards): look at least every CLUSTER_POLL_MS.
	 */
	if (placements.distributed && !turn.idle)
		timeout = Min(timeout, CLUSTER_POLL_MS);
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
	TimestampTz next_turn_at = 0;
	TimestampTz first_unrecorded = 0;	/* when the oldest unrecorded request finished */
	bool		woken = true;

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
	 * Its statements are index probes by design (per endpoint, per
	 * referral), planned once: the queue is empty one second and holds a
	 * million rows the next, so a plan chosen from the statistics of the
	 * moment -- a sequential scan of a table that was small when planned, a
	 * bitmap scan that reads every due row to return eight -- would be wrong
	 * the next.  Each statement carries its batch's values along instead of
	 * joining its parts back together, which would be nested loops.  Never JIT-compiled: they read little, and LLVM would add
	 * 50 MB to the process.  Its row locks are taken with SKIP LOCKED; a
	 * table lock held elsewhere fails its turn instead of stopping it.
	 */
	SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_bitmapscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_hashjoin", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_mergejoin", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", DISPATCH_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(FATAL, (errmsg("could not initialize libcurl")));
	sender = alliance_webhook_sender_create(dbname);
	shard_templates[SHARD_CLAIM_DUE_BARE] = claim_due_bare;
	shard_templates[SHARD_BURY] = bury;
	shard_templates[SHARD_RELEASE_LEASES] = release_leases;
	shard_templates[SHARD_NEXT_DUE] = next_due;
	shard_templates[SHARD_DUE_UNCLAIMED] = due_unclaimed;
	alliance_placements_init(&placements, PLACED_OUTBOX, shard_templates, NUM_SHARD_STMTS);
	turn_context = AllocSetContextCreate(TopMemoryContext, "alliance dispatcher turn",
										 ALLOCSET_DEFAULT_SIZES);
	ready_cxt = AllocSetContextCreate(TopMemoryContext, "alliance dispatcher claims",
									  ALLOCSET_DEFAULT_SIZES);
	ereport(LOG, (errmsg("alliance dispatcher started for database \"%s\"", dbname)));

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake_at;
		Delivery   *done;

		/* SIGTERM: stop between batches (in-flight rows keep their lease) */
		(void) alliance_worker_check_signals();
		if (alliance_worker_exit_requested(slot))
		{
			ereport(LOG, (errmsg("alliance dispatcher for database \"%s\" leaves for DROP DATABASE", dbname)));
			proc_exit(0);
		}

		/*
		 * A turn when a commit woke us, when the next retry is due, when what
		 * is claimed ahead runs short of what is in flight, or when a finished
		 * request has waited RECORD_DELAY_MS to be recorded; else only curl's
		 * I/O.  So a turn records and claims about a window at once.
		 */
		now = GetCurrentTimestamp();
		if (woken || now >= next_turn_at ||
			(first_unrecorded != 0 &&
			 (nready < alliance_webhook_in_flight(sender) || alliance_webhook_in_flight(sender) == 0 ||
			  now >= TimestampTzPlusMilliseconds(first_unrecorded, RECORD_DELAY_MS))))
		{
			MemoryContextReset(turn_context);
			MemoryContextSwitchTo(turn_context);
			first_unrecorded = 0;
			next_turn_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), dispatcher_turn());
			now = GetCurrentTimestamp();
		}
		wake_at = next_turn_at;
		if (first_unrecorded != 0)
			wake_at = Min(wake_at, TimestampTzPlusMilliseconds(first_unrecorded, RECORD_DELAY_MS));
		woken = alliance_webhook_wait(sender, TimestampDifferenceMilliseconds(now, wake_at), PG_WAIT_EXTENSION);

		/* what finished is recorded at a turn; its room is refilled now */
		while ((done = alliance_webhook_take_done(sender)) != NULL)
		{
			Delivery   *next;

			for (; done; done = next)
			{
				next = done->next;
				done->next = finished;
				finished = done;
				if (first_unrecorded == 0)
					first_unrecorded = GetCurrentTimestamp();
			}
		}
		start_ready();
	}
}
