/*-------------------------------------------------------------------------
 *
 * parse.h
 *	  The extension's literal parsers and formatters, and the encodings they
 *	  produce, as pure C.
 *
 * No memory allocation, no error reporting, no backend calls, so that they
 * can be fuzzed as plain functions (test/fuzz) and trusted with any byte
 * string.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLIANCE_PARSE_H
#define ALLIANCE_PARSE_H

/*
 * alliance.tier: level * 4 + grade.  Integer order is the type's order:
 * level first, then grade, an ungraded tier lowest in its level.
 */
typedef int16 Tier;

#define TIER_VILLAGE		0
#define TIER_PRIMARY		1
#define TIER_SECONDARY		2
#define TIER_TERTIARY		3
#define TIER_LEVELS			4

#define TIER_GRADE_NONE		0
#define TIER_GRADE_C		1
#define TIER_GRADE_B		2
#define TIER_GRADE_A		3

#define TIER_MAKE(level, grade)	((Tier) ((level) * 4 + (grade)))
#define TIER_LEVEL(t)		((t) / 4)
#define TIER_GRADE(t)		((t) % 4)
#define TIER_MIN			TIER_MAKE(TIER_VILLAGE, TIER_GRADE_NONE)
#define TIER_MAX			TIER_MAKE(TIER_TERTIARY, TIER_GRADE_A)
#define TIER_IS_VALID(t)	((t) >= TIER_MIN && (t) <= TIER_MAX)

/* room for the longest output, "村卫生室甲等", and its terminator */
#define TIER_OUTPUT_SIZE	32

extern bool alliance_tier_parse(const char *str, size_t len, Tier *result);
extern void alliance_tier_format(Tier tier, bool chinese, char *buf);
extern char alliance_tier_grade_letter(Tier tier);

/*
 * A bound of an alliance.tier_range, as PostgreSQL's RangeBound holds it: an
 * infinite bound has no value and is never inclusive.
 */
typedef struct TierBound
{
	Tier		value;			/* unused when infinite */
	bool		infinite;
	bool		inclusive;
} TierBound;

extern bool alliance_tier_range_canonicalize(TierBound *lower, TierBound *upper);

/*
 * alliance.icd10: up to 11 symbols (3 of category, 8 of extension) packed as
 * a base-38 number, most significant first; an absent symbol is 0, so a code
 * sorts before every longer code it is a prefix of, and integer order is the
 * order of the canonical text.  Symbols: 1-10 digits, 11-36 letters A-Z,
 * 37 the clinical version's placeholder 'x' (extension positions only).
 */
typedef int64 Icd10;

#define ICD10_CATEGORY_SYMBOLS	3
#define ICD10_EXTENSION_SYMBOLS	8
#define ICD10_SYMBOLS			(ICD10_CATEGORY_SYMBOLS + ICD10_EXTENSION_SYMBOLS)
#define ICD10_RADIX				38
#define ICD10_PLACEHOLDER		37

/* "A00.12345678" and its terminator */
#define ICD10_OUTPUT_SIZE		(ICD10_SYMBOLS + 2)

extern bool alliance_icd10_parse(const char *str, size_t len, Icd10 *result);
extern void alliance_icd10_format(Icd10 code, char *buf);
extern int	alliance_icd10_length(Icd10 code);
extern Icd10 alliance_icd10_prefix(Icd10 code, int nsymbols);
extern Icd10 alliance_icd10_prefix_last(Icd10 code);
extern bool alliance_icd10_within(Icd10 code, Icd10 category);
extern int	alliance_icd10_chapter_of(Icd10 code);

/* webhook hosts allowed plain http (alliance.http_hosts) */
extern bool alliance_host_in_list(const char *list, const char *host, size_t hostlen);

/*
 * Webhook URLs (src/webhook_url.c, which parses with libcurl's URL API but
 * otherwise is as plain as this file).  *host, set for WEBHOOK_URL_PLAIN_HTTP
 * and WEBHOOK_URL_INTERNAL only, is the caller's to curl_free().
 */
typedef enum WebhookUrlVerdict
{
	WEBHOOK_URL_ALLOWED,
	WEBHOOK_URL_REFUSED,		/* *problem says why */
	WEBHOOK_URL_PLAIN_HTTP,		/* http to *host, which is not in the list */
	WEBHOOK_URL_NO_MEMORY,
	WEBHOOK_URL_INTERNAL		/* *host, not in the list, is *problem */
} WebhookUrlVerdict;

extern WebhookUrlVerdict alliance_webhook_url_verdict(const char *url, const char *http_hosts,
											 const char **problem, char **host);
extern bool alliance_webhook_url_host_listed(const char *url, const char *http_hosts);
extern bool alliance_webhook_host_listed(const char *http_hosts, const char *host);

/*
 * Internal addresses (loopback, private, link-local, ...), which a webhook
 * reaches only when its host is in alliance.http_hosts: the class, a static
 * sentence fragment ("a loopback address"), or NULL when public.  addr is 4
 * (AF_INET) or 16 (AF_INET6) bytes in network order.
 */
extern const char *alliance_address_internal_class(int family, const unsigned char *addr);
extern const char *alliance_host_internal_class(const char *host);

/* an entry of alliance.resolve, "host:port:address" */
extern bool alliance_webhook_resolve_entry_valid(const char *entry, size_t len);

/* durations: alliance.retry_schedule, Retry-After */
extern bool alliance_duration_list_parse(const char *str, size_t len, double *seconds, int max, int *n);
extern bool alliance_retry_after_seconds(const char *str, size_t len, double *seconds);

#endif							/* ALLIANCE_PARSE_H */
