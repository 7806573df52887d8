/* store.c - see store.h. SQL lives here and nowhere else. */
#include "store.h"
#include "jsonx.h"
#include "log.h"
#include "migrations.h"
#include "util.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    Q_REF_LOOKUP,
    Q_ENDPOINT_FIND,
    Q_ENDPOINT_ADD,
    Q_REQ_INSERT,
    Q_EVENT_INSERT,
    Q_REQ_NOTICE_INFO,
    Q_DELIVERY_INSERT,
    Q_REQ_STATE,
    Q_HELD,
    Q_CLAIM,
    Q_DONE,
    Q_VOL_UPSERT,
    Q_VOL_SEEN,
    Q_OPEN_QUEUE,
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
    [Q_ENDPOINT_FIND] = "SELECT id FROM endpoints WHERE url = ?1",
    [Q_ENDPOINT_ADD] = "INSERT INTO endpoints(url, secret, kind, created_at) VALUES (?1, ?2, 'callback', ?3)",
    [Q_REQ_INSERT] =
        "INSERT INTO requests(channel, ref, category, priority, building, unit, contact, text,"
        " endpoint_id, status, created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,'open',?10,?10)",
    [Q_EVENT_INSERT] =
        "INSERT INTO events(request_id, at, actor, kind, from_status, to_status, detail)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7)",
    [Q_REQ_NOTICE_INFO] =
        "SELECT r.category, r.building, r.status, r.endpoint_id, v.name FROM requests r"
        " LEFT JOIN volunteers v ON v.id = r.volunteer_id WHERE r.id = ?1",
    [Q_DELIVERY_INSERT] =
        "INSERT INTO deliveries(msg_id, endpoint_id, request_id, event_id, type, body, next_at, created_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?7)",
    [Q_REQ_STATE] = "SELECT status, volunteer_id FROM requests WHERE id = ?1",
    [Q_HELD] = "SELECT count(*) FROM requests WHERE volunteer_id = ?1 AND status = 'claimed'",
    [Q_CLAIM] =
        "UPDATE requests SET status = 'claimed', volunteer_id = ?2, lease_until = ?3,"
        " claimed_at = ?4, updated_at = ?4 WHERE id = ?1 AND status = 'open'",
    [Q_DONE] =
        "UPDATE requests SET status = 'done', lease_until = NULL, done_at = ?3, updated_at = ?3"
        " WHERE id = ?1 AND status = 'claimed' AND volunteer_id = ?2",
    [Q_VOL_UPSERT] =
        "INSERT INTO volunteers(id, name, skills, max_jobs, first_seen, last_seen)"
        " VALUES (?1,?2,?3,?4,?5,?5) ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
        " skills = excluded.skills, max_jobs = excluded.max_jobs, last_seen = excluded.last_seen",
    [Q_VOL_SEEN] = "UPDATE volunteers SET last_seen = ?2 WHERE id = ?1",
    [Q_OPEN_QUEUE] =
        "SELECT id, category FROM requests WHERE status = 'open'"
        " ORDER BY priority DESC, created_at, id LIMIT ?1",
    [Q_REQ_ROW] =
        "SELECT r.id, r.channel, r.category, r.building, r.unit, r.contact, r.text, r.status,"
        " r.volunteer_id, v.name, r.attempts, r.created_at, r.updated_at, r.claimed_at, r.done_at,"
        " r.lease_until, r.ref FROM requests r LEFT JOIN volunteers v ON v.id = r.volunteer_id"
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
        "SELECT d.id, d.msg_id, e.url, e.secret, d.type, d.body, d.attempts FROM deliveries d"
        " JOIN endpoints e ON e.id = d.endpoint_id"
        " WHERE d.state = 'pending' AND d.next_at <= ?1 AND e.enabled = 1"
        " AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.state = 'pending'"
        "   AND p.endpoint_id = d.endpoint_id AND p.request_id IS d.request_id AND p.id < d.id)"
        " ORDER BY d.next_at, d.id LIMIT ?2",
    [Q_LEASE] = "UPDATE deliveries SET next_at = ?2 WHERE id = ?1",
    [Q_DELIVERY_STATE] = "SELECT state, attempts, endpoint_id FROM deliveries WHERE id = ?1",
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

