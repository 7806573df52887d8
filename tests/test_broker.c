/* test_broker.c - the broker through the real protocol: validation, malformed
 * frames, grouped durable commits, a failing commit, claims, the outbox. The
 * broker runs in a thread on ipc:// endpoints in a temp dir. */
#include "proto.h"
#include "testutil.h"
#include "util.h"

#include <zmq.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tu_fixture_t fx_t;

static int setup(void **state)
{
    return tu_fixture_setup(state, NULL);
}

static int teardown(void **state)
{
    return tu_fixture_teardown(state);
}

#define GOOD_SUBMIT                                                                     \
    "{\"channel\":\"building_leader\",\"category\":\"pipe\",\"building\":\"市政小区 3栋\"," \
    "\"unit\":\"2-301\",\"contact\":\"罗女士 13800000000\",\"text\":\"厨房下水道堵了\"}"

static long long count_requests(fx_t *fx)
{
    return tu_sql_int(tu_db_path(fx->broker), "SELECT count(*) FROM requests");
}

/* Expects an error reply with code (and field if not NULL). */
static void expect_error(cJSON *reply, const char *cmd, const char *code, const char *field)
{
    assert_non_null(reply);
    assert_string_equal(cmd, BM_REPLY_ERROR);
    assert_string_equal(tu_str(reply, "code"), code);
    assert_true(strlen(tu_str(reply, "message")) > 0);
    if (field)
        assert_string_equal(tu_str(reply, "field"), field);
    cJSON_Delete(reply);
}

static void test_submit_and_get(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    cJSON *r = tu_call(fx->client, "submit", GOOD_SUBMIT, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    double ticket = tu_num(r, "ticket");
    assert_true(ticket >= 1);
    assert_string_equal(tu_str(r, "status"), "open");
    cJSON_Delete(r);
    /* Acknowledged means committed: another connection sees it on disk. */
    assert_int_equal(count_requests(fx), 1);

    char body[64];
    snprintf(body, sizeof body, "{\"ticket\":%.0f}", ticket);
    r = tu_call(fx->client, "get", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON *req = cJSON_GetObjectItem(r, "request");
    assert_string_equal(tu_str(req, "building"), "市政小区 3栋");
    assert_string_equal(tu_str(req, "category_label"), "管道疏通");
    assert_string_equal(tu_str(req, "status"), "open");
    cJSON *events = cJSON_GetObjectItem(r, "events");
    assert_int_equal(cJSON_GetArraySize(events), 1);
    cJSON *ev = cJSON_GetArrayItem(events, 0);
    assert_string_equal(tu_str(ev, "kind"), "received");
    assert_string_equal(tu_str(ev, "actor"), "channel:building_leader");
    cJSON_Delete(r);

    r = tu_call(fx->client, "get", "{\"ticket\":99999}", cmd, sizeof cmd);
    expect_error(r, cmd, "not_found", "ticket");
}

/* `choices`: the config's categories (with labels), channels and departments. */
static void test_choices(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    cJSON *r = tu_call(fx->client, "choices", "{}", cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    cJSON *cats = cJSON_GetObjectItem(r, "categories");
    assert_int_equal(cJSON_GetArraySize(cats), 5);
    cJSON *pipe = cJSON_GetArrayItem(cats, 2); /* leak, lock, pipe, repair, other */
    assert_string_equal(tu_str(pipe, "name"), "pipe");
    assert_string_equal(tu_str(pipe, "label"), "管道疏通");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(pipe, "urgent")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cats, 0), "urgent"))); /* leak */
    cJSON *chans = cJSON_GetObjectItem(r, "channels");
    assert_string_equal(cJSON_GetArrayItem(chans, 0)->valuestring, "building_leader");
    cJSON *deps = cJSON_GetObjectItem(r, "departments");
    assert_string_equal(tu_str(cJSON_GetArrayItem(deps, 0), "id"), "water_company");
    cJSON_Delete(r);
    /* The same lists decide: a list by an unknown category is refused with
     * the closest one, not answered with no requests; a Chinese label is the
     * category it names, for list and submit alike. */
    r = tu_call(fx->client, "list", "{\"category\":\"pipes\"}", cmd, sizeof cmd);
    assert_non_null(strstr(tu_str(r, "message"), "did you mean \"pipe\"?"));
    expect_error(r, cmd, "unknown_category", "category");
    r = tu_call(fx->client, "submit",
                "{\"channel\":\"forum\",\"category\":\"管道疏通\",\"building\":\"3栋\","
                "\"contact\":\"罗女士\",\"text\":\"堵了\"}",
                cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    r = tu_call(fx->client, "list", "{\"category\":\"管道疏通\"}", cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    assert_int_equal(tu_num(r, "total"), 1);
    assert_string_equal(tu_str(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "requests"), 0), "category"),
                        "pipe");
    cJSON_Delete(r);
}

