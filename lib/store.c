/* store.c - see store.h. SQL lives here and nowhere else. */
#include "store.h"
#include "archive.h"
#include "jsonx.h"
#include "lifecycle.h"
#include "log.h"
#include "migrations.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* WAL frames after which the broker checkpoints, after a commit (never inside it). */
#define CHECKPOINT_FRAMES 1000
/* How often a broker whose database file is gone says so again in the log. */
#define FILE_LOST_LOG_MS 60000

typedef enum {
    Q_REF_LOOKUP,
    Q_ENDPOINT_FIND,
    Q_ENDPOINT_ADD,
    Q_REQ_INSERT,
    Q_EVENT_INSERT,
    Q_REQ_NOTICE_INFO,
    Q_DELIVERY_INSERT,
    Q_ACT_ROW,
    Q_ACT_UPDATE,
    Q_HELD,
    Q_EXCLUDED,
    Q_LEASE_DUE,
    Q_OFFER_OVERDUE,
    Q_DEADLINE_OVERDUE,
    Q_SET_OVERDUE,
    Q_SUB_DISABLE_ALL,
    Q_SUB_UPSERT,
    Q_SUB_LIST,
    Q_ATTACH_INSERT,
    Q_SP_BEGIN,
    Q_SP_ROLLBACK,
    Q_SP_RELEASE,
    Q_READ_BEGIN,
    Q_READ_END,
    Q_RATE,
    Q_ATTACH_OF,
    Q_VOL_UPSERT,
    Q_VOL_SEEN,
    Q_OPEN_QUEUE,
    Q_CLAIMED_SINCE,
    Q_REQ_ROW,
    Q_EVENTS_OF,
    Q_DELIVERIES_OF,
    Q_VOL_JOBS,
    Q_TAKE,
    Q_LEASE,
    Q_DELIVERY_STATE,
    Q_ATTEMPT_INSERT,
    Q_DELIVERED,
    Q_RETRY,
    Q_DEAD,
    Q_ENDPOINT_DISABLE,
    Q_NEXT_DUE,
    Q_COUNT
} query_id_t;

static const char *const sql_text[Q_COUNT] = {
    [Q_REF_LOOKUP] = "SELECT id FROM requests WHERE channel = ?1 AND ref = ?2",
    [Q_ENDPOINT_FIND] = "SELECT id FROM endpoints WHERE url = ?1 AND name = ?2 AND kind = 'callback'",
    [Q_ENDPOINT_ADD] =
        "INSERT INTO endpoints(url, name, secret, kind, created_at) VALUES (?1, ?2, ?3, 'callback', ?4)",
    [Q_REQ_INSERT] =
        "INSERT INTO requests(channel, ref, category, priority, building, unit, contact, text,"
        " endpoint_id, status, offer_due_at, deadline_at, created_at, updated_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,'open',?11,?12,?10,?10)",
    [Q_EVENT_INSERT] =
        "INSERT INTO events(request_id, at, actor, kind, from_status, to_status, detail)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7)",
    [Q_REQ_NOTICE_INFO] =
        "SELECT r.category, r.building, r.status, r.endpoint_id, v.name, r.department FROM requests r"
        " LEFT JOIN volunteers v ON v.id = r.volunteer_id WHERE r.id = ?1",
    [Q_DELIVERY_INSERT] =
        "INSERT INTO deliveries(msg_id, endpoint_id, request_id, event_id, type, body, next_at, created_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?7)",
    [Q_ACT_ROW] =
        "SELECT status, volunteer_id, channel, category, lease_until, claimed_at, done_at,"
        " offer_due_at, deadline_at, attempts, overdue, department FROM requests WHERE id = ?1",
    [Q_ACT_UPDATE] =
        "UPDATE requests SET status = ?2, volunteer_id = ?3, lease_until = ?4, claimed_at = ?5,"
        " done_at = ?6, offer_due_at = ?7, deadline_at = ?8, attempts = ?9, overdue = ?10,"
        " department = ?11, updated_at = ?12 WHERE id = ?1 AND status = ?13",
    [Q_HELD] = "SELECT count(*) FROM requests WHERE volunteer_id = ?1 AND status = 'claimed'",
    [Q_EXCLUDED] =
        "SELECT 1 FROM events WHERE request_id = ?1 AND actor = ?2 AND kind IN ('declined', 'failed')"
        " LIMIT 1",
    [Q_LEASE_DUE] =
        "SELECT id, volunteer_id FROM requests WHERE status = 'claimed' AND lease_until <= ?1"
        " ORDER BY lease_until LIMIT ?2",
    [Q_OFFER_OVERDUE] =
        "SELECT id FROM requests INDEXED BY requests_offer_due"
        " WHERE status = 'open' AND (overdue & 1) = 0 AND offer_due_at <= ?1"
        " ORDER BY offer_due_at LIMIT 100",
    [Q_DEADLINE_OVERDUE] =
        "SELECT id FROM requests INDEXED BY requests_deadline"
        " WHERE status IN ('open', 'claimed') AND (overdue & 2) = 0"
        " AND deadline_at <= ?1 ORDER BY deadline_at LIMIT 100",
    [Q_SET_OVERDUE] = "UPDATE requests SET overdue = overdue | ?2, updated_at = ?3 WHERE id = ?1",
    [Q_SUB_DISABLE_ALL] = "UPDATE endpoints SET enabled = 0 WHERE kind = 'subscription'",
    [Q_SUB_UPSERT] =
        "INSERT INTO endpoints(url, secret, kind, name, events, department, enabled, created_at)"
        " VALUES (?1, ?2, 'subscription', ?3, ?4, ?5, 1, ?6)"
        " ON CONFLICT(name) WHERE kind = 'subscription' DO UPDATE SET url = excluded.url,"
        " old_secret = CASE WHEN secret != excluded.secret THEN secret ELSE old_secret END,"
        " old_until = CASE WHEN secret != excluded.secret THEN ?7 ELSE old_until END,"
        " secret = excluded.secret, events = excluded.events, department = excluded.department,"
        " enabled = 1",
    [Q_ATTACH_INSERT] =
        "INSERT INTO attachments(request_id, event_id, sha256, mime, size, kind, name, created_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
    [Q_RATE] = "UPDATE requests SET rating = ?2, rated_at = ?3 WHERE id = ?1",
    [Q_SP_BEGIN] = "SAVEPOINT op",
    [Q_SP_ROLLBACK] = "ROLLBACK TO op",
    [Q_SP_RELEASE] = "RELEASE op",
    [Q_READ_BEGIN] = "BEGIN DEFERRED",
    [Q_READ_END] = "COMMIT",
    [Q_ATTACH_OF] =
        "SELECT a.sha256, a.mime, a.size, a.kind, a.name, a.created_at, e.kind, e.actor"
        " FROM attachments a JOIN events e ON e.id = a.event_id WHERE a.request_id = ?1 ORDER BY a.id",
    [Q_SUB_LIST] =
        "SELECT id, coalesce(events, ''), coalesce(department, '') FROM endpoints"
        " WHERE kind = 'subscription' AND enabled = 1",
    [Q_VOL_UPSERT] =
        "INSERT INTO volunteers(id, name, skills, max_jobs, first_seen, last_seen)"
        " VALUES (?1,?2,?3,?4,?5,?5) ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
        " skills = excluded.skills, max_jobs = excluded.max_jobs, last_seen = excluded.last_seen",
    [Q_VOL_SEEN] = "UPDATE volunteers SET last_seen = ?2 WHERE id = ?1",
    [Q_OPEN_QUEUE] =
        "SELECT r.id, r.priority, r.created_at FROM requests r INDEXED BY requests_open_category"
        " WHERE r.status = 'open' AND r.category = ?1"
        " AND (r.created_at, r.id) > (?4, ?5)"
        " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.request_id = r.id AND e.actor = ?2"
        "   AND e.kind IN ('declined', 'failed'))"
        " ORDER BY r.created_at, r.id LIMIT ?3",
    [Q_CLAIMED_SINCE] =
        "SELECT count(*) FROM requests WHERE volunteer_id = ?1 AND claimed_at >= ?2",
    [Q_REQ_ROW] =
        "SELECT r.id, r.channel, r.category, r.building, r.unit, r.contact, r.text, r.status,"
        " r.volunteer_id, v.name, r.attempts, r.created_at, r.updated_at, r.claimed_at, r.done_at,"
        " r.lease_until, r.ref, r.rating, r.department, r.overdue, r.deadline_at"
        " FROM requests r LEFT JOIN volunteers v ON v.id = r.volunteer_id"
        " WHERE r.id = ?1",
    [Q_EVENTS_OF] =
        "SELECT at, actor, kind, from_status, to_status, detail FROM events"
        " WHERE request_id = ?1 ORDER BY id",
    [Q_DELIVERIES_OF] =
        "SELECT d.id, d.type, e.url, d.state, d.attempts, d.last_error FROM deliveries d"
        " JOIN endpoints e ON e.id = d.endpoint_id WHERE d.request_id = ?1 ORDER BY d.id",
    [Q_VOL_JOBS] =
        "SELECT id FROM requests WHERE volunteer_id = ?1 AND status = 'claimed' ORDER BY claimed_at",
    [Q_TAKE] =
        "SELECT d.id, d.msg_id, e.url, e.secret, d.type, d.body, d.attempts,"
        " CASE WHEN e.old_until > ?1 THEN e.old_secret END FROM deliveries d"
        " JOIN endpoints e ON e.id = d.endpoint_id"
        " WHERE d.state = 'pending' AND d.next_at <= ?1 AND e.enabled = 1"
        " AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.state = 'pending'"
        "   AND p.endpoint_id = d.endpoint_id AND p.request_id IS d.request_id AND p.id < d.id)"
        " ORDER BY d.next_at, d.id LIMIT ?2",
    [Q_LEASE] = "UPDATE deliveries SET next_at = ?2, leased_to = ?3 WHERE id = ?1",
    [Q_DELIVERY_STATE] = "SELECT state, attempts, endpoint_id, leased_to, next_at FROM deliveries WHERE id = ?1",
    [Q_ATTEMPT_INSERT] =
        "INSERT INTO delivery_attempts(delivery_id, at, status, latency_ms, error) VALUES (?1,?2,?3,?4,?5)",
    [Q_DELIVERED] =
        "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_error = NULL,"
        " done_at = ?2 WHERE id = ?1",
    [Q_RETRY] =
        "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2, next_at = ?3 WHERE id = ?1",
    [Q_DEAD] =
        "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ?2,"
        " done_at = ?3 WHERE id = ?1",
    [Q_ENDPOINT_DISABLE] = "UPDATE endpoints SET enabled = 0 WHERE id = ?1",
    [Q_NEXT_DUE] = "SELECT min(next_at) FROM deliveries WHERE state = 'pending'",
};

