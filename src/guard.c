/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  The second fence: what holds whatever table privileges a DBA
 *	  grants.
 *
 * Privileges are the first fence: applications are granted SELECT and write
 * through the extension's functions, which decide and then write as the
 * extension's owner (stmt.c).  A DBA's GRANT ALL ON ALL TABLES lifts that
 * fence; these functions keep the promises anyway:
 *
 * - the executor's permission hook: a statement that writes a table of the
 *   extension (INSERT, UPDATE, DELETE, MERGE, COPY FROM) or locks its rows,
 *   and TRUNCATE (from the utility hook), runs only as the extension's owner,
 *   that is from inside its functions, or as a superuser; tables an
 *   administrator may edit (routing rules, targets) also take the admin
 *   role's writes, and events are append-only.  It checks once per
 *   statement, even for one that touches no row, so the refusal is an
 *   error, not "UPDATE 0".  It is no trigger, so it holds on a Citus
 *   cluster too, where Citus runs no trigger: there it sees the shard
 *   placements of the tables, which are in the same schema.  The same hook
 *   drops the sessions' routing caches when a table routing reads is
 *   written, on whichever node holds a placement of it.
 * - alliance.trigger_guard(), an event trigger: no role but a superuser may
 *   add a trigger to the extension's relations (TRIGGER privilege), since a
 *   trigger runs as whoever fires it, the gate's owner included.
 * - alliance.dispatcher_status(): the dispatchers' counters to everyone,
 *   their last error text (another institution's receiver, its echoed body)
 *   to the roles that act for every institution only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "caller.h"
#include "guard.h"
#include "stmt.h"

/* status.c */
extern Datum dispatcher_status(PG_FUNCTION_ARGS);

/*
 * Who may write each table directly, and what to use instead.  A table an
 * administrator may edit (admin_may) also takes the admin role's writes.
 */
typedef struct GuardedTable
{
	const char *name;
	bool		admin_may;
	const char *hint;
} GuardedTable;

static const GuardedTable guarded_tables[] = {
	{"alliance", false, "Create an alliance with alliance.create_alliance()."},
	{"institution", false, "Register an institution with alliance.add_institution() and set its capacity with alliance.set_capacity()."},
	{"membership", false, "Change the members of an alliance with alliance.add_member()."},
	{"webhook_endpoint", false, "Register a webhook endpoint with alliance.set_endpoint()."},
	{"endpoint", false, "Register a webhook endpoint with alliance.set_endpoint()."},
	{"webhook_secret", false, "alliance.set_endpoint() sets a new secret and returns it."},
	{"role_map", false, "Map a role with alliance.map_role() and unmap it with alliance.unmap_role()."},
	{"referral", false, "Create a referral with alliance.refer() and change it with alliance.transition() or its shorthands (accept, reject, schedule, arrive, complete, cancel)."},
	{"referral_event", false, "Events are append-only: alliance.transition() and its shorthands append them."},
	{"outbox", false, "Send a dead notification again with alliance.redeliver() or alliance.redeliver_dead()."},
	{"delivery_log", false, "The dispatcher records the attempts and prunes them after alliance.log_retention."},
	{"visit", false, "Record a visit with alliance.record_visit()."},
	{"teleconsult", false, "Record a teleconsultation with alliance.record_teleconsult()."},
	{"outreach", false, "Record outreach with alliance.record_outreach()."},
	{"result_sharing", false, "Record a shared result with alliance.record_result_sharing()."},
	{"indicator", false, "The indicators are computed by alliance.refresh_indicators()."},
	{"indicator_dirty", false, "The extension marks the months to refresh; alliance.refresh_indicators() takes them."},
	{"contract", false, "Sign, renew and end contracts with alliance.sign_contract(), alliance.renew_contract() and alliance.end_contract()."},
	{"routing_rule", true, "Add a routing rule with alliance.add_routing_rule(); the admin role edits the rules directly."},
	{"indicator_target", true, "The admin role (alliance.admin_role) sets the targets."},
};

/* any other relation of the schema (a view over the tables) */
static const GuardedTable guarded_other = {NULL, false, "Write through the extension's functions."};

/* the tables whose changes drop the sessions' routing caches */
static const char *const routing_tables[] = {"routing_rule", "institution", "membership"};

static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;

/*
 * The table of the extension a relation of its schema is: the table itself,
 * or, on a Citus node, one of its shard placements (the table's name, "_" and
 * the shard id).  Sets *base to the table's name.
 */
static const GuardedTable *
guarded_table(const char *relname, char relkind, const char **base)
{
	size_t		len = strlen(relname);
	size_t		digits = 0;

	while (digits < len && isdigit((unsigned char) relname[len - 1 - digits]))
		digits++;
	for (int i = 0; i < lengthof(guarded_tables); i++)
	{
		const char *name = guarded_tables[i].name;
		size_t		n = strlen(name);

		if (strcmp(relname, name) == 0 ||
			(digits > 0 && len == n + 1 + digits && relname[n] == '_' && strncmp(relname, name, n) == 0))
		{
			*base = name;
			return &guarded_tables[i];
		}
	}
	*base = relname;
	return (relkind == RELKIND_VIEW) ? &guarded_other : NULL;
}

/*
 * Refuse (42501) a direct write of a table of the extension -- INSERT,
 * UPDATE, DELETE, MERGE, COPY FROM, TRUNCATE, or a row lock (FOR UPDATE or
 * SHARE, which would hold the gate and the dispatcher up) -- unless it comes
 * from the extension's functions (its owner), a superuser, or, for a table
 * an administrator edits, the admin role.  Events are append-only: only a
 * superuser changes or removes one.  Returns false when refused and report
 * is false.  appends: the statement adds or locks rows, and changes none.
 */
static bool
guard_write(Oid relid, Oid user, const char *command, bool appends, bool report)
{
	HeapTuple	tuple;
	Form_pg_class form;
	const GuardedTable *table;
	const char *base;
	char	   *relname;
	Oid			owner;

	if (superuser_arg(user))
		return true;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return true;
	form = (Form_pg_class) GETSTRUCT(tuple);
	relname = pstrdup(NameStr(form->relname));
	owner = form->relowner;
	table = guarded_table(relname, form->relkind, &base);
	ReleaseSysCache(tuple);
	if (table == NULL)
		return true;

	if (user == owner)
	{
		if (appends || strcmp(base, "referral_event") != 0)
			return true;
		if (report)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("referral events are append-only"),
					 errhint("Only a superuser may correct the history of a referral.")));
		return false;
	}
	if (table->admin_may && alliance_caller_role_acts_for_all(user))
		return true;
	if (report)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s alliance.%s directly", command, base),
				 errdetail(table->admin_may
						   ? "Only the extension's functions, superusers and the admin role (alliance.admin_role) write alliance.%s, whatever privileges role \"%s\" holds on it."
						   : "Only the extension's functions and superusers write alliance.%s, whatever privileges role \"%s\" holds on it.",
						   base, GetUserNameFromId(user, false)),
				 errhint("%s", table->hint)));
	return false;
}

