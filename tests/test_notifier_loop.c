/* test_notifier_loop.c - the real bianmin-notifier program against a fake
 * broker (a ROUTER on 127.0.0.1 speaking BM1, driven by this test) and HTTP
 * receivers on 127.0.0.1: takes, sends, reports, re-sends a report the broker
 * did not answer, does not spin when idle, and drains on SIGTERM. */
#include "proto.h"
#include "test_notifier_http.h"
#include "util.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef NOTIFIER_BIN
#error "NOTIFIER_BIN must name the bianmin-notifier binary"
#endif

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static pid_t child = -1;

typedef struct {
    void *ctx;
    void *sock;
    char endpoint[64];
} fake_broker_t;

static void fb_start(fake_broker_t *fb)
{
    fb->ctx = zmq_ctx_new();
    assert_non_null(fb->ctx);
    fb->sock = bm_socket(fb->ctx, ZMQ_ROUTER, "tcp://127.0.0.1:*", true);
    assert_non_null(fb->sock);
    size_t len = sizeof fb->endpoint;
    assert_int_equal(zmq_getsockopt(fb->sock, ZMQ_LAST_ENDPOINT, fb->endpoint, &len), 0);
}

static void fb_stop(fake_broker_t *fb)
{
    zmq_close(fb->sock);
    zmq_ctx_term(fb->ctx);
}

/* Waits up to timeout_ms for one valid message; returns true if one came. */
static bool fb_recv(fake_broker_t *fb, int timeout_ms, bm_envelope_t *env, bm_msg_t *msg)
{
    zmq_pollitem_t item = {fb->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return false;
    bm_error_t err = {0};
    bm_recv_t r = bm_recv(fb->sock, true, true, env, msg, &err);
    if (r == BM_RECV_INVALID)
        fail_msg("the notifier sent an invalid message: %s", err.message);
    return r == BM_RECV_OK;
}

static void fb_reply(fake_broker_t *fb, const bm_envelope_t *env, const bm_msg_t *msg,
                     const char *json)
{
    cJSON *body = cJSON_Parse(json);
    assert_non_null(body);
    assert_int_equal(bm_send(fb->sock, env, BM_REPLY_OK, msg->cid, msg->cid_len, body), 0);
    cJSON_Delete(body);
}

static pid_t spawn_notifier(const char *endpoint)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsetenv("http_proxy");
        unsetenv("HTTP_PROXY");
        unsetenv("all_proxy");
        unsetenv("ALL_PROXY");
        execl(NOTIFIER_BIN, "bianmin-notifier", "--broker", endpoint, "--log-level", "debug",
              "--timeout-ms", "3000", "--connect-timeout-ms", "1000", "--allow-host",
              "127.0.0.1", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits up to timeout_ms for the child to exit; returns its exit status, or
 * -1 if it had to be killed. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = bm_mono_ms() + timeout_ms;
    int status = 0;
    while (bm_mono_ms() < deadline) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            child = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    child = -1;
    return -1;
}

static int kill_child(void **state)
{
    (void)state;
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    return 0;
}

static const cJSON *result_by_id(const cJSON *results, int id)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, results) {
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(r, "id");
        if (cJSON_IsNumber(rid) && rid->valueint == id)
            return r;
    }
    return NULL;
}

