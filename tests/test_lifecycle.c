/* test_lifecycle.c - one test per lifecycle rule, through the real protocol
 * against a broker in a thread: the state machine table, priorities, offers,
 * max jobs, leases, progress, decline, can't fix, escalation, cancel, reopen,
 * overdue flags, list and volunteers. */
#include "lifecycle.h"
#include "proto.h"
#include "testutil.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the table itself ---------------------------------------------------- */

static void test_state_machine_table(void **state)
{
    (void)state;
    static const char *const statuses[] = {"open", "claimed", "done", "escalated", "resolved", "cancelled"};
    /* Expected next status per [action][status]; NULL = refused. Written out
     * by hand from docs/lifecycle.md, independently of lifecycle.c. */
    static const char *const expect[BM_ACT_COUNT][6] = {
        [BM_ACT_CLAIM] = {"claimed", NULL, NULL, NULL, NULL, NULL},
        [BM_ACT_PROGRESS] = {NULL, "claimed", NULL, NULL, NULL, NULL},
        [BM_ACT_DONE] = {NULL, "done", NULL, NULL, NULL, NULL},
        [BM_ACT_CANTFIX] = {NULL, "open", NULL, NULL, NULL, NULL},
        [BM_ACT_LEASE_EXPIRE] = {NULL, "open", NULL, NULL, NULL, NULL},
        [BM_ACT_ESCALATE] = {"escalated", "escalated", NULL, NULL, NULL, NULL},
        [BM_ACT_RESOLVE] = {NULL, NULL, NULL, "resolved", NULL, NULL},
        [BM_ACT_CANCEL] = {"cancelled", "cancelled", NULL, NULL, NULL, NULL},
        [BM_ACT_REOPEN] = {NULL, NULL, "open", NULL, NULL, NULL},
    };
    for (int a = 0; a < BM_ACT_COUNT; a++) {
        for (int s = 0; s < 6; s++) {
            const char *got = bm_lifecycle_next(statuses[s], (bm_action_t)a);
            if (expect[a][s])
                assert_string_equal(got, expect[a][s]);
            else if (got)
                fail_msg("%s from %s should be refused, got %s", bm_action_name((bm_action_t)a),
                         statuses[s], got);
        }
    }
    assert_null(bm_lifecycle_next("bogus", BM_ACT_CLAIM));
    assert_null(bm_lifecycle_next(NULL, BM_ACT_CLAIM));
    assert_true(bm_status_final("resolved") && bm_status_final("cancelled"));
    assert_false(bm_status_final("done"));
}

/* ---- fixture ------------------------------------------------------------- */

typedef tu_fixture_t fx_t;

