/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher of the workers: shared memory, a dispatcher and a chores
 *	  worker per database of alliance.databases, the commit-time wake-up,
 *	  getting out of DROP DATABASE's way, keeping tenants' table locks off the
 *	  workers' tables, what the workers share (signals, transactions), and
 *	  alliance.dispatcher_status.
 *
 * The launcher is a static background worker connected to no database (it
 * reads pg_database only).  It starts the dynamic workers of each listed
 * database that exists, restarts one that stopped after a pause, and stops
 * those whose database left the list (SIGHUP).  A database's workers own a
 * slot in shared memory: the dispatcher's latch, which a committing backend
 * sets when it queued notifications, and the figures dispatcher_status
 * shows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "caller.h"

#include "settings.h"
#include "wake.h"
#include "worker.h"

/* pause before a stopped dispatcher is started again, in ms */
#define RESTART_PAUSE_MS	5000
/* how long DROP DATABASE waits for the dispatcher to leave, in ms */
#define RELEASE_WAIT_MS		10000

AllianceShared *alliance_shared = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static bool wake_callback_registered = false;
static bool wake_pending = false;

static void
alliance_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(AllianceShared)));
	RequestNamedLWLockTranche("alliance", 1);
}

static void
alliance_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	alliance_shared = ShmemInitStruct("alliance", sizeof(AllianceShared), &found);
	if (!found)
	{
		memset(alliance_shared, 0, sizeof(AllianceShared));
		alliance_shared->lock = &(GetNamedLWLockTranche("alliance"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Before DROP DATABASE (or a rename) of a database with a dispatcher: ask
 * the dispatcher to leave, and wait until it has, so that the command does
 * not fail with "database is being accessed by other users".
 */
static void
release_database(const char *dbname)
{
	Oid			dboid = get_database_oid(dbname, true);
	Latch	   *latch = NULL;
	Latch	   *chores_latch = NULL;
	int			slotno = -1;

	if (!OidIsValid(dboid))
		return;
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_DISPATCHERS; i++)
	{
		DispatcherSlot *slot = &alliance_shared->slots[i];

		if (slot->dboid == dboid && (slot->pid != 0 || slot->chores_pid != 0))
		{
			slot->exit_requested = true;
			latch = slot->latch;
			chores_latch = slot->chores_latch;
			slotno = i;
		}
	}
	LWLockRelease(alliance_shared->lock);
	if (slotno < 0)
		return;
	if (latch)
		SetLatch(latch);
	if (chores_latch)
		SetLatch(chores_latch);

	for (int waited = 0; waited < RELEASE_WAIT_MS; waited += 20)
	{
		bool		gone;

		LWLockAcquire(alliance_shared->lock, LW_SHARED);
		gone = alliance_shared->slots[slotno].dboid != dboid ||
			(alliance_shared->slots[slotno].pid == 0 &&
			 alliance_shared->slots[slotno].chores_pid == 0);
		LWLockRelease(alliance_shared->lock);
		if (gone)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * LOCK TABLE or TRUNCATE of a relation of the extension's schema, by a role
 * that does not act for every institution: refused before any lock is
 * taken, whatever its privileges, since the workers would wait for it (a
 * broad GRANT gives the privileges both need; the tables' own triggers
 * refuse a TRUNCATE only once it holds its lock).
 */
static void
refuse_tenant_lock(List *relations, const char *command)
{
	Oid			schema;
	ListCell   *lc;
	Caller		caller;

	if (superuser())
		return;
	schema = get_namespace_oid("alliance", true);
	if (!OidIsValid(schema))
		return;
	foreach(lc, relations)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		if (!OidIsValid(relid) || get_rel_namespace(relid) != schema)
			continue;
		alliance_caller_identify(&caller);
		if (!caller.acts_for_all)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to %s alliance.%s", command, get_rel_name(relid)),
					 errdetail("The extension's workers read and write the tables of schema alliance; only the administrator may lock them."),
					 errhint("Read the tables without a lock, or ask the administrator (alliance.admin_role).")));
	}
}

static void
alliance_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (alliance_shared != NULL)
	{
		if (IsA(stmt, DropdbStmt))
			release_database(((DropdbStmt *) stmt)->dbname);
		else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
			release_database(((RenameStmt *) stmt)->subname);
	}
	if (IsA(stmt, LockStmt))
		refuse_tenant_lock(((LockStmt *) stmt)->relations, "LOCK");
	else if (IsA(stmt, TruncateStmt))
		refuse_tenant_lock(((TruncateStmt *) stmt)->relations, "TRUNCATE");
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/*
 * From _PG_init under shared_preload_libraries: shared memory, the hooks,
 * and the launcher.
 */
void
alliance_worker_preload(void)
{
	BackgroundWorker worker;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = alliance_shmem_request;
#else
	alliance_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = alliance_shmem_startup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = alliance_ProcessUtility;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "alliance");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "alliance_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "alliance launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "alliance launcher");
	RegisterBackgroundWorker(&worker);
}

