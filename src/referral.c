/*-------------------------------------------------------------------------
 *
 * referral.c
 *	  The referral state machine: the transition table, the one gate every
 *	  status change passes, referral creation, the green channel, the return.
 *
 * With family doctor contracts, a referral records whether the patient was
 * signed, and alliance.contract_policy = gatekeep refuses an upward referral
 * not from the family institution.
 *
 * Every change of a referral's status -- alliance.transition, its SQL
 * shorthands, schedule(), complete(), the green channel, the worker's expiry
 * -- goes through gate(): lock the row, check the transition against the
 * table below and the caller's right to make it, update status, version and
 * timestamps, append the event and queue one notification per involved
 * institution with an active endpoint.  It all happens in the caller's
 * transaction, so an error leaves nothing behind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "alliance.h"
#include "bounds.h"
#include "caller.h"
#include "contract.h"
#include "parse.h"
#include "placements.h"
#include "referral.h"
#include "registry.h"
#include "routing.h"
#include "settings.h"
#include "stmt.h"
#include "wake.h"

/* the label of a status */
#define status_name(status)	alliance_label(ENUM_REFERRAL_STATUS, (status))

/* Who may make a transition */
#define BY_SENDER	0x01		/* the sending institution */
#define BY_RECEIVER 0x02		/* the receiving institution */
#define BY_WORKER	0x04		/* the background worker (a superuser) */

/*
 * The transition table: transitions[from][to] says who may move a referral
 * from one status to the other; 0 means nobody.  Superusers and the admin
 * role may make any transition the table allows.
 */
static const uint8 transitions[RS_COUNT][RS_COUNT] = {
	[RS_DRAFT] = {
		[RS_REQUESTED] = BY_SENDER,
		[RS_CANCELLED] = BY_SENDER,
	},
	[RS_REQUESTED] = {
		[RS_ACCEPTED] = BY_RECEIVER,
		[RS_REJECTED] = BY_RECEIVER,
		[RS_CANCELLED] = BY_SENDER,
		[RS_EXPIRED] = BY_WORKER,
	},
	[RS_ACCEPTED] = {
		[RS_SCHEDULED] = BY_RECEIVER,
		[RS_ARRIVED] = BY_RECEIVER,
		[RS_CANCELLED] = BY_SENDER,
	},
	[RS_SCHEDULED] = {
		[RS_ARRIVED] = BY_RECEIVER,
		[RS_CANCELLED] = BY_SENDER,
		[RS_NO_SHOW] = BY_WORKER,
	},
	[RS_ARRIVED] = {
		[RS_COMPLETED] = BY_RECEIVER,
	},
};

/* A referral as the gate reads it, under lock */
typedef struct ReferralRow
{
	int64		id;
	int64		alliance_id;
	int64		from_institution;
	int64		to_institution;
	ReferralStatus status;
	int32		version;
	char	   *patient_ref;
	char	   *diagnosis;
	char	   *acuity;
	char	   *urgency;
	char	   *direction;
	int64		parent_id;		/* the referral a return referral closes, or 0 */
	TimestampTz created_at;
} ReferralRow;

/* What an event is about: its referral, as the event row and the marks name it */
typedef struct EventSubject
{
	int64		referral_id;
	int64		alliance_id;
	int64		from_institution;
	int64		to_institution;
	int64		parent_id;
	TimestampTz created_at;
} EventSubject;

/*
 * The gate's statements.  On a Citus node they also run on the placements
 * this node holds (see route_of): gate_stmts[t] is the statement on the
 * extension's tables, on one server and through Citus.
 */
typedef enum GateStmt
{
	GATE_LOCK,
	GATE_UPDATE,
	GATE_EVENT,
	GATE_MARK,
	GATE_ENDPOINTS,
	GATE_OUTBOX,
	GATE_OUTBOX_2,
	GATE_ACCEPTING,
	GATE_DIRECTION,
	GATE_NEXT_ID,
	GATE_REFERRAL,
	GATE_REFERRAL_WITH_ID,
	GATE_ANNOUNCE,
	NUM_GATE_STMTS
} GateStmt;

/*
 * The SLA deadline of a referral that becomes requested is a value, $n
 * (sla_due() gives it), NULL when the statement passes none: not now() in the
 * statement, which Citus refuses inside CASE or COALESCE on a distributed
 * table.
 */
#define DUE_AT(param)	param

/*
 * A new referral, its direction ($13) from its sender's and receiver's tiers
 * (referral_direction), as VALUES: Citus routes it to the new id's shard.
 * On a Citus node that holds placements, the id is drawn first ($14), so
 * that the gate knows the shard before it writes.  Before ALTER EXTENSION
 * alliance UPDATE to 1.2, a referral has no signed column.
 */
#define INSERT_REFERRAL(id_column, id_value, signed_column, signed_value) \
	"INSERT INTO alliance.referral (" id_column "alliance_id, patient_ref, from_institution, to_institution," \
	"       direction, diagnosis, acuity, urgency, status, parent_id, reason, due_at" signed_column ")" \
	" VALUES (" id_value "$1, $2, $3, $4, $5::alliance.direction, $6::alliance.icd10," \
	"        $7::alliance.acuity, $8::alliance.urgency, $9::alliance.referral_status, $10, $11," \
	"        " DUE_AT("$12") signed_value ")" \
	" RETURNING id"

