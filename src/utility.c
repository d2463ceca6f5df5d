/*-------------------------------------------------------------------------
 *
 * utility.c
 *	  What utility commands owe the workers: DROP DATABASE waits for them to
 *	  leave, and a tenant's LOCK TABLE or TRUNCATE never stops them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"

#include "caller.h"
#include "guard.h"
#include "slots.h"

/* how long DROP DATABASE waits for the dispatcher to leave, in ms */
#define RELEASE_WAIT_MS		10000

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Before DROP DATABASE (or a rename) of a database with a dispatcher: ask
 * the dispatcher to leave, and wait until it has, so that the command does
 * not fail with "database is being accessed by other users".
 */
static void
release_database(const char *dbname)
{
	Oid			dboid = get_database_oid(dbname, true);
	Latch	   *latch = NULL;
	Latch	   *chores_latch = NULL;
	int			slotno = -1;

	if (!OidIsValid(dboid))
		return;
	LWLockAcquire(alliance_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_DISPATCHERS; i++)
	{
		DispatcherSlot *slot = &alliance_shared->slots[i];

		if (slot->dboid == dboid && (slot->pid != 0 || slot->chores_pid != 0))
		{
			slot->exit_requested = true;
			latch = slot->latch;
			chores_latch = slot->chores_latch;
			slotno = i;
		}
	}
	LWLockRelease(alliance_shared->lock);
	if (slotno < 0)
		return;
	if (latch)
		SetLatch(latch);
	if (chores_latch)
		SetLatch(chores_latch);

	for (int waited = 0; waited < RELEASE_WAIT_MS; waited += 20)
	{
		bool		gone;

		LWLockAcquire(alliance_shared->lock, LW_SHARED);
		gone = alliance_shared->slots[slotno].dboid != dboid ||
			(alliance_shared->slots[slotno].pid == 0 &&
			 alliance_shared->slots[slotno].chores_pid == 0);
		LWLockRelease(alliance_shared->lock);
		if (gone)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * LOCK TABLE or TRUNCATE of a relation of the extension's schema, by a role
 * that does not act for every institution: refused before any lock is
 * taken, whatever its privileges, since the workers would wait for it (a
 * broad GRANT gives the privileges both need).
 */
static void
refuse_tenant_lock(List *relations, const char *command)
{
	Oid			schema;
	ListCell   *lc;
	Caller		caller;

	if (superuser())
		return;
	schema = get_namespace_oid("alliance", true);
	if (!OidIsValid(schema))
		return;
	foreach(lc, relations)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		if (!OidIsValid(relid) || get_rel_namespace(relid) != schema)
			continue;
		alliance_caller_identify(&caller);
		if (!caller.acts_for_all)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to %s alliance.%s", command, get_rel_name(relid)),
					 errdetail("The extension's workers read and write the tables of schema alliance; only the administrator may lock them."),
					 errhint("Read the tables without a lock, or ask the administrator (alliance.admin_role).")));
	}
}

static void
alliance_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (alliance_shared != NULL)
	{
		if (IsA(stmt, DropdbStmt))
			release_database(((DropdbStmt *) stmt)->dbname);
		else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
			release_database(((RenameStmt *) stmt)->subname);
	}
	if (IsA(stmt, LockStmt))
		refuse_tenant_lock(((LockStmt *) stmt)->relations, "LOCK");
	else if (IsA(stmt, TruncateStmt))
	{
		refuse_tenant_lock(((TruncateStmt *) stmt)->relations, "TRUNCATE");
		alliance_guard_truncate(((TruncateStmt *) stmt)->relations);
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/* From _PG_init, in every backend that loads the library */
void
alliance_utility_hook_install(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = alliance_ProcessUtility;
}
