/* test_util.c - unit tests for lib/util.c: UTF-8 validation, number parsing,
 * base64, ISO times, random ids and bounded string copies. */
#include "util.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* ---- bm_utf8_valid ------------------------------------------------------ */

static bool utf8(const char *s)
{
    return bm_utf8_valid(s, strlen(s));
}

static void test_utf8_valid_inputs(void **state)
{
    (void)state;
    assert_true(bm_utf8_valid("", 0));
    assert_true(utf8("hello, world ~"));
    assert_true(utf8("市政小区"));                  /* 3-byte sequences */
    assert_true(utf8("市政小区 3栋 2-301 罗女士"));  /* mixed */
    assert_true(utf8("\xC2\x80"));                  /* smallest 2-byte */
    assert_true(utf8("\xDF\xBF"));                  /* largest 2-byte */
    assert_true(utf8("\xE0\xA0\x80"));              /* smallest 3-byte (U+0800) */
    assert_true(utf8("\xED\x9F\xBF"));              /* U+D7FF, just below surrogates */
    assert_true(utf8("\xEE\x80\x80"));              /* U+E000, just above surrogates */
    assert_true(utf8("\xEF\xBF\xBF"));              /* U+FFFF */
    assert_true(utf8("\xF0\x9F\x98\x80"));          /* U+1F600 emoji, 4 bytes */
    assert_true(utf8("\xF0\x90\x80\x80"));          /* U+10000 smallest 4-byte */
    assert_true(utf8("\xF4\x8F\xBF\xBF"));          /* U+10FFFF largest */
    assert_true(utf8("水管 \xF0\x9F\x9A\xB0 ok"));
    /* Only len bytes are looked at: a prefix ending on a boundary is fine. */
    assert_true(bm_utf8_valid("市政\xFF", 6));
}

/* The eight-bytes-at-a-time ASCII path: a bad byte or a NUL at every position
 * of a long ASCII run is found, and the length bound is kept exactly. */
static void test_utf8_ascii_fast_path(void **state)
{
    (void)state;
    char buf[80];
    memset(buf, 'a', sizeof buf);
    assert_true(bm_utf8_valid(buf, sizeof buf));
    for (size_t at = 0; at < 40; at++) {
        memset(buf, 'a', sizeof buf);
        buf[at] = '\0';
        assert_false(bm_utf8_valid(buf, sizeof buf));
        assert_true(bm_utf8_valid(buf, at)); /* the NUL is past the end */
        buf[at] = (char)0xFF;
        assert_false(bm_utf8_valid(buf, sizeof buf));
        buf[at] = (char)0x80; /* a lone continuation byte */
        assert_false(bm_utf8_valid(buf, sizeof buf));
        memcpy(buf + at, "\xE5\xB8\x82", 3); /* 市 inside the run */
        assert_true(bm_utf8_valid(buf, sizeof buf));
        assert_false(bm_utf8_valid(buf, at + 2)); /* cut inside it */
        buf[at + 2] = 'a'; /* truncated sequence followed by ASCII */
        assert_false(bm_utf8_valid(buf, sizeof buf));
    }
}

static void test_utf8_invalid_inputs(void **state)
{
    (void)state;
    /* Truncated sequences, also at the very end of the buffer. */
    assert_false(utf8("\xE5"));
    assert_false(utf8("\xE5\xB8"));
    assert_false(utf8("abc\xE5\xB8"));
    assert_false(utf8("\xF0\x9F\x98"));
    assert_false(utf8("\xC3"));
    assert_false(bm_utf8_valid("市", 2));
    assert_false(bm_utf8_valid("\xF0\x9F\x98\x80", 3));
    /* A truncated sequence followed by ASCII. */
    assert_false(utf8("\xE5\xB8x"));
    assert_false(utf8("\xF0\x9F\x98x"));
    /* Overlong encodings. */
    assert_false(utf8("\xC0\x80"));
    assert_false(utf8("\xC1\xBF"));
    assert_false(utf8("\xE0\x80\x80"));
    assert_false(utf8("\xE0\x9F\xBF"));
    assert_false(utf8("\xF0\x80\x80\x80"));
    assert_false(utf8("\xF0\x8F\xBF\xBF"));
    /* UTF-16 surrogates. */
    assert_false(utf8("\xED\xA0\x80"));
    assert_false(utf8("\xED\xBF\xBF"));
    assert_false(utf8("\xED\xA0\xBD\xED\xB8\x80")); /* CESU-8 pair */
    /* Beyond U+10FFFF and bytes that never occur. */
    assert_false(utf8("\xF4\x90\x80\x80"));
    assert_false(utf8("\xF5\x80\x80\x80"));
    assert_false(utf8("\xF8\x88\x80\x80\x80"));
    assert_false(utf8("\xFE"));
    assert_false(utf8("\xFF"));
    /* Lone continuation bytes. */
    assert_false(utf8("\x80"));
    assert_false(utf8("a\xBF" "b"));
    assert_false(utf8("市\x80"));
    /* Continuation byte replaced by a lead byte. */
    assert_false(utf8("\xE5\xC2\x80"));
    /* Embedded NUL. */
    assert_false(bm_utf8_valid("ab\0cd", 5));
    assert_false(bm_utf8_valid("\0", 1));
}