/* A subscription as the notice fan-out needs it. */
typedef struct {
    int64_t id;
    char events[512];
    char department[64];
} sub_t;

struct store {
    sqlite3 *db;
    sub_t subs[BM_MAX_SUBSCRIPTIONS];
    int n_subs;
    const bm_config_t *cfg;
    sqlite3_stmt *stmts[Q_COUNT];
    bool in_batch;
    bool batch_lost;  /* SQLite rolled the batch back under us: nothing more runs in it */
    bool file_lost;   /* the database file was removed or replaced: nothing is acknowledged */
    int64_t file_lost_logged; /* wall ms of the last loud log line about it */
    char path[1024];
    dev_t dev;
    ino_t ino;
    int wal_frames;   /* frames in the WAL after the last commit (from the WAL hook) */
    int fail_commits;
    int64_t last_event_id; /* of the latest record_event */
    int sp_depth;
};

/* ---- plumbing ---------------------------------------------------------- */

static void db_error(store_t *self, bm_error_t *err, const char *what)
{
    log_error("sqlite: %s: %s", what, sqlite3_errmsg(self->db));
    bm_error_set(err, BM_ERR_STORAGE, NULL, "the database refused the change (%s); nothing was recorded",
                 sqlite3_errmsg(self->db));
}

/* Returns the cached prepared statement for q, reset and with bindings cleared. */
static bool batch_gone(store_t *self);

static sqlite3_stmt *stmt(store_t *self, query_id_t q)
{
    if (batch_gone(self))
        return NULL; /* never run anything outside the batch it belongs to */
    sqlite3_stmt *s = self->stmts[q];
    if (!s) {
        if (sqlite3_prepare_v3(self->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            log_error("sqlite: prepare %d: %s", (int)q, sqlite3_errmsg(self->db));
            return NULL;
        }
        self->stmts[q] = s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

static int64_t col_i64(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, i);
}

/* Adds "category", "category_label" and "urgent" for a stored category name. */
static void add_category(store_t *self, cJSON *o, const char *category)
{
    const bm_category_t *cat = category ? bm_config_category(self->cfg, category) : NULL;
    bm_json_add_str(o, "category", category);
    bm_json_add_str(o, "category_label", cat ? cat->label : category);
    cJSON_AddBoolToObject(o, "urgent", cat && cat->urgent);
}

/* Adds "volunteer": {"id", "name"}, or null when nobody holds the request. */
static void add_volunteer(cJSON *o, const char *id, const char *name)
{
    if (!id) {
        cJSON_AddNullToObject(o, "volunteer");
        return;
    }
    cJSON *vol = cJSON_AddObjectToObject(o, "volunteer");
    bm_json_add_str(vol, "id", id);
    bm_json_add_str(vol, "name", name);
}

static int exec(store_t *self, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sqlite: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int commit_hook(void *arg)
{
    store_t *self = arg;
    if (self->fail_commits > 0) {
        self->fail_commits--;
        return 1; /* turns this COMMIT into a ROLLBACK */
    }
    return 0;
}

/* Runs a cached statement that returns no rows. */
static int run(store_t *self, query_id_t q)
{
    sqlite3_stmt *s = stmt(self, q);
    int rc = s && sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    if (s)
        sqlite3_reset(s);
    return rc;
}

/* The pass's transaction was rolled back (SQLite does that by itself after
 * SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM...), or a RELEASE / ROLLBACK TO
 * failed so that we no longer know what the batch holds: the whole batch is
 * given up. Until store_batch_commit() reports it, every statement and every
 * savepoint refuses to run, so that nothing can commit on its own. */
static void batch_lose(store_t *self, const char *what)
{
    if (!self->in_batch || self->batch_lost)
        return;
    self->batch_lost = true;
    log_error("本轮事务已被数据库回滚（%s: %s），本轮的确认全部改为 storage_error / the pass's "
              "transaction was rolled back (%s: %s): nothing of this pass is kept and every "
              "acknowledgement of it becomes storage_error",
              what, sqlite3_errmsg(self->db), what, sqlite3_errmsg(self->db));
    if (!sqlite3_get_autocommit(self->db))
        exec(self, "ROLLBACK");
}

/* True if the batch is lost; notices a transaction SQLite rolled back. */
static bool batch_gone(store_t *self)
{
    if (self->in_batch && !self->batch_lost && sqlite3_get_autocommit(self->db))
        batch_lose(self, "transaction no longer open");
    return self->batch_lost;
}

static void lost_error(store_t *self, bm_error_t *err)
{
    if (self->file_lost)
        bm_error_set(err, BM_ERR_STORAGE, NULL,
                     "数据库文件已被删除或替换，未记录任何内容 / the database file was removed or "
                     "replaced under the running broker; nothing was recorded (the office must "
                     "restore it and restart the broker)");
    else
        bm_error_set(err, BM_ERR_STORAGE, NULL,
                     "数据库回滚了本轮写入，未记录任何内容，请重试 / the database rolled back this "
                     "pass (disk full or I/O error?); nothing was recorded, please retry");
}

/* Savepoints: each operation is all or nothing inside the batch. A
 * savepoint is only ever opened inside the batch's transaction. */
static int sp_begin(store_t *self, bm_error_t *err)
{
    if (!self->in_batch && store_batch_begin(self, err) != 0)
        return -1;
    if (batch_gone(self)) {
        lost_error(self, err);
        return -1;
    }
    if (run(self, Q_SP_BEGIN) != 0) {
        if (batch_gone(self))
            lost_error(self, err);
        else
            db_error(self, err, "savepoint");
        return -1;
    }
    return 0;
}

/* Ends an operation's savepoint: undone if rc != 0, kept otherwise. Every
 * ROLLBACK TO and RELEASE is checked; if either fails, or the transaction is
 * gone, the whole batch is lost and -1 returned (err set). */
static int sp_end(store_t *self, int rc, bm_error_t *err)
{
    if (batch_gone(self)) {
        lost_error(self, err);
        return -1;
    }
    if (rc != 0 && run(self, Q_SP_ROLLBACK) != 0) {
        batch_lose(self, "rollback to savepoint");
        lost_error(self, err);
        return -1;
    }
    if (run(self, Q_SP_RELEASE) != 0 || batch_gone(self)) {
        batch_lose(self, "release savepoint");
        lost_error(self, err);
        return -1;
    }
    return rc;
}

int store_op_begin(store_t *self, bm_error_t *err)
{
    return sp_begin(self, err);
}

int store_op_end(store_t *self, bool ok, bm_error_t *err)
{
    int rc = sp_end(self, ok ? 0 : -1, err);
    if (rc != 0 && !err->code)
        bm_error_set(err, BM_ERR_STORAGE, NULL,
                     "数据库写入失败，什么也没有记下 / the database refused the write; nothing was recorded");
    return rc;
}

/* A read transaction: many reads (the dispatcher's) share one snapshot and
 * one lock instead of taking and dropping it per query. */
int store_read_begin(store_t *self)
{
    if (self->in_batch)
        return 0;
    return run(self, Q_READ_BEGIN);
}

void store_read_end(store_t *self)
{
    if (!self->in_batch && !sqlite3_get_autocommit(self->db))
        run(self, Q_READ_END);
}

/* ---- open, migrate ----------------------------------------------------- */

static int sync_subscriptions(store_t *self, bm_error_t *err);
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames);

static int migrate(store_t *self, bm_error_t *err)
{
    int version = store_schema_version(self);
    if (version < 0) {
        db_error(self, err, "read user_version");
        return -1;
    }
    if (version > bm_migration_count) {
        bm_error_set(err, BM_ERR_STORAGE, NULL,
                     "the database has schema version %d, newer than this bianmin knows (%d): "
                     "it was written by a newer release; run that release or a newer one",
                     version, bm_migration_count);
        return -1;
    }
    for (int i = version; i < bm_migration_count; i++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", i + 1);
        if (exec(self, "BEGIN IMMEDIATE") != 0 || exec(self, bm_migrations[i].sql) != 0 ||
            exec(self, pragma) != 0 || exec(self, "COMMIT") != 0) {
            bm_error_set(err, BM_ERR_STORAGE, NULL, "migration %s failed: %s",
                         bm_migrations[i].name, sqlite3_errmsg(self->db));
            exec(self, "ROLLBACK");
            return -1;
        }
        log_info("database migrated to schema %d (%s)", i + 1, bm_migrations[i].name);
    }
    return 0;
}

/* True if path exists and is not empty (a file), or holds any entry (a folder). */
static bool has_content(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    if (!S_ISDIR(st.st_mode))
        return st.st_size > 0;
    DIR *d = opendir(path);
    if (!d)
        return true; /* there, but unreadable: assume the worst */
    bool any = false;
    struct dirent *e;
    while (!any && (e = readdir(d)) != NULL)
        any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return any;
}

/* A new, empty database would hand out ticket numbers from 1 again. That is
 * refused when something says there was a database here before: its WAL or
 * rollback journal, or photos in the archive. Returns 0, or -1 (err set). */
static int check_new_database(const char *path, const bm_config_t *cfg, bm_error_t *err)
{
    if (has_content(path) || cfg->allow_new_database)
        return 0;
    char probe[1100], archive[1100];
    const char *evidence = NULL;
    snprintf(probe, sizeof probe, "%s-wal", path);
    if (has_content(probe))
        evidence = probe;
    if (!evidence) {
        snprintf(probe, sizeof probe, "%s-journal", path);
        if (has_content(probe))
            evidence = probe;
    }
    bm_config_archive_dir(cfg, archive, sizeof archive);
    if (!evidence && has_content(archive))
        evidence = archive;
    if (!evidence)
        return 0;
    log_error("拒绝在新的空数据库上启动：%s 不存在或为空，但 %s 表明这里以前有数据，工单号会从 1 "
              "重新开始。请从备份恢复数据库；确实要重新开始时加 --allow-new-database / refusing to "
              "start on a new, empty database: %s is missing or empty but %s says there was data "
              "before, and ticket numbers would start again from 1. Restore the database from a "
              "backup, or start with --allow-new-database (config allow_new_database) if a fresh "
              "start is really meant",
              path, evidence, path, evidence);
    bm_error_set(err, BM_ERR_STORAGE, NULL,
                 "拒绝在空的新数据库上启动 / refusing a new, empty database (tickets would restart "
                 "at 1; restore a backup, or --allow-new-database): old data at %s",
                 evidence);
    return -1;
}

store_t *store_open(const char *path, const bm_config_t *cfg, bm_error_t *err)
{
    if (check_new_database(path, cfg, err) != 0)
        return NULL;
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        return NULL;
    }
    self->cfg = cfg;
    if (bm_strlcpy(self->path, path, sizeof self->path) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "数据库路径太长：%s / database path too long: %s", path, path);
        goto fail;
    }
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "cannot open database %s: %s", path,
                     self->db ? sqlite3_errmsg(self->db) : "内存不足 / out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(self->db, 5000);
    sqlite3_extended_result_codes(self->db, 1);
    /* WAL: readers (the CLI's exports later) never block the broker;
     * synchronous=FULL: a commit is on disk before anything is acknowledged. */
    char *mode = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        mode = strdup(col_text(s, 0) ? col_text(s, 0) : "");
    sqlite3_finalize(s);
    if (!mode || strcmp(mode, "wal") != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "cannot switch %s to WAL mode (%s)", path,
                     sqlite3_errmsg(self->db));
        free(mode);
        goto fail;
    }
    free(mode);
    if (exec(self, "PRAGMA synchronous = FULL") != 0 || exec(self, "PRAGMA foreign_keys = ON") != 0 ||
        exec(self, "PRAGMA temp_store = MEMORY") != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "cannot set pragmas on %s: %s", path,
                     sqlite3_errmsg(self->db));
        goto fail;
    }
    if (migrate(self, err) != 0 || sync_subscriptions(self, err) != 0)
        goto fail;
    struct stat st;
    if (stat(path, &st) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "cannot stat database %s: %s", path, strerror(errno));
        goto fail;
    }
    self->dev = st.st_dev;
    self->ino = st.st_ino;
    sqlite3_commit_hook(self->db, commit_hook, self);
    sqlite3_wal_hook(self->db, wal_hook, self); /* replaces the automatic checkpoint */
    return self;
