/*-------------------------------------------------------------------------
 *
 * webhook_url.c
 *	  Which URLs and addresses may receive webhooks: alliance_webhook_check_url's
 *	  decision and the classification of internal addresses, as plain C.
 *
 * Registration and the sender's check of the address actually connected to
 * both use them; being plain functions, they are fuzzed (test/fuzz) with the
 * libcurl that will send.
 *
 * No backend calls and no allocation beyond libcurl's own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "parse.h"

/* What the classes are called, in "its host ... is %s" */
#define LOOPBACK		"a loopback address"
#define PRIVATE			"a private address"
#define LINK_LOCAL		"a link-local address"
#define SHARED			"a shared (carrier-grade NAT) address"
#define MULTICAST		"a multicast address"
#define UNSPECIFIED		"an unspecified address"
#define RESERVED		"a reserved address"
#define DOCUMENTATION	"a documentation address"
#define BENCHMARKING	"a benchmarking address"

/* The class of an IPv4 address (4 bytes, network order), or NULL if public */
static const char *
ipv4_class(const unsigned char *a)
{
	if (a[0] == 0)
		return UNSPECIFIED;		/* 0.0.0.0/8, "this network" */
	if (a[0] == 10)
		return PRIVATE;
	if (a[0] == 100 && (a[1] & 0xC0) == 64)
		return SHARED;			/* 100.64.0.0/10 */
	if (a[0] == 127)
		return LOOPBACK;
	if (a[0] == 169 && a[1] == 254)
		return LINK_LOCAL;
	if (a[0] == 172 && (a[1] & 0xF0) == 16)
		return PRIVATE;			/* 172.16.0.0/12 */
	if (a[0] == 192 && a[1] == 0 && a[2] == 0)
		return RESERVED;		/* 192.0.0.0/24, IETF protocol assignments */
	if (a[0] == 192 && a[1] == 0 && a[2] == 2)
		return DOCUMENTATION;
	if (a[0] == 192 && a[1] == 168)
		return PRIVATE;
	if (a[0] == 198 && (a[1] & 0xFE) == 18)
		return BENCHMARKING;	/* 198.18.0.0/15 */
	if (a[0] == 198 && a[1] == 51 && a[2] == 100)
		return DOCUMENTATION;
	if (a[0] == 203 && a[1] == 0 && a[2] == 113)
		return DOCUMENTATION;
	if (a[0] >= 224 && a[0] <= 239)
		return MULTICAST;
	if (a[0] >= 240)
		return RESERVED;		/* 240.0.0.0/4 and the broadcast address */
	return NULL;
}

/* Are the n bytes at p all zero? */
static bool
zeros(const unsigned char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * The class of an IPv6 address (16 bytes), or NULL if public.  The forms
 * that carry an IPv4 address (mapped, translated, NAT64, 6to4) have its class.
 */
static const char *
ipv6_class(const unsigned char *a)
{
	static const unsigned char nat64[] = {0x00, 0x64, 0xff, 0x9b};

	if (zeros(a, 16))
		return UNSPECIFIED;
	if (zeros(a, 15) && a[15] == 1)
		return LOOPBACK;
	if (zeros(a, 10) && a[10] == 0xff && a[11] == 0xff)
		return ipv4_class(a + 12); /* ::ffff:a.b.c.d, IPv4-mapped */
	if (zeros(a, 12))
		return RESERVED;		/* ::a.b.c.d, IPv4-compatible (deprecated) */
	if (zeros(a, 8) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0)
		return ipv4_class(a + 12); /* ::ffff:0:a.b.c.d, IPv4-translated */
	if (memcmp(a, nat64, 4) == 0 && zeros(a + 4, 8))
		return ipv4_class(a + 12); /* 64:ff9b::/96, NAT64 */
	if (memcmp(a, nat64, 4) == 0 && a[4] == 0 && a[5] == 1)
		return PRIVATE;			/* 64:ff9b:1::/48, local-use NAT64 */
	if (a[0] == 0x20 && a[1] == 0x02)
		return ipv4_class(a + 2);	/* 2002::/16, 6to4 */
	if (a[0] == 0x01 && a[1] == 0x00 && zeros(a + 2, 6))
		return RESERVED;		/* 100::/64, discard-only */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return DOCUMENTATION;	/* 2001:db8::/32 */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] <= 0x01)
		return RESERVED;		/* 2001::/23, IETF protocol assignments, Teredo */
	if ((a[0] & 0xFE) == 0xfc)
		return PRIVATE;			/* fc00::/7, unique local */
	if (a[0] == 0xfe && (a[1] & 0xC0) == 0x80)
		return LINK_LOCAL;		/* fe80::/10 */
	if (a[0] == 0xfe && (a[1] & 0xC0) == 0xC0)
		return PRIVATE;			/* fec0::/10, site-local (deprecated) */
	if (a[0] == 0xff)
		return MULTICAST;
	return NULL;
}