struct store {
    sqlite3 *db;
    const bm_config_t *cfg;
    sqlite3_stmt *stmts[Q_COUNT];
    bool in_batch;
    int fail_commits;
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
static sqlite3_stmt *stmt(store_t *self, query_id_t q)
{
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

/* Savepoints: each operation is all or nothing inside the batch. */
static int sp_begin(store_t *self, bm_error_t *err)
{
    if (!self->in_batch && store_batch_begin(self, err) != 0)
        return -1;
    if (exec(self, "SAVEPOINT op") != 0) {
        db_error(self, err, "savepoint");
        return -1;
    }
    return 0;
}

static int sp_end(store_t *self, int rc)
{
    if (rc != 0)
        exec(self, "ROLLBACK TO op");
    exec(self, "RELEASE op");
    return rc;
}

/* ---- open, migrate ----------------------------------------------------- */

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

store_t *store_open(const char *path, const bm_config_t *cfg, bm_error_t *err)
{
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "cannot open database %s: %s", path,
                     self->db ? sqlite3_errmsg(self->db) : "out of memory");
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
    if (migrate(self, err) != 0)
        goto fail;
    sqlite3_commit_hook(self->db, commit_hook, self);
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

int store_batch_begin(store_t *self, bm_error_t *err)
{
    if (self->in_batch)
        return 0;
    if (exec(self, "BEGIN IMMEDIATE") != 0) {
        db_error(self, err, "begin");
        return -1;
    }
    self->in_batch = true;
    return 0;
}

int store_batch_commit(store_t *self, bm_error_t *err)
{
    if (!self->in_batch)
        return 0;
    self->in_batch = false;
    if (sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(self, err, "commit");
        if (!sqlite3_get_autocommit(self->db))
            exec(self, "ROLLBACK");
        return -1;
    }
    return 0;
}

void store_batch_rollback(store_t *self)
{
    if (!self->in_batch)
        return;
    self->in_batch = false;
    exec(self, "ROLLBACK");
}

bool store_in_batch(store_t *self)
{
    return self->in_batch;
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

/* Queues the webhook for an event to the request's callback endpoint, in
 * the current transaction. note may be NULL. */
static int enqueue_notice(store_t *self, int64_t ticket, int64_t event_id, const char *type,
                          const char *note, int64_t now)
{
    sqlite3_stmt *s = stmt(self, Q_REQ_NOTICE_INFO);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    if (sqlite3_step(s) != SQLITE_ROW)
        return -1;
    if (sqlite3_column_type(s, 3) == SQLITE_NULL)
        return 0; /* nobody to tell yet: subscriptions come with the notifier's endpoints */
    int64_t endpoint = sqlite3_column_int64(s, 3);

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
    if (note)
        cJSON_AddStringToObject(data, "note", note);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    sqlite3_reset(s);
    if (!text)
        return -1;

    char msg_id[48];
    bm_random_id("msg_", msg_id, sizeof msg_id);
    s = stmt(self, Q_DELIVERY_INSERT);
    int rc = -1;
    if (s) {
        bind_text(s, 1, msg_id);
        sqlite3_bind_int64(s, 2, endpoint);
        sqlite3_bind_int64(s, 3, ticket);
        sqlite3_bind_int64(s, 4, event_id);
        bind_text(s, 5, type);
        bind_text(s, 6, text);
        sqlite3_bind_int64(s, 7, now);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    free(text);
    return rc;
}

/* Appends an event (detail: a JSON object or NULL) and, if notice is not
 * NULL, the webhook it causes. */
static int record_event(store_t *self, int64_t ticket, int64_t now, const char *actor,
                        const char *kind, const char *from, const char *to, const cJSON *detail,
                        const char *notice, const char *note)
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
    if (notice)
        return enqueue_notice(self, ticket, event_id, notice, note, now);
    return 0;
}

/* ---- requests ---------------------------------------------------------- */

static int endpoint_for(store_t *self, const char *url, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = stmt(self, Q_ENDPOINT_FIND);
    if (!s)
        return -1;
    bind_text(s, 1, url);
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
    bind_text(s, 2, self->cfg->callback_secret);
    sqlite3_bind_int64(s, 3, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        return -1;
    *id = sqlite3_last_insert_rowid(self->db);
    return 0;
}

int store_submit(store_t *self, const store_submit_t *in, int64_t now, int64_t *ticket,
                 bool *duplicate, bm_error_t *err)
{
    *duplicate = false;
    const bm_category_t *cat = bm_config_category(self->cfg, in->category);
    if (!cat) {
        bm_error_set(err, BM_ERR_UNKNOWN_CATEGORY, "category", "unknown category \"%s\"",
                     in->category);
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
    if (in->callback && endpoint_for(self, in->callback, now, &endpoint) != 0)
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
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *ticket = sqlite3_last_insert_rowid(self->db);
    char actor[64];
    snprintf(actor, sizeof actor, "channel:%s", in->channel);
    rc = record_event(self, *ticket, now, actor, "received", NULL, "open", NULL,
                      "request.received", NULL);
out:
    if (rc != 0)
        db_error(self, err, "submit");
    return sp_end(self, rc);
}

/* Reads a request's status and holder. Returns 0, 1 if not found, -1. */
static int req_state(store_t *self, int64_t ticket, char *status, size_t slen, char *holder,
                     size_t hlen)
{
    sqlite3_stmt *s = stmt(self, Q_REQ_STATE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        return 1;
    if (step != SQLITE_ROW)
        return -1;
    bm_strlcpy(status, col_text(s, 0), slen);
    bm_strlcpy(holder, col_text(s, 1) ? col_text(s, 1) : "", hlen);
    sqlite3_reset(s);
    return 0;
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

/* A job as its volunteer sees it: the offer plus contact and lease. */
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
            bm_json_add_str(job, "contact", col_text(s, 5));
            bm_json_add_time(job, "claimed_at", sqlite3_column_int64(s, 13));
            bm_json_add_time(job, "lease_until", sqlite3_column_int64(s, 15));
        }
        sqlite3_reset(s);
    }
    return job;
}

int store_claim(store_t *self, int64_t ticket, const char *volunteer, int max_jobs, int64_t now,
                cJSON **job, bm_error_t *err)
{
    *job = NULL;
    char status[16], holder[BM_MAX_VOL_ID + 1];
    int found = req_state(self, ticket, status, sizeof status, holder, sizeof holder);
    if (found < 0) {
        db_error(self, err, "claim");
        return -1;
    }
    if (found > 0) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "no request with ticket %lld",
                     (long long)ticket);
        return -1;
    }
    if (strcmp(status, "claimed") == 0) {
        if (strcmp(holder, volunteer) == 0)
            bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket", "you already hold ticket %lld",
                         (long long)ticket);
        else
            bm_error_set(err, BM_ERR_TAKEN, "ticket", "ticket %lld was taken by another volunteer",
                         (long long)ticket);
        return -1;
    }
    if (strcmp(status, "open") != 0) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                     "ticket %lld is %s and cannot be claimed", (long long)ticket, status);
        return -1;
    }
    int held = store_volunteer_held(self, volunteer);
    if (held >= max_jobs) {
        bm_error_set(err, BM_ERR_TOO_MANY_JOBS, NULL,
                     "you already hold %d job(s), the most allowed; finish one first", held);
        return -1;
    }
    const char *category = NULL;
    cJSON *offer = store_offer(self, ticket);
    const cJSON *cat_item = cJSON_GetObjectItemCaseSensitive(offer, "category");
    category = cJSON_IsString(cat_item) ? cat_item->valuestring : NULL;
    const bm_category_t *cat = category ? bm_config_category(self->cfg, category) : NULL;
    int64_t lease_until = now + (int64_t)(cat ? cat->lease_s : 4 * 3600) * 1000;
    cJSON_Delete(offer);

    if (sp_begin(self, err) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = stmt(self, Q_CLAIM);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, ticket);
    bind_text(s, 2, volunteer);
    sqlite3_bind_int64(s, 3, lease_until);
    sqlite3_bind_int64(s, 4, now);
    if (sqlite3_step(s) != SQLITE_DONE || sqlite3_changes(self->db) != 1)
        goto out;
    char actor[80];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    rc = record_event(self, ticket, now, actor, "claimed", "open", "claimed", NULL,
                      "request.claimed", NULL);
