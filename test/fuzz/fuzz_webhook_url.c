/*
 * fuzz_webhook_url.c
 *	  Webhook URLs: webhook_url_verdict (libcurl's URL parser, host_in_list).
 *
 * The input is a URL, or a host list, '\n' and a URL (else the default list,
 * "localhost,127.0.0.1,::1").  Properties: each verdict comes with what it
 * promises (a reason, or the host not in the list); a refused plain-http host
 * is allowed once it is in the list, and is refused by an empty list; more
 * hosts never refuse an allowed URL, and an allowed http URL has its host in
 * the list; the URL as libcurl rewrites it gets the same verdict; nothing
 * leaks (LeakSanitizer).
 */
#include "fuzz.h"

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
	v = webhook_url_verdict(url, hosts, &problem, host);
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
			CHECK(!host_in_list(hosts, *host, strlen(*host)));
			break;
		default:
			CHECK(!"verdict out of range");
	}
	return v;
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

	/* the list decides only between allowed and plain http */
	CHECK((v == WEBHOOK_URL_REFUSED) == (none == WEBHOOK_URL_REFUSED));
	if (v == WEBHOOK_URL_PLAIN_HTTP)
		CHECK(none == WEBHOOK_URL_PLAIN_HTTP && strcmp(host, none_host) == 0);
	if (v == WEBHOOK_URL_ALLOWED && none == WEBHOOK_URL_PLAIN_HTTP)
		CHECK(host_in_list(hosts, none_host, strlen(none_host)));

	/* a refused host, once listed, is allowed (if a list can name it) */
	if (v == WEBHOOK_URL_PLAIN_HTTP && !strchr(host, ',') &&
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
