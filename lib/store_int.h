/* store_int.h - private to the store's files (lib/store*.c): the
 * connection's state, the prepared-statement ids, and the helpers every
 * concept file uses. Nothing outside lib/store*.c includes it. */
#ifndef BM_STORE_INT_H
#define BM_STORE_INT_H

#include "store.h"
#include "jsonx.h"
#include "lifecycle.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef enum {
    Q_REF_LOOKUP,
    Q_ENDPOINT_FIND,
    Q_ENDPOINT_ADD,
    Q_REQ_INSERT,
    Q_EVENT_INSERT,
    Q_REQ_NOTICE_INFO,
    Q_DELIVERY_INSERT,
    Q_ACT_ROW,
    Q_CLAIM_CHECK,
    Q_EXCLUDED,
    Q_LEASE_DUE,
    Q_OVERDUE_DUE,
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

/* How many UPDATE statements of transitions are kept prepared (a transition
 * kind sets a few columns; a set of columns not among them is prepared for
 * its one call). */
#define ST_ACT_UPD_SLOTS 24

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
    struct {          /* the checkpointer thread (store_checkpoint.c) */
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool running, wanted, busy, stop; /* wanted, busy, stop, done: under mu */
        uint64_t done;
        int copied;     /* frames the thread's last checkpoint left copied (under mu) */
        uint64_t seen;  /* done as the loop last saw it (loop only) */
        int backfilled; /* copied as the loop last saw it (loop only) */
        int ask_frames, restart_frames; /* STORE_CHECKPOINT_FRAMES, STORE_WAL_RESTART_FRAMES */
        sqlite3 *db;  /* its own connection, used by that thread only */
    } ckpt;
    int fail_commits;
    int64_t last_event_id; /* of the latest record_event */
    int64_t last_created;  /* created_at of the newest request: never goes back */
    int sp_depth;
    /* store_lifecycle.c: a transition's UPDATE names only the columns it
     * changes (an index is rewritten when any column it uses is named), one
     * statement per set of columns, prepared on first use. */
    struct {
        unsigned cols; /* the columns it sets, a bit each (store_lifecycle.c) */
        sqlite3_stmt *stmt;
    } act_upd[ST_ACT_UPD_SLOTS];
};

/* The cached prepared statement for q, reset and with bindings cleared;
 * NULL (and nothing runs) once the batch is lost. */
sqlite3_stmt *st_stmt(store_t *self, query_id_t q);
/* Resets every cached statement still stepping (before a commit, after reads). */
void st_reset_all(store_t *self);
/* Runs sql directly (BEGIN, COMMIT, pragmas); logs and returns -1 on failure. */
int st_exec(store_t *self, const char *sql);
/* Logs the connection's last error and sets err to storage_error. */
void st_db_error(store_t *self, bm_error_t *err, const char *what);
/* Sets err for a batch that was lost (rolled back, or the file gone). */
void st_lost_error(store_t *self, bm_error_t *err);
/* True if the batch is lost; notices a transaction SQLite rolled back. */
bool st_batch_gone(store_t *self);
/* One operation's savepoint inside the batch; end keeps it if rc == 0,
 * else undoes it, and returns rc (or -1 with err set if that failed). */
int st_sp_begin(store_t *self, bm_error_t *err);
int st_sp_end(store_t *self, int rc, bm_error_t *err);
/* An operation without a savepoint (its checks guarantee its statements
 * succeed): end with rc != 0, or a transaction SQLite rolled back, gives up
 * the whole batch. Returns 0, or -1 with err set. */
int st_direct_begin(store_t *self, bm_error_t *err);
int st_direct_end(store_t *self, int rc, const char *what, bm_error_t *err);

/* Adds "category", "category_label" and "urgent" for a stored category name. */
void st_add_category(store_t *self, cJSON *o, const char *category);
/* Adds "volunteer": {"id", "name"}, or null when nobody holds the request. */
void st_add_volunteer(cJSON *o, const char *id, const char *name);

