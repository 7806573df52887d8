/* test_store.c - the store on its own: migrations and user_version, a
 * database newer than the binary refused, WAL and foreign keys on, the event
 * log append-only, and a failing commit leaving nothing behind. */
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

typedef struct {
    char dir[512];
    char db[600];
    bm_config_t cfg;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!tu_tmpdir(fx->dir, sizeof fx->dir))
        return -1;
    snprintf(fx->db, sizeof fx->db, "%s/s.db", fx->dir);
    bm_config_defaults(&fx->cfg);
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

static void test_fresh_database_is_migrated(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    assert_true(bm_migration_count >= 1);
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), bm_migration_count);
    store_destroy(&s);
    assert_null(s);
    /* Every table the schema promises is there, WAL is on. */
    const char *tables[] = {"requests", "events", "volunteers", "endpoints", "deliveries",
                            "delivery_attempts", "attachments"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char q[128];
        snprintf(q, sizeof q, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
                 tables[i]);
        assert_int_equal(tu_sql_int(fx->db, q), 1);
    }
    assert_int_equal(tu_sql_int(fx->db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    /* Opening again applies nothing and keeps the version. */
    s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), bm_migration_count);
    store_destroy(&s);
    store_destroy(&s); /* NULL is fine */
}

static void test_newer_database_refused(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_destroy(&s);
    char q[64];
    snprintf(q, sizeof q, "PRAGMA user_version = %d", bm_migration_count + 1);
    assert_int_equal(tu_sql_exec(fx->db, q), 0);
    s = store_open(fx->db, &fx->cfg, &err);
    assert_null(s);
    assert_string_equal(err.code, "storage_error");
    assert_non_null(strstr(err.message, "newer"));
}

static void test_events_append_only(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋",
                         .contact = "c", .text = "堵了"};
    int64_t ticket = 0;
    bool dup = true;
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
    assert_false(dup);
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM events"), 1);
    /* The audit trail refuses changes, whoever asks. */
    assert_int_equal(tu_sql_exec(fx->db, "UPDATE events SET kind = 'x'"), -1);
    assert_int_equal(tu_sql_exec(fx->db, "DELETE FROM events"), -1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM events WHERE kind = 'received'"), 1);
}

static void test_failed_commit_leaves_nothing(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_submit_t in = {.channel = "forum", .category = "leak", .building = "5栋",
                         .contact = "c", .text = "漏水", .ref = "r-1"};
    int64_t ticket = 0;
    bool dup = false;
    store_fail_commits(s, 1);
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
    assert_int_equal(store_batch_commit(s, &err), -1);
    assert_string_equal(err.code, "storage_error");
    assert_false(store_in_batch(s));
    /* Nothing of it survived, so the same ref is new again. */
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
    assert_false(dup);
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), 1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM events"), 1);
}

static void test_unknown_category_writes_nothing(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    store_submit_t in = {.channel = "forum", .category = "gas", .building = "b", .contact = "c", .text = "t"};
    int64_t ticket = 0;
    bool dup = false;
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), -1);
    assert_string_equal(err.code, "unknown_category");
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_database_is_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_append_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_category_writes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
