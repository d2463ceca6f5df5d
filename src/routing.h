/*-------------------------------------------------------------------------
 *
 * routing.h
 *	  Tier routing, for alliance.refer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_ROUTING_H
#define ALLIANCE_ROUTING_H

#include "contract.h"
#include "parse.h"

extern int64 alliance_routing_best_target(int64 from, int64 alliance_id, Icd10 diagnosis,
								 const char *acuity, const char *urgency,
								 const Combination *comb);
extern void alliance_routing_check_target(int64 to, Icd10 diagnosis,
								 const char *acuity, const char *urgency);

#endif							/* ALLIANCE_ROUTING_H */
