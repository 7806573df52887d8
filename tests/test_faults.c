/* test_faults.c - acknowledgements stay true under storage faults: a disk
 * that fills in the middle of a pass (a VFS that refuses writes with
 * SQLITE_FULL), space that comes and goes under a stream of submits, the
 * database file removed under a running broker, and a restart that would
 * silently hand out ticket numbers again. */
#include "faultvfs.h"
#include "proto.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#include <sqlite3.h>
#include <zmq.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG_TEXT 3900 /* bytes of request text: a pass of them overflows SQLite's page cache */

typedef struct {
    char dir[512];
    char db[600];
    bm_config_t cfg;
} fx_t;

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!fx || !tu_tmpdir(fx->dir, sizeof fx->dir) || tu_faultvfs_install() != 0)
        return -1;
    snprintf(fx->db, sizeof fx->db, "%s/bianmin.db", fx->dir);
    bm_config_defaults(&fx->cfg);
    tu_faultvfs_full(false);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    tu_faultvfs_full(false);
    tu_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* "<tag>-<i>:" followed by filler up to BIG_TEXT bytes, so each text is its own. */
static void make_text(char *buf, size_t len, const char *tag, int i)
{
    int n = snprintf(buf, len, "%s-%d:", tag, i);
    size_t k = n > 0 ? (size_t)n : 0;
    for (; k + 1 < len && k < BIG_TEXT; k++)
        buf[k] = (char)('a' + (int)(k % 26));
    buf[k] = '\0';
}

/* The disk fills while a batch spills pages to the WAL: SQLite rolls the
 * whole transaction back. Nothing more may run in that batch (no savepoint
 * may open a transaction of its own), its commit fails, and nothing of it is
 * in the database afterwards. */
static void test_full_mid_batch_nothing_runs_after(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    static char text[BIG_TEXT + 64];
    char ref[32];
    int64_t ticket = 0;
    bool dup = false;
    tu_faultvfs_fail_after(0, 1); /* the first page written before the commit fails, once */
    int failed_at = -1;
    for (int i = 0; i < 3000 && failed_at < 0; i++) {
        make_text(text, sizeof text, "lost", i);
        snprintf(ref, sizeof ref, "lost-%d", i);
        store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋",
                             .contact = "c", .text = text, .ref = ref};
        if (store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err) != 0)
            failed_at = i;
    }
    assert_true(failed_at > 0); /* the cache spilled in the middle of the batch */
    assert_string_equal(err.code, "storage_error");
    assert_true(store_batch_failed(s));
    /* Space is back, but the batch is gone: nothing more runs in it. */
    for (int i = 0; i < 5; i++) {
        snprintf(ref, sizeof ref, "late-%d", i);
        store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋",
                             .contact = "c", .text = "late", .ref = ref};
        memset(&err, 0, sizeof err);
        assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), -1);
        assert_string_equal(err.code, "storage_error");
    }
    assert_int_equal(store_batch_commit(s, &err), -1);
    assert_false(store_in_batch(s));
    /* The next batch works again. */
    int64_t first_new = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(ref, sizeof ref, "after-%d", i);
        store_submit_t in = {.channel = "forum", .category = "pipe", .building = "3栋",
                             .contact = "c", .text = "after", .ref = ref};
        assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
        assert_false(dup);
        if (!first_new)
            first_new = ticket;
    }
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), 3);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests WHERE ref LIKE 'after-%'"), 3);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM timeline"), 3);
}

/* A failed statement that leaves the transaction open undoes only itself. */
static void test_commit_failure_then_recovery(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    int64_t ticket = 0;
    bool dup = false;
    store_submit_t in = {.channel = "forum", .category = "pipe", .building = "b", .contact = "c",
                         .text = "t", .ref = "one"};
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
    tu_faultvfs_full(true); /* the commit's WAL write fails */
    assert_int_equal(store_batch_commit(s, &err), -1);
    tu_faultvfs_full(false);
    assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
    assert_false(dup); /* nothing of the failed commit is there */
    assert_int_equal(store_batch_commit(s, &err), 0);
    store_destroy(&s);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM requests"), 1);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM pragma_integrity_check"
                                        " WHERE integrity_check <> 'ok'"),
                     0);
}

/* ---- through the broker ------------------------------------------------- */

static unsigned seq;

