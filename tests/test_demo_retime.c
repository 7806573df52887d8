/* test_demo_retime.c - the demo's simulated times (demo/retime.c): a run's
 * database is mapped back onto the trace's clock; arrivals land on their
 * trace times across a cut quiet stretch, a job keeps its length times the
 * speed, a deadline keeps its distance, and the append-only guard on events
 * is back afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "csv.h"
#include "retime.h"
#include "test_stats_fixture.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t q(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_open(db, &h) == SQLITE_OK && sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

static void test_retime(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    char dir[512], db[600], map[600], month[16], err[256];
    assert_non_null(fx_tmpdir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/demo.db", dir);
    snprintf(map, sizeof map, "%s/timemap.txt", dir);
    assert_int_equal(fx_create_empty(db), 0);
    /* Two rows of the trace: 2020-01-01 00:00 and 2020-03-01 00:00 (a quiet
     * stretch cut to 6 h). Speed 3600: one run second is one trace hour.
     * The run started at 1000000 ms. */
    const int64_t start = 1000000, c1 = 1577836800, c2 = 1583020800;
    const int64_t offsets[] = {0, 21600}, created[] = {c1, c2};
    assert_int_equal(demo_timemap_write(map, start, 3600.0, offsets, created, 2), 0);
    /* Request 1 arrives at the start, is done 2 s later (2 trace hours);
     * request 2 arrives 6 s in (the cut stretch), is claimed 1 s later. */
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO requests(id, channel, category, priority, building, unit, contact, text,"
             " status, deadline_at, created_at, updated_at, done_at) VALUES"
             " (1, 'forum', 'pipe', 3, 'A', '1', 'x', 't', 'done', %lld, %lld, %lld, %lld),"
             " (2, 'forum', 'pipe', 3, 'A', '1', 'x', 't', 'claimed', %lld, %lld, %lld, NULL);"
             "INSERT INTO events(request_id, at, actor, kind, from_status, to_status) VALUES"
             " (1, %lld, 'channel:forum', 'received', NULL, 'open'),"
             " (1, %lld, 'volunteer:v01', 'completed', 'claimed', 'done'),"
             " (2, %lld, 'channel:forum', 'received', NULL, 'open'),"
             " (2, %lld, 'volunteer:v01', 'claimed', 'open', 'claimed');",
             (long long)(start + 172800000), (long long)start, (long long)(start + 2000),
             (long long)(start + 2000), (long long)(start + 6000 + 172800000),
             (long long)(start + 6000), (long long)(start + 7000), (long long)start,
             (long long)(start + 2000), (long long)(start + 6000), (long long)(start + 7000));
    assert_int_equal(fx_exec(db, sql), 0);
    assert_int_equal(demo_retime(db, map, month, sizeof month, err, sizeof err), 0);
    assert_string_equal(month, "2020-01"); /* one each: the first month found wins a tie */
    assert_true(q(db, "SELECT created_at FROM requests WHERE id = 1") == c1 * 1000);
    assert_true(q(db, "SELECT done_at FROM requests WHERE id = 1") == (c1 + 7200) * 1000);
    assert_true(q(db, "SELECT deadline_at FROM requests WHERE id = 1") == c1 * 1000 + 172800000);
    assert_true(q(db, "SELECT created_at FROM requests WHERE id = 2") == c2 * 1000);
    assert_true(q(db, "SELECT at FROM events WHERE request_id = 1 AND kind = 'completed'") ==
                (c1 + 7200) * 1000);
    /* relative to its own arrival, not stretched by the cut */
    assert_true(q(db, "SELECT at FROM events WHERE request_id = 2 AND kind = 'claimed'") ==
                (c2 + 3600) * 1000);
    /* the audit trail is append-only again */
    assert_int_not_equal(fx_exec(db, "UPDATE events SET at = 0"), 0);
    /* a file that is not a time map changes nothing */
    assert_int_equal(fx_exec(db, "SELECT 1"), 0);
    assert_int_equal(demo_retime(db, db, month, sizeof month, err, sizeof err), -1);
    assert_non_null(strstr(err, "time map"));
    assert_true(q(db, "SELECT created_at FROM requests WHERE id = 1") == c1 * 1000);
    fx_rmtree(dir);
    unsetenv("TZ");
}

static void test_spread(void **state)
{
    (void)state;
    demo_rows_t r = {0};
    r.rows = calloc(10, sizeof *r.rows);
    assert_non_null(r.rows);
    r.n = r.cap = 10;
    for (int i = 0; i < 10; i++)
        r.rows[i].created = i * 100;
    demo_rows_spread(&r, 5);
    assert_int_equal(r.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r.rows[i].created, i * 200); /* every 2nd, first to last */
    demo_rows_spread(&r, 50); /* more than there are: all kept */
    assert_int_equal(r.n, 5);
    demo_rows_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retime),
        cmocka_unit_test(test_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
