/*-------------------------------------------------------------------------
 *
 * caller.c
 *	  Who acts for whom.
 *
 * The caller of a function is the current user when it is called (so an
 * application's own SECURITY DEFINER function acts as its owner, as
 * PostgreSQL's privileges do).  A role acts for an institution when it has
 * the privileges (pg_has_role USAGE) of a role mapped to it.  The same rule
 * serves the functions here and the row-level security policies, which call
 * alliance.acts_for_all() and alliance.acting_institutions().
 *
 * A mapping names the role by its OID (alliance.role_map.role_id), so that a
 * role dropped and created again under the same name inherits none of it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "caller.h"
#include "settings.h"
#include "stmt.h"

/*
 * No join with the catalogs: on a Citus cluster role_map is a reference
 * table, and a join with pg_roles would be shipped to its placement, where
 * pg_authid is not readable.  pg_has_role() on the OID of a dropped role is
 * false, so mappings left behind by one match nothing.
 */
static Stmt mapped_institutions = {
	"SELECT DISTINCT m.institution_id"
	"  FROM alliance.role_map m"
	" WHERE pg_catalog.pg_has_role($1, m.role_id::pg_catalog.oid, 'USAGE')",
	1, {OIDOID}
};

/* before ALTER EXTENSION alliance UPDATE to 1.2, mappings name the role */
static Stmt mapped_institutions_1_0 = {
	"SELECT DISTINCT m.institution_id"
	"  FROM alliance.role_map m"
	"  JOIN pg_catalog.pg_roles r ON r.rolname = m.role_name"
	" WHERE pg_catalog.pg_has_role($1, r.oid, 'USAGE')",
	1, {OIDOID}
};

/*
 * On a Citus cluster role_map is a reference table, and inside a query on a
 * shard (a row-level security policy, as a worker applies it) Citus runs no
 * distributed query: the mappings are read from this node's placement of
 * role_map, which Citus keeps identical on every node.  Its name, or NULL
 * when role_map is not distributed here (one server, or Citus without
 * alliance.distribute()).  Inside a statement scope.
 */
static char *
role_map_placement(void)
{
	bool		isnull;
	Datum		name;

	if (!OidIsValid(get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE)) ||
		!OidIsValid(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE)))
		return NULL;
	if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'"
					"       OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname OPERATOR(pg_catalog.||) '_'"
					"                                                     OPERATOR(pg_catalog.||) s.shardid)"
					"  FROM pg_catalog.pg_dist_shard s"
					"  JOIN pg_catalog.pg_dist_placement p ON p.shardid OPERATOR(pg_catalog.=) s.shardid"
					"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.logicalrelid"
					"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
					" WHERE n.nspname OPERATOR(pg_catalog.=) 'alliance'"
					"   AND c.relname OPERATOR(pg_catalog.=) 'role_map'"
					"   AND p.groupid OPERATOR(pg_catalog.=) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)",
					true, 1) != SPI_OK_SELECT || SPI_processed == 0)
		return NULL;
	name = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : TextDatumGetCString(name);
}

/* Is alliance.role_map a Citus table placed on this node?  Inside a statement scope. */
bool
alliance_role_map_distributed(void)
{
	return role_map_placement() != NULL;
}

/* Does alliance.role_map name roles by OID (1.2), or by name (1.0, 1.1)? */
bool
alliance_role_map_by_oid(void)
{
	Oid			relid = get_relname_relid("role_map", get_namespace_oid("alliance", false));

	return OidIsValid(relid) && get_attnum(relid, "role_id") != InvalidAttrNumber;
}

/* Is role a superuser or a member of alliance.admin_role? */
bool
alliance_caller_role_acts_for_all(Oid role)
{
	Oid			admin;

	if (superuser_arg(role))
		return true;
	if (alliance_admin_role == NULL || alliance_admin_role[0] == '\0')
		return false;
	admin = get_role_oid(alliance_admin_role, true);
	return OidIsValid(admin) && has_privs_of_role(role, admin);
}

/*
 * Find out who the current user is and which institutions it acts for.  The
 * institution list is allocated in the current memory context.
 */
