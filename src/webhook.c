/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  Which webhook URLs may be registered (alliance.set_endpoint) and the
 *	  check of alliance.resolve; the rules are webhook_url.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "parse.h"
#include "settings.h"
#include "webhook.h"

/* alliance.resolve's check: each entry host:port:address */
bool
alliance_resolve_check(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *entries;
	ListCell   *lc;

	if (!SplitGUCList(raw, ',', &entries))
	{
		GUC_check_errdetail("The list syntax is invalid.");
		pfree(raw);
		return false;
	}
	foreach(lc, entries)
	{
		const char *entry = lfirst(lc);

		if (!alliance_webhook_resolve_entry_valid(entry, strlen(entry)))
		{
			GUC_check_errdetail("\"%s\" is not of the form host:port:address.", entry);
			GUC_check_errhint("The address is a literal IPv4 address or a bracketed IPv6 address, e.g. his.example:443:192.0.2.10 or his.example:443:[2001:db8::10].");
			list_free(entries);
			pfree(raw);
			return false;
		}
	}
	list_free(entries);
	pfree(raw);
	return true;
}

/*
 * Refuse, with 22023, a URL that may not receive webhooks: it must parse
 * (libcurl's parser, the one that will send), be https, or http to a host in
 * alliance.http_hosts, carry no credentials (the URL is readable by every
 * role; receivers check the signature instead), and not name an internal
 * address (loopback, private, link-local, ..., in any spelling) or a
 * localhost name unless its host is in alliance.http_hosts.  The rules are
 * alliance_webhook_url_verdict's (webhook_url.c).
 */
void
alliance_webhook_check_url(const char *url)
{
	const char *hosts = alliance_http_hosts ? alliance_http_hosts : "";
	const char *problem;
	char	   *host;

	switch (alliance_webhook_url_verdict(url, hosts, &problem, &host))
	{
		case WEBHOOK_URL_ALLOWED:
			break;
		case WEBHOOK_URL_NO_MEMORY:
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			break;
		case WEBHOOK_URL_REFUSED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("webhook URL \"%s\" is not allowed", url),
					 errdetail("The URL is refused: %s.", problem)));
			break;
		case WEBHOOK_URL_INTERNAL:
			{
				char	   *detail = psprintf("The URL is refused: its host \"%s\" is %s.", host, problem);

				curl_free(host);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("webhook URL \"%s\" is not allowed", url),
						 errdetail_internal("%s", detail),
						 errhint("Webhooks may not reach loopback, private, link-local, shared (100.64.0.0/10), multicast, unspecified, "
								 "reserved, benchmarking or documentation addresses, in any spelling (decimal, hex, octal, short forms, "
								 "IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6, trailing dot), nor localhost or *.localhost, "
								 "unless the host is listed in alliance.http_hosts.")));
			}
			break;
		case WEBHOOK_URL_PLAIN_HTTP:
			{
				char	   *detail = psprintf("Plain http is allowed only to the hosts in alliance.http_hosts (%s), not to \"%s\"; use https.",
											  hosts, host);

				curl_free(host);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("webhook URL \"%s\" is not allowed", url),
						 errdetail_internal("%s", detail)));
			}
			break;
	}
}
