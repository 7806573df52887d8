/* test_store.c - the store on its own: migrations and user_version, a
 * database newer than the binary refused, WAL and foreign keys on, the event
 * log append-only, and a failing commit leaving nothing behind. */
#include "lifecycle.h"
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
#include <sys/stat.h>
#include <time.h>

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
    /* The receipt is the request row: no event row, one entry in the timeline
     * (schema/007_receipt.sql), with what the received event used to hold. */
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM events"), 0);
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM timeline t JOIN requests r ON r.id = t.request_id WHERE t.request_id = %lld"
             " AND t.kind = 'received' AND t.id IS NULL AND t.actor = 'channel:forum' AND t.to_status = 'open'"
             " AND t.from_status IS NULL AND t.at = r.created_at AND t.detail = '{}'",
             (long long)ticket);
    assert_int_equal(tu_sql_int(fx->db, q), 1);
    /* An event: the request cancelled by its channel. */
    store_act_t cancel = {.act = BM_ACT_CANCEL, .channel = "forum", .text = "不用了"};
    assert_int_equal(store_act(s, ticket, &cancel, bm_now_ms(), NULL, NULL, 0, &err), 0);
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM events"), 1);
    /* The audit trail refuses changes, whoever asks. */
    assert_int_equal(tu_sql_exec(fx->db, "UPDATE events SET kind = 'x'"), -1);
    assert_int_equal(tu_sql_exec(fx->db, "DELETE FROM events"), -1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM events WHERE kind = 'cancelled'"), 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM timeline WHERE request_id = %lld", (long long)ticket);
    assert_int_equal(tu_sql_int(fx->db, q), 2);
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
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM timeline"), 1);
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

/* 005: the status CHECK is written as equalities (the IN list built a
 * temporary b-tree on every insert and update of a request), still enforced,
 * also on a database made before 005; the unused queue index is gone. */
static void test_status_check_without_in_list(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    /* A database as the release before 005 left it. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    int before = 0;
    for (int i = 0; i < bm_migration_count; i++) {
        if (strncmp(bm_migrations[i].name, "005_", 4) == 0)
            break;
        assert_int_equal(sqlite3_exec(db, bm_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
        before = i + 1;
    }
    char q[64];
    snprintf(q, sizeof q, "PRAGMA user_version = %d", before);
    assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO requests(channel, category, priority, building, contact,"
                                  " text, status, deadline_at, created_at, updated_at)"
                                  " VALUES ('forum', 'pipe', 3, 'b', 'c', 't', 'open', 2, 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE name = 'requests'"
                                        " AND sql LIKE '%status IN%'"),
                     1);

    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    /* The store's own connection uses the new definition at once. */
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋", .contact = "c",
                         .text = "堵了"};
    int64_t ticket = 0;
    bool dup = false;
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
    assert_int_equal(store_batch_commit(s, &err), 0);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_sqlite(s),
                                        "EXPLAIN UPDATE requests SET status = ?2 WHERE id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int ephemeral = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        ephemeral += strcmp((const char *)sqlite3_column_text(st, 1), "OpenEphemeral") == 0;
    sqlite3_finalize(st);
    assert_int_equal(ephemeral, 0);
    store_destroy(&s);

    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE name = 'requests'"
                                        " AND sql LIKE '%status IN%'"),
                     0);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM sqlite_master WHERE name = 'requests_queue'"), 0);
    /* Still checked, by any connection. */
    assert_int_equal(tu_sql_exec(fx->db, "UPDATE requests SET status = 'lost' WHERE id = 1"), -1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests WHERE status = 'open'"), 2);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
}

/* A submit runs without a savepoint: if one of its statements fails half way
 * (here the event, after the request row was written), the whole pass is
 * given up: its reply and every other reply of the pass are errors, nothing
 * of it is committed, and the next pass works. */