/*
 * The id of a new row of table, from its sequence: what the column's default
 * gives, which a Citus shard does not have (Citus keeps the defaults that
 * draw from a sequence on the distributed table alone)
 */
#define NEXT_ID(table) \
	"pg_catalog.nextval('alliance." table "_id_seq'::pg_catalog.regclass)"

#define UPDATE_REFERRAL(returning) \
	"UPDATE alliance.referral AS r" \
	"   SET status = $2::alliance.referral_status," \
	"       version = r.version + 1," \
	"       updated_at = now()," \
	"       due_at = coalesce($3, r.due_at)," \
	"       scheduled_at = coalesce($4, r.scheduled_at)" \
	" WHERE r.id = $1" \
	" RETURNING " returning

#define REFERRAL_ARGTYPES \
	INT8OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, \
	TEXTOID, TIMESTAMPTZOID

static Stmt gate_stmts[NUM_GATE_STMTS] = {
	[GATE_LOCK] = {
		"SELECT alliance_id, from_institution, to_institution, status::text, version,"
		"       patient_ref, diagnosis::text, acuity::text, urgency::text, direction::text,"
		"       coalesce(parent_id, 0), created_at"
		"  FROM alliance.referral WHERE id = $1 FOR UPDATE",
		1, {INT8OID}
	},

	/*
	 * The referral after the change, as an alliance.referral (on a shard,
	 * whose row type is the shard's own, made from its columns)
	 */
	[GATE_UPDATE] = {
		UPDATE_REFERRAL("ROW(r.*)::alliance.referral"),
		4, {INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},

	/*
	 * The referral's deadlines come as values (the gate has them), not from
	 * a SELECT on alliance.referral: on a Citus cluster an INSERT ... SELECT
	 * with parameters is planned for every shard, VALUES for the one of $1.
	 */
	[GATE_EVENT] = {
		"INSERT INTO alliance.referral_event (id, referral_id, from_status, to_status, actor, note, version,"
		"                                     due_at, scheduled_at, from_institution, to_institution)"
		" VALUES (" NEXT_ID("referral_event") ", $1, $2::alliance.referral_status, $3::alliance.referral_status,"
		"         $4, $5, $6, $7, $8, $9, $10)"
		" RETURNING id",
		10, {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
			INT8OID, INT8OID}
	},

	/*
	 * The referral's month needs a refresh of the indicators (inside the
	 * window), and, for a return referral, its parent's month, which the
	 * refresh finds by the parent's id (on a Citus cluster the parent is on
	 * another shard, and the gate reads none).  indicator_dirty is local to
	 * each node.
	 */
	[GATE_MARK] = {
		"INSERT INTO alliance.indicator_dirty (alliance_id, month, parent_id)"
		" SELECT $1, alliance.month_of($2), $3 FROM alliance.time_window() AS w"
		"  WHERE $2 >= w.first AND $2 < w.\"end\""
		"     OR $3 IS NOT NULL",
		3, {INT8OID, TIMESTAMPTZOID, INT8OID}
	},

	/*
	 * The notifications of an event: one per active endpoint of the two
	 * institutions, inserted as VALUES carrying the referral's id, which
	 * Citus routes to the referral's shard (an INSERT ... SELECT from the
	 * registry is planned through the coordinator, and committed with
	 * two-phase commit).
	 */
	[GATE_ENDPOINTS] = {
		"SELECT institution_id FROM alliance.webhook_endpoint"
		" WHERE institution_id IN ($1, $2) AND active ORDER BY institution_id",
		2, {INT8OID, INT8OID}
	},
	[GATE_OUTBOX] = {
		"INSERT INTO alliance.outbox (id, event_id, referral_id, institution_id)"
		" VALUES (" NEXT_ID("outbox") ", $1, $2, $3)",
		3, {INT8OID, INT8OID, INT8OID}
	},
	[GATE_OUTBOX_2] = {
		"INSERT INTO alliance.outbox (id, event_id, referral_id, institution_id)"
		" VALUES (" NEXT_ID("outbox") ", $1, $2, $3), (" NEXT_ID("outbox") ", $1, $2, $4)",
		4, {INT8OID, INT8OID, INT8OID, INT8OID}
	},
	[GATE_ACCEPTING] = {
		"SELECT accepting FROM alliance.institution WHERE id = $1",
		1, {INT8OID}
	},
	[GATE_DIRECTION] = {
		"SELECT alliance.direction(f.tier, t.tier)::text"
		"   FROM alliance.institution f, alliance.institution t"
		"  WHERE f.id = $1 AND t.id = $2",
		2, {INT8OID, INT8OID}
	},
	[GATE_NEXT_ID] = {
		"SELECT " NEXT_ID("referral"),
		0, {InvalidOid}
	},
	[GATE_REFERRAL] = {
		INSERT_REFERRAL("", "", ", signed", ", $13"),
		13, {REFERRAL_ARGTYPES, BOOLOID}
	},
	[GATE_REFERRAL_WITH_ID] = {
		INSERT_REFERRAL("id, ", "$14, ", ", signed", ", $13"),
		14, {REFERRAL_ARGTYPES, BOOLOID, INT8OID}
	},

	/*
	 * A change Citus makes, and so knows of, to a referral the gate wrote
	 * directly (see route_through_citus)
	 */
	[GATE_ANNOUNCE] = {
		"UPDATE alliance.referral SET version = version WHERE id = $1",
		1, {INT8OID}
	},
};

/* before ALTER EXTENSION alliance UPDATE to 1.2: events without their institutions */
static Stmt insert_event_1_1 = {
	"INSERT INTO alliance.referral_event (referral_id, from_status, to_status, actor, note, version,"
	"                                     due_at, scheduled_at)"
	" VALUES ($1, $2::alliance.referral_status, $3::alliance.referral_status, $4, $5, $6, $7, $8)"
	" RETURNING id",
	8, {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

static Stmt insert_referral_1_1 = {
	INSERT_REFERRAL("", "", "", ""),
	12, {REFERRAL_ARGTYPES}
};

/* on one server and through Citus */
static Stmt update_referral = {
	UPDATE_REFERRAL("r"),
	4, {INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

/* the active endpoints through the view, which 1.1 has as a table */
static Stmt active_endpoints = {
	"SELECT institution_id FROM alliance.endpoint"
	" WHERE institution_id IN ($1, $2) AND active ORDER BY institution_id",
	2, {INT8OID, INT8OID}
};

/*
 * Routes.  On a Citus cluster, Citus plans each of the gate's statements
 * as a distributed query: on the node holding the referral it deparses the
 * statement for the shard, then parses and plans that text again at every
 * call (its local execution), and the reference tables' reads the same way.
 * That is most of what a transition costs there.  So on a node holding the
 * referral's shards (where Citus delegates the call), the gate runs its
 * statements on those shards by name, and reads the reference tables'
 * local placements, with plans kept as on one server: the statements of
 * here, made by src/placements.c for each shard group of this node.
 *
 * Only what Citus would do locally is done so, and Citus must still see
 * the transaction's work: a referral is written directly only outside a
 * transaction block (where an earlier statement could have written through
 * a connection Citus keeps to this node), under Citus's shard metadata lock
 * (a shard move waits for the transaction), never after the transaction
 * wrote through Citus (which would commit its remote part in one phase),
 * and before it writes through Citus after a direct write, it changes that
 * referral through Citus once, so that Citus commits with two-phase commit.
 * alliance.direct_shard_access = off sends everything through Citus.
 */
#define ROUTE_CITUS			(-1)
#define MAX_ID_DRAWS		64

static LocalPlacements here;

/* what this transaction wrote, and how (route_xact resets it) */
static LocalTransactionId route_lxid = InvalidLocalTransactionId;
static int64 direct_referral = 0;	/* a referral written directly, or 0 */
static bool citus_written = false;	/* a referral written through Citus */

/*
 * Where this transaction is; at the start of every call of the gate and of
 * create_referral, before their statements.  Returns whether it may write
 * directly.
 */
static bool
route_xact(void)
{
	bool		usable = alliance_local_begin(&here, gate_stmts, NUM_GATE_STMTS);

	if (route_lxid != MyProc->lxid)
	{
		route_lxid = MyProc->lxid;
		direct_referral = 0;
		citus_written = false;
	}
	return usable && !citus_written;
}

/*
 * The route of a write of referral id: the group of this node's placements
 * holding it, locked, or ROUTE_CITUS.
 */
static int
route_of(int64 id)
{
	int			route;

	if (!route_xact())
		return ROUTE_CITUS;
	route = alliance_placements_lock_shard_of(&here.placements, id);
	if (route != ROUTE_CITUS && direct_referral == 0)
		direct_referral = id;
	return route;
}

/* Before a write through Citus: Citus learns of the direct ones first */
static void
route_through_citus(void)
{
	if (direct_referral != 0 && !citus_written)
	{
		Datum		arg = Int64GetDatum(direct_referral);

		alliance_stmt_run(&gate_stmts[GATE_ANNOUNCE], &arg, NULL, 0);
	}
	citus_written = true;
}

/* Statement t of the gate on route */
static Stmt *
gate_stmt(GateStmt t, int route)
{
	if (route != ROUTE_CITUS)
		return alliance_placements_stmt(&here.placements, route, t);
	switch (t)
	{
		case GATE_ENDPOINTS:
			return alliance_local_reference(&here, t, &active_endpoints);
		case GATE_ACCEPTING:
		case GATE_DIRECTION:
			/* reads of reference tables: their local placements */
			return alliance_local_reference(&here, t, &gate_stmts[t]);
		case GATE_UPDATE:
			return &update_referral;
		default:
			return &gate_stmts[t];
	}
}

static ReferralStatus
status_from_name(const char *name)
{
	return (ReferralStatus) alliance_label_position(ENUM_REFERRAL_STATUS, name);
}

/* The status an alliance.referral_status datum names */
static ReferralStatus
status_from_datum(Datum value)
{
	return status_from_name(DatumGetCString(DirectFunctionCall1(enum_out, value)));
}

/* Is this alliance.urgency label an emergency's? */
static bool
is_emergency(const char *urgency)
{
	return alliance_label_position(ENUM_URGENCY, urgency) == URGENCY_EMERGENCY;
}

/*
 * The SLA clock: a referral that becomes requested is due after
 * alliance.sla_<urgency>.  Sets *value to when it is due (now(), the
 * transaction's start, plus the SLA), or *null to 'n' when the referral goes to any other status (its due time
 * stays as it was).
 */
static void
sla_due(ReferralStatus to, const char *urgency, Datum *value, char *null)
{
	int			seconds;

	if (to != RS_REQUESTED)
	{
		*null = 'n';
		return;
	}
	switch ((Urgency) alliance_label_position(ENUM_URGENCY, urgency))
	{
		case URGENCY_EMERGENCY:
			seconds = alliance_sla_emergency;
			break;
		case URGENCY_URGENT:
			seconds = alliance_sla_urgent;
			break;
		default:
			seconds = alliance_sla_routine;
			break;
	}
	*value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp() +
								 (TimestampTz) seconds * USECS_PER_SEC);
	*null = ' ';
}

/*
 * The emergency green channel's rule: a referral that becomes requested as an
 * emergency is accepted at once (green_channel()).
 */
static bool
green_channel_applies(ReferralStatus to, const char *urgency)
{
	return to == RS_REQUESTED && is_emergency(urgency);
}

static void referral_not_found(int64 id) pg_attribute_noreturn();

static void
referral_not_found(int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_AL_REFERRAL_NOT_FOUND),
			 errmsg("referral " INT64_FORMAT " not found", id),
			 errhint("It does not exist, or your role acts for neither its sending nor its receiving institution.")));
}

/* "a, b or c": the statuses a referral may go to from a status */
static char *
next_statuses(ReferralStatus from)
{
	StringInfoData buf;
	int			n = 0;
	int			total = 0;

	for (int to = 0; to < RS_COUNT; to++)
		total += transitions[from][to] != 0;
	initStringInfo(&buf);
	for (int to = 0; to < RS_COUNT; to++)
	{
		if (transitions[from][to] == 0)
			continue;
		if (n > 0)
			appendStringInfoString(&buf, ++n == total ? " or " : ", ");
		else
			n++;
		appendStringInfoString(&buf, status_name(to));
	}
	return buf.data;
}

/* "the sending institution (3)", or both sides, or the worker */
static char *
who_may(uint8 allowed, const ReferralRow *row)
{
	if ((allowed & BY_SENDER) && (allowed & BY_RECEIVER))
		return psprintf("the sending (" INT64_FORMAT ") or receiving (" INT64_FORMAT ") institution",
						row->from_institution, row->to_institution);
	if (allowed & BY_SENDER)
		return psprintf("the sending institution (" INT64_FORMAT ")", row->from_institution);
	if (allowed & BY_RECEIVER)
		return psprintf("the receiving institution (" INT64_FORMAT ")", row->to_institution);
	return pstrdup("the background worker");
}

/* Read and lock a referral on route; AL002 if there is none */
static void
read_locked(int64 id, int route, ReferralRow *row)
{
	Datum		arg = Int64GetDatum(id);
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;

	alliance_stmt_run(gate_stmt(GATE_LOCK, route), &arg, NULL, 1);
	if (SPI_processed == 0)
		referral_not_found(id);
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->id = id;
	row->alliance_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	row->from_institution = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	row->to_institution = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
	row->status = status_from_name(SPI_getvalue(tuple, desc, 4));
	row->version = DatumGetInt32(SPI_getbinval(tuple, desc, 5, &isnull));
	row->patient_ref = SPI_getvalue(tuple, desc, 6);
	row->diagnosis = SPI_getvalue(tuple, desc, 7);
	row->acuity = SPI_getvalue(tuple, desc, 8);
	row->urgency = SPI_getvalue(tuple, desc, 9);
	row->direction = SPI_getvalue(tuple, desc, 10);
	row->parent_id = DatumGetInt64(SPI_getbinval(tuple, desc, 11, &isnull));
	row->created_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 12, &isnull));
}

