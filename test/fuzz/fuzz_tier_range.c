/*
 * fuzz_tier_range.c
 *	  alliance.tier_range literals: bounds parsed by alliance_tier_parse, then
 *	  alliance_tier_range_canonicalize.
 *
 * A small splitter stands in for PostgreSQL's range_in: "empty", or '[' or
 * '(' , a lower bound, ',', an upper bound, ']' or ')', where a bound is the
 * bytes between (no quotes: a range with '"' or '\\' is left alone) and an
 * absent bound is infinite.  Like range_in, it refuses a lower bound above the
 * upper one and takes equal bounds not both inclusive as empty before the
 * canonical function sees them.
 *
 * Properties: the result is in [) form with lower < upper; canonicalising it
 * again changes nothing; every tier's membership is the one the bounds
 * define, a level-only bound standing for its whole level; the result's
 * text, in English or Chinese, reads back to the same range.
 */
#include "fuzz.h"

typedef enum
{
	RANGE_INVALID,				/* the splitter or alliance_tier_parse refuses it */
	RANGE_EMPTY,
	RANGE_NONEMPTY
} RangeKind;

/* alliance_tier_parse of exactly len bytes */
static bool
parse_bound(const char *s, size_t len, TierBound *bound)
{
	char	   *copy;
	bool		ok;

	if (len == 0)
	{
		bound->infinite = true;
		bound->value = 0;
		return true;
	}
	copy = exact_copy(s, len);
	bound->infinite = false;
	ok = alliance_tier_parse(copy, len, &bound->value);
	free(copy);
	return ok;
}

/* Split and parse a range literal into its bounds, as range_in would */
static RangeKind
split(const char *s, size_t len, TierBound *lower, TierBound *upper)
{
	const char *comma;

	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
					   s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	if (len == 5 && strncasecmp(s, "empty", 5) == 0)
		return RANGE_EMPTY;
	if (len < 3 || memchr(s, '"', len) || memchr(s, '\\', len))
		return RANGE_INVALID;
	if ((s[0] != '[' && s[0] != '(') || (s[len - 1] != ']' && s[len - 1] != ')'))
		return RANGE_INVALID;
	comma = memchr(s + 1, ',', len - 2);
	if (comma == NULL || memchr(comma + 1, ',', s + len - 1 - (comma + 1)))
		return RANGE_INVALID;
	if (!parse_bound(s + 1, comma - (s + 1), lower) ||
		!parse_bound(comma + 1, s + len - 1 - (comma + 1), upper))
		return RANGE_INVALID;
	lower->inclusive = !lower->infinite && s[0] == '[';
	upper->inclusive = !upper->infinite && s[len - 1] == ']';

	if (!lower->infinite && !upper->infinite)
	{
		if (lower->value > upper->value)
			return RANGE_INVALID;	/* range_in: lower bound above upper */
		if (lower->value == upper->value && !(lower->inclusive && upper->inclusive))
			return RANGE_EMPTY;
	}
	return RANGE_NONEMPTY;
}

/* split, then the canonical function */
static RangeKind
read_range(const char *s, size_t len, TierBound *lower, TierBound *upper)
{
	RangeKind	kind = split(s, len, lower, upper);

	if (kind == RANGE_NONEMPTY && !alliance_tier_range_canonicalize(lower, upper))
		kind = RANGE_EMPTY;
	return kind;
}

/* Is t in the range the literal's bounds define, levels taken whole? */
static bool
expected_member(Tier t, const TierBound *lower, const TierBound *upper)
{
	bool		above;
	bool		below;

	if (lower->infinite)
		above = true;
	else if (lower->inclusive)
		above = t >= lower->value;
	else if (TIER_GRADE(lower->value) == TIER_GRADE_NONE)
		above = TIER_LEVEL(t) > TIER_LEVEL(lower->value);
	else
		above = t > lower->value;

	if (upper->infinite)
		below = true;
	else if (!upper->inclusive)
		below = t < upper->value;
	else if (TIER_GRADE(upper->value) == TIER_GRADE_NONE)
		below = TIER_LEVEL(t) <= TIER_LEVEL(upper->value);
	else
		below = t <= upper->value;

	return above && below;
}