static void
wake_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_pending && alliance_shared != NULL)
	{
		LWLockAcquire(alliance_shared->lock, LW_SHARED);
		for (int i = 0; i < MAX_DISPATCHERS; i++)
		{
			DispatcherSlot *slot = &alliance_shared->slots[i];

			if (slot->dboid == MyDatabaseId && slot->latch != NULL)
				SetLatch(slot->latch);
		}
		LWLockRelease(alliance_shared->lock);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_pending = false;
}

/*
 * Wake this database's dispatcher when the current transaction commits:
 * called wherever a referral changes or a notification is queued.
 */
void
alliance_wake_at_commit(void)
{
	if (alliance_shared == NULL)
		return;
	if (!wake_callback_registered)
	{
		RegisterXactCallback(wake_callback, NULL);
		wake_callback_registered = true;
	}
	wake_pending = true;
}

/*
 * The OID of a database, by name, or InvalidOid.  The launcher is connected
 * to no database, where only a heap scan of pg_database works (as for
 * autovacuum's launcher).
 */
static Oid
launcher_database_oid(const char *name)
{
	Relation	rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tuple;
	Oid			dboid = InvalidOid;

	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			dboid = db->oid;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return dboid;
}

/* The two workers of a database */
typedef enum WorkerKind
{
	WORKER_DISPATCHER,
	WORKER_CHORES
} WorkerKind;

#define WORKER_KINDS 2

static const char *const worker_kind_name[WORKER_KINDS] = {"dispatcher", "chores"};
static const char *const worker_kind_main[WORKER_KINDS] = {"alliance_dispatcher_main", "alliance_chores_main"};

/* The launcher's own bookkeeping, per slot and worker */
typedef struct LauncherSlot
{
	BackgroundWorkerHandle *handle[WORKER_KINDS];
	TimestampTz restart_at[WORKER_KINDS];
} LauncherSlot;

static LauncherSlot launcher_slots[MAX_DISPATCHERS];

static bool
start_worker(int slotno, WorkerKind kind)
{
	BackgroundWorker worker;
	DispatcherSlot *slot = &alliance_shared->slots[slotno];

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "alliance");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", worker_kind_main[kind]);
	snprintf(worker.bgw_name, BGW_MAXLEN, "alliance %s %s", worker_kind_name[kind], slot->dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "alliance %s", worker_kind_name[kind]);
	worker.bgw_main_arg = Int32GetDatum(slotno);
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, &launcher_slots[slotno].handle[kind]);
}

/* A worker of the slot that stopped: forget it, and start it again after a pause */
static void
reap_worker(int slotno, WorkerKind kind, TimestampTz now)
{
	DispatcherSlot *slot = &alliance_shared->slots[slotno];
	LauncherSlot *ls = &launcher_slots[slotno];
	pid_t		pid;

	if (ls->handle[kind] == NULL || GetBackgroundWorkerPid(ls->handle[kind], &pid) != BGWH_STOPPED)
		return;
	pfree(ls->handle[kind]);
	ls->handle[kind] = NULL;
	if (kind == WORKER_DISPATCHER)
	{
		slot->pid = 0;
		slot->latch = NULL;
	}
	else
	{
		slot->chores_pid = 0;
		slot->chores_latch = NULL;
	}
	if (ls->handle[WORKER_DISPATCHER] == NULL && ls->handle[WORKER_CHORES] == NULL)
		slot->exit_requested = false;
	ls->restart_at[kind] = TimestampTzPlusMilliseconds(now, RESTART_PAUSE_MS);
}