/*
 * Append an event (from NULL for a creation) and queue its notifications to
 * the sending and receiving institutions' active endpoints.  A referral that
 * was never sent (a draft, and its cancellation) is none of the receiver's
 * business: with sent false, only the sender hears of it.  The referral's
 * month (and its parent's) is marked for the indicator refresh here, where
 * every change of a referral passes; before ALTER EXTENSION UPDATE to 1.2
 * the table's triggers mark it.
 */
static void
record_event(const EventSubject *subject, int route, const char *from, ReferralStatus to,
			 const char *actor, const char *note, int32 version, bool sent,
			 const TimestampTz *due_at, const TimestampTz *scheduled_at)
{
	Datum		values[10];
	char		nulls[10] = "          ";
	Datum		event_id;
	bool		current = alliance_contracts_installed();
	int			nendpoints;

	values[0] = Int64GetDatum(subject->referral_id);
	values[1] = from ? CStringGetTextDatum(from) : (Datum) 0;
	nulls[1] = from ? ' ' : 'n';
	values[2] = CStringGetTextDatum(status_name(to));
	values[3] = CStringGetTextDatum(actor);
	values[4] = note ? CStringGetTextDatum(note) : (Datum) 0;
	nulls[4] = note ? ' ' : 'n';
	values[5] = Int32GetDatum(version);
	values[6] = due_at ? TimestampTzGetDatum(*due_at) : (Datum) 0;
	nulls[6] = due_at ? ' ' : 'n';
	values[7] = scheduled_at ? TimestampTzGetDatum(*scheduled_at) : (Datum) 0;
	nulls[7] = scheduled_at ? ' ' : 'n';
	values[8] = Int64GetDatum(subject->from_institution);
	values[9] = Int64GetDatum(subject->to_institution);
	alliance_stmt_run(current ? gate_stmt(GATE_EVENT, route) : &insert_event_1_1, values, nulls, 0);
	if (!alliance_stmt_get(1, &event_id))
		elog(ERROR, "referral event was not recorded");

	values[0] = Int64GetDatum(subject->from_institution);
	values[1] = Int64GetDatum(sent ? subject->to_institution : subject->from_institution);
	alliance_stmt_run(gate_stmt(GATE_ENDPOINTS, route), values, NULL, 0);
	nendpoints = Min((int) SPI_processed, 2);
	for (int i = 0; i < nendpoints; i++)
	{
		bool		isnull;

		values[2 + i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
	}
	if (nendpoints > 0)
	{
		values[0] = event_id;
		values[1] = Int64GetDatum(subject->referral_id);
		alliance_stmt_run(gate_stmt(nendpoints == 2 ? GATE_OUTBOX_2 : GATE_OUTBOX, route), values, NULL, 0);
	}

	if (current)
	{
		values[0] = Int64GetDatum(subject->alliance_id);
		values[1] = TimestampTzGetDatum(subject->created_at);
		values[2] = Int64GetDatum(subject->parent_id);
		nulls[0] = nulls[1] = ' ';
		nulls[2] = subject->parent_id ? ' ' : 'n';
		alliance_stmt_run(&gate_stmts[GATE_MARK], values, nulls, 0);
	}

	/* the dispatcher sends them, and keeps an eye on the new deadlines */
	alliance_wake_at_commit();
}

static Datum gate(const Transition *t, const Caller *caller, bool by_system);

/*
 * The emergency green channel (急诊绿色通道): a requested emergency is
 * accepted at once, by the system, whatever the receiver's capacity says --
 * an emergency cannot be refused.  When the receiver was not accepting
 * referrals (alliance.set_capacity), the event's note says so.  Returns the
 * referral as gate() does.
 */
static Datum
green_channel(int64 referral_id, int64 to_institution, const Caller *caller)
{
	Transition	green = {0};
	Datum		arg = Int64GetDatum(to_institution);
	Datum		accepting;

	alliance_stmt_run(gate_stmt(GATE_ACCEPTING, ROUTE_CITUS), &arg, NULL, 1);
	green.referral_id = referral_id;
	green.to = RS_ACCEPTED;
	if (alliance_stmt_get(1, &accepting) && !DatumGetBool(accepting))
		green.note = "green channel (急诊绿色通道): emergencies are accepted on arrival;"
			" the receiving institution was not accepting referrals, and an emergency cannot be refused";
	else
		green.note = "green channel (急诊绿色通道): emergencies are accepted on arrival";
	return gate(&green, caller, true);
}

/*
 * The gate.  Runs inside alliance_stmt_begin(..., true).  by_system is for
 * changes the gate itself decides (the green channel): no right is
 * checked.  Returns the referral after the change, as an alliance.referral
 * datum in SPI memory.
 */
static Datum
gate(const Transition *t, const Caller *caller, bool by_system)
{
	ReferralRow row;
	uint8		allowed;
	Datum		values[4];
	char		nulls[4] = "    ";
	Datum		result;
	Datum		due_at;
	Datum		scheduled_at;
	bool		due_null;
	bool		scheduled_null;
	TimestampTz due;
	TimestampTz scheduled;
	EventSubject subject;
	int			route;

	if (!by_system && !caller->acts_for_all && caller->ninstitutions == 0)
		ereport(ERROR,
				(errcode(ERRCODE_AL_NOT_AUTHORIZED),
				 errmsg("role \"%s\" may not move referrals", alliance_caller_name(caller)),
				 errdetail("It acts for no institution."),
				 errhint("An administrator maps a role to an institution with alliance.map_role().")));

	route = route_of(t->referral_id);
	if (route == ROUTE_CITUS)
		route_through_citus();
	read_locked(t->referral_id, route, &row);

	if (!by_system && !alliance_caller_acts_for(caller, row.from_institution) &&
		!alliance_caller_acts_for(caller, row.to_institution))
		referral_not_found(row.id);

	if (t->check_version && t->expected_version != row.version)
		ereport(ERROR,
				(errcode(ERRCODE_AL_STALE_VERSION),
				 errmsg("referral " INT64_FORMAT " is at version %d, not %d",
						row.id, row.version, t->expected_version),
				 errdetail("Someone changed it since you read it; it is now %s.",
						   status_name(row.status)),
				 errhint("Read the referral again and decide again.")));

	allowed = transitions[row.status][t->to];
	if (allowed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_AL_TRANSITION_NOT_ALLOWED),
				 errmsg("referral " INT64_FORMAT " cannot go from %s to %s",
						row.id, status_name(row.status), status_name(t->to)),
				 row.status >= RS_COMPLETED ?
				 errdetail("A %s referral is closed.", status_name(row.status)) :
				 errdetail("From %s a referral may go to %s.",
						   status_name(row.status), next_statuses(row.status))));

	if (!by_system && !caller->acts_for_all &&
		!((allowed & BY_SENDER) && alliance_caller_acts_for(caller, row.from_institution)) &&
		!((allowed & BY_RECEIVER) && alliance_caller_acts_for(caller, row.to_institution)))
		ereport(ERROR,
				(errcode(ERRCODE_AL_NOT_AUTHORIZED),
				 errmsg("role \"%s\" may not move referral " INT64_FORMAT " to %s",
						alliance_caller_name(caller), row.id, status_name(t->to)),
				 errdetail("Only %s may.", who_may(allowed, &row))));

	if ((t->to == RS_REJECTED || t->to == RS_CANCELLED) && t->note == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a referral cannot be %s without a reason", status_name(t->to)),
				 errhint("Give the reason as the note.")));
	if (t->to == RS_REJECTED || t->to == RS_CANCELLED)
		alliance_bounds_check_not_blank(t->note, strlen(t->note), "reason");

	values[0] = Int64GetDatum(row.id);
	values[1] = CStringGetTextDatum(status_name(t->to));
	sla_due(t->to, row.urgency, &values[2], &nulls[2]);
	if (t->has_scheduled_at)
		values[3] = TimestampTzGetDatum(t->scheduled_at);
	else
		nulls[3] = 'n';
	alliance_stmt_run(gate_stmt(GATE_UPDATE, route), values, nulls, 0);
	if (!alliance_stmt_get(1, &result))
		elog(ERROR, "referral " INT64_FORMAT " vanished under lock", row.id);

	due_at = GetAttributeByName(DatumGetHeapTupleHeader(result), "due_at", &due_null);
	scheduled_at = GetAttributeByName(DatumGetHeapTupleHeader(result), "scheduled_at", &scheduled_null);
	due = DatumGetTimestampTz(due_at);
	scheduled = DatumGetTimestampTz(scheduled_at);
	subject.referral_id = row.id;
	subject.alliance_id = row.alliance_id;
	subject.from_institution = row.from_institution;
	subject.to_institution = row.to_institution;
	subject.parent_id = row.parent_id;
	subject.created_at = row.created_at;
	record_event(&subject, route, status_name(row.status), t->to,
				 t->actor ? t->actor : by_system ? "alliance" : alliance_caller_name(caller),
				 t->note, row.version + 1,
				 !(row.status == RS_DRAFT && t->to == RS_CANCELLED),
				 due_null ? NULL : &due, scheduled_null ? NULL : &scheduled);

	if (green_channel_applies(t->to, row.urgency))
		result = green_channel(row.id, row.to_institution, caller);
	return result;
}

