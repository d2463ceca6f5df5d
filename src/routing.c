/*-------------------------------------------------------------------------
 *
 * routing.c
 *	  Tier routing: which tiers should treat a condition, and which
 *	  members of the alliance can, best first.
 *
 * Decisions run in C over a per-backend cache of the rules and of the
 * institutions, so that routing does not read a table per call.  The
 * caches are dropped when the tables change: statement triggers on
 * routing_rule, institution and membership send a relcache invalidation
 * for their table at commit, and every backend's relcache callback marks
 * its copy stale; the next call reloads it.
 *
 * The rule that applies to (code, acuity, urgency) is the one with the
 * longest pattern the code lies within (a rule without a pattern matches
 * every code, last), among those the most specific (naming acuity and
 * urgency beats leaving them open), then an administrator's rule before a
 * built-in one, then the oldest.
 *
 * For a signed resident (one with a family doctor contract), the members of
 * the resident's combination rank before the other members of their own tier;
 * the lowest adequate tier still comes first, and a member that cannot take
 * the condition is not chosen, combination or not.  Emergencies stay nearest
 * first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rangetypes.h"
#include "utils/typcache.h"

#include "alliance.h"
#include "bounds.h"
#include "caller.h"
#include "contract.h"
#include "labels.h"
#include "routing.h"
#include "settings.h"
#include "stmt.h"


#define ANY (-1)				/* a rule that leaves acuity or urgency open */
#define EARTH_RADIUS_KM 6371.0088
#define KM_PER_LEVEL 10000.0	/* ranking: a level weighs more than any distance */
#define UNKNOWN_DISTANCE_KM 9999.0

typedef struct Rule
{
	int64		id;
	bool		has_pattern;
	Icd10		pattern;
	Tier		min_tier;
	Tier		max_tier;
	int			acuity;			/* an Acuity, or ANY */
	int			urgency;		/* an Urgency, or ANY */
	char	   *specialty;		/* lower case, or NULL */
	bool		builtin;
} Rule;

/* rules[first .. first + count) share one pattern, best first */
typedef struct PatternEntry
{
	Icd10		pattern;		/* hash key */
	int			first;
	int			count;
} PatternEntry;

typedef struct Institution
{
	int64		id;
	char	   *name;
	Tier		tier;
	bool		has_position;
	double		lat;			/* radians */
	double		lon;			/* radians */
	bool		has_free_beds;
	int32		free_beds;
	bool		accepting;
	bool		active;
	int			nspecialties;
	char	  **specialties;	/* lower case */
	int			nalliances;
	int64	   *alliances;
} Institution;

static MemoryContext rules_context = NULL;
static Rule *rules = NULL;
static int	nrules = 0;
static HTAB *patterns = NULL;
static int	catchall_first = 0;	/* rules without a pattern sort last */
static bool rules_valid = false;

static MemoryContext institutions_context = NULL;
static Institution *institutions = NULL;
static int	ninstitutions = 0;
static bool institutions_valid = false;

static Oid	rules_relid = InvalidOid;
static Oid	institution_relid = InvalidOid;
static Oid	membership_relid = InvalidOid;
static bool callback_registered = false;

static Stmt load_rules = {
	"SELECT id, pattern::text, min_tier::text, max_tier::text, acuity::text, urgency::text,"
	"       lower(specialty), builtin"
	"  FROM alliance.routing_rule",
	0, {InvalidOid}
};

static Stmt load_institutions = {
	"SELECT i.id, i.name, i.tier::text, i.lat, i.lon, i.free_beds, i.accepting, i.active,"
	"       ARRAY(SELECT lower(s) FROM unnest(i.specialties) AS s),"
	"       ARRAY(SELECT m.alliance_id FROM alliance.membership m WHERE m.institution_id = i.id)"
	"  FROM alliance.institution i",
	0, {InvalidOid}
};

static Stmt insert_rule = {
	"INSERT INTO alliance.routing_rule (pattern, min_tier, max_tier, acuity, urgency, specialty)"
	" VALUES ($1::alliance.icd10, $2::alliance.tier, $3::alliance.tier, $4::alliance.acuity,"
	"         $5::alliance.urgency, $6) RETURNING id",
	6, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

/* the position of label in the enum type, or ANY for NULL */
static int
label_index(EnumType type, const char *label)
{
	return label == NULL ? ANY : alliance_label_position(type, label);
}

static void
invalidate_caches(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == rules_relid)
		rules_valid = false;
	if (!OidIsValid(relid) || relid == institution_relid || relid == membership_relid)
		institutions_valid = false;
}