fail:
    store_destroy(&self);
    return NULL;
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->in_batch)
        store_batch_rollback(self);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(self->stmts[i]);
    if (self->db)
        sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

int store_schema_version(store_t *self)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(self->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

sqlite3 *store_sqlite(store_t *self)
{
    return self->db;
}

/* Checks that the database file is still the one opened: same device and
 * inode, still linked at its path. Once it is not, it never is again. */
static bool file_same(store_t *self)
{
    if (self->file_lost)
        goto lost;
    struct stat st;
    if (stat(self->path, &st) == 0 && st.st_dev == self->dev && st.st_ino == self->ino &&
        st.st_nlink > 0)
        return true;
    self->file_lost = true;
    self->file_lost_logged = 0;
lost:;
    int64_t now = bm_now_ms();
    if (!self->file_lost_logged || now - self->file_lost_logged >= FILE_LOST_LOG_MS) {
        self->file_lost_logged = now;
        log_error("!!! 数据库文件 %s 已被删除或替换：从现在起不再确认任何写入（storage_error），"
                  "请从备份恢复后重启 broker !!! / the database file %s was removed or replaced "
                  "under the running broker: nothing is acknowledged any more (storage_error); "
                  "restore it from a backup and restart the broker",
                  self->path, self->path);
    }
    return false;
}

int store_batch_begin(store_t *self, bm_error_t *err)
{
    if (self->in_batch) {
        if (!batch_gone(self))
            return 0;
        lost_error(self, err);
        return -1;
    }
    if (self->file_lost) {
        file_same(self); /* the periodic loud reminder */
        lost_error(self, err);
        return -1;
    }
    if (exec(self, "BEGIN IMMEDIATE") != 0) {
        db_error(self, err, "begin");
        return -1;
    }
    self->in_batch = true;
    self->batch_lost = false;
    return 0;
}

/* Records the WAL's size after each commit; the checkpoint runs after the
 * commit has returned, so that its failure (a full disk) can never be taken
 * for a failed commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((store_t *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

static void checkpoint(store_t *self)
{
    if (self->wal_frames < CHECKPOINT_FRAMES)
        return;
    int log_frames = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
    if (rc != SQLITE_OK)
        log_warn("WAL 检查点失败（磁盘满？），稍后重试 / WAL checkpoint failed (%s); the WAL keeps "
                 "the data and the checkpoint is tried again after a later commit",
                 sqlite3_errmsg(self->db));
    else
        self->wal_frames = 0;
}

int store_batch_commit(store_t *self, bm_error_t *err)
{
    if (!self->in_batch)
        return 0;
    bool lost = batch_gone(self);
    bool same = file_same(self);
    self->in_batch = false;
    self->batch_lost = false;
    if (lost || !same) {
        lost_error(self, err);
        if (!sqlite3_get_autocommit(self->db))
            exec(self, "ROLLBACK");
        return -1;
    }
    if (sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(self, err, "commit");
        if (!sqlite3_get_autocommit(self->db))
            exec(self, "ROLLBACK");
        return -1;
    }
    if (!file_same(self)) {
        /* Removed while we committed: what was written is in a file nobody
         * will open again, so it is not acknowledged. */
        lost_error(self, err);
        return -1;
    }
    checkpoint(self);
    return 0;
}

void store_batch_rollback(store_t *self)
{
    if (!self->in_batch)
        return;
    self->in_batch = false;
    self->batch_lost = false;
    if (!sqlite3_get_autocommit(self->db))
        exec(self, "ROLLBACK");
}

bool store_in_batch(store_t *self)
{
    return self->in_batch;
}

bool store_batch_failed(store_t *self)
{
    return batch_gone(self);
}

void store_fail_commits(store_t *self, int n)
{
    self->fail_commits = n;
}

/* ---- events and notices ------------------------------------------------ */

static const char *category_label(store_t *self, const char *name)
{
    const bm_category_t *c = name ? bm_config_category(self->cfg, name) : NULL;
    return c ? c->label : name;
}

