/*
 * fuzz_retry_after.c
 *	  HTTP Retry-After in delay-seconds form: alliance_retry_after_seconds.
 *
 * Properties: accepted exactly when, past surrounding white space (ASCII,
 * U+00A0, U+3000), the value is one or more ASCII digits; the result is
 * then that number capped at a year, a whole non-negative number.
 */
#include "fuzz.h"

#include <math.h>

#define YEAR (366.0 * 24 * 3600)

static bool
parse(const char *s, size_t len, double *seconds)
{
	char	   *copy = exact_copy(s, len);
	bool		ok;

	*seconds = -1;
	ok = alliance_retry_after_seconds(copy, len, seconds);
	free(copy);
	return ok;
}

/* bytes of white space at s (forward) or before s + len (backward) */
static size_t
space_at(const unsigned char *s, size_t len, bool backward)
{
	static const char *const spaces[] = {
		" ", "\t", "\n", "\v", "\f", "\r", "\xC2\xA0", "\xE3\x80\x80"
	};

	for (int i = 0; i < lengthof(spaces); i++)
	{
		size_t		n = strlen(spaces[i]);

		if (n <= len && memcmp(backward ? s + len - n : s, spaces[i], n) == 0)
			return n;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *s = data;
	size_t		len = size;
	size_t		n;
	double		seconds;
	bool		ok = parse((const char *) data, size, &seconds);
	bool		digits;
	char	   *number;

	/* the reference reading */
	while ((n = space_at(s, len, false)) > 0)
		s += n, len -= n;
	while ((n = space_at(s, len, true)) > 0)
		len -= n;
	digits = len > 0;
	for (size_t i = 0; i < len; i++)
		digits &= s[i] >= '0' && s[i] <= '9';
	CHECK(ok == digits);
	if (!ok)
		return 0;

	number = string_copy(s, len);
	CHECK(seconds == Min(strtod(number, NULL), YEAR));
	CHECK(isfinite(seconds) && seconds >= 0 && seconds == floor(seconds));
	free(number);
	return 0;
}