void
alliance_caller_identify(Caller *caller)
{
	MemoryContext outer = CurrentMemoryContext;
	StmtScope	scope;
	Datum		arg;
	char	   *placement;

	caller->roleid = GetUserId();
	caller->acts_for_all = alliance_caller_role_acts_for_all(caller->roleid);
	caller->ninstitutions = 0;
	caller->institutions = NULL;
	if (caller->acts_for_all)
		return;

	alliance_stmt_begin(&scope, false);
	arg = ObjectIdGetDatum(caller->roleid);
	placement = role_map_placement();
	if (placement != NULL)
	{
		Oid			argtype = OIDOID;
		char	   *sql = psprintf("SELECT DISTINCT m.institution_id FROM %s m"
								   " WHERE pg_catalog.pg_has_role($1, m.role_id::pg_catalog.oid, 'USAGE')",
								   placement);

		if (SPI_execute_with_args(sql, 1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read %s", placement);
	}
	else
		alliance_stmt_run(alliance_role_map_by_oid() ? &mapped_institutions : &mapped_institutions_1_0, &arg, NULL, 0);
	if (SPI_processed > 0)
	{
		caller->institutions = MemoryContextAlloc(outer, SPI_processed * sizeof(int64));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			caller->institutions[i] =
				DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		caller->ninstitutions = (int) SPI_processed;
	}
	alliance_stmt_end(&scope);
}

bool
alliance_caller_acts_for(const Caller *caller, int64 institution)
{
	if (caller->acts_for_all)
		return true;
	for (int i = 0; i < caller->ninstitutions; i++)
		if (caller->institutions[i] == institution)
			return true;
	return false;
}

char *
alliance_caller_name(const Caller *caller)
{
	return GetUserNameFromId(caller->roleid, false);
}

/* Raise 42501 unless the caller acts for every institution */
void
alliance_caller_require_admin(const Caller *caller, const char *action)
{
	if (!caller->acts_for_all)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail("Role \"%s\" is neither a superuser nor a member of \"%s\" (alliance.admin_role).",
						   alliance_caller_name(caller), alliance_admin_role ? alliance_admin_role : "")));
}

/* Raise 42501 unless the caller acts for the institution */
void
alliance_caller_require_institution(const Caller *caller, int64 institution, const char *action)
{
	if (!alliance_caller_acts_for(caller, institution))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail("Role \"%s\" does not act for institution " INT64_FORMAT ".",
						   alliance_caller_name(caller), institution),
				 errhint("An administrator maps a role to an institution with alliance.map_role().")));
}

/*
 * The answers of alliance.acts_for_all() and alliance.acting_institutions()
 * for one role, kept for the rest of the statement in the call's fn_extra:
 * the row-level security policies call them on every row (a subquery, which
 * would run them once, is what Citus cannot distribute in a policy).
 */
typedef struct CallerCache
{
	Oid			roleid;
	bool		acts_for_all;
	ArrayType  *institutions;	/* for acting_institutions() only */
} CallerCache;

static CallerCache *
caller_cache(FunctionCallInfo fcinfo)
{
	CallerCache *cache = (CallerCache *) fcinfo->flinfo->fn_extra;
	Oid			roleid = GetUserId();

	if (cache == NULL)
		cache = fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallerCache));
	else if (cache->roleid == roleid)
		return cache;
	if (cache->institutions != NULL)
		pfree(cache->institutions);
	cache->roleid = roleid;
	cache->acts_for_all = alliance_caller_role_acts_for_all(roleid);
	cache->institutions = NULL;
	return cache;
}

/* alliance.acts_for_all(): does the current user act for every institution? */
PG_FUNCTION_INFO_V1(acts_for_all);
Datum
acts_for_all(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(caller_cache(fcinfo)->acts_for_all);
}

/* alliance.acting_institutions(): the institutions the current user is mapped to */
PG_FUNCTION_INFO_V1(acting_institutions);
Datum
acting_institutions(PG_FUNCTION_ARGS)
{
	CallerCache *cache = caller_cache(fcinfo);

	if (cache->institutions == NULL)
	{
		Caller		caller;
		Datum	   *ids;
		MemoryContext old;

		alliance_caller_identify(&caller);
		ids = palloc(Max(caller.ninstitutions, 1) * sizeof(Datum));
		for (int i = 0; i < caller.ninstitutions; i++)
			ids[i] = Int64GetDatum(caller.institutions[i]);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		cache->institutions = construct_array(ids, caller.ninstitutions, INT8OID,
											  sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_ARRAYTYPE_P(DatumGetArrayTypePCopy(PointerGetDatum(cache->institutions)));
}