/* Is t in a canonical range? */
static bool
member(Tier t, const TierBound *lower, const TierBound *upper)
{
	return (lower->infinite || t >= lower->value) &&
		(upper->infinite || t < upper->value);
}

/* The text of a canonical range, as tier_range_out would write it */
static char *
range_text(const TierBound *lower, const TierBound *upper, bool chinese, size_t *len)
{
	char	   *text = malloc(2 * TIER_OUTPUT_SIZE + 3);
	char	   *lbuf = format_buffer(TIER_OUTPUT_SIZE);
	char	   *ubuf = format_buffer(TIER_OUTPUT_SIZE);

	CHECK(text != NULL);
	lbuf[0] = ubuf[0] = '\0';
	if (!lower->infinite)
		alliance_tier_format(lower->value, chinese, lbuf);
	if (!upper->infinite)
		alliance_tier_format(upper->value, chinese, ubuf);
	CHECK(TERMINATED(lbuf, TIER_OUTPUT_SIZE) && TERMINATED(ubuf, TIER_OUTPUT_SIZE));
	*len = sprintf(text, "%c%s,%s)", lower->infinite ? '(' : '[', lbuf, ubuf);
	free(lbuf);
	free(ubuf);
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TierBound	lower;
	TierBound	upper;
	TierBound	given_lower;
	TierBound	given_upper;
	TierBound	again_lower;
	TierBound	again_upper;
	RangeKind	kind = split((const char *) data, size, &lower, &upper);

	if (kind != RANGE_NONEMPTY)
		return 0;
	given_lower = lower;
	given_upper = upper;
	if (!alliance_tier_range_canonicalize(&lower, &upper))
		kind = RANGE_EMPTY;

	/* membership of every tier */
	for (Tier t = TIER_MIN; t <= TIER_MAX; t++)
		CHECK((kind == RANGE_NONEMPTY && member(t, &lower, &upper)) ==
			  expected_member(t, &given_lower, &given_upper));

	if (kind == RANGE_EMPTY)
		return 0;

	/* [) form, valid bounds, lower < upper */
	CHECK(lower.infinite || (lower.inclusive && TIER_IS_VALID(lower.value)));
	CHECK(upper.infinite || (!upper.inclusive && TIER_IS_VALID(upper.value)));
	CHECK(!lower.infinite || !lower.inclusive);
	CHECK(!upper.infinite || !upper.inclusive);
	CHECK(lower.infinite || upper.infinite || lower.value < upper.value);

	/* canonical already */
	again_lower = lower;
	again_upper = upper;
	CHECK(alliance_tier_range_canonicalize(&again_lower, &again_upper));
	CHECK(again_upper.infinite == upper.infinite &&
		  again_upper.inclusive == upper.inclusive &&
		  (upper.infinite || again_upper.value == upper.value));
	CHECK(again_lower.infinite == lower.infinite &&
		  again_lower.inclusive == lower.inclusive &&
		  (lower.infinite || again_lower.value == lower.value));

	/* the text reads back to the same range */
	for (int chinese = 0; chinese <= 1; chinese++)
	{
		size_t		len;
		char	   *text = range_text(&lower, &upper, chinese, &len);

		CHECK(read_range(text, len, &again_lower, &again_upper) == RANGE_NONEMPTY);
		CHECK(again_lower.infinite == lower.infinite &&
			  (lower.infinite || again_lower.value == lower.value));
		CHECK(again_upper.infinite == upper.infinite &&
			  (upper.infinite || again_upper.value == upper.value));
		free(text);
	}
	return 0;
}
