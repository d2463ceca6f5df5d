/*-------------------------------------------------------------------------
 *
 * tier.c
 *	  The alliance.tier type (村卫生室 < 一级 < 二级 < 三级, graded 丙 < 乙 < 甲)
 *	  and the canonical function of alliance.tier_range.
 *
 * A tier_range's level-only bounds cover a whole level.
 *
 * A tier is an int16 (see parse.h), passed by value; its binary form is that
 * int16.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/rangetypes.h"
#include "utils/sortsupport.h"
#include "utils/typcache.h"

#include "alliance.h"
#include "parse.h"
#include "settings.h"

#define DatumGetTier(d)		((Tier) DatumGetInt16(d))
#define TierGetDatum(t)		Int16GetDatum(t)
#define PG_GETARG_TIER(n)	DatumGetTier(PG_GETARG_DATUM(n))
#define PG_RETURN_TIER(t)	return TierGetDatum(t)

#if PG_VERSION_NUM >= 160000
#define serialize_range(typcache, lower, upper, empty) \
	range_serialize(typcache, lower, upper, empty, NULL)
#else
#define serialize_range(typcache, lower, upper, empty) \
	range_serialize(typcache, lower, upper, empty)
#endif

PG_FUNCTION_INFO_V1(tier_in);
Datum
tier_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Tier		result;

	if (!alliance_tier_parse(str, strlen(str), &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"", "tier", str),
				 errhint("Use village, primary, secondary or tertiary (or 0 to 3), "
						 "optionally followed by a grade A, B or C (tertiary-A, 3A); "
						 "or 村卫生室, 社区卫生服务中心, 乡镇卫生院, 一级, 二级 or 三级, "
						 "optionally followed by 甲等, 乙等 or 丙等 (三级甲等, 三甲).")));
	PG_RETURN_TIER(result);
}

PG_FUNCTION_INFO_V1(tier_out);
Datum
tier_out(PG_FUNCTION_ARGS)
{
	Tier		tier = PG_GETARG_TIER(0);
	char	   *buf = palloc(TIER_OUTPUT_SIZE);

	alliance_tier_format(tier, alliance_tier_output == TIER_OUTPUT_ZH, buf);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(tier_recv);
Datum
tier_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	Tier		tier = (Tier) pq_getmsgint(buf, sizeof(Tier));

	if (!TIER_IS_VALID(tier))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary value %d for type %s", tier, "tier"),
				 errdetail("A binary tier is an int2 from %d to %d: level * 4 + grade.",
						   TIER_MIN, TIER_MAX)));
	PG_RETURN_TIER(tier);
}

PG_FUNCTION_INFO_V1(tier_send);
Datum
tier_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, PG_GETARG_TIER(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

#define tier_hash_fold(t)	((uint32) (t))

ALLIANCE_INTEGER_ORDER(tier, Tier, PG_GETARG_TIER, DatumGetTier, tier_hash_fold)

/* tier - tier: level steps between two tiers, grades ignored */
PG_FUNCTION_INFO_V1(tier_distance);
Datum
tier_distance(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(TIER_LEVEL(PG_GETARG_TIER(0)) - TIER_LEVEL(PG_GETARG_TIER(1)));
}

/* The ungraded tier "steps" levels above (below, if negative) tier */
static Tier
tier_step(Tier tier, int64 steps)
{
	int64		level = TIER_LEVEL(tier) + steps;

	if (level < TIER_VILLAGE || level > TIER_TERTIARY)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("tier out of range"),
				 errdetail("Stepping %s by " INT64_FORMAT " levels leaves village to tertiary.",
						   DatumGetCString(DirectFunctionCall1(tier_out, TierGetDatum(tier))),
						   steps)));
	return TIER_MAKE(level, TIER_GRADE_NONE);
}

PG_FUNCTION_INFO_V1(tier_plus_levels);
Datum
tier_plus_levels(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIER(tier_step(PG_GETARG_TIER(0), PG_GETARG_INT32(1)));
}

PG_FUNCTION_INFO_V1(tier_minus_levels);
Datum
tier_minus_levels(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIER(tier_step(PG_GETARG_TIER(0), -(int64) PG_GETARG_INT32(1)));
}

/* alliance.level(tier): the tier without its grade */
PG_FUNCTION_INFO_V1(tier_level);
Datum
tier_level(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIER(TIER_MAKE(TIER_LEVEL(PG_GETARG_TIER(0)), TIER_GRADE_NONE));
}

/* alliance.grade(tier): 'A', 'B', 'C', or NULL when ungraded */
PG_FUNCTION_INFO_V1(tier_grade);
Datum
tier_grade(PG_FUNCTION_ARGS)
{
	char		letter = alliance_tier_grade_letter(PG_GETARG_TIER(0));

	if (letter == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(&letter, 1));
}

/* subtype_diff of tier_range, for GiST */
PG_FUNCTION_INFO_V1(tier_subdiff);
Datum
tier_subdiff(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8((float8) PG_GETARG_TIER(0) - (float8) PG_GETARG_TIER(1));
}

/*
 * Canonical function of alliance.tier_range: the [) form, level-only bounds
 * taken as whole levels (alliance_tier_range_canonicalize).
 */
PG_FUNCTION_INFO_V1(tier_range_canonical);
Datum
tier_range_canonical(PG_FUNCTION_ARGS)
{
	RangeType  *range = PG_GETARG_RANGE_P(0);
	TypeCacheEntry *typcache;
	RangeBound	lower;
	RangeBound	upper;
	bool		empty;
	TierBound	lo;
	TierBound	hi;

	typcache = range_get_typcache(fcinfo, RangeTypeGetOid(range));
	range_deserialize(typcache, range, &lower, &upper, &empty);
	if (empty)
		PG_RETURN_RANGE_P(range);

	lo.infinite = lower.infinite;
	lo.inclusive = lower.inclusive;
	lo.value = lower.infinite ? 0 : DatumGetTier(lower.val);
	hi.infinite = upper.infinite;
	hi.inclusive = upper.inclusive;
	hi.value = upper.infinite ? 0 : DatumGetTier(upper.val);

	empty = !alliance_tier_range_canonicalize(&lo, &hi);

	lower.infinite = lo.infinite;
	lower.inclusive = lo.inclusive;
	lower.val = lo.infinite ? (Datum) 0 : TierGetDatum(lo.value);
	upper.infinite = hi.infinite;
	upper.inclusive = hi.inclusive;
	upper.val = hi.infinite ? (Datum) 0 : TierGetDatum(hi.value);

	PG_RETURN_RANGE_P(serialize_range(typcache, &lower, &upper, empty));
}
