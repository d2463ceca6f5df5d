/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The registry: alliances, institutions, memberships, capacity, webhook
 *	  endpoints, and which database roles act for which institution.
 *
 * Each function checks what its caller may do (caller.c), then writes as the
 * extension's owner (stmt.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "caller.h"
#include "contract.h"
#include "parse.h"
#include "placements.h"
#include "registry.h"
#include "stmt.h"
#include "webhook.h"

static Stmt insert_alliance = {
	"INSERT INTO alliance.alliance (name, model, integration)"
	" VALUES ($1, $2::alliance.alliance_model, $3::alliance.integration) RETURNING id",
	3, {TEXTOID, TEXTOID, TEXTOID}
};

static Stmt insert_institution = {
	"INSERT INTO alliance.institution (name, tier, region, lat, lon, specialties, beds)"
	" VALUES ($1, $2::alliance.tier, $3, $4, $5, coalesce($6, '{}'), $7) RETURNING id",
	7, {TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, TEXTARRAYOID, INT4OID}
};

/*
 * The registry's lookups; on a Citus node they read the reference tables'
 * placements there (src/placements.c), as the gate does.
 */
typedef enum RegistryRead
{
	READ_ALLIANCE,
	READ_MEMBERSHIPS,
	READ_INSTITUTION,
	NUM_REGISTRY_READS
} RegistryRead;

static Stmt registry_reads[NUM_REGISTRY_READS] = {
	[READ_ALLIANCE] = {
		"SELECT 1 FROM alliance.alliance WHERE id = $1", 1, {INT8OID}
	},
	[READ_MEMBERSHIPS] = {
		"SELECT i.id, i.active, i.tier::text FROM alliance.membership m"
		"  JOIN alliance.institution i ON i.id = m.institution_id"
		" WHERE m.alliance_id = $1 AND m.institution_id = ANY ($2)",
		2, {INT8OID, INT8ARRAYOID}
	},
	[READ_INSTITUTION] = {
		"SELECT 1 FROM alliance.institution WHERE id = $1", 1, {INT8OID}
	},
};

static LocalPlacements here;

/* lookup t, on this node's reference placements when it may */
static Stmt *
registry_read(RegistryRead t)
{
	(void) alliance_local_begin(&here, registry_reads, NUM_REGISTRY_READS);
	return alliance_local_reference(&here, t, &registry_reads[t]);
}

/* when role $3 is lead, the alliance's other lead, if it has one */
static Stmt other_lead = {
	"SELECT i.id, i.name FROM alliance.membership m"
	"  JOIN alliance.institution i ON i.id = m.institution_id"
	" WHERE $3 = 'lead' AND m.alliance_id = $1 AND m.role = 'lead' AND m.institution_id <> $2",
	3, {INT8OID, INT8OID, TEXTOID}
};

static Stmt upsert_membership = {
	"INSERT INTO alliance.membership (alliance_id, institution_id, role) VALUES ($1, $2, $3)"
	" ON CONFLICT (alliance_id, institution_id) DO UPDATE SET role = excluded.role",
	3, {INT8OID, INT8OID, TEXTOID}
};

/*
 * A change of members changes every month of the alliance: those of its data
 * as it is now (a new member's past included), and those that have figures.
 */
static Stmt mark_alliance = {
	"SELECT alliance.touch_alliances(ARRAY[$1]::bigint[])",
	1, {INT8OID}
};

static Stmt update_capacity = {
	"UPDATE alliance.institution SET free_beds = $2, accepting = $3 WHERE id = $1",
	3, {INT8OID, INT4OID, BOOLOID}
};

/*
 * The public part of the endpoint, then its secret, which only the admin
 * reads.  updated_at comes from the proposed row's default (now()): Citus
 * refuses a STABLE function in DO UPDATE SET on a reference table.
 */
static Stmt upsert_endpoint = {
	"INSERT INTO alliance.webhook_endpoint (institution_id, url, format) VALUES ($1, $2, $3)"
	" ON CONFLICT (institution_id) DO UPDATE"
	"   SET url = excluded.url, format = excluded.format, active = true,"
	"       updated_at = excluded.updated_at",
	3, {INT8OID, TEXTOID, TEXTOID}
};

static Stmt upsert_secret = {
	"INSERT INTO alliance.webhook_secret (institution_id, secret) VALUES ($1, $2)"
	" ON CONFLICT (institution_id) DO UPDATE SET secret = excluded.secret",
	2, {INT8OID, TEXTOID}
};

