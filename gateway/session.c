/* session.c - stateless sessions and CSRF tokens, so that any gateway
 * instance holding the same secret accepts them.
 *
 * A session cookie is base64url(JSON {u, n, r, e}) "." hex(HMAC-SHA256(secret,
 * that base64 text)). A CSRF token is hex(HMAC-SHA256(secret, "csrf:" +
 * nonce)), the nonce being the browser's own bm_csrf cookie (HttpOnly,
 * SameSite=Strict): a form from another site can neither read the cookie nor
 * compute the token. */
#include "gw.h"
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hmac_hex(const unsigned char *secret, const char *msg, size_t n, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, GW_SECRET_LEN,
                   (const unsigned char *)msg, n, mac, sizeof mac, &maclen))
        maclen = 0;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        unsigned char c = i < maclen ? mac[i] : 0;
        out[2 * i] = hex[c >> 4];
        out[2 * i + 1] = hex[c & 15];
    }
    out[64] = '\0';
}

void gw_sha256_hex(const char *s, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL))
        mdlen = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned char c = i < mdlen ? md[i] : 0;
        out[2 * i] = hex[c >> 4];
        out[2 * i + 1] = hex[c & 15];
    }
    out[64] = '\0';
}

/* base64 <-> base64url in place. */
static void to_url(char *s)
{
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=')
            continue;
        s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[j] = '\0';
}

char *session_make(const unsigned char *secret, const gw_session_t *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "u", s->user);
    cJSON_AddStringToObject(o, "n", s->name);
    cJSON_AddStringToObject(o, "r", s->role);
    cJSON_AddNumberToObject(o, "e", (double)s->expires);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json)
        return NULL;
    size_t cap = strlen(json) * 4 / 3 + 8 + 66;
    char *out = malloc(cap);
    int n = out ? bm_base64_encode((const unsigned char *)json, strlen(json), out, cap - 66) : -1;
    free(json);
    if (n < 0) {
        free(out);
        return NULL;
    }
    to_url(out);
    size_t len = strlen(out);
    out[len] = '.';
    hmac_hex(secret, out, len, out + len + 1);
    return out;
}

int session_check(const unsigned char *secret, const char *value, int64_t now, gw_session_t *s)
{
    const char *dot = value ? strchr(value, '.') : NULL;
    if (!dot || strlen(dot + 1) != 64 || dot - value > 2000)
        return -1;
    char mac[65];
    hmac_hex(secret, value, (size_t)(dot - value), mac);
    if (CRYPTO_memcmp(mac, dot + 1, 64) != 0)
        return -1;
    char b64[2008];
    size_t n = (size_t)(dot - value), j = 0;
    for (size_t i = 0; i < n; i++)
        b64[j++] = value[i] == '-' ? '+' : value[i] == '_' ? '/' : value[i];
    while (j % 4)
        b64[j++] = '=';
    b64[j] = '\0';
    unsigned char json[1600];
    int len = bm_base64_decode(b64, json, sizeof json - 1);
    if (len < 0)
        return -1;
    json[len] = '\0';
    cJSON *o = cJSON_Parse((const char *)json);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "u");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "n");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "r");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "e");
    int rc = -1;
    if (cJSON_IsString(u) && cJSON_IsString(nm) && cJSON_IsString(r) && cJSON_IsNumber(e) &&
        e->valuedouble > (double)now) {
        memset(s, 0, sizeof *s);
        bm_strlcpy(s->user, u->valuestring, sizeof s->user);
        bm_strlcpy(s->name, nm->valuestring, sizeof s->name);
        bm_strlcpy(s->role, r->valuestring, sizeof s->role);
        s->expires = (int64_t)e->valuedouble;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

void csrf_token(const unsigned char *secret, const char *nonce, char *out)
{
    char msg[64];
    int n = snprintf(msg, sizeof msg, "csrf:%s", nonce);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof msg) /* a longer nonce was cut: csrf_ok refuses those anyway */
        n = (int)sizeof msg - 1;
    hmac_hex(secret, msg, (size_t)n, out);
}

bool csrf_ok(const unsigned char *secret, const char *nonce, const char *token)
{
    if (!token || !nonce || !nonce[0] || strlen(nonce) > 40 || strlen(token) != 64)
        return false;
    char want[65];
    csrf_token(secret, nonce, want);
    return CRYPTO_memcmp(want, token, 64) == 0;
}