/*
 * Is an address internal, one a webhook may reach only when its host is in
 * alliance.http_hosts?  family is AF_INET (addr: 4 bytes) or AF_INET6 (16
 * bytes), in network order.  Returns the address's class, a static sentence
 * fragment ("a loopback address"), or NULL for a public address; any other
 * family is internal.
 */
const char *
alliance_address_internal_class(int family, const unsigned char *addr)
{
	if (family == AF_INET)
		return ipv4_class(addr);
	if (family == AF_INET6)
		return ipv6_class(addr);
	return "an address of an unknown family";
}

/*
 * Is a URL's host (as libcurl's URL API gives it: IPv6 bracketed, IPv4 already
 * normalised where libcurl does so) internal?  A literal address is read the
 * way the resolver reads it: inet_pton for IPv6, inet_aton (which takes every
 * legacy IPv4 form: 2130706433, 0x7f.1, 0177.0.0.1, 127.1) for IPv4, trailing
 * dots ignored.  The names localhost and *.localhost (RFC 6761) are internal
 * too.  The class as alliance_address_internal_class gives it, or NULL for a
 * name or a public address (a name is checked again when the sender connects).
 */
const char *
alliance_host_internal_class(const char *host)
{
	size_t		len = strlen(host);
	char		buf[64];
	unsigned char addr[16];
	struct in_addr in;
	static const char localhost[] = "localhost";
	const size_t lhlen = sizeof(localhost) - 1;

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
	{
		size_t		n = len - 2;
		char	   *zone;

		if (n >= sizeof(buf))
			return NULL;
		memcpy(buf, host + 1, n);
		buf[n] = '\0';
		if ((zone = strchr(buf, '%')) != NULL)
			*zone = '\0';
		if (inet_pton(AF_INET6, buf, addr) == 1)
			return ipv6_class(addr);
		return NULL;
	}

	while (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0)
		return NULL;
	if (len < sizeof(buf))
	{
		memcpy(buf, host, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET6, buf, addr) == 1)
			return ipv6_class(addr);
		if (inet_aton(buf, &in) != 0)
			return ipv4_class((const unsigned char *) &in.s_addr);
	}
	if ((len == lhlen && pg_strncasecmp(host, localhost, lhlen) == 0) ||
		(len > lhlen && host[len - lhlen - 1] == '.' &&
		 pg_strncasecmp(host + len - lhlen, localhost, lhlen) == 0))
		return "a localhost name";
	return NULL;
}

/*
 * Is host (as libcurl's URL API gives it) a host name (letters, digits, '-',
 * '.', '_', and UTF-8 for an internationalised name) or a bracketed IPv6
 * literal?  libcurl's parser lets through hosts no resolver takes ('%', '!',
 * control characters) and writes them back as URLs it refuses to parse.
 */
static bool
plausible_host(const char *host)
{
	size_t		len = strlen(host);
	char		buf[64];
	unsigned char addr[16];

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
	{
		if (len - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		return inet_pton(AF_INET6, buf, addr) == 1;
	}
	for (const unsigned char *p = (const unsigned char *) host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			  *p >= 0x80))
			return false;
	return true;
}

/*
 * Is host (as libcurl's URL API gives it) in http_hosts?  By its text (see
 * alliance_host_in_list), or, for a literal address, by the address's
 * canonical text (so that 0x7f.1 and 127.0.0.1. are 127.0.0.1 if listed, as
 * they are the same address to the resolver).
 */
bool
alliance_webhook_host_listed(const char *http_hosts, const char *host)
{
	size_t		len = strlen(host);
	char		buf[64];
	char		canonical[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	struct in_addr in;

	if (alliance_host_in_list(http_hosts, host, len))
		return true;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
	{
		host++;
		len -= 2;
	}
	else
		while (len > 0 && host[len - 1] == '.')
			len--;
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, addr) == 1)
	{
		if (inet_ntop(AF_INET6, addr, canonical, sizeof(canonical)) == NULL)
			return false;
	}
	else if (inet_aton(buf, &in) != 0)
	{
		if (inet_ntop(AF_INET, &in, canonical, sizeof(canonical)) == NULL)
			return false;
	}
	else
		return false;
	return alliance_host_in_list(http_hosts, canonical, strlen(canonical));
}

