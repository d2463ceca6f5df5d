/*
 * fuzz_tier.c
 *	  alliance.tier literals: alliance_tier_parse, alliance_tier_format.
 *
 * Properties: a parsed tier is valid; both its texts fit TIER_OUTPUT_SIZE,
 * are terminated and parse back to it; surrounding white space and ASCII
 * case change nothing.
 */
#include "fuzz.h"

/* alliance_tier_parse of exactly len bytes; -1 when it refuses them */
static int
parse(const char *s, size_t len)
{
	char	   *copy = exact_copy(s, len);
	Tier		t;
	int			result = alliance_tier_parse(copy, len, &t) ? t : -1;

	free(copy);
	return result;
}

static void
check_format(Tier t, bool chinese)
{
	char	   *buf = format_buffer(TIER_OUTPUT_SIZE);

	alliance_tier_format(t, chinese, buf);
	CHECK(TERMINATED(buf, TIER_OUTPUT_SIZE));
	CHECK(strlen(buf) > 0);
	CHECK(parse(buf, strlen(buf)) == t);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	int			t = parse(s, size);
	char	   *other;
	size_t		len;

	if (t >= 0)
	{
		CHECK(TIER_IS_VALID(t));
		check_format(t, false);
		check_format(t, true);
		CHECK(alliance_tier_grade_letter(t) == "\0CBA"[TIER_GRADE(t)]);
	}

	/* surrounding white space: ASCII, U+3000, U+00A0 */
	other = concat3(" \t", 2, s, size, "\r\n", 2, &len);
	CHECK(parse(other, len) == t);
	free(other);
	other = concat3("\xE3\x80\x80", 3, s, size, "\xC2\xA0", 2, &len);
	CHECK(parse(other, len) == t);
	free(other);

	/* ASCII case */
	other = ascii_case_copy(s, size, true);
	CHECK(parse(other, size) == t);
	free(other);
	other = ascii_case_copy(s, size, false);
	CHECK(parse(other, size) == t);
	free(other);

	return 0;
}