/* True if a subscription wants this notice. */
static bool sub_wants(const sub_t *sub, const char *type, const char *department)
{
    if (sub->department[0] && (!department || strcmp(sub->department, department) != 0))
        return false; /* a department hears only about what was escalated to it */
    if (!sub->events[0])
        return true;
    size_t n = strlen(type);
    for (const char *p = sub->events; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, type, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static int insert_delivery(store_t *self, int64_t endpoint, int64_t ticket, int64_t event_id,
                           const char *type, const char *body, int64_t now)
{
    char msg_id[48];
    bm_random_id("msg_", msg_id, sizeof msg_id);
    sqlite3_stmt *s = stmt(self, Q_DELIVERY_INSERT);
    if (!s)
        return -1;
    bind_text(s, 1, msg_id);
    sqlite3_bind_int64(s, 2, endpoint);
    sqlite3_bind_int64(s, 3, ticket);
    sqlite3_bind_int64(s, 4, event_id);
    bind_text(s, 5, type);
    bind_text(s, 6, body);
    sqlite3_bind_int64(s, 7, now);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

/* Queues the webhook for an event, in the current transaction: to the
 * request's callback, and to every subscription that wants it. The event's
 * detail (note, reason, answer, department) is copied into data. */
static int enqueue_notice(store_t *self, int64_t ticket, int64_t event_id, const char *type,
                          const cJSON *detail, int64_t now)
{
    sqlite3_stmt *s = stmt(self, Q_REQ_NOTICE_INFO);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    if (sqlite3_step(s) != SQLITE_ROW)
        return -1;
    int64_t callback = col_i64(s, 3);
    char department[BM_MAX_DEPARTMENT + 1] = "";
    if (col_text(s, 5))
        bm_strlcpy(department, col_text(s, 5), sizeof department);
    bool wanted = callback != 0;
    for (int i = 0; !wanted && i < self->n_subs; i++)
        wanted = sub_wants(&self->subs[i], type, department[0] ? department : NULL);
    if (!wanted) {
        sqlite3_reset(s);
        return 0; /* nobody to tell: do not even build the body */
    }

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    bm_json_add_time(body, "timestamp", now);
    cJSON *data = cJSON_AddObjectToObject(body, "data");
    cJSON_AddNumberToObject(data, "ticket", (double)ticket);
    bm_json_add_str(data, "category", col_text(s, 0));
    bm_json_add_str(data, "category_label", category_label(self, col_text(s, 0)));
    bm_json_add_str(data, "building", col_text(s, 1));
    bm_json_add_str(data, "status", col_text(s, 2));
    bm_json_add_str(data, "volunteer", col_text(s, 4));
    sqlite3_reset(s);
    if (strcmp(type, "request.completed") == 0 || strcmp(type, "request.resolved") == 0) {
        char how[200];
        snprintf(how, sizeof how,
                 "请为本次服务评分 1-5 / rate 1-5 within %d days: bianmin rate %lld SCORE --channel CHANNEL",
                 self->cfg->rate_days, (long long)ticket);
        cJSON_AddStringToObject(data, "rate", how);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, detail) {
        if (!cJSON_GetObjectItemCaseSensitive(data, item->string))
            cJSON_AddItemToObject(data, item->string, cJSON_Duplicate(item, true));
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text)
        return -1;
    int rc = 0;
    if (callback)
        rc = insert_delivery(self, callback, ticket, event_id, type, text, now);
    for (int i = 0; rc == 0 && i < self->n_subs; i++) {
        if (sub_wants(&self->subs[i], type, department[0] ? department : NULL))
            rc = insert_delivery(self, self->subs[i].id, ticket, event_id, type, text, now);
    }
    free(text);
    return rc;
}

/* Appends an event (detail: a JSON object or NULL) and, if notice is not
 * NULL, the webhooks it causes. */
static int record_event(store_t *self, int64_t ticket, int64_t now, const char *actor,
                        const char *kind, const char *from, const char *to, const cJSON *detail,
                        const char *notice)
{
    sqlite3_stmt *s = stmt(self, Q_EVENT_INSERT);
    if (!s)
        return -1;
    char *dtext = detail ? cJSON_PrintUnformatted(detail) : NULL;
    sqlite3_bind_int64(s, 1, ticket);
    sqlite3_bind_int64(s, 2, now);
    bind_text(s, 3, actor);
    bind_text(s, 4, kind);
    bind_text(s, 5, from);
    bind_text(s, 6, to);
    bind_text(s, 7, dtext ? dtext : "{}");
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    free(dtext);
    if (rc != 0)
        return -1;
    int64_t event_id = sqlite3_last_insert_rowid(self->db);
    self->last_event_id = event_id;
    if (notice)
        return enqueue_notice(self, ticket, event_id, notice, detail, now);
    return 0;
}

/* Writes the configured subscriptions into endpoints (those no longer
 * configured are disabled, never deleted: their deliveries stay visible) and
 * caches them for the fan-out. */
static int sync_subscriptions(store_t *self, bm_error_t *err)
{
    int64_t now = bm_now_ms();
    if (exec(self, "BEGIN IMMEDIATE") != 0)
        goto fail;
    sqlite3_stmt *s = stmt(self, Q_SUB_DISABLE_ALL);
    if (!s || sqlite3_step(s) != SQLITE_DONE)
        goto fail_tx;
    for (int i = 0; i < self->cfg->subscription_count; i++) {
        const bm_subscription_t *c = &self->cfg->subscriptions[i];
        s = stmt(self, Q_SUB_UPSERT);
        if (!s)
            goto fail_tx;
        bind_text(s, 1, c->url);
        bind_text(s, 2, c->secret);
        bind_text(s, 3, c->name);
        bind_text(s, 4, c->events[0] ? c->events : NULL);
        bind_text(s, 5, c->department[0] ? c->department : NULL);
        sqlite3_bind_int64(s, 6, now);
        /* A changed secret is a rotation: the old one is signed with too, for a while. */
        sqlite3_bind_int64(s, 7, now + (int64_t)self->cfg->rotation_overlap_s * 1000);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto fail_tx;
    }
    if (exec(self, "COMMIT") != 0)
        goto fail_tx;
    self->n_subs = 0;
    s = stmt(self, Q_SUB_LIST);
    while (s && self->n_subs < BM_MAX_SUBSCRIPTIONS && sqlite3_step(s) == SQLITE_ROW) {
        sub_t *sub = &self->subs[self->n_subs++];
        sub->id = sqlite3_column_int64(s, 0);
        bm_strlcpy(sub->events, col_text(s, 1), sizeof sub->events);
        bm_strlcpy(sub->department, col_text(s, 2), sizeof sub->department);
    }
    if (s)
        sqlite3_reset(s);
    return 0;
fail_tx:
    exec(self, "ROLLBACK");
fail:
    bm_error_set(err, BM_ERR_STORAGE, NULL, "cannot record the subscriptions: %s",
                 sqlite3_errmsg(self->db));
    return -1;
}

/* ---- requests ---------------------------------------------------------- */

/* The callback endpoint for a URL as used by a channel: each channel's
 * callbacks are signed with that channel's secret. */
static int endpoint_for(store_t *self, const char *url, const char *channel, int64_t now,
                        int64_t *id)
{
    sqlite3_stmt *s = stmt(self, Q_ENDPOINT_FIND);
    if (!s)
        return -1;
    bind_text(s, 1, url);
    bind_text(s, 2, channel);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        return 0;
    }
    if (step != SQLITE_DONE)
        return -1;
    s = stmt(self, Q_ENDPOINT_ADD);
    if (!s)
        return -1;
    bind_text(s, 1, url);
    bind_text(s, 2, channel);
    bind_text(s, 3, bm_config_callback_secret(self->cfg, channel));
    sqlite3_bind_int64(s, 4, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        return -1;
    *id = sqlite3_last_insert_rowid(self->db);
    return 0;
}

static int insert_attachment(store_t *self, int64_t ticket, int64_t event_id,
                             const store_attach_t *at, int64_t now);

int store_submit(store_t *self, const store_submit_t *in, int64_t now, int64_t *ticket,
                 bool *duplicate, bm_error_t *err)
{
    *duplicate = false;
    const bm_category_t *cat = bm_config_category(self->cfg, in->category);
    if (!cat) {
        bm_error_set(err, BM_ERR_UNKNOWN_CATEGORY, "category", "未知类别 \"%s\" / unknown category \"%s\"",
                     in->category, in->category);
        return -1;
    }
    if (in->ref) {
        sqlite3_stmt *s = stmt(self, Q_REF_LOOKUP);
        if (!s) {
            db_error(self, err, "ref lookup");
            return -1;
        }
        bind_text(s, 1, in->channel);
        bind_text(s, 2, in->ref);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *ticket = sqlite3_column_int64(s, 0);
            *duplicate = true;
            sqlite3_reset(s);
            return 0;
        }
    }
    if (sp_begin(self, err) != 0)
        return -1;
    int rc = -1;
    int64_t endpoint = 0;
    if (in->callback && endpoint_for(self, in->callback, in->channel, now, &endpoint) != 0)
        goto out;
    sqlite3_stmt *s = stmt(self, Q_REQ_INSERT);
    if (!s)
        goto out;
    bind_text(s, 1, in->channel);
    bind_text(s, 2, in->ref);
    bind_text(s, 3, in->category);
    sqlite3_bind_int(s, 4, cat->priority);
    bind_text(s, 5, in->building);
    bind_text(s, 6, in->unit ? in->unit : "");
    bind_text(s, 7, in->contact);
    bind_text(s, 8, in->text);
    if (endpoint)
        sqlite3_bind_int64(s, 9, endpoint);
    sqlite3_bind_int64(s, 10, now);
    sqlite3_bind_int64(s, 11, now + (int64_t)cat->offer_timeout_s * 1000);
    sqlite3_bind_int64(s, 12, now + (int64_t)cat->deadline_s * 1000);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *ticket = sqlite3_last_insert_rowid(self->db);
    char actor[64];
    snprintf(actor, sizeof actor, "channel:%s", in->channel);
    rc = record_event(self, *ticket, now, actor, "received", NULL, "open", NULL,
                      "request.received");
    for (size_t i = 0; rc == 0 && i < in->n_attach; i++)
        rc = insert_attachment(self, *ticket, self->last_event_id, &in->attach[i], now);
out:
    if (rc != 0)
        db_error(self, err, "submit");
    return sp_end(self, rc, err);
}

/* The columns a transition reads and writes. */
typedef struct {
    char status[16];
    char holder[BM_MAX_VOL_ID + 1];
    char channel[32];
    char category[32];
    char department[BM_MAX_DEPARTMENT + 1];
    int64_t lease_until, claimed_at, done_at, offer_due_at, deadline_at;
    int attempts, overdue;
} row_t;

static void bind_i64_or_null(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

/* Reads the request's lifecycle columns. Returns 0, 1 if not found, -1. */
static int row_load(store_t *self, int64_t ticket, row_t *r)
{
    sqlite3_stmt *s = stmt(self, Q_ACT_ROW);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        return 1;
    if (step != SQLITE_ROW)
        return -1;
    memset(r, 0, sizeof *r);
    bm_strlcpy(r->status, col_text(s, 0), sizeof r->status);
    bm_strlcpy(r->holder, col_text(s, 1) ? col_text(s, 1) : "", sizeof r->holder);
    bm_strlcpy(r->channel, col_text(s, 2), sizeof r->channel);
    bm_strlcpy(r->category, col_text(s, 3), sizeof r->category);
    r->lease_until = col_i64(s, 4);
    r->claimed_at = col_i64(s, 5);
    r->done_at = col_i64(s, 6);
    r->offer_due_at = col_i64(s, 7);
    r->deadline_at = col_i64(s, 8);
    r->attempts = sqlite3_column_int(s, 9);
    r->overdue = sqlite3_column_int(s, 10);
    bm_strlcpy(r->department, col_text(s, 11) ? col_text(s, 11) : "", sizeof r->department);
    sqlite3_reset(s);
    return 0;
}

/* Writes r back, guarded by the status it was read with. */
static int row_save(store_t *self, int64_t ticket, const row_t *r, const char *old_status,
                    int64_t now)
{
    sqlite3_stmt *s = stmt(self, Q_ACT_UPDATE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    bind_text(s, 2, r->status);
    bind_text(s, 3, r->holder[0] ? r->holder : NULL);
    bind_i64_or_null(s, 4, r->lease_until);
    bind_i64_or_null(s, 5, r->claimed_at);
    bind_i64_or_null(s, 6, r->done_at);
    bind_i64_or_null(s, 7, r->offer_due_at);
    sqlite3_bind_int64(s, 8, r->deadline_at);
    sqlite3_bind_int(s, 9, r->attempts);
    sqlite3_bind_int(s, 10, r->overdue);
    bind_text(s, 11, r->department[0] ? r->department : NULL);
    sqlite3_bind_int64(s, 12, now);
    bind_text(s, 13, old_status);
    return sqlite3_step(s) == SQLITE_DONE && sqlite3_changes(self->db) == 1 ? 0 : -1;
}

int store_volunteer_held(store_t *self, const char *id)
{
    sqlite3_stmt *s = stmt(self, Q_HELD);
    if (!s)
        return -1;
    bind_text(s, 1, id);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_reset(s);
    return n;
}

/* A job as its volunteer sees it: the offer plus unit, contact and lease. */
static cJSON *job_json(store_t *self, int64_t ticket)
{
    cJSON *job = store_offer(self, ticket);
    if (!job)
        return NULL;
    sqlite3_stmt *s = stmt(self, Q_REQ_ROW);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        if (sqlite3_step(s) == SQLITE_ROW) {
            bm_json_add_str(job, "status", col_text(s, 7));
            bm_json_add_str(job, "unit", col_text(s, 4));
            bm_json_add_str(job, "contact", col_text(s, 5));
            bm_json_add_time(job, "claimed_at", col_i64(s, 13));
            bm_json_add_time(job, "lease_until", col_i64(s, 15));
            bm_json_add_time(job, "deadline_at", col_i64(s, 20));
        }
        sqlite3_reset(s);
    }
    return job;
}

static bool held_action(bm_action_t act)
{
    return act == BM_ACT_PROGRESS || act == BM_ACT_DONE || act == BM_ACT_CANTFIX;
}

/* Checks who may do what; returns 0 or -1 with err set. */
static int act_allowed(store_t *self, int64_t ticket, const row_t *r, const store_act_t *a,
                       int64_t now, bm_error_t *err)
{
    const char *name = bm_action_name(a->act);
    bool by_holder = held_action(a->act) || (a->act == BM_ACT_ESCALATE && a->volunteer);
    if (by_holder) {
        if (strcmp(r->status, "claimed") != 0) {
            bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                         "ticket %lld is %s; only a claimed request allows %s", (long long)ticket,
                         r->status, name);
            return -1;
        }
        if (strcmp(r->holder, a->volunteer) != 0) {
            bm_error_set(err, BM_ERR_NOT_YOURS, "ticket", "编号 %lld 的请求已由另一位志愿者负责 / ticket %lld is held by another volunteer", (long long)ticket,
                         (long long)ticket);
            return -1;
        }
    }
    if (a->act == BM_ACT_CLAIM && strcmp(r->status, "claimed") == 0) {
        if (strcmp(r->holder, a->volunteer) == 0)
            bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket", "您已经在负责编号 %lld 的请求 / you already hold ticket %lld", (long long)ticket,
                         (long long)ticket);
        else
            bm_error_set(err, BM_ERR_TAKEN, "ticket", "编号 %lld 的请求已被另一位志愿者接走 / ticket %lld was taken by another volunteer", (long long)ticket,
                         (long long)ticket);
        return -1;
    }
    if ((a->act == BM_ACT_CANCEL || a->act == BM_ACT_REOPEN) && a->channel &&
        strcmp(a->channel, r->channel) != 0 && strcmp(a->channel, "office") != 0) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "channel",
                     "only the request's own channel (%s) or the office may %s it", r->channel,
                     name);
        return -1;
    }
    if ((a->act == BM_ACT_RESOLVE || (a->act == BM_ACT_ESCALATE && !a->volunteer)) && a->channel &&
        strcmp(a->channel, "office") != 0) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "channel", "只有办公室可以对请求执行 %s / only the office may %s a request", name, name);
        return -1;
    }
    if (!bm_lifecycle_next(r->status, a->act)) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket", "ticket %lld is %s and cannot be %s",
                     (long long)ticket, r->status,
                     a->act == BM_ACT_CLAIM ? "claimed" : bm_action_event(a->act));
        return -1;
    }
    if (a->act == BM_ACT_CLAIM) {
        int held = store_volunteer_held(self, a->volunteer);
        if (held < 0 || held >= a->max_jobs) {
            bm_error_set(err, BM_ERR_TOO_MANY_JOBS, NULL,
                         "you already hold %d job(s), the most allowed; finish one first", held);
            return -1;
        }
    }
    if (a->act == BM_ACT_REOPEN &&
        now - r->done_at > (int64_t)self->cfg->reopen_days * 86400 * 1000) {
        bm_error_set(err, BM_ERR_TOO_LATE, "ticket",
                     "ticket %lld was done more than %d days ago; submit a new request instead",
                     (long long)ticket, self->cfg->reopen_days);
        return -1;
    }
    return 0;
}

