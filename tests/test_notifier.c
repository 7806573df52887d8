/* test_notifier.c - the notifier's pure helpers (delivery.c) and its transfer
 * engine (sender.c) against a small HTTP server on 127.0.0.1. */
#include "delivery.h"
#include "sender.h"
#include "test_notifier_http.h"
#include "util.h"
#include "webhook.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Two valid secrets (24 and 32 bytes of key). */
#define SECRET_A "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_B "whsec_c2VjcmV0LWtleS1mb3ItdGVzdGluZy0zMmJ5dGVzISE="
#define BODY_ZH  "{\"type\":\"request.claimed\",\"data\":{\"building\":\"3号楼\",\"note\":\"管道疏通 已接单\"}}"

/* ---- signatures and headers ---- */

static void test_signature_each_secret(void **state)
{
    (void)state;
    const char *secrets[] = {SECRET_A, SECRET_B};
    char out[NT_MAX_SECRETS * BM_SIG_LEN];
    assert_int_equal(nt_signature_header(secrets, 2, "msg_abc", 1700000000, BODY_ZH,
                                         strlen(BODY_ZH), out, sizeof out), 0);
    /* Two "v1,..." separated by one space, each verifying with its own secret. */
    const char *space = strchr(out, ' ');
    assert_non_null(space);
    assert_null(strchr(space + 1, ' '));
    assert_memory_equal(out, "v1,", 3);
    assert_memory_equal(space + 1, "v1,", 3);
    assert_int_equal(bm_webhook_verify(SECRET_A, "msg_abc", 1700000000, BODY_ZH,
                                       strlen(BODY_ZH), out), 0);
    assert_int_equal(bm_webhook_verify(SECRET_B, "msg_abc", 1700000000, BODY_ZH,
                                       strlen(BODY_ZH), out), 0);
    /* Any other timestamp, id or body does not verify. */
    assert_int_not_equal(bm_webhook_verify(SECRET_A, "msg_abc", 1700000001, BODY_ZH,
                                           strlen(BODY_ZH), out), 0);
    assert_int_not_equal(bm_webhook_verify(SECRET_A, "msg_abd", 1700000000, BODY_ZH,
                                           strlen(BODY_ZH), out), 0);
    assert_int_not_equal(bm_webhook_verify(SECRET_A, "msg_abc", 1700000000, BODY_ZH,
                                           strlen(BODY_ZH) - 1, out), 0);

    /* One secret: exactly one signature. */
    assert_int_equal(nt_signature_header(secrets, 1, "msg_abc", 1700000000, BODY_ZH,
                                         strlen(BODY_ZH), out, sizeof out), 0);
    assert_null(strchr(out, ' '));
    assert_int_equal(strlen(out), BM_SIG_LEN - 1);
}

static void test_signature_rejects_bad_input(void **state)
{
    (void)state;
    char out[NT_MAX_SECRETS * BM_SIG_LEN];
    const char *bad[] = {SECRET_A, "not-a-secret"};
    assert_int_equal(nt_signature_header(bad, 2, "m", 1, "{}", 2, out, sizeof out), -1);
    assert_int_equal(nt_signature_header(bad, 0, "m", 1, "{}", 2, out, sizeof out), -1);
    const char *two[] = {SECRET_A, SECRET_B};
    assert_int_equal(nt_signature_header(two, 2, "m", 1, "{}", 2, out, BM_SIG_LEN + 5), -1);
}

static void fill_delivery(nt_delivery_t *d, const char *url)
{
    memset(d, 0, sizeof *d);
    d->id = 7;
    d->msg_id = "msg_2bq7TestTestTestTestAA";
    d->url = url;
    d->type = "request.claimed";
    d->body = BODY_ZH;
    d->body_len = strlen(BODY_ZH);
    d->secrets[0] = SECRET_A;
    d->secrets[1] = SECRET_B;
    d->secret_count = 2;
    d->attempt = 1;
}

