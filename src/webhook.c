/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  Webhooks to the members' own systems: which URLs may receive them, the
 *	  secrets and signatures of Standard Webhooks, and the sender that runs
 *	  many POSTs at once with libcurl's multi interface.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "common/base64.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "parse.h"
#include "settings.h"
#include "webhook.h"

/* random bytes in a signing secret (Standard Webhooks asks for 24 to 64) */
#define SECRET_BYTES 32

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

/* A new signing secret: "whsec_" and the base64 of random bytes */
char *
alliance_webhook_new_secret(void)
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

/*
 * The Standard Webhooks signature of a message: "v1," and the base64 of
 * HMAC-SHA256 over "id.timestamp.body", keyed with the base64-decoded part
 * of the secret after "whsec_".  NULL if the secret is not of that form.
 */
char *
alliance_webhook_signature(const char *secret, const char *id, const char *timestamp,
				  const char *body, size_t bodylen)
{
	size_t		secretlen = strlen(secret);
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	char	   *key;
	int			keylen;
	pg_hmac_ctx *ctx;
	char	   *signature;
	int			written;
	bool		ok;

	if (secretlen <= 6 || strncmp(secret, "whsec_", 6) != 0)
		return NULL;
	key = palloc(pg_b64_dec_len((int) (secretlen - 6)));
	keylen = pg_b64_decode(secret + 6, (int) (secretlen - 6), key,
						   pg_b64_dec_len((int) (secretlen - 6)));
	if (keylen <= 0)
		return NULL;

	/* the HMAC context belongs to a resource owner, and none is current between transactions */
	if (CurrentResourceOwner == NULL)
	{
		static ResourceOwner signing_owner = NULL;

		if (signing_owner == NULL)
			signing_owner = ResourceOwnerCreate(NULL, "alliance webhook signing");
		CurrentResourceOwner = signing_owner;
		signature = alliance_webhook_signature(secret, id, timestamp, body, bodylen);
		CurrentResourceOwner = NULL;
		return signature;
	}
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = pg_hmac_init(ctx, (uint8 *) key, keylen) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) id, strlen(id)) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) ".", 1) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) timestamp, strlen(timestamp)) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) ".", 1) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) body, bodylen) == 0 &&
		pg_hmac_final(ctx, mac, sizeof(mac)) == 0;
	if (!ok)
		elog(ERROR, "could not compute HMAC-SHA256: %s", pg_hmac_error(ctx));
	pg_hmac_free(ctx);
	explicit_bzero(key, keylen);

	signature = palloc(3 + pg_b64_enc_len(sizeof(mac)) + 1);
	memcpy(signature, "v1,", 3);
	written = pg_b64_encode((char *) mac, sizeof(mac), signature + 3, pg_b64_enc_len(sizeof(mac)));
	if (written < 0)
		elog(ERROR, "could not encode a webhook signature");
	signature[3 + written] = '\0';
	return signature;
}

/* alliance.alliance_webhook_signature(secret, id, timestamp, body): for receivers and tests */
PG_FUNCTION_INFO_V1(webhook_signature_sql);
Datum
webhook_signature_sql(PG_FUNCTION_ARGS)
{
	text	   *body = PG_GETARG_TEXT_PP(3);
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *signature;

	signature = alliance_webhook_signature(secret, text_to_cstring(PG_GETARG_TEXT_PP(1)),
								  psprintf(INT64_FORMAT, PG_GETARG_INT64(2)),
								  VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	if (signature == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook secret"),
				 errhint("A secret is \"whsec_\" followed by base64.")));
	PG_RETURN_TEXT_P(cstring_to_text(signature));
}

/*
 * The sender: a libcurl multi handle whose sockets and timer feed one
 * WaitEventSet with the latch and postmaster death, so that a commit, a
 * response or a timeout wakes the dispatcher, whichever comes first.
 */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
	int			pos;			/* in the wait set, or -1 */
} WatchedSocket;

struct WebhookSender
{
	MemoryContext cxt;
	CURLM	   *multi;
	char	   *dbname;
	WatchedSocket *sockets;
	int			nsockets;
	int			maxsockets;
	WaitEventSet *set;
	int			set_used;
	int			set_capacity;
	bool		rebuild;
	bool		timer_set;
	TimestampTz timer_deadline;
	Delivery   *in_flight;
	int			n_in_flight;
	Delivery   *done;
	char	   *resolve_loaded;	/* the alliance.resolve in curl's DNS cache */
};

static uint32
socket_events(int what)
{
	return (what & CURL_POLL_IN ? WL_SOCKET_READABLE : 0) |
		(what & CURL_POLL_OUT ? WL_SOCKET_WRITEABLE : 0);
}