/* Note the relations whose changes drop the caches; register the callback once */
static void
watch_relations(void)
{
	Oid			nsp = get_namespace_oid("alliance", false);

	rules_relid = get_relname_relid("routing_rule", nsp);
	institution_relid = get_relname_relid("institution", nsp);
	membership_relid = get_relname_relid("membership", nsp);
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(invalidate_caches, (Datum) 0);
		callback_registered = true;
	}
}

static char *
getvalue_in(MemoryContext cxt, HeapTuple tuple, TupleDesc desc, int col)
{
	char	   *value = SPI_getvalue(tuple, desc, col);

	return value ? MemoryContextStrdup(cxt, value) : NULL;
}

static Tier
tier_of_text(const char *text)
{
	Tier		tier;

	if (text == NULL || !alliance_tier_parse(text, strlen(text), &tier))
		elog(ERROR, "invalid tier in the routing data: \"%s\"", text ? text : "");
	return tier;
}

/* qsort order of rules: by pattern (none last), then best first */
static int
rule_order(const void *a, const void *b)
{
	const Rule *x = a;
	const Rule *y = b;
	int			xs = (x->acuity != ANY) + (x->urgency != ANY);
	int			ys = (y->acuity != ANY) + (y->urgency != ANY);

	if (x->has_pattern != y->has_pattern)
		return x->has_pattern ? -1 : 1;
	if (x->has_pattern && x->pattern != y->pattern)
		return x->pattern < y->pattern ? -1 : 1;
	if (xs != ys)
		return ys - xs;
	if (x->builtin != y->builtin)
		return x->builtin ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Empty a cache's memory context, creating it under CacheMemoryContext first */
static void
cache_context_reset(MemoryContext *context, const char *name)
{
	if (*context == NULL)
		*context = AllocSetContextCreateInternal(CacheMemoryContext, name,
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(*context);
}

static void
load_rule_cache(void)
{
	StmtScope	scope;
	HASHCTL		ctl;

	cache_context_reset(&rules_context, "alliance routing rules");
	rules = NULL;
	nrules = 0;
	patterns = NULL;
	rules_valid = false;

	alliance_stmt_begin(&scope, false);
	watch_relations();
	alliance_stmt_run(&load_rules, NULL, NULL, 0);
	rules = MemoryContextAllocZero(rules_context, Max(SPI_processed, 1) * sizeof(Rule));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Rule	   *r = &rules[i];
		char	   *pattern = SPI_getvalue(tuple, desc, 2);
		bool		isnull;

		r->id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		r->has_pattern = (pattern != NULL);
		if (pattern && !alliance_icd10_parse(pattern, strlen(pattern), &r->pattern))
			elog(ERROR, "invalid routing rule pattern \"%s\"", pattern);
		r->min_tier = tier_of_text(SPI_getvalue(tuple, desc, 3));
		r->max_tier = tier_of_text(SPI_getvalue(tuple, desc, 4));
		r->acuity = label_index(ENUM_ACUITY, SPI_getvalue(tuple, desc, 5));
		r->urgency = label_index(ENUM_URGENCY, SPI_getvalue(tuple, desc, 6));
		r->specialty = getvalue_in(rules_context, tuple, desc, 7);
		r->builtin = DatumGetBool(SPI_getbinval(tuple, desc, 8, &isnull));
	}
	nrules = (int) SPI_processed;
	alliance_stmt_end(&scope);

	qsort(rules, nrules, sizeof(Rule), rule_order);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Icd10);
	ctl.entrysize = sizeof(PatternEntry);
	ctl.hcxt = rules_context;
	patterns = hash_create("alliance routing patterns", Max(nrules, 16), &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	catchall_first = nrules;
	for (int i = 0; i < nrules; i++)
	{
		PatternEntry *entry;
		bool		found;

		if (!rules[i].has_pattern)
		{
			catchall_first = i;
			break;
		}
		entry = hash_search(patterns, &rules[i].pattern, HASH_ENTER, &found);
		if (!found)
		{
			entry->first = i;
			entry->count = 0;
		}
		entry->count++;
	}
	rules_valid = true;
}

static void
load_institution_cache(void)
{
	StmtScope	scope;

	cache_context_reset(&institutions_context, "alliance routing institutions");
	institutions = NULL;
	ninstitutions = 0;
	institutions_valid = false;

	alliance_stmt_begin(&scope, false);
	watch_relations();
	alliance_stmt_run(&load_institutions, NULL, NULL, 0);
	institutions = MemoryContextAllocZero(institutions_context,
										  Max(SPI_processed, 1) * sizeof(Institution));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Institution *inst = &institutions[i];
		bool		lat_null;
		bool		lon_null;
		bool		isnull;
		Datum		lat;
		Datum		lon;
		Datum		value;
		Datum	   *elems;
		int			nelems;

		inst->id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		inst->name = getvalue_in(institutions_context, tuple, desc, 2);
		inst->tier = tier_of_text(SPI_getvalue(tuple, desc, 3));
		lat = SPI_getbinval(tuple, desc, 4, &lat_null);
		lon = SPI_getbinval(tuple, desc, 5, &lon_null);
		inst->has_position = !lat_null && !lon_null;
		if (inst->has_position)
		{
			inst->lat = DatumGetFloat8(lat) * M_PI / 180.0;
			inst->lon = DatumGetFloat8(lon) * M_PI / 180.0;
		}
		value = SPI_getbinval(tuple, desc, 6, &isnull);
		inst->has_free_beds = !isnull;
		inst->free_beds = isnull ? 0 : DatumGetInt32(value);
		inst->accepting = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));
		inst->active = DatumGetBool(SPI_getbinval(tuple, desc, 8, &isnull));

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 9, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
		inst->nspecialties = nelems;
		inst->specialties = MemoryContextAlloc(institutions_context, Max(nelems, 1) * sizeof(char *));
		for (int j = 0; j < nelems; j++)
			inst->specialties[j] = MemoryContextStrdup(institutions_context,
													   TextDatumGetCString(elems[j]));

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 10, &isnull)),
						  INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, NULL, &nelems);
		inst->nalliances = nelems;
		inst->alliances = MemoryContextAlloc(institutions_context, Max(nelems, 1) * sizeof(int64));
		for (int j = 0; j < nelems; j++)
			inst->alliances[j] = DatumGetInt64(elems[j]);
	}
	ninstitutions = (int) SPI_processed;
	alliance_stmt_end(&scope);
	institutions_valid = true;
}

