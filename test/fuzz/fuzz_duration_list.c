/*
 * fuzz_duration_list.c
 *	  Duration lists (alliance.retry_schedule): alliance_duration_list_parse.
 *
 * Properties: the parser agrees with a plain reference reading (strtod on
 * the number, the unit's factor) on what it accepts and, to rounding, on the
 * values; it never writes more than max values (the array is exactly max
 * long); values are finite, non-negative and at most a year; a lower max
 * takes a prefix of the same answer or refuses; the list doubled reads as
 * both halves.
 */
#include "fuzz.h"

#include <math.h>

#define MAX_SCHEDULE	64		/* as in dispatch.c */
#define YEAR			(366.0 * 24 * 3600)

/* alliance_duration_list_parse of exactly len bytes into an array of exactly max */
static bool
parse(const char *s, size_t len, int max, double **values, int *n)
{
	char	   *copy = exact_copy(s, len);
	bool		ok;

	*values = malloc(sizeof(double) * (max > 0 ? max : 1));
	CHECK(*values != NULL);
	*n = -1;
	ok = alliance_duration_list_parse(copy, len, *values, max, n);
	free(copy);
	CHECK(*n >= 0 && *n <= max);
	return ok;
}

/*
 * The reference reading of one element at *p: spaces, digits with at most
 * one '.', spaces, an optional unit, spaces.  Returns false if malformed.
 */
static bool
reference_one(const char **p, const char *end, double *seconds)
{
	static const struct
	{
		const char *name;
		double		factor;
	}			units[] = {
		/* longest first, as the parser takes the longest match */
		{"min", 60}, {"ms", 0.001}, {"s", 1}, {"h", 3600}, {"d", 86400},
	};
	const char *s = *p;
	char		number[32];
	int			digits = 0;
	int			dots = 0;
	int			nlen = 0;
	double		factor = 1;

	while (s < end && *s == ' ')
		s++;
	while (s < end && ((*s >= '0' && *s <= '9') || (*s == '.' && dots == 0)))
	{
		if (*s == '.')
			dots++;
		else if (++digits > 12)
			return false;
		number[nlen++] = *s++;
	}
	number[nlen] = '\0';
	if (digits == 0)
		return false;
	while (s < end && *s == ' ')
		s++;
	for (int i = 0; i < lengthof(units); i++)
	{
		size_t		ulen = strlen(units[i].name);

		if ((size_t) (end - s) >= ulen && strncasecmp(s, units[i].name, ulen) == 0)
		{
			factor = units[i].factor;
			s += ulen;
			break;
		}
	}
	while (s < end && *s == ' ')
		s++;
	*seconds = strtod(number, NULL) * factor;
	*p = s;
	return true;
}

/* The reference reading of a list: -1 if malformed, else the count */
static int
reference(const char *s, size_t len, double *values, bool *near_limit)
{
	const char *p = s;
	const char *end = s + len;
	int			n = 0;

	*near_limit = false;
	for (;;)
	{
		double		v;

		if (!reference_one(&p, end, &v))
			return -1;
		if (fabs(v - YEAR) <= 1e-6 * YEAR)
			*near_limit = true;
		if (v > YEAR)
			return -1;
		if (n < MAX_SCHEDULE)
			values[n] = v;
		n++;
		if (p == end)
			return n;
		if (*p != ',')
			return -1;
		p++;
	}
}

static bool
close_to(double a, double b)
{
	return fabs(a - b) <= 1e-9 * Max(1.0, fabs(b));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	double	   *values;
	double	   *fewer;
	double		expected[MAX_SCHEDULE];
	int			n;
	int			m;
	bool		near_limit;
	bool		ok = parse(s, size, MAX_SCHEDULE, &values, &n);
	int			nref = reference(s, size, expected, &near_limit);

	if (!near_limit)
		CHECK(ok == (nref >= 1 && nref <= MAX_SCHEDULE));
	if (!ok)
	{
		free(values);
		return 0;
	}

	CHECK(n >= 1 && n <= MAX_SCHEDULE);
	for (int i = 0; i < n; i++)
	{
		CHECK(isfinite(values[i]) && values[i] >= 0 && values[i] <= YEAR);
		if (nref == n)
			CHECK(close_to(values[i], expected[i]));
	}

	/* a max below the count refuses; at or above it, the same answer */
	for (int max = 0; max <= n; max++)
	{
		bool		fewer_ok = parse(s, size, max, &fewer, &m);

		CHECK(fewer_ok == (max == n));
		if (fewer_ok)
			CHECK(m == n && memcmp(fewer, values, sizeof(double) * n) == 0);
		free(fewer);
	}

	/* the list twice over, with spaces around */
	if (2 * n <= MAX_SCHEDULE)
	{
		size_t		len;
		char	   *half = concat3(" ", 1, s, size, ",", 1, &len);
		char	   *twice = concat3(half, len, s, size, " ", 1, &len);

		CHECK(parse(twice, len, MAX_SCHEDULE, &fewer, &m));
		CHECK(m == 2 * n);
		CHECK(memcmp(fewer, values, sizeof(double) * n) == 0);
		CHECK(memcmp(fewer + n, values, sizeof(double) * n) == 0);
		free(fewer);
		free(half);
		free(twice);
	}
	free(values);
	return 0;
}
