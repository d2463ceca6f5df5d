/*-------------------------------------------------------------------------
 *
 * alliance.c
 *	  Module entry point of the alliance extension: the module magic and
 *	  _PG_init, which defines every alliance.* setting in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include <limits.h>

#include "alliance.h"
#include "routing.h"

PG_MODULE_MAGIC;

/* PostgreSQL 15's fmgr.h does not declare it */
extern PGDLLEXPORT void _PG_init(void);

int			alliance_tier_output = TIER_OUTPUT_EN;
char	   *alliance_admin_role = NULL;
int			alliance_sla_emergency = 30 * 60;
int			alliance_sla_urgent = 4 * 60 * 60;
int			alliance_sla_routine = 48 * 60 * 60;
int			alliance_no_show_grace = 24 * 60 * 60;
char	   *alliance_http_hosts = NULL;

static const struct config_enum_entry routing_policy_options[] = {
	{"off", ROUTING_POLICY_OFF, false},
	{"warn", ROUTING_POLICY_WARN, false},
	{"error", ROUTING_POLICY_ERROR, false},
	{NULL, 0, false}
};

static const struct config_enum_entry tier_output_options[] = {
	{"en", TIER_OUTPUT_EN, false},
	{"zh", TIER_OUTPUT_ZH, false},
	{NULL, 0, false}
};

/*
 * Define the extension's settings.  Called when the library is loaded, either
 * from shared_preload_libraries or by the first call into it.
 */
void
_PG_init(void)
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

	DefineCustomStringVariable("alliance.http_hosts",
							   "Sets the hosts to which a webhook URL may use plain http.",
							   "A comma-separated list; every other webhook URL must be https.",
							   &alliance_http_hosts,
							   "localhost,127.0.0.1,::1",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("alliance");
#else
	EmitWarningsOnPlaceholders("alliance");
#endif
}