static void fast_config(bm_config_t *cfg)
{
    for (int i = 0; i < cfg->category_count; i++) {
        bm_category_t *c = &cfg->categories[i];
        if (strcmp(c->name, "lock") == 0) {
            c->lease_s = 2;          /* lease tests */
            c->offer_timeout_s = 1;  /* overdue tests */
            c->deadline_s = 2;
        } else {
            c->lease_s = 3600;
            c->offer_timeout_s = 3600;
            c->deadline_s = 7200;
        }
    }
    cfg->max_attempts = 2;
    cfg->reopen_days = 7;
    cfg->offer_window = 3;
    bm_subscription_t *office = &cfg->subscriptions[0];
    memset(office, 0, sizeof *office);
    bm_strlcpy(office->name, "office", sizeof office->name);
    bm_strlcpy(office->url, "http://127.0.0.1:9/office", sizeof office->url);
    bm_strlcpy(office->secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", sizeof office->secret);
    bm_strlcpy(office->events, "request.overdue,request.needs_escalation", sizeof office->events);
    bm_subscription_t *water = &cfg->subscriptions[1];
    memset(water, 0, sizeof *water);
    bm_strlcpy(water->name, "water_company", sizeof water->name);
    bm_strlcpy(water->url, "http://127.0.0.1:9/water", sizeof water->url);
    bm_strlcpy(water->secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", sizeof water->secret);
    bm_strlcpy(water->department, "water_company", sizeof water->department);
    cfg->subscription_count = 2;
}

static int setup(void **state)
{
    return tu_fixture_setup(state, fast_config);
}

static int teardown(void **state)
{
    return tu_fixture_teardown(state);
}

static long long sql(fx_t *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long long sql(fx_t *fx, const char *fmt, ...)
{
    char q[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return tu_sql_int(tu_db_path(fx->broker), q);
}

static int64_t submit(fx_t *fx, const char *channel, const char *category, const char *text)
{
    char body[512], cmd[16];
    snprintf(body, sizeof body,
             "{\"channel\":\"%s\",\"category\":\"%s\",\"building\":\"市政小区 3栋\",\"unit\":\"1-101\","
             "\"contact\":\"住户 138\",\"text\":\"%s\"}",
             channel, category, text);
    cJSON *r = tu_call(fx->client, "submit", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    int64_t t = (int64_t)tu_num(r, "ticket");
    cJSON_Delete(r);
    return t;
}

static void *volunteer(fx_t *fx, const char *id, const char *skills, int max_jobs)
{
    void *w = tu_dealer(tu_worker_ep(fx->broker));
    char body[256], cmd[16];
    snprintf(body, sizeof body, "{\"volunteer\":\"%s\",\"name\":\"志愿者%s\",\"skills\":%s,\"max_jobs\":%d}",
             id, id, skills, max_jobs);
    cJSON *r = tu_call(w, "hello", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    return w;
}

/* Sends a command and returns the reply body; *ok tells ok/error. */
static cJSON *call(void *sock, const char *cmd, bool *ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cJSON *call(void *sock, const char *cmd, bool *ok, const char *fmt, ...)
{
    char body[1024], rcmd[16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    cJSON *r = tu_call(sock, cmd, body, rcmd, sizeof rcmd);
    assert_non_null(r);
    *ok = strcmp(rcmd, "ok") == 0;
    return r;
}

/* ok is a pointer: it is read only after call() has returned (argument
 * evaluation order is unspecified). */
static void expect_ok(cJSON *r, const bool *ok)
{
    if (!*ok)
        fail_msg("expected ok, got %s: %s", tu_str(r, "code"), tu_str(r, "message"));
    cJSON_Delete(r);
}

static void expect_code(cJSON *r, const bool *ok, const char *code)
{
    assert_false(*ok);
    assert_string_equal(tu_str(r, "code"), code);
    cJSON_Delete(r);
}

/* Waits ms while keeping the given workers online with heartbeats. */
static void wait_online(void **workers, int n, int ms)
{
    int64_t until = bm_mono_ms() + ms;
    while (bm_mono_ms() < until) {
        for (int i = 0; i < n; i++) {
            char cmd[16];
            cJSON_Delete(tu_call(workers[i], "heartbeat", "{}", cmd, sizeof cmd));
        }
        usleep(150 * 1000);
    }
}

/* Returns the ticket of the next offer a worker receives, or -1. */
static int64_t next_offer(void *w, int timeout_ms)
{
    cJSON *o = tu_next(w, "offer", timeout_ms);
    if (!o)
        return -1;
    int64_t t = (int64_t)tu_num(o, "ticket");
    cJSON_Delete(o);
    return t;
}

/* ---- rules --------------------------------------------------------------- */

static void test_urgent_leak_overtakes_older_pipes(void **state)
{
    fx_t *fx = *state;
    int64_t p1 = submit(fx, "forum", "pipe", "下水道堵了 1");
    int64_t p2 = submit(fx, "forum", "pipe", "下水道堵了 2");
    int64_t leak = submit(fx, "building_leader", "leak", "楼上漏水，紧急");
    /* A volunteer with room for one offer at a time gets the urgent one first. */
    void *w = volunteer(fx, "v1", "[\"pipe\",\"leak\"]", 1);
    assert_int_equal(next_offer(w, 3000), leak);
    assert_int_equal(next_offer(w, 3000), p1); /* then oldest first */
    assert_int_equal(next_offer(w, 3000), p2);
    tu_close(w);
}

static void test_offers_only_to_skilled_free_online(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *locksmith = volunteer(fx, "lk", "[\"lock\"]", 1);
    void *plumber = volunteer(fx, "pl", "[\"pipe\"]", 1);
    int64_t t1 = submit(fx, "council", "pipe", "管道");
    assert_int_equal(next_offer(plumber, 3000), t1);
    assert_int_equal(next_offer(locksmith, 500), -1); /* no skill, no offer */
    expect_ok(call(plumber, "claim", &ok, "{\"ticket\":%lld}", (long long)t1), &ok);
    /* At max_jobs: no further offers, and a claim is refused. */
    int64_t t2 = submit(fx, "council", "pipe", "管道二");
    assert_int_equal(next_offer(plumber, 700), -1);
    expect_code(call(plumber, "claim", &ok, "{\"ticket\":%lld}", (long long)t2), &ok, "too_many_jobs");
    /* Finishing the first job frees the volunteer: the second is offered. */
    expect_ok(call(plumber, "done", &ok, "{\"ticket\":%lld,\"note\":\"好了\"}", (long long)t1), &ok);
    assert_int_equal(next_offer(plumber, 3000), t2);
    tu_close(locksmith);
    tu_close(plumber);
}

static void test_lease_expires_and_job_goes_to_another(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"lock\"]", 1);
    int64_t t = submit(fx, "forum", "lock", "门锁坏了");
    assert_int_equal(next_offer(a, 3000), t);
    expect_ok(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    void *b = volunteer(fx, "b", "[\"lock\"]", 1);
    void *both[2] = {a, b};
    /* lock's lease is 2 s in this config; a reports nothing. */
    wait_online(both, 2, 3000);
    cJSON *rev = tu_next(a, "revoked", 2000);
    assert_non_null(rev);
    assert_int_equal((int64_t)tu_num(rev, "ticket"), t);
    assert_string_equal(tu_str(rev, "reason"), "lease_expired");
    cJSON_Delete(rev);
    assert_int_equal(sql(fx, "SELECT attempts FROM requests WHERE id = %lld", (long long)t), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE request_id = %lld AND kind = 'lease_expired'",
                         (long long)t), 1);
    /* Offered again; b claims it. */
    assert_int_equal(next_offer(b, 3000), t);
    expect_ok(call(b, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    tu_close(a);
    tu_close(b);
}

static void test_progress_renews_lease(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"lock\"]", 1);
    int64_t t = submit(fx, "forum", "lock", "门锁坏了");
    expect_ok(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    void *ws[1] = {a};
    for (int i = 0; i < 3; i++) {
        wait_online(ws, 1, 1000);
        cJSON *r = call(a, "progress", &ok, "{\"ticket\":%lld,\"note\":\"配件在路上 %d\"}", (long long)t, i);
        assert_true(ok);
        assert_string_equal(tu_str(r, "status"), "claimed");
        cJSON_Delete(r);
    }
    /* 3 s have passed with a 2 s lease: still claimed thanks to progress. */
    assert_int_equal(sql(fx, "SELECT status = 'claimed' FROM requests WHERE id = %lld", (long long)t), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE request_id = %lld AND kind = 'progress'",
                         (long long)t), 3);
    /* Progress from someone else, or on an open request, is refused. */
    void *b = volunteer(fx, "b", "[\"lock\"]", 1);
    expect_code(call(b, "progress", &ok, "{\"ticket\":%lld}", (long long)t), &ok, "not_yours");
    tu_close(a);
    tu_close(b);
}

static void test_decline_not_offered_again(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"repair\"]", 1);
    int64_t t = submit(fx, "office", "repair", "电灯不亮");
    assert_int_equal(next_offer(a, 3000), t);
    expect_ok(call(a, "decline", &ok, "{\"ticket\":%lld,\"reason\":\"不在附近\"}", (long long)t), &ok);
    /* Reconnecting (a new session) must not bring the declined offer back. */
    tu_close(a);
    a = volunteer(fx, "a", "[\"repair\"]", 1);
    assert_int_equal(next_offer(a, 1000), -1);
    assert_int_equal(sql(fx, "SELECT status = 'open' FROM requests WHERE id = %lld", (long long)t), 1);
    void *b = volunteer(fx, "b", "[\"repair\"]", 1);
    assert_int_equal(next_offer(b, 3000), t);
    tu_close(a);
    tu_close(b);
}

static void test_cantfix_reoffers_then_needs_escalation(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"pipe\"]", 1);
    void *b = volunteer(fx, "b", "[\"pipe\"]", 1);
    int64_t t = submit(fx, "forum", "pipe", "主管道堵塞");
    assert_int_equal(next_offer(a, 3000), t);
    expect_ok(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    expect_code(call(a, "cantfix", &ok, "{\"ticket\":%lld}", (long long)t), &ok, "invalid"); /* reason required */
    cJSON *r = call(a, "cantfix", &ok, "{\"ticket\":%lld,\"reason\":\"需要专业设备\"}", (long long)t);
    assert_true(ok);
    assert_string_equal(tu_str(r, "status"), "open");
    assert_int_equal((int)tu_num(r, "attempts"), 1);
    cJSON_Delete(r);
    /* Offered to b (again, since b saw it first time too), never back to a. */
    expect_ok(call(b, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    assert_int_equal(sql(fx, "SELECT count(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                             " WHERE e.name = 'office' AND d.type = 'request.needs_escalation'"), 0);
    expect_ok(call(b, "cantfix", &ok, "{\"ticket\":%lld,\"reason\":\"同上\"}", (long long)t), &ok);
    /* max_attempts is 2: the office is told it needs escalation. */
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE request_id = %lld AND kind = 'needs_escalation'",
                         (long long)t), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                             " WHERE e.name = 'office' AND d.type = 'request.needs_escalation'"), 1);
    void *c = volunteer(fx, "c", "[\"pipe\"]", 1);
    assert_int_equal(next_offer(c, 3000), t);
    assert_int_equal(next_offer(a, 500), -1);
    tu_close(a);
    tu_close(b);
    tu_close(c);
}

static void test_escalate_and_resolve(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"leak\"]", 1);
    int64_t t = submit(fx, "building_leader", "leak", "小区主管道破裂");
    expect_ok(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    expect_code(call(a, "escalate", &ok, "{\"ticket\":%lld,\"reason\":\"x\"}", (long long)t), &ok, "invalid");
    /* A department that is not configured: refused with did you mean, nothing changes. */
    cJSON *bad = call(a, "escalate", &ok,
                      "{\"ticket\":%lld,\"department\":\"water_compnay\",\"reason\":\"x\"}",
                      (long long)t);
    assert_false(ok);
    assert_string_equal(tu_str(bad, "code"), "unknown_department");
    assert_string_equal(tu_str(bad, "field"), "department");
    assert_non_null(strstr(tu_str(bad, "message"), "未知部门"));
    assert_non_null(strstr(tu_str(bad, "message"), "did you mean \"water_company\""));
    cJSON_Delete(bad);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = %lld AND status = 'claimed'",
                         (long long)t), 1);
    expect_ok(call(a, "escalate", &ok, "{\"ticket\":%lld,\"department\":\"water_company\",\"reason\":\"需自来水公司\"}",
                   (long long)t), &ok);
    /* The department's subscription got the escalation; the office did not (filter). */
    assert_int_equal(sql(fx, "SELECT count(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                             " WHERE e.name = 'water_company' AND d.type = 'request.escalated'"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                             " WHERE e.name = 'office'"), 0);
    /* The job is no longer held: it frees the volunteer. */
    assert_int_equal(sql(fx, "SELECT lease_until IS NULL FROM requests WHERE id = %lld", (long long)t), 1);
    expect_code(call(fx->client, "resolve", &ok, "{\"ticket\":%lld,\"channel\":\"forum\",\"answer\":\"x\"}",
                     (long long)t), &ok, "forbidden");
    expect_code(call(fx->client, "resolve", &ok, "{\"ticket\":%lld,\"channel\":\"office\"}", (long long)t), &ok,
                "invalid");
    cJSON *r = call(fx->client, "resolve", &ok,
                    "{\"ticket\":%lld,\"channel\":\"office\",\"answer\":\"自来水公司已于当天修复\"}", (long long)t);
    assert_true(ok);
    assert_string_equal(tu_str(r, "status"), "resolved");
    cJSON_Delete(r);
    assert_int_equal(sql(fx, "SELECT count(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                             " WHERE e.name = 'water_company' AND d.type = 'request.resolved'"), 1);
    /* The office escalates an open request too. */
    int64_t t2 = submit(fx, "forum", "other", "路灯坏了");
    expect_code(call(fx->client, "escalate", &ok,
                     "{\"ticket\":%lld,\"channel\":\"forum\",\"department\":\"street_office\",\"reason\":\"x\"}",
                     (long long)t2), &ok, "forbidden");
    expect_code(call(fx->client, "escalate", &ok,
                     "{\"ticket\":%lld,\"channel\":\"office\",\"department\":\"streetoffice\",\"reason\":\"x\"}",
                     (long long)t2), &ok, "unknown_department");
    /* The departments command lists them with their Chinese names and subscriptions. */
    cJSON *deps = call(fx->client, "departments", &ok, "{}");
    assert_true(ok);
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(deps, "departments"), 0);
    assert_string_equal(tu_str(d0, "id"), "water_company");
    assert_string_equal(tu_str(d0, "name"), "自来水公司");
    assert_string_equal(tu_str(d0, "subscription"), "water_company");
    cJSON_Delete(deps);
    expect_ok(call(fx->client, "escalate", &ok,
                   "{\"ticket\":%lld,\"channel\":\"office\",\"department\":\"street_office\",\"reason\":\"路灯归街道\"}",
                   (long long)t2), &ok);
    tu_close(a);
}

static void test_cancel_rules(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"repair\"]", 1);
    int64_t t = submit(fx, "forum", "repair", "插座没电");
    assert_int_equal(next_offer(a, 3000), t);
    expect_code(call(fx->client, "cancel", &ok, "{\"ticket\":%lld,\"channel\":\"council\"}", (long long)t), &ok,
                "forbidden");
    expect_code(call(fx->client, "cancel", &ok, "{\"ticket\":%lld,\"channel\":\"nobody\"}", (long long)t), &ok,
                "unknown_channel");
    expect_ok(call(fx->client, "cancel", &ok, "{\"ticket\":%lld,\"channel\":\"forum\",\"reason\":\"已自行修好\"}",
                   (long long)t), &ok);
    /* The volunteer who was offered it is told it is gone. */
    cJSON *tk = tu_next(a, "taken", 2000);
    assert_non_null(tk);
    cJSON_Delete(tk);
    expect_code(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok, "bad_transition");
    expect_code(call(fx->client, "cancel", &ok, "{\"ticket\":%lld,\"channel\":\"forum\"}", (long long)t), &ok,
                "bad_transition");
    /* A claimed one cancelled by the office: the holder's job is revoked. */
    int64_t t2 = submit(fx, "council", "repair", "跳闸");
    expect_ok(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t2), &ok);
    expect_ok(call(fx->client, "cancel", &ok, "{\"ticket\":%lld,\"channel\":\"office\"}", (long long)t2), &ok);
    cJSON *rev = tu_next(a, "revoked", 2000);
    assert_non_null(rev);
    assert_string_equal(tu_str(rev, "reason"), "cancelled");
    cJSON_Delete(rev);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE status = 'cancelled'"), 2);
    tu_close(a);
}

static void test_reopen_within_window(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"pipe\"]", 1);
    int64_t t = submit(fx, "building_leader", "pipe", "厨房下水道堵了");
    expect_ok(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    expect_code(call(fx->client, "reopen", &ok, "{\"ticket\":%lld,\"channel\":\"building_leader\",\"reason\":\"x\"}",
                     (long long)t), &ok, "bad_transition"); /* not done yet */
    expect_ok(call(a, "done", &ok, "{\"ticket\":%lld,\"note\":\"疏通了\"}", (long long)t), &ok);
    expect_code(call(fx->client, "reopen", &ok, "{\"ticket\":%lld,\"channel\":\"building_leader\"}", (long long)t),
                &ok, "invalid"); /* reason required */
    expect_code(call(fx->client, "reopen", &ok, "{\"ticket\":%lld,\"channel\":\"forum\",\"reason\":\"x\"}",
                     (long long)t), &ok, "forbidden");
    expect_ok(call(fx->client, "reopen", &ok,
                   "{\"ticket\":%lld,\"channel\":\"building_leader\",\"reason\":\"又堵了\"}", (long long)t), &ok);
    assert_int_equal(sql(fx, "SELECT status = 'open' AND volunteer_id IS NULL FROM requests WHERE id = %lld",
                         (long long)t), 1);
    assert_int_equal(next_offer(a, 3000), t); /* re-offered */
    /* Past the window: pretend it was done 8 days ago. */
    expect_ok(call(a, "claim", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    expect_ok(call(a, "done", &ok, "{\"ticket\":%lld}", (long long)t), &ok);
    tu_close(a);
    tu_broker_stop(&fx->broker);
    /* Edit the database while the broker is stopped, then start it again. */
    char q[256];
    snprintf(q, sizeof q, "UPDATE requests SET done_at = done_at - 8*86400000 WHERE id = %lld", (long long)t);
    assert_int_equal(tu_sql_exec(tu_path_db(fx->dir), q), 0);
    fx->broker = tu_broker_start(fx->dir, fast_config);
    tu_close(fx->client);
    fx->client = tu_dealer(tu_client_ep(fx->broker));
    expect_code(call(fx->client, "reopen", &ok, "{\"ticket\":%lld,\"channel\":\"office\",\"reason\":\"x\"}",
                     (long long)t), &ok, "too_late");
}

static void test_overdue_flagged_once(void **state)
{
    fx_t *fx = *state;
    /* lock: offer timeout 1 s, deadline 2 s; nobody online. */
    int64_t t = submit(fx, "forum", "lock", "被锁在门外");
    usleep(3200 * 1000);
    assert_int_equal(sql(fx, "SELECT overdue FROM requests WHERE id = %lld", (long long)t), 3);
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE request_id = %lld AND kind = 'overdue'",
                         (long long)t), 2);
    assert_int_equal(sql(fx, "SELECT count(*) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id"
                             " WHERE e.name = 'office' AND d.type = 'request.overdue'"), 2);
    usleep(1200 * 1000);
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE kind = 'overdue'"), 2); /* once each */
    bool ok;
    cJSON *r = call(fx->client, "list", &ok, "{\"overdue\":true}");
    assert_true(ok);
    assert_int_equal((int)tu_num(r, "total"), 1);
    cJSON_Delete(r);
}

static void test_list_filters_and_volunteers(void **state)
{
    fx_t *fx = *state;
    bool ok;
    for (int i = 0; i < 7; i++)
        submit(fx, i % 2 ? "forum" : "council", i % 3 ? "pipe" : "repair", "事项");
    cJSON *r = call(fx->client, "list", &ok, "{\"limit\":3}");
    assert_true(ok);
    assert_int_equal((int)tu_num(r, "total"), 7);
    cJSON *reqs = cJSON_GetObjectItem(r, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), 3);
    assert_int_equal((int)tu_num(cJSON_GetArrayItem(reqs, 0), "ticket"), 7); /* newest first */
    cJSON_Delete(r);
    r = call(fx->client, "list", &ok, "{\"channel\":\"forum\",\"category\":\"pipe\"}");
    /* i in {1,3,5} are forum; of those i%%3 != 0 -> 1 and 5 are pipe. */
    assert_int_equal((int)tu_num(r, "total"), 2);
    cJSON_Delete(r);
    r = call(fx->client, "list", &ok, "{\"building\":\"3栋\",\"status\":\"open\",\"offset\":5}");
    assert_int_equal((int)tu_num(r, "total"), 7);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "requests")), 2);
    cJSON_Delete(r);
    r = call(fx->client, "list", &ok, "{\"since\":\"2999-01-01\"}");
    assert_int_equal((int)tu_num(r, "total"), 0);
    cJSON_Delete(r);
    expect_code(call(fx->client, "list", &ok, "{\"since\":\"yesterday\"}"), &ok, "invalid");
    expect_code(call(fx->client, "list", &ok, "{\"limit\":100000}"), &ok, "invalid");

    void *a = volunteer(fx, "v9", "[\"pipe\",\"repair\"]", 2);
    expect_ok(call(a, "claim", &ok, "{\"ticket\":2}"), &ok);
    r = call(fx->client, "volunteers", &ok, "{}");
    assert_true(ok);
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "volunteers"), 0);
    assert_string_equal(tu_str(v, "id"), "v9");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(v, "online")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "skills")), 2);
    assert_int_equal((int)cJSON_GetArrayItem(cJSON_GetObjectItem(v, "jobs"), 0)->valuedouble, 2);
    cJSON_Delete(r);
    tu_close(a);
}