static void test_validation_writes_nothing(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    static const struct {
        const char *body, *code, *field;
    } cases[] = {
        {"{\"channel\":\"building_leader\",\"category\":\"pipe\",\"contact\":\"x\",\"text\":\"t\"}",
         "invalid", "building"},
        {"{\"channel\":\"building_leader\",\"category\":\"pipe\",\"building\":\"   \",\"contact\":\"x\",\"text\":\"t\"}",
         "invalid", "building"},
        {"{\"channel\":\"building_leader\",\"category\":\"gas\",\"building\":\"b\",\"contact\":\"x\",\"text\":\"t\"}",
         "unknown_category", "category"},
        {"{\"channel\":\"wechat\",\"category\":\"pipe\",\"building\":\"b\",\"contact\":\"x\",\"text\":\"t\"}",
         "unknown_channel", "channel"},
        {"{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":7,\"contact\":\"x\",\"text\":\"t\"}",
         "invalid", "building"},
        {"{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"b\",\"contact\":\"x\",\"text\":\"t\","
         "\"callback\":\"ftp://example/hook\"}",
         "invalid", "callback"},
        {"{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"b\",\"contact\":\"x\",\"text\":\"t\","
         "\"callback\":\"http://\"}",
         "invalid", "callback"},
        {"[1,2,3]", "bad_json", NULL},
        {"{\"channel\":", "bad_json", NULL},
        {"{} trailing", "bad_json", NULL},
        {"\"just a string\"", "bad_json", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *r = tu_call(fx->client, "submit", cases[i].body, cmd, sizeof cmd);
        expect_error(r, cmd, cases[i].code, cases[i].field);
    }
    /* A text over the 4000-byte limit. */
    char *big = malloc(6000);
    char *text = malloc(4100);
    memset(text, 'a', 4001);
    text[4001] = '\0';
    snprintf(big, 6000,
             "{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"b\",\"contact\":\"x\",\"text\":\"%s\"}",
             text);
    expect_error(tu_call(fx->client, "submit", big, cmd, sizeof cmd), cmd, "too_large", "text");
    free(big);
    free(text);
    /* A 10 MB description: the body is over the 64 KiB limit. */
    size_t huge = 10u * 1024 * 1024;
    char *hbody = malloc(huge + 200);
    int off = snprintf(hbody, 200, "{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"b\","
                                   "\"contact\":\"x\",\"text\":\"");
    memset(hbody + off, 'x', huge);
    memcpy(hbody + off + huge, "\"}", 3);
    expect_error(tu_call(fx->client, "submit", hbody, cmd, sizeof cmd), cmd, "too_large", NULL);
    free(hbody);
    /* Invalid UTF-8 inside a string. */
    expect_error(tu_call(fx->client, "submit",
                         "{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"\xe5\xb8\","
                         "\"contact\":\"x\",\"text\":\"t\"}",
                         cmd, sizeof cmd),
                 cmd, "invalid", "building");
    /* A NUL (\u0000) would cut the stored text after an ok: refused, nothing written. */
    expect_error(tu_call(fx->client, "submit",
                         "{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"b\","
                         "\"contact\":\"x\",\"text\":\"厨房\\u0000漏水\"}",
                         cmd, sizeof cmd),
                 cmd, "invalid", "text");
    assert_int_equal(count_requests(fx), 0);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), "SELECT count(*) FROM events"), 0);
}