static void send_submit(void *sock, const char *ref, const char *text)
{
    char cid[32];
    snprintf(cid, sizeof cid, "%s", ref);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "channel", "forum");
    cJSON_AddStringToObject(body, "category", "pipe");
    cJSON_AddStringToObject(body, "building", "市政小区 3栋");
    cJSON_AddStringToObject(body, "contact", "罗女士");
    cJSON_AddStringToObject(body, "text", text);
    cJSON_AddStringToObject(body, "ref", ref);
    char *json = cJSON_PrintUnformatted(body);
    const char *frames[4] = {BM_PROTO_VERSION, "submit", cid, json};
    size_t lens[4] = {3, 6, strlen(cid), strlen(json)};
    for (int i = 0; i < 4; i++)
        assert_true(zmq_send(sock, frames[i], lens[i], ZMQ_DONTWAIT | (i < 3 ? ZMQ_SNDMORE : 0)) >= 0);
    free(json);
    cJSON_Delete(body);
}

typedef struct {
    char ref[32];
    int outcome;   /* 0 none yet, 1 ok, 2 storage_error */
    int64_t ticket;
} sent_t;

/* Collects replies for sent[0..n) (cid = ref) for up to 20 s. */
static void collect(void *sock, sent_t *sent, int n)
{
    int missing = n;
    int64_t deadline = bm_mono_ms() + 20000;
    while (missing > 0 && bm_mono_ms() < deadline) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        bm_msg_t msg;
        bm_error_t err = {0};
        if (bm_recv(sock, false, true, NULL, &msg, &err) != BM_RECV_OK) {
            bm_msg_clear(&msg);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (sent[i].outcome || strcmp(sent[i].ref, msg.cid) != 0)
                continue;
            if (strcmp(msg.cmd, "ok") == 0) {
                sent[i].outcome = 1;
                sent[i].ticket = (int64_t)tu_num(msg.body, "ticket");
            } else {
                assert_string_equal(tu_str(msg.body, "code"), "storage_error");
                sent[i].outcome = 2;
            }
            missing--;
            break;
        }
        bm_msg_clear(&msg);
    }
    assert_int_equal(missing, 0);
}

static void edit_big_batches(bm_config_t *cfg)
{
    cfg->batch_max = 4096;
}

/* Space comes and goes under bursts of submits. Each burst is queued while
 * the broker is down, so that its first pass reads hundreds at once and
 * spills pages to the WAL before its commit: the disk fills in the middle of
 * a pass, at its commit, or not at all. After a restart every ok'd ticket is
 * there with its own ref and text, no storage_error'd one is, and no ticket
 * number was given to two requests. */
static void test_space_comes_and_goes(void **state)
{
    fx_t *fx = *state;
    enum { ROUNDS = 8, BURST = 500 };
    sent_t *sent = calloc(ROUNDS * BURST, sizeof *sent);
    static char text[BIG_TEXT + 64];
    char ep[700];
    snprintf(ep, sizeof ep, "ipc://%s/client.sock", fx->dir);
    tu_broker_t *b = tu_broker_start(fx->dir, NULL); /* the database exists before the faults */
    assert_non_null(b);
    tu_broker_stop(&b);
    void *c = tu_dealer(ep); /* connects before the broker binds: sends queue up */
    int total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BURST; i++) {
            sent_t *x = &sent[total + i];
            snprintf(x->ref, sizeof x->ref, "r%u-%d-%d", ++seq, r, i);
            make_text(text, sizeof text, x->ref, 0);
            send_submit(c, x->ref, text);
        }
        /* Space gone for one write, for a few, until the round ends, or not at all. */
        static const int fails[] = {1, 3, -1, 0};
        if (fails[r % 4] == 0)
            tu_faultvfs_full(false);
        else
            tu_faultvfs_fail_after(5 + r * 97 % 700, fails[r % 4]);
        b = tu_broker_start(fx->dir, edit_big_batches);
        assert_non_null(b);
        collect(c, &sent[total], BURST);
        tu_faultvfs_full(false);
        tu_broker_stop(&b);
        total += BURST;
    }
    tu_close(c);
    int oks = 0, errors = 0;
    for (int i = 0; i < total; i++) {
        char q[256];
        snprintf(q, sizeof q, "SELECT count(*) FROM requests WHERE ref = '%s'", sent[i].ref);
        long long present = tu_sql_int(fx->db, q);
        if (sent[i].outcome == 1) {
            oks++;
            assert_int_equal(present, 1);
            snprintf(q, sizeof q,
                     "SELECT count(*) FROM requests WHERE id = %lld AND ref = '%s' AND text LIKE '%s-0:%%'",
                     (long long)sent[i].ticket, sent[i].ref, sent[i].ref);
            assert_int_equal(tu_sql_int(fx->db, q), 1);
            for (int k = 0; k < i; k++)
                assert_false(sent[k].outcome == 1 && sent[k].ticket == sent[i].ticket);
        } else {
            errors++;
            assert_int_equal(present, 0);
        }
    }
    /* Both outcomes happened, so the test saw the faults. */
    assert_true(oks > 0);
    assert_true(errors > 0);
    assert_true(tu_faultvfs_refused() > 0);
    assert_int_equal(tu_sql_int(fx->db, "SELECT count(*) FROM pragma_integrity_check"
                                        " WHERE integrity_check <> 'ok'"),
                     0);
    free(sent);
}


