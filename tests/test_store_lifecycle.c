/* test_store_lifecycle.c - the lifecycle's writes in the store, at chosen
 * times (no waiting): the overdue sweep on its one index (each kind marked
 * once, again only after a requeue or a reopen clears it, and a range read
 * that reaches no request that is not yet due), the 008 migration on a
 * database made before it, and each transition's UPDATE writing what it
 * changes and nothing else; a claim's checks before any write, and a
 * transition failing half way giving up the whole pass (no savepoint). */
#include "migrations.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1800000000000LL /* a fixed "now" in ms */

typedef struct {
    char dir[512];
    char db[600];
    bm_config_t cfg;
    int64_t offer_ms, deadline_ms, lease_ms; /* of category pipe */
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!fx || !tu_tmpdir(fx->dir, sizeof fx->dir))
        return -1;
    snprintf(fx->db, sizeof fx->db, "%s/s.db", fx->dir);
    bm_config_defaults(&fx->cfg);
    const bm_category_t *c = bm_config_category(&fx->cfg, "pipe");
    if (!c || c->offer_timeout_s >= c->deadline_s)
        return -1;
    fx->offer_ms = (int64_t)c->offer_timeout_s * 1000;
    fx->deadline_ms = (int64_t)c->deadline_s * 1000;
    fx->lease_ms = (int64_t)c->lease_s * 1000;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    tu_rmtree(fx->dir);
    free(fx);
    return 0;
}

static long long sql(fx_t *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long long sql(fx_t *fx, const char *fmt, ...)
{
    char q[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return tu_sql_int(fx->db, q);
}

static int64_t submit(store_t *s, int64_t now)
{
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋", .contact = "c",
                         .text = "堵了"};
    int64_t ticket = 0;
    bool dup = false;
    bm_error_t err = {0};
    assert_int_equal(store_submit(s, &in, now, &ticket, &dup, &err), 0);
    return ticket;
}

static void act(store_t *s, int64_t ticket, bm_action_t what, const char *volunteer, int64_t now)
{
    store_act_t a = {.act = what, .volunteer = volunteer, .channel = volunteer ? NULL : "office",
                     .text = "x", .department = "water_company", .max_jobs = 9};
    bm_error_t err = {0};
    if (store_act(s, ticket, &a, now, NULL, NULL, 0, &err) != 0)
        fail_msg("%s of %lld: %s", bm_action_name(what), (long long)ticket, err.message);
}

static void commit(store_t *s)
{
    bm_error_t err = {0};
    assert_int_equal(store_batch_commit(s, &err), 0);
}

/* The overdue events of ticket whose reason holds reason_word. */
static long long marks(fx_t *fx, int64_t ticket, const char *reason_word)
{
    return sql(fx, "SELECT count(*) FROM events WHERE request_id = %lld AND kind = 'overdue'"
                   " AND detail LIKE '%%%s%%'", (long long)ticket, reason_word);
}

static void test_each_kind_marked_once(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_volunteer_hello(s, "v01", "王师傅", "pipe", 9, T0, &err), 0);
    int64_t a = submit(s, T0), b = submit(s, T0), c = submit(s, T0);
    commit(s);

    /* Nothing is due yet. */
    assert_int_equal(store_mark_overdue(s, T0 + fx->offer_ms - 1), 0);
    /* The offer time passes: the three open requests, once each. */
    assert_int_equal(store_mark_overdue(s, T0 + fx->offer_ms), 3);
    commit(s);
    assert_int_equal(store_mark_overdue(s, T0 + fx->offer_ms + 1), 0);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE overdue = 1"), 3);

    /* b is claimed, c done; then the deadline passes: a (open) and b
     * (claimed) are marked, c (done) is not. */
    act(s, b, BM_ACT_CLAIM, "v01", T0 + fx->offer_ms + 2);
    act(s, c, BM_ACT_CLAIM, "v01", T0 + fx->offer_ms + 2);
    act(s, c, BM_ACT_DONE, "v01", T0 + fx->offer_ms + 3);
    commit(s);
    assert_int_equal(store_mark_overdue(s, T0 + fx->deadline_ms), 2);
    commit(s);
    assert_int_equal(store_mark_overdue(s, T0 + fx->deadline_ms * 10), 0);
    assert_int_equal(marks(fx, a, "offer"), 1);
    assert_int_equal(marks(fx, a, "deadline"), 1);
    assert_int_equal(marks(fx, b, "offer"), 1);
    assert_int_equal(marks(fx, b, "deadline"), 1);
    assert_int_equal(marks(fx, c, "deadline"), 0);

    /* b can't be fixed: open again with a new offer time (its unclaimed mark
     * cleared, its deadline mark kept), marked unclaimed once more, and no
     * second deadline mark. */
    int64_t t1 = T0 + fx->deadline_ms + 10;
    act(s, b, BM_ACT_CANTFIX, "v01", t1);
    commit(s);
    assert_int_equal(sql(fx, "SELECT overdue FROM requests WHERE id = %lld", (long long)b), 2);
    assert_int_equal(store_mark_overdue(s, t1 + fx->offer_ms - 1), 0);
    assert_int_equal(store_mark_overdue(s, t1 + fx->offer_ms), 1);
    commit(s);
    assert_int_equal(marks(fx, b, "offer"), 2);
    assert_int_equal(marks(fx, b, "deadline"), 1);

    /* c is reopened: new offer time and deadline, both can be marked again,
     * and both at once when the sweep first runs after both. */
    int64_t t2 = t1 + 100;
    act(s, c, BM_ACT_REOPEN, NULL, t2);
    commit(s);
    assert_int_equal(sql(fx, "SELECT overdue FROM requests WHERE id = %lld", (long long)c), 0);
    assert_int_equal(store_mark_overdue(s, t2 + fx->deadline_ms), 2);
    commit(s);
    assert_int_equal(marks(fx, c, "offer"), 2); /* the first before its claim */
    assert_int_equal(marks(fx, c, "deadline"), 1);
    assert_int_equal(sql(fx, "SELECT overdue FROM requests WHERE id = %lld", (long long)c), 3);

    /* Each mark queued its notice as before; and nothing is left due. */
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE kind = 'overdue'"), 8);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE due_at IS NOT NULL"), 0);
    store_destroy(&s);
}