static void test_malformed_frames(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    {
        const char *f[] = {"BM1", "submit", "c1"};
        size_t l[] = {3, 6, 2};
        expect_error(tu_raw(fx->client, f, l, 3, cmd, sizeof cmd), cmd, "bad_frame", NULL);
    }
    {
        const char *f[] = {"BM1", "get", "c2", "{}", "extra", "more"}; /* get takes no photos */
        size_t l[] = {3, 3, 2, 2, 5, 4};
        expect_error(tu_raw(fx->client, f, l, 6, cmd, sizeof cmd), cmd, "bad_frame", NULL);
    }
    {
        const char *f[] = {"BM9", "submit", "c3", "{}"};
        size_t l[] = {3, 6, 2, 2};
        cJSON *r = tu_raw(fx->client, f, l, 4, cmd, sizeof cmd);
        assert_non_null(cJSON_GetObjectItem(r, "supported"));
        expect_error(r, cmd, "bad_version", NULL);
    }
    {
        const char *f[] = {"BM1", "SUB\x01MIT", "c4", "{}"};
        size_t l[] = {3, 7, 2, 2};
        expect_error(tu_raw(fx->client, f, l, 4, cmd, sizeof cmd), cmd, "bad_frame", NULL);
    }
    {
        const char *f[] = {"BM1", "launch", "c5", "{}"};
        size_t l[] = {3, 6, 2, 2};
        expect_error(tu_raw(fx->client, f, l, 4, cmd, sizeof cmd), cmd, "unknown_command", NULL);
    }
    {
        /* A worker command on the client socket. */
        const char *f[] = {"BM1", "claim", "c6", "{\"ticket\":1}"};
        size_t l[] = {3, 5, 2, 12};
        expect_error(tu_raw(fx->client, f, l, 4, cmd, sizeof cmd), cmd, "unknown_command", NULL);
    }
    {
        /* A single empty frame: no cid to echo, so no reply can be matched;
         * the broker must simply survive it. */
        const char *f[] = {""};
        size_t l[] = {0};
        cJSON *r = tu_raw(fx->client, f, l, 1, cmd, sizeof cmd);
        cJSON_Delete(r);
    }
    /* Still alive and correct. */
    cJSON *r = tu_call(fx->client, "submit", GOOD_SUBMIT, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    assert_int_equal(count_requests(fx), 1);
}

static void test_idempotent_ref(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    const char *body = "{\"channel\":\"forum\",\"category\":\"leak\",\"building\":\"5栋\","
                       "\"contact\":\"王 139\",\"text\":\"楼上漏水\",\"ref\":\"forum-881\"}";
    cJSON *a = tu_call(fx->client, "submit", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON *b = tu_call(fx->client, "submit", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    assert_true(tu_num(a, "ticket") == tu_num(b, "ticket"));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(a, "duplicate")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "duplicate")));
    cJSON_Delete(a);
    cJSON_Delete(b);
    assert_int_equal(count_requests(fx), 1);
}

static void test_failed_commit_is_not_acknowledged(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    tu_broker_fail_commits(fx->broker, 1);
    cJSON *r = tu_call(fx->client, "submit", GOOD_SUBMIT, cmd, sizeof cmd);
    expect_error(r, cmd, "storage_error", NULL);
    assert_int_equal(count_requests(fx), 0);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), "SELECT count(*) FROM events"), 0);
    /* The next commit works again. */
    r = tu_call(fx->client, "submit", GOOD_SUBMIT, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    assert_int_equal(count_requests(fx), 1);
}

static void test_pipelined_submits_grouped(void **state)
{
    fx_t *fx = *state;
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "p%d", i);
        zmq_send(fx->client, "BM1", 3, ZMQ_SNDMORE);
        zmq_send(fx->client, "submit", 6, ZMQ_SNDMORE);
        zmq_send(fx->client, cid, strlen(cid), ZMQ_SNDMORE);
        zmq_send(fx->client, GOOD_SUBMIT, strlen(GOOD_SUBMIT), 0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        char cmd[16] = "";
        char cid[16];
        snprintf(cid, sizeof cid, "p%d", i);
        /* Replies come in order on one connection. */
        zmq_pollitem_t it = {fx->client, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 5000) <= 0)
            break;
        bm_msg_t msg;
        bm_error_t err = {0};
        if (bm_recv(fx->client, false, false, NULL, &msg, &err) == BM_RECV_OK) {
            bm_strlcpy(cmd, msg.cmd, sizeof cmd);
            if (strcmp(cmd, "ok") == 0 && strcmp(msg.cid, cid) == 0)
                ok++;
        }
        bm_msg_clear(&msg);
    }
    assert_int_equal(ok, N);
    assert_int_equal(count_requests(fx), N);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), "SELECT count(DISTINCT id) FROM requests"), N);
}

static void hello(void *w, const char *id, const char *name, const char *skills)
{
    char body[256], cmd[16];
    snprintf(body, sizeof body, "{\"volunteer\":\"%s\",\"name\":\"%s\",\"skills\":%s}", id, name, skills);
    cJSON *r = tu_call(w, "hello", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    assert_true(tu_num(r, "heartbeat_ms") > 0);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(r, "jobs")));
    cJSON_Delete(r);
}