/* a database not yet updated to 1.2 keeps the secret in the table alliance.endpoint */
static Stmt upsert_endpoint_1_0 = {
	"INSERT INTO alliance.endpoint (institution_id, url, format, secret) VALUES ($1, $2, $3, $4)"
	" ON CONFLICT (institution_id) DO UPDATE"
	"   SET url = excluded.url, format = excluded.format, secret = excluded.secret,"
	"       active = true, updated_at = excluded.updated_at",
	4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}
};

/*
 * Mappings name the role by OID; those of roles dropped since go whenever
 * one is changed.  The role is a regrole parameter: on a Citus cluster, where
 * role_map is a reference table and every node has its own OIDs, Citus sends
 * it to each placement by name, and each node stores its own role's OID.
 */
static Stmt insert_role_map = {
	"INSERT INTO alliance.role_map (role_id, institution_id) VALUES ($1, $2)"
	" ON CONFLICT DO NOTHING",
	2, {REGROLEOID, INT8OID}
};

static Stmt delete_role_map = {
	"DELETE FROM alliance.role_map WHERE role_id = $1 AND institution_id = $2",
	2, {REGROLEOID, INT8OID}
};

/* before 1.2, by name */
static Stmt insert_role_map_1_0 = {
	"INSERT INTO alliance.role_map (role_name, institution_id) VALUES ($1, $2)"
	" ON CONFLICT DO NOTHING",
	2, {NAMEOID, INT8OID}
};

static Stmt delete_role_map_1_0 = {
	"DELETE FROM alliance.role_map WHERE role_name = $1 AND institution_id = $2",
	2, {NAMEOID, INT8OID}
};

static Stmt delete_dropped_roles = {
	"DELETE FROM alliance.role_map m"
	" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = m.role_id)",
	0, {InvalidOid}
};

/*
 * Is label one of the enum type alliance.typname's?  Before ALTER EXTENSION
 * alliance UPDATE to 1.2 there is no such type, and the column's CHECK
 * constraint decides.
 */
static bool
enum_has_label(const char *typname, const char *label)
{
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum(typname),
										ObjectIdGetDatum(get_namespace_oid("alliance", false)));

	if (!OidIsValid(typid))
		return true;
	return strlen(label) < NAMEDATALEN &&
		SearchSysCacheExists2(ENUMTYPOIDNAME, ObjectIdGetDatum(typid), CStringGetDatum(label));
}

