/* test_dispatch.c - the dispatcher through the real protocol: requests that
 * nobody online can take (no one has the skill, or every one declined them)
 * never hide the ones behind them, and a claim that arrives after the
 * holder's lease ran out wins even before the periodic sweep. */
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
    for (int i = 0; i < cfg->category_count; i++) {
        if (strcmp(cfg->categories[i].name, "lock") == 0)
            cfg->categories[i].lease_s = 3600;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_untakeable_requests_ahead_starve_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_after_lease_ran_out_wins, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