/*
 * May url (a C string) receive webhooks?  It must parse (libcurl's parser, the
 * one that will send), be https, or http to a host of http_hosts (a
 * comma-separated list, see alliance_webhook_host_listed), carry no
 * credentials, and have a host that is not an internal address
 * (alliance_host_internal_class) unless that host is in http_hosts.  On
 * WEBHOOK_URL_REFUSED, *problem is a static sentence fragment saying why; on
 * WEBHOOK_URL_INTERNAL, *problem is the class of the host; on
 * WEBHOOK_URL_PLAIN_HTTP and WEBHOOK_URL_INTERNAL, *host is the URL's host,
 * which the caller frees with curl_free().
 */
WebhookUrlVerdict
alliance_webhook_url_verdict(const char *url, const char *http_hosts,
					const char **problem, char **host)
{
	CURLU	   *handle = curl_url();
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *urlhost = NULL;
	char	   *user = NULL;
	const char *internal;
	WebhookUrlVerdict verdict = WEBHOOK_URL_REFUSED;

	*problem = NULL;
	*host = NULL;
	if (handle == NULL)
		return WEBHOOK_URL_NO_MEMORY;

	rc = curl_url_set(handle, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK)
		*problem = curl_url_strerror(rc);
	else if (curl_url_get(handle, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0))
		*problem = "the scheme must be https (or http to a host in alliance.http_hosts)";
	else if (curl_url_get(handle, CURLUPART_HOST, &urlhost, 0) != CURLUE_OK || urlhost[0] == '\0')
		*problem = "the URL has no host";
	else if (!plausible_host(urlhost))
		*problem = "the host is neither a host name nor an IP address";
	else if (curl_url_get(handle, CURLUPART_USER, &user, 0) == CURLUE_OK)
		*problem = "credentials in the URL are not allowed: every role can read it, and receivers check the signature instead";
	else if ((internal = alliance_host_internal_class(urlhost)) != NULL &&
			 !alliance_webhook_host_listed(http_hosts, urlhost))
	{
		verdict = WEBHOOK_URL_INTERNAL;
		*problem = internal;
		*host = urlhost;
		urlhost = NULL;
	}
	else if (strcmp(scheme, "http") == 0 &&
			 !alliance_webhook_host_listed(http_hosts, urlhost))
	{
		verdict = WEBHOOK_URL_PLAIN_HTTP;
		*host = urlhost;
		urlhost = NULL;
	}
	else
		verdict = WEBHOOK_URL_ALLOWED;

	curl_free(scheme);
	curl_free(urlhost);
	curl_free(user);
	curl_url_cleanup(handle);
	return verdict;
}

/*
 * Is the host of url (a C string) in http_hosts?  Then the sender lets it
 * reach an internal address.  False for a URL libcurl cannot parse.
 */
bool
alliance_webhook_url_host_listed(const char *url, const char *http_hosts)
{
	CURLU	   *handle = curl_url();
	char	   *urlhost = NULL;
	bool		listed = false;

	if (handle == NULL)
		return false;
	if (curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(handle, CURLUPART_HOST, &urlhost, 0) == CURLUE_OK)
		listed = alliance_webhook_host_listed(http_hosts, urlhost);
	curl_free(urlhost);
	curl_url_cleanup(handle);
	return listed;
}

/*
 * Is entry (len bytes) an entry of alliance.resolve, "host:port:address"?
 * host is a DNS name (letters, digits, '-', '.', '_', not starting with '-'
 * or '+', which libcurl reads as removal and as a non-permanent entry), port
 * 1 to 65535, address a literal IPv4 dotted quad or a bracketed IPv6.  It
 * is the form libcurl's CURLOPT_RESOLVE takes, one address per entry.
 */
bool
alliance_webhook_resolve_entry_valid(const char *entry, size_t len)
{
	const char *end = entry + len;
	const char *p = entry;
	char		buf[64];
	unsigned char addr[16];
	long		port = 0;
	size_t		n;

	if (len == 0 || *p == '-' || *p == '+' || *p == '.')
		return false;
	for (; p < end && *p != ':'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
			return false;
	if (p == entry || p == end)
		return false;
	for (p++; p < end && *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	if (port < 1 || port > 65535 || p == end || *p != ':')
		return false;
	p++;
	n = end - p;
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']')
	{
		if (n - 2 >= sizeof(buf))
			return false;
		memcpy(buf, p + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, addr) == 1;
	}
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1;
}