/*
 * A write of a table routing reads (or of its placement, on a Citus node):
 * every session drops its cached copy when this transaction commits.
 */
static void
routing_data_written(Oid relid, Oid schema)
{
	const char *relname = get_rel_name(relid);
	const char *base;

	if (relname == NULL || guarded_table(relname, RELKIND_RELATION, &base) == NULL)
		return;
	for (int i = 0; i < lengthof(routing_tables); i++)
		if (strcmp(base, routing_tables[i]) == 0)
		{
			Oid			table = get_relname_relid(base, schema);

			if (OidIsValid(table))
				CacheInvalidateRelcacheByRelid(table);
		}
}

/* what a range table entry's required permissions say it does */
static const char *
rte_command(RangeTblEntry *rte)
{
	if (rte->requiredPerms & ACL_INSERT)
		return "INSERT";
	if (rte->requiredPerms & ACL_DELETE)
		return "DELETE";
	if (rte->rellockmode == RowShareLock)
		return "lock rows of";
	return "UPDATE";
}

/*
 * ExecutorCheckPerms_hook: every statement that writes or locks rows of a
 * relation of schema alliance, once per statement, even when it touches no
 * row (so the refusal is an error, not "UPDATE 0"); on a Citus node the
 * shard placements are the extension's tables too.  The gate's own writes
 * run as the extension's owner and pass.
 */
