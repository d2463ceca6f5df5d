/*-------------------------------------------------------------------------
 *
 * contract.c
 *	  Family doctor contracts (家庭医生签约服务, "1+1+1"): signing, renewing
 *	  and ending them, the registered population, the contract in force.
 *
 * A contract binds a resident (patient_ref) in an alliance to a family
 * institution (a village or primary member) and optionally a secondary and a
 * tertiary member: the resident's combination.  It is in force from starts
 * (inclusive) to ends (exclusive).  The functions here check their caller
 * (the family institution's roles, or the admin) and write as the
 * extension's owner, which alone gets past the table's write guard.
 *
 * At most one contract per resident and alliance is in force on any day.
 * The database enforces it (the exclusion constraint contract_one_in_force),
 * so that two sessions signing at once cannot both succeed; the insert runs
 * in a subtransaction so that the constraint's 23P01 can be reported as
 * AL008, naming the contract in force.  Signatures for the same resident
 * first take a transaction-level advisory lock on the key: concurrent inserts
 * checked by an exclusion constraint each wait for the other's transaction,
 * which can deadlock; in line, the second meets the first's committed row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "alliance.h"
#include "bounds.h"
#include "caller.h"
#include "contract.h"
#include "parse.h"
#include "registry.h"
#include "settings.h"
#include "stmt.h"

#define CONTRACT_MAX_MONTHS 120

/* The key-population tags (重点人群); the table's contract_groups_check lists the same */
static const char *const group_tags[] = {
	"elderly", "hypertension", "diabetes", "maternal", "child", "disabled",
	"severe_mental", "tuberculosis"
};

/* The three places of a combination */
typedef enum Place
{
	PLACE_FAMILY,
	PLACE_SECONDARY,
	PLACE_TERTIARY
} Place;

static const char *const place_names[] = {"family", "secondary", "tertiary"};
static const char *const place_tiers[] = {"a village or primary", "a secondary", "a tertiary"};

/* A contract as renew and end read it, under lock */
typedef struct ContractRow
{
	int64		id;
	int64		alliance_id;
	char	   *patient_ref;
	int64		institutions[3];	/* by Place; 0 when none */
	char	   *doctor_ref;
	Datum		groups;
	DateADT		starts;
	DateADT		ends;
	bool		ended_early;
} ContractRow;

static Stmt today_stmt = {
	"SELECT (now() AT TIME ZONE $1)::date",
	1, {TEXTOID}
};

static Stmt insert_contract = {
	"INSERT INTO alliance.contract (alliance_id, patient_ref, family_institution,"
	"       secondary_institution, tertiary_institution, doctor_ref, groups, starts, ends, renews)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	" RETURNING id",
	10, {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTARRAYOID, DATEOID, DATEOID, INT8OID}
};

/*
 * The groups, each once and in order, read before the INSERT: Citus plans no
 * subquery in the VALUES of a distributed table.
 */
static Stmt sorted_groups = {
	"SELECT ARRAY(SELECT DISTINCT g FROM unnest($1::text[]) AS g ORDER BY g)",
	1, {TEXTARRAYOID}
};

/* the advisory lock class of a resident's signatures: 'AL08' */
#define CONTRACT_LOCK_CLASS 0x414C3038

static Stmt resident_lock = {
	"SELECT pg_advisory_xact_lock($1, hashtext($2::text || ':' || $3))",
	3, {INT4OID, INT8OID, TEXTOID}
};

static Stmt overlapping_contract = {
	"SELECT c.id, c.starts, c.ends, c.family_institution FROM alliance.contract c"
	" WHERE c.alliance_id = $1 AND c.patient_ref = $2"
	"   AND daterange(c.starts, c.ends) && daterange($3, $4)"
	" ORDER BY c.starts LIMIT 1",
	4, {INT8OID, TEXTOID, DATEOID, DATEOID}
};

/*
 * A contract is found by its id, then locked by its key (alliance_id, id):
 * on a Citus cluster, where contracts are distributed by alliance, the lock
 * is a single-shard statement (a row lock over all shards is refused).
 */
static Stmt contract_alliance = {
	"SELECT alliance_id FROM alliance.contract WHERE id = $1",
	1, {INT8OID}
};