static void test_illegal_transitions_change_nothing(void **state)
{
    fx_t *fx = *state;
    bool ok;
    void *a = volunteer(fx, "a", "[\"pipe\"]", 1);
    int64_t t = submit(fx, "forum", "pipe", "x");
    long long events = sql(fx, "SELECT count(*) FROM events");
    expect_code(call(a, "done", &ok, "{\"ticket\":%lld}", (long long)t), &ok, "bad_transition");
    expect_code(call(a, "progress", &ok, "{\"ticket\":%lld}", (long long)t), &ok, "bad_transition");
    expect_code(call(a, "cantfix", &ok, "{\"ticket\":%lld,\"reason\":\"r\"}", (long long)t), &ok, "bad_transition");
    expect_code(call(fx->client, "resolve", &ok, "{\"ticket\":%lld,\"channel\":\"office\",\"answer\":\"a\"}",
                     (long long)t), &ok, "bad_transition");
    expect_code(call(fx->client, "reopen", &ok, "{\"ticket\":%lld,\"channel\":\"office\",\"reason\":\"a\"}",
                     (long long)t), &ok, "bad_transition");
    expect_code(call(fx->client, "cancel", &ok, "{\"ticket\":%lld,\"channel\":\"office\",\"reason\":%s}",
                     (long long)t, "42"), &ok, "invalid");
    expect_code(call(fx->client, "cancel", &ok, "{\"ticket\":-3,\"channel\":\"office\"}"), &ok, "invalid");
    expect_code(call(fx->client, "cancel", &ok, "{\"ticket\":\"7\",\"channel\":\"office\"}"), &ok, "invalid");
    assert_int_equal(sql(fx, "SELECT count(*) FROM events"), events);
    assert_int_equal(sql(fx, "SELECT status = 'open' FROM requests WHERE id = %lld", (long long)t), 1);
    tu_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_machine_table),
        cmocka_unit_test_setup_teardown(test_urgent_leak_overtakes_older_pipes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offers_only_to_skilled_free_online, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expires_and_job_goes_to_another, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_renews_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decline_not_offered_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cantfix_reoffers_then_needs_escalation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalate_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_within_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overdue_flagged_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_and_volunteers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_transitions_change_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
