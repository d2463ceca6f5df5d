/*-------------------------------------------------------------------------
 *
 * slots.h
 *	  The workers' shared memory: per database of alliance.databases, the
 *	  slot its dispatcher and chores worker share; and what they share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_SLOTS_H
#define ALLIANCE_SLOTS_H

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/guc.h"

#define MAX_DISPATCHERS 32
#define ERROR_TEXT_SIZE 256

typedef enum DispatcherState
{
	DISPATCHER_STARTING,
	DISPATCHER_WAITING,			/* for CREATE EXTENSION alliance */
	DISPATCHER_RUNNING,
	DISPATCHER_IDLE				/* on a Citus cluster: no shard of the outbox here */
} DispatcherState;

/*
 * One database's workers; the launcher owns dboid, the dispatcher the
 * delivery figures, the chores worker chores_pid and the queue figures.
 */
typedef struct DispatcherSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	char		dbname[NAMEDATALEN];
	pid_t		pid;			/* the dispatcher's; 0: not running */
	Latch	   *latch;
	pid_t		chores_pid;		/* the chores worker's; 0: not running */
	Latch	   *chores_latch;
	bool		exit_requested; /* DROP DATABASE is waiting for them */
	DispatcherState state;
	TimestampTz started_at;
	int64		queue_depth;
	double		oldest_pending_seconds;
	int64		delivered;
	int64		failed;
	char		last_error[ERROR_TEXT_SIZE];
	TimestampTz last_error_at;
} DispatcherSlot;

typedef struct AllianceShared
{
	LWLock	   *lock;			/* protects everything below */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	DispatcherSlot slots[MAX_DISPATCHERS];
} AllianceShared;

extern AllianceShared *alliance_shared;

/* worker.c */
extern bool alliance_worker_check_signals(void);
extern bool alliance_worker_exit_requested(DispatcherSlot *slot);
extern void alliance_worker_note_error(DispatcherSlot *slot, const char *message);
extern bool alliance_worker_in_transaction(DispatcherSlot *slot, void (*fn) (void *), void *arg,
								  const char *what);

/* utility.c */

#endif							/* ALLIANCE_SLOTS_H */