static Stmt lock_contract = {
	"SELECT alliance_id, patient_ref, family_institution, secondary_institution,"
	"       tertiary_institution, doctor_ref, groups, starts, ends, ended_reason IS NOT NULL"
	"  FROM alliance.contract WHERE alliance_id = $1 AND id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}
};

static Stmt update_end = {
	"UPDATE alliance.contract SET ends = $2, ended_reason = $3 WHERE alliance_id = $4 AND id = $1",
	4, {INT8OID, DATEOID, TEXTOID, INT8OID}
};

/* the months a contract spans need a refresh (alliance.touch_contract) */
static Stmt mark_contract = {
	"SELECT alliance.touch_contract($1, $2)",
	2, {INT8OID, INT8OID}
};

static Stmt in_force = {
	"SELECT c.id, c.family_institution, f.name, c.secondary_institution, c.tertiary_institution"
	"  FROM alliance.contract c JOIN alliance.institution f ON f.id = c.family_institution"
	" WHERE c.alliance_id = $1 AND c.patient_ref = $2"
	"   AND c.starts <= (now() AT TIME ZONE $3)::date AND c.ends > (now() AT TIME ZONE $3)::date",
	3, {INT8OID, TEXTOID, TEXTOID}
};

static Stmt combinations_of = {
	"SELECT c.family_institution, c.secondary_institution, c.tertiary_institution"
	"  FROM alliance.contract c"
	" WHERE c.patient_ref = $2 AND ($1 IS NULL OR c.alliance_id = $1)"
	"   AND c.alliance_id IN (SELECT m.alliance_id FROM alliance.membership m WHERE m.institution_id = $3)"
	"   AND c.starts <= (now() AT TIME ZONE $4)::date AND c.ends > (now() AT TIME ZONE $4)::date",
	4, {INT8OID, TEXTOID, INT8OID, TEXTOID}
};

/* the renewals signed after a contract (not started, since it has not ended) */
static Stmt renewals_of = {
	"WITH RECURSIVE chain AS ("
	"  SELECT id FROM alliance.contract WHERE alliance_id = $2 AND renews = $1"
	"  UNION ALL SELECT c.id FROM alliance.contract c JOIN chain ON c.renews = chain.id"
	"   WHERE c.alliance_id = $2)"
	" SELECT id FROM chain",
	2, {INT8OID, INT8OID}
};

static Stmt end_renewals = {
	"UPDATE alliance.contract SET ends = starts, ended_reason = $2"
	" WHERE alliance_id = $3 AND id = ANY ($1) AND ended_reason IS NULL",
	3, {INT8ARRAYOID, TEXTOID, INT8OID}
};

static Stmt institution_tier = {
	"SELECT tier::text FROM alliance.institution WHERE id = $1",
	1, {INT8OID}
};

/* changes nothing (and marks no month) when the figures are the same */
static Stmt update_population = {
	"UPDATE alliance.institution SET residents = $2, key_residents = $3"
	" WHERE id = $1 AND (residents IS DISTINCT FROM $2 OR key_residents IS DISTINCT FROM $3)",
	3, {INT8OID, INT4OID, INT4OID}
};

/* the registered population has no history: every month of its alliances */
static Stmt mark_alliances_of = {
	"SELECT alliance.touch_alliances(ARRAY(SELECT m.alliance_id FROM alliance.membership m"
	"                                       WHERE m.institution_id = $1))",
	1, {INT8OID}
};

/* Mark the months of contract id of the alliance for the indicator refresh */
static void
touch_contract(int64 alliance_id, int64 id)
{
	Datum		values[2];

	values[0] = Int64GetDatum(alliance_id);
	values[1] = Int64GetDatum(id);
	alliance_stmt_run(&mark_contract, values, NULL, 0);
}

static char *
day_text(DateADT day)
{
	return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(day)));
}

/* Today in alliance.timezone; inside a statement scope */
static DateADT
today(void)
{
	Datum		arg = CStringGetTextDatum(alliance_timezone);
	Datum		value;

	alliance_stmt_run(&today_stmt, &arg, NULL, 1);
	if (!alliance_stmt_get(1, &value))
		elog(ERROR, "could not read today's date");
	return DatumGetDateADT(value);
}