/* Take in other sessions' changes, and reload what they made stale */
static void
refresh_caches(bool need_institutions)
{
	AcceptInvalidationMessages();
	if (!rules_valid)
		load_rule_cache();
	if (need_institutions && !institutions_valid)
		load_institution_cache();
}

/* The first rule of rules[first .. first + count) that matches */
static const Rule *
first_match(int first, int count, int acuity, int urgency)
{
	for (int i = first; i < first + count; i++)
	{
		const Rule *r = &rules[i];

		if ((r->acuity == ANY || r->acuity == acuity) &&
			(r->urgency == ANY || r->urgency == urgency))
			return r;
	}
	return NULL;
}

/* The rule that applies, or NULL; the caches must be fresh */
static const Rule *
matching_rule(Icd10 code, int acuity, int urgency)
{
	for (int n = alliance_icd10_length(code); n >= ICD10_CATEGORY_SYMBOLS; n--)
	{
		Icd10		prefix = alliance_icd10_prefix(code, n);
		PatternEntry *entry = hash_search(patterns, &prefix, HASH_FIND, NULL);
		const Rule *r;

		if (entry && (r = first_match(entry->first, entry->count, acuity, urgency)) != NULL)
			return r;
	}
	return first_match(catchall_first, nrules - catchall_first, acuity, urgency);
}

/* Does the rule's tier range take the tier?  A level-only max takes its whole level. */
static bool
tier_fits(const Rule *r, Tier tier)
{
	if (tier < r->min_tier)
		return false;
	if (TIER_GRADE(r->max_tier) == TIER_GRADE_NONE)
		return TIER_LEVEL(tier) <= TIER_LEVEL(r->max_tier);
	return tier <= r->max_tier;
}