static void test_offer_claim_done(void **state)
{
    fx_t *fx = *state;
    char cmd[16], body[128];
    void *w1 = tu_dealer(tu_worker_ep(fx->broker));
    void *w2 = tu_dealer(tu_worker_ep(fx->broker));

    expect_error(tu_call(w1, "claim", "{\"ticket\":1}", cmd, sizeof cmd), cmd, "hello_required", NULL);
    expect_error(tu_call(w1, "hello", "{\"volunteer\":\"v 01\",\"name\":\"x\",\"skills\":[\"pipe\"]}",
                         cmd, sizeof cmd), cmd, "invalid", "volunteer");
    expect_error(tu_call(w1, "hello", "{\"volunteer\":\"v01\",\"name\":\"x\",\"skills\":[\"gas\"]}",
                         cmd, sizeof cmd), cmd, "unknown_category", "skills");
    /* A misspelt skill: the closest one and every choice, Chinese first. */
    cJSON *sk = tu_call(w1, "hello", "{\"volunteer\":\"v01\",\"name\":\"x\",\"skills\":[\"pipes\"]}",
                        cmd, sizeof cmd);
    assert_non_null(sk);
    assert_string_equal(tu_str(sk, "code"), "unknown_category");
    assert_non_null(strstr(tu_str(sk, "message"), "未知技能"));
    assert_non_null(strstr(tu_str(sk, "message"), "did you mean \"pipe\""));
    assert_non_null(strstr(tu_str(sk, "message"), "leak 漏水抢修"));
    cJSON_Delete(sk);
    hello(w1, "v01", "袁建成", "[\"pipe\",\"repair\"]");
    hello(w2, "v02", "李师傅", "[\"pipe\"]");

    cJSON *r = tu_call(fx->client, "submit", GOOD_SUBMIT, cmd, sizeof cmd);
    double ticket = tu_num(r, "ticket");
    cJSON_Delete(r);

    cJSON *offer1 = tu_next(w1, "offer", 3000);
    cJSON *offer2 = tu_next(w2, "offer", 3000);
    assert_non_null(offer1);
    assert_non_null(offer2);
    assert_true(tu_num(offer1, "ticket") == ticket);
    assert_string_equal(tu_str(offer1, "building"), "市政小区 3栋");
    /* The contact is only for whoever claims it. */
    assert_null(cJSON_GetObjectItem(offer1, "contact"));
    cJSON_Delete(offer1);
    cJSON_Delete(offer2);

    snprintf(body, sizeof body, "{\"ticket\":%.0f}", ticket);
    r = tu_call(w1, "claim", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    assert_string_equal(tu_str(r, "contact"), "罗女士 13800000000");
    assert_string_equal(tu_str(r, "status"), "claimed");
    cJSON_Delete(r);
    cJSON *taken = tu_next(w2, "taken", 3000);
    assert_non_null(taken);
    assert_true(tu_num(taken, "ticket") == ticket);
    cJSON_Delete(taken);
    expect_error(tu_call(w2, "claim", body, cmd, sizeof cmd), cmd, "taken", NULL);

    snprintf(body, sizeof body, "{\"ticket\":%.0f,\"note\":\"疏通完毕\"}", ticket);
    expect_error(tu_call(w2, "done", body, cmd, sizeof cmd), cmd, "not_yours", NULL);
    r = tu_call(w1, "done", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    assert_string_equal(tu_str(r, "status"), "done");
    cJSON_Delete(r);
    expect_error(tu_call(w1, "done", body, cmd, sizeof cmd), cmd, "bad_transition", NULL);
    snprintf(body, sizeof body, "{\"ticket\":%.0f}", ticket);
    expect_error(tu_call(w1, "claim", body, cmd, sizeof cmd), cmd, "bad_transition", NULL);
    expect_error(tu_call(w1, "claim", "{\"ticket\":424242}", cmd, sizeof cmd), cmd, "not_found", NULL);

    char sql[256];
    /* The receipt is the request row (schema/007_receipt.sql): two event rows,
     * three entries in the timeline. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE request_id = %.0f", ticket);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), sql), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM timeline WHERE request_id = %.0f", ticket);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), sql), 3);
    snprintf(sql, sizeof sql,
             "SELECT kind = 'received' AND id IS NULL AND to_status = 'open' AND actor = 'channel:building_leader'"
             " FROM timeline WHERE request_id = %.0f ORDER BY id LIMIT 1",
             ticket);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), sql), 1);
    snprintf(sql, sizeof sql, "SELECT done_at > 0 FROM requests WHERE id = %.0f AND status = 'done'", ticket);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), sql), 1);
    tu_close(w1);
    tu_close(w2);
}

static void test_same_moment_claims_one_winner(void **state)
{
    fx_t *fx = *state;
    char cmd[16], body[64];
    void *w1 = tu_dealer(tu_worker_ep(fx->broker));
    void *w2 = tu_dealer(tu_worker_ep(fx->broker));
    hello(w1, "a1", "A", "[\"lock\"]");
    hello(w2, "a2", "B", "[\"lock\"]");
    cJSON *r = tu_call(fx->client, "submit",
                       "{\"channel\":\"council\",\"category\":\"lock\",\"building\":\"1栋\","
                       "\"contact\":\"c\",\"text\":\"锁坏了\"}",
                       cmd, sizeof cmd);
    double ticket = tu_num(r, "ticket");
    cJSON_Delete(r);
    snprintf(body, sizeof body, "{\"ticket\":%.0f}", ticket);
    /* Both claims are on the wire before either reply is read. */
    const char *f1[] = {"BM1", "claim", "x1", body};
    const char *f2[] = {"BM1", "claim", "x2", body};
    size_t l[] = {3, 5, 2, strlen(body)};
    for (int i = 0; i < 4; i++) {
        zmq_send(w1, f1[i], l[i], i < 3 ? ZMQ_SNDMORE : 0);
        zmq_send(w2, f2[i], l[i], i < 3 ? ZMQ_SNDMORE : 0);
    }
    int wins = 0, taken = 0;
    void *ws[2] = {w1, w2};
    const char *cids[2] = {"x1", "x2"};
    for (int k = 0; k < 2; k++) {
        bm_msg_t msg;
        bm_error_t err = {0};
        for (;;) {
            zmq_pollitem_t it = {ws[k], 0, ZMQ_POLLIN, 0};
            assert_true(zmq_poll(&it, 1, 5000) > 0);
            assert_int_equal(bm_recv(ws[k], false, false, NULL, &msg, &err), BM_RECV_OK);
            if (strcmp(msg.cid, cids[k]) == 0)
                break;
            bm_msg_clear(&msg); /* an offer or taken notice */
        }
        if (strcmp(msg.cmd, "ok") == 0)
            wins++;
        else if (strcmp(tu_str(msg.body, "code"), "taken") == 0)
            taken++;
        bm_msg_clear(&msg);
    }
    assert_int_equal(wins, 1);
    assert_int_equal(taken, 1);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE request_id = %.0f AND kind = 'claimed'", ticket);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), sql), 1);
    tu_close(w1);
    tu_close(w2);
}

static void test_outbox_take_report(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    cJSON *r = tu_call(fx->client, "submit",
                       "{\"channel\":\"forum\",\"category\":\"repair\",\"building\":\"2栋\",\"contact\":\"c\","
                       "\"text\":\"灯不亮\",\"callback\":\"http://127.0.0.1:9/hook\"}",
                       cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    r = tu_call(fx->client, "take", "{\"max\":10}", cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON *ds = cJSON_GetObjectItem(r, "deliveries");
    assert_int_equal(cJSON_GetArraySize(ds), 1);
    cJSON *d = cJSON_GetArrayItem(ds, 0);
    assert_string_equal(tu_str(d, "type"), "request.received");
    assert_string_equal(tu_str(d, "url"), "http://127.0.0.1:9/hook");
    assert_true(strncmp(tu_str(d, "msg_id"), "msg_", 4) == 0);
    char msg_id[64];
    snprintf(msg_id, sizeof msg_id, "%s", tu_str(d, "msg_id"));
    cJSON *body = cJSON_Parse(tu_str(d, "body"));
    assert_string_equal(tu_str(body, "type"), "request.received");
    cJSON *data = cJSON_GetObjectItem(body, "data");
    assert_string_equal(tu_str(data, "building"), "2栋");
    assert_null(cJSON_GetObjectItem(data, "contact")); /* never personal data */
    cJSON_Delete(body);
    double id = tu_num(d, "id");
    cJSON_Delete(r);

    /* Leased: a second take gets nothing. */
    r = tu_call(fx->client, "take", "{\"max\":10}", cmd, sizeof cmd);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "deliveries")), 0);
    cJSON_Delete(r);

    char rep[256];
    snprintf(rep, sizeof rep,
             "{\"results\":[{\"id\":%.0f,\"ok\":false,\"status\":503,\"latency_ms\":4,\"error\":\"HTTP 503\"}]}", id);
    r = tu_call(fx->client, "report", rep, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    /* Test schedule is 0 s: due again at once, same msg_id. */
    r = tu_call(fx->client, "take", "{\"max\":10,\"wait_ms\":2000}", cmd, sizeof cmd);
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "deliveries"), 0);
    assert_non_null(d);
    assert_string_equal(tu_str(d, "msg_id"), msg_id);
    assert_true(tu_num(d, "attempt") == 2);
    cJSON_Delete(r);
    snprintf(rep, sizeof rep, "{\"results\":[{\"id\":%.0f,\"ok\":true,\"status\":204,\"latency_ms\":3}]}", id);
    cJSON_Delete(tu_call(fx->client, "report", rep, cmd, sizeof cmd));
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT state = 'delivered' FROM deliveries WHERE id = %.0f", id);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM delivery_attempts WHERE delivery_id = %.0f", id);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), sql), 2);

    /* A bad report changes nothing. */
    expect_error(tu_call(fx->client, "report", "{\"results\":[{\"id\":1}]}", cmd, sizeof cmd), cmd,
                 "invalid", NULL);
}