static void test_build_headers(void **state)
{
    (void)state;
    nt_delivery_t d;
    fill_delivery(&d, "http://127.0.0.1:1/hook");
    bm_error_t err = {0};
    struct curl_slist *h = nt_build_headers(&d, 1700000123, &err);
    assert_non_null(h);
    int seen = 0;
    char sig[NT_MAX_SECRETS * BM_SIG_LEN] = "";
    for (struct curl_slist *p = h; p; p = p->next) {
        if (strcmp(p->data, "Content-Type: application/json") == 0)
            seen |= 1;
        else if (strcmp(p->data, "User-Agent: bianmin-notifier/0.1") == 0)
            seen |= 2;
        else if (strcmp(p->data, "webhook-id: msg_2bq7TestTestTestTestAA") == 0)
            seen |= 4;
        else if (strcmp(p->data, "webhook-timestamp: 1700000123") == 0)
            seen |= 8;
        else if (strncmp(p->data, "webhook-signature: ", 19) == 0) {
            seen |= 16;
            bm_strlcpy(sig, p->data + 19, sizeof sig);
        } else if (strcmp(p->data, "Expect:") == 0)
            seen |= 32;
        else
            fail_msg("unexpected header %s", p->data);
    }
    curl_slist_free_all(h);
    assert_int_equal(seen, 63);
    assert_int_equal(bm_webhook_verify(SECRET_B, d.msg_id, 1700000123, BODY_ZH, strlen(BODY_ZH),
                                       sig), 0);

    d.secrets[1] = "whsec_";
    assert_null(nt_build_headers(&d, 1, &err));
    assert_string_equal(err.code, "invalid");
}

/* ---- Retry-After ---- */

static void test_retry_after_seconds(void **state)
{
    (void)state;
    long s = -1;
    assert_int_equal(nt_retry_after_parse("30", 2, 0, &s), 0);
    assert_int_equal(s, 30);
    assert_int_equal(nt_retry_after_parse(" 0 \r\n", 5, 0, &s), 0);
    assert_int_equal(s, 0);
    assert_int_equal(nt_retry_after_parse("99999999999999999999999", 23, 0, &s), 0);
    assert_int_equal(s, NT_RETRY_AFTER_MAX_S);
    assert_int_equal(nt_retry_after_parse("-5", 2, 0, &s), -1);
    assert_int_equal(nt_retry_after_parse("+5", 2, 0, &s), -1);
    assert_int_equal(nt_retry_after_parse("5s", 2, 0, &s), -1);
    assert_int_equal(nt_retry_after_parse("", 0, 0, &s), -1);
    assert_int_equal(nt_retry_after_parse("   ", 3, 0, &s), -1);
    assert_int_equal(nt_retry_after_parse("soon", 4, 0, &s), -1);
}

static void test_retry_after_date(void **state)
{
    (void)state;
    const char *date = "Wed, 21 Oct 2015 07:28:00 GMT";
    time_t when = curl_getdate(date, NULL);
    assert_true(when > 0);
    long s = -1;
    assert_int_equal(nt_retry_after_parse(date, strlen(date), when - 120, &s), 0);
    assert_int_equal(s, 120);
    /* A date in the past means "now". */
    assert_int_equal(nt_retry_after_parse(date, strlen(date), when + 5, &s), 0);
    assert_int_equal(s, 0);
    /* Far in the future is clamped. */
    assert_int_equal(nt_retry_after_parse(date, strlen(date), when - 100L * 86400, &s), 0);
    assert_int_equal(s, NT_RETRY_AFTER_MAX_S);
}

static void test_retry_after_header_line(void **state)
{
    (void)state;
    long s = -1;
    const char *a = "Retry-After: 7\r\n";
    assert_int_equal(nt_header_retry_after(a, strlen(a), 0, &s), 1);
    assert_int_equal(s, 7);
    const char *b = "retry-after:12\r\n";
    assert_int_equal(nt_header_retry_after(b, strlen(b), 0, &s), 1);
    assert_int_equal(s, 12);
    const char *c = "X-Retry-After: 5\r\n";
    assert_int_equal(nt_header_retry_after(c, strlen(c), 0, &s), 0);
    const char *d = "Retry-After: later\r\n";
    assert_int_equal(nt_header_retry_after(d, strlen(d), 0, &s), 0);
    const char *e = "Content-Type: text/plain\r\n";
    assert_int_equal(nt_header_retry_after(e, strlen(e), 0, &s), 0);
    assert_int_equal(s, 12);
}