static const bm_category_t *category_of(store_t *self, const char *name)
{
    static const bm_category_t fallback = {"other", "其他", 1, false, 3600, 4 * 3600, 72 * 3600,
                                           BM_DEFAULT_OFFER_FANOUT, BM_DEFAULT_OFFER_STEP_S};
    const bm_category_t *c = bm_config_category(self->cfg, name);
    return c ? c : &fallback;
}

static int insert_attachment(store_t *self, int64_t ticket, int64_t event_id,
                             const store_attach_t *at, int64_t now)
{
    sqlite3_stmt *s = stmt(self, Q_ATTACH_INSERT);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    sqlite3_bind_int64(s, 2, event_id);
    bind_text(s, 3, at->sha256);
    bind_text(s, 4, at->mime);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)at->size);
    bind_text(s, 6, at->kind);
    bind_text(s, 7, at->name);
    sqlite3_bind_int64(s, 8, now);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

int store_rate(store_t *self, int64_t ticket, const char *channel, int score, const char *comment,
               int64_t now, bm_error_t *err)
{
    row_t r;
    int found = row_load(self, ticket, &r);
    if (found != 0) {
        if (found < 0)
            db_error(self, err, "rate");
        else
            bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                         (long long)ticket);
        return -1;
    }
    if (strcmp(channel, r.channel) != 0 && strcmp(channel, "office") != 0) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "channel",
                     "only the request's own channel (%s) or the office may rate it", r.channel);
        return -1;
    }
    if ((strcmp(r.status, "done") != 0 && strcmp(r.status, "resolved") != 0) || !r.done_at) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                     "ticket %lld is %s; only a done or resolved request can be rated",
                     (long long)ticket, r.status);
        return -1;
    }
    if (now - r.done_at > (int64_t)self->cfg->rate_days * 86400 * 1000) {
        bm_error_set(err, BM_ERR_TOO_LATE, "ticket", "ticket %lld was completed more than %d days ago",
                     (long long)ticket, self->cfg->rate_days);
        return -1;
    }
    char actor[96];
    snprintf(actor, sizeof actor, "channel:%s", channel);
    cJSON *detail = cJSON_CreateObject();
    cJSON_AddNumberToObject(detail, "score", score);
    if (comment)
        cJSON_AddStringToObject(detail, "comment", comment);
    if (sp_begin(self, err) != 0) {
        cJSON_Delete(detail);
        return -1;
    }
    int rc = -1;
    sqlite3_stmt *s = stmt(self, Q_RATE);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        sqlite3_bind_int(s, 2, score);
        sqlite3_bind_int64(s, 3, now);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    if (rc == 0)
        rc = record_event(self, ticket, now, actor, "rated", NULL, NULL, detail, NULL);
    cJSON_Delete(detail);
    if (rc != 0)
        db_error(self, err, "rate");
    return sp_end(self, rc, err);
}

int store_act(store_t *self, int64_t ticket, const store_act_t *a, int64_t now, cJSON **result,
              char *prev_holder, size_t prev_len, bm_error_t *err)
{
    if (result)
        *result = NULL;
    if (prev_holder && prev_len)
        prev_holder[0] = '\0';
    row_t r;
    int found = row_load(self, ticket, &r);
    if (found < 0) {
        db_error(self, err, bm_action_name(a->act));
        return -1;
    }
    if (found > 0) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                     (long long)ticket);
        return -1;
    }
    if (act_allowed(self, ticket, &r, a, now, err) != 0)
        return -1;
    if (prev_holder)
        bm_strlcpy(prev_holder, r.holder, prev_len);

    char old_status[16];
    bm_strlcpy(old_status, r.status, sizeof old_status);
    const bm_category_t *cat = category_of(self, r.category);
    bm_strlcpy(r.status, bm_lifecycle_next(old_status, a->act), sizeof r.status);
    switch (a->act) {
    case BM_ACT_CLAIM:
        bm_strlcpy(r.holder, a->volunteer, sizeof r.holder);
        r.lease_until = now + (int64_t)cat->lease_s * 1000;
        r.claimed_at = now;
        r.offer_due_at = 0;
        break;
    case BM_ACT_PROGRESS:
        r.lease_until = now + (int64_t)cat->lease_s * 1000;
        break;
    case BM_ACT_DONE:
        r.lease_until = 0;
        r.done_at = now;
        break;
    case BM_ACT_CANTFIX:
    case BM_ACT_LEASE_EXPIRE:
        r.holder[0] = '\0';
        r.lease_until = 0;
        r.attempts++;
        r.offer_due_at = now + (int64_t)cat->offer_timeout_s * 1000;
        r.overdue &= ~1;
        break;
    case BM_ACT_ESCALATE:
        r.lease_until = 0;
        r.offer_due_at = 0;
        bm_strlcpy(r.department, a->department ? a->department : "", sizeof r.department);
        break;
    case BM_ACT_RESOLVE:
        r.done_at = now; /* resolved by the department: the request is complete */
        break;
    case BM_ACT_CANCEL:
        r.lease_until = 0;
        r.offer_due_at = 0;
        break;
    case BM_ACT_REOPEN:
        r.holder[0] = '\0';
        r.done_at = 0;
        r.offer_due_at = now + (int64_t)cat->offer_timeout_s * 1000;
        r.deadline_at = now + (int64_t)cat->deadline_s * 1000;
        r.overdue = 0;
        break;
    case BM_ACT_COUNT:
        return -1;
    }

    char actor[96];
    if (a->volunteer)
        snprintf(actor, sizeof actor, "volunteer:%s", a->volunteer);
    else if (a->channel)
        snprintf(actor, sizeof actor, "channel:%s", a->channel);
    else
        snprintf(actor, sizeof actor, "system");
    cJSON *detail = cJSON_CreateObject();
    if (a->text) {
        const char *key = (a->act == BM_ACT_DONE || a->act == BM_ACT_PROGRESS) ? "note"
                          : a->act == BM_ACT_RESOLVE                          ? "answer"
                                                                              : "reason";
        cJSON_AddStringToObject(detail, key, a->text);
    }
    if (a->act == BM_ACT_ESCALATE && a->department)
        cJSON_AddStringToObject(detail, "department", a->department);
    if (a->act == BM_ACT_LEASE_EXPIRE || a->act == BM_ACT_CANTFIX)
        cJSON_AddNumberToObject(detail, "attempts", r.attempts);

    if (sp_begin(self, err) != 0) {
        cJSON_Delete(detail);
        return -1;
    }
    int rc = row_save(self, ticket, &r, old_status, now);
    if (rc == 0)
        rc = record_event(self, ticket, now, actor, bm_action_event(a->act), old_status, r.status,
                          detail, bm_action_notice(a->act));
    for (size_t i = 0; rc == 0 && i < a->n_attach; i++)
        rc = insert_attachment(self, ticket, self->last_event_id, &a->attach[i], now);
    if (rc == 0 && (a->act == BM_ACT_CANTFIX || a->act == BM_ACT_LEASE_EXPIRE) &&
        r.attempts >= self->cfg->max_attempts) {
        cJSON *d2 = cJSON_CreateObject();
        cJSON_AddNumberToObject(d2, "attempts", r.attempts);
        rc = record_event(self, ticket, now, "system", "needs_escalation", NULL, NULL, d2,
                          "request.needs_escalation");
        cJSON_Delete(d2);
    }
    cJSON_Delete(detail);
    if (rc != 0)
        db_error(self, err, bm_action_name(a->act));
    rc = sp_end(self, rc, err);
    if (rc == 0 && result) {
        if (a->act == BM_ACT_CLAIM || a->act == BM_ACT_PROGRESS) {
            *result = job_json(self, ticket);
        } else {
            *result = cJSON_CreateObject();
            cJSON_AddNumberToObject(*result, "ticket", (double)ticket);
            cJSON_AddStringToObject(*result, "status", r.status);
            if (a->act == BM_ACT_CANTFIX)
                cJSON_AddNumberToObject(*result, "attempts", r.attempts);
        }
    }
    return rc;
}

int store_decline(store_t *self, int64_t ticket, const char *volunteer, const char *reason,
                  int64_t now, bm_error_t *err)
{
    row_t r;
    int found = row_load(self, ticket, &r);
    if (found != 0) {
        if (found < 0)
            db_error(self, err, "decline");
        else
            bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                         (long long)ticket);
        return -1;
    }
    if (strcmp(r.status, "open") != 0) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                     "ticket %lld is %s; only an open request's offer can be declined",
                     (long long)ticket, r.status);
        return -1;
    }
    char actor[96];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    cJSON *detail = cJSON_CreateObject();
    if (reason)
        cJSON_AddStringToObject(detail, "reason", reason);
    if (sp_begin(self, err) != 0) {
        cJSON_Delete(detail);
        return -1;
    }
    int rc = record_event(self, ticket, now, actor, "declined", NULL, NULL, detail, NULL);
    cJSON_Delete(detail);
    if (rc != 0)
        db_error(self, err, "decline");
    return sp_end(self, rc, err);
}

bool store_excluded(store_t *self, int64_t ticket, const char *volunteer)
{
    sqlite3_stmt *s = stmt(self, Q_EXCLUDED);
    if (!s)
        return false;
    char actor[96];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    sqlite3_bind_int64(s, 1, ticket);
    bind_text(s, 2, actor);
    bool excluded = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    return excluded;
}

int store_expire_leases(store_t *self, int64_t now, store_expired_t *out, int max)
{
    sqlite3_stmt *s = stmt(self, Q_LEASE_DUE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, max);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW) {
        out[n].ticket = sqlite3_column_int64(s, 0);
        bm_strlcpy(out[n].volunteer, col_text(s, 1) ? col_text(s, 1) : "", sizeof out[n].volunteer);
        n++;
    }
    sqlite3_reset(s);
    int done = 0;
    for (int i = 0; i < n; i++) {
        store_act_t a = {.act = BM_ACT_LEASE_EXPIRE, .text = "lease expired without progress"};
        bm_error_t err = {0};
        if (store_act(self, out[i].ticket, &a, now, NULL, NULL, 0, &err) == 0)
            out[done++] = out[i];
    }
    return done;
}