/* The sweep is a range read on requests_due: requests that are not yet due,
 * however many, are not read (here 2,000 open ones and an idle sweep). */
static void test_idle_sweep_reads_nothing(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    for (int i = 0; i < 2000; i++)
        submit(s, T0 + i);
    commit(s);
    sqlite3 *db = store_sqlite(s);
    sqlite3_stmt *q = NULL;
    /* The store's own sweep statement, word for word (lib/store.c Q_OVERDUE_DUE). */
    const char *sweep =
        "SELECT id, status, overdue, offer_due_at, deadline_at FROM requests INDEXED BY requests_due"
        " WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2";
    char plan[256];
    snprintf(plan, sizeof plan, "EXPLAIN QUERY PLAN %s", sweep);
    assert_int_equal(sqlite3_prepare_v2(db, plan, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_non_null(strstr((const char *)sqlite3_column_text(q, 3), "SEARCH requests USING INDEX requests_due"));
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, sweep, -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_int64(q, 1, T0 + fx->offer_ms - 1);
    sqlite3_bind_int(q, 2, 100);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    /* One seek, no row visited. */
    assert_int_equal(sqlite3_stmt_status(q, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0), 0);
    assert_true(sqlite3_stmt_status(q, SQLITE_STMTSTATUS_VM_STEP, 0) < 50);
    sqlite3_finalize(q);
    assert_int_equal(store_mark_overdue(s, T0 + fx->offer_ms - 1), 0);
    /* Due one by one in the order they came. */
    assert_int_equal(store_mark_overdue(s, T0 + fx->offer_ms + 4), 5);
    commit(s);
    store_destroy(&s);
}

/* A database as the release before 008 left it, with requests in every situation the
 * sweep cares about, is migrated by 008: the two old indexes are gone, every
 * row keeps its values, and the sweep marks exactly what the old ones would
 * have. */
static void test_migration_008_on_an_older_database(void **state)
{
    fx_t *fx = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    int before = 0;
    for (int i = 0; i < bm_migration_count; i++) {
        if (strncmp(bm_migrations[i].name, "008_", 4) >= 0)
            break;
        assert_int_equal(sqlite3_exec(db, bm_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
        before = i + 1;
    }
    assert_true(before >= 6);
    char q[2048];
    snprintf(q, sizeof q,
             "PRAGMA user_version = %d;"
             "INSERT INTO volunteers VALUES ('v01', '王师傅', 'pipe', 2, 1, 1);"
             "INSERT INTO requests(id, channel, category, priority, building, contact, text, status,"
             " volunteer_id, lease_until, offer_due_at, deadline_at, overdue, created_at, updated_at)"
             " VALUES"
             " (1, 'forum', 'pipe', 1, 'b', 'c', 't', 'open', NULL, NULL, %lld, %lld, 0, 1, 1),"  /* offer due */
             " (2, 'forum', 'pipe', 1, 'b', 'c', 't', 'open', NULL, NULL, %lld, %lld, 1, 1, 1),"  /* deadline due */
             " (3, 'forum', 'pipe', 1, 'b', 'c', 't', 'claimed', 'v01', %lld, NULL, %lld, 0, 1, 1),"
             " (4, 'forum', 'pipe', 1, 'b', 'c', 't', 'claimed', 'v01', %lld, NULL, %lld, 2, 1, 1),"
             " (5, 'forum', 'pipe', 1, 'b', 'c', 't', 'done', 'v01', NULL, NULL, %lld, 0, 1, 1),"
             " (6, 'forum', 'pipe', 1, 'b', 'c', 't', 'open', NULL, NULL, %lld, %lld, 0, 1, 1),"  /* not yet */
             " (7, 'forum', 'pipe', 1, 'b', 'c', 't', 'open', NULL, NULL, NULL, %lld, 0, 1, 1);", /* no offer time */
             before, T0 - 5, T0 + 100, T0 - 50, T0 - 1, T0 + 999, T0 - 2, T0 + 999, T0 - 3, T0 - 9,
             T0 + 1, T0 + 2, T0 - 4);
    assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sql(fx, "SELECT count(*) FROM sqlite_master WHERE name IN"
                             " ('requests_offer_due', 'requests_deadline')"), 2);

    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), bm_migration_count);
    assert_int_equal(sql(fx, "SELECT count(*) FROM sqlite_master WHERE name IN"
                             " ('requests_offer_due', 'requests_deadline')"), 0);
    assert_int_equal(sql(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'requests_due'"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
    /* due_at is the earliest time still to be marked. */
    sqlite3 *rd = NULL;
    assert_int_equal(sqlite3_open(fx->db, &rd), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    snprintf(q, sizeof q, "SELECT group_concat(coalesce(due_at - %lld, 'n'), ',') FROM"
                          " (SELECT due_at FROM requests ORDER BY id)", T0);
    assert_int_equal(sqlite3_prepare_v2(rd, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "-5,-1,-2,n,n,1,-4");
    sqlite3_finalize(st);
    sqlite3_close(rd);

    /* Offer of 1, deadline of 2 (its offer already marked), deadline of 3
     * (its lease is another matter), deadline of 7; 4 was marked, 5 is done,
     * 6 is not due yet. */
    assert_int_equal(store_mark_overdue(s, T0), 4);
    commit(s);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = 1 AND overdue = 1"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = 2 AND overdue = 3"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = 3 AND overdue = 2"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = 4 AND overdue = 2"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = 5 AND overdue = 0"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = 6 AND overdue = 0"), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = 7 AND overdue = 2"), 1);
    assert_int_equal(store_mark_overdue(s, T0), 0);
    /* 6's offer, then 1's and 6's deadlines come later, once each. */
    assert_int_equal(store_mark_overdue(s, T0 + 1), 1);
    commit(s);
    assert_int_equal(store_mark_overdue(s, T0 + 1000), 2);
    commit(s);
    assert_int_equal(store_mark_overdue(s, T0 + 100000), 0);
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE kind = 'overdue'"), 7);
    store_destroy(&s);
}

/* Commits, then checks every lifecycle column of ticket t. */
static void expect_row(fx_t *fx, store_t *s, int64_t t, const char *status, const char *vol,
                       int64_t lease, int64_t claimed, int64_t done, int64_t offer, int64_t deadline,
                       int attempts, int overdue, const char *dep, int64_t updated)
{
    commit(s);
    assert_int_equal(sql(fx,
                         "SELECT count(*) FROM requests WHERE id = %lld AND status = '%s'"
                         " AND coalesce(volunteer_id, '') = '%s' AND coalesce(lease_until, 0) = %lld"
                         " AND coalesce(claimed_at, 0) = %lld AND coalesce(done_at, 0) = %lld"
                         " AND coalesce(offer_due_at, 0) = %lld AND deadline_at = %lld AND attempts = %d"
                         " AND overdue = %d AND coalesce(department, '') = '%s' AND updated_at = %lld",
                         (long long)t, status, vol, (long long)lease, (long long)claimed,
                         (long long)done, (long long)offer, (long long)deadline, attempts, overdue,
                         dep, (long long)updated),
                     1);
}

/* Each transition writes exactly what it changes: every other column and
 * the row's other values stay, on every kind of transition. */
static void test_transitions_write_what_they_change(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_volunteer_hello(s, "v01", "王师傅", "pipe", 9, T0, &err), 0);
    int64_t t = submit(s, T0);
    int64_t dl = T0 + fx->deadline_ms, offer = T0 + fx->offer_ms;
    expect_row(fx, s, t, "open", "", 0, 0, 0, offer, dl, 0, 0, "", T0);
    act(s, t, BM_ACT_CLAIM, "v01", T0 + 1);
    expect_row(fx, s, t, "claimed", "v01", T0 + 1 + fx->lease_ms, T0 + 1, 0, 0, dl, 0, 0, "", T0 + 1);
    act(s, t, BM_ACT_PROGRESS, "v01", T0 + 2);
    expect_row(fx, s, t, "claimed", "v01", T0 + 2 + fx->lease_ms, T0 + 1, 0, 0, dl, 0, 0, "", T0 + 2);
    act(s, t, BM_ACT_CANTFIX, "v01", T0 + 3);
    expect_row(fx, s, t, "open", "", 0, T0 + 1, 0, T0 + 3 + fx->offer_ms, dl, 1, 0, "", T0 + 3);
    act(s, t, BM_ACT_CLAIM, "v01", T0 + 4);
    expect_row(fx, s, t, "claimed", "v01", T0 + 4 + fx->lease_ms, T0 + 4, 0, 0, dl, 1, 0, "", T0 + 4);
    act(s, t, BM_ACT_DONE, "v01", T0 + 5);
    expect_row(fx, s, t, "done", "v01", 0, T0 + 4, T0 + 5, 0, dl, 1, 0, "", T0 + 5);
    act(s, t, BM_ACT_REOPEN, NULL, T0 + 6);
    expect_row(fx, s, t, "open", "", 0, T0 + 4, 0, T0 + 6 + fx->offer_ms, T0 + 6 + fx->deadline_ms, 1, 0, "",
               T0 + 6);
    act(s, t, BM_ACT_ESCALATE, NULL, T0 + 7);
    expect_row(fx, s, t, "escalated", "", 0, T0 + 4, 0, 0, T0 + 6 + fx->deadline_ms, 1, 0, "water_company", T0 + 7);
    act(s, t, BM_ACT_RESOLVE, NULL, T0 + 8);
    expect_row(fx, s, t, "resolved", "", 0, T0 + 4, T0 + 8, 0, T0 + 6 + fx->deadline_ms, 1, 0, "water_company",
               T0 + 8);
    int64_t u = submit(s, T0 + 9);
    act(s, u, BM_ACT_CANCEL, NULL, T0 + 10);
    commit(s);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = %lld AND status = 'cancelled'"
                             " AND offer_due_at IS NULL AND due_at IS NULL AND updated_at = %lld",
                         (long long)u, T0 + 10),
                     1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
    store_destroy(&s);
}

/* A claim's checks come before anything is written, inside the batch: a
 * category outside the volunteer's skills (forbidden) and a volunteer that
 * never said hello (its write would break the foreign key half way) are
 * refused, nothing is written and the pass goes on. */
static void test_claim_checked_before_writing(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_volunteer_hello(s, "v01", "王师傅", "pipe", 9, T0, &err), 0);
    int64_t t = submit(s, T0);
    commit(s);
    const bm_category_t *pipe = bm_config_category(&fx->cfg, "pipe");
    uint32_t pipe_bit = 1u << (pipe - fx->cfg.categories);

    store_act_t a = {.act = BM_ACT_CLAIM, .volunteer = "v01", .max_jobs = 9, .skills = ~pipe_bit};
    bm_error_t e1 = {0};
    assert_int_equal(store_act(s, t, &a, T0 + 1, NULL, NULL, 0, &e1), -1);
    assert_string_equal(e1.code, "forbidden");
    store_act_t stranger = {.act = BM_ACT_CLAIM, .volunteer = "v99", .max_jobs = 9};
    bm_error_t e2 = {0};
    assert_int_equal(store_act(s, t, &stranger, T0 + 1, NULL, NULL, 0, &e2), -1);
    assert_string_equal(e2.code, "hello_required");
    assert_false(store_batch_failed(s));
    a.skills = pipe_bit;
    cJSON *job = NULL;
    assert_int_equal(store_act(s, t, &a, T0 + 2, &job, NULL, 0, &err), 0);
    assert_non_null(job);
    assert_string_equal(cJSON_GetObjectItem(job, "status")->valuestring, "claimed");
    assert_string_equal(cJSON_GetObjectItem(job, "category")->valuestring, "pipe");
    assert_non_null(cJSON_GetObjectItem(job, "contact"));
    assert_non_null(cJSON_GetObjectItem(job, "lease_until"));
    cJSON_Delete(job);
    commit(s);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = %lld AND volunteer_id = 'v01'"
                             " AND claimed_at = %lld", (long long)t, T0 + 2), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE kind = 'claimed'"), 1);
    store_destroy(&s);
}