/* ---- results ---- */

static nt_result_t classify(CURLcode code, long status, long os_errno, bool connected,
                            const char *errbuf)
{
    nt_result_t r = {.id = 1, .retry_after_s = -1};
    nt_outcome_t o = {code, status, os_errno, connected, errbuf, 5000, 15000};
    nt_result_classify(&r, &o);
    return r;
}

static void test_classify(void **state)
{
    (void)state;
    nt_result_t r = classify(CURLE_OK, 200, 0, true, "");
    assert_true(r.ok);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.error, "");
    assert_false(r.gone);

    r = classify(CURLE_OK, 204, 0, true, NULL);
    assert_true(r.ok);

    r = classify(CURLE_OK, 503, 0, true, "");
    assert_false(r.ok);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.error, "HTTP 503");

    r = classify(CURLE_OK, 410, 0, true, "");
    assert_false(r.ok);
    assert_true(r.gone);
    assert_string_equal(r.error, "HTTP 410");

    r = classify(CURLE_OK, 302, 0, true, "");
    assert_false(r.ok);
    assert_string_equal(r.error, "HTTP 302（不跟随重定向） / HTTP 302 (redirects are not followed)");

    r = classify(CURLE_OPERATION_TIMEDOUT, 0, 0, true, "Operation timed out after 15001 ms");
    assert_false(r.ok);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "超时：15000 毫秒内没有完成 / timeout after 15000 ms");

    r = classify(CURLE_OPERATION_TIMEDOUT, 0, 0, false, "");
    assert_string_equal(r.error, "连接超时：5000 毫秒内没有连上 / connect timeout after 5000 ms");

    r = classify(CURLE_COULDNT_CONNECT, 0, ECONNREFUSED, false, "Failed to connect");
    assert_string_equal(r.error, "连接被拒绝 / connection refused");

    r = classify(CURLE_COULDNT_RESOLVE_HOST, 0, 0, false, "Could not resolve host: x.invalid");
    assert_string_equal(r.error, "找不到主机 / Could not resolve host: x.invalid");

    r = classify(CURLE_UNSUPPORTED_PROTOCOL, 0, 0, false, "");
    assert_string_equal(r.error, "不支持的网址类型（只支持 http 和 https） / unsupported URL "
                                 "scheme (only http and https)");

    r = classify(CURLE_SSL_CONNECT_ERROR, 0, 0, true, "");
    char want[NT_ERROR_LEN];
    snprintf(want, sizeof want, "发送失败 / %s", curl_easy_strerror(CURLE_SSL_CONNECT_ERROR));
    assert_string_equal(r.error, want);

    /* A text longer than the limit is cut on a character boundary. */
    char longtext[NT_ERROR_LEN + 8];
    size_t k = 0;
    longtext[k++] = 'x'; /* so that 3-byte characters straddle the end */
    while (k + 3 < sizeof longtext) {
        memcpy(longtext + k, "错", 3);
        k += 3;
    }
    longtext[k] = '\0';
    nt_result_fail(&r, 5, "%s", longtext);
    assert_int_equal(r.id, 5);
    assert_true(strlen(r.error) < NT_ERROR_LEN);
    assert_true(strlen(r.error) >= NT_ERROR_LEN - 3);
    assert_true(bm_utf8_valid(r.error, strlen(r.error)));
}