static void test_submit_failing_half_way_loses_the_pass(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    bm_strlcpy(fx->cfg.callback_secret, "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=", sizeof fx->cfg.callback_secret);
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_destroy(&s);
    /* The council's submit fails at its last statement, its notice, after its
     * callback endpoint and its request row were written. */
    assert_int_equal(tu_sql_exec(fx->db, "CREATE TRIGGER fail_council BEFORE INSERT ON deliveries"
                                         " WHEN (SELECT channel FROM requests WHERE id = NEW.request_id) = 'council'"
                                         " BEGIN SELECT RAISE(ABORT, 'injected'); END"),
                     0);
    s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_submit_t a = {.channel = "forum", .category = "pipe", .building = "1栋", .contact = "c",
                        .text = "堵了", .ref = "a-1"};
    store_submit_t b = {.channel = "council", .category = "leak", .building = "2栋", .contact = "c",
                        .text = "漏水", .callback = "http://127.0.0.1:9/hook"};
    int64_t ticket = 0;
    bool dup = false;
    assert_int_equal(store_submit(s, &a, bm_now_ms(), &ticket, &dup, &err), 0);
    bm_error_t err_b = {0};
    assert_int_equal(store_submit(s, &b, bm_now_ms(), &ticket, &dup, &err_b), -1);
    assert_string_equal(err_b.code, "storage_error");
    assert_true(store_batch_failed(s));
    /* Nothing else runs in the lost pass, and its commit says so. */
    bm_error_t err_c = {0};
    store_submit_t c = {.channel = "forum", .category = "lock", .building = "3栋", .contact = "c",
                        .text = "锁坏了"};
    assert_int_equal(store_submit(s, &c, bm_now_ms(), &ticket, &dup, &err_c), -1);
    assert_string_equal(err_c.code, "storage_error");
    assert_int_equal(store_batch_commit(s, &err), -1);
    assert_false(store_in_batch(s));
    /* The next pass: the same ref is new again (nothing of the pass was kept). */
    memset(&err, 0, sizeof err);
    dup = true;
    assert_int_equal(store_submit(s, &a, bm_now_ms(), &ticket, &dup, &err), 0);
    assert_false(dup);
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), 1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM timeline"), 1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests WHERE channel = 'council'"), 0);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM endpoints WHERE kind = 'callback'"), 0);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM deliveries"), 0);
}

/* Checkpoints run in their own thread, asked for once STORE_CHECKPOINT_FRAMES
 * frames are not yet copied, while the writer goes on; once the WAL is
 * STORE_WAL_RESTART_FRAMES long, the loop completes the thread's next one at
 * a pass boundary: the WAL is copied back and restarts, and nothing committed
 * is lost whatever the checkpoint does. (Smaller sizes here, the same rules.) */
static long wal_size(const fx_t *fx)
{
    char wal[700];
    snprintf(wal, sizeof wal, "%s-wal", fx->db);
    struct stat st;
    return stat(wal, &st) == 0 ? (long)st.st_size : -1;
}

/* Waits (bounded; no time is asserted) until the thread has done n. */
static void wait_checkpoints(store_t *s, uint64_t n)
{
    for (int i = 0; i < 1000 && store_checkpoints_done(s) < n; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(store_checkpoints_done(s) >= n);
}

/* One submit in its own commit, then the checkpoint's turn as in the broker's
 * loop; the thread is waited for after each ask. Returns store_checkpoint's
 * answer. */
static int commit_one(fx_t *fx, store_t *s, uint64_t *thread_done)
{
    (void)fx;
    bm_error_t err = {0};
    int64_t ticket = 0;
    bool dup = false;
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋", .contact = "c",
                         .text = "堵了"};
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
    assert_int_equal(store_batch_commit(s, &err), 0);
    int r = store_checkpoint(s);
    if (r == STORE_CKPT_ASKED)
        wait_checkpoints(s, ++*thread_done);
    return r;
}

#define FRAME_BYTES (4096 + 24)