static bool
alliance_check_perms(List *rangeTable, bool ereport_on_violation)
{
	Oid			schema = InvalidOid;
	ListCell   *lc;

	if (prev_ExecutorCheckPerms && !prev_ExecutorCheckPerms(rangeTable, ereport_on_violation))
		return false;
	foreach(lc, rangeTable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Oid			user;

		if (rte->rtekind != RTE_RELATION ||
			(rte->requiredPerms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) == 0)
			continue;
		if (!OidIsValid(schema))
		{
			schema = get_namespace_oid("alliance", true);
			if (!OidIsValid(schema))
				return true;
		}
		if (get_rel_namespace(rte->relid) != schema)
			continue;
		user = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
		if (!guard_write(rte->relid, user, rte_command(rte),
						 rte->rellockmode == RowShareLock || (rte->requiredPerms & (ACL_UPDATE | ACL_DELETE)) == 0,
						 ereport_on_violation))
			return false;
		if (rte->rellockmode != RowShareLock)
			routing_data_written(rte->relid, schema);
	}
	return true;
}

/*
 * TRUNCATE of relations of the schema, from the utility hook (utility.c):
 * the same rules as any other write.
 */
void
alliance_guard_truncate(List *relations)
{
	Oid			schema = get_namespace_oid("alliance", true);
	ListCell   *lc;

	if (!OidIsValid(schema))
		return;
	foreach(lc, relations)
	{
		Oid			relid = RangeVarGetRelid((RangeVar *) lfirst(lc), NoLock, true);

		if (!OidIsValid(relid) || get_rel_namespace(relid) != schema)
			continue;
		(void) guard_write(relid, GetUserId(), "TRUNCATE", false, true);
		routing_data_written(relid, schema);
	}
}

/* From _PG_init, in every backend that loads the library */
void
alliance_guard_install(void)
{
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = alliance_check_perms;
}

/*
 * alliance.trigger_guard(): an event trigger at ddl_command_end of CREATE
 * TRIGGER, refusing a trigger on a relation of the extension's schema unless
 * the user is a superuser.
 */
PG_FUNCTION_INFO_V1(alliance_trigger_guard);
Datum
alliance_trigger_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = (EventTriggerData *) fcinfo->context;
	CreateTrigStmt *stmt;
	Oid			relid;
	Oid			schema;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("alliance.trigger_guard() must be called as an event trigger")));
	if (superuser() || !IsA(trigdata->parsetree, CreateTrigStmt))
		PG_RETURN_VOID();

	stmt = (CreateTrigStmt *) trigdata->parsetree;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	schema = get_namespace_oid("alliance", true);
	if (OidIsValid(relid) && OidIsValid(schema) && get_rel_namespace(relid) == schema)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to create trigger \"%s\" on alliance.%s",
						stmt->trigname, get_rel_name(relid)),
				 errdetail("A trigger runs as the role that fires it, the extension's functions included; only a superuser adds one to the extension's relations, whatever privileges role \"%s\" holds.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("React to referral changes through the webhooks (alliance.set_endpoint) or by reading alliance.referral_event.")));
	PG_RETURN_VOID();
}

/*
 * alliance.dispatcher_status(): status.c's figures, with last_error blanked
 * unless the caller acts for every institution.
 */
PG_FUNCTION_INFO_V1(alliance_dispatcher_status_shown);
Datum
alliance_dispatcher_status_shown(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *all;
	Tuplestorestate *shown;
	TupleDesc	desc;
	TupleTableSlot *slot;
	MemoryContext outer;
	int			hidden = -1;

	(void) dispatcher_status(fcinfo);
	if (alliance_caller_role_acts_for_all(GetUserId()) || rsinfo->setResult == NULL)
		return (Datum) 0;

	all = rsinfo->setResult;
	desc = rsinfo->setDesc;
	for (int i = 0; i < desc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), "last_error") == 0)
			hidden = i;
	if (hidden < 0)
		elog(ERROR, "dispatcher_status() has no column last_error");

	outer = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	shown = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(outer);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	while (tuplestore_gettupleslot(all, true, false, slot))
	{
		slot_getallattrs(slot);
		slot->tts_isnull[hidden] = true;
		tuplestore_putvalues(shown, desc, slot->tts_values, slot->tts_isnull);
	}
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(all);
	rsinfo->setResult = shown;
	return (Datum) 0;
}