static void test_result_json(void **state)
{
    (void)state;
    nt_result_t r = {.id = 8, .ok = false, .status = 503, .latency_ms = 40,
                     .retry_after_s = 30, .gone = false};
    bm_strlcpy(r.error, "HTTP 503", sizeof r.error);
    cJSON *j = nt_result_json(&r);
    char *text = cJSON_PrintUnformatted(j);
    assert_string_equal(text, "{\"id\":8,\"ok\":false,\"status\":503,\"latency_ms\":40,"
                              "\"error\":\"HTTP 503\",\"retry_after_s\":30,\"gone\":false}");
    free(text);
    cJSON_Delete(j);

    nt_result_t ok = {.id = 7, .ok = true, .status = 200, .latency_ms = 12, .retry_after_s = -1};
    j = nt_result_json(&ok);
    text = cJSON_PrintUnformatted(j);
    assert_string_equal(text, "{\"id\":7,\"ok\":true,\"status\":200,\"latency_ms\":12,\"gone\":false}");
    free(text);
    cJSON_Delete(j);

    nt_result_t none;
    nt_result_fail(&none, 9, "connection %s", "refused");
    none.latency_ms = 3;
    j = nt_result_json(&none);
    text = cJSON_PrintUnformatted(j);
    assert_string_equal(text, "{\"id\":9,\"ok\":false,\"status\":null,\"latency_ms\":3,"
                              "\"error\":\"connection refused\",\"gone\":false}");
    free(text);
    cJSON_Delete(j);
}

/* ---- deliveries from a take reply ---- */

static int parse_text(const char *json, nt_delivery_t *d, bm_error_t *err, cJSON **keep)
{
    *keep = cJSON_Parse(json);
    assert_non_null(*keep);
    return nt_delivery_parse(*keep, d, err);
}

static void test_delivery_parse(void **state)
{
    (void)state;
    nt_delivery_t d;
    bm_error_t err = {0};
    cJSON *j;
    assert_int_equal(parse_text("{\"id\":7,\"msg_id\":\"msg_x\",\"url\":\"http://127.0.0.1:8080/hook\","
                                "\"secrets\":[\"" SECRET_A "\",\"" SECRET_B "\"],"
                                "\"type\":\"request.received\",\"body\":\"{\\\"a\\\":\\\"楼\\\"}\","
                                "\"attempt\":3}", &d, &err, &j), 0);
    assert_int_equal(d.id, 7);
    assert_string_equal(d.msg_id, "msg_x");
    assert_string_equal(d.url, "http://127.0.0.1:8080/hook");
    assert_string_equal(d.body, "{\"a\":\"楼\"}");
    assert_int_equal(d.body_len, strlen("{\"a\":\"楼\"}"));
    assert_int_equal(d.secret_count, 2);
    assert_string_equal(d.secrets[1], SECRET_B);
    assert_int_equal(d.attempt, 3);
    cJSON_Delete(j);

    /* A malformed delivery still yields its id, to be reported as failed. */
    assert_int_equal(parse_text("{\"id\":8,\"msg_id\":\"msg_x\",\"body\":\"{}\",\"secrets\":[\"s\"]}",
                                &d, &err, &j), -1);
    assert_int_equal(d.id, 8);
    assert_string_equal(err.field, "url");
    cJSON_Delete(j);

    assert_int_equal(parse_text("{\"id\":9,\"msg_id\":\"msg_x\",\"url\":\"http://h/\",\"body\":\"{}\","
                                "\"secrets\":[]}", &d, &err, &j), -1);
    assert_string_equal(err.field, "secrets");
    cJSON_Delete(j);

    assert_int_equal(parse_text("{\"id\":9,\"msg_id\":\"msg_x\",\"url\":\"http://h/\",\"body\":\"{}\","
                                "\"secrets\":[1]}", &d, &err, &j), -1);
    assert_string_equal(err.field, "secrets");
    cJSON_Delete(j);

    /* A header injection through msg_id is refused. */
    assert_int_equal(parse_text("{\"id\":9,\"msg_id\":\"a\\r\\nX-Evil: 1\",\"url\":\"http://h/\","
                                "\"body\":\"{}\",\"secrets\":[\"s\"]}", &d, &err, &j), -1);
    assert_string_equal(err.field, "msg_id");
    cJSON_Delete(j);

    assert_int_equal(parse_text("{\"msg_id\":\"m\"}", &d, &err, &j), -1);
    assert_int_equal(d.id, 0);
    cJSON_Delete(j);
    assert_int_equal(parse_text("[1]", &d, &err, &j), -1);
    assert_int_equal(d.id, 0);
    cJSON_Delete(j);
}

/* ---- the transfer engine against 127.0.0.1 ---- */

typedef struct {
    nt_result_t r[8];
    char host[8][64];
    int n;
} collected_t;