/* Pauses between commits (the thread copies everything before the next):
 * the WAL restarts by itself and the loop never has to complete anything. */
static void test_checkpoint_in_its_own_thread(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_set_checkpoint_frames(s, 100, 100000);
    uint64_t thread_done = 0;
    int commits = 0, asked = 0, completed = 0;
    long longest = 0;
    while (commits < 2000) {
        int r = commit_one(fx, s, &thread_done);
        commits++;
        asked += r == STORE_CKPT_ASKED;
        completed += r == STORE_CKPT_COMPLETED;
        if (wal_size(fx) > longest)
            longest = wal_size(fx);
    }
    assert_true(asked >= 3);    /* every 100 frames not yet copied */
    assert_int_equal(completed, 0);
    assert_true(longest < 300L * FRAME_BYTES); /* restarted each time, never grew on */
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), commits);
}

/* Under a load that never pauses (here a reader holds an old snapshot, so the
 * thread cannot copy everything): the WAL grows until it is the restart
 * length, then the loop completes the thread's checkpoint at a pass boundary,
 * copying what was written after it, and the next commit restarts the WAL. */
static void test_checkpoint_completed_by_the_loop(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    enum { ASK = 100, RESTART = 400 };
    store_set_checkpoint_frames(s, ASK, RESTART);
    uint64_t thread_done = 0;
    int commits = 0, asked = 0;
    commit_one(fx, s, &thread_done);
    commits++;
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open_v2(fx->db, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM requests;", NULL, NULL, NULL), SQLITE_OK);
    while (wal_size(fx) < (long)RESTART * FRAME_BYTES && commits < 5000) {
        int r = commit_one(fx, s, &thread_done);
        commits++;
        asked += r == STORE_CKPT_ASKED;
    }
    assert_true(wal_size(fx) >= (long)RESTART * FRAME_BYTES); /* no restart behind a reader */
    assert_true(asked >= 2);
    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    /* frames the thread has not seen, then the loop's turn (at most an ask first) */
    for (int i = 0; i < 3; i++) {
        int64_t ticket = 0;
        bool dup = false;
        store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋", .contact = "c",
                             .text = "堵了"};
        assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
        assert_int_equal(store_batch_commit(s, &err), 0);
        commits++;
    }
    int r = 0;
    for (int i = 0; i < 3 && r != STORE_CKPT_COMPLETED; i++) {
        r = store_checkpoint(s);
        if (r == STORE_CKPT_ASKED)
            wait_checkpoints(s, ++thread_done);
    }
    assert_int_equal(r, STORE_CKPT_COMPLETED);
    assert_int_equal(store_checkpoint(s), 0); /* nothing due right after */
    /* Everything is copied: the writer restarts the WAL, which stops growing
     * and is never longer than its limit. */
    long before = wal_size(fx);
    for (int i = 0; i < 50; i++) {
        commit_one(fx, s, &thread_done);
        commits++;
    }
    assert_true(wal_size(fx) <= before);
    assert_true(before <= STORE_WAL_LIMIT_BYTES);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), commits);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM timeline"), commits);
}

/* The clock steps back between two submits, also across a restart: the
 * later ticket keeps the earlier time, so newest-first by ticket is newest
 * first by created_at (schema/009_ticket_order.sql), and a list by status
 * (its index in created_at order) and one without (ticket order) agree. */
