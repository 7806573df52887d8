/* store.c - see store.h. The core of the store: opening and migrating the
 * database, the prepared statements (every statement the store's files run
 * is in sql_text below), the batch transaction with its savepoints and
 * failure checks, the commit, checkpoints and the file's identity. The
 * concepts live in store_request.c, store_lifecycle.c, store_dispatch.c,
 * store_events.c, store_outbox.c and store_query.c, over store_int.h. */
#include "store_int.h"
#include "archive.h"
#include "migrations.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#define STORE_STR_(x) #x
#define STORE_STR(x) STORE_STR_(x)

/* How often a broker whose database file is gone says so again in the log. */
#define FILE_LOST_LOG_MS 60000

static const char *const sql_text[Q_COUNT] = {
    [Q_REF_LOOKUP] = "SELECT id FROM requests WHERE channel = ?1 AND ref = ?2",
    [Q_ENDPOINT_FIND] = "SELECT id FROM endpoints WHERE url = ?1 AND name = ?2 AND kind = 'callback'",
    [Q_ENDPOINT_ADD] =
        "INSERT INTO endpoints(url, name, secret, kind, created_at) VALUES (?1, ?2, ?3, 'callback', ?4)",
    [Q_REQ_INSERT] =
        "INSERT INTO requests(channel, ref, category, priority, building, unit, contact, text,"
        " endpoint_id, status, offer_due_at, deadline_at, created_at, updated_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,'open',?11,?12,?10,?10)"
        " ON CONFLICT(channel, ref) WHERE ref IS NOT NULL DO NOTHING",
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
        " offer_due_at, deadline_at, attempts, overdue, department, endpoint_id FROM requests"
        " WHERE id = ?1",
    [Q_CLAIM_CHECK] =
        "SELECT (SELECT count(*) FROM requests WHERE volunteer_id = ?1 AND status = 'claimed'),"
        " EXISTS (SELECT 1 FROM volunteers WHERE id = ?1)",
    [Q_EXCLUDED] =
        "SELECT 1 FROM events WHERE request_id = ?1 AND actor = ?2 AND kind IN ('declined', 'failed')"
        " LIMIT 1",
    [Q_LEASE_DUE] =
        "SELECT id, volunteer_id FROM requests INDEXED BY requests_lease"
        " WHERE status = 'claimed' AND lease_until <= ?1"
        " ORDER BY lease_until LIMIT ?2",
    /* The overdue sweep: due_at (schema/008_lifecycle.sql) is the earlier of
     * the request's still unmarked offer and deadline times, NULL when none. */
    [Q_OVERDUE_DUE] =
        "SELECT id, status, overdue, offer_due_at, deadline_at FROM requests INDEXED BY requests_due"
        " WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2",
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
        "SELECT at, actor, kind, from_status, to_status, detail FROM timeline"
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

/* ---- plumbing ---------------------------------------------------------- */

void st_db_error(store_t *self, bm_error_t *err, const char *what)
{
    log_error("sqlite: %s: %s", what, sqlite3_errmsg(self->db));
    bm_error_set(err, BM_ERR_STORAGE, NULL, "数据库拒绝了这次修改（%s），什么都没有记录 / the database refused the "
                 "change (%s); nothing was recorded",
                 sqlite3_errmsg(self->db), sqlite3_errmsg(self->db));
}

/* Resets every cached statement still on a row: one left so would keep a
 * read snapshot open after the commit, and no checkpoint could then copy
 * the WAL past it (the WAL would only grow). */
void st_reset_all(store_t *self)
{
    for (int i = 0; i < Q_COUNT; i++) {
        if (self->stmts[i] && sqlite3_stmt_busy(self->stmts[i]))
            sqlite3_reset(self->stmts[i]);
    }
}

/* Returns the cached prepared statement for q, reset and with bindings cleared. */
sqlite3_stmt *st_stmt(store_t *self, query_id_t q)
{
    if (st_batch_gone(self))
        return NULL; /* never run anything outside the batch it belongs to */
    sqlite3_stmt *s = self->stmts[q];
    if (!s) {
        if (sqlite3_prepare_v3(self->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            log_error("数据库语句准备失败 / sqlite: prepare %d: %s", (int)q, sqlite3_errmsg(self->db));
            return NULL;
        }
        self->stmts[q] = s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Adds "category", "category_label" and "urgent" for a stored category name. */
void st_add_category(store_t *self, cJSON *o, const char *category)
{
    const bm_category_t *cat = category ? bm_config_category(self->cfg, category) : NULL;
    bm_json_add_str(o, "category", category);
    bm_json_add_str(o, "category_label", cat ? cat->label : category);
    cJSON_AddBoolToObject(o, "urgent", cat && cat->urgent);
}

/* Adds "volunteer": {"id", "name"}, or null when nobody holds the request. */
void st_add_volunteer(cJSON *o, const char *id, const char *name)
{
    if (!id) {
        cJSON_AddNullToObject(o, "volunteer");
        return;
    }
    cJSON *vol = cJSON_AddObjectToObject(o, "volunteer");
    bm_json_add_str(vol, "id", id);
    bm_json_add_str(vol, "name", name);
}

int st_exec(store_t *self, const char *sql)
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
    sqlite3_stmt *s = st_stmt(self, q);
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
        st_exec(self, "ROLLBACK");
}

/* True if the batch is lost; notices a transaction SQLite rolled back. */
bool st_batch_gone(store_t *self)
{
    if (self->in_batch && !self->batch_lost && sqlite3_get_autocommit(self->db))
        batch_lose(self, "transaction no longer open");
    return self->batch_lost;
}

void st_lost_error(store_t *self, bm_error_t *err)
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

/* Operations without a savepoint, for writes whose checks beforehand
 * guarantee that their statements succeed (submit). Nothing is undone
 * statement by statement, so a failure half way would leave part of the
 * operation in the batch: any failure gives up the whole batch instead (every
 * acknowledgement of the pass becomes storage_error; nothing of it commits).
 * Saves a savepoint's begin and release and the statement journal's copies of
 * every page the operation touches. */
int st_direct_begin(store_t *self, bm_error_t *err)
{
    if (!self->in_batch && store_batch_begin(self, err) != 0)
        return -1;
    if (st_batch_gone(self)) {
        st_lost_error(self, err);
        return -1;
    }
    return 0;
}

int st_direct_end(store_t *self, int rc, const char *what, bm_error_t *err)
{
    if (rc != 0 || st_batch_gone(self)) {
        batch_lose(self, what);
        st_lost_error(self, err);
        return -1;
    }
    return 0;
}

/* Savepoints: each operation is all or nothing inside the batch. A
 * savepoint is only ever opened inside the batch's transaction. */
int st_sp_begin(store_t *self, bm_error_t *err)
{
    if (!self->in_batch && store_batch_begin(self, err) != 0)
        return -1;
    if (st_batch_gone(self)) {
        st_lost_error(self, err);
        return -1;
    }
    if (run(self, Q_SP_BEGIN) != 0) {
        if (st_batch_gone(self))
            st_lost_error(self, err);
        else
            st_db_error(self, err, "savepoint");
        return -1;
    }
    return 0;
}

/* Ends an operation's savepoint: undone if rc != 0, kept otherwise. Every
 * ROLLBACK TO and RELEASE is checked; if either fails, or the transaction is
 * gone, the whole batch is lost and -1 returned (err set). */
int st_sp_end(store_t *self, int rc, bm_error_t *err)
{
    if (st_batch_gone(self)) {
        st_lost_error(self, err);
        return -1;
    }
    if (rc != 0 && run(self, Q_SP_ROLLBACK) != 0) {
        batch_lose(self, "rollback to savepoint");
        st_lost_error(self, err);
        return -1;
    }
    if (run(self, Q_SP_RELEASE) != 0 || st_batch_gone(self)) {
        batch_lose(self, "release savepoint");
        st_lost_error(self, err);
        return -1;
    }
    return rc;
}

int store_op_begin(store_t *self, bm_error_t *err)
{
    return st_sp_begin(self, err);
}

int store_op_end(store_t *self, bool ok, bm_error_t *err)
{
    int rc = st_sp_end(self, ok ? 0 : -1, err);
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
    if (self->in_batch)
        return;
    st_reset_all(self); /* COMMIT ends the snapshot only if nothing still steps */
    if (!sqlite3_get_autocommit(self->db))
        run(self, Q_READ_END);
}

/* ---- open, migrate ----------------------------------------------------- */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames);

static int migrate(store_t *self, int *applied, bm_error_t *err)
{
    int version = store_schema_version(self);
    if (version < 0) {
        st_db_error(self, err, "read user_version");
        return -1;
    }
    if (version > bm_migration_count) {
        bm_error_set(err, BM_ERR_STORAGE, NULL,
                     "数据库的结构版本是 %d，比这个 bianmin 认识的 (%d) 新：它是新版本写的，请运行那个版本或更新的 / "
                     "the database has schema version %d, newer than this bianmin knows (%d): "
                     "it was written by a newer release; run that release or a newer one",
                     version, bm_migration_count, version, bm_migration_count);
        return -1;
    }
    for (int i = version; i < bm_migration_count; i++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", i + 1);
        if (st_exec(self, "BEGIN IMMEDIATE") != 0 || st_exec(self, bm_migrations[i].sql) != 0 ||
            st_exec(self, pragma) != 0 || st_exec(self, "COMMIT") != 0) {
            bm_error_set(err, BM_ERR_STORAGE, NULL, "数据库升级 %s 失败 / migration %s failed: %s",
                         bm_migrations[i].name, bm_migrations[i].name, sqlite3_errmsg(self->db));
            st_exec(self, "ROLLBACK");
            return -1;
        }
        log_info("数据库已升级 / database migrated to schema %d (%s)", i + 1, bm_migrations[i].name);
        (*applied)++;
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

/* Opens the connection and sets it up. WAL: readers (the CLI's exports)
 * never block the broker; synchronous=FULL: a commit is on disk before
 * anything is acknowledged. Returns 0 or -1 with err set. */
static int connect_db(store_t *self, bm_error_t *err)
{
    const char *path = self->path;
    /* NOMUTEX: only the broker's loop thread uses this connection (the metrics
     * listener has its own), so SQLite's per-call mutexes are pure cost. */
    if (sqlite3_open_v2(path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        st_vfs_name()) != SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "无法打开数据库 %s：%s / cannot open database %s: %s", path,
                     self->db ? sqlite3_errmsg(self->db) : "内存不足", path,
                     self->db ? sqlite3_errmsg(self->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(self->db, 5000);
    sqlite3_extended_result_codes(self->db, 1);
    char *mode = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        mode = strdup(st_col_text(s, 0) ? st_col_text(s, 0) : "");
    sqlite3_finalize(s);
    if (!mode || strcmp(mode, "wal") != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "无法把 %s 切换到 WAL 模式（%s）/ cannot switch %s to WAL mode (%s)", path,
                     sqlite3_errmsg(self->db), path, sqlite3_errmsg(self->db));
        free(mode);
        return -1;
    }
    free(mode);
    if (st_exec(self, "PRAGMA synchronous = FULL") != 0 || st_exec(self, "PRAGMA foreign_keys = ON") != 0 ||
        st_exec(self, "PRAGMA temp_store = MEMORY") != 0 ||
        st_exec(self, "PRAGMA journal_size_limit = " STORE_STR(STORE_WAL_LIMIT_BYTES)) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "无法设置 %s 的参数：%s / cannot set pragmas on %s: %s", path,
                     sqlite3_errmsg(self->db), path, sqlite3_errmsg(self->db));
        return -1;
    }
    return 0;
}

void store_library_init(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        log_debug("sqlite: already initialised; memory statistics stay on");
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
    int applied = 0;
    if (connect_db(self, err) != 0 || migrate(self, &applied, err) != 0)
        goto fail;
    /* A migration may have rewritten a table's definition (005 does, through
     * writable_schema), which this connection would not re-read by itself. */
    if (applied > 0) {
        sqlite3_close(self->db);
        self->db = NULL;
        if (connect_db(self, err) != 0)
            goto fail;
        /* 005 rewrites the status check only if its text is the one 001 made. */
        sqlite3_stmt *chk = NULL;
        if (sqlite3_prepare_v2(self->db,
                               "SELECT instr(sql, 'status IN') FROM sqlite_master WHERE type = 'table'"
                               " AND name = 'requests'",
                               -1, &chk, NULL) == SQLITE_OK &&
            sqlite3_step(chk) == SQLITE_ROW && sqlite3_column_int(chk, 0) > 0)
            log_warn("requests 表的状态检查仍是 IN 列表（定义被改过？），每次写入会慢一些 / the status check "
                     "of table requests is still an IN list (its definition was edited?): every "
                     "write of a request costs a temporary b-tree");
        sqlite3_finalize(chk);
    }
    if (st_sync_subscriptions(self, err) != 0)
        goto fail;
    /* The newest request's time: created_at never goes back in ticket order
     * (store_submit), so lists and time ranges can go by ticket. */
    sqlite3_stmt *newest = NULL;
    if (sqlite3_prepare_v2(self->db, "SELECT created_at FROM requests ORDER BY id DESC LIMIT 1", -1,
                           &newest, NULL) == SQLITE_OK &&
        sqlite3_step(newest) == SQLITE_ROW)
        self->last_created = sqlite3_column_int64(newest, 0);
    sqlite3_finalize(newest);
    struct stat st;
    if (stat(path, &st) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "读不到数据库 %s 的信息 / cannot stat database %s: %s", path, path,
                     strerror(errno));
        goto fail;
    }
    self->dev = st.st_dev;
    self->ino = st.st_ino;
    sqlite3_commit_hook(self->db, commit_hook, self);
    sqlite3_wal_hook(self->db, wal_hook, self); /* replaces the automatic checkpoint */
    self->ckpt.ask_frames = STORE_CHECKPOINT_FRAMES;
    self->ckpt.restart_frames = STORE_WAL_RESTART_FRAMES;
    st_ckpt_start(self); /* on failure the loop checkpoints itself (logged) */
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
    st_ckpt_stop(self);
    if (self->in_batch)
        store_batch_rollback(self);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(self->stmts[i]);
    st_act_close(self);
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
        if (!st_batch_gone(self))
            return 0;
        st_lost_error(self, err);
        return -1;
    }
    if (self->file_lost) {
        file_same(self); /* the periodic loud reminder */
        st_lost_error(self, err);
        return -1;
    }
    if (st_exec(self, "BEGIN IMMEDIATE") != 0) {
        st_db_error(self, err, "begin");
        return -1;
    }
    self->in_batch = true;
    self->batch_lost = false;
    return 0;
}

/* Records the WAL's size after each commit; the checkpoint runs outside the
 * commit, in its own thread (store_checkpoint.c), so that its failure (a full
 * disk) can never be taken for a failed commit, and its time never delays an
 * acknowledgement or the next pass. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((store_t *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

int store_batch_commit(store_t *self, bm_error_t *err)
{
    if (!self->in_batch)
        return 0;
    bool lost = st_batch_gone(self);
    bool same = file_same(self);
    self->in_batch = false;
    self->batch_lost = false;
    if (lost || !same) {
        st_lost_error(self, err);
        if (!sqlite3_get_autocommit(self->db))
            st_exec(self, "ROLLBACK");
        return -1;
    }
    st_reset_all(self);
    if (sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        st_db_error(self, err, "commit");
        if (!sqlite3_get_autocommit(self->db))
            st_exec(self, "ROLLBACK");
        return -1;
    }
    if (!file_same(self)) {
        /* Removed while we committed: what was written is in a file nobody
         * will open again, so it is not acknowledged. */
        st_lost_error(self, err);
        return -1;
    }
    return 0;
}

void store_batch_rollback(store_t *self)
{
    if (!self->in_batch)
        return;
    self->in_batch = false;
    self->batch_lost = false;
    if (!sqlite3_get_autocommit(self->db))
        st_exec(self, "ROLLBACK");
}

bool store_in_batch(store_t *self)
{
    return self->in_batch;
}

bool store_batch_failed(store_t *self)
{
    return st_batch_gone(self);
}

void store_fail_commits(store_t *self, int n)
{
    self->fail_commits = n;
}

void store_set_checkpoint_frames(store_t *self, int ask, int restart)
{
    self->ckpt.ask_frames = ask;
    self->ckpt.restart_frames = restart;
}