/*
 * fuzz_icd10.c
 *	  alliance.icd10 codes: alliance_icd10_parse, alliance_icd10_format, alliance_icd10_length,
 *	  alliance_icd10_prefix, alliance_icd10_prefix_last, alliance_icd10_within, alliance_icd10_chapter_of.
 *
 * The input is one code, or two separated by '|' (which no code contains).
 * Properties: a parsed code's text fits ICD10_OUTPUT_SIZE, is terminated and
 * parses back to it; white space and ASCII case change nothing; prefixes are
 * the text's prefixes; and for two codes, integer order is the order of the
 * canonical text and alliance_icd10_within is "the text starts with".
 */
#include "fuzz.h"

/* alliance_icd10_parse of exactly len bytes */
static bool
parse(const char *s, size_t len, Icd10 *code)
{
	char	   *copy = exact_copy(s, len);
	bool		ok = alliance_icd10_parse(copy, len, code);

	free(copy);
	return ok;
}

/* The canonical text, in a heap buffer of ICD10_OUTPUT_SIZE bytes */
static char *
format(Icd10 code)
{
	char	   *buf = format_buffer(ICD10_OUTPUT_SIZE);

	alliance_icd10_format(code, buf);
	CHECK(TERMINATED(buf, ICD10_OUTPUT_SIZE));
	return buf;
}

static int
sign(int64 x)
{
	return (x > 0) - (x < 0);
}

/* Parse s (len bytes) and check what holds of one code; false if invalid */
static bool
check_one(const char *s, size_t len, Icd10 *result)
{
	Icd10		code;
	Icd10		again;
	bool		ok = parse(s, len, &code);
	char	   *text;
	char	   *other;
	size_t		otherlen;
	int			n;

	/* white space and case */
	other = concat3(" \t", 2, s, len, "\xE3\x80\x80", 3, &otherlen);
	CHECK(parse(other, otherlen, &again) == ok && (!ok || again == code));
	free(other);
	other = ascii_case_copy(s, len, true);
	CHECK(parse(other, len, &again) == ok && (!ok || again == code));
	free(other);
	other = ascii_case_copy(s, len, false);
	CHECK(parse(other, len, &again) == ok && (!ok || again == code));
	free(other);

	if (!ok)
		return false;

	CHECK(code >= 0);
	n = alliance_icd10_length(code);
	CHECK(n >= ICD10_CATEGORY_SYMBOLS && n <= ICD10_SYMBOLS);

	text = format(code);
	CHECK(strlen(text) == (size_t) n + (n > ICD10_CATEGORY_SYMBOLS ? 1 : 0));
	CHECK(parse(text, strlen(text), &again) && again == code);
	/* the dotless spelling is the same code */
	if (n > ICD10_CATEGORY_SYMBOLS)
	{
		other = concat3(text, 3, text + 4, strlen(text) - 4, "", 0, &otherlen);
		CHECK(parse(other, otherlen, &again) && again == code);
		free(other);
	}

	/* prefixes: cutting the code is cutting its text */
	for (int k = ICD10_CATEGORY_SYMBOLS; k <= ICD10_SYMBOLS; k++)
	{
		Icd10		prefix = alliance_icd10_prefix(code, k);
		char	   *ptext = format(prefix);
		size_t		plen = strlen(ptext);

		CHECK(prefix <= code);
		CHECK(alliance_icd10_within(code, prefix));
		CHECK(alliance_icd10_prefix_last(prefix) >= code);
		CHECK(plen <= strlen(text) && memcmp(ptext, text, plen) == 0);
		CHECK(alliance_icd10_length(prefix) == Min(k, n));
		CHECK(k < n || prefix == code);
		free(ptext);
	}
	CHECK(alliance_icd10_prefix_last(code) >= code);
	CHECK(alliance_icd10_prefix_last(alliance_icd10_prefix_last(code)) == alliance_icd10_prefix_last(code));

	n = alliance_icd10_chapter_of(code);
	CHECK(n >= 1 && n <= 22);
	CHECK(n == alliance_icd10_chapter_of(alliance_icd10_prefix(code, ICD10_CATEGORY_SYMBOLS)));

	free(text);
	*result = code;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	const char *bar = memchr(s, '|', size);
	Icd10		a;
	Icd10		b;
	bool		a_ok;
	bool		b_ok;

	if (bar == NULL)
	{
		check_one(s, size, &a);
		return 0;
	}
	a_ok = check_one(s, bar - s, &a);
	b_ok = check_one(bar + 1, size - (bar - s) - 1, &b);
	if (a_ok && b_ok)
	{
		char	   *ta = format(a);
		char	   *tb = format(b);
		size_t		lb = strlen(tb);

		CHECK(sign(a - b) == sign(strcmp(ta, tb)));
		CHECK(alliance_icd10_within(a, b) == (strlen(ta) >= lb && memcmp(ta, tb, lb) == 0));
		free(ta);
		free(tb);
	}
	return 0;
}
