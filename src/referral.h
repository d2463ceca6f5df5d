/*-------------------------------------------------------------------------
 *
 * referral.h
 *	  The referral state machine, for the other parts of the extension that
 *	  move referrals (the worker's expiry).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_REFERRAL_H
#define ALLIANCE_REFERRAL_H

#include "datatype/timestamp.h"

#include "labels.h"

/* A request to move a referral */
typedef struct Transition
{
	int64		referral_id;
	ReferralStatus to;
	const char *note;			/* or NULL */
	const char *actor;			/* recorded instead of the caller's name, or NULL */
	bool		check_version;
	int32		expected_version;
	bool		has_scheduled_at;
	TimestampTz scheduled_at;
} Transition;

extern Datum alliance_referral_transition(const Transition *t);

#endif							/* ALLIANCE_REFERRAL_H */
