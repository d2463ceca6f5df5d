/*-------------------------------------------------------------------------
 *
 * chores.c
 *	  The chores worker of one database: it expires overdue
 *	  referrals and no-shows through the gate, keeps the queue figures of
 *	  alliance.dispatcher_status, prunes the delivery log and refreshes the
 *	  indicators -- apart from the dispatcher, so that none of it can delay
 *	  a delivery.  Also the lock that keeps indicator refreshes one at a time.
 *
 * On a Citus cluster each node's chores worker sweeps the shards of
 * alliance.referral it holds (placements.c) and counts the queue of its own
 * outbox shards; an expiry still goes through the gate, by the referral's
 * id, which Citus routes to the shard on this node.
 *
 * Each chore runs in a transaction of its own, under a lock_timeout: a
 * failed or slow chore delays neither another chore nor the next round.
 * The refresh takes its lock without waiting; if another session holds it,
 * the refresh waits for the next round.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "placements.h"
#include "referral.h"
#include "settings.h"
#include "stmt.h"
#include "slots.h"
#include "workers.h"

#define EXPIRY_BATCH		500
#define PRUNE_BATCH			10000
#define SLA_CHECK_EVERY_MS	1000
#define STATS_EVERY_MS		5000
#define PRUNE_EVERY_MS		60000
#define NO_EXTENSION_SLEEP_MS 10000
/* how long a chore waits for a lock another session holds */
#define CHORE_LOCK_TIMEOUT	"1s"
/* on a Citus cluster, how often the node's placements are read again (and after a failed chore) */
#define PLACEMENTS_EVERY_MS	5000

/*
 * The indicator refresh lock: an advisory lock tag whose last field (3) no
 * SQL advisory function produces (they use 1 and 2), so that no session can
 * take it except through alliance.refresh_indicators().
 */
#define INDICATOR_LOCK_KEY	0x616c6c69	/* "alli" */
#define INDICATOR_LOCK_SPACE 3

static DispatcherSlot *slot;

static void
indicator_locktag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, INDICATOR_LOCK_KEY, 0, INDICATOR_LOCK_SPACE);
}

/*
 * alliance.indicator_refresh_lock(): take the refresh lock until the end of
 * the transaction, waiting for it (refresh_indicators and rebuild_indicators
 * call it; PUBLIC may not).
 */
PG_FUNCTION_INFO_V1(alliance_indicator_refresh_lock);
Datum
alliance_indicator_refresh_lock(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	indicator_locktag(&tag);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}

