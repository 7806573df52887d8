/* webhook.h - Standard Webhooks signatures (https://www.standardwebhooks.com/).
 *
 * signature = base64(HMAC-SHA256(key, "<msg_id>.<timestamp>.<body>")), where key
 * is the base64-decoded part of a "whsec_<base64>" secret; the header value is
 * "v1,<signature>", several separated by spaces. */
#ifndef BM_WEBHOOK_H
#define BM_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define BM_SIG_LEN 48 /* "v1," + 44 base64 chars + NUL */

/* Writes "v1,<base64>" into out (at least BM_SIG_LEN bytes). Returns 0, or -1
 * if the secret is not a valid whsec_ secret. */
int bm_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                    size_t body_len, char *out, size_t outlen);

/* Verifies a webhook-signature header value (one or more "v1,<sig>" separated
 * by spaces) in constant time per candidate. Returns 0 if one matches. */
int bm_webhook_verify(const char *secret, const char *msg_id, int64_t timestamp,
                      const char *body, size_t body_len, const char *header);

#endif
