/*-------------------------------------------------------------------------
 *
 * parse.c
 *	  Parsers and formatters for the literals of the extension's types.
 *
 * Everything here reads at most the length it is given (input need not be
 * NUL-terminated), allocates nothing and reports failure by its return value,
 * so the same object file serves the backend and the fuzz targets.  Callers
 * turn a false return into the user-facing error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "parse.h"

/* ASCII-only case folding: UTF-8 bytes pass through unchanged */
static inline unsigned char
fold(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/*
 * Length of the white space (ASCII, U+00A0 and the ideographic space U+3000,
 * which Chinese input methods type) at the start of [p, end), or 0.
 */
static size_t
leading_space(const unsigned char *p, const unsigned char *end)
{
	if (p >= end)
		return 0;
	if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		return 1;
	if (end - p >= 2 && p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (end - p >= 3 && p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	return 0;
}

/* Same, at the end of [start, end) */
static size_t
trailing_space(const unsigned char *start, const unsigned char *end)
{
	if (end <= start)
		return 0;
	if (end[-1] == ' ' || (end[-1] >= '\t' && end[-1] <= '\r'))
		return 1;
	if (end - start >= 2 && end[-2] == 0xC2 && end[-1] == 0xA0)
		return 2;
	if (end - start >= 3 && end[-3] == 0xE3 && end[-2] == 0x80 && end[-1] == 0x80)
		return 3;
	return 0;
}

/* Narrow [*start, *end) to exclude surrounding white space */
static void
trim(const unsigned char **start, const unsigned char **end)
{
	size_t		n;

	while ((n = leading_space(*start, *end)) > 0)
		*start += n;
	while ((n = trailing_space(*start, *end)) > 0)
		*end -= n;
}

/*
 * If one of tokens[] (NULL-terminated strings, ASCII letters in lower case)
 * starts [p, end), case-insensitively, return the index of the longest one
 * and set *matched to its length; otherwise return -1.
 */
static int
longest_token(const unsigned char *p, const unsigned char *end,
			  const char *const *tokens, int ntokens, size_t *matched)
{
	int			best = -1;
	size_t		bestlen = 0;

	for (int i = 0; i < ntokens; i++)
	{
		size_t		len = strlen(tokens[i]);
		size_t		j;

		if (len <= bestlen || (size_t) (end - p) < len)
			continue;
		for (j = 0; j < len; j++)
			if (fold(p[j]) != (unsigned char) tokens[i][j])
				break;
		if (j == len)
		{
			best = i;
			bestlen = len;
		}
	}
	*matched = bestlen;
	return best;
}

/*
 * Tier literals: a level word, then optionally a grade, with optional
 * separators (space, '-', '_') between them.  The Chinese one-character level
 * forms (三 of 三甲) stand only before a grade.
 */
static const char *const tier_level_tokens[] = {
	"village", "primary", "secondary", "tertiary",
	"0", "1", "2", "3",
	"村卫生室", "社区卫生服务中心", "乡镇卫生院",
	"一级", "二级", "三级",
	"一", "二", "三",
};
static const int8 tier_level_of_token[] = {
	TIER_VILLAGE, TIER_PRIMARY, TIER_SECONDARY, TIER_TERTIARY,
	TIER_VILLAGE, TIER_PRIMARY, TIER_SECONDARY, TIER_TERTIARY,
	TIER_VILLAGE, TIER_PRIMARY, TIER_PRIMARY,
	TIER_PRIMARY, TIER_SECONDARY, TIER_TERTIARY,
	TIER_PRIMARY, TIER_SECONDARY, TIER_TERTIARY,
};
/* index of the first token that must be followed by a grade */
#define TIER_FIRST_BARE_DIGIT_TOKEN 14

static const char *const tier_grade_tokens[] = {
	"a", "b", "c", "甲等", "乙等", "丙等", "甲", "乙", "丙",
};
static const int8 tier_grade_of_token[] = {
	TIER_GRADE_A, TIER_GRADE_B, TIER_GRADE_C,
	TIER_GRADE_A, TIER_GRADE_B, TIER_GRADE_C,
	TIER_GRADE_A, TIER_GRADE_B, TIER_GRADE_C,
};

StaticAssertDecl(lengthof(tier_level_tokens) == lengthof(tier_level_of_token),
				 "tier level tables differ in length");
StaticAssertDecl(lengthof(tier_grade_tokens) == lengthof(tier_grade_of_token),
				 "tier grade tables differ in length");

/*
 * Parse a tier literal of len bytes.  Returns false if it is not one.
 */
bool
alliance_tier_parse(const char *str, size_t len, Tier *result)
{
	const unsigned char *p = (const unsigned char *) str;
	const unsigned char *end = p + len;
	size_t		matched;
	int			level_token;
	int			grade_token;
	int			grade = TIER_GRADE_NONE;

	trim(&p, &end);

	level_token = longest_token(p, end, tier_level_tokens,
								lengthof(tier_level_tokens), &matched);
	if (level_token < 0)
		return false;
	p += matched;

	if (p < end)
	{
		/* "3A" needs no separator, but a separator needs a grade after it */
		while (p < end && (*p == ' ' || *p == '-' || *p == '_'))
			p++;
		grade_token = longest_token(p, end, tier_grade_tokens,
									lengthof(tier_grade_tokens), &matched);
		if (grade_token < 0 || p + matched != end)
			return false;
		grade = tier_grade_of_token[grade_token];
	}
	else if (level_token >= TIER_FIRST_BARE_DIGIT_TOKEN)
		return false;

	*result = TIER_MAKE(tier_level_of_token[level_token], grade);
	return true;
}

static const char *const tier_level_names[TIER_LEVELS] = {
	"village", "primary", "secondary", "tertiary"
};
static const char *const tier_level_names_zh[TIER_LEVELS] = {
	"村卫生室", "一级", "二级", "三级"
};
static const char *const tier_grade_names_zh[] = {
	"", "丙等", "乙等", "甲等"
};

/* The grade as 'A', 'B' or 'C', or '\0' when the tier has none */
char
alliance_tier_grade_letter(Tier tier)
{
	static const char letters[] = {'\0', 'C', 'B', 'A'};

	return letters[TIER_GRADE(tier)];
}

/*
 * Write the canonical text of a valid tier into buf (TIER_OUTPUT_SIZE bytes):
 * "tertiary-A", or with chinese "三级甲等".
 */
void
alliance_tier_format(Tier tier, bool chinese, char *buf)
{
	int			level = TIER_LEVEL(tier);

	Assert(TIER_IS_VALID(tier));
	if (chinese)
		snprintf(buf, TIER_OUTPUT_SIZE, "%s%s",
				 tier_level_names_zh[level], tier_grade_names_zh[TIER_GRADE(tier)]);
	else if (TIER_GRADE(tier) == TIER_GRADE_NONE)
		snprintf(buf, TIER_OUTPUT_SIZE, "%s", tier_level_names[level]);
	else
		snprintf(buf, TIER_OUTPUT_SIZE, "%s-%c",
				 tier_level_names[level], alliance_tier_grade_letter(tier));
}

/*
 * The first tier above every tier of t's level when t is level-only (a bound
 * naming a level stands for the whole level), else the next tier; -1 when
 * there is none.
 */
static int
tier_after(Tier t)
{
	int			next = (TIER_GRADE(t) == TIER_GRADE_NONE) ?
		TIER_MAKE(TIER_LEVEL(t) + 1, TIER_GRADE_NONE) : t + 1;

	return next > TIER_MAX ? -1 : next;
}

/*
 * Bring the bounds of a non-empty tier range to the canonical [) form of a
 * discrete range, where an inclusive level-only upper bound and an exclusive
 * level-only lower bound take in, or leave out, the whole level:
 * '[primary,secondary]' becomes '[primary,tertiary)' and so contains
 * secondary-A; an upper bound past tertiary-A becomes unbounded.  Returns
 * false when the range turns out empty (the bounds are then meaningless).
 * Finite bounds must hold valid tiers.
 */
bool
alliance_tier_range_canonicalize(TierBound *lower, TierBound *upper)
{
	if (lower->infinite)
		lower->inclusive = false;
	else if (!lower->inclusive)
	{
		int			next = tier_after(lower->value);

		if (next < 0)
			return false;
		lower->value = (Tier) next;
		lower->inclusive = true;
	}
	if (upper->infinite)
		upper->inclusive = false;
	else if (upper->inclusive)
	{
		int			next = tier_after(upper->value);

		if (next < 0)
		{
			upper->infinite = true;
			upper->value = 0;
		}
		else
			upper->value = (Tier) next;
		upper->inclusive = false;
	}

	/* "(primary,primary-C]" names no tier once the levels are taken whole */
	return lower->infinite || upper->infinite || lower->value < upper->value;
}

/*
 * ICD-10 codes.  Weight of each symbol position: ICD10_RADIX ** (10 - i).
 */
static const int64 icd10_weight[ICD10_SYMBOLS] = {
	INT64CONST(6278211847988224),
	INT64CONST(165216101262848),
	INT64CONST(4347792138496),
	INT64CONST(114415582592),
	INT64CONST(3010936384),
	INT64CONST(79235168),
	INT64CONST(2085136),
	INT64CONST(54872),
	INT64CONST(1444),
	INT64CONST(38),
	INT64CONST(1),
};

/* Symbol of a digit or letter (either case), or 0 */
static int
icd10_symbol(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return 1 + (c - '0');
	c = fold(c);
	if (c >= 'a' && c <= 'z')
		return 11 + (c - 'a');
	return 0;
}

static char
icd10_symbol_char(int symbol)
{
	if (symbol >= 1 && symbol <= 10)
		return '0' + (symbol - 1);
	if (symbol >= 11 && symbol <= 36)
		return 'A' + (symbol - 11);
	if (symbol == ICD10_PLACEHOLDER)
		return 'x';
	return '?';
}

static int
icd10_symbol_at(Icd10 code, int i)
{
	return (int) ((code / icd10_weight[i]) % ICD10_RADIX);
}

/*
 * Parse an ICD-10 code: a letter, a digit, a digit or letter, then optionally
 * a dot and 1 to 8 digits or letters ("I21.401", "I10.x00x002"); without the
 * dot the extension follows directly ("I210" is I21.0).  In the extension an
 * x of either case is the clinical version's placeholder.
 */
bool
alliance_icd10_parse(const char *str, size_t len, Icd10 *result)
{
	const unsigned char *p = (const unsigned char *) str;
	const unsigned char *end = p + len;
	int			symbols[ICD10_SYMBOLS] = {0};
	int			n;
	Icd10		code = 0;

	trim(&p, &end);
	if (end - p < ICD10_CATEGORY_SYMBOLS)
		return false;

	symbols[0] = icd10_symbol(p[0]);
	symbols[1] = icd10_symbol(p[1]);
	symbols[2] = icd10_symbol(p[2]);
	if (symbols[0] < 11 || symbols[1] < 1 || symbols[1] > 10 || symbols[2] == 0)
		return false;
	p += ICD10_CATEGORY_SYMBOLS;

	if (p < end && *p == '.')
	{
		p++;
		if (p == end)
			return false;
	}
	for (n = ICD10_CATEGORY_SYMBOLS; p < end; n++, p++)
	{
		if (n == ICD10_SYMBOLS)
			return false;
		if (fold(*p) == 'x')
			symbols[n] = ICD10_PLACEHOLDER;
		else if ((symbols[n] = icd10_symbol(*p)) == 0)
			return false;
	}

	for (int i = 0; i < ICD10_SYMBOLS; i++)
		code += symbols[i] * icd10_weight[i];
	*result = code;
	return true;
}

/* Number of symbols in the code (3 to 11) */
int
alliance_icd10_length(Icd10 code)
{
	int			n = ICD10_SYMBOLS;

	while (n > 0 && icd10_symbol_at(code, n - 1) == 0)
		n--;
	return n;
}

/*
 * Write the canonical text into buf (ICD10_OUTPUT_SIZE bytes): upper case,
 * a dot before the extension, the placeholder as 'x'.
 */
void
alliance_icd10_format(Icd10 code, char *buf)
{
	int			n = alliance_icd10_length(code);
	char	   *p = buf;

	for (int i = 0; i < n; i++)
	{
		if (i == ICD10_CATEGORY_SYMBOLS)
			*p++ = '.';
		*p++ = icd10_symbol_char(icd10_symbol_at(code, i));
	}
	*p = '\0';
}

/* The code cut to its first nsymbols symbols (3: its category) */
Icd10
alliance_icd10_prefix(Icd10 code, int nsymbols)
{
	int64		unit;

	Assert(nsymbols >= 1 && nsymbols <= ICD10_SYMBOLS);
	unit = icd10_weight[nsymbols - 1];
	return code - code % unit;
}

/* The greatest code of which code is a prefix: "I21" gives "I21.xxxxxxxx" */
Icd10
alliance_icd10_prefix_last(Icd10 code)
{
	int			n = alliance_icd10_length(code);

	if (n == ICD10_SYMBOLS)
		return code;
	return code + icd10_weight[n - 1] - 1;
}

/* Does code lie within category: is category a prefix of code? */
bool
alliance_icd10_within(Icd10 code, Icd10 category)
{
	return code >= category && code <= alliance_icd10_prefix_last(category);
}

/*
 * WHO ICD-10 chapter (1-22) of a code: the chapter whose first category is the
 * greatest one not after the code's category.  Every category gets a chapter,
 * including national and ICD-10-CM additions between WHO's blocks (C7A, D49).
 */
int
alliance_icd10_chapter_of(Icd10 code)
{
	static const struct
	{
		char		first[4];
		int			chapter;
	}			chapters[] = {
		{"A00", 1}, {"C00", 2}, {"D50", 3}, {"E00", 4}, {"F00", 5},
		{"G00", 6}, {"H00", 7}, {"H60", 8}, {"I00", 9}, {"J00", 10},
		{"K00", 11}, {"L00", 12}, {"M00", 13}, {"N00", 14}, {"O00", 15},
		{"P00", 16}, {"Q00", 17}, {"R00", 18}, {"S00", 19}, {"U00", 22},
		{"V00", 20}, {"Z00", 21},
	};
	char		category[ICD10_OUTPUT_SIZE];
	int			chapter = chapters[0].chapter;

	/* digits sort before letters in both the ASCII and the symbol order */
	alliance_icd10_format(alliance_icd10_prefix(code, ICD10_CATEGORY_SYMBOLS), category);
	for (int i = 0; i < lengthof(chapters); i++)
	{
		if (strncmp(category, chapters[i].first, ICD10_CATEGORY_SYMBOLS) < 0)
			break;
		chapter = chapters[i].chapter;
	}
	return chapter;
}

/*
 * Is host (hostlen bytes) one of the comma-separated names of list?  Names
 * compare case-insensitively, ignoring surrounding spaces and the brackets
 * of an IPv6 literal ("[::1]" matches "::1").
 */
bool
alliance_host_in_list(const char *list, const char *host, size_t hostlen)
{
	const char *p = list;

	if (hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']')
	{
		host++;
		hostlen -= 2;
	}
	while (*p != '\0')
	{
		const char *start;
		const char *end;
		size_t		i;

		while (*p == ' ' || *p == ',')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && end[-1] == ' ')
			end--;
		if (end - start >= 2 && start[0] == '[' && end[-1] == ']')
		{
			start++;
			end--;
		}
		if ((size_t) (end - start) != hostlen || hostlen == 0)
			continue;
		for (i = 0; i < hostlen; i++)
			if (fold((unsigned char) start[i]) != fold((unsigned char) host[i]))
				break;
		if (i == hostlen)
			return true;
	}
	return false;
}

/*
 * Durations: a number (digits, with at most one decimal point) and a unit,
 * ms, s, min, h or d (seconds without one), spaces allowed around both; at
 * most a year.  Sets *seconds and returns the bytes read from p, or 0.
 */
#define DURATION_MAX_SECONDS (366.0 * 24 * 3600)

static size_t
duration_parse(const unsigned char *p, const unsigned char *end, double *seconds)
{
	static const char *const units[] = {"ms", "s", "min", "h", "d"};
	static const double factors[] = {0.001, 1, 60, 3600, 86400};
	const unsigned char *start = p;
	double		value = 0;
	double		scale = 0;		/* 0 before the decimal point */
	int			digits = 0;
	size_t		matched;
	int			unit;

	while (p < end && *p == ' ')
		p++;
	for (; p < end && ((*p >= '0' && *p <= '9') || (*p == '.' && scale == 0)); p++)
	{
		if (*p == '.')
		{
			scale = 1;
			continue;
		}
		if (++digits > 12)
			return 0;
		if (scale == 0)
			value = value * 10 + (*p - '0');
		else
			value += (*p - '0') * (scale /= 10);
	}
	if (digits == 0)
		return 0;
	while (p < end && *p == ' ')
		p++;
	unit = longest_token(p, end, units, lengthof(units), &matched);
	p += matched;
	value *= unit < 0 ? 1 : factors[unit];
	while (p < end && *p == ' ')
		p++;
	if (value > DURATION_MAX_SECONDS)
		return 0;
	*seconds = value;
	return p - start;
}

/*
 * A comma-separated list of durations ("0,5s,5min,2h") into seconds[],
 * at most max of them; false if it is empty, malformed or too long.
 */
bool
alliance_duration_list_parse(const char *str, size_t len, double *seconds, int max, int *n)
{
	const unsigned char *p = (const unsigned char *) str;
	const unsigned char *end = p + len;

	*n = 0;
	for (;;)
	{
		size_t		used;

		if (*n == max)
			return false;
		used = duration_parse(p, end, &seconds[*n]);
		if (used == 0)
			return false;
		(*n)++;
		p += used;
		if (p == end)
			return true;
		if (*p != ',')
			return false;
		p++;
	}
}

/*
 * An HTTP Retry-After header in delay-seconds form (RFC 9110: 1*DIGIT), with
 * surrounding white space; false for anything else (the HTTP-date form is
 * the caller's).  Values past a year are capped at a year.
 */
bool
alliance_retry_after_seconds(const char *str, size_t len, double *seconds)
{
	const unsigned char *p = (const unsigned char *) str;
	const unsigned char *end = p + len;
	double		value = 0;

	trim(&p, &end);
	if (p == end)
		return false;
	for (; p < end; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		value = Min(value * 10 + (*p - '0'), DURATION_MAX_SECONDS);
	}
	*seconds = value;
	return true;
}