static void on_done(const nt_result_t *r, const char *host, void *arg)
{
    collected_t *c = arg;
    assert_true(c->n < 8);
    c->r[c->n] = *r;
    bm_strlcpy(c->host[c->n], host, sizeof c->host[0]);
    c->n++;
}

/* The test receivers live on 127.0.0.1, which the guard refuses unless it
 * is allowed. */
static const char *const loopback_allowed[] = {"127.0.0.1"};

static nt_sender_t *new_guarded_sender(long timeout_ms, nt_guard_t guard)
{
    nt_sender_opts_t o = {.parallel = 8, .per_host = 4, .connect_timeout_ms = 2000,
                          .timeout_ms = timeout_ms, .guard = guard};
    nt_sender_t *s = nt_sender_new(&o);
    assert_non_null(s);
    return s;
}

static nt_sender_t *new_sender(long timeout_ms)
{
    return new_guarded_sender(timeout_ms, (nt_guard_t){loopback_allowed, 1, false});
}

/* Drives s until nothing is in flight (at most 10 s). */
static void drive(nt_sender_t *s, collected_t *c)
{
    int64_t deadline = bm_mono_ms() + 10000;
    while (nt_sender_inflight(s) > 0 && bm_mono_ms() < deadline)
        assert_true(nt_sender_run(s, 100, -1, on_done, c) >= 0);
    assert_int_equal(nt_sender_inflight(s), 0);
}

static void start_ok(nt_sender_t *s, const nt_delivery_t *d)
{
    nt_result_t fail;
    assert_int_equal(nt_sender_start(s, d, &fail), 0);
}

static void test_send_headers_and_signature(void **state)
{
    (void)state;
    th_server_t srv;
    assert_int_equal(th_start(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                    "Connection: close\r\n\r\nthanks"), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook?token=abc", srv.port);
    nt_delivery_t d;
    fill_delivery(&d, url);
    nt_sender_t *s = new_sender(5000);
    int64_t before = bm_now_ms() / 1000;
    start_ok(s, &d);
    collected_t c = {0};
    drive(s, &c);
    int64_t after = bm_now_ms() / 1000;

    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].id, 7);
    assert_true(c.r[0].ok);
    assert_int_equal(c.r[0].status, 200);
    assert_int_equal(c.r[0].retry_after_s, -1);
    assert_string_equal(c.host[0], "127.0.0.1");
    assert_true(c.r[0].latency_ms >= 0 && c.r[0].latency_ms < 5000);

    assert_int_equal(th_count(&srv), 1);
    th_request_t *q = &srv.requests[0];
    assert_memory_equal(q->head, "POST /hook?token=abc HTTP/1.1\r\n", 31);
    assert_int_equal(q->body_len, strlen(BODY_ZH));
    assert_memory_equal(q->body, BODY_ZH, q->body_len);
    char v[512];
    assert_int_equal(th_header(&srv, 0, "Content-Type", v, sizeof v), 0);
    assert_string_equal(v, "application/json");
    assert_int_equal(th_header(&srv, 0, "User-Agent", v, sizeof v), 0);
    assert_string_equal(v, "bianmin-notifier/0.1");
    assert_int_equal(th_header(&srv, 0, "webhook-id", v, sizeof v), 0);
    assert_string_equal(v, d.msg_id);
    assert_int_equal(th_header(&srv, 0, "Expect", v, sizeof v), -1);
    assert_int_equal(th_header(&srv, 0, "webhook-timestamp", v, sizeof v), 0);
    long ts;
    assert_int_equal(bm_parse_long(v, 0, 4000000000L, &ts), 0);
    assert_true(ts >= before && ts <= after);
    assert_int_equal(th_header(&srv, 0, "webhook-signature", v, sizeof v), 0);
    assert_int_equal(bm_webhook_verify(SECRET_A, d.msg_id, ts, q->body, q->body_len, v), 0);
    assert_int_equal(bm_webhook_verify(SECRET_B, d.msg_id, ts, q->body, q->body_len, v), 0);
    assert_non_null(strchr(v, ' '));

    nt_sender_destroy(&s);
    assert_null(s);
    th_stop(&srv);
}

