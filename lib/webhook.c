/* webhook.c - see webhook.h. HMAC from OpenSSL, the library Debian keeps
 * patched, rather than a hand-written SHA-256. */
#include "webhook.h"
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

int bm_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                    size_t body_len, char *out, size_t outlen)
{
    if (strncmp(secret, "whsec_", 6) != 0 || outlen < BM_SIG_LEN)
        return -1;
    unsigned char key[128];
    int klen = bm_base64_decode(secret + 6, key, sizeof key);
    if (klen <= 0)
        return -1;
    char prefix[192];
    int plen = snprintf(prefix, sizeof prefix, "%s.%lld.", msg_id, (long long)timestamp);
    if (plen < 0 || (size_t)plen >= sizeof prefix)
        return -1;

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    int rc = -1;
    EVP_MAC *algo = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = algo ? EVP_MAC_CTX_new(algo) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t got = 0;
    if (!ctx || !EVP_MAC_init(ctx, key, (size_t)klen, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) ||
        !EVP_MAC_update(ctx, (const unsigned char *)body, body_len) ||
        !EVP_MAC_final(ctx, mac, &got, sizeof mac))
        goto out;
    mac_len = (unsigned int)got;
    memcpy(out, "v1,", 3);
    if (bm_base64_encode(mac, mac_len, out + 3, outlen - 3) < 0)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(algo);
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

int bm_webhook_verify(const char *secret, const char *msg_id, int64_t timestamp,
                      const char *body, size_t body_len, const char *header)
{
    char expected[BM_SIG_LEN];
    if (bm_webhook_sign(secret, msg_id, timestamp, body, body_len, expected, sizeof expected) != 0)
        return -1;
    size_t elen = strlen(expected);
    const char *p = header;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ' ')
            end++;
        if ((size_t)(end - p) == elen && CRYPTO_memcmp(p, expected, elen) == 0)
            return 0;
        p = end;
    }
    return -1;
}
