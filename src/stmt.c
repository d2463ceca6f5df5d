/*-------------------------------------------------------------------------
 *
 * stmt.c
 *	  How the extension runs its own SQL statements.
 *
 * Every function that touches the extension's tables runs its statements
 * between alliance_stmt_begin and alliance_stmt_end: connected to SPI, with
 * search_path pinned to pg_catalog and pg_temp so that a caller's search_path
 * cannot put its own functions or operators in place of the built-in ones,
 * and, when the function has decided the caller may do what it asks, as the
 * extension's owner, who alone may write the tables.  This is what SECURITY
 * DEFINER would do, except that the function still knows who its caller is.
 *
 * An error unwinds all of it: transaction and subtransaction abort restore
 * the user and the settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "bounds.h"
#include "stmt.h"

/* The owner of the alliance extension, who owns its tables */
Oid
alliance_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("alliance"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"alliance\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION alliance.")));
	return owner;
}

/*
 * Connect to SPI and pin search_path; with as_owner, also become the
 * extension's owner.  The caller must have checked that its caller may do
 * what the statements will do.
 */
void
alliance_stmt_begin(StmtScope *scope, bool as_owner)
{
	Oid			owner = as_owner ? alliance_extension_owner() : InvalidOid;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	scope->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);

	GetUserIdAndSecContext(&scope->saved_userid, &scope->saved_sec_context);
	if (as_owner)
		SetUserIdAndSecContext(owner, scope->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* Undo alliance_stmt_begin */
void
alliance_stmt_end(StmtScope *scope)
{
	SetUserIdAndSecContext(scope->saved_userid, scope->saved_sec_context);
	AtEOXact_GUC(true, scope->guc_nestlevel);
	SPI_finish();
}

/*
 * Run a statement (preparing it on first use) and return its SPI result
 * code; an unexpected failure is an error.  count limits the rows (0: all).
 */
int
alliance_stmt_run(Stmt *stmt, Datum *values, const char *nulls, long count)
{
	int			rc;

	if (stmt->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(stmt->sql, stmt->nargs, stmt->argtypes);

		if (plan == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", stmt->sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep plan of \"%s\"", stmt->sql);
		stmt->plan = plan;
	}

	rc = SPI_execute_plan(stmt->plan, values, nulls, false, count);
	if (rc < 0)
		elog(ERROR, "could not run \"%s\": %s", stmt->sql, SPI_result_code_string(rc));
	return rc;
}

bool
alliance_stmt_get(int col, Datum *value)
{
	bool		isnull = true;

	if (SPI_processed > 0)
		*value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	return !isnull;
}

/* Raise 22004 naming argument n if it is NULL */
void
alliance_arg_require(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/* The label of an enum value */
char *
alliance_arg_enum_label(Datum value)
{
	return DatumGetCString(DirectFunctionCall1(enum_out, value));
}

/*
 * Argument n, a patient's reference, as a C string: 22004 when NULL, 22001
 * when longer than BOUNDS_PATIENT_REF characters, 22023 when empty or blank.
 */
char *
alliance_arg_patient_ref(FunctionCallInfo fcinfo, int n)
{
	text	   *ref;

	alliance_arg_require(fcinfo, n, "patient_ref");
	ref = PG_GETARG_TEXT_PP(n);
	alliance_bounds_check_text(VARDATA_ANY(ref), VARSIZE_ANY_EXHDR(ref), BOUNDS_PATIENT_REF, "patient_ref");
	alliance_bounds_check_not_blank(VARDATA_ANY(ref), VARSIZE_ANY_EXHDR(ref), "patient_ref");
	return text_to_cstring(ref);
}

/*
 * Text argument n as a C string, or NULL; 22001 when longer than limit
 * characters.
 */
char *
alliance_arg_bounded_text(FunctionCallInfo fcinfo, int n, const char *name, int limit)
{
	text	   *value;

	if (PG_ARGISNULL(n))
		return NULL;
	value = PG_GETARG_TEXT_PP(n);
	alliance_bounds_check_text(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), limit, name);
	return text_to_cstring(value);
}

/* Argument n, an instant: 22004 when NULL, 22008 outside the window */
TimestampTz
alliance_arg_instant(FunctionCallInfo fcinfo, int n, const char *name)
{
	alliance_arg_require(fcinfo, n, name);
	alliance_bounds_check_instant(PG_GETARG_TIMESTAMPTZ(n), name);
	return PG_GETARG_TIMESTAMPTZ(n);
}

/* Text argument n as a C string, or NULL */
char *
alliance_arg_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}