static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	WebhookSender *s = (WebhookSender *) userp;
	int			i;

	for (i = 0; i < s->nsockets; i++)
		if (s->sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < s->nsockets)
		{
			s->sockets[i] = s->sockets[--s->nsockets];
			s->rebuild = true;
		}
		return 0;
	}
	if (i == s->nsockets)
	{
		if (s->nsockets == s->maxsockets)
		{
			s->maxsockets *= 2;
			s->sockets = repalloc(s->sockets, s->maxsockets * sizeof(WatchedSocket));
		}
		s->sockets[i].fd = fd;
		s->sockets[i].what = what;
		s->sockets[i].pos = -1;
		s->nsockets++;
		if (!s->rebuild && s->set && s->set_used < s->set_capacity)
		{
			s->sockets[i].pos = AddWaitEventToSet(s->set, socket_events(what), fd, NULL, NULL);
			s->set_used++;
		}
		else
			s->rebuild = true;
	}
	else if (s->sockets[i].what != what)
	{
		s->sockets[i].what = what;
		if (!s->rebuild && s->sockets[i].pos >= 0)
			ModifyWaitEvent(s->set, s->sockets[i].pos, socket_events(what), NULL);
		else
			s->rebuild = true;
	}
	return 0;
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	WebhookSender *s = (WebhookSender *) userp;

	s->timer_set = timeout_ms >= 0;
	if (s->timer_set)
		s->timer_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	return 0;
}

/* The wait set: latch, postmaster death, and the sockets curl watches */
static void
rebuild_wait_set(WebhookSender *s)
{
	if (s->set)
		FreeWaitEventSet(s->set);
	s->set_capacity = 2 + Max(2 * s->nsockets, 2 * alliance_max_in_flight + 8);
	s->set = CreateWaitEventSet(s->cxt, s->set_capacity);
	AddWaitEventToSet(s->set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(s->set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	s->set_used = 2;
	for (int i = 0; i < s->nsockets; i++)
	{
		s->sockets[i].pos = AddWaitEventToSet(s->set, socket_events(s->sockets[i].what),
											  s->sockets[i].fd, NULL, NULL);
		s->set_used++;
	}
	s->rebuild = false;
}

WebhookSender *
alliance_webhook_sender_create(const char *dbname)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "alliance webhook sender",
											  ALLOCSET_DEFAULT_SIZES);
	WebhookSender *s = MemoryContextAllocZero(cxt, sizeof(WebhookSender));

	s->cxt = cxt;
	s->dbname = MemoryContextStrdup(cxt, dbname);
	s->maxsockets = 16;
	s->sockets = MemoryContextAlloc(cxt, s->maxsockets * sizeof(WatchedSocket));
	s->multi = curl_multi_init();
	if (s->multi == NULL ||
		curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
		curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s) != CURLM_OK ||
		curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
		curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s) != CURLM_OK ||
		curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long) Max(alliance_max_in_flight, 8)) != CURLM_OK ||
		curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX) != CURLM_OK)
		elog(ERROR, "could not set up libcurl's multi interface");
	rebuild_wait_set(s);
	return s;
}

Delivery *
alliance_webhook_new_delivery(WebhookSender *s, const char *url, const char *body)
{
	Delivery   *d = MemoryContextAllocZero(s->cxt, sizeof(Delivery));

	d->url = MemoryContextStrdup(s->cxt, url);
	d->body = MemoryContextStrdup(s->cxt, body);
	d->retry_after = -1;
	return d;
}

void
alliance_webhook_free_delivery(WebhookSender *s, Delivery *d)
{
	pfree(d->url);
	pfree(d->body);
	pfree(d);
}

/* Keep the start of the answer's body, for an error text; drop the rest */
static size_t
keep_snippet(char *data, size_t size, size_t nmemb, void *userp)
{
	Delivery   *d = (Delivery *) userp;
	size_t		n = size * nmemb;
	size_t		room = sizeof(d->snippet) - 1 - d->snippet_len;
	size_t		take = Min(n, room);

	memcpy(d->snippet + d->snippet_len, data, take);
	d->snippet_len += take;
	d->snippet[d->snippet_len] = '\0';
	if (take < n)
		d->snippet_cut = true;
	return n;
}

/*
 * The class of an address libcurl is about to connect to, as
 * alliance_address_internal_class gives it (NULL: public)
 */