static bool
indicator_lock_try(void)
{
	LOCKTAG		tag;

	indicator_locktag(&tag);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

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

/*
 * On a Citus cluster (alliance.referral distributed): the statements above
 * on each shard placement of the referral tables this node holds
 * (placements.c); an expiry then goes through the gate with the referral's
 * id, which Citus routes to the shard here.
 */
typedef enum ShardStmt
{
	SHARD_OVERDUE_REQUESTED,
	SHARD_OVERDUE_SCHEDULED,
	SHARD_QUEUE_STATS,
	SHARD_PRUNE_LOG,
	NUM_SHARD_STMTS
} ShardStmt;

static Stmt shard_templates[NUM_SHARD_STMTS];
static Placements placements;

static Stmt refresh_exists = {
	"SELECT to_regprocedure('alliance.refresh_indicators()') IS NOT NULL",
	0, {InvalidOid}
};

static Stmt refresh = {
	"SELECT alliance.refresh_indicators()",
	0, {InvalidOid}
};

/* What a round did, for the next one */
typedef struct Round
{
	bool		extension;		/* is alliance installed here? */
	bool		more;			/* a batch was full: go again at once */
} Round;

static bool
extension_here(Round *round)
{
	round->extension = OidIsValid(get_extension_oid("alliance", true));
	return round->extension;
}

/*
 * Expire what is overdue -- requested past its SLA (status expired) or
 * scheduled past the no-show grace (no_show) -- one batch, through the gate.
 */
static void
expire_step(void *arg, ReferralStatus target)
{
	Round	   *round = (Round *) arg;
	StmtScope	scope;
	Datum		values[2];
	int64	   *ids;
	uint64		n;
	const char *note = target == RS_EXPIRED
		? "nobody answered within the SLA (alliance.sla_*)"
		: "the patient did not come (alliance.no_show_grace)";

	if (!extension_here(round))
		return;
	alliance_stmt_begin(&scope, false);
	alliance_placements_refresh(&placements, PLACEMENTS_EVERY_MS);
	ids = palloc(EXPIRY_BATCH * sizeof(int64));
	n = 0;
	/* one server: one statement; a cluster: each referral shard here, within one batch */
	for (int s = 0; s < (placements.distributed ? placements.nshards : 1) && n < EXPIRY_BATCH; s++)
	{
		Stmt	   *stmt = target == RS_EXPIRED ? &overdue_requested : &overdue_scheduled;

		if (placements.distributed)
			stmt = alliance_placements_stmt(&placements, s,
											target == RS_EXPIRED ? SHARD_OVERDUE_REQUESTED : SHARD_OVERDUE_SCHEDULED);
		values[0] = Int32GetDatum(EXPIRY_BATCH - (int) n);
		values[1] = Float8GetDatum((double) alliance_no_show_grace);
		alliance_stmt_run(stmt, values, NULL, 0);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			ids[n++] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	for (uint64 i = 0; i < n; i++)
	{
		Transition	t = {0};

		t.referral_id = ids[i];
		t.to = target;
		t.note = note;
		t.actor = "alliance";
		(void) alliance_referral_transition(&t);
	}
	alliance_stmt_end(&scope);
	round->more |= (n == EXPIRY_BATCH);
}

static void
expire_requested_step(void *arg)
{
	expire_step(arg, RS_EXPIRED);
}

static void
expire_no_shows_step(void *arg)
{
	expire_step(arg, RS_NO_SHOW);
}

/*
 * The queue figures of alliance.dispatcher_status: on a cluster, of the
 * outbox shards on this node, the ones its dispatcher delivers.
 */
static void
stats_step(void *arg)
{
	StmtScope	scope;
	bool		isnull;
	int64		depth = 0;
	double		oldest = 0;

	if (!extension_here((Round *) arg))
		return;
	alliance_stmt_begin(&scope, false);
	alliance_placements_refresh(&placements, PLACEMENTS_EVERY_MS);
	for (int s = 0; s < (placements.distributed ? placements.nshards : 1); s++)
	{
		alliance_stmt_run(placements.distributed ? alliance_placements_stmt(&placements, s, SHARD_QUEUE_STATS)
						  : &queue_stats, NULL, NULL, 1);
		depth += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		oldest = Max(oldest, DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
	}
	alliance_stmt_end(&scope);
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->queue_depth = depth;
	slot->oldest_pending_seconds = oldest;
	LWLockRelease(alliance_shared->lock);
}

static void
prune_step(void *arg)
{
	Round	   *round = (Round *) arg;
	StmtScope	scope;
	Datum		values[2];
	uint64		pruned = 0;

	if (!extension_here(round))
		return;
	alliance_stmt_begin(&scope, false);
	alliance_placements_refresh(&placements, PLACEMENTS_EVERY_MS);
	for (int s = 0; s < (placements.distributed ? placements.nshards : 1) && pruned < PRUNE_BATCH; s++)
	{
		values[0] = Float8GetDatum((double) alliance_log_retention);
		values[1] = Int32GetDatum(PRUNE_BATCH - (int) pruned);
		alliance_stmt_run(placements.distributed ? alliance_placements_stmt(&placements, s, SHARD_PRUNE_LOG)
						  : &prune_log, values, NULL, 0);
		pruned += SPI_processed;
	}
	round->more |= (pruned == PRUNE_BATCH);
	alliance_stmt_end(&scope);
}

static void
refresh_step(void *arg)
{
	StmtScope	scope;
	Datum		exists;

	if (!extension_here((Round *) arg))
		return;
	alliance_stmt_begin(&scope, false);
	alliance_stmt_run(&refresh_exists, NULL, NULL, 1);
	/* a refresh running elsewhere will do; this one waits for the next round */
	if (alliance_stmt_get(1, &exists) && DatumGetBool(exists) && indicator_lock_try())
		alliance_stmt_run(&refresh, NULL, NULL, 0);
	alliance_stmt_end(&scope);
}

static void
chores_detach(int code, Datum arg)
{
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	slot->chores_pid = 0;
	slot->chores_latch = NULL;
	LWLockRelease(alliance_shared->lock);
}

/* A chore that is due: run it, and say when it is due again */
static void
chore(TimestampTz *next, int64 every_ms, void (*fn) (void *), Round *round, const char *what)
{
	TimestampTz now = GetCurrentTimestamp();

	if (now < *next)
		return;
	*next = TimestampTzPlusMilliseconds(now, every_ms);
	round->more = false;
	/* a failed chore reads the placements again (a shard may have moved away) */
	if (!alliance_worker_in_transaction(slot, fn, round, what))
		alliance_placements_mark_stale(&placements);
	if (round->more)
		*next = 0;
}

void
alliance_chores_main(Datum arg)
{
	int			slotno = DatumGetInt32(arg);
	Oid			dboid;
	MemoryContext round_context;
	TimestampTz next_expiry = 0;
	TimestampTz next_no_show = 0;
	TimestampTz next_stats = 0;
	TimestampTz next_prune = 0;
	TimestampTz next_refresh = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	slot = &alliance_shared->slots[slotno];
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	dboid = slot->dboid;
	slot->chores_pid = MyProcPid;
	slot->chores_latch = MyLatch;
	LWLockRelease(alliance_shared->lock);
	before_shmem_exit(chores_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("alliance chores");
	SetConfigOption("lock_timeout", CHORE_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	round_context = AllocSetContextCreate(TopMemoryContext, "alliance chores round",
										  ALLOCSET_DEFAULT_SIZES);
	shard_templates[SHARD_OVERDUE_REQUESTED] = overdue_requested;
	shard_templates[SHARD_OVERDUE_SCHEDULED] = overdue_scheduled;
	shard_templates[SHARD_QUEUE_STATS] = queue_stats;
	shard_templates[SHARD_PRUNE_LOG] = prune_log;
	alliance_placements_init(&placements, PLACED_REFERRAL, shard_templates, NUM_SHARD_STMTS);

	for (;;)
	{
		Round		round = {0};
		TimestampTz next;
		long		timeout;

		(void) alliance_worker_check_signals();
		if (alliance_worker_exit_requested(slot))
			proc_exit(0);

		MemoryContextReset(round_context);
		MemoryContextSwitchTo(round_context);
		round.extension = true;
		chore(&next_expiry, SLA_CHECK_EVERY_MS, expire_requested_step, &round, "expiring overdue referrals");
		if (round.extension)
			chore(&next_no_show, SLA_CHECK_EVERY_MS, expire_no_shows_step, &round, "marking no-shows");
		if (round.extension)
			chore(&next_stats, STATS_EVERY_MS, stats_step, &round, "counting the queue");
		if (round.extension)
			chore(&next_prune, PRUNE_EVERY_MS, prune_step, &round, "pruning the delivery log");
		if (round.extension)
			chore(&next_refresh, (int64) alliance_refresh_interval * 1000, refresh_step, &round, "refreshing the indicators");
		MemoryContextSwitchTo(TopMemoryContext);

		if (!round.extension)
		{
			/* every chore again once the extension is there */
			next_expiry = next_no_show = next_stats = next_prune = next_refresh = 0;
			timeout = NO_EXTENSION_SLEEP_MS;
		}
		else
		{
			next = Min(Min(next_expiry, next_no_show), Min(next_stats, Min(next_prune, next_refresh)));
			timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