/* store_lifecycle.c: finalizes the transitions' UPDATE statements. */
void st_act_close(store_t *self);

/* store_checkpoint.c: starts the checkpointer thread on its own connection
 * (0), or leaves checkpoints to the loop (-1, logged); stops and joins it. */
int st_ckpt_start(store_t *self);
void st_ckpt_stop(store_t *self);

/* store_events.c: appends an event and, if notice is set, its webhooks. */
int st_record_event(store_t *self, int64_t ticket, int64_t now, const char *actor, const char *kind,
                    const char *from, const char *to, const cJSON *detail, const char *notice);
/* store_dispatch.c: the claims a volunteer holds (-1 on failure); *known (if
 * not NULL): the volunteer is in volunteers (said hello). */
int st_claims_held(store_t *self, const char *volunteer, bool *known);
/* store_events.c: queues the webhooks of an event (event_id 0: the receipt). */
int st_notice(store_t *self, int64_t ticket, int64_t event_id, const char *type, const cJSON *detail,
              int64_t now);
/* store_events.c: writes the configured subscriptions and caches them. */
int st_sync_subscriptions(store_t *self, bm_error_t *err);
/* store_request.c: records one checked photo of an event. */
int st_insert_attachment(store_t *self, int64_t ticket, int64_t event_id, const store_attach_t *at,
                         int64_t now);
/* store_dispatch.c: a job as its volunteer sees it (offer, unit, contact, lease). */
cJSON *st_job_json(store_t *self, int64_t ticket);

/* store_vfs.c: the VFS that gathers a WAL's writes into one per commit. */
#define STORE_VFS_NAME "bianmin-wal"
/* The VFS name for the store's read-write connections (registered on the
 * first call over the default VFS of that moment), or NULL for SQLite's
 * default (BIANMIN_NO_WAL_BUFFER set, or the registration failed). */
const char *st_vfs_name(void);

/* store_query.c: the paged listings' WHERE clause builder and runner. */
/* A WHERE clause built from fixed fragments, each with at most one bound
 * value: user input never becomes SQL text. */
#define ST_WHERE_SQL  4096 /* a list over a time range: six parts, each with the filters */
#define ST_WHERE_VALS 64
typedef struct {
    char sql[ST_WHERE_SQL];
    struct {
        const char *text; /* NULL: bind num */
        int64_t num;
    } vals[ST_WHERE_VALS];
    int n;
    bool overflow; /* a fragment or value did not fit: the query is refused */
} st_where_t;
void st_where_text(st_where_t *w, const char *frag, const char *v);
void st_where_num(st_where_t *w, const char *frag, int64_t v);
int st_paged(store_t *self, const char *what, const char *count_sql, const char *count_tail,
             const st_where_t *w, const char *page_sql, const char *page_tail, const st_where_t *wp,
             int limit, int offset, const char *key,
             void (*row)(store_t *, cJSON *, sqlite3_stmt *), cJSON **out, bm_error_t *err);

/* Binds v (NULL: SQL NULL) without a copy: v must stay valid until the
 * statement's last sqlite3_step of this use. Every cached statement is
 * reset and its bindings cleared when st_stmt hands it out again, so a
 * statement left behind never reads v after the caller's buffer is gone;
 * bind a buffer that is freed or reused between steps with
 * sqlite3_bind_text(..., SQLITE_TRANSIENT) instead. (The copy SQLite made
 * for every text was ~2,500 instructions of a submit, issue 12.) */
static inline void st_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static inline const char *st_col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* The text of column i, "" for NULL. */
static inline const char *st_col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* A statement prepared for one call (finalize it), for what runs rarely
 * (keys, users) and need not take a slot among the cached ones. */
static inline sqlite3_stmt *st_prepare(store_t *self, const char *sql)
{
    sqlite3_stmt *s = NULL;
    return sqlite3_prepare_v2(self->db, sql, -1, &s, NULL) == SQLITE_OK ? s : NULL;
}

static inline int64_t st_col_i64(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, i);
}

#endif