int store_mark_overdue(store_t *self, int64_t now)
{
    static const struct {
        query_id_t select;
        int bit;
        const char *reason;
    } sweeps[] = {
        {Q_OFFER_OVERDUE, 1, "unclaimed past the offer timeout"},
        {Q_DEADLINE_OVERDUE, 2, "not done by the service deadline"},
    };
    int marked = 0;
    for (size_t k = 0; k < sizeof sweeps / sizeof sweeps[0]; k++) {
        sqlite3_stmt *s = stmt(self, sweeps[k].select);
        if (!s)
            return -1;
        sqlite3_bind_int64(s, 1, now);
        int64_t ids[100];
        int n = 0;
        while (n < 100 && sqlite3_step(s) == SQLITE_ROW)
            ids[n++] = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        for (int i = 0; i < n; i++) {
            bm_error_t err = {0};
            if (sp_begin(self, &err) != 0)
                return -1;
            s = stmt(self, Q_SET_OVERDUE);
            int rc = -1;
            if (s) {
                sqlite3_bind_int64(s, 1, ids[i]);
                sqlite3_bind_int(s, 2, sweeps[k].bit);
                sqlite3_bind_int64(s, 3, now);
                rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
            }
            cJSON *detail = cJSON_CreateObject();
            cJSON_AddStringToObject(detail, "reason", sweeps[k].reason);
            if (rc == 0)
                rc = record_event(self, ids[i], now, "system", "overdue", NULL, NULL, detail,
                                  "request.overdue");
            cJSON_Delete(detail);
            rc = sp_end(self, rc, &err);
            if (rc == 0)
                marked++;
            else if (store_batch_failed(self))
                return -1;
        }
    }
    return marked;
}

int store_get(store_t *self, int64_t ticket, cJSON **out, bm_error_t *err)
{
    *out = NULL;
    sqlite3_stmt *s = stmt(self, Q_REQ_ROW);
    if (!s) {
        db_error(self, err, "get");
        return -1;
    }
    sqlite3_bind_int64(s, 1, ticket);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                     (long long)ticket);
        return -1;
    }
    if (step != SQLITE_ROW) {
        db_error(self, err, "get");
        return -1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(root, "request");
    cJSON_AddNumberToObject(req, "ticket", (double)sqlite3_column_int64(s, 0));
    bm_json_add_str(req, "channel", col_text(s, 1));
    bm_json_add_str(req, "ref", col_text(s, 16));
    add_category(self, req, col_text(s, 2));
    bm_json_add_str(req, "building", col_text(s, 3));
    bm_json_add_str(req, "unit", col_text(s, 4));
    bm_json_add_str(req, "contact", col_text(s, 5));
    bm_json_add_str(req, "text", col_text(s, 6));
    bm_json_add_str(req, "status", col_text(s, 7));
    add_volunteer(req, col_text(s, 8), col_text(s, 9));
    cJSON_AddNumberToObject(req, "attempts", sqlite3_column_int(s, 10));
    bm_json_add_time(req, "created_at", sqlite3_column_int64(s, 11));
    bm_json_add_time(req, "updated_at", sqlite3_column_int64(s, 12));
    bm_json_add_time(req, "claimed_at", sqlite3_column_int64(s, 13));
    bm_json_add_time(req, "done_at", sqlite3_column_int64(s, 14));
    bm_json_add_time(req, "lease_until", sqlite3_column_int64(s, 15));
    if (sqlite3_column_type(s, 17) == SQLITE_NULL)
        cJSON_AddNullToObject(req, "rating");
    else
        cJSON_AddNumberToObject(req, "rating", sqlite3_column_int(s, 17));
    bm_json_add_str(req, "department", col_text(s, 18));
    cJSON_AddBoolToObject(req, "overdue", sqlite3_column_int(s, 19) != 0);
    bm_json_add_time(req, "deadline_at", col_i64(s, 20));
    sqlite3_reset(s);

    cJSON *atts = cJSON_AddArrayToObject(root, "attachments");
    s = stmt(self, Q_ATTACH_OF);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *a = cJSON_CreateObject();
            char rel[128];
            const char *mime = col_text(s, 1);
            const char *ext = strcmp(mime, "image/png") == 0    ? "png"
                              : strcmp(mime, "image/webp") == 0 ? "webp"
                                                                : "jpg";
            bm_archive_relpath(col_text(s, 0), ext, rel, sizeof rel);
            bm_json_add_str(a, "sha256", col_text(s, 0));
            bm_json_add_str(a, "type", mime);
            cJSON_AddNumberToObject(a, "size", (double)sqlite3_column_int64(s, 2));
            bm_json_add_str(a, "kind", col_text(s, 3));
            bm_json_add_str(a, "name", col_text(s, 4));
            bm_json_add_time(a, "at", col_i64(s, 5));
            bm_json_add_str(a, "event", col_text(s, 6));
            bm_json_add_str(a, "actor", col_text(s, 7));
            bm_json_add_str(a, "path", rel);
            cJSON_AddItemToArray(atts, a);
        }
        sqlite3_reset(s);
    }

    cJSON *events = cJSON_AddArrayToObject(root, "events");
    s = stmt(self, Q_EVENTS_OF);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *ev = cJSON_CreateObject();
            bm_json_add_time(ev, "at", sqlite3_column_int64(s, 0));
            bm_json_add_str(ev, "actor", col_text(s, 1));
            bm_json_add_str(ev, "kind", col_text(s, 2));
            bm_json_add_str(ev, "from", col_text(s, 3));
            bm_json_add_str(ev, "to", col_text(s, 4));
            cJSON *detail = col_text(s, 5) ? cJSON_Parse(col_text(s, 5)) : NULL;
            cJSON_AddItemToObject(ev, "detail", detail ? detail : cJSON_CreateObject());
            cJSON_AddItemToArray(events, ev);
        }
        sqlite3_reset(s);
    }
    cJSON *dels = cJSON_AddArrayToObject(root, "deliveries");
    s = stmt(self, Q_DELIVERIES_OF);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddNumberToObject(d, "id", (double)sqlite3_column_int64(s, 0));
            bm_json_add_str(d, "type", col_text(s, 1));
            bm_json_add_str(d, "url", col_text(s, 2));
            bm_json_add_str(d, "state", col_text(s, 3));
            cJSON_AddNumberToObject(d, "attempts", sqlite3_column_int(s, 4));
            bm_json_add_str(d, "last_error", col_text(s, 5));
            cJSON_AddItemToArray(dels, d);
        }
        sqlite3_reset(s);
    }
    *out = root;
    return 0;
}

/* ---- volunteers and dispatch ------------------------------------------- */

int store_volunteer_hello(store_t *self, const char *id, const char *name, const char *skills,
                          int max_jobs, int64_t now, bm_error_t *err)
{
    if (sp_begin(self, err) != 0)
        return -1;
    sqlite3_stmt *s = stmt(self, Q_VOL_UPSERT);
    int rc = -1;
    if (s) {
        bind_text(s, 1, id);
        bind_text(s, 2, name);
        bind_text(s, 3, skills);
        sqlite3_bind_int(s, 4, max_jobs);
        sqlite3_bind_int64(s, 5, now);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    if (rc != 0)
        db_error(self, err, "hello");
    return sp_end(self, rc, err);
}

int store_volunteer_seen(store_t *self, const char *id, int64_t now)
{
    sqlite3_stmt *s = stmt(self, Q_VOL_SEEN);
    if (!s)
        return -1;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

cJSON *store_volunteer_jobs(store_t *self, const char *id)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = stmt(self, Q_VOL_JOBS);
    if (!s)
        return arr;
    bind_text(s, 1, id);
    int64_t tickets[64];
    int n = 0;
    while (n < 64 && sqlite3_step(s) == SQLITE_ROW)
        tickets[n++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    for (int i = 0; i < n; i++) {
        cJSON *job = job_json(self, tickets[i]);
        if (job)
            cJSON_AddItemToArray(arr, job);
    }
    return arr;
}

int store_open_for(store_t *self, int category, const char *volunteer, const store_open_t *after,
                   store_open_t *out, int max)
{
    if (category < 0 || category >= self->cfg->category_count)
        return 0;
    sqlite3_stmt *s = stmt(self, Q_OPEN_QUEUE);
    if (!s)
        return -1;
    char actor[96];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    bind_text(s, 1, self->cfg->categories[category].name);
    bind_text(s, 2, actor);
    sqlite3_bind_int(s, 3, max);
    sqlite3_bind_int64(s, 4, after ? after->created_at : INT64_MIN);
    sqlite3_bind_int64(s, 5, after ? after->ticket : INT64_MIN);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW) {
        out[n].ticket = sqlite3_column_int64(s, 0);
        out[n].priority = sqlite3_column_int(s, 1);
        out[n].created_at = sqlite3_column_int64(s, 2);
        out[n].category = category;
        n++;
    }
    sqlite3_reset(s);
    return n;
}

int store_volunteer_claimed_since(store_t *self, const char *id, int64_t since)
{
    sqlite3_stmt *s = stmt(self, Q_CLAIMED_SINCE);
    if (!s)
        return -1;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, since);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_reset(s);
    return n;
}

cJSON *store_offer(store_t *self, int64_t ticket)
{
    sqlite3_stmt *s = stmt(self, Q_REQ_ROW);
    if (!s)
        return NULL;
    sqlite3_bind_int64(s, 1, ticket);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "ticket", (double)ticket);
    add_category(self, o, col_text(s, 2));
    bm_json_add_str(o, "building", col_text(s, 3));
    /* No unit and no contact: only the volunteer who claims it sees those. */
    bm_json_add_str(o, "text", col_text(s, 6));
    bm_json_add_time(o, "created_at", sqlite3_column_int64(s, 11));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(s, 10));
    sqlite3_reset(s);
    return o;
}

int store_request_category(store_t *self, int64_t ticket)
{
    sqlite3_stmt *s = stmt(self, Q_REQ_ROW);
    if (!s)
        return -2;
    sqlite3_bind_int64(s, 1, ticket);
    int rc = -2;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const bm_category_t *cat = bm_config_category(self->cfg, col_text(s, 2));
        rc = cat ? (int)(cat - self->cfg->categories) : -1;
    }
    sqlite3_reset(s);
    return rc;
}

int store_photo_count(store_t *self, int64_t ticket)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT count(*) FROM attachments WHERE request_id = ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
}

/* ---- outbox ------------------------------------------------------------ */

