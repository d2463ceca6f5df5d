/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  Webhooks to the members' own systems: which URLs may receive them and
 *	  the secrets they are signed with (Standard Webhooks).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/base64.h"

#include "alliance.h"
#include "parse.h"
#include "webhook.h"

/* random bytes in a signing secret (Standard Webhooks asks for 24 to 64) */
#define SECRET_BYTES 32

/*
 * Refuse, with 22023, a URL that may not receive webhooks: it must parse
 * (libcurl's parser, the one that will send), be https, or http to a host in
 * alliance.http_hosts, and carry no credentials (the URL is readable by every
 * role; receivers check the signature instead).
 */
void
webhook_check_url(const char *url)
{
	CURLU	   *handle = curl_url();
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *user = NULL;
	const char *problem = NULL;
	char	   *detail = NULL;

	if (handle == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	rc = curl_url_set(handle, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK)
		problem = curl_url_strerror(rc);
	else if (curl_url_get(handle, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0))
		problem = "the scheme must be https (or http to a host in alliance.http_hosts)";
	else if (curl_url_get(handle, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		problem = "the URL has no host";
	else if (curl_url_get(handle, CURLUPART_USER, &user, 0) == CURLUE_OK)
		problem = "credentials in the URL are not allowed: every role can read it, and receivers check the signature instead";
	else if (strcmp(scheme, "http") == 0 &&
			 !host_in_list(alliance_http_hosts ? alliance_http_hosts : "", host, strlen(host)))
		detail = psprintf("Plain http is allowed only to the hosts in alliance.http_hosts (%s), not to \"%s\"; use https.",
						  alliance_http_hosts ? alliance_http_hosts : "", host);

	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(handle);

	if (problem != NULL || detail != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webhook URL \"%s\" is not allowed", url),
				 detail ? errdetail_internal("%s", detail) : errdetail("The URL is refused: %s.", problem)));
}

/* A new signing secret: "whsec_" and the base64 of random bytes */
char *
webhook_new_secret(void)
{
	char		random[SECRET_BYTES];
	int			len = pg_b64_enc_len(SECRET_BYTES);
	char	   *secret = palloc(6 + len + 1);
	int			written;

	if (!pg_strong_random(random, SECRET_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random webhook secret")));
	memcpy(secret, "whsec_", 6);
	written = pg_b64_encode(random, SECRET_BYTES, secret + 6, len);
	if (written < 0)
		elog(ERROR, "could not encode a webhook secret");
	secret[6 + written] = '\0';
	explicit_bzero(random, sizeof(random));
	return secret;
}
