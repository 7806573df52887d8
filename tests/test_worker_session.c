/* test_worker_session.c - the worker session against a fake broker: a ROUTER
 * on ipc:// in a temp dir, played by the test thread while the session runs in
 * its own thread with pipes for stdin and stdout. Every wait is bounded. */
#include "log.h"
#include "proto.h"
#include "session.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 5000

typedef enum { HB_ANSWER, HB_IGNORE, HB_HELLO_REQUIRED } hb_mode_t;

typedef struct {
    char dir[512];
    char ep[600];
    void *ctx;
    void *router;
    int in_w, in_r;   /* the session's stdin */
    int out_r;        /* the session's stdout, read by the test */
    FILE *out_w;
    wk_session_t *session;
    pthread_t thread;
    bool running;
    int rc;
    volatile sig_atomic_t stop;
    hb_mode_t hb;
    int heartbeats;
    bm_envelope_t peer;
    bm_msg_t stash; /* a non-heartbeat message seen while waiting for output */
    bool stashed;
    char buf[1 << 17];
    size_t len;
} fx_t;

static void *run_session(void *arg)
{
    fx_t *fx = arg;
    fx->rc = wk_session_run(fx->session, &fx->stop);
    fclose(fx->out_w); /* the test sees EOF */
    return NULL;
}

static fx_t *fx_start(bool json, int initial_hb_ms)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *base = getenv("BM_TEST_TMP");
    if (!base || !*base || strlen(base) > 60)
        base = "/tmp"; /* ipc paths must stay short */
    char mk[600];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", base);
    if (system(mk) != 0)
        base = "/tmp";
    snprintf(fx->dir, sizeof fx->dir, "%s/bmwk-XXXXXX", base);
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->ep, sizeof fx->ep, "ipc://%s/w.sock", fx->dir);
    fx->ctx = zmq_ctx_new();
    fx->router = bm_socket(fx->ctx, ZMQ_ROUTER, fx->ep, true);
    assert_non_null(fx->router);

    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    fx->in_r = in[0];
    fx->in_w = in[1];
    fx->out_r = out[0];
    fx->out_w = fdopen(out[1], "w");
    assert_non_null(fx->out_w);

    wk_options_t o;
    wk_options_defaults(&o);
    bm_strlcpy(o.id, "v01", sizeof o.id);
    bm_strlcpy(o.name, "袁建成", sizeof o.name);
    bm_strlcpy(o.skills[0], "pipe", sizeof o.skills[0]);
    bm_strlcpy(o.skills[1], "repair", sizeof o.skills[1]);
    o.skill_count = 2;
    o.max_jobs = 2;
    bm_strlcpy(o.broker, fx->ep, sizeof o.broker);
    o.json = json;
    o.initial_heartbeat_ms = initial_hb_ms;
    fx->session = wk_session_new(&o, fx->in_r, fx->out_w);
    assert_non_null(fx->session);
    assert_int_equal(pthread_create(&fx->thread, NULL, run_session, fx), 0);
    fx->running = true;
    return fx;
}

/* Waits (bounded) for the session thread to end; returns its result. */
static int fx_join(fx_t *fx)
{
    int64_t deadline = bm_mono_ms() + WAIT_MS;
    /* Drain output so the session can never block on a full pipe. */
    char sink[4096];
    for (;;) {
        struct pollfd p = {fx->out_r, POLLIN, 0};
        if (bm_mono_ms() > deadline)
            fail_msg("session did not end within %d ms", WAIT_MS);
        if (poll(&p, 1, 50) > 0 && read(fx->out_r, sink, sizeof sink) <= 0)
            break; /* EOF: the thread closed its end after wk_session_run returned */
    }
    pthread_join(fx->thread, NULL);
    fx->running = false;
    return fx->rc;
}

static void fx_stop(fx_t **fx_p)
{
    fx_t *fx = *fx_p;
    if (fx->running) {
        fx->stop = 1;
        fx_join(fx);
    }
    wk_session_destroy(&fx->session);
    if (fx->stashed)
        bm_msg_clear(&fx->stash);
    zmq_close(fx->router);
    zmq_ctx_term(fx->ctx);
    if (fx->in_w >= 0)
        close(fx->in_w);
    close(fx->in_r);
    close(fx->out_r);
    char path[700];
    snprintf(path, sizeof path, "%s/w.sock", fx->dir);
    unlink(path);
    rmdir(fx->dir);
    free(fx);
    *fx_p = NULL;
}

