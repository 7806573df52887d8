/* util.h - small helpers every program needs: time, UTF-8, numbers, random ids. */
#ifndef BM_UTIL_H
#define BM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in ms since the Unix epoch (what is stored). */
int64_t bm_now_ms(void);
/* Monotonic time in ms (for timeouts and measuring). */
int64_t bm_mono_ms(void);
/* The length of bm_time_iso's text for a four-digit year. */
#define BM_TIME_ISO_LEN 24
/* Writes "2026-11-29T06:20:01.123Z" (UTC); buf needs 25 bytes. Returns buf. */
char *bm_time_iso(int64_t ms, char *buf, size_t len);
/* Parses the format above (also without milliseconds, or a bare YYYY-MM-DD);
 * returns 0 or -1. */
int bm_time_parse_iso(const char *s, int64_t *ms);
/* Writes local time "2026-11-29 14:20" for people; buf needs 20 bytes. */
char *bm_time_local(int64_t ms, char *buf, size_t len);

/* True if s[0..len) is well-formed UTF-8 with no NUL and no overlong or
 * surrogate encodings. */
bool bm_utf8_valid(const char *s, size_t len);
/* Cuts the NUL-terminated s back to its last whole character if it ends in
 * the middle of one (as a truncating snprintf leaves it); returns its length. */
size_t bm_utf8_cut(char *s);
/* True if s holds nothing but ASCII whitespace. */
bool bm_blank(const char *s);

/* Parses a whole decimal string into [min, max]; returns 0 or -1 (never atoi). */
int bm_parse_long(const char *s, long min, long max, long *out);

/* Fills buf with n random bytes from getrandom(2); returns 0 or -1. */
int bm_random_bytes(void *buf, size_t n);
/* Writes prefix + 22 random base64url characters, e.g. "msg_2bq7..."; returns buf. */
char *bm_random_id(const char *prefix, char *buf, size_t len);

/* Base64 (standard alphabet, padded). Return the output length, or -1 if out
 * is too small / the input is not base64. */
int bm_base64_encode(const unsigned char *in, size_t n, char *out, size_t outlen);
int bm_base64_decode(const char *in, unsigned char *out, size_t outlen);

/* Copies src into dst (size dst_len), always NUL-terminated; returns -1 if
 * it had to truncate. */
int bm_strlcpy(char *dst, const char *src, size_t dst_len);

#endif
