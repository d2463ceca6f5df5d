/*-------------------------------------------------------------------------
 *
 * retry.h
 *	  When a failed delivery is tried again: alliance.retry_schedule.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_RETRY_H
#define ALLIANCE_RETRY_H

extern double alliance_retry_delay(int attempts, long http_status, double retry_after);

#endif							/* ALLIANCE_RETRY_H */