static void fb_send_to(fx_t *fx, const bm_msg_t *msg, const char *cmd, const char *body)
{
    cJSON *b = cJSON_Parse(body);
    assert_non_null(b);
    assert_int_equal(bm_send(fx->router, &fx->peer, cmd, msg ? msg->cid : "",
                             msg ? msg->cid_len : 0, b),
                     0);
    cJSON_Delete(b);
}

/* Reads one message from the router if one is ready within timeout_ms;
 * heartbeats are answered per fx->hb and not returned. */
static bool fb_poll(fx_t *fx, int timeout_ms, bm_msg_t *out)
{
    zmq_pollitem_t it = {fx->router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return false;
    bm_msg_t msg;
    bm_error_t err = {0};
    bm_envelope_t env;
    bm_recv_t r = bm_recv(fx->router, true, true, &env, &msg, &err);
    if (r != BM_RECV_OK) {
        if (r == BM_RECV_INVALID)
            fail_msg("the worker sent a malformed message: %s", err.message);
        return false;
    }
    fx->peer = env;
    if (strcmp(msg.cmd, "heartbeat") == 0) {
        fx->heartbeats++;
        if (fx->hb == HB_ANSWER) {
            fb_send_to(fx, &msg, "ok", "{}");
        } else if (fx->hb == HB_HELLO_REQUIRED) {
            fb_send_to(fx, &msg, "error",
                       "{\"code\":\"hello_required\",\"message\":\"say hello first\"}");
            fx->hb = HB_ANSWER;
        }
        bm_msg_clear(&msg);
        return false;
    }
    *out = msg;
    return true;
}

/* Returns the next non-heartbeat message from the worker (fails after WAIT_MS). */
static void fb_expect(fx_t *fx, const char *cmd, bm_msg_t *msg)
{
    if (fx->stashed) {
        *msg = fx->stash;
        fx->stashed = false;
    } else {
        int64_t deadline = bm_mono_ms() + WAIT_MS;
        while (!fb_poll(fx, 20, msg)) {
            if (bm_mono_ms() > deadline)
                fail_msg("no \"%s\" from the worker within %d ms", cmd, WAIT_MS);
        }
    }
    if (strcmp(msg->cmd, cmd) != 0)
        fail_msg("expected \"%s\" from the worker, got \"%s\"", cmd, msg->cmd);
}

/* Returns the next line the session wrote (caller frees), serving the router
 * meanwhile; fails after WAIT_MS. */
static char *next_line(fx_t *fx)
{
    int64_t deadline = bm_mono_ms() + WAIT_MS;
    for (;;) {
        char *nl = memchr(fx->buf, '\n', fx->len);
        if (nl) {
            size_t n = (size_t)(nl - fx->buf);
            char *line = strndup(fx->buf, n);
            memmove(fx->buf, nl + 1, fx->len - n - 1);
            fx->len -= n + 1;
            return line;
        }
        if (bm_mono_ms() > deadline)
            fail_msg("no output from the worker within %d ms", WAIT_MS);
        zmq_pollitem_t items[2] = {{fx->router, 0, ZMQ_POLLIN, 0},
                                   {NULL, fx->out_r, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 20) <= 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN) {
            bm_msg_t msg;
            if (fb_poll(fx, 0, &msg)) {
                assert_false(fx->stashed);
                fx->stash = msg;
                fx->stashed = true;
            }
        }
        if (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
            ssize_t got = read(fx->out_r, fx->buf + fx->len, sizeof fx->buf - fx->len - 1);
            if (got <= 0)
                fail_msg("the worker's output ended unexpectedly");
            fx->len += (size_t)got;
        }
    }
}

/* Returns the next event (caller owns), checking its name. */
static cJSON *next_event(fx_t *fx, const char *name)
{
    char *line = next_line(fx);
    cJSON *ev = cJSON_Parse(line);
    if (!ev)
        fail_msg("output line is not JSON: %s", line);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "event");
    if (!cJSON_IsString(e) || strcmp(e->valuestring, name) != 0)
        fail_msg("expected event \"%s\", got: %s", name, line);
    free(line);
    return ev;
}

static const char *s_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double n_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void type(fx_t *fx, const char *line)
{
    size_t n = strlen(line);
    assert_int_equal(write(fx->in_w, line, n), (ssize_t)n);
}

