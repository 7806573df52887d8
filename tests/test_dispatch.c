/* test_dispatch.c - the dispatcher through the real protocol: requests that
 * nobody online can take (no one has the skill, or every one declined them)
 * never hide the ones behind them; targeted offers go to a few volunteers
 * first, fairly, widen step by step, wider for urgent categories, and the
 * first claim wins; a claim that arrives after the holder's lease ran out
 * wins even before the periodic sweep. */
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

typedef tu_fixture_t fx_t;

#define UNTAKEABLE 1000

static void config(bm_config_t *cfg)
{
    cfg->offer_window = 3;
    cfg->heartbeat_ms = 5000; /* online for 15 s without heartbeats */
    for (int i = 0; i < cfg->category_count; i++) {
        bm_category_t *c = &cfg->categories[i];
        if (strcmp(c->name, "lock") == 0)
            c->lease_s = 3600;
        if (strcmp(c->name, "pipe") == 0) { /* 2 first, 2 more every 2 s */
            c->offer_fanout = 2;
            c->offer_step_s = 2;
        }
        if (strcmp(c->name, "repair") == 0) { /* one at a time, never widening in a test */
            c->offer_fanout = 1;
            c->offer_step_s = 3600;
        }
        if (strcmp(c->name, "leak") == 0) { /* urgent: wider */
            c->offer_fanout = 4;
            c->offer_step_s = 3600;
        }
    }
}

static int setup(void **state)
{
    return tu_fixture_setup(state, config);
}

static int teardown(void **state)
{
    return tu_fixture_teardown(state);
}

static int64_t submit(fx_t *fx, const char *category)
{
    char body[512], cmd[16];
    snprintf(body, sizeof body,
             "{\"channel\":\"forum\",\"category\":\"%s\",\"building\":\"3栋\",\"contact\":\"c\","
             "\"text\":\"需要帮助\"}", category);
    cJSON *r = tu_call(fx->client, "submit", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    int64_t t = (int64_t)tu_num(r, "ticket");
    cJSON_Delete(r);
    return t;
}

static void *hello(fx_t *fx, const char *id, const char *skills)
{
    void *w = tu_dealer(tu_worker_ep(fx->broker));
    char body[256], cmd[16];
    snprintf(body, sizeof body, "{\"volunteer\":\"%s\",\"name\":\"志愿者\",\"skills\":%s}", id, skills);
    cJSON *r = tu_call(w, "hello", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    return w;
}

static int64_t next_offer(void *w, int timeout_ms)
{
    cJSON *o = tu_next(w, "offer", timeout_ms);
    if (!o)
        return -1;
    int64_t t = (int64_t)tu_num(o, "ticket");
    cJSON_Delete(o);
    return t;
}

static bool one_of(int64_t t, const int64_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == t)
            return true;
    return false;
}

/* 1,000 urgent leaks, older than everything, wait ahead: nobody online has
 * the skill for them, or the one who has declined every one. The pipe
 * requests behind them are offered at once all the same. */
static void test_untakeable_requests_ahead_starve_nobody(void **state)
{
    fx_t *fx = *state;
    const char *db = tu_db_path(fx->broker);
    char q[1024];
    snprintf(q, sizeof q,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO requests(channel, category, priority, building, contact, text, status,"
             " deadline_at, created_at, updated_at)"
             " SELECT 'forum', 'leak', 10, 'b', 'c', 'leak ' || i, 'open', 9000000000000000, i, i FROM n",
             UNTAKEABLE);
    assert_int_equal(tu_sql_exec(db, q), 0);
    /* v-both has both skills but declined every leak. */
    assert_int_equal(tu_sql_exec(db, "INSERT INTO events(request_id, at, actor, kind, detail)"
                                     " SELECT id, 1, 'volunteer:v-both', 'declined', '{}'"
                                     " FROM requests WHERE category = 'leak'"), 0);
    int64_t pipes[5];
    for (int i = 0; i < 5; i++)
        pipes[i] = submit(fx, "pipe");

    void *w1 = hello(fx, "v-pipe", "[\"pipe\"]");
    void *w2 = hello(fx, "v-both", "[\"leak\",\"pipe\"]");
    void *ws[2] = {w1, w2};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++) { /* offer_window */
            int64_t t = next_offer(ws[k], 3000);
            assert_true(one_of(t, pipes, 5));
        }
        assert_int_equal(next_offer(ws[k], 300), -1); /* never more than the window */
    }
    tu_close(w1);
    tu_close(w2);
}

/* A claim arriving after the holder's lease ran out, before any sweep, wins;
 * the former holder is told it was revoked. */
static void test_claim_after_lease_ran_out_wins(void **state)
{
    fx_t *fx = *state;
    int64_t t = submit(fx, "lock");
    void *w1 = hello(fx, "v1", "[\"lock\"]");
    assert_int_equal(next_offer(w1, 3000), t);
    char body[64], cmd[16];
    snprintf(body, sizeof body, "{\"ticket\":%lld}", (long long)t);
    cJSON *r = tu_call(w1, "claim", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    void *w2 = hello(fx, "v2", "[\"lock\"]");
    /* The lease ran out a moment ago (the sweep runs at most every 500 ms). */
    char q[128];
    snprintf(q, sizeof q, "UPDATE requests SET lease_until = %lld WHERE id = %lld",
             (long long)bm_now_ms() - 1, (long long)t);
    assert_int_equal(tu_sql_exec(tu_db_path(fx->broker), q), 0);
    r = tu_call(w2, "claim", body, cmd, sizeof cmd);
    assert_non_null(r);
    if (strcmp(cmd, "ok") != 0)
        fail_msg("claim after the lease ran out: %s %s", tu_str(r, "code"), tu_str(r, "message"));
    cJSON_Delete(r);
    cJSON *rev = tu_next(w1, "revoked", 3000);
    assert_non_null(rev);
    assert_int_equal((int64_t)tu_num(rev, "ticket"), t);
    cJSON_Delete(rev);
    snprintf(q, sizeof q, "SELECT volunteer_id = 'v2' FROM requests WHERE id = %lld", (long long)t);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), q), 1);
    tu_close(w1);
    tu_close(w2);
}

