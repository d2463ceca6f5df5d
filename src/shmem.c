/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  What shared_preload_libraries sets up: the workers' shared memory and
 *	  the launcher.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "slots.h"
#include "workers.h"

AllianceShared *alliance_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
alliance_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
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
 * From _PG_init under shared_preload_libraries: shared memory and the
 * launcher.
 */
void
alliance_worker_preload(void)
{
	BackgroundWorker worker;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = alliance_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = alliance_shmem_startup;

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