static void test_dead_after_schedule(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    cJSON_Delete(tu_call(fx->client, "submit",
                         "{\"channel\":\"forum\",\"category\":\"repair\",\"building\":\"2栋\",\"contact\":\"c\","
                         "\"text\":\"t\",\"callback\":\"http://127.0.0.1:9/hook\"}",
                         cmd, sizeof cmd));
    for (int attempt = 1; attempt <= 3; attempt++) {
        cJSON *r = tu_call(fx->client, "take", "{\"max\":10,\"wait_ms\":2000}", cmd, sizeof cmd);
        cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "deliveries"), 0);
        assert_non_null(d);
        char rep[200];
        snprintf(rep, sizeof rep, "{\"results\":[{\"id\":%.0f,\"ok\":false,\"error\":\"connection refused\"}]}",
                 tu_num(d, "id"));
        cJSON_Delete(r);
        cJSON_Delete(tu_call(fx->client, "report", rep, cmd, sizeof cmd));
    }
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker),
                                "SELECT count(*) FROM deliveries WHERE state = 'dead' AND last_error = 'connection refused'"),
                     1);
    cJSON *r = tu_call(fx->client, "take", "{\"max\":10}", cmd, sizeof cmd);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "deliveries")), 0);
    cJSON_Delete(r);
}