/*
 * The day months calendar months after day, as date + interval does it (the
 * 31st of a month plus one month is the last day of the next).
 */
static DateADT
add_months(DateADT day, int months)
{
	int			year;
	int			month;
	int			mday;
	int			index;

	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	index = year * 12 + (month - 1) + months;
	year = index / 12;
	month = index % 12 + 1;
	mday = Min(mday, day_tab[isleap(year)][month - 1]);
	return date2j(year, month, mday) - POSTGRES_EPOCH_JDATE;
}

/* Argument n, a number of months: 22004 when NULL, 22023 outside 1 to 120 */
static int
arg_months(FunctionCallInfo fcinfo, int n)
{
	int			months;

	alliance_arg_require(fcinfo, n, "months");
	months = PG_GETARG_INT32(n);
	if (months < 1 || months > CONTRACT_MAX_MONTHS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months must be between 1 and %d, not %d", CONTRACT_MAX_MONTHS, months),
				 errdetail("A contract runs for whole months, at most ten years; renew it for more.")));
	return months;
}

/* Argument n, the key-population tags: 22004 when NULL or holding NULL, 22023 for an unknown tag */
static Datum
arg_groups(FunctionCallInfo fcinfo, int n)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;

	alliance_arg_require(fcinfo, n, "groups");
	array = PG_GETARG_ARRAYTYPE_P(n);
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		char	   *tag;
		bool		known = false;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("groups must not contain null")));
		tag = TextDatumGetCString(elems[i]);
		for (int j = 0; j < lengthof(group_tags); j++)
			known |= strcmp(tag, group_tags[j]) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key-population group \"%s\"", tag),
					 errhint("The groups are elderly, hypertension, diabetes, maternal, child, disabled, severe_mental and tuberculosis.")));
	}
	return PointerGetDatum(array);
}

/* Institution argument n, or 0 when NULL */
static int64
arg_institution(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? 0 : PG_GETARG_INT64(n);
}

/*
 * Check a combination against the alliance: the alliance exists (42704),
 * each institution given is a member (AL004) of the tier its place requires
 * (AL004).  institutions is by Place, 0 for none.  Inside a statement scope.
 */
static void
check_combination(int64 alliance_id, const int64 *institutions)
{
	Membership	members[3];

	alliance_registry_require_alliance(alliance_id);
	for (int p = 0; p < 3; p++)
		members[p].institution_id = institutions[p];
	alliance_registry_memberships(alliance_id, members, 3);

	for (int p = 0; p < 3; p++)
	{
		bool		fits;

		if (institutions[p] == 0)
			continue;
		if (!members[p].member)
			ereport(ERROR,
					(errcode(ERRCODE_AL_NOT_A_MEMBER),
					 errmsg("%s institution " INT64_FORMAT " is not a member of alliance " INT64_FORMAT,
							place_names[p], institutions[p], alliance_id),
					 errdetail("The institutions of a contract are members of its alliance."),
					 errhint("See alliance.membership, or add it with alliance.add_member().")));
		if (p == PLACE_FAMILY)
			fits = TIER_LEVEL(members[p].tier) <= TIER_PRIMARY;
		else
			fits = TIER_LEVEL(members[p].tier) == (p == PLACE_SECONDARY ? TIER_SECONDARY : TIER_TERTIARY);
		if (!fits)
		{
			char		tier[TIER_OUTPUT_SIZE];

			alliance_tier_format(members[p].tier, false, tier);
			ereport(ERROR,
					(errcode(ERRCODE_AL_NOT_A_MEMBER),
					 errmsg("%s institution " INT64_FORMAT " is %s, not %s member",
							place_names[p], institutions[p], tier, place_tiers[p]),
					 errdetail("A resident signs with a village or primary member's family doctor team, "
							   "and may add one secondary and one tertiary member.")));
		}
	}
}

/*
 * Insert a contract for [starts, ends) and return its id; AL008 when another
 * contract of the resident in the alliance is in force on one of its days.
 * Inside a statement scope as the extension's owner.
 */