static void test_created_never_goes_back(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "1栋", .contact = "c",
                         .text = "堵了"};
    const int64_t t0 = INT64_C(1796000000000);
    int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    bool dup = false;
    assert_int_equal(store_submit(s, &in, t0, &t1, &dup, &err), 0);
    assert_int_equal(store_submit(s, &in, t0 - 60000, &t2, &dup, &err), 0); /* a minute back */
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    assert_int_equal(store_submit(s, &in, t0 - 3600000, &t3, &dup, &err), 0); /* after a restart */
    assert_int_equal(store_submit(s, &in, t0 + 5, &t4, &dup, &err), 0);       /* forward again */
    assert_int_equal(store_batch_commit(s, &err), 0);
    char q[160];
    snprintf(q, sizeof q, "SELECT created_at - %lld FROM requests WHERE id = %lld", (long long)t0,
             (long long)t3);
    assert_int_equal(tu_sql_int(fx->db, q), 0);
    snprintf(q, sizeof q, "SELECT created_at - %lld FROM requests WHERE id = %lld", (long long)t0,
             (long long)t4);
    assert_int_equal(tu_sql_int(fx->db, q), 5);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests a JOIN requests b ON b.id = a.id + 1"
                                        " WHERE b.created_at < a.created_at"),
                     0);
    /* Both list orders: tickets 4, 3, 2, 1. */
    const char *status[] = {NULL, "open"};
    for (int k = 0; k < 2; k++) {
        store_filter_t f = {.status = status[k], .limit = 10};
        cJSON *out = NULL;
        assert_int_equal(store_list(s, &f, &out, &err), 0);
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, "requests");
        assert_int_equal(cJSON_GetArraySize(arr), 4);
        for (int i = 0; i < 4; i++) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "ticket");
            assert_int_equal((int64_t)cJSON_GetNumberValue(t), (int64_t)(4 - i));
        }
        cJSON_Delete(out);
    }
    store_destroy(&s);
    (void)t1;
    (void)t2;
}

/* The ids of a list's page, in order, as a string "4,3,1". */
static void page_ids(store_t *s, const store_filter_t *f, char *buf, size_t cap, long *total)
{
    bm_error_t err = {0};
    cJSON *out = NULL;
    assert_int_equal(store_list(s, f, &out, &err), 0);
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, "requests");
    buf[0] = '\0';
    for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "ticket");
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", (long long)cJSON_GetNumberValue(t));
    }
    *total = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "total"));
    cJSON_Delete(out);
}

/* A store holding n committed requests received step ms apart from t0,
 * tickets 1..n; with alternate, the even tickets are "leak", the odd "pipe". */
static store_t *store_with_requests(fx_t *fx, int n, int64_t t0, int64_t step, bool alternate)
{
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "1栋", .contact = "c",
                         .text = "堵了"};
    for (int i = 0; i < n; i++) {
        int64_t t = 0;
        bool dup = false;
        in.category = alternate && i % 2 ? "leak" : "pipe";
        assert_int_equal(store_submit(s, &in, t0 + i * step, &t, &dup, &err), 0);
    }
    assert_int_equal(store_batch_commit(s, &err), 0);
    return s;
}

/* Open requests are only in requests_open_category, the others only in
 * requests_status_created (schema/010_open_once.sql): a time range and a
 * status still find each request once, from the right index, and never by
 * reading the whole table. */