static void test_operator_commands(void **state)
{
    fx_t *fx = *state;
    char cmd[16];
    for (int i = 0; i < 3; i++)
        cJSON_Delete(tu_call(fx->client, "submit",
                             "{\"channel\":\"forum\",\"category\":\"repair\",\"building\":\"2栋\",\"contact\":\"c\","
                             "\"text\":\"t\",\"callback\":\"http://127.0.0.1:9/hook\"}",
                             cmd, sizeof cmd));
    cJSON *r = tu_call(fx->client, "deliveries", "{\"state\":\"pending\",\"limit\":2}", cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    assert_int_equal((int)tu_num(r, "total"), 3);
    cJSON *ds = cJSON_GetObjectItem(r, "deliveries");
    assert_int_equal(cJSON_GetArraySize(ds), 2);
    double newest = tu_num(cJSON_GetArrayItem(ds, 0), "id");
    assert_true(newest > tu_num(cJSON_GetArrayItem(ds, 1), "id")); /* newest first */
    cJSON_Delete(r);
    r = tu_call(fx->client, "deliveries", "{\"ticket\":2}", cmd, sizeof cmd);
    assert_int_equal((int)tu_num(r, "total"), 1);
    assert_int_equal((int)tu_num(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "deliveries"), 0), "ticket"), 2);
    cJSON_Delete(r);
    expect_error(tu_call(fx->client, "deliveries", "{\"state\":\"lost\"}", cmd, sizeof cmd), cmd, "invalid",
                 "state");

    /* Kill the three deliveries through the schedule (3 attempts), then replay one. */
    for (int attempt = 0; attempt < 3; attempt++) {
        r = tu_call(fx->client, "take", "{\"max\":10,\"wait_ms\":2000}", cmd, sizeof cmd);
        cJSON *ds2 = cJSON_GetObjectItem(r, "deliveries");
        assert_int_equal(cJSON_GetArraySize(ds2), 3);
        char rep[400] = "{\"results\":[";
        for (int k = 0; k < 3; k++) {
            size_t used = strlen(rep);
            snprintf(rep + used, sizeof rep - used, "%s{\"id\":%.0f,\"ok\":false,\"status\":500}",
                     k ? "," : "", tu_num(cJSON_GetArrayItem(ds2, k), "id"));
        }
        bm_strlcpy(rep + strlen(rep), "]}", sizeof rep - strlen(rep));
        cJSON_Delete(r);
        cJSON_Delete(tu_call(fx->client, "report", rep, cmd, sizeof cmd));
    }
    r = tu_call(fx->client, "deliveries", "{\"state\":\"dead\"}", cmd, sizeof cmd);
    assert_int_equal((int)tu_num(r, "total"), 3);
    double dead = tu_num(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "deliveries"), 0), "id");
    cJSON_Delete(r);
    char body[96];
    snprintf(body, sizeof body, "{\"id\":%.0f}", dead);
    r = tu_call(fx->client, "delivery", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "attempt_log")), 3);
    assert_true(strstr(tu_str(r, "body"), "request.received") != NULL);
    cJSON_Delete(r);
    r = tu_call(fx->client, "replay", body, cmd, sizeof cmd);
    assert_int_equal((int)tu_num(r, "replayed"), 1);
    cJSON_Delete(r);
    snprintf(body, sizeof body, "SELECT state = 'pending' AND attempts = 0 FROM deliveries WHERE id = %.0f", dead);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), body), 1);
    /* Replaying a pending one changes nothing. */
    snprintf(body, sizeof body, "{\"id\":%.0f}", dead);
    expect_error(tu_call(fx->client, "replay", body, cmd, sizeof cmd), cmd, "bad_transition", "id");
    expect_error(tu_call(fx->client, "replay", "{}", cmd, sizeof cmd), cmd, "invalid", NULL);

    /* Endpoints: one callback; rotate it and both secrets are handed out. */
    r = tu_call(fx->client, "endpoints", "{}", cmd, sizeof cmd);
    cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "endpoints"), 0);
    assert_string_equal(tu_str(e, "kind"), "callback");
    double eid = tu_num(e, "id");
    cJSON_Delete(r);
    snprintf(body, sizeof body, "{\"id\":%.0f,\"action\":\"rotate\"}", eid);
    r = tu_call(fx->client, "endpoint", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    assert_true(strncmp(tu_str(r, "secret"), "whsec_", 6) == 0);
    cJSON_Delete(r);
    r = tu_call(fx->client, "take", "{\"max\":1,\"wait_ms\":2000}", cmd, sizeof cmd);
    cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "deliveries"), 0);
    assert_non_null(d);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "secrets")), 2);
    cJSON_Delete(r);
    snprintf(body, sizeof body, "{\"id\":%.0f,\"action\":\"disable\"}", eid);
    cJSON_Delete(tu_call(fx->client, "endpoint", body, cmd, sizeof cmd));
    r = tu_call(fx->client, "take", "{\"max\":10}", cmd, sizeof cmd);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "deliveries")), 0); /* disabled */
    cJSON_Delete(r);
    expect_error(tu_call(fx->client, "endpoint", "{\"id\":999,\"action\":\"enable\"}", cmd, sizeof cmd), cmd,
                 "not_found", "id");
    expect_error(tu_call(fx->client, "endpoint", "{\"id\":1,\"action\":\"explode\"}", cmd, sizeof cmd), cmd,
                 "invalid", "action");
}

