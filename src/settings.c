/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Every alliance.* setting in one place: its variable, default, bounds,
 *	  who may set it and its description (settings.h declares them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "settings.h"

/* each takes its default, given once below, when it is defined */
int			alliance_tier_output;
char	   *alliance_admin_role;
int			alliance_sla_emergency;
int			alliance_sla_urgent;
int			alliance_sla_routine;
int			alliance_no_show_grace;
char	   *alliance_http_hosts;
char	   *alliance_timezone;
char	   *alliance_databases;
char	   *alliance_retry_schedule;
char	   *alliance_resolve;
int			alliance_http_timeout;
int			alliance_max_in_flight;
int			alliance_max_in_flight_per_endpoint;
int			alliance_log_retention;
int			alliance_refresh_interval;
int			alliance_contract_policy;
int			alliance_routing_policy;
bool		alliance_direct_shard_access;

static const struct config_enum_entry routing_policy_options[] = {
	{"off", ROUTING_POLICY_OFF, false},
	{"warn", ROUTING_POLICY_WARN, false},
	{"error", ROUTING_POLICY_ERROR, false},
	{NULL, 0, false}
};

static const struct config_enum_entry contract_policy_options[] = {
	{"off", CONTRACT_POLICY_OFF, false},
	{"prefer", CONTRACT_POLICY_PREFER, false},
	{"gatekeep", CONTRACT_POLICY_GATEKEEP, false},
	{NULL, 0, false}
};

static const struct config_enum_entry tier_output_options[] = {
	{"en", TIER_OUTPUT_EN, false},
	{"zh", TIER_OUTPUT_ZH, false},
	{NULL, 0, false}
};

/*
 * Define the settings.  Called by _PG_init when the library is loaded, either
 * from shared_preload_libraries or by the first call into it.
 */
void
alliance_define_settings(void)
{
	DefineCustomEnumVariable("alliance.tier_output",
							 "Sets the language in which alliance.tier values are written.",
							 "en writes canonical English (tertiary-A), zh writes Chinese (三级甲等).",
							 &alliance_tier_output,
							 TIER_OUTPUT_EN,
							 tier_output_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * The settings below decide who may do what and by when.  A session must
	 * not change them for itself, so only superusers set them (per database
	 * with ALTER DATABASE ... SET, or in postgresql.conf).
	 */
	DefineCustomStringVariable("alliance.admin_role",
							   "Sets the role whose members act for every institution.",
							   "Superusers always do; the role is used when it exists.",
							   &alliance_admin_role,
							   "alliance_admin",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("alliance.sla_emergency",
							"Sets how long a requested emergency referral waits for an answer.",
							"Past this, the worker moves it to expired.",
							&alliance_sla_emergency,
							30 * 60, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("alliance.sla_urgent",
							"Sets how long a requested urgent referral waits for an answer.",
							"Past this, the worker moves it to expired.",
							&alliance_sla_urgent,
							4 * 60 * 60, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("alliance.sla_routine",
							"Sets how long a requested routine referral waits for an answer.",
							"Past this, the worker moves it to expired.",
							&alliance_sla_routine,
							48 * 60 * 60, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("alliance.no_show_grace",
							"Sets how long after its scheduled time a scheduled referral becomes a no-show.",
							NULL,
							&alliance_no_show_grace,
							24 * 60 * 60, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("alliance.routing_policy",
							 "Sets what alliance.refer does with a target outside the tiers routing requires.",
							 "off accepts it, warn accepts it with a warning, error refuses it (AL007).",
							 &alliance_routing_policy,
							 ROUTING_POLICY_WARN,
							 routing_policy_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("alliance.contract_policy",
							 "Sets what a family doctor contract does to routing and referrals.",
							 "off ignores contracts, prefer ranks the resident's combination first within its tier, "
							 "gatekeep also refuses a non-emergency upward referral not from the family institution (AL009).",
							 &alliance_contract_policy,
							 CONTRACT_POLICY_PREFER,
							 contract_policy_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("alliance.http_hosts",
							   "Sets the hosts to which a webhook URL may use plain http.",
							   "A comma-separated list; every other webhook URL must be https.",
							   &alliance_http_hosts,
							   "localhost,127.0.0.1,::1",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("alliance.timezone",
							   "Sets the time zone of the indicators' calendar months.",
							   "After a change, run alliance.rebuild_indicators().",
							   &alliance_timezone,
							   "Asia/Shanghai",
							   PGC_SIGHUP,
							   0,
							   alliance_timezone_check, NULL, NULL);

	/* the notification workers; a reload (SIGHUP) applies a change */
	DefineCustomStringVariable("alliance.databases",
							   "Sets the databases whose notifications a dispatcher delivers.",
							   "A comma-separated list; a database waits for CREATE EXTENSION alliance.",
							   &alliance_databases,
							   "postgres",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("alliance.retry_schedule",
							   "Sets the delays before each try of a notification.",
							   "After the last, a notification is dead.",
							   &alliance_retry_schedule,
							   "0,5s,5min,30min,2h,5h,10h,14h,20h,24h",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   alliance_retry_schedule_check, alliance_retry_schedule_assign, NULL);
	DefineCustomStringVariable("alliance.resolve",
							   "Pins the addresses the dispatcher connects to for webhook hosts.",
							   "A comma-separated list of host:port:address; a listed host:port is not looked up in DNS. "
							   "The address is still checked: an internal one is refused unless the host is in alliance.http_hosts.",
							   &alliance_resolve,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   alliance_resolve_check, NULL, NULL);
	DefineCustomIntVariable("alliance.http_timeout",
							"Sets how long a webhook request may take.",
							NULL,
							&alliance_http_timeout,
							10000, 100, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("alliance.max_in_flight",
							"Sets how many webhook requests a dispatcher runs at once.",
							NULL,
							&alliance_max_in_flight,
							64, 1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("alliance.max_in_flight_per_endpoint",
							"Sets how many webhook requests run at once to one institution's endpoint.",
							NULL,
							&alliance_max_in_flight_per_endpoint,
							8, 1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("alliance.log_retention",
							"Sets how long alliance.delivery_log keeps an attempt.",
							NULL,
							&alliance_log_retention,
							7 * 24 * 60 * 60, 60, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("alliance.refresh_interval",
							"Sets how often the dispatcher refreshes the indicators.",
							NULL,
							&alliance_refresh_interval,
							5 * 60, 10, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/* on a Citus node: how the gate reaches the referral shards it holds */
	DefineCustomBoolVariable("alliance.direct_shard_access",
							 "Lets the referral gate use the shards and reference placements this Citus node holds directly.",
							 "When off, every statement of the gate goes through Citus's planner. Per node; no effect on one server.",
							 &alliance_direct_shard_access,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}
