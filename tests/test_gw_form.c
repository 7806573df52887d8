/* test_gw_form.c - the gateway's own parsing of untrusted input: urlencoded
 * bodies and queries, multipart/form-data, the Cookie header, session
 * cookies and CSRF tokens, HTML escaping. Known cases first, then a bounded
 * random fuzz of every parser (mutated valid inputs and pure noise), which
 * under ASan+UBSan checks that no input reads out of bounds or leaks.
 * BM_FUZZ_ITERS sets the number of rounds (default 20000), BM_FUZZ_SEED the
 * random sequence (default fixed, so a failure repeats). */
#include "gw.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_urlencoded(void **state)
{
    (void)state;
    gw_form_t f = {0};
    const char *s = "a=1&b=%E4%B8%AD+x&empty=&noval&c=%3Cscript%3E";
    assert_int_equal(form_parse_urlencoded(s, strlen(s), &f), 0);
    assert_string_equal(form_get(&f, "a"), "1");
    assert_string_equal(form_get(&f, "b"), "中 x");
    assert_string_equal(form_get(&f, "empty"), "");
    assert_string_equal(form_get(&f, "noval"), "");
    assert_string_equal(form_get(&f, "c"), "<script>");
    assert_null(form_get(&f, "missing"));
    form_clear(&f);
    const char *bad[] = {"a=%", "a=%4", "a=%zz", "%=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(form_parse_urlencoded(bad[i], strlen(bad[i]), &f), -1);
        form_clear(&f);
    }
    /* a NUL or invalid UTF-8 in a value: the field is not given out */
    s = "a=x%00y&b=%FF";
    assert_int_equal(form_parse_urlencoded(s, strlen(s), &f), 0);
    assert_null(form_get(&f, "a"));
    assert_null(form_get(&f, "b"));
    form_clear(&f);
    /* too many fields */
    gw_buf_t many = {0};
    for (int i = 0; i < GW_MAX_FIELDS + 1; i++)
        buf_printf(&many, "f%d=1&", i);
    assert_int_equal(form_parse_urlencoded(many.data, many.len, &f), -1);
    form_clear(&f);
    buf_free(&many);
}

static const char MP_CT[] = "multipart/form-data; boundary=XyZ";

static void test_multipart(void **state)
{
    (void)state;
    const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n漏水\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"a.png\"\r\n"
                        "Content-Type: image/png\r\n\r\n\x89PNG\0\x01\r\n--XyZ--\r\n";
    gw_form_t f = {0};
    assert_int_equal(form_parse_multipart(body, sizeof body - 1, MP_CT, &f), 0);
    assert_int_equal(f.n, 2);
    assert_string_equal(form_get(&f, "text"), "漏水");
    assert_null(form_get(&f, "photos")); /* a file is not a text field */
    assert_string_equal(f.f[1].filename, "a.png");
    assert_string_equal(f.f[1].ctype, "image/png");
    assert_int_equal(f.f[1].len, 6);
    assert_memory_equal(f.f[1].value, "\x89PNG\0\x01", 6);
    form_clear(&f);
    const char *bad[] = {
        "",
        "--XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
        "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nno headers end",
        "--XyZx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(form_parse_multipart(bad[i], strlen(bad[i]), MP_CT, &f), -1);
        form_clear(&f);
    }
    assert_int_equal(form_parse_multipart(body, sizeof body - 1, "multipart/form-data", &f), -1);
    form_clear(&f);
    assert_int_equal(form_parse_multipart(body, sizeof body - 1, "text/plain; boundary=XyZ", &f), -1);
    form_clear(&f);
    assert_int_equal(form_parse_multipart(body, sizeof body - 1, NULL, &f), -1);
    form_clear(&f);
    /* a quoted boundary works */
    assert_int_equal(form_parse_multipart(body, sizeof body - 1, "multipart/form-data; boundary=\"XyZ\"", &f), 0);
    form_clear(&f);
}

static void test_cookies(void **state)
{
    (void)state;
    char v[64];
    assert_int_equal(cookie_get("a=1; bm_csrf=xyz; b=2", "bm_csrf", v, sizeof v), 0);
    assert_string_equal(v, "xyz");
    assert_int_equal(cookie_get("bm_csrfx=1; xbm_csrf=2", "bm_csrf", v, sizeof v), -1);
    assert_int_equal(cookie_get("a=1;bm_csrf=", "bm_csrf", v, sizeof v), 0);
    assert_string_equal(v, "");
    assert_int_equal(cookie_get(NULL, "a", v, sizeof v), -1);
    assert_int_equal(cookie_get("junk; ;;", "a", v, sizeof v), -1);
    char small[4];
    assert_int_equal(cookie_get("a=12345", "a", small, sizeof small), -1);
}

