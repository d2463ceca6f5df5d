/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  The outbox's SQL API: alliance.redeliver() and alliance.redeliver_dead()
 *	  send dead notifications again.
 *
 * A caller learns about a notification only if it acts for the institution
 * it is addressed to: for any other, the answer is the one for a
 * notification that does not exist.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"

#include "caller.h"
#include "stmt.h"
#include "wake.h"

static Stmt dead_notification = {
	"SELECT o.institution_id, coalesce(e.active, false)"
	"  FROM alliance.outbox o LEFT JOIN alliance.endpoint e ON e.institution_id = o.institution_id"
	" WHERE o.id = $1 AND o.status = 'dead'",
	1, {INT8OID}
};

static Stmt revive = {
	"UPDATE alliance.outbox SET status = 'pending', attempts = 0, next_attempt_at = now(),"
	"       lease_until = NULL, last_error = NULL, last_status = NULL"
	" WHERE status = 'dead' AND (($1 IS NOT NULL AND id = $1) OR ($2 IS NOT NULL AND institution_id = $2))",
	2, {INT8OID, INT8OID}
};

static Stmt endpoint_active = {
	"SELECT active FROM alliance.endpoint WHERE institution_id = $1",
	1, {INT8OID}
};

static void
require_active_endpoint(bool active, int64 institution_id)
{
	if (!active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the webhook endpoint of institution " INT64_FORMAT " is not active", institution_id),
				 errhint("Register it again with alliance.set_endpoint(); a receiver that answered 410 Gone was disabled.")));
}

/*
 * alliance.redeliver(outbox_id): send a dead notification again, from the
 * first try of the schedule.
 */
PG_FUNCTION_INFO_V1(redeliver);
Datum
redeliver(PG_FUNCTION_ARGS)
{
	int64		outbox_id;
	Caller		caller;
	StmtScope	scope;
	Datum		values[2];
	char		nulls[2] = " n";
	bool		isnull;
	bool		found;
	int64		institution_id = 0;

	alliance_arg_require(fcinfo, 0, "outbox_id");
	outbox_id = PG_GETARG_INT64(0);
	alliance_caller_identify(&caller);

	alliance_stmt_begin(&scope, true);
	values[0] = Int64GetDatum(outbox_id);
	alliance_stmt_run(&dead_notification, values, NULL, 1);
	found = SPI_processed > 0;
	if (found)
		institution_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* another institution's notification is none of the caller's business */
	if (!found || !alliance_caller_acts_for(&caller, institution_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no dead notification " INT64_FORMAT, outbox_id),
				 errhint("alliance.redeliver() sends again a notification whose tries ran out; see alliance.outbox where status = 'dead'.")));
	require_active_endpoint(DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
							institution_id);
	alliance_stmt_run(&revive, values, nulls, 0);
	alliance_stmt_end(&scope);
	alliance_wake_at_commit();
	PG_RETURN_VOID();
}

/* alliance.redeliver_dead(institution_id): all of an institution's dead notifications */
PG_FUNCTION_INFO_V1(redeliver_dead);
Datum
redeliver_dead(PG_FUNCTION_ARGS)
{
	int64		institution_id;
	Caller		caller;
	StmtScope	scope;
	Datum		values[2];
	char		nulls[2] = "n ";
	Datum		active;
	uint64		revived;

	alliance_arg_require(fcinfo, 0, "institution_id");
	institution_id = PG_GETARG_INT64(0);
	alliance_caller_identify(&caller);
	alliance_caller_require_institution(&caller, institution_id, "redeliver notifications");

	alliance_stmt_begin(&scope, true);
	values[0] = Int64GetDatum(institution_id);
	alliance_stmt_run(&endpoint_active, values, NULL, 1);
	require_active_endpoint(alliance_stmt_get(1, &active) && DatumGetBool(active), institution_id);
	values[1] = Int64GetDatum(institution_id);
	alliance_stmt_run(&revive, values, nulls, 0);
	revived = SPI_processed;
	alliance_stmt_end(&scope);
	if (revived > 0)
		alliance_wake_at_commit();
	PG_RETURN_INT64((int64) revived);
}