static void test_send_503_retry_after(void **state)
{
    (void)state;
    th_server_t srv;
    assert_int_equal(th_start(&srv, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
                                    "Content-Length: 0\r\nConnection: close\r\n\r\n"), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", srv.port);
    nt_delivery_t d;
    fill_delivery(&d, url);
    nt_sender_t *s = new_sender(5000);
    start_ok(s, &d);
    collected_t c = {0};
    drive(s, &c);
    assert_int_equal(c.n, 1);
    assert_false(c.r[0].ok);
    assert_int_equal(c.r[0].status, 503);
    assert_string_equal(c.r[0].error, "HTTP 503");
    assert_int_equal(c.r[0].retry_after_s, 30);
    assert_false(c.r[0].gone);
    nt_sender_destroy(&s);
    th_stop(&srv);
}

static void test_send_410_and_redirect(void **state)
{
    (void)state;
    th_server_t gone, moved, target;
    assert_int_equal(th_start(&gone, "HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n"), 0);
    assert_int_equal(th_start(&target, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n"), 0);
    char resp[256];
    snprintf(resp, sizeof resp, "HTTP/1.1 307 Temporary Redirect\r\nLocation: "
             "http://127.0.0.1:%d/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", target.port);
    assert_int_equal(th_start(&moved, resp), 0);

    char u1[64], u2[64];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/", gone.port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/", moved.port);
    nt_delivery_t d1, d2;
    fill_delivery(&d1, u1);
    fill_delivery(&d2, u2);
    d2.id = 8;
    nt_sender_t *s = new_sender(5000);
    start_ok(s, &d1);
    start_ok(s, &d2);
    collected_t c = {0};
    drive(s, &c);
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(c.r[i].ok);
        if (c.r[i].id == 7) {
            assert_true(c.r[i].gone);
            assert_int_equal(c.r[i].status, 410);
        } else {
            assert_false(c.r[i].gone);
            assert_int_equal(c.r[i].status, 307);
            assert_string_equal(c.r[i].error, "HTTP 307（不跟随重定向） / HTTP 307 (redirects are not followed)");
        }
    }
    assert_int_equal(th_count(&target), 0); /* the redirect was not followed */
    nt_sender_destroy(&s);
    th_stop(&gone);
    th_stop(&moved);
    th_stop(&target);
}

static void test_send_refused_and_bad_scheme(void **state)
{
    (void)state;
    char u1[64];
    int port = th_closed_port();
    assert_true(port > 0);
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/", port);
    nt_delivery_t d1, d2;
    fill_delivery(&d1, u1);
    fill_delivery(&d2, "file:///etc/passwd");
    d2.id = 8;
    nt_sender_t *s = new_sender(5000);
    start_ok(s, &d1);
    start_ok(s, &d2);
    collected_t c = {0};
    drive(s, &c);
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(c.r[i].ok);
        assert_int_equal(c.r[i].status, 0);
        assert_string_equal(c.r[i].error, c.r[i].id == 7
                                              ? "连接被拒绝 / connection refused"
                                              : "不支持的网址类型（只支持 http 和 https） / "
                                                "unsupported URL scheme (only http and https)");
    }

    /* An invalid secret never reaches the network. */
    nt_delivery_t d3;
    fill_delivery(&d3, u1);
    d3.id = 9;
    d3.secrets[0] = "whsec_!!";
    nt_result_t fail;
    assert_int_equal(nt_sender_start(s, &d3, &fail), -1);
    assert_int_equal(fail.id, 9);
    assert_false(fail.ok);
    assert_non_null(strstr(fail.error, "whsec_"));
    assert_int_equal(nt_sender_inflight(s), 0);
    nt_sender_destroy(&s);
}

/* A receiver that never answers costs only its own timeout: one that answers
 * is done long before. */
