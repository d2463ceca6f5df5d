/*-------------------------------------------------------------------------
 *
 * webhook.h
 *	  Webhook endpoints: URL rules, signing secrets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_WEBHOOK_H
#define ALLIANCE_WEBHOOK_H

extern void webhook_check_url(const char *url);
extern char *webhook_new_secret(void);

#endif							/* ALLIANCE_WEBHOOK_H */