static void test_open_and_moved_in_one_range(void **state)
{
    fx_t *fx = *state;
    const int64_t t0 = INT64_C(1796000000000), hour = 3600000;
    store_t *s = store_with_requests(fx, 6, t0, hour, true);
    /* 2 claimed, 3 done, 5 cancelled; 1, 4 and 6 stay open. */
    assert_int_equal(tu_sql_exec(fx->db, "UPDATE requests SET status = 'claimed' WHERE id = 2;"
                                         "UPDATE requests SET status = 'done' WHERE id = 3;"
                                         "UPDATE requests SET status = 'cancelled' WHERE id = 5"),
                     0);
    char ids[64];
    long total = 0;
    /* Hours 1..4 (tickets 2..5): open and moved alike, newest first. */
    store_filter_t f = {.since = t0 + hour, .until = t0 + 5 * hour, .limit = 10};
    page_ids(s, &f, ids, sizeof ids, &total);
    assert_string_equal(ids, "5,4,3,2");
    assert_int_equal(total, 4);
    f.until = 0; /* from hour 1 on */
    page_ids(s, &f, ids, sizeof ids, &total);
    assert_string_equal(ids, "6,5,4,3,2");
    f = (store_filter_t){.until = t0 + 4 * hour, .limit = 10}; /* before hour 4 */
    page_ids(s, &f, ids, sizeof ids, &total);
    assert_string_equal(ids, "4,3,2,1");
    f = (store_filter_t){.status = "open", .limit = 10};
    page_ids(s, &f, ids, sizeof ids, &total);
    assert_string_equal(ids, "6,4,1");
    assert_int_equal(total, 3);
    f.since = t0 + 2 * hour;
    page_ids(s, &f, ids, sizeof ids, &total);
    assert_string_equal(ids, "6,4");
    f = (store_filter_t){.status = "done", .limit = 10};
    page_ids(s, &f, ids, sizeof ids, &total);
    assert_string_equal(ids, "3");
    f = (store_filter_t){.status = "cancelled", .category = "pipe", .since = t0, .limit = 10};
    page_ids(s, &f, ids, sizeof ids, &total);
    assert_string_equal(ids, "5");
    store_destroy(&s);

    /* The plans: each part of a time range seeks or scans an index. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "EXPLAIN QUERY PLAN " BM_SQL_IDS_CREATED(
                                            "created_at >= ?1 AND created_at < ?2"),
                                        -1, &q, NULL),
                     SQLITE_OK);
    int steps = 0, status_created = 0, open_category = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(q, 3);
        if (strncmp(d, "SCAN", 4) != 0 && strncmp(d, "SEARCH", 6) != 0)
            continue;
        steps++;
        assert_non_null(strstr(d, "INDEX")); /* never the table itself */
        status_created += strstr(d, "requests_status_created") != NULL;
        open_category += strstr(d, "requests_open_category") != NULL;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_int_equal(steps, 2);
    assert_int_equal(status_created, 1);
    assert_int_equal(open_category, 1);
}

/* A list over a time range, page by page, is what the plain query gives:
 * the requests in the range by created_at then ticket, newest first, with
 * every status mixed — also where an older database holds times that went
 * back across tickets (a clock step before schema 009). */
static void test_range_pages_follow_time(void **state)
{
    fx_t *fx = *state;
    const int64_t t0 = INT64_C(1796000000000), minute = 60000;
    store_t *s = store_with_requests(fx, 40, t0, minute, false);
    assert_int_equal(tu_sql_exec(fx->db, "UPDATE requests SET status = CASE id % 4 WHEN 1 THEN 'claimed'"
                                         " WHEN 2 THEN 'done' WHEN 3 THEN 'cancelled' ELSE 'open' END;"
                                         "UPDATE requests SET created_at = created_at - 600000"
                                         " WHERE id BETWEEN 21 AND 30"),
                     0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id FROM requests WHERE created_at >= ?1 AND created_at < ?2"
                                        " ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4",
                                        -1, &q, NULL),
                     SQLITE_OK);
    const int64_t since = t0 + 5 * minute, until = t0 + 35 * minute;
    for (int offset = 0; offset < 34; offset++) {
        store_filter_t f = {.since = since, .until = until, .limit = 4, .offset = offset};
        char got[64], want[64] = "";
        long total = 0;
        page_ids(s, &f, got, sizeof got, &total);
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, since);
        sqlite3_bind_int64(q, 2, until);
        sqlite3_bind_int(q, 3, 4);
        sqlite3_bind_int(q, 4, offset);
        for (int i = 0; sqlite3_step(q) == SQLITE_ROW; i++) {
            size_t len = strlen(want);
            snprintf(want + len, sizeof want - len, "%s%lld", i ? "," : "", (long long)sqlite3_column_int64(q, 0));
        }
        if (strcmp(got, want) != 0)
            fail_msg("offset %d: got %s, want %s", offset, got, want);
        assert_int_equal(total, 30); /* 6..35 by time: 36..40 later, 21..30 moved back inside */
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    store_destroy(&s);
}