/*
 * Move a referral to another status, as the current user, and return it
 * (palloc'd in the current context).
 */
Datum
alliance_referral_transition(const Transition *t)
{
	Caller		caller;
	StmtScope	scope;
	Datum		result;

	alliance_caller_identify(&caller);
	alliance_stmt_begin(&scope, true);
	result = SPI_datumTransfer(gate(t, &caller, false), false, -1);
	alliance_stmt_end(&scope);
	return result;
}

/*
 * Gatekeeping (alliance.contract_policy = gatekeep): a signed resident's
 * upward referral that is not an emergency comes from the family
 * institution, or is refused with AL009.
 */
static void
check_gatekeeping(const ContractInForce *contract, int64 from, int64 to, const char *urgency)
{
	Datum		values[2];
	Datum		direction;

	if (alliance_contract_policy != CONTRACT_POLICY_GATEKEEP || contract == NULL ||
		is_emergency(urgency) || from == contract->family_institution)
		return;
	values[0] = Int64GetDatum(from);
	values[1] = Int64GetDatum(to);
	alliance_stmt_run(gate_stmt(GATE_DIRECTION, ROUTE_CITUS), values, NULL, 1);
	if (!alliance_stmt_get(1, &direction) || alliance_label_position(ENUM_DIRECTION, TextDatumGetCString(direction)) != DIRECTION_UPWARD)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_AL_GATEKEEPING),
			 errmsg("a signed resident's upward referral must come from the family institution"),
			 errdetail("The patient has family doctor contract " INT64_FORMAT
					   ", and institution " INT64_FORMAT " is not its family institution; "
					   "alliance.contract_policy is gatekeep.",
					   contract->id, from),
			 errhint("Refer the patient from the family institution, %s (" INT64_FORMAT
					 "); an emergency always passes.",
					 contract->family_name, contract->family_institution)));
}