static void test_take_send_report(void **state)
{
    (void)state;
    th_server_t ok, busy;
    assert_int_equal(th_start(&ok, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n"), 0);
    assert_int_equal(th_start(&busy, "HTTP/1.1 503 Busy\r\nRetry-After: 9\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n"), 0);
    int closed = th_closed_port();
    assert_true(closed > 0);
    fake_broker_t fb;
    fb_start(&fb);
    child = spawn_notifier(fb.endpoint);

    char deliveries[2048];
    snprintf(deliveries, sizeof deliveries,
             "{\"deliveries\":["
             "{\"id\":1,\"msg_id\":\"msg_one\",\"url\":\"http://127.0.0.1:%d/a\","
             "\"secrets\":[\"" SECRET "\"],\"type\":\"request.received\","
             "\"body\":\"{\\\"building\\\":\\\"3号楼\\\"}\",\"attempt\":1},"
             "{\"id\":2,\"msg_id\":\"msg_two\",\"url\":\"http://127.0.0.1:%d/b\","
             "\"secrets\":[\"" SECRET "\"],\"body\":\"{}\",\"attempt\":2},"
             "{\"id\":3,\"msg_id\":\"msg_three\",\"url\":\"http://127.0.0.1:%d/c\","
             "\"secrets\":[\"" SECRET "\"],\"body\":\"{}\",\"attempt\":1},"
             "{\"id\":4,\"msg_id\":\"msg_four\",\"secrets\":[\"" SECRET "\"],\"body\":\"{}\"}"
             "]}",
             ok.port, busy.port, closed);

    cJSON *recorded = cJSON_CreateArray();
    int takes = 0, reports = 0;
    char first_report_ids[64] = "";
    int64_t deadline = bm_mono_ms() + 15000;
    while (cJSON_GetArraySize(recorded) < 4 && bm_mono_ms() < deadline) {
        bm_envelope_t env;
        bm_msg_t msg;
        if (!fb_recv(&fb, 200, &env, &msg))
            continue;
        if (strcmp(msg.cmd, BM_CMD_TAKE) == 0) {
            const cJSON *max = cJSON_GetObjectItemCaseSensitive(msg.body, "max");
            const cJSON *wait = cJSON_GetObjectItemCaseSensitive(msg.body, "wait_ms");
            assert_true(cJSON_IsNumber(max) && max->valueint >= 1 && max->valueint <= 64);
            assert_true(cJSON_IsNumber(wait));
            if (takes == 0) {
                assert_int_equal(max->valueint, 64);
                assert_int_equal(wait->valueint, 1000); /* idle: the broker may hold it */
            }
            fb_reply(&fb, &env, &msg, takes == 0 ? deliveries : "{\"deliveries\":[]}");
            takes++;
        } else if (strcmp(msg.cmd, BM_CMD_REPORT) == 0) {
            const cJSON *results = cJSON_GetObjectItemCaseSensitive(msg.body, "results");
            assert_true(cJSON_IsArray(results));
            assert_true(cJSON_GetArraySize(results) >= 1);
            if (reports++ == 0) {
                /* Leave the first report unanswered: it must come again. */
                const cJSON *r;
                cJSON_ArrayForEach(r, results) {
                    size_t len = strlen(first_report_ids);
                    snprintf(first_report_ids + len, sizeof first_report_ids - len, "%d,",
                             cJSON_GetObjectItemCaseSensitive(r, "id")->valueint);
                }
            } else {
                char reply[64];
                snprintf(reply, sizeof reply, "{\"recorded\":%d}", cJSON_GetArraySize(results));
                fb_reply(&fb, &env, &msg, reply);
                const cJSON *r;
                cJSON_ArrayForEach(r, results) {
                    int id = cJSON_GetObjectItemCaseSensitive(r, "id")->valueint;
                    assert_null(result_by_id(recorded, id)); /* answered once: not sent again */
                    cJSON_AddItemToArray(recorded, cJSON_Duplicate(r, true));
                }
            }
        } else {
            fail_msg("unexpected command %s", msg.cmd);
        }
        bm_msg_clear(&msg);
    }
    assert_int_equal(cJSON_GetArraySize(recorded), 4);
    assert_true(reports >= 2);
    assert_true(strlen(first_report_ids) > 0);

    const cJSON *r1 = result_by_id(recorded, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r1, "ok")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r1, "status")->valueint, 200);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r1, "latency_ms")));
    assert_null(cJSON_GetObjectItemCaseSensitive(r1, "error"));

    const cJSON *r2 = result_by_id(recorded, 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r2, "ok")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r2, "status")->valueint, 503);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r2, "error")->valuestring, "HTTP 503");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(r2, "retry_after_s")->valueint, 9);

    const cJSON *r3 = result_by_id(recorded, 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r3, "status")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r3, "error")->valuestring,
                        "连接被拒绝 / connection refused");

    const cJSON *r4 = result_by_id(recorded, 4);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r4, "ok")));
    const char *e4 = cJSON_GetObjectItemCaseSensitive(r4, "error")->valuestring;
    assert_non_null(strstr(e4, "服务站发来的投递有误 / invalid delivery from the broker: "));

    /* The receivers got exactly one POST each, with the delivery's msg_id. */
    assert_int_equal(th_count(&ok), 1);
    assert_int_equal(th_count(&busy), 1);
    char v[128];
    assert_int_equal(th_header(&ok, 0, "webhook-id", v, sizeof v), 0);
    assert_string_equal(v, "msg_one");
    assert_string_equal(ok.requests[0].body, "{\"building\":\"3号楼\"}");

    /* Idle against a broker that answers every take at once: a take about
     * every 100 ms, not a spin. */
    int64_t until = bm_mono_ms() + 1000;
    int idle_takes = 0;
    while (bm_mono_ms() < until) {
        bm_envelope_t env;
        bm_msg_t msg;
        if (!fb_recv(&fb, 50, &env, &msg))
            continue;
        assert_string_equal(msg.cmd, BM_CMD_TAKE);
        fb_reply(&fb, &env, &msg, "{\"deliveries\":[]}");
        idle_takes++;
        bm_msg_clear(&msg);
    }
    assert_true(idle_takes >= 3 && idle_takes <= 15);

    assert_int_equal(kill(child, SIGTERM), 0);
    assert_int_equal(wait_exit(child, 8000), 0);

    cJSON_Delete(recorded);
    fb_stop(&fb);
    th_stop(&ok);
    th_stop(&busy);
}

