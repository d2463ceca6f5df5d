/*
 * fuzz_webhook_url.c
 *	  Webhook URLs: alliance_webhook_url_verdict (libcurl's URL parser, alliance_host_in_list,
 *	  alliance_host_internal_class) and the classification of internal addresses.
 *
 * The input is a URL, or a host list, '\n' and a URL (else the default list,
 * "localhost,127.0.0.1,::1").  Properties: each verdict comes with what it
 * promises (a reason, or the host not in the list); a refused plain-http or
 * internal host is allowed once it is in the list, and is refused by an
 * empty list; more hosts never refuse an allowed URL, and an allowed http URL
 * has its host in the list; a host the classifier calls internal (read here
 * again, with inet_aton/inet_pton as the resolver would) is never allowed
 * unless listed; an IPv4 address and its IPv4-mapped, NAT64 and 6to4 IPv6
 * forms are classed alike; the URL as libcurl rewrites it gets the same
 * verdict; nothing leaks (LeakSanitizer).
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#define DEFAULT_LIST "localhost,127.0.0.1,::1"

/* a C string: a, a comma, b */
static char *
list_plus(const char *a, const char *b)
{
	size_t		len;

	return concat3(a, strlen(a), ",", 1, b, strlen(b) + 1, &len);
}

/* The verdict, checking what it promises; *host is the caller's to free */
static WebhookUrlVerdict
verdict(const char *url, const char *hosts, char **host)
{
	const char *problem = "unset";
	WebhookUrlVerdict v;

	*host = (char *) "unset";
	v = alliance_webhook_url_verdict(url, hosts, &problem, host);
	switch (v)
	{
		case WEBHOOK_URL_ALLOWED:
		case WEBHOOK_URL_NO_MEMORY:
			CHECK(problem == NULL && *host == NULL);
			break;
		case WEBHOOK_URL_REFUSED:
			CHECK(problem != NULL && strlen(problem) > 0 && *host == NULL);
			break;
		case WEBHOOK_URL_PLAIN_HTTP:
			CHECK(problem == NULL && *host != NULL && (*host)[0] != '\0');
			CHECK(!alliance_webhook_host_listed(hosts, *host));
			break;
		case WEBHOOK_URL_INTERNAL:
			CHECK(problem != NULL && strlen(problem) > 0 && *host != NULL && (*host)[0] != '\0');
			CHECK(!alliance_webhook_host_listed(hosts, *host));
			CHECK(alliance_host_internal_class(*host) == problem);
			break;
		default:
			CHECK(!"verdict out of range");
	}
	return v;
}