static bool
has_specialty(const Institution *inst, const char *specialty)
{
	if (specialty == NULL)
		return true;
	for (int i = 0; i < inst->nspecialties; i++)
		if (strcmp(inst->specialties[i], specialty) == 0)
			return true;
	return false;
}

static bool
in_alliance(const Institution *inst, int64 alliance_id)
{
	for (int i = 0; i < inst->nalliances; i++)
		if (inst->alliances[i] == alliance_id)
			return true;
	return false;
}

/* Shares an alliance with other (alliance_id 0), or belongs to alliance_id */
static bool
in_alliances_of(const Institution *inst, const Institution *other, int64 alliance_id)
{
	if (alliance_id != 0)
		return in_alliance(inst, alliance_id);
	for (int i = 0; i < other->nalliances; i++)
		if (in_alliance(inst, other->alliances[i]))
			return true;
	return false;
}

/* great-circle distance, haversine */
static double
distance_km(const Institution *a, const Institution *b)
{
	double		dlat = b->lat - a->lat;
	double		dlon = b->lon - a->lon;
	double		h = sin(dlat / 2) * sin(dlat / 2) +
		cos(a->lat) * cos(b->lat) * sin(dlon / 2) * sin(dlon / 2);

	return 2 * EARTH_RADIUS_KM * asin(Min(1.0, sqrt(h)));
}

static const Institution *
find_institution(int64 id)
{
	for (int i = 0; i < ninstitutions; i++)
		if (institutions[i].id == id)
			return &institutions[i];
	return NULL;
}

typedef struct Candidate
{
	const Institution *inst;
	int			level;			/* levels above the rule's lowest tier; 0 for emergencies */
	bool		preferred;		/* of the resident's combination (not for emergencies) */
	bool		has_distance;
	double		distance;
	double		score;
} Candidate;

static int
candidate_order(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	if (x->preferred != y->preferred)
		return x->preferred ? -1 : 1;
	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return (x->inst->id > y->inst->id) - (x->inst->id < y->inst->id);
}

/*
 * The members that can take the condition, best first, at most max; *rule
 * is the rule applied (NULL if none).  The caches must be fresh.
 *
 * score, lower first: for an emergency the distance in km (nearest adequate
 * first); otherwise 10,000 per level above the rule's lowest tier (treat at
 * the lowest level that can) plus the distance; an unknown distance counts
 * 9,999 km; free beds take off up to a metre, so they break ties only.
 * Within a level, the members of comb (a signed resident's combination, or
 * NULL) come first; the score does not show it.
 */
static int
route_candidates(int64 from, int64 alliance_id, Icd10 code, int acuity, int urgency,
				 const Combination *comb, int max, Candidate **result, const Rule **rule)
{
	const Institution *sender = find_institution(from);
	Candidate  *found;
	int			n = 0;

	if (sender == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("institution " INT64_FORMAT " does not exist", from)));
	if (alliance_id != 0 && !in_alliance(sender, alliance_id))
		ereport(ERROR,
				(errcode(ERRCODE_AL_NOT_A_MEMBER),
				 errmsg("institution " INT64_FORMAT " is not a member of alliance " INT64_FORMAT,
						from, alliance_id)));

	*rule = matching_rule(code, acuity, urgency);
	*result = found = palloc(Max(ninstitutions, 1) * sizeof(Candidate));
	if (*rule == NULL)
		return 0;

	for (int i = 0; i < ninstitutions; i++)
	{
		const Institution *inst = &institutions[i];
		Candidate  *c;
		double		bonus;

		if (inst == sender || !inst->active || !inst->accepting ||
			(inst->has_free_beds && inst->free_beds <= 0) ||
			!tier_fits(*rule, inst->tier) || !has_specialty(inst, (*rule)->specialty) ||
			!in_alliances_of(inst, sender, alliance_id))
			continue;

		c = &found[n++];
		c->inst = inst;
		c->has_distance = inst->has_position && sender->has_position;
		c->distance = c->has_distance ? distance_km(sender, inst) : 0;
		bonus = inst->has_free_beds ? 0.001 * inst->free_beds / (inst->free_beds + 1.0) : 0;
		c->score = (c->has_distance ? c->distance : UNKNOWN_DISTANCE_KM) - bonus;
		c->level = 0;
		c->preferred = false;
		if (urgency != URGENCY_EMERGENCY)
		{
			c->level = TIER_LEVEL(inst->tier) - TIER_LEVEL((*rule)->min_tier);
			c->score += KM_PER_LEVEL * c->level;
			c->preferred = alliance_combination_has(comb, inst->id);
		}
	}
	qsort(found, n, sizeof(Candidate), candidate_order);
	return Min(n, max);
}