/* Raise 42704 unless the row with this id exists */
static void
require_row(RegistryRead exists, const char *what, int64 id)
{
	Datum		arg = Int64GetDatum(id);

	alliance_stmt_run(registry_read(exists), &arg, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s " INT64_FORMAT " does not exist", what, id)));
}

void
alliance_registry_require_institution(int64 institution_id)
{
	require_row(READ_INSTITUTION, "institution", institution_id);
}

void
alliance_registry_require_alliance(int64 alliance_id)
{
	require_row(READ_ALLIANCE, "alliance", alliance_id);
}

void
alliance_registry_memberships(int64 alliance_id, Membership *members, int n)
{
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum		values[2];

	for (int j = 0; j < n; j++)
	{
		ids[j] = Int64GetDatum(members[j].institution_id);
		members[j].member = members[j].active = false;
	}
	values[0] = Int64GetDatum(alliance_id);
	values[1] = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	alliance_stmt_run(registry_read(READ_MEMBERSHIPS), values, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		bool		active = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
		char	   *tier = SPI_getvalue(tuple, desc, 3);

		for (int j = 0; j < n; j++)
			if (members[j].institution_id == id)
			{
				members[j].member = true;
				members[j].active = active;
				if (!alliance_tier_parse(tier, strlen(tier), &members[j].tier))
					elog(ERROR, "invalid tier \"%s\" of institution " INT64_FORMAT, tier, id);
			}
	}
	pfree(ids);
}

/* Run a statement returning one bigint */
static int64
run_returning_id(Stmt *stmt, Datum *values, const char *nulls)
{
	Datum		id;

	alliance_stmt_run(stmt, values, nulls, 0);
	if (!alliance_stmt_get(1, &id))
		elog(ERROR, "statement returned no id: %s", stmt->sql);
	return DatumGetInt64(id);
}

/* alliance.create_alliance(name, model, integration) → bigint */
PG_FUNCTION_INFO_V1(create_alliance);
Datum
create_alliance(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	Datum		values[3];
	int64		id;

	alliance_arg_require(fcinfo, 0, "name");
	alliance_arg_require(fcinfo, 1, "model");
	alliance_arg_require(fcinfo, 2, "integration");
	alliance_caller_identify(&caller);
	alliance_caller_require_admin(&caller, "create an alliance");

	values[0] = PG_GETARG_DATUM(0);
	values[1] = CStringGetTextDatum(alliance_arg_enum_label(PG_GETARG_DATUM(1)));
	values[2] = CStringGetTextDatum(alliance_arg_enum_label(PG_GETARG_DATUM(2)));
	alliance_stmt_begin(&scope, true);
	id = run_returning_id(&insert_alliance, values, NULL);
	alliance_stmt_end(&scope);
	PG_RETURN_INT64(id);
}

/*
 * alliance.add_institution(name, tier, region, lat, lon, specialties, beds)
 * → bigint
 */
PG_FUNCTION_INFO_V1(add_institution);
Datum
add_institution(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	Datum		values[7];
	char		nulls[7];
	char		tier[TIER_OUTPUT_SIZE];
	int64		id;

	alliance_arg_require(fcinfo, 0, "name");
	alliance_arg_require(fcinfo, 1, "tier");
	alliance_caller_identify(&caller);
	alliance_caller_require_admin(&caller, "add an institution");

	alliance_tier_format(DatumGetInt16(PG_GETARG_DATUM(1)), false, tier);
	for (int i = 0; i < 7; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	values[1] = CStringGetTextDatum(tier);
	alliance_stmt_begin(&scope, true);
	id = run_returning_id(&insert_institution, values, nulls);
	alliance_stmt_end(&scope);
	PG_RETURN_INT64(id);
}

/* alliance.add_member(alliance_id, institution_id, role) */
PG_FUNCTION_INFO_V1(add_member);
Datum
add_member(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	int64		alliance_id;
	int64		institution_id;
	char	   *role;
	Datum		values[3];

	alliance_arg_require(fcinfo, 0, "alliance_id");
	alliance_arg_require(fcinfo, 1, "institution_id");
	alliance_arg_require(fcinfo, 2, "role");
	alliance_id = PG_GETARG_INT64(0);
	institution_id = PG_GETARG_INT64(1);
	role = alliance_arg_text(fcinfo, 2);
	if (!enum_has_label("membership_role", role))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid membership role \"%s\"", role),
				 errhint("A member's role is lead (牵头单位) or member.")));
	alliance_caller_identify(&caller);
	alliance_caller_require_admin(&caller, "change the members of an alliance");

	alliance_stmt_begin(&scope, true);
	require_row(READ_ALLIANCE, "alliance", alliance_id);
	require_row(READ_INSTITUTION, "institution", institution_id);
	values[0] = Int64GetDatum(alliance_id);
	values[1] = Int64GetDatum(institution_id);
	values[2] = CStringGetTextDatum(role);
	alliance_stmt_run(&other_lead, values, NULL, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("alliance " INT64_FORMAT " already has a lead institution: %s (%s)",
						alliance_id,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("An alliance has at most one lead (牵头单位); make the current one a member first.")));
	alliance_stmt_run(&upsert_membership, values, NULL, 0);
	if (alliance_contracts_installed())	/* before 1.2, the table's triggers */
		alliance_stmt_run(&mark_alliance, values, NULL, 0);
	alliance_stmt_end(&scope);
	PG_RETURN_VOID();
}

/* alliance.set_capacity(institution_id, free_beds, accepting) */
PG_FUNCTION_INFO_V1(set_capacity);
Datum
set_capacity(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	int64		institution_id;
	Datum		values[3];
	char		nulls[3] = "   ";

	alliance_arg_require(fcinfo, 0, "institution_id");
	alliance_arg_require(fcinfo, 2, "accepting");
	institution_id = PG_GETARG_INT64(0);
	alliance_caller_identify(&caller);
	alliance_caller_require_institution(&caller, institution_id, "set the capacity of an institution");

	values[0] = Int64GetDatum(institution_id);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[2] = PG_GETARG_DATUM(2);
	alliance_stmt_begin(&scope, true);
	alliance_stmt_run(&update_capacity, values, nulls, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("institution " INT64_FORMAT " does not exist", institution_id)));
	alliance_stmt_end(&scope);
	PG_RETURN_VOID();
}