out:
    if (rc != 0)
        db_error(self, err, "claim");
    sp_end(self, rc);
    if (rc == 0)
        *job = job_json(self, ticket);
    return rc;
}

int store_done(store_t *self, int64_t ticket, const char *volunteer, const char *note,
               int64_t now, bm_error_t *err)
{
    char status[16], holder[BM_MAX_VOL_ID + 1];
    int found = req_state(self, ticket, status, sizeof status, holder, sizeof holder);
    if (found < 0) {
        db_error(self, err, "done");
        return -1;
    }
    if (found > 0) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "no request with ticket %lld",
                     (long long)ticket);
        return -1;
    }
    if (strcmp(status, "claimed") != 0) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                     "ticket %lld is %s; only a claimed request can be done", (long long)ticket,
                     status);
        return -1;
    }
    if (strcmp(holder, volunteer) != 0) {
        bm_error_set(err, BM_ERR_NOT_YOURS, "ticket", "ticket %lld is held by another volunteer",
                     (long long)ticket);
        return -1;
    }
    if (sp_begin(self, err) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = stmt(self, Q_DONE);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, ticket);
    bind_text(s, 2, volunteer);
    sqlite3_bind_int64(s, 3, now);
    if (sqlite3_step(s) != SQLITE_DONE || sqlite3_changes(self->db) != 1)
        goto out;
    char actor[80];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    cJSON *detail = cJSON_CreateObject();
    if (note)
        cJSON_AddStringToObject(detail, "note", note);
    rc = record_event(self, ticket, now, actor, "completed", "claimed", "done", detail,
                      "request.completed", note);
    cJSON_Delete(detail);