#define COUNCIL_SECRET "whsec_Y291bmNpbC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="

static void council_secret(bm_config_t *cfg)
{
    for (int i = 0; i < cfg->channel_count; i++) {
        if (strcmp(cfg->channels[i], "council") == 0)
            bm_strlcpy(cfg->channel_secrets[i], COUNCIL_SECRET, sizeof cfg->channel_secrets[i]);
    }
}

static void test_channel_secrets(void **state)
{
    (void)state;
    char dir[512], cmd[16];
    assert_non_null(tu_tmpdir(dir, sizeof dir));
    tu_broker_t *b = tu_broker_start(dir, council_secret);
    assert_non_null(b);
    void *c = tu_dealer(tu_client_ep(b));
    const char *channels[] = {"council", "forum"};
    for (int i = 0; i < 2; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"channel\":\"%s\",\"category\":\"pipe\",\"building\":\"1栋\",\"contact\":\"c\","
                 "\"text\":\"t\",\"callback\":\"http://127.0.0.1:9/same\"}", channels[i]);
        cJSON *r = tu_call(c, "submit", body, cmd, sizeof cmd);
        assert_string_equal(cmd, "ok");
        cJSON_Delete(r);
    }
    /* The same URL used by two channels: two endpoints, each with its channel's secret. */
    assert_int_equal(tu_sql_int(tu_db_path(b), "SELECT count(*) FROM endpoints WHERE kind = 'callback'"), 2);
    cJSON *r = tu_call(c, "take", "{\"max\":10}", cmd, sizeof cmd);
    cJSON *ds = cJSON_GetObjectItem(r, "deliveries");
    assert_int_equal(cJSON_GetArraySize(ds), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *d = cJSON_GetArrayItem(ds, i);
        cJSON *body = cJSON_Parse(tu_str(d, "body"));
        long long ticket = (long long)tu_num(cJSON_GetObjectItem(body, "data"), "ticket");
        const char *secret = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "secrets"), 0)->valuestring;
        /* ticket 1 came from the council, ticket 2 from the forum (the default secret) */
        assert_string_equal(secret, ticket == 1 ? COUNCIL_SECRET : "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        cJSON_Delete(body);
    }
    cJSON_Delete(r);
    tu_close(c);
    tu_broker_stop(&b);
    tu_rmtree(dir);
}