/* A repeated ref, in the same pass or a later one, with or without a
 * callback: the first ticket, marked duplicate, and nothing written again
 * (no request, no event, no callback endpoint). */
static void test_repeated_ref_writes_nothing(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    bm_strlcpy(fx->cfg.callback_secret, "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=", sizeof fx->cfg.callback_secret);
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_submit_t a = {.channel = "forum", .category = "pipe", .building = "1栋", .contact = "c",
                        .text = "堵了", .ref = "same"};
    store_submit_t b = a;
    b.callback = "http://127.0.0.1:9/hook";
    b.ref = "cb";
    int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    bool dup = true;
    assert_int_equal(store_submit(s, &a, bm_now_ms(), &t1, &dup, &err), 0);
    assert_false(dup);
    assert_int_equal(store_submit(s, &a, bm_now_ms(), &t2, &dup, &err), 0); /* same pass */
    assert_true(dup);
    assert_int_equal(t2, t1);
    assert_int_equal(store_submit(s, &b, bm_now_ms(), &t3, &dup, &err), 0);
    assert_false(dup);
    assert_int_equal(store_batch_commit(s, &err), 0);
    assert_int_equal(store_submit(s, &a, bm_now_ms(), &t4, &dup, &err), 0); /* a later pass */
    assert_true(dup);
    assert_int_equal(t4, t1);
    b.callback = "http://127.0.0.1:9/other";
    assert_int_equal(store_submit(s, &b, bm_now_ms(), &t4, &dup, &err), 0);
    assert_true(dup);
    assert_int_equal(t4, t3);
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), 2);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM timeline"), 2);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM deliveries"), 1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM endpoints WHERE kind = 'callback'"), 1);
}

/* No cached statement is left on a row after a pass (one would pin a read
 * snapshot and no checkpoint could copy the WAL past it): a second callback
 * submit to a known URL finds its endpoint, and the WAL still checkpoints
 * completely afterwards. */
static void test_no_statement_left_stepping(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    bm_strlcpy(fx->cfg.callback_secret, "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=", sizeof fx->cfg.callback_secret);
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "1栋", .contact = "c",
                         .text = "堵了", .callback = "http://127.0.0.1:9/hook"};
    int64_t t = 0;
    bool dup = false;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_submit(s, &in, bm_now_ms(), &t, &dup, &err), 0);
        assert_int_equal(store_batch_commit(s, &err), 0);
    }
    for (sqlite3_stmt *q = sqlite3_next_stmt(store_sqlite(s), NULL); q; q = sqlite3_next_stmt(store_sqlite(s), q))
        if (sqlite3_stmt_busy(q))
            fail_msg("left stepping after the commit: %s", sqlite3_sql(q));
    assert_int_equal(store_read_begin(s), 0);
    cJSON *got = NULL;
    assert_int_equal(store_get(s, t, &got, &err), 0);
    cJSON_Delete(got);
    store_read_end(s);
    for (sqlite3_stmt *q = sqlite3_next_stmt(store_sqlite(s), NULL); q; q = sqlite3_next_stmt(store_sqlite(s), q))
        if (sqlite3_stmt_busy(q))
            fail_msg("left stepping: %s", sqlite3_sql(q));
    sqlite3 *other = NULL;
    sqlite3_stmt *ck = NULL;
    assert_int_equal(sqlite3_open(fx->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(other, "PRAGMA wal_checkpoint(PASSIVE)", -1, &ck, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(ck), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(ck, 0), 0);                             /* not busy */
    assert_int_equal(sqlite3_column_int(ck, 1), sqlite3_column_int(ck, 2));     /* all copied */
    sqlite3_finalize(ck);
    sqlite3_close(other);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM endpoints WHERE kind = 'callback'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_database_is_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_append_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_category_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_check_without_in_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_failing_half_way_loses_the_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_in_its_own_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_completed_by_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_ref_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_created_never_goes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_and_moved_in_one_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_pages_follow_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_statement_left_stepping, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
