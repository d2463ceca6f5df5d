/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: a dispatcher and a chores worker per database of
 *	  alliance.databases, started, restarted after a pause, and stopped.
 *
 * The launcher is a static background worker connected to no database (it
 * reads pg_database only).  It starts the dynamic workers of each listed
 * database that exists, restarts one that stopped after a pause, and stops
 * those whose database left the list (SIGHUP).  A database's workers own a
 * slot in shared memory (slots.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "settings.h"
#include "slots.h"
#include "workers.h"

/* pause before a stopped dispatcher is started again, in ms */
#define RESTART_PAUSE_MS	5000

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
	return TimestampDifferenceMilliseconds(now, ls->restart_at[kind]) + 1;
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
