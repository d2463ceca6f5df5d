/*
 * fuzz.h
 *	  What the fuzz targets of test/fuzz share.  Each target defines
 *	  LLVMFuzzerTestOneInput; test/fuzz/fuzz.sh links it with libFuzzer to fuzz,
 *	  or with replay.c to run a corpus once (make test, no clang needed).
 *
 * A target checks properties of the parser, not only that it returns: a
 * violated one prints what failed and aborts, which libFuzzer reports as a
 * crash and keeps the input.
 */
#ifndef ALLIANCE_FUZZ_H
#define ALLIANCE_FUZZ_H

#include "postgres_fe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "parse.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/*
 * A heap copy of exactly len bytes, with no terminator after them, so that
 * AddressSanitizer catches a parser reading past the length it was given.
 */
static inline char *
exact_copy(const void *data, size_t len)
{
	char	   *copy = malloc(len > 0 ? len : 1);

	CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, data, len);
	return copy;
}

/* A heap copy of len bytes plus a terminator (a C string, cut at any NUL) */
static inline char *
string_copy(const void *data, size_t len)
{
	char	   *copy = malloc(len + 1);

	CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, data, len);
	copy[len] = '\0';
	return copy;
}

/* Concatenation of three byte strings, as a heap copy without terminator */
static inline char *
concat3(const char *a, size_t alen, const char *b, size_t blen,
		const char *c, size_t clen, size_t *len)
{
	char	   *s = malloc(alen + blen + clen + 1);

	CHECK(s != NULL);
	memcpy(s, a, alen);
	memcpy(s + alen, b, blen);
	memcpy(s + alen + blen, c, clen);
	*len = alen + blen + clen;
	return s;
}

/* ASCII case change of a heap copy; other bytes (UTF-8) unchanged */
static inline char *
ascii_case_copy(const char *s, size_t len, bool upper)
{
	char	   *copy = exact_copy(s, len);

	for (size_t i = 0; i < len; i++)
	{
		if (upper && copy[i] >= 'a' && copy[i] <= 'z')
			copy[i] -= 'a' - 'A';
		else if (!upper && copy[i] >= 'A' && copy[i] <= 'Z')
			copy[i] += 'a' - 'A';
	}
	return copy;
}

/*
 * A buffer of size bytes filled with a non-zero pattern, so a formatter that
 * leaves out the terminator is seen.
 */
static inline char *
format_buffer(size_t size)
{
	char	   *buf = malloc(size);

	CHECK(buf != NULL);
	memset(buf, 0x5A, size);
	return buf;
}

/* Is there a terminator within the buffer's size? */
#define TERMINATED(buf, size)	(memchr((buf), '\0', (size)) != NULL)

#endif							/* ALLIANCE_FUZZ_H */