/* The tier range of a rule, as an alliance.tier_range of type rangetype */
static Datum
rule_range(const Rule *r, Oid rangetype)
{
	TypeCacheEntry *typcache = lookup_type_cache(rangetype, TYPECACHE_RANGE_INFO);
	RangeBound	lower = {.val = Int16GetDatum(r->min_tier), .infinite = false, .inclusive = true, .lower = true};
	RangeBound	upper = {.val = Int16GetDatum(r->max_tier), .infinite = false, .inclusive = true, .lower = false};

#if PG_VERSION_NUM >= 160000
	return RangeTypePGetDatum(make_range(typcache, &lower, &upper, false, NULL));
#else
	return RangeTypePGetDatum(make_range(typcache, &lower, &upper, false));
#endif
}

/* "[primary,secondary] for I10 (chronic, routine)" */
static char *
describe_rule(const Rule *r)
{
	char		min[TIER_OUTPUT_SIZE];
	char		max[TIER_OUTPUT_SIZE];
	char		pattern[ICD10_OUTPUT_SIZE];

	alliance_tier_format(r->min_tier, false, min);
	alliance_tier_format(r->max_tier, false, max);
	if (r->has_pattern)
		alliance_icd10_format(r->pattern, pattern);
	return psprintf("rule " INT64_FORMAT " (%s%s%s%s%s): tiers [%s,%s]%s%s",
					r->id, r->has_pattern ? pattern : "any code",
					r->acuity != ANY ? ", " : "", r->acuity != ANY ? alliance_label(ENUM_ACUITY, r->acuity) : "",
					r->urgency != ANY ? ", " : "", r->urgency != ANY ? alliance_label(ENUM_URGENCY, r->urgency) : "",
					min, max, r->specialty ? ", specialty " : "", r->specialty ? r->specialty : "");
}

/* The rule for the (diagnosis, acuity, urgency) arguments, or NULL */
static const Rule *
rule_of_args(FunctionCallInfo fcinfo)
{
	refresh_caches(false);
	return matching_rule(DatumGetInt64(PG_GETARG_DATUM(0)),
						 label_index(ENUM_ACUITY, alliance_arg_enum_label(PG_GETARG_DATUM(1))),
						 label_index(ENUM_URGENCY, alliance_arg_enum_label(PG_GETARG_DATUM(2))));
}

/* alliance.required_tiers(diagnosis, acuity, urgency) → tier_range */
PG_FUNCTION_INFO_V1(required_tiers);
Datum
required_tiers(PG_FUNCTION_ARGS)
{
	const Rule *r = rule_of_args(fcinfo);

	if (r == NULL)
		PG_RETURN_NULL();
	return rule_range(r, get_fn_expr_rettype(fcinfo->flinfo));
}

/* alliance.matching_rule(diagnosis, acuity, urgency) → bigint */
PG_FUNCTION_INFO_V1(matching_rule_id);
Datum
matching_rule_id(PG_FUNCTION_ARGS)
{
	const Rule *r = rule_of_args(fcinfo);

	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT64(r->id);
}

/*
 * alliance.route(from_institution, diagnosis, acuity, urgency, alliance_id,
 *				  max_results [, patient_ref]) → TABLE(institution_id, name,
 *									   tier, distance_km, score, rule_id)
 *
 * With a patient_ref (the seven-argument overload) and alliance.contract_policy
 * not off, the combination of the resident's contract in force, as the
 * caller's row-level security shows it, ranks first within its tier.
 */
