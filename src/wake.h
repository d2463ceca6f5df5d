/*-------------------------------------------------------------------------
 *
 * wake.h
 *	  The commit-time wake-up of this database's dispatcher, for whatever
 *	  queues a notification or changes a deadline (wake.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_WAKE_H
#define ALLIANCE_WAKE_H

/* Wake this database's workers when the current transaction commits */
extern void alliance_wake_at_commit(void);

#endif							/* ALLIANCE_WAKE_H */
