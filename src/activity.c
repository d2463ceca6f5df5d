/*-------------------------------------------------------------------------
 *
 * activity.c
 *	  The activity the indicators count: visits, teleconsultations, outreach
 *	  and result sharing, recorded by a role acting for the institution.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"

#include "bounds.h"
#include "caller.h"
#include "contract.h"
#include "parse.h"
#include "registry.h"
#include "stmt.h"

static Stmt insert_visit = {
	"INSERT INTO alliance.visit (institution_id, patient_ref, at, diagnosis, first_visit)"
	" VALUES ($1, $2, $3, $4::alliance.icd10, $5) RETURNING id",
	5, {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, BOOLOID}
};

static Stmt insert_teleconsult = {
	"INSERT INTO alliance.teleconsult (requesting_institution, consulting_institution, at, kind)"
	" VALUES ($1, $2, $3, $4) RETURNING id",
	4, {INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID}
};

static Stmt insert_outreach = {
	"INSERT INTO alliance.outreach (expert_institution, host_institution, start_date, days)"
	" VALUES ($1, $2, $3, $4) RETURNING id",
	4, {INT8OID, INT8OID, DATEOID, INT4OID}
};

static Stmt insert_result_sharing = {
	"INSERT INTO alliance.result_sharing (producing_institution, consuming_institution, at, recognized)"
	" VALUES ($1, $2, $3, $4) RETURNING id",
	4, {INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID}
};

/*
 * The months the indicators must refresh: the activity's month at the
 * institution it counts for ($1), or an outreach stay's months at its host.
 */
static Stmt mark_activity = {
	"SELECT alliance.touch_activity($1, $2)",
	2, {INT8OID, TIMESTAMPTZOID}
};

static Stmt mark_outreach = {
	"SELECT alliance.touch_outreach($1, $2, $3)",
	3, {INT8OID, DATEOID, INT4OID}
};

/* Raise 22023 when two institutions that must differ are the same */
static void
require_two(int64 a, int64 b, const char *what)
{
	if (a == b)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs two different institutions", what)));
}

/*
 * Insert an activity row as the extension's owner and mark its months for the
 * indicator refresh at the institution values[counted] (the time, or the
 * outreach's start and days, follow at 2 and 3); returns its id.  Its first
 * ninstitutions values are institutions, which must exist (42704).  Before
 * ALTER EXTENSION UPDATE to 1.2 the tables' triggers mark the months.
 */
static int64
record(Stmt *stmt, Datum *values, const char *nulls, int ninstitutions, int counted)
{
	StmtScope	scope;
	Datum		id;
	Datum		mark[3];

	alliance_stmt_begin(&scope, true);
	for (int i = 0; i < ninstitutions; i++)
		alliance_registry_require_institution(DatumGetInt64(values[i]));
	alliance_stmt_run(stmt, values, nulls, 0);
	if (!alliance_stmt_get(1, &id))
		elog(ERROR, "activity was not recorded");
	if (alliance_contracts_installed())
	{
		mark[0] = values[counted];
		mark[1] = values[2];
		mark[2] = stmt == &insert_outreach ? values[3] : (Datum) 0;
		alliance_stmt_run(stmt == &insert_outreach ? &mark_outreach : &mark_activity, mark, NULL, 0);
	}
	alliance_stmt_end(&scope);
	return DatumGetInt64(id);
}

/*
 * alliance.record_visit(institution_id, patient_ref, at, diagnosis,
 *						 first_visit) → bigint
 */
PG_FUNCTION_INFO_V1(record_visit);
Datum
record_visit(PG_FUNCTION_ARGS)
{
	Caller		caller;
	Datum		values[5];
	char		nulls[5] = "     ";
	char		code[ICD10_OUTPUT_SIZE];

	alliance_arg_require(fcinfo, 0, "institution_id");
	(void) alliance_arg_instant(fcinfo, 2, "at");
	alliance_arg_require(fcinfo, 4, "first_visit");
	values[1] = CStringGetTextDatum(alliance_arg_patient_ref(fcinfo, 1));
	alliance_caller_identify(&caller);
	alliance_caller_require_institution(&caller, PG_GETARG_INT64(0), "record a visit");

	values[0] = PG_GETARG_DATUM(0);
	values[2] = PG_GETARG_DATUM(2);
	if (PG_ARGISNULL(3))
		nulls[3] = 'n';
	else
	{
		alliance_icd10_format(DatumGetInt64(PG_GETARG_DATUM(3)), code);
		values[3] = CStringGetTextDatum(code);
	}
	values[4] = PG_GETARG_DATUM(4);
	PG_RETURN_INT64(record(&insert_visit, values, nulls, 1, 0));
}