out:
    if (rc != 0)
        db_error(self, err, "done");
    return sp_end(self, rc);
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
        bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "no request with ticket %lld",
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
    const char *category = col_text(s, 2);
    const bm_category_t *cat = bm_config_category(self->cfg, category);
    bm_json_add_str(req, "category", category);
    bm_json_add_str(req, "category_label", cat ? cat->label : category);
    cJSON_AddBoolToObject(req, "urgent", cat && cat->urgent);
    bm_json_add_str(req, "building", col_text(s, 3));
    bm_json_add_str(req, "unit", col_text(s, 4));
    bm_json_add_str(req, "contact", col_text(s, 5));
    bm_json_add_str(req, "text", col_text(s, 6));
    bm_json_add_str(req, "status", col_text(s, 7));
    if (col_text(s, 8)) {
        cJSON *vol = cJSON_AddObjectToObject(req, "volunteer");
        bm_json_add_str(vol, "id", col_text(s, 8));
        bm_json_add_str(vol, "name", col_text(s, 9));
    } else {
        cJSON_AddNullToObject(req, "volunteer");
    }
    cJSON_AddNumberToObject(req, "attempts", sqlite3_column_int(s, 10));
    bm_json_add_time(req, "created_at", sqlite3_column_int64(s, 11));
    bm_json_add_time(req, "updated_at", sqlite3_column_int64(s, 12));
    bm_json_add_time(req, "claimed_at", sqlite3_column_int64(s, 13));
    bm_json_add_time(req, "done_at", sqlite3_column_int64(s, 14));
    bm_json_add_time(req, "lease_until", sqlite3_column_int64(s, 15));
    sqlite3_reset(s);

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
    return sp_end(self, rc);
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

int store_open_queue(store_t *self, store_open_t *out, int max)
{
    sqlite3_stmt *s = stmt(self, Q_OPEN_QUEUE);
    if (!s)
        return -1;
    sqlite3_bind_int(s, 1, max);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW) {
        out[n].ticket = sqlite3_column_int64(s, 0);
        const char *cat = col_text(s, 1);
        out[n].category = -1;
        for (int i = 0; i < self->cfg->category_count; i++) {
            if (cat && strcmp(self->cfg->categories[i].name, cat) == 0)
                out[n].category = i;
        }
        n++;
    }
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
    const char *category = col_text(s, 2);
    const bm_category_t *cat = bm_config_category(self->cfg, category);
    bm_json_add_str(o, "category", category);
    bm_json_add_str(o, "category_label", cat ? cat->label : category);
    cJSON_AddBoolToObject(o, "urgent", cat && cat->urgent);
    bm_json_add_str(o, "building", col_text(s, 3));
    bm_json_add_str(o, "unit", col_text(s, 4));
    bm_json_add_str(o, "text", col_text(s, 6));
    bm_json_add_time(o, "created_at", sqlite3_column_int64(s, 11));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(s, 10));
    sqlite3_reset(s);
    return o;
}

/* ---- outbox ------------------------------------------------------------ */

int store_take(store_t *self, int64_t now, int max, int64_t lease_ms, cJSON *arr)
{
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
        bm_json_add_str(d, "type", col_text(s, 4));
        bm_json_add_str(d, "body", col_text(s, 5));
        cJSON_AddNumberToObject(d, "attempt", sqlite3_column_int(s, 6) + 1);
        cJSON_AddItemToArray(arr, d);
        n++;
    }
    sqlite3_reset(s);
    if (n > 0 && store_batch_begin(self, NULL) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        s = stmt(self, Q_LEASE);
        if (!s)
            return -1;
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_int64(s, 2, now + lease_ms);
        if (sqlite3_step(s) != SQLITE_DONE)
            return -1;
    }
    return n;
}

int store_report(store_t *self, const store_result_t *r, int64_t now, bm_error_t *err)
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
    } else if (r->gone || attempts >= self->cfg->retry_count) {
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
    return sp_end(self, rc);
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