/* A transition runs without a savepoint: if one of its writes fails half
 * way (here its event, after the request row was updated), the whole pass
 * is given up, nothing of it is committed, and the next pass works. */
static void test_transition_failing_half_way_loses_the_pass(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_volunteer_hello(s, "v01", "王师傅", "pipe", 9, T0, &err), 0);
    int64_t t = submit(s, T0), u = submit(s, T0);
    commit(s);
    store_destroy(&s);
    assert_int_equal(tu_sql_exec(fx->db, "CREATE TRIGGER fail_done BEFORE INSERT ON events"
                                         " WHEN NEW.kind = 'completed'"
                                         " BEGIN SELECT RAISE(ABORT, 'injected'); END"),
                     0);
    s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    act(s, t, BM_ACT_CLAIM, "v01", T0 + 1);
    commit(s);
    act(s, u, BM_ACT_CLAIM, "v01", T0 + 2); /* in the pass that is lost */
    store_act_t done = {.act = BM_ACT_DONE, .volunteer = "v01"};
    bm_error_t e = {0};
    assert_int_equal(store_act(s, t, &done, T0 + 3, NULL, NULL, 0, &e), -1);
    assert_string_equal(e.code, "storage_error");
    assert_true(store_batch_failed(s));
    assert_int_equal(store_batch_commit(s, &err), -1);
    /* The next pass: u's claim was not kept, t is still claimed. */
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = %lld AND status = 'open'"
                             " AND volunteer_id IS NULL", (long long)u), 1);
    assert_int_equal(sql(fx, "SELECT count(*) FROM requests WHERE id = %lld AND status = 'claimed'",
                         (long long)t), 1);
    act(s, u, BM_ACT_CLAIM, "v01", T0 + 4);
    commit(s);
    assert_int_equal(sql(fx, "SELECT count(*) FROM events WHERE kind = 'claimed'"), 2);
    assert_int_equal(sql(fx, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
    store_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_kind_marked_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_sweep_reads_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_008_on_an_older_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions_write_what_they_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_checked_before_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transition_failing_half_way_loses_the_pass, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