static void test_slow_receiver_does_not_delay_others(void **state)
{
    (void)state;
    int hole_port;
    int hole = th_black_hole(&hole_port);
    assert_true(hole >= 0);
    th_server_t fast;
    assert_int_equal(th_start(&fast, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n"), 0);
    char u1[64], u2[64];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/", hole_port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/", fast.port);
    nt_delivery_t slow_d, fast_d;
    fill_delivery(&slow_d, u1);
    fill_delivery(&fast_d, u2);
    fast_d.id = 8;
    nt_sender_t *s = new_sender(1500);
    start_ok(s, &slow_d); /* first in, yet last out */
    start_ok(s, &fast_d);
    collected_t c = {0};
    drive(s, &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.r[0].id, 8);
    assert_true(c.r[0].ok);
    assert_true(c.r[0].latency_ms < 1000);
    assert_int_equal(c.r[1].id, 7);
    assert_false(c.r[1].ok);
    assert_string_equal(c.r[1].error, "超时：1500 毫秒内没有完成 / timeout after 1500 ms");
    assert_true(c.r[1].latency_ms >= 1400);
    nt_sender_destroy(&s);
    th_stop(&fast);
    close(hole);
}

/* Destroying the sender with transfers in flight cancels them cleanly. */
static void test_abort_in_flight(void **state)
{
    (void)state;
    int hole_port;
    int hole = th_black_hole(&hole_port);
    assert_true(hole >= 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", hole_port);
    nt_delivery_t d;
    fill_delivery(&d, url);
    nt_sender_t *s = new_sender(10000);
    start_ok(s, &d);
    d.id = 8;
    start_ok(s, &d);
    collected_t c = {0};
    assert_true(nt_sender_run(s, 50, -1, on_done, &c) >= 0);
    assert_int_equal(nt_sender_inflight(s), 2);
    assert_int_equal(nt_sender_abort_all(s), 2);
    assert_int_equal(nt_sender_inflight(s), 0);
    assert_int_equal(c.n, 0);
    start_ok(s, &d);
    nt_sender_destroy(&s);
    close(hole);
}

/* The SSRF guard on real connections: a loopback receiver is refused (and
 * gets nothing) unless its host, as written in the URL, is allowed or
 * --allow-private is on. */
static void test_guard_refuses_and_allows(void **state)
{
    (void)state;
    th_server_t srv;
    assert_int_equal(th_start(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                    "Connection: close\r\n\r\n"), 0);
    char by_ip[64], by_name[64];
    snprintf(by_ip, sizeof by_ip, "http://127.0.0.1:%d/hook", srv.port);
    snprintf(by_name, sizeof by_name, "http://localhost:%d/hook", srv.port);
    nt_delivery_t d1, d2;
    fill_delivery(&d1, by_ip);
    fill_delivery(&d2, by_name);
    d2.id = 8;

    /* No allow list: both refused before a byte is sent. */
    nt_sender_t *s = new_guarded_sender(3000, (nt_guard_t){NULL, 0, false});
    start_ok(s, &d1);
    start_ok(s, &d2);
    collected_t c = {0};
    drive(s, &c);
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(c.r[i].ok);
        assert_false(c.r[i].gone);
        assert_true(c.r[i].permanent); /* no retry can help: the broker marks it dead at once */
        cJSON *j = nt_result_json(&c.r[i]);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "permanent")));
        cJSON_Delete(j);
        assert_int_equal(c.r[i].status, 0);
        if (c.r[i].id == 7)
            assert_string_equal(c.r[i].error, "拒绝发送：目标 127.0.0.1 为本机回环地址（可用 "
                                              "--allow-host 放行） / refused: destination "
                                              "127.0.0.1 is a loopback address (allow it with "
                                              "--allow-host)");
        else { /* localhost may resolve to ::1 or 127.0.0.1 */
            assert_non_null(strstr(c.r[i].error, "拒绝发送：目标 localhost ("));
            assert_non_null(strstr(c.r[i].error, " / refused: destination localhost ("));
        }
    }
    nt_sender_destroy(&s);
    assert_int_equal(th_count(&srv), 0);

    /* 127.0.0.1 allowed: by_ip goes through, by_name (same address, other
     * host as written) does not. */
    s = new_sender(3000);
    start_ok(s, &d1);
    start_ok(s, &d2);
    memset(&c, 0, sizeof c);
    drive(s, &c);
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) {
        if (c.r[i].id == 7) {
            assert_true(c.r[i].ok);
            assert_int_equal(c.r[i].status, 200);
        } else {
            assert_false(c.r[i].ok);
            assert_non_null(strstr(c.r[i].error, "拒绝发送：目标 localhost ("));
            assert_non_null(strstr(c.r[i].error, " / refused: destination localhost ("));
        }
    }
    nt_sender_destroy(&s);
    assert_int_equal(th_count(&srv), 1);

    /* Allowed by name. */
    static const char *const by_host[] = {"LOCALHOST"};
    s = new_guarded_sender(3000, (nt_guard_t){by_host, 1, false});
    start_ok(s, &d2);
    memset(&c, 0, sizeof c);
    drive(s, &c);
    assert_int_equal(c.n, 1);
    nt_sender_destroy(&s);
    /* localhost may resolve to ::1 first, where nobody listens: then the
     * attempt fails, but not because of the guard. */
    if (c.r[0].ok)
        assert_int_equal(th_count(&srv), 2);
    else
        assert_null(strstr(c.r[0].error, "refused: destination"));

    /* --allow-private lets any loopback address through. */
    s = new_guarded_sender(3000, (nt_guard_t){NULL, 0, true});
    start_ok(s, &d1);
    memset(&c, 0, sizeof c);
    drive(s, &c);
    assert_int_equal(c.n, 1);
    assert_true(c.r[0].ok);
    nt_sender_destroy(&s);
    th_stop(&srv);
}