/*
 * alliance.set_endpoint(institution_id, url, format) → text: register the
 * institution's webhook receiver and return its new signing secret.
 */
PG_FUNCTION_INFO_V1(set_endpoint);
Datum
set_endpoint(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	int64		institution_id;
	char	   *url;
	char	   *format;
	char	   *secret;
	Datum		values[4];

	alliance_arg_require(fcinfo, 0, "institution_id");
	alliance_arg_require(fcinfo, 1, "url");
	alliance_arg_require(fcinfo, 2, "format");
	institution_id = PG_GETARG_INT64(0);
	url = alliance_arg_text(fcinfo, 1);
	format = alliance_arg_text(fcinfo, 2);
	alliance_caller_identify(&caller);
	alliance_caller_require_institution(&caller, institution_id, "set the webhook endpoint of an institution");
	if (!enum_has_label("endpoint_format", format))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook format \"%s\"", format),
				 errhint("The format is native or fhir.")));
	alliance_webhook_check_url(url);
	secret = alliance_webhook_new_secret();

	values[0] = Int64GetDatum(institution_id);
	values[1] = CStringGetTextDatum(url);
	values[2] = CStringGetTextDatum(format);
	values[3] = CStringGetTextDatum(secret);
	alliance_stmt_begin(&scope, true);
	require_row(READ_INSTITUTION, "institution", institution_id);
	if (OidIsValid(get_relname_relid("webhook_secret", get_namespace_oid("alliance", false))))
	{
		alliance_stmt_run(&upsert_endpoint, values, NULL, 0);
		values[1] = values[3];
		alliance_stmt_run(&upsert_secret, values, NULL, 0);
	}
	else
		alliance_stmt_run(&upsert_endpoint_1_0, values, NULL, 0);
	alliance_stmt_end(&scope);
	PG_RETURN_TEXT_P(cstring_to_text(secret));
}

/*
 * map_role and unmap_role: check, then run stmt on (role's OID,
 * institution).  A role that does not exist is 42704 for map_role; for
 * unmap_role there is nothing of it left to remove (its mappings went with
 * it), so it only clears the mappings of dropped roles.
 */
static void
change_role_map(FunctionCallInfo fcinfo, Stmt *stmt, const char *action, bool role_must_exist)
{
	Caller		caller;
	StmtScope	scope;
	Datum		values[2];
	Oid			role;

	alliance_arg_require(fcinfo, 0, "role");
	alliance_arg_require(fcinfo, 1, "institution_id");
	alliance_caller_identify(&caller);
	alliance_caller_require_admin(&caller, action);
	role = get_role_oid(NameStr(*PG_GETARG_NAME(0)), !role_must_exist);

	values[0] = ObjectIdGetDatum(role);
	values[1] = PG_GETARG_DATUM(1);
	alliance_stmt_begin(&scope, true);
	require_row(READ_INSTITUTION, "institution", PG_GETARG_INT64(1));
	if (!alliance_role_map_by_oid())
	{
		values[0] = PG_GETARG_DATUM(0);
		alliance_stmt_run(stmt == &insert_role_map ? &insert_role_map_1_0 : &delete_role_map_1_0, values, NULL, 0);
	}
	else
	{
		/*
		 * On a cluster each node knows its own roles' OIDs only: a check
		 * against the calling node's pg_roles would remove the other nodes'
		 * mappings, so the mappings of dropped roles stay there (unmap a
		 * role before dropping it).
		 */
		if (!alliance_role_map_distributed())
			alliance_stmt_run(&delete_dropped_roles, NULL, NULL, 0);
		if (OidIsValid(role))
			alliance_stmt_run(stmt, values, NULL, 0);
	}
	alliance_stmt_end(&scope);
}

/* alliance.map_role(role, institution_id): role acts for the institution */
PG_FUNCTION_INFO_V1(map_role);
Datum
map_role(PG_FUNCTION_ARGS)
{
	change_role_map(fcinfo, &insert_role_map, "map a role to an institution", true);
	PG_RETURN_VOID();
}

/* alliance.unmap_role(role, institution_id): undo map_role */
PG_FUNCTION_INFO_V1(unmap_role);
Datum
unmap_role(PG_FUNCTION_ARGS)
{
	change_role_map(fcinfo, &delete_role_map, "unmap a role from an institution", false);
	PG_RETURN_VOID();
}
