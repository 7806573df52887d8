/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t bm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bm_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* v's last n decimal digits at p; returns the end. */
static char *put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

char *bm_time_iso(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    int year = tm.tm_year + 1900;
    if (len < BM_TIME_ISO_LEN + 1 || year < 1000 || year > 9999) {
        /* Outside four-digit years (strftime writes 999, not 0999), or a
         * short buffer: as strftime writes it. */
        char date[32];
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, len, "%s.%03dZ", date, millis);
        return buf;
    }
    /* The digits by hand: replies carry several times each, and strftime
     * with snprintf cost ~3,000 instructions per time (issue 12). */
    char *p = put_digits(buf, (unsigned)year, 4);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)millis, 3);
    *p++ = 'Z';
    *p = '\0';
    return buf;
}

char *bm_time_local(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

int bm_time_parse_iso(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (!p)
        return -1;
    long millis = 0;
    if (*p == 'T' || *p == ' ') {
        p = strptime(p + 1, "%H:%M:%S", &tm);
        if (!p)
            return -1;
        if (*p == '.') {
            p++;
            int digits = 0;
            while (*p >= '0' && *p <= '9') {
                if (digits < 3)
                    millis = millis * 10 + (*p - '0');
                digits++;
                p++;
            }
            if (digits == 0)
                return -1;
            for (; digits < 3; digits++)
                millis *= 10;
        }
        if (*p == 'Z')
            p++;
    }
    if (*p != '\0')
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = (int64_t)t * 1000 + millis;
    return 0;
}

size_t bm_utf8_cut(char *s)
{
    size_t len = strlen(s), start = len;
    while (start > 0 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
        start--;
    if (start > 0 && !bm_utf8_valid(s + start - 1, len - (start - 1))) {
        s[start - 1] = '\0';
        len = start - 1;
    }
    return len;
}

bool bm_utf8_valid(const char *str, size_t len)
{
    /* The well-formed sequences of the Unicode standard (Table 3-7), tested
     * byte by byte as that table reads: no overlong forms, no surrogates,
     * nothing past U+10FFFF; a NUL is refused too. ASCII runs go eight bytes
     * at a time; a 3-byte character (Chinese) costs a handful of compares. */
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            /* Eight ASCII bytes at a time: no high bit set and no zero byte. */
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, s + i, sizeof w);
                if ((w & UINT64_C(0x8080808080808080)) ||
                    ((w - UINT64_C(0x0101010101010101)) & ~w & UINT64_C(0x8080808080808080)))
                    break;
                i += 8;
            }
            if (i >= len)
                break;
            c = s[i];
            if (c < 0x80) {
                if (c == 0)
                    return false;
                i++;
                continue;
            }
        }
        if (c >= 0xE0 && c <= 0xEF) {
            if (len - i < 3)
                return false;
            unsigned char c1 = s[i + 1];
            bool ok1 = c == 0xE0 ? (c1 >= 0xA0 && c1 <= 0xBF)
                       : c == 0xED ? (c1 >= 0x80 && c1 <= 0x9F) /* not a surrogate */
                                   : (c1 & 0xC0) == 0x80;
            if (!ok1 || (s[i + 2] & 0xC0) != 0x80)
                return false;
            i += 3;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (len - i < 2 || (s[i + 1] & 0xC0) != 0x80)
                return false;
            i += 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (len - i < 4)
                return false;
            unsigned char c1 = s[i + 1];
            bool ok1 = c == 0xF0 ? (c1 >= 0x90 && c1 <= 0xBF)
                       : c == 0xF4 ? (c1 >= 0x80 && c1 <= 0x8F) /* not past U+10FFFF */
                                   : (c1 & 0xC0) == 0x80;
            if (!ok1 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return false;
            i += 4;
        } else {
            return false; /* a continuation byte, C0, C1, or F5 and above */
        }
    }
    return true;
}

bool bm_blank(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
            return false;
    }
    return true;
}

int bm_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int bm_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

char *bm_random_id(const char *prefix, char *buf, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[22];
    if (bm_random_bytes(raw, sizeof raw) != 0) {
        /* getrandom does not fail on Linux >= 3.17 once seeded; be safe anyway. */
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)rand();
    }
    size_t plen = strlen(prefix);
    if (len < plen + sizeof raw + 1) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    memcpy(buf, prefix, plen);
    for (size_t i = 0; i < sizeof raw; i++)
        buf[plen + i] = alphabet[raw[i] & 63];
    buf[plen + sizeof raw] = '\0';
    return buf;
}

int bm_base64_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
    size_t need = 4 * ((n + 2) / 3) + 1;
    if (outlen < need || n > INT_MAX / 2)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int bm_base64_decode(const char *in, unsigned char *out, size_t outlen)
{
    size_t n = strlen(in);
    if (n == 0 || n % 4 != 0 || n > INT_MAX / 2)
        return -1;
    /* EVP_DecodeBlock trims whitespace and reads '=' anywhere as zero bits:
     * accept only the alphabet, with at most two '=' at the very end. */
    size_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < n - pad; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return -1;
    }
    if (outlen < n / 4 * 3)
        return -1;
    int got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (got < 0)
        return -1;
    /* EVP_DecodeBlock counts padding as output bytes. */
    return got - (int)pad;
}

int bm_strlcpy(char *dst, const char *src, size_t dst_len)
{
    if (dst_len == 0)
        return -1;
    size_t n = strlen(src);
    if (n >= dst_len) {
        memcpy(dst, src, dst_len - 1);
        dst[dst_len - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}
