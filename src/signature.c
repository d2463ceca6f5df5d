/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  Where a webhook is signed: the endpoints' secrets and the signatures
 *	  of Standard Webhooks (HMAC-SHA256 from src/common), and their SQL face.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/resowner.h"

#include "webhook.h"

/* random bytes in a signing secret (Standard Webhooks asks for 24 to 64) */
#define SECRET_BYTES 32

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