static void handshake(fx_t *fx, const char *jobs_json)
{
    bm_msg_t hello;
    fb_expect(fx, "hello", &hello);
    assert_string_equal(s_of(hello.body, "volunteer"), "v01");
    assert_string_equal(s_of(hello.body, "name"), "袁建成");
    assert_int_equal(n_of(hello.body, "max_jobs"), 2);
    const cJSON *skills = cJSON_GetObjectItemCaseSensitive(hello.body, "skills");
    assert_int_equal(cJSON_GetArraySize(skills), 2);
    assert_string_equal(cJSON_GetArrayItem(skills, 1)->valuestring, "repair");
    assert_true(hello.cid_len > 0);
    char body[4096];
    snprintf(body, sizeof body, "{\"volunteer\":\"v01\",\"heartbeat_ms\":200,\"jobs\":%s}",
             jobs_json);
    fb_send_to(fx, &hello, "ok", body);
    bm_msg_clear(&hello);
}

#define OFFER42                                                                               \
    "{\"ticket\":42,\"category\":\"pipe\",\"category_label\":\"管道疏通\",\"urgent\":false,"  \
    "\"building\":\"市政小区 3栋\",\"unit\":\"2-301\",\"text\":\"厨房下水道堵了\","           \
    "\"created_at\":\"2026-11-29T06:20:01.123Z\",\"attempts\":0}"
#define JOB42                                                                                 \
    "{\"ticket\":42,\"category\":\"pipe\",\"category_label\":\"管道疏通\",\"urgent\":false,"  \
    "\"building\":\"市政小区 3栋\",\"unit\":\"2-301\",\"text\":\"厨房下水道堵了\","           \
    "\"status\":\"claimed\",\"contact\":\"罗女士 13800000000\","                              \
    "\"lease_until\":\"2026-11-29T08:20:01.123Z\",\"attempts\":0}"