/*
 * Create a referral; runs inside alliance_stmt_begin(..., true).  parent_id is
 * the referral a return referral closes, or 0: the closed loop goes back to
 * the sender whatever the routing rules say, so only other referrals meet
 * alliance.routing_policy and gatekeeping.  contract is the patient's contract
 * in force in the alliance, or NULL: the referral records it as signed.
 */
static int64
create_referral(const Caller *caller, int64 alliance_id, const char *patient_ref,
				int64 from, Icd10 diagnosis, const char *acuity, const char *urgency,
				int64 to, const char *reason, bool submit, int64 parent_id,
				const ContractInForce *contract)
{
	char		code[ICD10_OUTPUT_SIZE];
	Datum		values[14];
	char		nulls[14] = "              ";
	Membership	sides[2] = {{.institution_id = from}, {.institution_id = to}};
	bool		from_ok;
	bool		to_ok;
	ReferralStatus status = submit ? RS_REQUESTED : RS_DRAFT;
	Datum		id;
	TimestampTz due;
	EventSubject subject;
	int			route = ROUTE_CITUS;
	Stmt	   *insert;

	if (!alliance_caller_acts_for(caller, from))
		ereport(ERROR,
				(errcode(ERRCODE_AL_NOT_AUTHORIZED),
				 errmsg("role \"%s\" may not refer patients from institution " INT64_FORMAT,
						alliance_caller_name(caller), from),
				 errdetail("Only the sending institution creates a referral.")));
	if (from == to)
		ereport(ERROR,
				(errcode(ERRCODE_AL_NOT_A_MEMBER),
				 errmsg("institution " INT64_FORMAT " cannot refer a patient to itself", from)));

	alliance_registry_require_alliance(alliance_id);
	alliance_registry_memberships(alliance_id, sides, 2);
	from_ok = sides[0].member;
	to_ok = sides[1].member && sides[1].active;
	if (!from_ok || !to_ok)
		ereport(ERROR,
				(errcode(ERRCODE_AL_NOT_A_MEMBER),
				 errmsg("institution " INT64_FORMAT " is not %s member of alliance " INT64_FORMAT,
						from_ok ? to : from, from_ok ? "an active" : "a", alliance_id),
				 errhint("Both institutions of a referral must be members of its alliance; see alliance.membership.")));
	if (parent_id == 0)
	{
		alliance_routing_check_target(to, diagnosis, acuity, urgency);
		check_gatekeeping(contract, from, to, urgency);
	}

	/*
	 * On a node that may hold the new referral's shard, its id first: the
	 * shard is known before anything is written
	 */
	if (route_xact())
	{
		for (int draw = 0; draw < MAX_ID_DRAWS; draw++)
		{
			alliance_stmt_run(&gate_stmts[GATE_NEXT_ID], NULL, NULL, 1);
			if (!alliance_stmt_get(1, &values[13]))
				elog(ERROR, "alliance.referral_id_seq gave no id");
			if (here.placements.nshards == 0 ||
				alliance_placements_shard_of(&here.placements, DatumGetInt64(values[13])) >= 0)
				break;
		}
		nulls[13] = ' ';
		route = route_of(DatumGetInt64(values[13]));
		insert = gate_stmt(GATE_REFERRAL_WITH_ID, route);
	}
	else
		insert = alliance_contracts_installed() ? &gate_stmts[GATE_REFERRAL] : &insert_referral_1_1;
	if (route == ROUTE_CITUS)
		route_through_citus();

	values[0] = Int64GetDatum(from);
	values[1] = Int64GetDatum(to);
	alliance_stmt_run(gate_stmt(GATE_DIRECTION, ROUTE_CITUS), values, NULL, 1);
	if (!alliance_stmt_get(1, &values[4]))
		elog(ERROR, "institution " INT64_FORMAT " or " INT64_FORMAT " vanished", from, to);
	values[0] = Int64GetDatum(alliance_id);
	values[1] = CStringGetTextDatum(patient_ref);
	values[2] = Int64GetDatum(from);
	values[3] = Int64GetDatum(to);
	alliance_icd10_format(diagnosis, code);
	values[5] = CStringGetTextDatum(code);
	values[6] = CStringGetTextDatum(acuity);
	values[7] = CStringGetTextDatum(urgency);
	values[8] = CStringGetTextDatum(status_name(status));
	values[9] = Int64GetDatum(parent_id);
	nulls[9] = parent_id ? ' ' : 'n';
	values[10] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[10] = reason ? ' ' : 'n';
	sla_due(status, urgency, &values[11], &nulls[11]);
	values[12] = BoolGetDatum(contract != NULL);
	alliance_stmt_run(insert, values, nulls, 0);
	if (!alliance_stmt_get(1, &id))
		elog(ERROR, "referral was not created");

	due = nulls[11] == 'n' ? 0 : DatumGetTimestampTz(values[11]);
	subject.referral_id = DatumGetInt64(id);
	subject.alliance_id = alliance_id;
	subject.from_institution = from;
	subject.to_institution = to;
	subject.parent_id = parent_id;
	subject.created_at = GetCurrentTransactionStartTimestamp();	/* created_at's default, now() */
	record_event(&subject, route, NULL, status, alliance_caller_name(caller), reason, 1, submit,
				 nulls[11] == 'n' ? NULL : &due, NULL);

	if (green_channel_applies(status, urgency))
		(void) green_channel(DatumGetInt64(id), to, caller);
	return DatumGetInt64(id);
}