static const char *
sockaddr_class(const struct curl_sockaddr *a)
{
	if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
		return alliance_address_internal_class(AF_INET,
									  (const unsigned char *) &((const struct sockaddr_in *) &a->addr)->sin_addr);
	if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
		return alliance_address_internal_class(AF_INET6,
									  ((const struct sockaddr_in6 *) &a->addr)->sin6_addr.s6_addr);
	return "an address of an unknown family";
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: the check of the address actually connected
 * to, whatever the URL's host resolved to (DNS, alliance.resolve, a
 * rebinding name).  An internal address is refused, before any packet is
 * sent to it, unless the URL's host is in alliance.http_hosts.
 */
static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	Delivery   *d = (Delivery *) clientp;

	if (!d->internal_ok && sockaddr_class(address) != NULL)
	{
		d->refused_internal = true;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

/*
 * Append to *list the entries of an alliance.resolve value, or with removal
 * the "-host:port" that takes each out of curl's DNS cache.  False if out of
 * memory or if the value does not split (the check hook let it pass, so
 * neither should happen).
 */
static bool
append_resolve(struct curl_slist **list, const char *setting, bool removal)
{
	char	   *raw = pstrdup(setting);
	List	   *entries;
	ListCell   *lc;

	if (!SplitGUCList(raw, ',', &entries))
		return false;
	foreach(lc, entries)
	{
		char	   *entry = lfirst(lc);
		struct curl_slist *l;

		if (removal)
		{
			char	   *colon = strchr(entry, ':');

			colon = colon ? strchr(colon + 1, ':') : NULL;
			if (colon)
				*colon = '\0';
			entry = psprintf("-%s", entry);
		}
		l = curl_slist_append(*list, entry);
		if (l == NULL)
			return false;
		*list = l;
	}
	return true;
}

/*
 * The CURLOPT_RESOLVE list of a new delivery: alliance.resolve, preceded,
 * when the setting changed since curl's DNS cache took it, by the removal
 * of the entries it had before.
 */
static bool
resolve_list(WebhookSender *s, struct curl_slist **list)
{
	const char *current = alliance_resolve ? alliance_resolve : "";

	*list = NULL;
	if (s->resolve_loaded && strcmp(s->resolve_loaded, current) != 0 &&
		!append_resolve(list, s->resolve_loaded, true))
		return false;
	return append_resolve(list, current, false);
}

/* After a delivery with resolve_list's list started: curl's cache has it */
static void
resolve_loaded(WebhookSender *s)
{
	const char *current = alliance_resolve ? alliance_resolve : "";

	if (s->resolve_loaded == NULL || strcmp(s->resolve_loaded, current) != 0)
	{
		if (s->resolve_loaded)
			pfree(s->resolve_loaded);
		s->resolve_loaded = MemoryContextStrdup(s->cxt, current);
	}
}

/* What an attempt that got no HTTP answer says (never libcurl's own buffer) */
#define REFUSED_INTERNAL "refused: the receiver's name resolved to an internal address, and its host is not in alliance.http_hosts"

static void
describe_failure(Delivery *d, CURL *easy, CURLcode rc)
{
	const char *text = NULL;
	curl_off_t	connected_us = 0;

	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
			text = "could not resolve the receiver's host name";
			break;
		case CURLE_COULDNT_CONNECT:
			text = d->refused_internal ? REFUSED_INTERNAL :
				"could not connect to the receiver: connection refused or unreachable";
			break;
		case CURLE_OPERATION_TIMEDOUT:
			if (curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected_us) == CURLE_OK &&
				connected_us > 0)
				text = "timed out waiting for the receiver's answer (alliance.http_timeout)";
			else
				text = d->refused_internal ? REFUSED_INTERNAL :
					"timed out connecting to the receiver";
			break;
		case CURLE_SSL_CONNECT_ERROR:
			text = "TLS: the handshake with the receiver failed";
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
			text = "TLS: the receiver's certificate could not be verified";
			break;
		case CURLE_GOT_NOTHING:
			text = "the receiver closed the connection without answering";
			break;
		case CURLE_SEND_ERROR:
			text = "the connection to the receiver failed while sending the request";
			break;
		case CURLE_RECV_ERROR:
			text = "the connection to the receiver failed while reading its answer";
			break;
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			text = "the receiver's answer is not valid HTTP";
			break;
		default:
			break;
	}
	if (text)
		strlcpy(d->error, text, sizeof(d->error));
	else
		snprintf(d->error, sizeof(d->error), "transport error: %s", curl_easy_strerror(rc));
}

/*
 * What a non-2xx answer says: its status, and at most WEBHOOK_EXCERPT_SIZE
 * characters of its body, printable ASCII only (runs of spaces and control
 * characters become one space, other bytes '?'), "..." when cut.
 */