static void test_json_session(void **state)
{
    (void)state;
    fx_t *fx = fx_start(true, 100);
    bm_msg_t msg;
    cJSON *ev;

    /* The first hello goes unanswered: after 3 x 100 ms the worker says so and
     * says hello again on a new socket. */
    fb_expect(fx, "hello", &msg);
    bm_msg_clear(&msg);
    ev = next_event(fx, "disconnected");
    assert_non_null(strstr(s_of(ev, "reason"), "no answer to hello"));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ev, "connected_before")));
    assert_string_equal(s_of(ev, "endpoint"), fx->ep);
    cJSON_Delete(ev);
    handshake(fx, "[]");
    ev = next_event(fx, "connected");
    assert_string_equal(s_of(ev, "volunteer"), "v01");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "jobs")), 0);
    cJSON_Delete(ev);

    /* An offer becomes an event with every field. */
    fb_send_to(fx, NULL, "offer", OFFER42);
    ev = next_event(fx, "offer");
    assert_int_equal(n_of(ev, "ticket"), 42);
    assert_string_equal(s_of(ev, "building"), "市政小区 3栋");
    assert_string_equal(s_of(ev, "category_label"), "管道疏通");
    cJSON_Delete(ev);
    type(fx, "{\"cmd\":\"offers\"}\n");
    ev = next_event(fx, "offers");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "offers")), 1);
    cJSON_Delete(ev);

    /* Claim it; the reply's contact reaches the bridge with its id. */
    type(fx, "{\"cmd\":\"claim\",\"ticket\":42,\"id\":\"b1\"}\n");
    fb_expect(fx, "claim", &msg);
    assert_int_equal(n_of(msg.body, "ticket"), 42);
    fb_send_to(fx, &msg, "ok", JOB42);
    bm_msg_clear(&msg);
    ev = next_event(fx, "claimed");
    assert_string_equal(s_of(ev, "contact"), "罗女士 13800000000");
    assert_string_equal(s_of(ev, "id"), "b1");
    assert_int_equal(n_of(ev, "ticket"), 42);
    cJSON_Delete(ev);
    type(fx, "{\"cmd\":\"jobs\"}\n{\"cmd\":\"offers\"}\n");
    ev = next_event(fx, "jobs");
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(ev, "jobs");
    assert_int_equal(cJSON_GetArraySize(jobs), 1);
    assert_int_equal(n_of(cJSON_GetArrayItem(jobs, 0), "ticket"), 42);
    cJSON_Delete(ev);
    ev = next_event(fx, "offers");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "offers")), 0);
    cJSON_Delete(ev);

    /* A malformed line is reported and the worker keeps going. */
    type(fx, "claim 42\n{\"cmd\":\"claim\"}\n");
    ev = next_event(fx, "error");
    assert_string_equal(s_of(ev, "code"), "bad_input");
    cJSON_Delete(ev);
    ev = next_event(fx, "error");
    assert_string_equal(s_of(ev, "code"), "bad_input");
    assert_string_equal(s_of(ev, "cmd"), "claim");
    cJSON_Delete(ev);

    /* A claim that loses the race: error with the broker's code; taken for an
     * offer removes it. */
    fb_send_to(fx, NULL, "offer", "{\"ticket\":43,\"category\":\"pipe\",\"building\":\"b\"}");
    cJSON_Delete(next_event(fx, "offer"));
    type(fx, "{\"cmd\":\"claim\",\"ticket\":43}\n");
    fb_expect(fx, "claim", &msg);
    fb_send_to(fx, &msg, "error", "{\"code\":\"taken\",\"message\":\"claimed by someone else\"}");
    bm_msg_clear(&msg);
    ev = next_event(fx, "error");
    assert_string_equal(s_of(ev, "cmd"), "claim");
    assert_int_equal(n_of(ev, "ticket"), 43);
    assert_string_equal(s_of(ev, "code"), "taken");
    assert_string_equal(s_of(ev, "message"), "claimed by someone else");
    cJSON_Delete(ev);
    fb_send_to(fx, NULL, "offer", "{\"ticket\":44,\"category\":\"pipe\",\"building\":\"b\"}");
    cJSON_Delete(next_event(fx, "offer"));
    fb_send_to(fx, NULL, "taken", "{\"ticket\":44}");
    ev = next_event(fx, "taken");
    assert_int_equal(n_of(ev, "ticket"), 44);
    cJSON_Delete(ev);
    type(fx, "{\"cmd\":\"offers\"}\n");
    ev = next_event(fx, "offers");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "offers")), 0);
    cJSON_Delete(ev);

    /* Done with a Chinese note. */
    type(fx, "{\"cmd\":\"done\",\"ticket\":42,\"note\":\"疏通完毕，已试水\"}\n");
    fb_expect(fx, "done", &msg);
    assert_int_equal(n_of(msg.body, "ticket"), 42);
    assert_string_equal(s_of(msg.body, "note"), "疏通完毕，已试水");
    fb_send_to(fx, &msg, "ok", "{\"ticket\":42,\"status\":\"done\"}");
    bm_msg_clear(&msg);
    ev = next_event(fx, "done");
    assert_string_equal(s_of(ev, "status"), "done");
    cJSON_Delete(ev);

    /* Heartbeats flow at the broker's interval (200 ms). */
    int64_t hb_deadline = bm_mono_ms() + WAIT_MS;
    int64_t hb_start = bm_mono_ms();
    int hb_before = fx->heartbeats;
    while (fx->heartbeats < hb_before + 3 && bm_mono_ms() < hb_deadline) {
        bm_msg_t other;
        if (fb_poll(fx, 20, &other))
            fail_msg("unexpected \"%s\" from the worker", other.cmd);
    }
    assert_true(fx->heartbeats >= hb_before + 3);
    assert_true(bm_mono_ms() - hb_start >= 300); /* 3 beats span >= 2 intervals */

    /* The broker goes silent: the worker reconnects on a new socket and
     * learns its jobs from the hello reply. */
    fx->hb = HB_IGNORE;
    ev = next_event(fx, "disconnected");
    assert_non_null(strstr(s_of(ev, "reason"), "nothing heard"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "connected_before")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "reached")));
    cJSON_Delete(ev);
    fx->hb = HB_ANSWER;
    handshake(fx, "[" JOB42 "]");
    ev = next_event(fx, "connected");
    jobs = cJSON_GetObjectItemCaseSensitive(ev, "jobs");
    assert_int_equal(cJSON_GetArraySize(jobs), 1);
    assert_string_equal(s_of(cJSON_GetArrayItem(jobs, 0), "contact"), "罗女士 13800000000");
    cJSON_Delete(ev);

    /* A restarted broker answers hello_required: hello again at once. */
    fx->hb = HB_HELLO_REQUIRED;
    ev = next_event(fx, "disconnected");
    assert_non_null(strstr(s_of(ev, "reason"), "restarted"));
    cJSON_Delete(ev);
    handshake(fx, "[]");
    cJSON_Delete(next_event(fx, "connected"));

    /* EOF with a claim still in flight: its answer is still reported, then
     * the session ends cleanly. */
    type(fx, "{\"cmd\":\"claim\",\"ticket\":45,\"id\":\"last\"}");
    close(fx->in_w);
    fx->in_w = -1;
    fb_expect(fx, "claim", &msg);
    fb_send_to(fx, &msg, "error", "{\"code\":\"not_found\",\"message\":\"no request 45\"}");
    bm_msg_clear(&msg);
    ev = next_event(fx, "error");
    assert_string_equal(s_of(ev, "id"), "last");
    assert_string_equal(s_of(ev, "code"), "not_found");
    cJSON_Delete(ev);
    assert_int_equal(fx_join(fx), 0);
    fx_stop(&fx);
}

