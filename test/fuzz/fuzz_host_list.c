/*
 * fuzz_host_list.c
 *	  Host lists (alliance.http_hosts): alliance_host_in_list.
 *
 * The input is a host, then optionally '\n' and a list (else the default
 * list, "localhost,127.0.0.1,::1").  Properties: nothing is in an empty
 * list; adding names to a list never removes a host from it; a plain host
 * is in the list made of itself, bracketed or not, in either ASCII case,
 * with spaces and empty names around.
 */
#include "fuzz.h"

#define DEFAULT_LIST "localhost,127.0.0.1,::1"

/* alliance_host_in_list with the host as exactly hostlen bytes */
static bool
in_list(const char *list, const char *host, size_t hostlen)
{
	char	   *copy = exact_copy(host, hostlen);
	bool		in = alliance_host_in_list(list, copy, hostlen);

	free(copy);
	return in;
}

/* a C string of a, b and c */
static char *
join(const char *a, const char *b, size_t blen, const char *c)
{
	size_t		len;
	char	   *s = concat3(a, strlen(a), b, blen, c, strlen(c) + 1, &len);

	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *host = (const char *) data;
	const char *newline = memchr(host, '\n', size);
	size_t		hostlen = newline ? (size_t) (newline - host) : size;
	char	   *list = newline ? string_copy(newline + 1, size - hostlen - 1)
		: string_copy(DEFAULT_LIST, strlen(DEFAULT_LIST));
	bool		in = in_list(list, host, hostlen);
	const char *bare = host;
	size_t		barelen = hostlen;
	char	   *other;

	CHECK(!in_list("", host, hostlen));
	CHECK(!in_list(" , ,, ", host, hostlen));

	/* more names never take one away */
	other = join(list, ",", 1, "example.invalid");
	CHECK(!in || in_list(other, host, hostlen));
	free(other);
	other = join("[::2], ", "", 0, list);
	CHECK(!in || in_list(other, host, hostlen));
	free(other);

	/* the host without the brackets of an IPv6 literal */
	if (hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']')
		bare++, barelen -= 2;

	/*
	 * A name that can stand in a list as it is: not empty, no comma or NUL,
	 * no space at either end, not itself in brackets.
	 */
	if (barelen > 0 && !memchr(bare, ',', barelen) && !memchr(bare, '\0', barelen) &&
		bare[0] != ' ' && bare[barelen - 1] != ' ' &&
		!(barelen >= 2 && bare[0] == '[' && bare[barelen - 1] == ']'))
	{
		char	   *upper = ascii_case_copy(bare, barelen, true);

		other = join("", bare, barelen, "");
		CHECK(in_list(other, host, hostlen));
		free(other);
		other = join(" ,, a.invalid , [", upper, barelen, "] ,");
		CHECK(in_list(other, host, hostlen));
		CHECK(in_list(other, upper, barelen));
		free(other);
		other = join(list, ",", 1, "");
		other = realloc(other, strlen(other) + barelen + 1);
		CHECK(other != NULL);
		strncat(other, upper, barelen);
		CHECK(in_list(other, host, hostlen));
		free(other);
		free(upper);
	}
	free(list);
	return 0;
}
