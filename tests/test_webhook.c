/* test_webhook.c - unit tests for lib/webhook.c against the published
 * Standard Webhooks test vector, plus tampering and bad secrets. */
#include "webhook.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* https://github.com/standard-webhooks/standard-webhooks (spec test vector). */
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define TS     1614265330
#define BODY   "{\"test\": 2432232314}"
#define SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* Another valid 24-byte secret: base64 of bytes 0..23. */
#define OTHER_SECRET "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"

static int verify(const char *secret, const char *id, int64_t ts, const char *body,
                  const char *header)
{
    return bm_webhook_verify(secret, id, ts, body, strlen(body), header);
}

static void test_sign_known_vector(void **state)
{
    (void)state;
    char out[BM_SIG_LEN];
    memset(out, 'x', sizeof out);
    assert_int_equal(bm_webhook_sign(SECRET, MSG_ID, TS, BODY, strlen(BODY), out, sizeof out), 0);
    assert_string_equal(out, SIG);
    assert_int_equal(strlen(out), BM_SIG_LEN - 1);
}

static void test_sign_output_too_small(void **state)
{
    (void)state;
    char out[BM_SIG_LEN];
    assert_int_equal(bm_webhook_sign(SECRET, MSG_ID, TS, BODY, strlen(BODY), out, BM_SIG_LEN - 1),
                     -1);
}

static void test_verify_accepts_vector(void **state)
{
    (void)state;
    assert_int_equal(verify(SECRET, MSG_ID, TS, BODY, SIG), 0);
    /* As the second of two signatures (key rotation), and with extra spaces. */
    assert_int_equal(verify(SECRET, MSG_ID, TS, BODY,
                            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " SIG),
                     0);
    assert_int_equal(verify(SECRET, MSG_ID, TS, BODY, "v1,Zm9v  " SIG "  "), 0);
    assert_int_equal(verify(SECRET, MSG_ID, TS, BODY, SIG " v1,Zm9v"), 0);
}

static void test_verify_rejects_tampering(void **state)
{
    (void)state;
    /* Body changed by one digit, by a space, truncated. */
    assert_int_equal(verify(SECRET, MSG_ID, TS, "{\"test\": 2432232315}", SIG), -1);
    assert_int_equal(verify(SECRET, MSG_ID, TS, "{\"test\":2432232314}", SIG), -1);
    assert_int_equal(bm_webhook_verify(SECRET, MSG_ID, TS, BODY, strlen(BODY) - 1, SIG), -1);
    /* Wrong timestamp, wrong message id, wrong secret. */
    assert_int_equal(verify(SECRET, MSG_ID, TS + 1, BODY, SIG), -1);
    assert_int_equal(verify(SECRET, MSG_ID, TS - 1, BODY, SIG), -1);
    assert_int_equal(verify(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJeK", TS, BODY, SIG), -1);
    assert_int_equal(verify(OTHER_SECRET, MSG_ID, TS, BODY, SIG), -1);
}

static void test_verify_rejects_bad_headers(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        " ",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* no version */
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",  /* truncated */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==", /* one too many */
        "v1,G0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* one bit of case */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=x",
        "xv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=,v1", /* comma is not a separator */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (verify(SECRET, MSG_ID, TS, BODY, bad[i]) != -1)
            fail_msg("header \"%s\" was accepted", bad[i]);
    }
}

static void test_body_length_is_used(void **state)
{
    (void)state;
    /* A body with a NUL inside signs differently from its first part. */
    static const char body[] = {'{', '}', '\0', 'x'};
    char whole[BM_SIG_LEN], part[BM_SIG_LEN];
    assert_int_equal(bm_webhook_sign(SECRET, MSG_ID, TS, body, sizeof body, whole, sizeof whole), 0);
    assert_int_equal(bm_webhook_sign(SECRET, MSG_ID, TS, body, 2, part, sizeof part), 0);
    assert_string_not_equal(whole, part);
    assert_int_equal(bm_webhook_verify(SECRET, MSG_ID, TS, body, sizeof body, whole), 0);
    assert_int_equal(bm_webhook_verify(SECRET, MSG_ID, TS, body, 2, whole), -1);
    /* Empty body. */
    char empty[BM_SIG_LEN];
    assert_int_equal(bm_webhook_sign(SECRET, MSG_ID, TS, "", 0, empty, sizeof empty), 0);
    assert_int_equal(bm_webhook_verify(SECRET, MSG_ID, TS, "", 0, empty), 0);
    assert_string_not_equal(empty, whole);
}

static void test_invalid_secret(void **state)
{
    (void)state;
    const char *bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",        /* no whsec_ prefix */
        "whsec",                                   /* prefix cut short */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  /* wrong case */
        "whsec_",                                  /* nothing after it */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",   /* length not a multiple of 4 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!w",  /* not in the alphabet */
        "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw", /* space inside */
        "whsec_========",                          /* padding only */
        "",
    };
    int accepted = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[BM_SIG_LEN];
        int s = bm_webhook_sign(bad[i], MSG_ID, TS, BODY, strlen(BODY), out, sizeof out);
        int v = verify(bad[i], MSG_ID, TS, BODY, SIG);
        if (s != -1 || v != -1) {
            print_error("secret \"%s\": sign %d, verify %d, expected -1 and -1\n", bad[i], s, v);
            accepted++;
        }
    }
    assert_int_equal(accepted, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_vector),
        cmocka_unit_test(test_sign_output_too_small),
        cmocka_unit_test(test_verify_accepts_vector),
        cmocka_unit_test(test_verify_rejects_tampering),
        cmocka_unit_test(test_verify_rejects_bad_headers),
        cmocka_unit_test(test_body_length_is_used),
        cmocka_unit_test(test_invalid_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