/*
 * The activity between two institutions: four arguments, none NULL, the first
 * two different institutions; the caller must act for the one at position
 * side, or for either when side is -1; the months count for the one at
 * counted.
 */
static Datum
record_between(FunctionCallInfo fcinfo, Stmt *stmt, const char *const names[4],
			   const char *what, int side, const char *action, int counted)
{
	Caller		caller;
	Datum		values[4];

	for (int i = 0; i < 4; i++)
		alliance_arg_require(fcinfo, i, names[i]);
	require_two(PG_GETARG_INT64(0), PG_GETARG_INT64(1), what);
	alliance_caller_identify(&caller);
	if (side >= 0)
		alliance_caller_require_institution(&caller, PG_GETARG_INT64(side), action);
	else if (!alliance_caller_acts_for(&caller, PG_GETARG_INT64(0)))
		alliance_caller_require_institution(&caller, PG_GETARG_INT64(1), action);

	for (int i = 0; i < 4; i++)
		values[i] = PG_GETARG_DATUM(i);
	PG_RETURN_INT64(record(stmt, values, NULL, 2, counted));
}

/*
 * alliance.record_teleconsult(requesting_institution, consulting_institution,
 *							   at, kind) → bigint: the requesting side records it.
 */
PG_FUNCTION_INFO_V1(record_teleconsult);
Datum
record_teleconsult(PG_FUNCTION_ARGS)
{
	static const char *const names[4] = {"requesting_institution", "consulting_institution", "at", "kind"};

	if (!PG_ARGISNULL(2))
		(void) alliance_arg_instant(fcinfo, 2, "at");
	if (!PG_ARGISNULL(3))
	{
		text	   *kind = PG_GETARG_TEXT_PP(3);

		if (VARSIZE_ANY_EXHDR(kind) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kind must not be empty"),
					 errhint("Say what was consulted on: consult, imaging, ecg, teaching, ...")));
		alliance_bounds_check_text(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind), BOUNDS_KIND, "kind");
		alliance_bounds_check_not_blank(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind), "kind");
	}
	return record_between(fcinfo, &insert_teleconsult, names, "a teleconsultation", 0,
						  "record a teleconsultation", 0);
}

/*
 * alliance.record_outreach(expert_institution, host_institution, start_date,
 *							days) → bigint: either side may record it.
 */
PG_FUNCTION_INFO_V1(record_outreach);
Datum
record_outreach(PG_FUNCTION_ARGS)
{
	static const char *const names[4] = {"expert_institution", "host_institution", "start_date", "days"};

	if (!PG_ARGISNULL(2))
		alliance_bounds_check_day_span(PG_GETARG_DATEADT(2), PG_ARGISNULL(3) ? 1 : PG_GETARG_INT32(3),
							  "start_date");
	return record_between(fcinfo, &insert_outreach, names, "outreach", -1, "record outreach", 1);
}

/*
 * alliance.record_result_sharing(producing_institution, consuming_institution,
 *								  at, recognized) → bigint: the consuming side
 * says whether it recognized the result.
 */
PG_FUNCTION_INFO_V1(record_result_sharing);
Datum
record_result_sharing(PG_FUNCTION_ARGS)
{
	static const char *const names[4] = {"producing_institution", "consuming_institution", "at", "recognized"};

	if (!PG_ARGISNULL(2))
		(void) alliance_arg_instant(fcinfo, 2, "at");
	return record_between(fcinfo, &insert_result_sharing, names, "result sharing", 1,
						  "record result sharing", 1);
}