static int64
insert_checked(int64 alliance_id, const char *patient_ref, const int64 *institutions,
			   const char *doctor_ref, Datum groups, DateADT starts, DateADT ends, int64 renews)
{
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Datum		values[10];
	char		nulls[10] = "          ";
	Datum		id = (Datum) 0;
	bool		overlap = false;

	/* in line with the other signatures of this resident (see the file header) */
	values[0] = Int32GetDatum(CONTRACT_LOCK_CLASS);
	values[1] = Int64GetDatum(alliance_id);
	values[2] = CStringGetTextDatum(patient_ref);
	alliance_stmt_run(&resident_lock, values, NULL, 0);

	values[0] = Int64GetDatum(alliance_id);
	values[1] = CStringGetTextDatum(patient_ref);
	for (int p = 0; p < 3; p++)
	{
		values[2 + p] = Int64GetDatum(institutions[p]);
		nulls[2 + p] = institutions[p] ? ' ' : 'n';
	}
	values[5] = doctor_ref ? CStringGetTextDatum(doctor_ref) : (Datum) 0;
	nulls[5] = doctor_ref ? ' ' : 'n';
	alliance_stmt_run(&sorted_groups, &groups, NULL, 1);
	if (!alliance_stmt_get(1, &values[6]))
		elog(ERROR, "contract groups were not sorted");
	values[6] = PointerGetDatum(DatumGetArrayTypePCopy(values[6]));
	values[7] = DateADTGetDatum(starts);
	values[8] = DateADTGetDatum(ends);
	values[9] = Int64GetDatum(renews);
	nulls[9] = renews ? ' ' : 'n';

	/*
	 * A subtransaction, so that a conflict found by the exclusion constraint
	 * -- another session's contract, committed while this one waited on it
	 * -- can be named as AL008 rather than left as 23P01.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(outer);
	PG_TRY();
	{
		alliance_stmt_run(&insert_contract, values, nulls, 0);
		if (!alliance_stmt_get(1, &id))
			elog(ERROR, "contract was not signed");
		touch_contract(alliance_id, DatumGetInt64(id));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode != ERRCODE_EXCLUSION_VIOLATION)
			ReThrowError(edata);
		overlap = true;
	}
	PG_END_TRY();

	if (overlap)
	{
		Datum		found[4];
		bool		isnull;

		values[2] = DateADTGetDatum(starts);
		values[3] = DateADTGetDatum(ends);
		alliance_stmt_run(&overlapping_contract, values, NULL, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_AL_CONTRACT_OVERLAP),
					 errmsg("the resident already has a contract in alliance " INT64_FORMAT " in force between %s and %s",
							alliance_id, day_text(starts), day_text(ends)),
					 errdetail("Another transaction signed it at the same time.")));
		for (int i = 0; i < 4; i++)
			found[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		ereport(ERROR,
				(errcode(ERRCODE_AL_CONTRACT_OVERLAP),
				 errmsg("the resident already has a contract in alliance " INT64_FORMAT " in force between %s and %s",
						alliance_id, day_text(starts), day_text(ends)),
				 errdetail("A resident has at most one contract in force per alliance on any day."),
				 errhint("Contract " INT64_FORMAT " with family institution " INT64_FORMAT " is in force from %s until %s; "
						 "renew it with alliance.renew_contract(), or end it with alliance.end_contract() first.",
						 DatumGetInt64(found[0]), DatumGetInt64(found[3]),
						 day_text(DatumGetDateADT(found[1])), day_text(DatumGetDateADT(found[2])))));
	}
	return DatumGetInt64(id);
}

/*
 * alliance.sign_contract(alliance_id, patient_ref, family_institution,
 *						  secondary_institution, tertiary_institution, starts,
 *						  months, doctor_ref, groups) → bigint
 */
PG_FUNCTION_INFO_V1(alliance_sign_contract);
Datum
alliance_sign_contract(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	char	   *patient_ref;
	char	   *doctor_ref;
	int64		institutions[3];
	int			months;
	Datum		groups;
	DateADT		starts = 0;
	DateADT		ends;
	int64		id;

	alliance_arg_require(fcinfo, 0, "alliance_id");
	patient_ref = alliance_arg_patient_ref(fcinfo, 1);
	alliance_arg_require(fcinfo, 2, "family_institution");
	institutions[PLACE_FAMILY] = PG_GETARG_INT64(2);
	institutions[PLACE_SECONDARY] = arg_institution(fcinfo, 3);
	institutions[PLACE_TERTIARY] = arg_institution(fcinfo, 4);
	if (!PG_ARGISNULL(5))
	{
		starts = PG_GETARG_DATEADT(5);
		alliance_bounds_check_day(starts, "starts");
	}
	months = arg_months(fcinfo, 6);
	doctor_ref = alliance_arg_bounded_text(fcinfo, 7, "doctor_ref", BOUNDS_DOCTOR_REF);
	if (doctor_ref)
		alliance_bounds_check_not_blank(doctor_ref, strlen(doctor_ref), "doctor_ref");
	groups = arg_groups(fcinfo, 8);

	alliance_caller_identify(&caller);
	alliance_caller_require_institution(&caller, institutions[PLACE_FAMILY],
							   psprintf("sign a contract with institution " INT64_FORMAT,
										institutions[PLACE_FAMILY]));

	alliance_stmt_begin(&scope, true);
	if (PG_ARGISNULL(5))
		starts = today();
	ends = add_months(starts, months);
	alliance_bounds_check_day_span(starts, ends - starts, "starts");
	check_combination(PG_GETARG_INT64(0), institutions);
	id = insert_checked(PG_GETARG_INT64(0), patient_ref, institutions, doctor_ref, groups,
						starts, ends, 0);
	alliance_stmt_end(&scope);
	PG_RETURN_INT64(id);
}

/*
 * Read and lock contract id as the owner.  A contract the caller acts for
 * none of the institutions of is as good as missing (42704); one it may see
 * but whose family institution it does not act for is 42501.
 */
static void
read_locked(const Caller *caller, int64 id, ContractRow *row, const char *action)
{
	Datum		args[2];
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	bool		sees = false;
	Datum		value;

	args[1] = Int64GetDatum(id);
	alliance_stmt_run(&contract_alliance, &args[1], NULL, 1);
	if (alliance_stmt_get(1, &args[0]))
		alliance_stmt_run(&lock_contract, args, NULL, 1);
	if (SPI_processed > 0)
	{
		tuple = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		row->id = id;
		row->alliance_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		row->patient_ref = SPI_getvalue(tuple, desc, 2);
		for (int p = 0; p < 3; p++)
		{
			value = SPI_getbinval(tuple, desc, 3 + p, &isnull);
			row->institutions[p] = isnull ? 0 : DatumGetInt64(value);
			sees |= row->institutions[p] != 0 && alliance_caller_acts_for(caller, row->institutions[p]);
		}
		row->doctor_ref = SPI_getvalue(tuple, desc, 6);
		row->groups = SPI_datumTransfer(SPI_getbinval(tuple, desc, 7, &isnull), false, -1);
		row->starts = DatumGetDateADT(SPI_getbinval(tuple, desc, 8, &isnull));
		row->ends = DatumGetDateADT(SPI_getbinval(tuple, desc, 9, &isnull));
		row->ended_early = DatumGetBool(SPI_getbinval(tuple, desc, 10, &isnull));
	}
	if (!sees)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("contract " INT64_FORMAT " not found", id),
				 errhint("It does not exist, or your role acts for none of its institutions.")));
	alliance_caller_require_institution(caller, row->institutions[PLACE_FAMILY],
							   psprintf("%s contract " INT64_FORMAT, action, id));
}