/*
 * alliance.refer(alliance_id, patient_ref, from_institution, diagnosis,
 *				  acuity, urgency, to_institution, reason, submit) → bigint
 */
PG_FUNCTION_INFO_V1(refer);
Datum
refer(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	char	   *patient_ref;
	Icd10		diagnosis;
	char	   *acuity;
	char	   *urgency;
	int64		to;
	int64		id;
	ContractInForce contract;
	bool		is_signed;
	Combination comb;

	alliance_arg_require(fcinfo, 0, "alliance_id");
	alliance_arg_require(fcinfo, 2, "from_institution");
	alliance_arg_require(fcinfo, 3, "diagnosis");
	alliance_arg_require(fcinfo, 4, "acuity");
	alliance_arg_require(fcinfo, 5, "urgency");
	alliance_arg_require(fcinfo, 8, "submit");
	patient_ref = alliance_arg_patient_ref(fcinfo, 1);
	diagnosis = DatumGetInt64(PG_GETARG_DATUM(3));

	acuity = alliance_arg_enum_label(PG_GETARG_DATUM(4));
	urgency = alliance_arg_enum_label(PG_GETARG_DATUM(5));

	alliance_caller_identify(&caller);
	alliance_stmt_begin(&scope, true);
	/* read as the owner: whether the patient is signed is not the sender's to see */
	is_signed = alliance_contracts_installed() &&
		alliance_contract_in_force(PG_GETARG_INT64(0), patient_ref, &contract);
	if (is_signed)
		alliance_contract_combination(&contract, &comb);
	if (PG_ARGISNULL(6))
		to = alliance_routing_best_target(PG_GETARG_INT64(2), PG_GETARG_INT64(0), diagnosis, acuity, urgency,
								 is_signed && alliance_contract_policy != CONTRACT_POLICY_OFF ? &comb : NULL);
	else
		to = PG_GETARG_INT64(6);
	id = create_referral(&caller, PG_GETARG_INT64(0), patient_ref, PG_GETARG_INT64(2),
						 diagnosis, acuity, urgency, to,
						 alliance_arg_bounded_text(fcinfo, 7, "reason", BOUNDS_REASON),
						 PG_GETARG_BOOL(8), 0, is_signed ? &contract : NULL);
	alliance_stmt_end(&scope);
	PG_RETURN_INT64(id);
}