/* ---- bm_blank ------------------------------------------------------------ */

/* A string cut in the middle of a character loses that character only. */
static void test_utf8_cut(void **state)
{
    (void)state;
    char a[] = "ab汉字";
    a[6] = '\0'; /* "ab汉" and one byte of 字 */
    assert_int_equal(bm_utf8_cut(a), 5);
    assert_string_equal(a, "ab汉");
    char b[] = "ab汉字";
    b[7] = '\0'; /* two bytes of 字 */
    assert_int_equal(bm_utf8_cut(b), 5);
    assert_string_equal(b, "ab汉");
    char c[] = "ab汉字"; /* whole: unchanged */
    assert_int_equal(bm_utf8_cut(c), 8);
    assert_string_equal(c, "ab汉字");
    char d[] = "abc";
    assert_int_equal(bm_utf8_cut(d), 3);
    char e[] = "";
    assert_int_equal(bm_utf8_cut(e), 0);
    char f[] = "\xe6"; /* a lone lead byte */
    assert_int_equal(bm_utf8_cut(f), 0);
}

static void test_blank(void **state)
{
    (void)state;
    assert_true(bm_blank(""));
    assert_true(bm_blank(" \t\r\n\f\v"));
    assert_false(bm_blank(" a "));
    assert_false(bm_blank("市"));
    assert_false(bm_blank("\t.\n"));
}

/* ---- bm_parse_long ------------------------------------------------------- */