/* alliance.renew_contract(contract_id, months) → bigint */
PG_FUNCTION_INFO_V1(alliance_renew_contract);
Datum
alliance_renew_contract(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	ContractRow row;
	int			months;
	DateADT		ends;
	int64		id;

	alliance_arg_require(fcinfo, 0, "contract_id");
	months = arg_months(fcinfo, 1);

	alliance_caller_identify(&caller);
	alliance_stmt_begin(&scope, true);
	read_locked(&caller, PG_GETARG_INT64(0), &row, "renew");
	if (row.ended_early)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contract " INT64_FORMAT " was ended early and cannot be renewed", row.id),
				 errhint("Sign a new contract with alliance.sign_contract().")));
	ends = add_months(row.ends, months);
	alliance_bounds_check_day_span(row.ends, ends - row.ends, "renewal");
	check_combination(row.alliance_id, row.institutions);
	id = insert_checked(row.alliance_id, row.patient_ref, row.institutions, row.doctor_ref,
						row.groups, row.ends, ends, row.id);
	alliance_stmt_end(&scope);
	PG_RETURN_INT64(id);
}

/*
 * alliance.end_contract(contract_id, reason) → void: the contract ends today
 * (on its first day if it has not started), and the renewals already signed
 * after it end on their first day, never in force.
 */