#define NW 6

/* Starts n volunteers w0..w(n-1) with the given skills. */
static void crowd(fx_t *fx, void **ws, int n, const char *skills)
{
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "w%d", i);
        ws[i] = hello(fx, id, skills);
    }
}

/* Marks in got[] which volunteers were offered ticket t until the monotonic
 * time until (ms); returns how many were, in all. */
static int offered_until(void **ws, int n, int64_t t, bool *got, int64_t until)
{
    while (bm_mono_ms() < until) {
        for (int i = 0; i < n; i++) {
            cJSON *o = tu_next(ws[i], "offer", 20);
            if (o && (int64_t)tu_num(o, "ticket") == t)
                got[i] = true;
            cJSON_Delete(o);
        }
    }
    int count = 0;
    for (int i = 0; i < n; i++)
        count += got[i];
    return count;
}

/* A pipe job goes to 2 volunteers, then 2 more after each step (2 s), until
 * one claims it: the first claim wins, a later one is "taken". Each count is
 * read in the middle of a step, a second away from either edge. */
static void test_targeted_offers_widen_until_claimed(void **state)
{
    fx_t *fx = *state;
    void *ws[NW];
    crowd(fx, ws, NW, "[\"pipe\"]");
    int64_t t0 = bm_mono_ms();
    int64_t t = submit(fx, "pipe");
    bool got[NW] = {false};
    assert_int_equal(offered_until(ws, NW, t, got, t0 + 1000), 2);
    assert_int_equal(offered_until(ws, NW, t, got, t0 + 3000), 4);
    assert_int_equal(offered_until(ws, NW, t, got, t0 + 5000), 6);
    /* The first claim wins, the second is too late. */
    int first = -1, second = -1;
    for (int i = 0; i < NW; i++) {
        if (got[i] && first < 0)
            first = i;
        else if (got[i] && second < 0)
            second = i;
    }
    char body[64], cmd[16];
    snprintf(body, sizeof body, "{\"ticket\":%lld}", (long long)t);
    cJSON *r = tu_call(ws[first], "claim", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    r = tu_call(ws[second], "claim", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "error");
    assert_string_equal(tu_str(r, "code"), "taken");
    cJSON_Delete(r);
    for (int i = 0; i < NW; i++)
        tu_close(ws[i]);
}

/* Urgent categories start wider: a leak reaches 4 at once, a pipe 2. */
static void test_targeted_offers_urgent_wider(void **state)
{
    fx_t *fx = *state;
    void *ws[NW];
    crowd(fx, ws, NW, "[\"pipe\",\"leak\"]");
    int64_t leak = submit(fx, "leak");
    bool got[NW] = {false};
    assert_int_equal(offered_until(ws, NW, leak, got, bm_mono_ms() + 1000), 4);
    for (int i = 0; i < NW; i++)
        tu_close(ws[i]);
}

/* Fairness: with one volunteer per job, jobs in a row go to different
 * volunteers (least recently offered first). */
static void test_targeted_offers_fair(void **state)
{
    fx_t *fx = *state;
    void *ws[3];
    crowd(fx, ws, 3, "[\"repair\"]");
    int who[3];
    for (int k = 0; k < 3; k++) {
        int64_t t = submit(fx, "repair");
        bool got[3] = {false};
        assert_int_equal(offered_until(ws, 3, t, got, bm_mono_ms() + 500), 1);
        who[k] = got[0] ? 0 : got[1] ? 1 : 2;
    }
    assert_true(who[0] != who[1] && who[1] != who[2] && who[0] != who[2]);
    for (int i = 0; i < 3; i++)
        tu_close(ws[i]);
}

/* One who was given a job today waits behind one who was not, even though
 * its id sorts first. */
static void test_targeted_offers_fewest_jobs_today_first(void **state)
{
    fx_t *fx = *state;
    void *busy = hello(fx, "a-busy", "[\"lock\"]");
    int64_t t = submit(fx, "lock");
    assert_int_equal(next_offer(busy, 2000), t);
    char body[64], cmd[16];
    snprintf(body, sizeof body, "{\"ticket\":%lld}", (long long)t);
    cJSON *r = tu_call(busy, "claim", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    r = tu_call(busy, "done", body, cmd, sizeof cmd);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    tu_close(busy);
    busy = hello(fx, "a-busy", "[\"repair\"]");
    void *idle = hello(fx, "z-idle", "[\"repair\"]");
    int64_t t2 = submit(fx, "repair");
    assert_int_equal(next_offer(idle, 2000), t2);
    assert_int_equal(next_offer(busy, 500), -1);
    tu_close(busy);
    tu_close(idle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_untakeable_requests_ahead_starve_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_after_lease_ran_out_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targeted_offers_widen_until_claimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targeted_offers_urgent_wider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targeted_offers_fair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targeted_offers_fewest_jobs_today_first, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