/* The guard also holds for an address that is not loopback-like at first
 * sight: 0.0.0.0 (which Linux connects to the machine itself) and an IPv4
 * loopback written as IPv6. */
static void test_guard_unspecified_and_mapped(void **state)
{
    (void)state;
    th_server_t srv;
    assert_int_equal(th_start(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                    "Connection: close\r\n\r\n"), 0);
    char u1[64], u2[64];
    snprintf(u1, sizeof u1, "http://0.0.0.0:%d/", srv.port);
    snprintf(u2, sizeof u2, "http://[::ffff:127.0.0.1]:%d/", srv.port);
    nt_delivery_t d1, d2;
    fill_delivery(&d1, u1);
    fill_delivery(&d2, u2);
    d2.id = 8;
    nt_sender_t *s = new_sender(3000); /* 127.0.0.1 allowed, which neither URL names */
    start_ok(s, &d1);
    start_ok(s, &d2);
    collected_t c = {0};
    drive(s, &c);
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_false(c.r[i].ok);
        if (c.r[i].id == 7)
            assert_string_equal(c.r[i].error, "拒绝发送：目标 0.0.0.0 为未指定地址（可用 "
                                              "--allow-host 放行） / refused: destination "
                                              "0.0.0.0 is an unspecified address (allow it "
                                              "with --allow-host)");
        else
            assert_string_equal(c.r[i].error, "拒绝发送：目标 ::ffff:127.0.0.1 为本机回环地址（可用 "
                                              "--allow-host 放行） / refused: destination "
                                              "::ffff:127.0.0.1 is a loopback address (allow it "
                                              "with --allow-host)");
    }
    nt_sender_destroy(&s);
    assert_int_equal(th_count(&srv), 0);
    th_stop(&srv);
}

static int setup_all(void **state)
{
    (void)state;
    /* Loopback only: no proxy from the environment. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown_all(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_each_secret),
        cmocka_unit_test(test_signature_rejects_bad_input),
        cmocka_unit_test(test_build_headers),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),
        cmocka_unit_test(test_retry_after_header_line),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_result_json),
        cmocka_unit_test(test_delivery_parse),
        cmocka_unit_test(test_send_headers_and_signature),
        cmocka_unit_test(test_send_503_retry_after),
        cmocka_unit_test(test_send_410_and_redirect),
        cmocka_unit_test(test_send_refused_and_bad_scheme),
        cmocka_unit_test(test_slow_receiver_does_not_delay_others),
        cmocka_unit_test(test_abort_in_flight),
        cmocka_unit_test(test_guard_refuses_and_allows),
        cmocka_unit_test(test_guard_unspecified_and_mapped),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