int store_take(store_t *self, int64_t now, int max, int64_t lease_ms, const char *taker, cJSON *arr)
{
    int before = cJSON_GetArraySize(arr);
    sqlite3_stmt *s = stmt(self, Q_TAKE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, max);
    int64_t ids[BM_MAX_TAKE];
    int n = 0;
    int step;
    while (n < max && n < BM_MAX_TAKE && (step = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *d = cJSON_CreateObject();
        ids[n] = sqlite3_column_int64(s, 0);
        cJSON_AddNumberToObject(d, "id", (double)ids[n]);
        bm_json_add_str(d, "msg_id", col_text(s, 1));
        bm_json_add_str(d, "url", col_text(s, 2));
        cJSON *secrets = cJSON_AddArrayToObject(d, "secrets");
        cJSON_AddItemToArray(secrets, cJSON_CreateString(col_text(s, 3)));
        if (col_text(s, 7)) /* a rotation is under way: sign with both */
            cJSON_AddItemToArray(secrets, cJSON_CreateString(col_text(s, 7)));
        bm_json_add_str(d, "type", col_text(s, 4));
        bm_json_add_str(d, "body", col_text(s, 5));
        cJSON_AddNumberToObject(d, "attempt", sqlite3_column_int(s, 6) + 1);
        cJSON_AddItemToArray(arr, d);
        n++;
    }
    sqlite3_reset(s);
    if (n > 0 && store_batch_begin(self, NULL) != 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        s = stmt(self, Q_LEASE);
        if (!s)
            goto fail;
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_int64(s, 2, now + lease_ms);
        bind_text(s, 3, taker ? taker : "");
        if (sqlite3_step(s) != SQLITE_DONE)
            goto fail;
    }
    return n;
fail:
    /* Nothing is handed out whose lease was not written. */
    while (cJSON_GetArraySize(arr) > before)
        cJSON_DeleteItemFromArray(arr, before);
    return -1;
}

int store_report(store_t *self, const store_result_t *r, const char *taker, int64_t now,
                 bm_error_t *err)
{
    sqlite3_stmt *s = stmt(self, Q_DELIVERY_STATE);
    if (!s) {
        db_error(self, err, "report");
        return -1;
    }
    sqlite3_bind_int64(s, 1, r->id);
    if (sqlite3_step(s) != SQLITE_ROW || strcmp(col_text(s, 0), "pending") != 0) {
        sqlite3_reset(s);
        return 0; /* unknown or already finished: a late duplicate report */
    }
    /* Only the notifier key that holds the delivery's lease, while it holds
     * it, may report on it: no other peer can mark a notice delivered. */
    const char *holder = col_text(s, 3);
    if (!holder || strcmp(holder, taker ? taker : "") != 0 || sqlite3_column_int64(s, 4) < now) {
        sqlite3_reset(s);
        return 1;
    }
    int attempts = sqlite3_column_int(s, 1) + 1; /* including this one */
    int64_t endpoint = sqlite3_column_int64(s, 2);
    sqlite3_reset(s);

    if (sp_begin(self, err) != 0)
        return -1;
    int rc = -1;
    char error[300];
    if (r->error)
        snprintf(error, sizeof error, "%s", r->error);
    else if (r->status)
        snprintf(error, sizeof error, "HTTP %d", r->status);
    else
        snprintf(error, sizeof error, "failed");
    s = stmt(self, Q_ATTEMPT_INSERT);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int64(s, 2, now);
    if (r->status)
        sqlite3_bind_int(s, 3, r->status);
    sqlite3_bind_int64(s, 4, r->latency_ms);
    if (!r->ok)
        bind_text(s, 5, error);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;

    if (r->ok) {
        s = stmt(self, Q_DELIVERED);
        if (!s)
            goto out;
        sqlite3_bind_int64(s, 1, r->id);
        sqlite3_bind_int64(s, 2, now);
    } else if (r->gone || r->permanent || attempts >= self->cfg->retry_count) {
        if (r->gone) {
            s = stmt(self, Q_ENDPOINT_DISABLE);
            if (!s)
                goto out;
            sqlite3_bind_int64(s, 1, endpoint);
            if (sqlite3_step(s) != SQLITE_DONE)
                goto out;
            snprintf(error, sizeof error, "endpoint answered 410 Gone and was disabled");
        }
        s = stmt(self, Q_DEAD);
        if (!s)
            goto out;
        sqlite3_bind_int64(s, 1, r->id);
        bind_text(s, 2, error);
        sqlite3_bind_int64(s, 3, now);
    } else {
        /* Exponential schedule with up to 10% jitter, never sooner than Retry-After. */
        int64_t delay_ms = (int64_t)self->cfg->retry_schedule_s[attempts] * 1000;
        uint32_t rnd = 0;
        bm_random_bytes(&rnd, sizeof rnd);
        if (delay_ms > 0)
            delay_ms += (int64_t)(rnd % (uint32_t)(delay_ms / 10 + 1));
        if (r->retry_after_s > 0 && r->retry_after_s * 1000 > delay_ms)
            delay_ms = r->retry_after_s * 1000;
        s = stmt(self, Q_RETRY);
        if (!s)
            goto out;
        sqlite3_bind_int64(s, 1, r->id);
        bind_text(s, 2, error);
        sqlite3_bind_int64(s, 3, now + delay_ms);
    }
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
out:
    if (rc != 0)
        db_error(self, err, "report");
    return sp_end(self, rc, err);
}

int64_t store_next_due(store_t *self)
{
    sqlite3_stmt *s = stmt(self, Q_NEXT_DUE);
    int64_t at = INT64_MAX;
    if (s && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        at = sqlite3_column_int64(s, 0);
    if (s)
        sqlite3_reset(s);
    return at;
}

/* ---- queries for the office --------------------------------------------- */

/* A WHERE clause built from fixed fragments, each with at most one bound
 * value: user input never becomes SQL text. */
typedef struct {
    char sql[1024];
    struct {
        const char *text; /* NULL: bind num */
        int64_t num;
    } vals[16];
    int n;
} where_t;

static void where_add(where_t *w, const char *frag, const char *text, int64_t num, bool bound)
{
    if (!w->sql[0])
        bm_strlcpy(w->sql, "WHERE 1", sizeof w->sql);
    bm_strlcpy(w->sql + strlen(w->sql), frag, sizeof w->sql - strlen(w->sql));
    if (bound && w->n < 16) {
        w->vals[w->n].text = text;
        w->vals[w->n].num = num;
        w->n++;
    }
}

/* Adds frag with a text value, if there is one. */
static void where_text(where_t *w, const char *frag, const char *v)
{
    if (v)
        where_add(w, frag, v, 0, true);
}

/* Adds frag with a number value, if it is not 0. */
static void where_num(where_t *w, const char *frag, int64_t v)
{
    if (v)
        where_add(w, frag, NULL, v, true);
}

/* Binds the clause's values from parameter 1 on; returns the next index. */
static int where_bind(const where_t *w, sqlite3_stmt *s)
{
    for (int i = 0; i < w->n; i++) {
        if (w->vals[i].text)
            bind_text(s, i + 1, w->vals[i].text);
        else
            sqlite3_bind_int64(s, i + 1, w->vals[i].num);
    }
    return w->n + 1;
}

/* A filtered, paged listing: count_sql and page_sql are completed by the
 * WHERE clause (page_sql also by page_tail, which holds the LIMIT ? OFFSET ?
 * placeholders); row() turns each row into an object. *out becomes
 * {key: [...], "total", "limit", "offset"}. */
static int paged(store_t *self, const char *what, const char *count_sql, const char *page_sql,
                 const char *page_tail, const where_t *w, int limit, int offset, const char *key,
                 void (*row)(store_t *, cJSON *, sqlite3_stmt *), cJSON **out, bm_error_t *err)
{
    *out = NULL;
    const char *clause = w->sql[0] ? w->sql : "";
    char sql[3072];
    sqlite3_stmt *count = NULL, *rows = NULL;
    cJSON *root = NULL;
    int rc = -1;
    snprintf(sql, sizeof sql, "%s %s", count_sql, clause);
    if (sqlite3_prepare_v2(self->db, sql, -1, &count, NULL) != SQLITE_OK)
        goto out;
    snprintf(sql, sizeof sql, "%s %s %s", page_sql, clause, page_tail);
    if (sqlite3_prepare_v2(self->db, sql, -1, &rows, NULL) != SQLITE_OK)
        goto out;
    where_bind(w, count);
    int next = where_bind(w, rows);
    sqlite3_bind_int(rows, next, limit);
    sqlite3_bind_int(rows, next + 1, offset);
    if (sqlite3_step(count) != SQLITE_ROW)
        goto out;
    root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, key);
    int step;
    while ((step = sqlite3_step(rows)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        row(self, o, rows);
        cJSON_AddItemToArray(arr, o);
    }
    if (step != SQLITE_DONE)
        goto out;
    cJSON_AddNumberToObject(root, "total", (double)sqlite3_column_int64(count, 0));
    cJSON_AddNumberToObject(root, "limit", limit);
    cJSON_AddNumberToObject(root, "offset", offset);
    *out = root;
    root = NULL;
    rc = 0;
out:
    if (rc != 0)
        db_error(self, err, what);
    cJSON_Delete(root);
    sqlite3_finalize(count);
    sqlite3_finalize(rows);
    return rc;
}

static void list_row(store_t *self, cJSON *o, sqlite3_stmt *rows)
{
    cJSON_AddNumberToObject(o, "ticket", (double)sqlite3_column_int64(rows, 0));
    bm_json_add_str(o, "status", col_text(rows, 1));
    add_category(self, o, col_text(rows, 2));
    bm_json_add_str(o, "channel", col_text(rows, 3));
    bm_json_add_str(o, "building", col_text(rows, 4));
    bm_json_add_str(o, "unit", col_text(rows, 5));
    bm_json_add_str(o, "text", col_text(rows, 6));
    add_volunteer(o, col_text(rows, 7), col_text(rows, 8));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(rows, 9));
    cJSON_AddBoolToObject(o, "overdue", sqlite3_column_int(rows, 10) != 0);
    bm_json_add_time(o, "created_at", col_i64(rows, 11));
    bm_json_add_time(o, "updated_at", col_i64(rows, 12));
}

int store_list(store_t *self, const store_filter_t *f, cJSON **out, bm_error_t *err)
{
    where_t w = {0};
    where_text(&w, " AND r.status = ?", f->status);
    where_text(&w, " AND r.category = ?", f->category);
    where_text(&w, " AND r.channel = ?", f->channel);
    where_text(&w, " AND r.volunteer_id = ?", f->volunteer);
    where_text(&w, " AND instr(r.building, ?) > 0", f->building);
    where_num(&w, " AND r.created_at >= ?", f->since);
    where_num(&w, " AND r.created_at < ?", f->until);
    if (f->overdue)
        where_add(&w, " AND r.overdue != 0", NULL, 0, false);
    /* The page's ids first (narrow index rows), then the wide rows. */
    return paged(self, "list", "SELECT count(*) FROM requests r",
                 "SELECT r.id, r.status, r.category, r.channel, r.building, r.unit, r.text,"
                 " r.volunteer_id, v.name, r.attempts, r.overdue, r.created_at, r.updated_at"
                 " FROM requests r LEFT JOIN volunteers v ON v.id = r.volunteer_id"
                 " WHERE r.id IN (SELECT r.id FROM requests r",
                 "ORDER BY r.created_at DESC, r.id DESC LIMIT ? OFFSET ?)"
                 " ORDER BY r.created_at DESC, r.id DESC",
                 &w, f->limit, f->offset, "requests", list_row, out, err);
}

cJSON *store_volunteers(store_t *self)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT v.id, v.name, v.skills, v.max_jobs, v.last_seen,"
                           " (SELECT group_concat(r.id) FROM requests r"
                           "   WHERE r.volunteer_id = v.id AND r.status = 'claimed')"
                           " FROM volunteers v ORDER BY v.id",
                           -1, &s, NULL) != SQLITE_OK)
        return arr;
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        bm_json_add_str(o, "id", col_text(s, 0));
        bm_json_add_str(o, "name", col_text(s, 1));
        cJSON *skills = cJSON_AddArrayToObject(o, "skills");
        char buf[BM_MAX_CATEGORIES * 33];
        bm_strlcpy(buf, col_text(s, 2) ? col_text(s, 2) : "", sizeof buf);
        for (char *p = buf, *comma; *p; p = comma + 1) {
            comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            cJSON_AddItemToArray(skills, cJSON_CreateString(p));
            if (!comma)
                break;
        }
        cJSON_AddNumberToObject(o, "max_jobs", sqlite3_column_int(s, 3));
        bm_json_add_time(o, "last_seen", col_i64(s, 4));
        cJSON *jobs = cJSON_AddArrayToObject(o, "jobs");
        const char *ids = col_text(s, 5);
        for (const char *p = ids; p && *p;) {
            char *end = NULL;
            long long t = strtoll(p, &end, 10);
            if (end == p)
                break;
            cJSON_AddItemToArray(jobs, cJSON_CreateNumber((double)t));
            p = *end == ',' ? end + 1 : end;
        }
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(s);
    return arr;
}