PG_FUNCTION_INFO_V1(alliance_end_contract);
Datum
alliance_end_contract(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	ContractRow row;
	char	   *reason;
	DateADT		day;
	Datum		values[4];
	Datum	   *renewals;
	int			nrenewals;

	alliance_arg_require(fcinfo, 0, "contract_id");
	alliance_arg_require(fcinfo, 1, "reason");
	reason = alliance_arg_bounded_text(fcinfo, 1, "reason", BOUNDS_REASON);
	alliance_bounds_check_not_blank(reason, strlen(reason), "reason");

	alliance_caller_identify(&caller);
	alliance_stmt_begin(&scope, true);
	read_locked(&caller, PG_GETARG_INT64(0), &row, "end");
	day = today();
	if (row.ended_early)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contract " INT64_FORMAT " has already been ended", row.id)));
	if (row.ends <= day)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contract " INT64_FORMAT " is no longer in force", row.id),
				 errdetail("It ran until %s.", day_text(row.ends))));

	/* the months of the contract and of its renewals, as they were */
	values[0] = Int64GetDatum(row.id);
	values[1] = Int64GetDatum(row.alliance_id);
	alliance_stmt_run(&renewals_of, values, NULL, 0);
	nrenewals = (int) SPI_processed;
	renewals = palloc(sizeof(Datum) * Max(nrenewals, 1));
	for (int i = 0; i < nrenewals; i++)
	{
		bool		isnull;

		renewals[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
	}
	touch_contract(row.alliance_id, row.id);
	for (int i = 0; i < nrenewals; i++)
		touch_contract(row.alliance_id, DatumGetInt64(renewals[i]));

	values[0] = Int64GetDatum(row.id);
	values[1] = DateADTGetDatum(Max(day, row.starts));
	values[2] = CStringGetTextDatum(reason);
	values[3] = Int64GetDatum(row.alliance_id);
	alliance_stmt_run(&update_end, values, NULL, 0);
	/* the renewals already signed will not start either */
	if (nrenewals > 0)
	{
		values[0] = PointerGetDatum(construct_array(renewals, nrenewals, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[1] = values[2];
		values[2] = Int64GetDatum(row.alliance_id);
		alliance_stmt_run(&end_renewals, values, NULL, 0);
	}
	/* and as they are now */
	touch_contract(row.alliance_id, row.id);
	alliance_stmt_end(&scope);
	PG_RETURN_VOID();
}

/* alliance.set_population(institution_id, residents, key_residents) → void */
PG_FUNCTION_INFO_V1(alliance_set_population);
Datum
alliance_set_population(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	int64		institution;
	Datum		values[3];
	char		nulls[3] = "   ";
	Datum		value;
	Tier		tier;
	char	   *tiertext;

	alliance_arg_require(fcinfo, 0, "institution_id");
	institution = PG_GETARG_INT64(0);
	for (int i = 1; i < 3; i++)
	{
		if (!PG_ARGISNULL(i) && PG_GETARG_INT32(i) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not be negative", i == 1 ? "residents" : "key_residents")));
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2) && PG_GETARG_INT32(2) > PG_GETARG_INT32(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_residents (%d) must not exceed residents (%d)",
						PG_GETARG_INT32(2), PG_GETARG_INT32(1))));

	alliance_caller_identify(&caller);
	alliance_caller_require_institution(&caller, institution,
							   psprintf("set the population of institution " INT64_FORMAT, institution));

	alliance_stmt_begin(&scope, true);
	values[0] = Int64GetDatum(institution);
	alliance_stmt_run(&institution_tier, values, NULL, 1);
	if (!alliance_stmt_get(1, &value))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("institution " INT64_FORMAT " does not exist", institution)));
	tiertext = TextDatumGetCString(value);
	if (!alliance_tier_parse(tiertext, strlen(tiertext), &tier))
		elog(ERROR, "invalid tier \"%s\" of institution " INT64_FORMAT, tiertext, institution);
	if (TIER_LEVEL(tier) > TIER_PRIMARY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("institution " INT64_FORMAT " is %s, and only village and primary members have a registered population",
						institution, tiertext),
				 errdetail("Residents sign with the family doctor teams of village and primary members.")));
	alliance_stmt_run(&update_population, values, nulls, 0);
	if (SPI_processed > 0)
		alliance_stmt_run(&mark_alliances_of, values, NULL, 0);
	alliance_stmt_end(&scope);
	PG_RETURN_VOID();
}