static void
describe_answer(Delivery *d)
{
	char		excerpt[WEBHOOK_EXCERPT_SIZE + 1];
	int			n = 0;
	bool		space = false;
	bool		cut = d->snippet_cut;

	for (int i = 0; i < d->snippet_len; i++)
	{
		unsigned char c = (unsigned char) d->snippet[i];

		if (c <= 0x20 || c == 0x7f)
		{
			space = n > 0;
			continue;
		}
		if (n + (space ? 2 : 1) > WEBHOOK_EXCERPT_SIZE)
		{
			cut = true;
			break;
		}
		if (space)
			excerpt[n++] = ' ';
		space = false;
		excerpt[n++] = c < 0x7f ? (char) c : '?';
	}
	excerpt[n] = '\0';
	snprintf(d->error, sizeof(d->error), "HTTP %ld%s%s%s", d->http_status,
			 n ? ": " : "", excerpt, n && cut ? "..." : "");
}

/* Note a Retry-After header: delay-seconds, or an HTTP-date */
static size_t
read_header(char *data, size_t size, size_t nmemb, void *userp)
{
	Delivery   *d = (Delivery *) userp;
	size_t		n = size * nmemb;
	static const char name[] = "retry-after:";

	if (n > sizeof(name) - 1 && pg_strncasecmp(data, name, sizeof(name) - 1) == 0)
	{
		const char *value = data + sizeof(name) - 1;
		size_t		len = n - (sizeof(name) - 1);
		double		seconds;

		if (alliance_retry_after_seconds(value, len, &seconds))
			d->retry_after = seconds;
		else
		{
			char	   *date = pnstrdup(value, len);
			time_t		when = curl_getdate(date, NULL);

			if (when != -1)
				d->retry_after = Max(0, (double) (when - time(NULL)));
			pfree(date);
		}
	}
	return n;
}

static void
finish(WebhookSender *s, Delivery *d)
{
	d->duration_ms = (GetCurrentTimestamp() - d->started_at) / 1000.0;
	d->next = s->done;
	s->done = d;
}

static void
fail_to_start(WebhookSender *s, Delivery *d, const char *why)
{
	strlcpy(d->error, why, sizeof(d->error));
	if (d->easy)
		curl_easy_cleanup(d->easy);
	d->easy = NULL;
	curl_slist_free_all(d->headers);
	d->headers = NULL;
	curl_slist_free_all(d->resolve);
	d->resolve = NULL;
	finish(s, d);
}

/* curl_easy_setopt, or leave with its error */
#define SETOPT(opt, value) \
	do { \
		CURLcode	rc_ = curl_easy_setopt(easy, (opt), (value)); \
		if (rc_ != CURLE_OK) \
		{ \
			fail_to_start(s, d, curl_easy_strerror(rc_)); \
			return; \
		} \
	} while (0)

/* Append a header, or leave with an error */
#define ADD_HEADER(...) \
	do { \
		struct curl_slist *l_ = curl_slist_append(d->headers, psprintf(__VA_ARGS__)); \
		if (l_ == NULL) \
		{ \
			fail_to_start(s, d, "out of memory"); \
			return; \
		} \
		d->headers = l_; \
	} while (0)

/*
 * Start a delivery: sign it, set up the request, and hand it to the multi
 * handle (no I/O happens here).  A delivery that cannot start is done at
 * once, with its error.
 */