static void test_text_session(void **state)
{
    (void)state;
    fx_t *fx = fx_start(false, 100);
    handshake(fx, "[]");
    char *line = next_line(fx);
    assert_non_null(strstr(line, "已连接服务站 Connected as v01"));
    free(line);

    fb_send_to(fx, NULL, "offer", OFFER42);
    line = next_line(fx);
    assert_string_equal(line, "新订单 New job #42 [管道疏通 pipe] 市政小区 3栋 2-301: "
                              "厨房下水道堵了 — type: claim 42");
    free(line);

    type(fx, "c 42\n");
    bm_msg_t msg;
    fb_expect(fx, "claim", &msg);
    fb_send_to(fx, &msg, "ok", JOB42);
    bm_msg_clear(&msg);
    line = next_line(fx);
    assert_string_equal(line, "接单成功 Claimed #42 [管道疏通 pipe]");
    free(line);
    line = next_line(fx);
    assert_string_equal(line, "  地址 Address: 市政小区 3栋 2-301");
    free(line);
    line = next_line(fx);
    assert_string_equal(line, "  联系 Call:    罗女士 13800000000");
    free(line);

    /* Commands typed while the claim's answer is shown are still read. */
    type(fx, "claim\nquit\n");
    for (int i = 0; i < 10; i++) {
        line = next_line(fx);
        bool found = strstr(line, "看不懂 Not understood: 哪一单 which job?") != NULL;
        free(line);
        if (found)
            break;
        assert_true(i < 9);
    }
    assert_int_equal(fx_join(fx), 0);
    fx_stop(&fx);
}

static void test_stop_flag_and_refused_hello(void **state)
{
    (void)state;
    /* The stop flag ends the session even while it waits for the broker. */
    fx_t *fx = fx_start(true, 100);
    bm_msg_t msg;
    fb_expect(fx, "hello", &msg);
    bm_msg_clear(&msg);
    fx->stop = 1;
    assert_int_equal(fx_join(fx), 0);
    fx_stop(&fx);

    /* A hello the broker refuses (unknown skill) is fatal and reported. */
    fx = fx_start(true, 100);
    fb_expect(fx, "hello", &msg);
    fb_send_to(fx, &msg, "error",
               "{\"code\":\"unknown_category\",\"message\":\"unknown skill \\\"pipe\\\"\","
               "\"field\":\"skills\"}");
    bm_msg_clear(&msg);
    cJSON *ev = next_event(fx, "error");
    assert_string_equal(s_of(ev, "code"), "unknown_category");
    assert_non_null(strstr(s_of(ev, "message"), "unknown skill"));
    cJSON_Delete(ev);
    assert_int_equal(fx_join(fx), -1);
    fx_stop(&fx);
}