static void test_parse_long_ok(void **state)
{
    (void)state;
    long v = -1;
    assert_int_equal(bm_parse_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(bm_parse_long("-7", -10, 10, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(bm_parse_long("0", 0, 0, &v), 0);
    assert_int_equal(v, 0);
    /* Both ends of the range are inside it. */
    assert_int_equal(bm_parse_long("1", 1, 5, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(bm_parse_long("5", 1, 5, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(bm_parse_long("9223372036854775807", 0, LONG_MAX, &v), 0);
    assert_true(v == LONG_MAX);
    assert_int_equal(bm_parse_long("-9223372036854775808", LONG_MIN, 0, &v), 0);
    assert_true(v == LONG_MIN);
}

static void test_parse_long_rejects(void **state)
{
    (void)state;
    long v = 12345;
    assert_int_equal(bm_parse_long("42x", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("42 ", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("4 2", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("x42", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("0x10", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("1.5", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("-", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long(NULL, 0, 100, &v), -1);
    /* Overflow of long itself (ERANGE), both signs. */
    assert_int_equal(bm_parse_long("99999999999999999999", LONG_MIN, LONG_MAX, &v), -1);
    assert_int_equal(bm_parse_long("-99999999999999999999", LONG_MIN, LONG_MAX, &v), -1);
    assert_int_equal(bm_parse_long("9223372036854775808", LONG_MIN, LONG_MAX, &v), -1);
    /* Outside [min, max]. */
    assert_int_equal(bm_parse_long("101", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("-1", 0, 100, &v), -1);
    assert_int_equal(bm_parse_long("0", 1, 20, &v), -1);
    /* A failure leaves *out alone. */
    assert_int_equal(v, 12345);
}

/* ---- base64 --------------------------------------------------------------- */

static void test_base64_rfc4648_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *coded;
    } v[] = {
        {"f", "Zg=="},     {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[32];
        unsigned char back[32];
        size_t n = strlen(v[i].plain);
        int len = bm_base64_encode((const unsigned char *)v[i].plain, n, out, sizeof out);
        assert_int_equal(len, (int)strlen(v[i].coded));
        assert_string_equal(out, v[i].coded);
        int got = bm_base64_decode(v[i].coded, back, sizeof back);
        assert_int_equal(got, (int)n);
        assert_memory_equal(back, v[i].plain, n);
    }
    char out[4] = "xyz";
    assert_int_equal(bm_base64_encode((const unsigned char *)"", 0, out, sizeof out), 0);
    assert_string_equal(out, "");
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    /* Every length 1..70 (all three padding cases many times), random bytes. */
    for (size_t n = 1; n <= 70; n++) {
        unsigned char in[70], back[72];
        char coded[100];
        assert_int_equal(bm_random_bytes(in, n), 0);
        int len = bm_base64_encode(in, n, coded, sizeof coded);
        assert_int_equal(len, (int)(4 * ((n + 2) / 3)));
        assert_int_equal(strlen(coded), (size_t)len);
        size_t pad = (3 - n % 3) % 3;
        assert_true(pad == 0 || coded[len - 1] == '=');
        assert_true(pad < 2 || coded[len - 2] == '=');
        assert_true(coded[len - 1 - pad] != '=');
        memset(back, 0xAA, sizeof back);
        assert_int_equal(bm_base64_decode(coded, back, sizeof back), (int)n);
        assert_memory_equal(back, in, n);
    }
}

static void test_base64_buffer_limits(void **state)
{
    (void)state;
    char small[8];
    /* "foo" needs 4 characters + NUL. */
    assert_int_equal(bm_base64_encode((const unsigned char *)"foo", 3, small, 4), -1);
    assert_int_equal(bm_base64_encode((const unsigned char *)"foo", 3, small, 5), 4);
    assert_string_equal(small, "Zm9v");
    /* 6 bytes do not fit in 5. */
    unsigned char out[8];
    assert_int_equal(bm_base64_decode("Zm9vYmFy", out, 5), -1);
    assert_int_equal(bm_base64_decode("Zm9vYmFy", out, 6), 6);
}

static void test_base64_decode_rejects_invalid(void **state)
{
    (void)state;
    unsigned char out[64];
    /* Length not a multiple of 4, empty, characters outside the alphabet. */
    const char *bad[] = {
        "",          "Z",          "Zm9",        "Zm9vY",     "Zm9v!A==",
        "Zm 9v",     "Zm\n9",      "Zm9v\n",     "Zm-_",      "市政小区",
        /* Padding in the wrong place or too much of it. */
        "====",      "Z===",       "Zg=a",       "=Zm9",      "Zm9v====",
        "Zm=v",      "Zg==Zg==",
        /* Whitespace padding out to a multiple of 4. */
        "Zm9v    ",  "    Zm9v",
    };
    int accepted = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int got = bm_base64_decode(bad[i], out, sizeof out);
        if (got != -1) {
            print_error("bm_base64_decode(\"%s\") returned %d, expected -1\n", bad[i], got);
            accepted++;
        }
    }
    assert_int_equal(accepted, 0);
}

/* ---- ISO times ------------------------------------------------------------ */

static void test_time_iso_format(void **state)
{
    (void)state;
    char buf[25];
    assert_string_equal(bm_time_iso(0, buf, sizeof buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(bm_time_iso(1795933201123LL, buf, sizeof buf),
                        "2026-11-29T06:20:01.123Z");
    assert_string_equal(bm_time_iso(951868799999LL, buf, sizeof buf), "2000-02-29T23:59:59.999Z");
    /* Past 2038 (32-bit time_t limit). */
    assert_string_equal(bm_time_iso(2147483648000LL, buf, sizeof buf),
                        "2038-01-19T03:14:08.000Z");
    /* Before the epoch the milliseconds still count forward. */
    assert_string_equal(bm_time_iso(-1, buf, sizeof buf), "1969-12-31T23:59:59.999Z");
    assert_int_equal(strlen(buf), 24);
}

/* The digits written by hand say what gmtime_r, strftime and snprintf said
 * before: for a spread of times from 1900 to 2200 and from the year 1 to
 * 1100, midnights and the last millisecond of days near them, and years
 * outside four digits. */
static void test_time_iso_as_strftime(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL; /* xorshift: the same values every run */
    const int64_t lo = -2208988800000LL, span = 9467107200000LL;       /* 1900 .. 2200 */
    const int64_t lo2 = -62135596800000LL, span2 = 34713043200000LL; /* 0001 .. 1100 */
    for (int i = 0; i < 240000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ms = i < 200000 ? lo + (int64_t)(x % (uint64_t)span) : lo2 + (int64_t)(x % (uint64_t)span2);
        if (i % 4 == 1)
            ms -= ms % 86400000; /* midnight */
        else if (i % 4 == 2)
            ms = ms - ms % 86400000 - 1; /* the last millisecond of a day */
        time_t secs = (time_t)(ms / 1000);
        int millis = (int)(ms % 1000);
        if (millis < 0) {
            millis += 1000;
            secs -= 1;
        }
        struct tm tm;
        gmtime_r(&secs, &tm);
        char date[32], want[40], got[25];
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof want, "%s.%03dZ", date, millis);
        bm_time_iso(ms, got, sizeof got);
        if (strcmp(want, got) != 0)
            fail_msg("%lld: want %s, got %s", (long long)ms, want, got);
    }
    char buf[40];
    /* Year 10000 and a year before 0: strftime's text, as before. */
    assert_string_equal(bm_time_iso(253402300800000LL, buf, sizeof buf), "10000-01-01T00:00:00.000Z");
    assert_string_equal(bm_time_iso(-62198755200000LL, buf, sizeof buf), "-1-01-01T00:00:00.000Z");
    /* A buffer too short is cut, never overrun. */
    char small[11];
    assert_string_equal(bm_time_iso(0, small, sizeof small), "1970-01-01");
}

static void test_time_parse_iso(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(bm_time_parse_iso("2026-11-29T06:20:01.123Z", &ms), 0);
    assert_true(ms == 1795933201123LL);
    /* Without milliseconds, without Z, with a space, with 1, 2 or more digits. */
    assert_int_equal(bm_time_parse_iso("2026-11-29T06:20:01Z", &ms), 0);
    assert_true(ms == 1795933201000LL);
    assert_int_equal(bm_time_parse_iso("2026-11-29T06:20:01", &ms), 0);
    assert_true(ms == 1795933201000LL);
    assert_int_equal(bm_time_parse_iso("2026-11-29 06:20:01.123", &ms), 0);
    assert_true(ms == 1795933201123LL);
    assert_int_equal(bm_time_parse_iso("2026-11-29T06:20:01.5Z", &ms), 0);
    assert_true(ms == 1795933201500LL);
    assert_int_equal(bm_time_parse_iso("2026-11-29T06:20:01.12Z", &ms), 0);
    assert_true(ms == 1795933201120LL);
    assert_int_equal(bm_time_parse_iso("2026-11-29T06:20:01.123456Z", &ms), 0);
    assert_true(ms == 1795933201123LL);
    /* A bare date is midnight UTC. */
    assert_int_equal(bm_time_parse_iso("2026-11-29", &ms), 0);
    assert_true(ms == 1795910400000LL);
    assert_int_equal(bm_time_parse_iso("2000-02-29", &ms), 0);
    assert_true(ms == 951782400000LL);
}

static void test_time_parse_iso_rejects_garbage(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "hello",
        "2026",
        "2026-11",
        "2026-13-01",
        "2026-11-32",
        "2026-11-29X",
        "2026-11-29Z",
        "2026-11-29T",
        "2026-11-29T06",
        "2026-11-29T06:20",
        "2026-11-29T25:00:00Z",
        "2026-11-29T06:60:00Z",
        "2026-11-29T06:20:01.Z",
        "2026-11-29T06:20:01.123Zjunk",
        "2026-11-29T06:20:01.123+08:00",
        "2026-11-29T06:20:01.12a3Z",
        "29/11/2026",
    };
    int accepted = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 777;
        int rc = bm_time_parse_iso(bad[i], &ms);
        if (rc != -1 || ms != 777) {
            print_error("bm_time_parse_iso(\"%s\") accepted it as %lld\n", bad[i], (long long)ms);
            accepted++;
        }
    }
    assert_int_equal(accepted, 0);
}

static void test_time_round_trip(void **state)
{
    (void)state;
    const int64_t values[] = {0,          1,           999,           1000,
                              86399999,   951868799999LL, 1795933201123LL, 2147483648000LL,
                              4102444799999LL /* 2099-12-31T23:59:59.999Z */};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[25];
        int64_t back = -1;
        bm_time_iso(values[i], buf, sizeof buf);
        assert_int_equal(bm_time_parse_iso(buf, &back), 0);
        assert_true(back == values[i]);
    }
    /* And now, whatever the clock says. */
    int64_t now = bm_now_ms(), back = 0;
    char buf[25];
    assert_true(now > 1700000000000LL);
    assert_int_equal(bm_time_parse_iso(bm_time_iso(now, buf, sizeof buf), &back), 0);
    assert_true(back == now);
}

static void test_time_local(void **state)
{
    (void)state;
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    char buf[20];
    setenv("TZ", "UTC0", 1);
    tzset();
    assert_string_equal(bm_time_local(1795933201123LL, buf, sizeof buf), "2026-11-29 06:20");
    setenv("TZ", "CST-8", 1); /* China Standard Time, UTC+8, no tzdata needed */
    tzset();
    assert_string_equal(bm_time_local(1795933201123LL, buf, sizeof buf), "2026-11-29 14:20");
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t a = bm_mono_ms();
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    int64_t b = bm_mono_ms();
    assert_true(b - a >= 19);
    assert_true(b - a < 5000);
}

/* ---- random ids ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_random_id(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char ids[N][48];
    for (int i = 0; i < N; i++) {
        bm_random_id("msg_", ids[i], sizeof ids[i]);
        assert_int_equal(strlen(ids[i]), 4 + 22);
        assert_memory_equal(ids[i], "msg_", 4);
        for (size_t k = 4; k < 26; k++) {
            char c = ids[i][k];
            assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_');
        }
    }
    qsort(ids, N, sizeof ids[0], cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);

    /* Empty prefix; exact fit; too small gives an empty string. */
    char buf[30];
    assert_int_equal(strlen(bm_random_id("", buf, sizeof buf)), 22);
    char exact[4 + 22 + 1];
    assert_int_equal(strlen(bm_random_id("dlv_", exact, sizeof exact)), 26);
    char tiny[26];
    memset(tiny, 'x', sizeof tiny);
    assert_string_equal(bm_random_id("dlv_", tiny, sizeof tiny), "");
}

static void test_random_bytes(void **state)
{
    (void)state;
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    assert_int_equal(bm_random_bytes(a, sizeof a), 0);
    assert_int_equal(bm_random_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(bm_random_bytes(a, 0), 0);
}

/* ---- bm_strlcpy ------------------------------------------------------------ */

static void test_strlcpy(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(bm_strlcpy(buf, "abc", sizeof buf), 0);
    assert_string_equal(buf, "abc");
    /* Exactly fills the buffer. */
    assert_int_equal(bm_strlcpy(buf, "1234567", sizeof buf), 0);
    assert_string_equal(buf, "1234567");
    /* One too many: truncated, still terminated. */
    assert_int_equal(bm_strlcpy(buf, "12345678", sizeof buf), -1);
    assert_string_equal(buf, "1234567");
    assert_int_equal(bm_strlcpy(buf, "a much longer string than fits", sizeof buf), -1);
    assert_string_equal(buf, "a much ");
    assert_int_equal(bm_strlcpy(buf, "", sizeof buf), 0);
    assert_string_equal(buf, "");
    /* Size 1 holds only the terminator; size 0 writes nothing. */
    char one[1] = {'x'};
    assert_int_equal(bm_strlcpy(one, "abc", sizeof one), -1);
    assert_int_equal(one[0], '\0');
    char guard[2] = {'g', 'h'};
    assert_int_equal(bm_strlcpy(guard, "abc", 0), -1);
    assert_int_equal(guard[0], 'g');
    assert_int_equal(guard[1], 'h');
    /* Does not read or write past the destination (ASan checks the heap copy). */
    char *heap = malloc(4);
    assert_non_null(heap);
    assert_int_equal(bm_strlcpy(heap, "市政小区", 4), -1);
    assert_int_equal(heap[3], '\0');
    free(heap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_inputs),
        cmocka_unit_test(test_utf8_invalid_inputs),
        cmocka_unit_test(test_utf8_ascii_fast_path),
        cmocka_unit_test(test_utf8_cut),
        cmocka_unit_test(test_blank),
        cmocka_unit_test(test_parse_long_ok),
        cmocka_unit_test(test_parse_long_rejects),
        cmocka_unit_test(test_base64_rfc4648_vectors),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_buffer_limits),
        cmocka_unit_test(test_base64_decode_rejects_invalid),
        cmocka_unit_test(test_time_iso_format),
        cmocka_unit_test(test_time_iso_as_strftime),
        cmocka_unit_test(test_time_parse_iso),
        cmocka_unit_test(test_time_parse_iso_rejects_garbage),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_time_local),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_strlcpy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
