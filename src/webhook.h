/*-------------------------------------------------------------------------
 *
 * webhook.h
 *	  Webhooks to the members' own systems: URL rules, signing secrets and
 *	  signatures, and the sender that runs many deliveries at once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_WEBHOOK_H
#define ALLIANCE_WEBHOOK_H

#include "datatype/timestamp.h"
#include "storage/latch.h"

#define WEBHOOK_ERROR_SIZE 256

/* how much of a receiver's answer an error text quotes, sanitised */
#define WEBHOOK_EXCERPT_SIZE 64

/* One POST of one notification */
typedef struct Delivery
{
	/* what to send, set by the dispatcher */
	int64		outbox_id;
	int64		referral_id;
	int64		event_id;
	int64		institution_id;
	int			attempts;		/* attempts made before this one */
	char	   *url;
	char	   *body;
	bool		fhir;
	/* what happened, set by the sender */
	TimestampTz started_at;
	double		duration_ms;
	long		http_status;	/* 0: no HTTP answer */
	double		retry_after;	/* seconds the receiver asked for, or -1 */
	char		error[WEBHOOK_ERROR_SIZE];	/* "" when delivered */
	/* the sender's */
	char		snippet[128];	/* start of the response body */
	int			snippet_len;
	bool		snippet_cut;	/* the body went on beyond the snippet */
	bool		internal_ok;	/* the URL's host is in alliance.http_hosts */
	bool		refused_internal;	/* a connection to an internal address was refused */
	void	   *easy;
	struct curl_slist *headers;
	struct curl_slist *resolve;	/* alliance.resolve, for CURLOPT_RESOLVE */
	struct Delivery *next;
} Delivery;

typedef struct WebhookSender WebhookSender;

extern void alliance_webhook_check_url(const char *url);
extern char *alliance_webhook_new_secret(void);
extern char *alliance_webhook_signature(const char *secret, const char *id, const char *timestamp,
							   const char *body, size_t bodylen);

extern WebhookSender *alliance_webhook_sender_create(const char *dbname);
extern Delivery *alliance_webhook_new_delivery(WebhookSender *sender, const char *url, const char *body);
extern void alliance_webhook_free_delivery(WebhookSender *sender, Delivery *d);
extern void alliance_webhook_start(WebhookSender *sender, Delivery *d, const char *secret);
extern int	alliance_webhook_in_flight(WebhookSender *sender);
extern Delivery *alliance_webhook_in_flight_list(WebhookSender *sender);
extern bool alliance_webhook_wait(WebhookSender *sender, long timeout_ms, uint32 wait_event_info);
extern Delivery *alliance_webhook_take_done(WebhookSender *sender);

#endif							/* ALLIANCE_WEBHOOK_H */