/*
 * Does the installed version of the extension have contracts (1.2)?  Before
 * ALTER EXTENSION alliance UPDATE, refer() works as it did.
 */
bool
alliance_contracts_installed(void)
{
	Oid			nsp = get_namespace_oid("alliance", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("contract", nsp));
}

/*
 * The resident's contract in force today (alliance.timezone) in the
 * alliance, if any, as the statement scope's user reads it (refer() reads
 * as the owner: gatekeeping does not depend on what the sender may see).
 * Inside a statement scope; names are allocated in the current context.
 */
bool
alliance_contract_in_force(int64 alliance_id, const char *patient_ref, ContractInForce *contract)
{
	Datum		values[3];
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		value;

	values[0] = Int64GetDatum(alliance_id);
	values[1] = CStringGetTextDatum(patient_ref);
	values[2] = CStringGetTextDatum(alliance_timezone);
	alliance_stmt_run(&in_force, values, NULL, 1);
	if (SPI_processed == 0)
		return false;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	contract->id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	contract->family_institution = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	contract->family_name = SPI_getvalue(tuple, desc, 3);
	value = SPI_getbinval(tuple, desc, 4, &isnull);
	contract->secondary_institution = isnull ? 0 : DatumGetInt64(value);
	value = SPI_getbinval(tuple, desc, 5, &isnull);
	contract->tertiary_institution = isnull ? 0 : DatumGetInt64(value);
	return true;
}

/* The combination of a contract in force, allocated in the current context */
void
alliance_contract_combination(const ContractInForce *contract, Combination *comb)
{
	comb->institutions = palloc(3 * sizeof(int64));
	comb->n = 0;
	comb->institutions[comb->n++] = contract->family_institution;
	if (contract->secondary_institution)
		comb->institutions[comb->n++] = contract->secondary_institution;
	if (contract->tertiary_institution)
		comb->institutions[comb->n++] = contract->tertiary_institution;
}

/*
 * For alliance.route(…, patient_ref): the institutions of the resident's
 * contracts in force today in the alliance (in any alliance of the sender
 * when alliance_id is 0), as the caller's row-level security shows them --
 * a role that may not see a contract does not learn of it from the ranking.
 * Allocated in cxt.
 */
void
alliance_contract_combinations_of(int64 alliance_id, int64 from, const char *patient_ref,
						 MemoryContext cxt, Combination *comb)
{
	StmtScope	scope;
	Datum		values[4];
	char		nulls[4] = "    ";

	comb->n = 0;
	comb->institutions = NULL;
	alliance_stmt_begin(&scope, false);
	values[0] = Int64GetDatum(alliance_id);
	nulls[0] = alliance_id ? ' ' : 'n';
	values[1] = CStringGetTextDatum(patient_ref);
	values[2] = Int64GetDatum(from);
	values[3] = CStringGetTextDatum(alliance_timezone);
	alliance_stmt_run(&combinations_of, values, nulls, 0);
	comb->institutions = MemoryContextAlloc(cxt, Max(SPI_processed, 1) * 3 * sizeof(int64));
	for (uint64 i = 0; i < SPI_processed; i++)
		for (int col = 1; col <= 3; col++)
		{
			bool		isnull;
			Datum		value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, col, &isnull);

			if (!isnull)
				comb->institutions[comb->n++] = DatumGetInt64(value);
		}
	alliance_stmt_end(&scope);
}

bool
alliance_combination_has(const Combination *comb, int64 institution)
{
	if (comb == NULL)
		return false;
	for (int i = 0; i < comb->n; i++)
		if (comb->institutions[i] == institution)
			return true;
	return false;
}
