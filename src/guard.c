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
 * - alliance.write_guard(), a statement trigger on every table: a statement
 *   that writes one (INSERT, UPDATE, DELETE, MERGE, COPY FROM, TRUNCATE) runs
 *   only as the extension's owner, that is from inside its functions, or as
 *   a superuser; tables an administrator may edit (routing rules, targets)
 *   also take the admin role's writes.  It fires once per statement, even
 *   for one that touches no row, so the refusal is an error, not "UPDATE 0".
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

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "caller.h"
#include "stmt.h"

/* status.c */
extern Datum dispatcher_status(PG_FUNCTION_ARGS);

/* the command a trigger fired for, as SQL names it */
static const char *
trigger_command(TriggerData *trigdata)
{
	TriggerEvent event = trigdata->tg_event;

	if (TRIGGER_FIRED_BY_INSERT(event))
		return "INSERT";
	if (TRIGGER_FIRED_BY_UPDATE(event))
		return "UPDATE";
	if (TRIGGER_FIRED_BY_DELETE(event))
		return "DELETE";
	return "TRUNCATE";
}

/*
 * alliance.write_guard(): BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE FOR
 * EACH STATEMENT.  Argument 1: who else may write the table directly, "admin"
 * (the roles acting for every institution) or "none"; argument 2: the
 * hint, a sentence naming the functions to use instead.
 */
PG_FUNCTION_INFO_V1(alliance_write_guard);
Datum
alliance_write_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	Oid			user = GetUserId();
	bool		admin_may;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("alliance.write_guard() must be called as a BEFORE statement trigger with two arguments")));
	trigger = trigdata->tg_trigger;

	if (superuser_arg(user) || user == alliance_extension_owner())
		return PointerGetDatum(NULL);
	admin_may = strcmp(trigger->tgargs[0], "admin") == 0;
	if (admin_may && alliance_caller_role_acts_for_all(user))
		return PointerGetDatum(NULL);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s alliance.%s directly",
					trigger_command(trigdata), RelationGetRelationName(trigdata->tg_relation)),
			 errdetail(admin_may
					   ? "Only the extension's functions, superusers and the admin role (alliance.admin_role) write alliance.%s, whatever privileges role \"%s\" holds on it."
					   : "Only the extension's functions and superusers write alliance.%s, whatever privileges role \"%s\" holds on it.",
					   RelationGetRelationName(trigdata->tg_relation),
					   GetUserNameFromId(user, false)),
			 errhint("%s", trigger->tgargs[1])));
	return PointerGetDatum(NULL);	/* not reached */
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