void
alliance_webhook_start(WebhookSender *s, Delivery *d, const char *secret)
{
	char		id[32];
	char		timestamp[32];
	char	   *signature;
	CURL	   *easy;
	CURLMcode	mrc;

	d->started_at = GetCurrentTimestamp();
	d->http_status = 0;
	d->retry_after = -1;
	d->error[0] = '\0';
	d->snippet_len = 0;
	d->snippet[0] = '\0';
	d->snippet_cut = false;
	d->refused_internal = false;
	d->internal_ok = alliance_webhook_url_host_listed(d->url, alliance_http_hosts ? alliance_http_hosts : "");

	snprintf(id, sizeof(id), INT64_FORMAT, d->event_id);
	snprintf(timestamp, sizeof(timestamp), "%lld", (long long) time(NULL));
	signature = alliance_webhook_signature(secret, id, timestamp, d->body, strlen(d->body));
	if (signature == NULL)
	{
		fail_to_start(s, d, "the endpoint's signing secret is not valid; run alliance.set_endpoint() again");
		return;
	}

	d->easy = easy = curl_easy_init();
	if (easy == NULL)
	{
		fail_to_start(s, d, "out of memory");
		return;
	}
	ADD_HEADER("Content-Type: %s", d->fhir ? "application/fhir+json" : "application/json");
	ADD_HEADER("webhook-id: %s", id);
	ADD_HEADER("webhook-timestamp: %s", timestamp);
	ADD_HEADER("webhook-signature: %s", signature);
	ADD_HEADER("alliance-database: %s", s->dbname);
	ADD_HEADER("User-Agent: alliance/" ALLIANCE_VERSION " (PostgreSQL)");
	ADD_HEADER("Expect:");
	if (!resolve_list(s, &d->resolve))
	{
		fail_to_start(s, d, "out of memory");
		return;
	}

	SETOPT(CURLOPT_URL, d->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	/* no proxy from the environment: the address checked is the receiver's */
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SETOPT(CURLOPT_OPENSOCKETDATA, d);
	if (d->resolve)
		SETOPT(CURLOPT_RESOLVE, d->resolve);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	/*
	 * The connections stay open between requests (the multi handle keeps up
	 * to max_in_flight); over TLS a receiver that offers HTTP/2 takes several
	 * requests on one.
	 */
	SETOPT(CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_TIMEOUT_MS, (long) alliance_http_timeout);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) Min(alliance_http_timeout, 10000));
	SETOPT(CURLOPT_POSTFIELDS, d->body);
	SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(d->body));
	SETOPT(CURLOPT_HTTPHEADER, d->headers);
	SETOPT(CURLOPT_WRITEFUNCTION, keep_snippet);
	SETOPT(CURLOPT_WRITEDATA, d);
	SETOPT(CURLOPT_HEADERFUNCTION, read_header);
	SETOPT(CURLOPT_HEADERDATA, d);
	SETOPT(CURLOPT_PRIVATE, d);

	mrc = curl_multi_add_handle(s->multi, easy);
	if (mrc != CURLM_OK)
	{
		fail_to_start(s, d, curl_multi_strerror(mrc));
		return;
	}
	resolve_loaded(s);
	d->next = s->in_flight;
	s->in_flight = d;
	s->n_in_flight++;
}

int
alliance_webhook_in_flight(WebhookSender *s)
{
	return s->n_in_flight;
}

Delivery *
alliance_webhook_in_flight_list(WebhookSender *s)
{
	return s->in_flight;
}

/* Move the transfers curl has finished to the done list */
static void
collect_finished(WebhookSender *s)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(s->multi, &left)) != NULL)
	{
		Delivery   *d = NULL;
		Delivery  **link;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &d);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &d->http_status);
		if (msg->data.result != CURLE_OK)
		{
			describe_failure(d, msg->easy_handle, msg->data.result);
			d->http_status = 0;
		}
		else if (d->http_status < 200 || d->http_status > 299)
			describe_answer(d);

		for (link = &s->in_flight; *link; link = &(*link)->next)
			if (*link == d)
			{
				*link = d->next;
				break;
			}
		s->n_in_flight--;
		curl_multi_remove_handle(s->multi, msg->easy_handle);
		curl_easy_cleanup(msg->easy_handle);
		curl_slist_free_all(d->headers);
		d->headers = NULL;
		curl_slist_free_all(d->resolve);
		d->resolve = NULL;
		d->easy = NULL;
		finish(s, d);
	}
}

/*
 * Wait for the latch, a socket, curl's timer or timeout_ms, whichever comes
 * first, and let curl do its I/O.  Finished deliveries go to the done list.
 * Returns whether the latch was set.
 */
bool
alliance_webhook_wait(WebhookSender *s, long timeout_ms, uint32 wait_event_info)
{
	WaitEvent	events[64];
	int			n;
	int			running;
	bool		latch = false;

	if (s->timer_set)
		timeout_ms = Min(timeout_ms, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), s->timer_deadline));
	if (s->rebuild)
		rebuild_wait_set(s);

	n = WaitEventSetWait(s->set, Max(timeout_ms, 0), events, lengthof(events), wait_event_info);
	for (int i = 0; i < n; i++)
	{
		if (events[i].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			latch = true;
		}
		else if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			curl_multi_socket_action(s->multi, events[i].fd,
									 (events[i].events & WL_SOCKET_READABLE ? CURL_CSELECT_IN : 0) |
									 (events[i].events & WL_SOCKET_WRITEABLE ? CURL_CSELECT_OUT : 0),
									 &running);
	}
	if (s->timer_set && GetCurrentTimestamp() >= s->timer_deadline)
	{
		s->timer_set = false;
		curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	collect_finished(s);
	return latch;
}

/* The finished deliveries, handed over to the caller */
Delivery *
alliance_webhook_take_done(WebhookSender *s)
{
	Delivery   *done = s->done;

	s->done = NULL;
	return done;
}