/* ---- the operators' view of the outbox ----------------------------------- */

static void add_delivery_row(cJSON *o, sqlite3_stmt *s)
{
    /* columns: id, msg_id, type, state, attempts, last_error, next_at, created_at, done_at,
     * request_id, endpoint_id, url, endpoint name */
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(s, 0));
    bm_json_add_str(o, "msg_id", col_text(s, 1));
    bm_json_add_str(o, "type", col_text(s, 2));
    bm_json_add_str(o, "state", col_text(s, 3));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(s, 4));
    bm_json_add_str(o, "last_error", col_text(s, 5));
    bm_json_add_time(o, "next_at", strcmp(col_text(s, 3), "pending") == 0 ? col_i64(s, 6) : 0);
    bm_json_add_time(o, "created_at", col_i64(s, 7));
    bm_json_add_time(o, "done_at", col_i64(s, 8));
    if (sqlite3_column_type(s, 9) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "ticket");
    else
        cJSON_AddNumberToObject(o, "ticket", (double)sqlite3_column_int64(s, 9));
    cJSON_AddNumberToObject(o, "endpoint", (double)sqlite3_column_int64(s, 10));
    bm_json_add_str(o, "url", col_text(s, 11));
    bm_json_add_str(o, "endpoint_name", col_text(s, 12));
}

#define DELIVERY_COLS                                                                        \
    "d.id, d.msg_id, d.type, d.state, d.attempts, d.last_error, d.next_at, d.created_at,"    \
    " d.done_at, d.request_id, d.endpoint_id, e.url, e.name"

static void delivery_row(store_t *self, cJSON *o, sqlite3_stmt *s)
{
    (void)self;
    add_delivery_row(o, s);
}

int store_deliveries(store_t *self, const store_delivery_filter_t *f, cJSON **out, bm_error_t *err)
{
    where_t w = {0};
    where_text(&w, " AND d.state = ?", f->state);
    where_num(&w, " AND d.endpoint_id = ?", f->endpoint);
    where_num(&w, " AND d.request_id = ?", f->ticket);
    where_num(&w, " AND d.created_at >= ?", f->since);
    return paged(self, "deliveries", "SELECT count(*) FROM deliveries d",
                 "SELECT " DELIVERY_COLS " FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id",
                 "ORDER BY d.id DESC LIMIT ? OFFSET ?", &w, f->limit, f->offset, "deliveries",
                 delivery_row, out, err);
}

int store_delivery(store_t *self, int64_t id, cJSON **out, bm_error_t *err)
{
    *out = NULL;
    sqlite3_stmt *s = NULL, *a = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT " DELIVERY_COLS ", d.body FROM deliveries d"
                           " JOIN endpoints e ON e.id = d.endpoint_id WHERE d.id = ?1",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db,
                           "SELECT at, status, latency_ms, error FROM delivery_attempts"
                           " WHERE delivery_id = ?1 ORDER BY id",
                           -1, &a, NULL) != SQLITE_OK) {
        db_error(self, err, "delivery");
        goto out;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(a, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "id", "没有编号为 %lld 的投递记录 / no delivery with id %lld", (long long)id, (long long)id);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    add_delivery_row(o, s);
    bm_json_add_str(o, "body", col_text(s, 13));
    cJSON *attempts = cJSON_AddArrayToObject(o, "attempt_log");
    while (sqlite3_step(a) == SQLITE_ROW) {
        cJSON *x = cJSON_CreateObject();
        bm_json_add_time(x, "at", col_i64(a, 0));
        if (sqlite3_column_type(a, 1) == SQLITE_NULL)
            cJSON_AddNullToObject(x, "status");
        else
            cJSON_AddNumberToObject(x, "status", sqlite3_column_int(a, 1));
        cJSON_AddNumberToObject(x, "latency_ms", (double)col_i64(a, 2));
        bm_json_add_str(x, "error", col_text(a, 3));
        cJSON_AddItemToArray(attempts, x);
    }
    *out = o;
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_finalize(a);
    return rc;
}

int store_replay(store_t *self, int64_t id, int64_t dead_since, int64_t now, bm_error_t *err)
{
    /* A replayed delivery keeps its msg_id (receivers may deduplicate) and
     * starts the retry schedule again; its attempt log stays. */
    sqlite3_stmt *s = NULL;
    int rc = -1;
    const char *sql = id ? "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?3,"
                           " done_at = NULL WHERE id = ?1 AND state IN ('dead', 'delivered')"
                         : "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?3,"
                           " done_at = NULL WHERE state = 'dead' AND done_at >= ?2";
    if (sp_begin(self, err) != 0)
        return -1;
    if (sqlite3_prepare_v2(self->db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (id)
            sqlite3_bind_int64(s, 1, id);
        else
            sqlite3_bind_int64(s, 2, dead_since);
        sqlite3_bind_int64(s, 3, now);
        if (sqlite3_step(s) == SQLITE_DONE)
            rc = sqlite3_changes(self->db);
    }
    sqlite3_finalize(s);
    if (rc < 0)
        db_error(self, err, "replay");
    if (sp_end(self, rc < 0 ? -1 : 0, err) != 0)
        return -1;
    if (rc == 0 && id) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "id",
                     "delivery %lld does not exist or is still pending; only dead or delivered "
                     "ones can be replayed", (long long)id);
        return -1;
    }
    return rc;
}

cJSON *store_endpoints(store_t *self)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT e.id, e.kind, e.name, e.url, e.enabled, e.events, e.department,"
                           " e.old_until,"
                           " (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending'),"
                           " (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'dead'),"
                           " (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'delivered')"
                           " FROM endpoints e ORDER BY e.kind DESC, e.id",
                           -1, &s, NULL) != SQLITE_OK)
        return arr;
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(s, 0));
        bm_json_add_str(o, "kind", col_text(s, 1));
        bm_json_add_str(o, "name", col_text(s, 2));
        bm_json_add_str(o, "url", col_text(s, 3));
        cJSON_AddBoolToObject(o, "enabled", sqlite3_column_int(s, 4) != 0);
        bm_json_add_str(o, "events", col_text(s, 5));
        bm_json_add_str(o, "department", col_text(s, 6));
        bm_json_add_time(o, "rotation_until", col_i64(s, 7) > bm_now_ms() ? col_i64(s, 7) : 0);
        cJSON_AddNumberToObject(o, "pending", sqlite3_column_int(s, 8));
        cJSON_AddNumberToObject(o, "dead", sqlite3_column_int(s, 9));
        cJSON_AddNumberToObject(o, "delivered", sqlite3_column_int(s, 10));
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(s);
    return arr;
}

int store_endpoint_set(store_t *self, int64_t id, const char *action, const char *new_secret,
                       int64_t now, int64_t overlap_ms, bm_error_t *err)
{
    const char *sql;
    if (strcmp(action, "disable") == 0)
        sql = "UPDATE endpoints SET enabled = 0 WHERE id = ?1";
    else if (strcmp(action, "enable") == 0)
        sql = "UPDATE endpoints SET enabled = 1 WHERE id = ?1";
    else if (strcmp(action, "rotate") == 0)
        sql = "UPDATE endpoints SET old_secret = secret, old_until = ?3, secret = ?2"
              " WHERE id = ?1 AND kind = 'callback'";
    else {
        bm_error_set(err, BM_ERR_INVALID, "action", "操作只能是 disable（停用）、enable（启用）或 rotate（更换密钥） / action must be disable, enable or rotate");
        return -1;
    }
    if (sp_begin(self, err) != 0)
        return -1;
    sqlite3_stmt *s = NULL;
    int changed = -1;
    if (sqlite3_prepare_v2(self->db, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        if (new_secret)
            bind_text(s, 2, new_secret);
        sqlite3_bind_int64(s, 3, now + overlap_ms);
        if (sqlite3_step(s) == SQLITE_DONE)
            changed = sqlite3_changes(self->db);
    }
    sqlite3_finalize(s);
    if (changed < 0)
        db_error(self, err, "endpoint");
    else if (changed == 0 && strcmp(action, "rotate") == 0)
        bm_error_set(err, BM_ERR_NOT_FOUND, "id",
                     "no callback endpoint with id %lld (a subscription's secret is rotated by "
                     "changing it in the config: the old one is still signed with for a while)",
                     (long long)id);
    else if (changed == 0)
        bm_error_set(err, BM_ERR_NOT_FOUND, "id", "没有编号为 %lld 的回调地址 / no endpoint with id %lld", (long long)id, (long long)id);
    if (sp_end(self, changed == 1 ? 0 : -1, err) != 0)
        return -1;
    return 0;
}
