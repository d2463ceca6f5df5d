/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  Every alliance.* setting's variable, and the hooks that check them;
 *	  settings.c defines them all.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_SETTINGS_H
#define ALLIANCE_SETTINGS_H

#include "utils/guc.h"

/* alliance.tier_output: the language tier_out writes */
typedef enum TierOutputLanguage
{
	TIER_OUTPUT_EN,
	TIER_OUTPUT_ZH
} TierOutputLanguage;

/* alliance.routing_policy: what refer() does with a target outside its tiers */
typedef enum RoutingPolicy
{
	ROUTING_POLICY_OFF,
	ROUTING_POLICY_WARN,
	ROUTING_POLICY_ERROR
} RoutingPolicy;

/* alliance.contract_policy: what a family doctor contract does to referrals */
typedef enum ContractPolicy
{
	CONTRACT_POLICY_OFF,		/* contracts change nothing in routing */
	CONTRACT_POLICY_PREFER,		/* the combination ranks first in its tier */
	CONTRACT_POLICY_GATEKEEP	/* and upward referrals come from the family institution */
} ContractPolicy;

/* types, access, routing */
extern int	alliance_tier_output;
extern char *alliance_admin_role;
extern int	alliance_routing_policy;
extern int	alliance_contract_policy;

/* SLA of a requested referral, by urgency, and the no-show grace, in seconds */
extern int	alliance_sla_emergency;
extern int	alliance_sla_urgent;
extern int	alliance_sla_routine;
extern int	alliance_no_show_grace;

/* hosts to which a webhook may be plain http */
extern char *alliance_http_hosts;

/* the time zone of the indicators' calendar months */
extern char *alliance_timezone;

/* the workers (a reload applies a change) */
extern char *alliance_databases;
extern char *alliance_retry_schedule;
extern int	alliance_http_timeout;
extern int	alliance_max_in_flight;
extern int	alliance_max_in_flight_per_endpoint;
extern int	alliance_log_retention;
extern int	alliance_refresh_interval;
extern bool alliance_direct_shard_access;
extern char *alliance_resolve;

/* Define every setting; called once, by _PG_init */
extern void alliance_define_settings(void);

/* hooks, implemented beside what they check */
extern bool alliance_timezone_check(char **newval, void **extra, GucSource source);
extern bool alliance_retry_schedule_check(char **newval, void **extra, GucSource source);
extern bool alliance_resolve_check(char **newval, void **extra, GucSource source);
extern void alliance_retry_schedule_assign(const char *newval, void *extra);

#endif							/* ALLIANCE_SETTINGS_H */