/* SIGTERM while a receiver is slow: the transfer finishes, is reported, and
 * the program exits 0. */
static void test_sigterm_drains(void **state)
{
    (void)state;
    th_server_t slow;
    assert_int_equal(th_start(&slow, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n"), 0);
    slow.delay_ms = 1000;
    fake_broker_t fb;
    fb_start(&fb);
    child = spawn_notifier(fb.endpoint);
    char deliveries[512];
    snprintf(deliveries, sizeof deliveries,
             "{\"deliveries\":[{\"id\":21,\"msg_id\":\"msg_slow\",\"url\":\"http://127.0.0.1:%d/\","
             "\"secrets\":[\"" SECRET "\"],\"body\":\"{}\",\"attempt\":1}]}", slow.port);

    bool taken = false, reported = false;
    int64_t deadline = bm_mono_ms() + 10000;
    while (!reported && bm_mono_ms() < deadline) {
        bm_envelope_t env;
        bm_msg_t msg;
        if (!fb_recv(&fb, 200, &env, &msg))
            continue;
        if (strcmp(msg.cmd, BM_CMD_TAKE) == 0) {
            fb_reply(&fb, &env, &msg, taken ? "{\"deliveries\":[]}" : deliveries);
            if (!taken) {
                taken = true;
                assert_int_equal(kill(child, SIGTERM), 0);
            }
        } else {
            assert_string_equal(msg.cmd, BM_CMD_REPORT);
            const cJSON *results = cJSON_GetObjectItemCaseSensitive(msg.body, "results");
            const cJSON *r = result_by_id(results, 21);
            assert_non_null(r);
            assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")));
            assert_int_equal(cJSON_GetObjectItemCaseSensitive(r, "status")->valueint, 202);
            fb_reply(&fb, &env, &msg, "{\"recorded\":1}");
            reported = true;
        }
        bm_msg_clear(&msg);
    }
    assert_true(reported);
    assert_int_equal(wait_exit(child, 8000), 0);
    fb_stop(&fb);
    th_stop(&slow);
}

/* Started before the broker: it retries quietly and takes once the broker is
 * up, with no crash and no tight loop in between. */
static void test_broker_comes_up_later(void **state)
{
    (void)state;
    int port = th_closed_port();
    assert_true(port > 0);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    child = spawn_notifier(endpoint);
    struct timespec ts = {1, 500 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(waitpid(child, NULL, WNOHANG), 0); /* still running */

    fake_broker_t fb;
    fb.ctx = zmq_ctx_new();
    assert_non_null(fb.ctx);
    fb.sock = bm_socket(fb.ctx, ZMQ_ROUTER, endpoint, true);
    assert_non_null(fb.sock);
    bool took = false;
    int64_t deadline = bm_mono_ms() + 8000;
    while (!took && bm_mono_ms() < deadline) {
        bm_envelope_t env;
        bm_msg_t msg;
        if (!fb_recv(&fb, 200, &env, &msg))
            continue;
        assert_string_equal(msg.cmd, BM_CMD_TAKE);
        fb_reply(&fb, &env, &msg, "{\"deliveries\":[]}");
        took = true;
        bm_msg_clear(&msg);
    }
    assert_true(took);
    assert_int_equal(kill(child, SIGTERM), 0);
    assert_int_equal(wait_exit(child, 8000), 0);
    fb_stop(&fb);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_take_send_report, kill_child),
        cmocka_unit_test_teardown(test_sigterm_drains, kill_child),
        cmocka_unit_test_teardown(test_broker_comes_up_later, kill_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