static void put_file(const fx_t *fx, const char *name, const void *data, size_t len, char *path,
                     size_t plen)
{
    snprintf(path, plen, "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int count_jobs(fx_t *fx, int64_t ticket, char *lease, size_t lease_len)
{
    type(fx, "{\"cmd\":\"jobs\"}\n");
    cJSON *ev = next_event(fx, "jobs");
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(ev, "jobs");
    int found = 0;
    for (const cJSON *j = jobs ? jobs->child : NULL; j; j = j->next) {
        if (n_of(j, "ticket") == (double)ticket) {
            found++;
            if (lease)
                snprintf(lease, lease_len, "%s", s_of(j, "lease_until"));
        }
    }
    cJSON_Delete(ev);
    return found;
}

static void test_job_commands(void **state)
{
    (void)state;
    fx_t *fx = fx_start(true, 100);
    handshake(fx, "[" JOB42 "]");
    cJSON_Delete(next_event(fx, "connected"));
    bm_msg_t msg;
    cJSON *ev;

    /* progress with two photos: frames after the body, described in order. */
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 'a', 'b', 'c'};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2};
    char jpg_path[700], png_path[700], txt_path[700], line[2600];
    put_file(fx, "修前.jpg", jpeg, sizeof jpeg, jpg_path, sizeof jpg_path);
    put_file(fx, "b.png", png, sizeof png, png_path, sizeof png_path);
    put_file(fx, "fake.jpg", "hello", 5, txt_path, sizeof txt_path);
    snprintf(line, sizeof line,
             "{\"cmd\":\"progress\",\"ticket\":42,\"note\":\"已到现场\",\"id\":\"g1\","
             "\"photos\":[{\"path\":\"%s\",\"kind\":\"before\"},\"%s\"]}\n",
             jpg_path, png_path);
    type(fx, line);
    fb_expect(fx, "progress", &msg);
    assert_int_equal(n_of(msg.body, "ticket"), 42);
    assert_string_equal(s_of(msg.body, "note"), "已到现场");
    assert_int_equal(msg.n_attach, 2);
    assert_int_equal(msg.attach[0].len, sizeof jpeg);
    assert_memory_equal(msg.attach[0].data, jpeg, sizeof jpeg);
    assert_int_equal(msg.attach[1].len, sizeof png);
    const cJSON *atts = cJSON_GetObjectItemCaseSensitive(msg.body, "attachments");
    assert_int_equal(cJSON_GetArraySize(atts), 2);
    assert_string_equal(s_of(cJSON_GetArrayItem(atts, 0), "name"), "修前.jpg");
    assert_string_equal(s_of(cJSON_GetArrayItem(atts, 0), "kind"), "before");
    assert_string_equal(s_of(cJSON_GetArrayItem(atts, 1), "name"), "b.png");
    assert_string_equal(s_of(cJSON_GetArrayItem(atts, 1), "kind"), "other");
    fb_send_to(fx, &msg, "ok",
               "{\"ticket\":42,\"status\":\"claimed\",\"lease_until\":\"2026-11-29T12:00:00.000Z\"}");
    bm_msg_clear(&msg);
    ev = next_event(fx, "progress");
    assert_int_equal(n_of(ev, "ticket"), 42);
    assert_string_equal(s_of(ev, "lease_until"), "2026-11-29T12:00:00.000Z");
    assert_int_equal(n_of(ev, "photos"), 2);
    assert_string_equal(s_of(ev, "id"), "g1");
    cJSON_Delete(ev);
    char lease[64] = "";
    assert_int_equal(count_jobs(fx, 42, lease, sizeof lease), 1);
    assert_string_equal(lease, "2026-11-29T12:00:00.000Z"); /* the job's lease was renewed */

    /* A text file as a photo is refused locally: nothing reaches the broker. */
    snprintf(line, sizeof line,
             "{\"cmd\":\"done\",\"ticket\":42,\"photos\":[\"%s\",\"%s\"],\"id\":\"g2\"}\n",
             jpg_path, txt_path);
    type(fx, line);
    ev = next_event(fx, "error");
    assert_string_equal(s_of(ev, "code"), "bad_photo");
    assert_string_equal(s_of(ev, "cmd"), "done");
    assert_string_equal(s_of(ev, "photo"), txt_path);
    assert_string_equal(s_of(ev, "id"), "g2");
    assert_non_null(strstr(s_of(ev, "message"), "is not a photo"));
    cJSON_Delete(ev);
    /* ... and a command sent right after is the next thing the broker sees. */
    type(fx, "{\"cmd\":\"decline\",\"ticket\":43,\"reason\":\"不在附近\"}\n");
    fb_send_to(fx, NULL, "offer", "{\"ticket\":43,\"category\":\"pipe\",\"building\":\"b\"}");
    fb_expect(fx, "decline", &msg);
    assert_int_equal(n_of(msg.body, "ticket"), 43);
    assert_string_equal(s_of(msg.body, "reason"), "不在附近");
    assert_int_equal(msg.n_attach, 0);
    cJSON_Delete(next_event(fx, "offer"));
    fb_send_to(fx, &msg, "ok", "{\"ticket\":43}");
    bm_msg_clear(&msg);
    ev = next_event(fx, "declined");
    assert_int_equal(n_of(ev, "ticket"), 43);
    cJSON_Delete(ev);
    type(fx, "{\"cmd\":\"offers\"}\n");
    ev = next_event(fx, "offers");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "offers")), 0);
    cJSON_Delete(ev);

    /* cantfix: the job goes; the event carries status and attempts. */
    type(fx, "{\"cmd\":\"cantfix\",\"ticket\":42,\"reason\":\"需要更换主管道\"}\n");
    fb_expect(fx, "cantfix", &msg);
    assert_string_equal(s_of(msg.body, "reason"), "需要更换主管道");
    assert_null(cJSON_GetObjectItemCaseSensitive(msg.body, "note"));
    fb_send_to(fx, &msg, "ok", "{\"ticket\":42,\"status\":\"open\",\"attempts\":1}");
    bm_msg_clear(&msg);
    ev = next_event(fx, "cantfix");
    assert_string_equal(s_of(ev, "status"), "open");
    assert_int_equal(n_of(ev, "attempts"), 1);
    cJSON_Delete(ev);
    assert_int_equal(count_jobs(fx, 42, NULL, 0), 0);

    /* escalate: department on the wire and in the event. */
    fb_send_to(fx, NULL, "offer", OFFER42);
    cJSON_Delete(next_event(fx, "offer"));
    type(fx, "{\"cmd\":\"claim\",\"ticket\":42}\n");
    fb_expect(fx, "claim", &msg);
    fb_send_to(fx, &msg, "ok", JOB42);
    bm_msg_clear(&msg);
    cJSON_Delete(next_event(fx, "claimed"));
    type(fx, "{\"cmd\":\"escalate\",\"ticket\":42,\"department\":\"water_company\","
             "\"reason\":\"小区主管道破裂\"}\n");
    fb_expect(fx, "escalate", &msg);
    assert_string_equal(s_of(msg.body, "department"), "water_company");
    assert_string_equal(s_of(msg.body, "reason"), "小区主管道破裂");
    fb_send_to(fx, &msg, "ok", "{\"ticket\":42,\"status\":\"escalated\"}");
    bm_msg_clear(&msg);
    ev = next_event(fx, "escalated");
    assert_string_equal(s_of(ev, "status"), "escalated");
    assert_string_equal(s_of(ev, "department"), "water_company");
    cJSON_Delete(ev);
    assert_int_equal(count_jobs(fx, 42, NULL, 0), 0);

    /* revoked: the broker takes a job back on its own. */
    fb_send_to(fx, NULL, "offer", "{\"ticket\":44,\"category\":\"pipe\",\"building\":\"b\"}");
    cJSON_Delete(next_event(fx, "offer"));
    type(fx, "{\"cmd\":\"claim\",\"ticket\":44}\n");
    fb_expect(fx, "claim", &msg);
    fb_send_to(fx, &msg, "ok", "{\"ticket\":44,\"status\":\"claimed\",\"contact\":\"c\"}");
    bm_msg_clear(&msg);
    cJSON_Delete(next_event(fx, "claimed"));
    assert_int_equal(count_jobs(fx, 44, NULL, 0), 1);
    fb_send_to(fx, NULL, "revoked", "{\"ticket\":44,\"reason\":\"lease_expired\"}");
    ev = next_event(fx, "revoked");
    assert_int_equal(n_of(ev, "ticket"), 44);
    assert_string_equal(s_of(ev, "reason"), "lease_expired");
    cJSON_Delete(ev);
    assert_int_equal(count_jobs(fx, 44, NULL, 0), 0);
    fb_send_to(fx, NULL, "revoked", "{\"reason\":\"cancelled\"}"); /* no ticket: ignored */

    /* A claim whose hold runs out within remind_before_s is recalled once. */
    char iso[32], reply[256];
    bm_time_iso(bm_now_ms() + 120000, iso, sizeof iso);
    fb_send_to(fx, NULL, "offer", "{\"ticket\":45,\"category\":\"pipe\",\"building\":\"b\"}");
    cJSON_Delete(next_event(fx, "offer"));
    type(fx, "{\"cmd\":\"claim\",\"ticket\":45}\n");
    fb_expect(fx, "claim", &msg);
    snprintf(reply, sizeof reply,
             "{\"ticket\":45,\"status\":\"claimed\",\"contact\":\"c\",\"lease_until\":\"%s\"}", iso);
    fb_send_to(fx, &msg, "ok", reply);
    bm_msg_clear(&msg);
    cJSON_Delete(next_event(fx, "claimed"));
    ev = next_event(fx, "lease_reminder");
    assert_int_equal(n_of(ev, "ticket"), 45);
    assert_string_equal(s_of(ev, "lease_until"), iso);
    assert_true(n_of(ev, "seconds_left") > 0 && n_of(ev, "seconds_left") <= 120);
    cJSON_Delete(ev);
    /* Two more looks at the leases (heartbeats answered meanwhile): no second reminder. */
    for (int64_t until = bm_mono_ms() + 2500; bm_mono_ms() < until;) {
        bm_msg_t other;
        if (fb_poll(fx, 20, &other))
            fail_msg("unexpected \"%s\" from the worker", other.cmd);
    }
    type(fx, "{\"cmd\":\"jobs\"}\n");
    cJSON_Delete(next_event(fx, "jobs"));

    /* The office's words on a cancel come with the revoke. */
    fb_send_to(fx, NULL, "revoked",
               "{\"ticket\":45,\"reason\":\"cancelled\",\"note\":\"居民已自行解决\"}");
    ev = next_event(fx, "revoked");
    assert_string_equal(s_of(ev, "note"), "居民已自行解决");
    cJSON_Delete(ev);
    assert_int_equal(count_jobs(fx, 45, NULL, 0), 0);

    /* help lists every command of the table, with examples. */
    type(fx, "{\"cmd\":\"help\"}\n");
    ev = next_event(fx, "help");
    const cJSON *cmds = cJSON_GetObjectItemCaseSensitive(ev, "commands");
    assert_int_equal(cJSON_GetArraySize(cmds), 10);
    bool saw_cantfix = false;
    for (const cJSON *c = cmds->child; c; c = c->next) {
        if (strcmp(s_of(c, "cmd"), "cantfix") == 0) {
            saw_cantfix = true;
            assert_string_equal(s_of(c, "example"), "修不了 42 需要更换主管道");
            assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "aliases"),
                                                   0)->valuestring,
                                "修不了");
        }
    }
    assert_true(saw_cantfix);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "notes")) > 0);
    cJSON_Delete(ev);

    close(fx->in_w);
    fx->in_w = -1;
    assert_int_equal(fx_join(fx), 0);
    unlink(jpg_path);
    unlink(png_path);
    unlink(txt_path);
    fx_stop(&fx);
}

