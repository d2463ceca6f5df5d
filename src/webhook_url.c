/*-------------------------------------------------------------------------
 *
 * webhook_url.c
 *	  Which URLs may receive webhooks: the decision of webhook_check_url,
 *	  without its error reporting, so that it can be fuzzed as a plain
 *	  function (test/fuzz) with the libcurl that will send.
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

#include <curl/curl.h>

#include "parse.h"

/*
 * May url (a C string) receive webhooks?  It must parse (libcurl's parser,
 * the one that will send), be https, or http to a host of http_hosts (a
 * comma-separated list, see host_in_list), and carry no credentials.  On
 * WEBHOOK_URL_REFUSED, *problem is a static sentence fragment saying why; on
 * WEBHOOK_URL_PLAIN_HTTP, *host is the URL's host, which the caller frees
 * with curl_free().
 */
WebhookUrlVerdict
webhook_url_verdict(const char *url, const char *http_hosts,
					const char **problem, char **host)
{
	CURLU	   *handle = curl_url();
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *urlhost = NULL;
	char	   *user = NULL;
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
	else if (curl_url_get(handle, CURLUPART_USER, &user, 0) == CURLUE_OK)
		*problem = "credentials in the URL are not allowed: every role can read it, and receivers check the signature instead";
	else if (strcmp(scheme, "http") == 0 &&
			 !host_in_list(http_hosts, urlhost, strlen(urlhost)))
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