/* The host of a URL as libcurl's URL API gives it, or NULL */
static char *
host_of(const char *url)
{
	CURLU	   *handle = curl_url();
	char	   *host = NULL;

	CHECK(handle != NULL);
	if (curl_url_set(handle, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_get(handle, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		host = NULL;
	curl_url_cleanup(handle);
	return host;
}

/*
 * Is a host, read independently of the classifier (brackets, a zone and
 * trailing dots dropped, then inet_pton or inet_aton), an address in one of
 * the ranges that must never be reached unlisted?  A spot oracle over the
 * ranges the issue names, not the classifier's whole table.
 */
static bool
obviously_internal(const char *host)
{
	char		buf[128];
	size_t		len = strlen(host);
	unsigned char a6[16];
	struct in_addr in;
	const unsigned char *a;

	if (len >= sizeof(buf))
		return false;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
	{
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		if (strchr(buf, '%'))
			*strchr(buf, '%') = '\0';
	}
	else
	{
		memcpy(buf, host, len + 1);
		while (len > 0 && buf[len - 1] == '.')
			buf[--len] = '\0';
	}
	if (inet_pton(AF_INET6, buf, a6) == 1)
	{
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		static const unsigned char zero[15] = {0};

		if (memcmp(a6, zero, 15) == 0)
			return true;		/* :: and ::1 */
		if (a6[0] == 0xfe && (a6[1] & 0xC0) == 0x80)
			return true;		/* fe80::/10 */
		if ((a6[0] & 0xFE) == 0xfc || a6[0] == 0xff)
			return true;		/* fc00::/7, multicast */
		if (memcmp(a6, mapped, 12) != 0 && memcmp(a6, zero, 12) != 0)
			return false;
		a = a6 + 12;			/* IPv4-mapped or -compatible */
	}
	else if (inet_aton(buf, &in) != 0)
		a = (const unsigned char *) &in.s_addr;
	else
		return false;
	return a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
		(a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xF0) == 16) ||
		(a[0] == 192 && a[1] == 168) || (a[0] == 100 && (a[1] & 0xC0) == 64);
}

/* An IPv4 address is classed as its IPv6 forms that carry it */
static void
check_ipv6_forms(const unsigned char *v4)
{
	const char *class = alliance_address_internal_class(AF_INET, v4);
	unsigned char a[16] = {0};

	a[10] = a[11] = 0xff;
	memcpy(a + 12, v4, 4);
	CHECK(alliance_address_internal_class(AF_INET6, a) == class);	/* ::ffff:a.b.c.d */
	memset(a, 0, 16);
	a[1] = 0x64;
	a[2] = 0xff;
	a[3] = 0x9b;
	memcpy(a + 12, v4, 4);
	CHECK(alliance_address_internal_class(AF_INET6, a) == class);	/* 64:ff9b::a.b.c.d */
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x02;
	memcpy(a + 2, v4, 4);
	CHECK(alliance_address_internal_class(AF_INET6, a) == class);	/* 2002:a.b.c.d:: */
	memset(a, 0, 16);
	memcpy(a + 12, v4, 4);
	CHECK(alliance_address_internal_class(AF_INET6, a) != NULL);	/* ::a.b.c.d */
}

/* The URL as libcurl writes it back after parsing it, or NULL */
static char *
rewritten(const char *url)
{
	CURLU	   *handle = curl_url();
	char	   *out = NULL;

	CHECK(handle != NULL);
	if (curl_url_set(handle, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_get(handle, CURLUPART_URL, &out, 0) != CURLUE_OK)
		out = NULL;
	curl_url_cleanup(handle);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *newline = memchr(data, '\n', size);
	char	   *hosts;
	char	   *url;
	char	   *host;
	char	   *none_host;
	char	   *other_host;
	char	   *other;
	WebhookUrlVerdict v;
	WebhookUrlVerdict none;

	if (newline)
	{
		hosts = string_copy(data, newline - (const char *) data);
		url = string_copy(newline + 1, size - (newline - (const char *) data) - 1);
	}
	else
	{
		hosts = string_copy(DEFAULT_LIST, strlen(DEFAULT_LIST));
		url = string_copy(data, size);
	}

	v = verdict(url, hosts, &host);
	none = verdict(url, "", &none_host);
	if (v == WEBHOOK_URL_NO_MEMORY || none == WEBHOOK_URL_NO_MEMORY)
		goto done;

	/* the list decides only between allowed, plain http and internal */
	CHECK((v == WEBHOOK_URL_REFUSED) == (none == WEBHOOK_URL_REFUSED));
	if (v == WEBHOOK_URL_PLAIN_HTTP)
		CHECK(none == WEBHOOK_URL_PLAIN_HTTP && strcmp(host, none_host) == 0);
	if (v == WEBHOOK_URL_INTERNAL)
		CHECK(none == WEBHOOK_URL_INTERNAL && strcmp(host, none_host) == 0);
	if (v == WEBHOOK_URL_ALLOWED && none != WEBHOOK_URL_ALLOWED)
		CHECK(alliance_webhook_host_listed(hosts, none_host));

	/* an internal host is never allowed unless listed */
	if (v != WEBHOOK_URL_REFUSED)
	{
		char	   *h = host_of(url);
		struct in_addr in;

		CHECK(h != NULL);
		if (alliance_host_internal_class(h) != NULL || obviously_internal(h))
			CHECK(v == WEBHOOK_URL_INTERNAL || alliance_webhook_host_listed(hosts, h));
		if (obviously_internal(h))
			CHECK(none == WEBHOOK_URL_INTERNAL);
		if (inet_aton(h, &in) != 0)
			check_ipv6_forms((const unsigned char *) &in.s_addr);
		curl_free(h);
	}

	/* a refused host, once listed, is allowed (if a list can name it) */
	if ((v == WEBHOOK_URL_PLAIN_HTTP || v == WEBHOOK_URL_INTERNAL) && !strchr(host, ',') &&
		host[0] != ' ' && host[strlen(host) - 1] != ' ')
	{
		other = list_plus(hosts, host);
		CHECK(verdict(url, other, &other_host) == WEBHOOK_URL_ALLOWED);
		free(other);
	}

	/* more hosts never refuse */
	if (v == WEBHOOK_URL_ALLOWED)
	{
		other = list_plus(hosts, "example.invalid");
		CHECK(verdict(url, other, &other_host) == WEBHOOK_URL_ALLOWED);
		free(other);
	}

	/* the URL libcurl would send gets the same verdict */
	if (v != WEBHOOK_URL_REFUSED)
	{
		char	   *again = rewritten(url);

		CHECK(again != NULL);
		CHECK(verdict(again, hosts, &other_host) == v);
		curl_free(other_host);
		curl_free(again);
	}

done:
	curl_free(host);
	curl_free(none_host);
	free(hosts);
	free(url);
	return 0;
}