/* alliance.transition(referral_id, to_status, note, expected_version) */
PG_FUNCTION_INFO_V1(transition);
Datum
transition(PG_FUNCTION_ARGS)
{
	Transition	t = {0};

	alliance_arg_require(fcinfo, 0, "referral_id");
	alliance_arg_require(fcinfo, 1, "to_status");
	t.referral_id = PG_GETARG_INT64(0);
	t.to = status_from_datum(PG_GETARG_DATUM(1));
	t.note = alliance_arg_bounded_text(fcinfo, 2, "note", BOUNDS_NOTE);
	t.check_version = !PG_ARGISNULL(3);
	t.expected_version = t.check_version ? PG_GETARG_INT32(3) : 0;
	return alliance_referral_transition(&t);
}

/* alliance.schedule(referral_id, at) */
PG_FUNCTION_INFO_V1(schedule);
Datum
schedule(PG_FUNCTION_ARGS)
{
	Transition	t = {0};

	alliance_arg_require(fcinfo, 0, "referral_id");
	alliance_arg_require(fcinfo, 1, "at");
	t.referral_id = PG_GETARG_INT64(0);
	t.to = RS_SCHEDULED;
	t.has_scheduled_at = true;
	t.scheduled_at = PG_GETARG_TIMESTAMPTZ(1);
	alliance_bounds_check_appointment(t.scheduled_at, "at");
	return alliance_referral_transition(&t);
}