PG_FUNCTION_INFO_V1(route);
Datum
route(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Candidate  *found;
	const Rule *rule;
	int			n;
	int			max;
	Combination comb = {0, NULL};
	int64		alliance_id;

	alliance_arg_require(fcinfo, 0, "from_institution");
	alliance_arg_require(fcinfo, 1, "diagnosis");
	alliance_arg_require(fcinfo, 2, "acuity");
	alliance_arg_require(fcinfo, 3, "urgency");
	alliance_arg_require(fcinfo, 5, "max_results");
	max = PG_GETARG_INT32(5);
	if (max < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_results must be at least 1")));

	alliance_id = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	if (PG_NARGS() > 6 && !PG_ARGISNULL(6) && alliance_contract_policy != CONTRACT_POLICY_OFF)
		alliance_contract_combinations_of(alliance_id, PG_GETARG_INT64(0), alliance_arg_patient_ref(fcinfo, 6),
								 CurrentMemoryContext, &comb);

	InitMaterializedSRF(fcinfo, 0);
	refresh_caches(true);
	n = route_candidates(PG_GETARG_INT64(0), alliance_id,
						 DatumGetInt64(PG_GETARG_DATUM(1)),
						 label_index(ENUM_ACUITY, alliance_arg_enum_label(PG_GETARG_DATUM(2))),
						 label_index(ENUM_URGENCY, alliance_arg_enum_label(PG_GETARG_DATUM(3))),
						 &comb, max, &found, &rule);
	for (int i = 0; i < n; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = Int64GetDatum(found[i].inst->id);
		values[1] = CStringGetTextDatum(found[i].inst->name);
		values[2] = Int16GetDatum(found[i].inst->tier);
		values[3] = Float8GetDatum(found[i].distance);
		nulls[3] = !found[i].has_distance;
		values[4] = Float8GetDatum(found[i].score);
		values[5] = Int64GetDatum(rule->id);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * For alliance.refer: the best member to take the referral, or AL005; comb
 * is the signed resident's combination, or NULL.
 */
int64
alliance_routing_best_target(int64 from, int64 alliance_id, Icd10 diagnosis,
					const char *acuity, const char *urgency, const Combination *comb)
{
	Candidate  *found;
	const Rule *rule;
	char		code[ICD10_OUTPUT_SIZE];

	refresh_caches(true);
	if (route_candidates(from, alliance_id, diagnosis,
						 label_index(ENUM_ACUITY, acuity),
						 label_index(ENUM_URGENCY, urgency),
						 comb, 1, &found, &rule) > 0)
		return found[0].inst->id;

	alliance_icd10_format(diagnosis, code);
	ereport(ERROR,
			(errcode(ERRCODE_AL_NO_ROUTE),
			 errmsg("no route for %s (%s, %s) from institution " INT64_FORMAT " in alliance " INT64_FORMAT,
					code, acuity, urgency, from, alliance_id),
			 rule ? errdetail("No active, accepting member with free beds fits %s.", describe_rule(rule)) :
			 errdetail("No routing rule applies."),
			 errhint("Name the receiving institution in to_institution, or see alliance.route().")));
	pg_unreachable();
}

/*
 * For alliance.refer with an explicit target: apply alliance.routing_policy
 * when the target's tier lies outside the required range.
 */
void
alliance_routing_check_target(int64 to, Icd10 diagnosis, const char *acuity, const char *urgency)
{
	const Rule *rule;
	const Institution *target;
	char		code[ICD10_OUTPUT_SIZE];
	char		tier[TIER_OUTPUT_SIZE];

	if (alliance_routing_policy == ROUTING_POLICY_OFF)
		return;
	refresh_caches(true);
	rule = matching_rule(diagnosis, label_index(ENUM_ACUITY, acuity),
						 label_index(ENUM_URGENCY, urgency));
	target = find_institution(to);
	if (rule == NULL || target == NULL || tier_fits(rule, target->tier))
		return;

	alliance_icd10_format(diagnosis, code);
	alliance_tier_format(target->tier, false, tier);
	ereport(alliance_routing_policy == ROUTING_POLICY_ERROR ? ERROR : WARNING,
			(errcode(ERRCODE_AL_POLICY_REFUSED),
			 errmsg("institution " INT64_FORMAT " (%s, %s) is outside the tiers required for %s (%s, %s)",
					to, target->name, tier, code, acuity, urgency),
			 errdetail("The applicable %s.", describe_rule(rule)),
			 errhint("alliance.routing_policy is %s; alliance.route() lists the members that fit.",
					 alliance_routing_policy == ROUTING_POLICY_ERROR ? "error" : "warn")));
}

/*
 * alliance.add_routing_rule(pattern, min_tier, max_tier, acuity, urgency,
 *							 specialty) → bigint
 */
PG_FUNCTION_INFO_V1(add_routing_rule);
Datum
add_routing_rule(PG_FUNCTION_ARGS)
{
	Caller		caller;
	StmtScope	scope;
	Datum		values[6];
	char		nulls[6] = "      ";
	char		pattern[ICD10_OUTPUT_SIZE];
	char		min[TIER_OUTPUT_SIZE];
	char		max[TIER_OUTPUT_SIZE];
	Datum		id;

	alliance_arg_require(fcinfo, 1, "min_tier");
	alliance_arg_require(fcinfo, 2, "max_tier");
	alliance_caller_identify(&caller);
	alliance_caller_require_admin(&caller, "add a routing rule");

	if (PG_ARGISNULL(0))
		nulls[0] = 'n';
	else
	{
		alliance_icd10_format(DatumGetInt64(PG_GETARG_DATUM(0)), pattern);
		values[0] = CStringGetTextDatum(pattern);
	}
	alliance_tier_format(DatumGetInt16(PG_GETARG_DATUM(1)), false, min);
	alliance_tier_format(DatumGetInt16(PG_GETARG_DATUM(2)), false, max);
	values[1] = CStringGetTextDatum(min);
	values[2] = CStringGetTextDatum(max);
	for (int i = 3; i < 5; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : CStringGetTextDatum(alliance_arg_enum_label(PG_GETARG_DATUM(i)));
	}
	nulls[5] = PG_ARGISNULL(5) ? 'n' : ' ';
	values[5] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	if (!PG_ARGISNULL(5))
	{
		text	   *specialty = PG_GETARG_TEXT_PP(5);

		alliance_bounds_check_text(VARDATA_ANY(specialty), VARSIZE_ANY_EXHDR(specialty), BOUNDS_SPECIALTY, "specialty");
		alliance_bounds_check_not_blank(VARDATA_ANY(specialty), VARSIZE_ANY_EXHDR(specialty), "specialty");
	}

	alliance_stmt_begin(&scope, true);
	alliance_stmt_run(&insert_rule, values, nulls, 0);
	if (!alliance_stmt_get(1, &id))
		elog(ERROR, "routing rule was not added");
	alliance_stmt_end(&scope);
	PG_RETURN_INT64(DatumGetInt64(id));
}

/* Raise 39P01, as PostgreSQL's own trigger functions do, for a direct call */
static void
not_called_as_trigger(const char *funcname)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("function \"%s\" was not called by trigger manager", funcname),
			 errhint("It runs only as a trigger of the extension's tables.")));
}

/*
 * Statement trigger on the tables routing reads: make every backend drop its
 * cached copy when this transaction commits.
 */
PG_FUNCTION_INFO_V1(routing_data_changed);
Datum
routing_data_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		not_called_as_trigger("routing_data_changed");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * Row trigger on the tables with defaults (routing_rule, indicator_target):
 * built-in rows are the extension's, and change only with it (CREATE or
 * ALTER EXTENSION); an administrator's own row overrides one.
 */
PG_FUNCTION_INFO_V1(builtin_guard);
Datum
builtin_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	old;
	bool		isnull;
	Datum		builtin;

	if (!CALLED_AS_TRIGGER(fcinfo))
		not_called_as_trigger("builtin_guard");
	old = trigdata->tg_trigtuple;
	builtin = heap_getattr(old, SPI_fnumber(trigdata->tg_relation->rd_att, "builtin"),
						   trigdata->tg_relation->rd_att, &isnull);
	if (!creating_extension && !isnull && DatumGetBool(builtin))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("built-in rows of %s cannot be changed or removed",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("They come with the extension, and a restored dump brings them back as they were."),
				 errhint("Add a row of your own: it takes precedence over the built-in one.")));
	return PointerGetDatum(TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? old : trigdata->tg_newtuple);
}