/* Start a worker of the slot that is not running, when its pause is over; the ms to wait */
static long
ensure_worker(int slotno, WorkerKind kind, TimestampTz now)
{
	LauncherSlot *ls = &launcher_slots[slotno];
	long		secs;
	int			usecs;

	if (ls->handle[kind] != NULL)
		return LONG_MAX;
	if (now >= ls->restart_at[kind] && !start_worker(slotno, kind))
	{
		ereport(LOG,
				(errmsg("could not start the alliance %s of database \"%s\"",
						worker_kind_name[kind], alliance_shared->slots[slotno].dbname),
				 errhint("Raise max_worker_processes: alliance needs one for its launcher and two per database.")));
		ls->restart_at[kind] = TimestampTzPlusMilliseconds(now, 6 * RESTART_PAUSE_MS);
	}
	if (ls->handle[kind] != NULL)
		return LONG_MAX;
	TimestampDifference(now, ls->restart_at[kind], &secs, &usecs);
	return secs * 1000 + usecs / 1000 + 1;
}

/*
 * Bring the dispatchers in line with alliance.databases; returns how long
 * the launcher may sleep, in ms.
 */
static long
launcher_reconcile(bool report)
{
	char	   *raw = pstrdup(alliance_databases ? alliance_databases : "");
	List	   *names = NIL;
	Oid			wanted[MAX_DISPATCHERS];
	const char *wanted_name[MAX_DISPATCHERS];
	int			nwanted = 0;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = 60000;

	if (!SplitGUCList(raw, ',', &names))
		ereport(LOG, (errmsg("alliance.databases is not a valid list: \"%s\"", alliance_databases)));

	StartTransactionCommand();
	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		Oid			dboid = launcher_database_oid(name);

		if (!OidIsValid(dboid))
		{
			if (report)
				ereport(LOG,
						(errmsg("database \"%s\" in alliance.databases does not exist", name)));
			continue;
		}
		if (nwanted == MAX_DISPATCHERS)
		{
			ereport(LOG, (errmsg("alliance serves at most %d databases; \"%s\" is left out",
								 MAX_DISPATCHERS, name)));
			break;
		}
		wanted_name[nwanted] = name;
		wanted[nwanted++] = dboid;
	}
	CommitTransactionCommand();

	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_DISPATCHERS; i++)
	{
		DispatcherSlot *slot = &alliance_shared->slots[i];
		LauncherSlot *ls = &launcher_slots[i];
		bool		is_wanted = false;

		if (!OidIsValid(slot->dboid))
			continue;
		reap_worker(i, WORKER_DISPATCHER, now);
		reap_worker(i, WORKER_CHORES, now);
		for (int w = 0; w < nwanted; w++)
			is_wanted |= (wanted[w] == slot->dboid);
		if (!is_wanted)
		{
			if (ls->handle[WORKER_DISPATCHER] == NULL && ls->handle[WORKER_CHORES] == NULL)
				slot->dboid = InvalidOid;
			for (int k = 0; k < WORKER_KINDS; k++)
				if (ls->handle[k])
					TerminateBackgroundWorker(ls->handle[k]);
		}
	}

	for (int w = 0; w < nwanted; w++)
	{
		int			slotno = -1;
		int			free_slot = -1;

		for (int i = 0; i < MAX_DISPATCHERS; i++)
		{
			if (alliance_shared->slots[i].dboid == wanted[w])
				slotno = i;
			else if (!OidIsValid(alliance_shared->slots[i].dboid) && free_slot < 0)
				free_slot = i;
		}
		if (slotno < 0)
		{
			if (free_slot < 0)
				continue;
			slotno = free_slot;
			memset(&alliance_shared->slots[slotno], 0, sizeof(DispatcherSlot));
			alliance_shared->slots[slotno].dboid = wanted[w];
			memset(&launcher_slots[slotno].restart_at, 0, sizeof(launcher_slots[slotno].restart_at));
		}
		/* the name, which a rename changes under the same OID */
		strlcpy(alliance_shared->slots[slotno].dbname, wanted_name[w], NAMEDATALEN);
		for (int k = 0; k < WORKER_KINDS; k++)
			sleep_ms = Min(sleep_ms, ensure_worker(slotno, (WorkerKind) k, now));
	}
	LWLockRelease(alliance_shared->lock);
	return sleep_ms;
}