/* The database file removed under a running broker: no more ok. */
static void test_database_removed_mid_run(void **state)
{
    fx_t *fx = *state;
    tu_broker_t *b = tu_broker_start(fx->dir, NULL);
    assert_non_null(b);
    void *c = tu_dealer(tu_client_ep(b));
    char cmd[16];
    const char *body = "{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"b\","
                       "\"contact\":\"c\",\"text\":\"t\"}";
    cJSON *r = tu_call(c, "submit", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    cJSON_Delete(r);
    /* The whole folder goes, as an operator's rm -rf would do it. */
    tu_rmtree(fx->dir);
    for (int i = 0; i < 3; i++) {
        r = tu_call(c, "submit", body, cmd, sizeof cmd);
        assert_non_null(r);
        assert_string_equal(cmd, "error");
        assert_string_equal(tu_str(r, "code"), "storage_error");
        cJSON_Delete(r);
    }
    /* Replaced by another file: still no ok. */
    assert_int_equal(mkdir(fx->dir, 0700), 0);
    FILE *f = fopen(fx->db, "w");
    assert_non_null(f);
    fclose(f);
    r = tu_call(c, "submit", body, cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(tu_str(r, "code"), "storage_error");
    cJSON_Delete(r);
    tu_close(c);
    tu_broker_stop(&b);
}

/* The WAL's writes reach the file below gathered (lib/store_vfs.c): a commit
 * of 200 requests is a few writes, not SQLite's two per frame, and what it
 * committed is there after the store is closed. With BIANMIN_NO_WAL_BUFFER
 * the same commit is written as SQLite makes it, two writes a frame. */
static void test_wal_writes_gathered(void **state)
{
    fx_t *fx = *state;
    static char text[BIG_TEXT + 64];
    for (int gathered = 1; gathered >= 0; gathered--) {
        char db[700], wal[720];
        snprintf(db, sizeof db, "%s/g%d.db", fx->dir, gathered);
        snprintf(wal, sizeof wal, "%s-wal", db);
        if (!gathered)
            setenv("BIANMIN_NO_WAL_BUFFER", "1", 1);
        bm_error_t err = {0};
        store_t *s = store_open(db, &fx->cfg, &err);
        assert_non_null(s);
        struct stat before_st;
        assert_int_equal(stat(wal, &before_st), 0);
        long before = tu_faultvfs_wal_writes();
        for (int i = 0; i < 200; i++) {
            char ref[32];
            snprintf(ref, sizeof ref, "g%d-%d", gathered, i);
            make_text(text, 600, ref, i);
            store_submit_t in = {.channel = "forum", .category = "pipe", .building = "1栋",
                                 .contact = "c", .text = text, .ref = ref};
            int64_t ticket = 0;
            bool dup = false;
            assert_int_equal(store_submit(s, &in, bm_now_ms(), &ticket, &dup, &err), 0);
        }
        assert_int_equal(store_batch_commit(s, &err), 0);
        long writes = tu_faultvfs_wal_writes() - before;
        struct stat after_st;
        assert_int_equal(stat(wal, &after_st), 0);
        long frames = (long)(after_st.st_size - before_st.st_size) / (4096 + 24);
        store_destroy(&s);
        unsetenv("BIANMIN_NO_WAL_BUFFER");
        print_message("gathered %d: %ld frames, %ld writes\n", gathered, frames, writes);
        assert_true(frames > 20);
        if (gathered)
            assert_true(writes <= frames / 31 + 2);
        else
            assert_true(writes >= 2 * frames);
        char q[64];
        snprintf(q, sizeof q, "SELECT count(*) FROM requests");
        assert_int_equal(tu_sql_int(db, q), 200);
    }
}

/* Copies file src to dst (a crash image: the files as they are now). */
static void copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static int exec_rc(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* A transaction that spilled pages to the WAL (its page cache was full)
 * meets a full disk when a page it spilled is read back: SQLite undoes that
 * statement only, goes on, and commits. The commit must carry every page the
 * transaction wrote — what the gathering VFS (lib/store_vfs.c) could not
 * write stays gathered until it can — or fail; never publish frames that are
 * not in the file. Checked on the live database and on a crash image. */
static void test_spilled_pages_survive_a_failed_read_back(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    store_t *s = store_open(fx->db, &fx->cfg, &err); /* registers the VFS over the fault VFS */
    assert_non_null(s);
    store_destroy(&s);
    char db_path[700], crash[720], crash_wal[740], wal[720];
    snprintf(db_path, sizeof db_path, "%s/spill.db", fx->dir);
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    snprintf(crash, sizeof crash, "%s/crash.db", fx->dir);
    snprintf(crash_wal, sizeof crash_wal, "%s-wal", crash);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "bianmin-wal"),
                     SQLITE_OK);
    assert_int_equal(exec_rc(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                 " PRAGMA cache_size = 10; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = ON;"
                                 " CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, p INTEGER REFERENCES t(id));"
                                 " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
                                 " INSERT INTO t(v) SELECT printf('%.3000c', 'a') FROM n;"),
                     SQLITE_OK);
    assert_int_equal(exec_rc(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                                 " WHERE i < 200) INSERT INTO t(v) SELECT printf('%.3000c', 'b') FROM n;"),
                     SQLITE_OK);
    /* The next write fails once: the one that makes the read below possible
     * (a row of this transaction, spilled; the foreign key gives the UPDATE
     * a statement journal, so SQLite undoes the statement, not the
     * transaction, as the store's savepointed operations do). */
    tu_faultvfs_fail_after(0, 1);
    long refused = tu_faultvfs_refused();
    assert_int_equal(exec_rc(db, "SAVEPOINT op"), SQLITE_OK);
    int upd = exec_rc(db, "UPDATE t SET v = 'changed', p = 1 WHERE id = 250");
    if (upd != SQLITE_OK && !sqlite3_get_autocommit(db))
        assert_int_equal(exec_rc(db, "ROLLBACK TO op"), SQLITE_OK);
    if (!sqlite3_get_autocommit(db))
        assert_int_equal(exec_rc(db, "RELEASE op"), SQLITE_OK);
    assert_true(tu_faultvfs_refused() > refused); /* the fault was met */
    int commit = sqlite3_get_autocommit(db) ? SQLITE_ERROR : exec_rc(db, "COMMIT");
    /* The case this is about: the read back failed, SQLite undid the
     * statement and went on, and the commit (space back) wrote everything. */
    assert_int_equal(upd, SQLITE_FULL);
    assert_int_equal(commit, SQLITE_OK);
    long long want = commit == SQLITE_OK ? 400 : 200;
    copy_file(db_path, crash);
    copy_file(wal, crash_wal);
    const char *const paths[2] = {db_path, crash};
    for (int k = 0; k < 2; k++) {
        char q[64];
        assert_int_equal(tu_sql_int(paths[k], "SELECT count(*) FROM t"), want);
        snprintf(q, sizeof q, "SELECT count(*) FROM t WHERE v LIKE 'b%%'");
        assert_int_equal(tu_sql_int(paths[k], q), want - 200);
        assert_int_equal(tu_sql_int(paths[k], "SELECT count(*) FROM pragma_integrity_check"
                                              " WHERE integrity_check <> 'ok'"),
                         0);
    }
    sqlite3_close(db);
}

/* Restart on an empty database beside traces of an old one is refused,
 * unless allowed. */
static void test_new_database_refused_beside_old_traces(void **state)
{
    fx_t *fx = *state;
    bm_error_t err = {0};
    /* A fresh start with nothing around: fine. */
    store_t *s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_destroy(&s);
    /* The database is gone but its photo archive is there. */
    char archive[700], path[800];
    snprintf(archive, sizeof archive, "%s/archive", fx->dir);
    bm_strlcpy(fx->cfg.archive_dir, archive, sizeof fx->cfg.archive_dir);
    assert_int_equal(mkdir(archive, 0700), 0);
    snprintf(path, sizeof path, "%s/ab", archive);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(unlink(fx->db), 0);
    s = store_open(fx->db, &fx->cfg, &err);
    assert_null(s);
    assert_string_equal(err.code, "storage_error");
    assert_non_null(strstr(err.message, "--allow-new-database"));
    assert_non_null(strstr(err.message, "archive"));
    struct stat st;
    assert_int_not_equal(stat(fx->db, &st), 0); /* nothing was created */
    /* An empty database file beside an old WAL: refused too. */
    assert_int_equal(rmdir(path), 0);
    FILE *f = fopen(fx->db, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s-wal", fx->db);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("old wal", f);
    fclose(f);
    s = store_open(fx->db, &fx->cfg, &err);
    assert_null(s);
    assert_non_null(strstr(err.message, "-wal"));
    /* Told to: it starts. */
    unlink(path);
    fx->cfg.allow_new_database = true;
    snprintf(path, sizeof path, "%s/ab", archive);
    assert_int_equal(mkdir(path, 0700), 0);
    s = store_open(fx->db, &fx->cfg, &err);
    assert_non_null(s);
    store_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_mid_batch_nothing_runs_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_space_comes_and_goes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_removed_mid_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_database_refused_beside_old_traces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_writes_gathered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spilled_pages_survive_a_failed_read_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