/* Sends progress with photo frames straight over the protocol; returns the reply. */
static cJSON *progress_with(void *w, double ticket, const char *const *photos, const size_t *lens,
                            size_t n, char *cmd, size_t cmd_len)
{
    char body[128];
    snprintf(body, sizeof body, "{\"ticket\":%.0f,\"note\":\"现场照片\"}", ticket);
    const char *frames[12] = {"BM1", "progress", "ph1", body};
    size_t flens[12] = {3, 8, 3, strlen(body)};
    for (size_t i = 0; i < n; i++) {
        frames[4 + i] = photos[i];
        flens[4 + i] = lens[i];
    }
    return tu_raw(w, frames, flens, 4 + n, cmd, cmd_len);
}

static long long count_files(const char *dir)
{
    char cmdline[700];
    snprintf(cmdline, sizeof cmdline, "find '%s/archive' -type f 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmdline, "r");
    long long n = -1;
    if (p) {
        if (fscanf(p, "%lld", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_photos_checked_before_anything_is_stored(void **state)
{
    fx_t *fx = *state;
    char cmd[16], body[64];
    void *w = tu_dealer(tu_worker_ep(fx->broker));
    hello(w, "p1", "摄影", "[\"pipe\"]");
    cJSON *r = tu_call(fx->client, "submit", GOOD_SUBMIT, cmd, sizeof cmd);
    double ticket = tu_num(r, "ticket");
    cJSON_Delete(r);
    snprintf(body, sizeof body, "{\"ticket\":%.0f}", ticket);
    cJSON_Delete(tu_call(w, "claim", body, cmd, sizeof cmd));
    long long events = tu_sql_int(tu_db_path(fx->broker), "SELECT count(*) FROM events");

    static const char jpeg[] = "\xff\xd8\xff\xe0 a tiny jpeg";
    static const char text[] = "this is not a photo";
    /* A text file among good photos: refused, nothing stored. */
    const char *mixed[] = {jpeg, text};
    size_t mixed_len[] = {sizeof jpeg - 1, sizeof text - 1};
    expect_error(progress_with(w, ticket, mixed, mixed_len, 2, cmd, sizeof cmd), cmd, "invalid", "attachments");
    /* One byte over 8 MiB: refused. */
    size_t big = 8u * 1024 * 1024 + 1;
    char *huge = malloc(big);
    memset(huge, 0, big);
    memcpy(huge, jpeg, 4);
    const char *one[] = {huge};
    size_t one_len[] = {big};
    expect_error(progress_with(w, ticket, one, one_len, 1, cmd, sizeof cmd), cmd, "too_large", "attachments");
    free(huge);
    /* Seven photos: more frames than any message may have. */
    const char *seven[] = {jpeg, jpeg, jpeg, jpeg, jpeg, jpeg, jpeg};
    size_t seven_len[7];
    for (int i = 0; i < 7; i++)
        seven_len[i] = sizeof jpeg - 1;
    expect_error(progress_with(w, ticket, seven, seven_len, 7, cmd, sizeof cmd), cmd, "bad_frame", NULL);
    /* Photos on a command that takes none. */
    {
        const char *f[] = {"BM1", "claim", "ph9", body, jpeg};
        size_t l[] = {3, 5, 3, strlen(body), sizeof jpeg - 1};
        expect_error(tu_raw(w, f, l, 5, cmd, sizeof cmd), cmd, "bad_frame", NULL);
    }
    assert_int_equal(count_files(fx->dir), 0);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), "SELECT count(*) FROM attachments"), 0);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), "SELECT count(*) FROM events"), events);

    /* A good one is stored once, by content, and tied to the progress event. */
    const char *good[] = {jpeg, jpeg};
    size_t good_len[] = {sizeof jpeg - 1, sizeof jpeg - 1};
    r = progress_with(w, ticket, good, good_len, 2, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    assert_int_equal(count_files(fx->dir), 1);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker),
                                "SELECT count(*) FROM attachments a JOIN events e ON e.id = a.event_id"
                                " WHERE e.kind = 'progress' AND a.mime = 'image/jpeg'"),
                     2);
    tu_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_choices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_is_not_acknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_submits_grouped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offer_claim_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_moment_claims_one_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_take_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_after_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_commands, setup, teardown),
        cmocka_unit_test(test_channel_secrets),
        cmocka_unit_test_setup_teardown(test_photos_checked_before_anything_is_stored, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