static void test_sessions_and_csrf(void **state)
{
    (void)state;
    unsigned char secret[GW_SECRET_LEN], other[GW_SECRET_LEN];
    memset(secret, 7, sizeof secret);
    memset(other, 8, sizeof other);
    gw_session_t s = {.user = "wang", .name = "王主任", .role = "office", .expires = 2000}, out;
    char *c = session_make(secret, &s);
    assert_non_null(c);
    assert_int_equal(session_check(secret, c, 1000, &out), 0);
    assert_string_equal(out.user, "wang");
    assert_string_equal(out.name, "王主任");
    assert_string_equal(out.role, "office");
    assert_int_equal(session_check(secret, c, 2000, &out), -1); /* expired */
    assert_int_equal(session_check(other, c, 1000, &out), -1);  /* another secret */
    size_t n = strlen(c);
    c[n - 1] = c[n - 1] == '0' ? '1' : '0';
    assert_int_equal(session_check(secret, c, 1000, &out), -1); /* tampered */
    c[0] = c[0] == 'e' ? 'f' : 'e';
    assert_int_equal(session_check(secret, c, 1000, &out), -1);
    free(c);
    assert_int_equal(session_check(secret, "", 0, &out), -1);
    assert_int_equal(session_check(secret, ".", 0, &out), -1);
    assert_int_equal(session_check(secret, NULL, 0, &out), -1);
    char tok[65];
    csrf_token(secret, "nonce1", tok);
    assert_true(csrf_ok(secret, "nonce1", tok));
    assert_false(csrf_ok(secret, "nonce2", tok));
    assert_false(csrf_ok(other, "nonce1", tok));
    assert_false(csrf_ok(secret, "nonce1", NULL));
    assert_false(csrf_ok(secret, "", tok));
    assert_false(csrf_ok(secret, "nonce1", "abc"));
}

static void test_escape(void **state)
{
    (void)state;
    gw_buf_t b = {0};
    buf_html(&b, "<script>alert(\"x\" & 'y')</script>中");
    assert_string_equal(b.data, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;中");
    b.len = 0;
    buf_url(&b, "a b&c=中");
    assert_string_equal(b.data, "a%20b%26c%3D%E4%B8%AD");
    buf_free(&b);
}

/* ---- bounded random fuzz ---------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static const char *const seeds[] = {
    "--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nabc\r\n--XyZ\r\n"
    "Content-Disposition: form-data; name=\"f\"; filename=\"a\"\r\nContent-Type: x\r\n\r\n\0\1\r\n--XyZ--\r\n",
    "a=1&b=%E4%B8%AD+x&c&=&&%41=%42",
    "a=1; bm_csrf=xyz; bm_session=abc.def",
};

static size_t mutate(char *buf, size_t cap)
{
    size_t n;
    if (next() % 4 == 0) { /* pure noise */
        n = next() % cap;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(next() % 8 == 0 ? "-\r\n=%&;\"X"[next() % 9] : (char)next());
        return n;
    }
    const char *seed = seeds[next() % 3];
    n = seed == seeds[0] ? 150 : strlen(seed);
    if (n > cap)
        n = cap;
    memcpy(buf, seed, n);
    int edits = 1 + (int)(next() % 8);
    for (int e = 0; e < edits && n > 0; e++) {
        size_t at = next() % n;
        switch (next() % 4) {
        case 0: buf[at] = (char)next(); break;
        case 1: n = at; break; /* truncate */
        case 2:
            if (n < cap) { /* insert */
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = "-\r\n=%&;\"XyZ"[next() % 11];
                n++;
            }
            break;
        default: { /* duplicate a span */
            size_t len = next() % 16;
            if (at + len <= n && n + len <= cap) {
                memmove(buf + at + len, buf + at, n - at);
                n += len;
            }
        }
        }
    }
    return n;
}

static void test_fuzz(void **state)
{
    (void)state;
    long iters = 20000;
    const char *env = getenv("BM_FUZZ_ITERS");
    if (env)
        bm_parse_long(env, 1, 1000000000L, &iters);
    long seed = 0;
    env = getenv("BM_FUZZ_SEED");
    if (env && bm_parse_long(env, 1, 0x7fffffffL, &seed) == 0)
        rng ^= (uint64_t)seed * 0x2545F4914F6CDD1Dull;
    unsigned char secret[GW_SECRET_LEN] = {1};
    long accepted = 0;
    for (long i = 0; i < iters; i++) {
        char buf[512];
        size_t n = mutate(buf, sizeof buf - 1);
        /* exact-length copies so ASan sees any read past the end */
        char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        gw_form_t f = {0};
        accepted += form_parse_multipart(exact, n, MP_CT, &f) == 0;
        for (int k = 0; k < f.n; k++)
            (void)form_get(&f, f.f[k].name);
        form_clear(&f);
        accepted += form_parse_urlencoded(exact, n, &f) == 0;
        form_clear(&f);
        free(exact);
        buf[n] = '\0';
        char v[64];
        (void)cookie_get(buf, "bm_csrf", v, sizeof v);
        (void)cookie_get(buf, "a", v, sizeof v);
        gw_session_t s;
        assert_int_equal(session_check(secret, buf, 0, &s), -1); /* never forged by noise */
        (void)csrf_ok(secret, buf, buf);
    }
    assert_true(accepted > 0); /* the mutations also reach the accepting paths */
    print_message("fuzz: %ld rounds, %ld inputs accepted\n", iters, accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencoded), cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_cookies),    cmocka_unit_test(test_sessions_and_csrf),
        cmocka_unit_test(test_escape),     cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