/* The code a referral row's diagnosis text names */
static Icd10
diagnosis_of(const char *text)
{
	Icd10		code;

	if (!alliance_icd10_parse(text, strlen(text), &code))
		elog(ERROR, "invalid diagnosis \"%s\" in alliance.referral", text);
	return code;
}

/*
 * The reason of the return referral after referral id: the summary, clipped
 * with "..." to BOUNDS_REASON characters.
 */
static char *
return_reason(int64 id, const char *summary)
{
	char	   *reason = psprintf("return after referral " INT64_FORMAT "%s%s", id,
								  summary ? ": " : "", summary ? summary : "");
	int			len = strlen(reason);

	if (pg_mbstrlen_with_len(reason, len) <= BOUNDS_REASON)
		return reason;
	reason[pg_mbcharcliplen(reason, len, BOUNDS_REASON - 3)] = '\0';
	return psprintf("%s...", reason);
}

/*
 * alliance.complete(referral_id, summary, return_to_sender): with
 * return_to_sender, an upward referral also creates the downward return
 * referral to its sender (下转), linked by parent_id.
 */
PG_FUNCTION_INFO_V1(complete);
Datum
complete(PG_FUNCTION_ARGS)
{
	Transition	t = {0};
	Caller		caller;
	StmtScope	scope;
	ReferralRow row;
	Datum		result;
	ContractInForce contract;

	alliance_arg_require(fcinfo, 0, "referral_id");
	alliance_arg_require(fcinfo, 2, "return_to_sender");
	t.referral_id = PG_GETARG_INT64(0);
	t.to = RS_COMPLETED;
	t.note = alliance_arg_bounded_text(fcinfo, 1, "summary", BOUNDS_SUMMARY);

	alliance_caller_identify(&caller);
	alliance_stmt_begin(&scope, true);
	result = gate(&t, &caller, false);
	if (PG_GETARG_BOOL(2))
	{
		read_locked(t.referral_id, route_of(t.referral_id), &row);
		if (alliance_label_position(ENUM_DIRECTION, row.direction) != DIRECTION_UPWARD)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("referral " INT64_FORMAT " is %s, and only an upward referral returns to its sender",
							row.id, row.direction)));
		/* back down for follow-up: an acute episode continues as chronic care */
		create_referral(&caller, row.alliance_id, row.patient_ref, row.to_institution,
						diagnosis_of(row.diagnosis),
						alliance_label_position(ENUM_ACUITY, row.acuity) == ACUITY_ACUTE ?
						alliance_label(ENUM_ACUITY, ACUITY_CHRONIC) : row.acuity,
						alliance_label(ENUM_URGENCY, URGENCY_ROUTINE), row.from_institution,
						return_reason(row.id, t.note),
						true, row.id,
						alliance_contracts_installed() &&
						alliance_contract_in_force(row.alliance_id, row.patient_ref, &contract) ? &contract : NULL);
	}
	result = SPI_datumTransfer(result, false, -1);
	alliance_stmt_end(&scope);
	return result;
}

/* alliance.can_transition(from, to): does the table allow it? */
PG_FUNCTION_INFO_V1(can_transition);
Datum
can_transition(PG_FUNCTION_ARGS)
{
	ReferralStatus from = status_from_datum(PG_GETARG_DATUM(0));
	ReferralStatus to = status_from_datum(PG_GETARG_DATUM(1));

	PG_RETURN_BOOL(transitions[from][to] != 0);
}