/*
 * The top of a worker's loop: leave at SIGTERM, serve other interrupts, and
 * reload the configuration at SIGHUP; whether it reloaded.
 */
bool
alliance_worker_check_signals(void)
{
	if (ProcDiePending)
		proc_exit(1);
	CHECK_FOR_INTERRUPTS();
	if (!ConfigReloadPending)
		return false;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	return true;
}

/* Has DROP DATABASE asked this database's workers to leave? */
bool
alliance_worker_exit_requested(DispatcherSlot *slot)
{
	bool		leave;

	LWLockAcquire(alliance_shared->lock, LW_SHARED);
	leave = slot->exit_requested;
	LWLockRelease(alliance_shared->lock);
	return leave;
}

/* Remember an error for alliance.dispatcher_status */
void
alliance_worker_note_error(DispatcherSlot *slot, const char *message)
{
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	strlcpy(slot->last_error, message, ERROR_TEXT_SIZE);
	slot->last_error_at = GetCurrentTimestamp();
	LWLockRelease(alliance_shared->lock);
}

/*
 * Run fn in a transaction of its own, with a snapshot; whether it committed.
 * An error is logged and remembered in the slot, the transaction rolled
 * back, and the worker goes on.
 */
bool
alliance_worker_in_transaction(DispatcherSlot *slot, void (*fn) (void *), void *arg, const char *what)
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
				(errmsg("alliance worker: %s failed: %s", what, edata->message)));
		alliance_worker_note_error(slot, edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(cxt);
	return ok;
}

void
alliance_launcher_main(Datum arg)
{
	bool		report = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("alliance launcher");

	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	alliance_shared->launcher_pid = MyProcPid;
	alliance_shared->launcher_latch = MyLatch;
	LWLockRelease(alliance_shared->lock);

	for (;;)
	{
		long		sleep_ms;

		/* SIGTERM: leave quietly; the postmaster starts the launcher again */
		if (alliance_worker_check_signals())
			report = true;
		sleep_ms = launcher_reconcile(report);
		report = false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

static const char *
state_name(DispatcherState state)
{
	switch (state)
	{
		case DISPATCHER_STARTING:
			return "starting";
		case DISPATCHER_WAITING:
			return "waiting for CREATE EXTENSION alliance";
		case DISPATCHER_RUNNING:
			return "running";
	}
	return "unknown";
}

/*
 * alliance.dispatcher_status(): each dispatcher's database, pid, state,
 * queue and counters.
 */
PG_FUNCTION_INFO_V1(dispatcher_status);
Datum
dispatcher_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (alliance_shared == NULL)
		return (Datum) 0;

	LWLockAcquire(alliance_shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_DISPATCHERS; i++)
	{
		DispatcherSlot *slot = &alliance_shared->slots[i];
		Datum		values[10];
		bool		nulls[10] = {0};

		if (!OidIsValid(slot->dboid))
			continue;
		values[0] = CStringGetTextDatum(slot->dbname);
		values[1] = Int32GetDatum(slot->pid);
		nulls[1] = slot->pid == 0;
		values[2] = CStringGetTextDatum(slot->pid == 0 ? "stopped" : state_name(slot->state));
		values[3] = TimestampTzGetDatum(slot->started_at);
		nulls[3] = slot->pid == 0;
		values[4] = Int64GetDatum(slot->queue_depth);
		values[5] = DirectFunctionCall7(make_interval, 0, 0, 0, 0, 0, 0,
										Float8GetDatum(slot->oldest_pending_seconds));
		nulls[5] = slot->queue_depth == 0;
		values[6] = Int64GetDatum(slot->delivered);
		values[7] = Int64GetDatum(slot->failed);
		values[8] = CStringGetTextDatum(slot->last_error);
		nulls[8] = slot->last_error[0] == '\0';
		values[9] = TimestampTzGetDatum(slot->last_error_at);
		nulls[9] = slot->last_error[0] == '\0';
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(alliance_shared->lock);
	return (Datum) 0;
}
