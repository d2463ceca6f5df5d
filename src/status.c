/*-------------------------------------------------------------------------
 *
 * status.c
 *	  alliance.dispatcher_status: each database's workers, as their slots
 *	  in shared memory say.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "slots.h"

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
		case DISPATCHER_IDLE:
			return "idle: no shard of alliance.outbox on this node";
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
