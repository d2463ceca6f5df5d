/*-------------------------------------------------------------------------
 *
 * wake.c
 *	  The commit-time wake-up: a transaction that queued notifications sets
 *	  its database's dispatcher's latch when it commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"

#include "slots.h"
#include "wake.h"

static bool wake_callback_registered = false;
static bool wake_pending = false;

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