static void test_text_job_commands(void **state)
{
    (void)state;
    fx_t *fx = fx_start(false, 100);
    handshake(fx, "[" JOB42 "]");
    char *line = next_line(fx);
    assert_non_null(strstr(line, "你手上有 1 个订单"));
    free(line);
    line = next_line(fx); /* the job line */
    free(line);

    /* A typed done with an @photo and a Chinese note. */
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xDB, 1, 2, 3};
    char path[700], cmdline[1600];
    put_file(fx, "after.jpg", jpeg, sizeof jpeg, path, sizeof path);
    snprintf(cmdline, sizeof cmdline, "完成 42 疏通完毕 @after:%s 已试水\n", path);
    type(fx, cmdline);
    bm_msg_t msg;
    fb_expect(fx, "done", &msg);
    assert_string_equal(s_of(msg.body, "note"), "疏通完毕 已试水");
    assert_int_equal(msg.n_attach, 1);
    assert_string_equal(s_of(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(msg.body,
                                                                                 "attachments"),
                                                0),
                             "kind"),
                        "after");
    fb_send_to(fx, &msg, "ok", "{\"ticket\":42,\"status\":\"done\"}");
    bm_msg_clear(&msg);
    line = next_line(fx);
    assert_string_equal(line, "已完成 Done #42 — 谢谢 thank you! — 1 张照片已存档 photo(s) archived");
    free(line);

    /* A missing photo: a clear local error. */
    type(fx, "progress 42 @/nonexistent/x.jpg\n");
    line = next_line(fx);
    assert_non_null(strstr(line, "出错 Error (progress #42): 读不到照片 cannot read photo "
                                 "/nonexistent/x.jpg"));
    assert_non_null(strstr(line, "[bad_photo]"));
    free(line);

    /* revoked, as a person reads it. */
    fb_send_to(fx, NULL, "revoked", "{\"ticket\":42,\"reason\":\"cancelled\"}");
    line = next_line(fx);
    assert_string_equal(line, "任务已收回 Job #42 taken back: 办公室已取消 cancelled by the office");
    free(line);
    type(fx, "上报 7 water_company\nquit\n");
    line = next_line(fx);
    assert_non_null(strstr(line, "看不懂 Not understood: escalate needs a reason"));
    free(line);
    assert_int_equal(fx_join(fx), 0);
    unlink(path);
    fx_stop(&fx);
}

int main(void)
{
    bm_log_init("test_worker_session", BM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_session),
        cmocka_unit_test(test_text_session),
        cmocka_unit_test(test_stop_flag_and_refused_hello),
        cmocka_unit_test(test_job_commands),
        cmocka_unit_test(test_text_job_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
