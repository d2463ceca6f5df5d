/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  What the dispatcher and the chores worker share: signals, the request
 *	  to leave, errors for dispatcher_status, a transaction per step.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "slots.h"

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
