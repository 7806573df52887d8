/* store.h - the broker's database: schema migrations, the request lifecycle,
 * the append-only event log and the webhook outbox, all in SQLite.
 *
 * Only the broker writes. Every write runs inside a batch transaction the
 * caller opens with store_batch_begin() and ends with store_batch_commit(), so
 * that everything one pass of the event loop did costs one fsync. Each
 * operation runs in its own savepoint: a failed one undoes only itself. */
#ifndef BM_STORE_H
#define BM_STORE_H

#include "config.h"
#include "lifecycle.h"
#include "proto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct store store_t;

/* WAL frames not yet copied back after which the checkpointer thread is asked
 * for a checkpoint; the WAL's length (frames) from which the loop completes
 * the thread's next checkpoint so that the WAL restarts from its beginning
 * (each completion holds the loop for a few ms: docs/architecture.md); and
 * the size the WAL file is cut back to after it restarts (above the longest
 * WAL, ~21,000 frames of 4 KiB, so that it is not cut and grown again every
 * cycle). The WAL stays bounded under any load. */
#define STORE_CHECKPOINT_FRAMES 4000
#define STORE_WAL_RESTART_FRAMES 16000
#define STORE_WAL_LIMIT_BYTES 100663296 /* 96 MiB */
/* The most of a WAL's writes gathered into one write (lib/store_vfs.c): a
 * commit of ~250 frames; a bigger commit is written in several. */
#define STORE_WAL_BUFFER_BYTES 1048576

/* Process-wide SQLite settings for a program whose store is on its hot path
 * (the broker): no memory statistics (each allocation would take a global
 * mutex to count itself). Call before any other SQLite use; later it does
 * nothing. */
void store_library_init(void);

/* Opens (creating if needed) the database at path, sets WAL,
 * synchronous=FULL and foreign keys, and applies pending migrations. A
 * database newer than this binary is refused, and so is a missing or empty
 * one beside a WAL, journal or photo archive that says there was data before
 * (unless cfg->allow_new_database). The file's identity (device, inode) is
 * kept and checked on every commit. cfg must outlive the store.
 * Returns NULL with err set. */
store_t *store_open(const char *path, const bm_config_t *cfg, bm_error_t *err);
void store_destroy(store_t **self_p);

/* The connection, for the store's sibling modules (store_keys.c). */
typedef struct sqlite3 sqlite3;
sqlite3 *store_sqlite(store_t *self);

/* For the store's sibling modules: one change as a unit inside the batch
 * (a savepoint, with every failure checked as the store's own operations
 * are). end keeps it if ok, else undoes it; returns 0, or -1 with err set. */
int store_op_begin(store_t *self, bm_error_t *err);
int store_op_end(store_t *self, bool ok, bm_error_t *err);

/* The schema version of the open database (PRAGMA user_version). */
int store_schema_version(store_t *self);

/* Batch transaction. begin is idempotent within a batch. commit returns 0
 * when everything since begin is on disk in the file opened, or -1 when none
 * of it is (rolled back; err set): also when the file was removed or replaced. */
int store_batch_begin(store_t *self, bm_error_t *err);
int store_batch_commit(store_t *self, bm_error_t *err);
void store_batch_rollback(store_t *self);
bool store_in_batch(store_t *self);
/* True if the open batch is lost: SQLite rolled its transaction back after a
 * failed statement (disk full, I/O error), a RELEASE / ROLLBACK TO failed, or
 * the database file was removed or replaced. Nothing more runs in it and its
 * commit returns -1; the caller stops the pass and answers storage_error. */
bool store_batch_failed(store_t *self);

/* Asks the checkpointer thread to copy the WAL back into the database (a
 * passive checkpoint, on its own connection, repeated while frames keep
 * coming) once STORE_CHECKPOINT_FRAMES frames are not yet copied and no
 * checkpoint is running; never blocks on it. Once the WAL is
 * STORE_WAL_RESTART_FRAMES long, the first pass boundary after the thread's
 * next checkpoint copies the few frames written meanwhile here, so that the
 * next commit restarts the WAL from its beginning. Without the thread (it
 * could not start) the whole checkpoint runs here at STORE_CHECKPOINT_FRAMES.
 * Call after a pass's replies were sent, outside a batch. Returns
 * STORE_CKPT_ASKED, STORE_CKPT_COMPLETED (copied here) or 0 (not due). */
enum { STORE_CKPT_ASKED = 1, STORE_CKPT_COMPLETED = 2 };
int store_checkpoint(store_t *self);
/* Checkpoints the thread has completed (for tests and metrics). */
uint64_t store_checkpoints_done(store_t *self);

/* Fault injection for tests: the next n commits fail as if the disk had
 * refused them (through SQLite's commit hook, so the real rollback path runs). */
void store_fail_commits(store_t *self, int n);
/* For tests: other sizes than STORE_CHECKPOINT_FRAMES and
 * STORE_WAL_RESTART_FRAMES, so that a test sees whole cycles quickly. */
void store_set_checkpoint_frames(store_t *self, int ask, int restart);

/* ---- requests ---------------------------------------------------------- */

typedef struct store_attach store_attach_t;
typedef struct {
    const char *channel, *category, *building, *unit, *contact, *text, *callback, *ref;
    const store_attach_t *attach; /* photos of the problem, tied to the received event */
    size_t n_attach;
} store_submit_t;

/* Records a new request with its "received" event and notices. With a ref the
 * channel already used, writes nothing and returns the existing ticket with
 * *duplicate = true. Returns 0 or -1 (err set). */
int store_submit(store_t *self, const store_submit_t *in, int64_t now, int64_t *ticket,
                 bool *duplicate, bm_error_t *err);

/* A photo already stored in the archive, to be tied to the action's event. */
struct store_attach {
    const char *sha256, *mime, *kind, *name;
    size_t size;
};

/* One lifecycle action on a request (see lifecycle.h). */
typedef struct {
    bm_action_t act;
    const char *volunteer;  /* the acting volunteer, or NULL */
    const char *channel;    /* the acting channel, or NULL (then: the system) */
    const char *text;       /* note, reason or answer; may be NULL */
    const char *department; /* for escalate */
    int max_jobs;           /* for claim */
    uint32_t skills;        /* for claim: the volunteer's categories, bit i = cfg->categories[i]
                             * (0: not checked) */
    const store_attach_t *attach; /* photos (progress, done) */
    size_t n_attach;
} store_act_t;

/* Applies an action: checks who may do it and that the state machine allows
 * it, updates the request, appends the event and queues its notices, all in
 * one savepoint. On success *result (if result is not NULL) is the reply body
 * (for claim and progress, the job with contact and lease); caller owns it.
 * prev_holder receives who held the request before (may be NULL).
 * Errors: not_found, taken, not_yours, bad_transition, too_many_jobs,
 * forbidden, too_late, storage_error. */
int store_act(store_t *self, int64_t ticket, const store_act_t *a, int64_t now, cJSON **result,
              char *prev_holder, size_t prev_len, bm_error_t *err);

/* Records the requester's rating (1-5) of a done or resolved request, within
 * rate_days; a later rating replaces the earlier (both stay as events).
 * Errors: not_found, forbidden, bad_transition, too_late. */
int store_rate(store_t *self, int64_t ticket, const char *channel, int score, const char *comment,
               int64_t now, bm_error_t *err);

/* Records that a volunteer declined an open request's offer (an event, no
 * change of status); they are not offered it again. */
int store_decline(store_t *self, int64_t ticket, const char *volunteer, const char *reason,
                  int64_t now, bm_error_t *err);
/* True if the volunteer declined or failed this request before. */
bool store_excluded(store_t *self, int64_t ticket, const char *volunteer);

typedef struct {
    int64_t ticket;
    char volunteer[BM_MAX_VOL_ID + 1];
} store_expired_t;

/* Returns claims whose lease ran out to open (event, attempts + 1); fills out
 * with up to max of them (ticket, former holder) and returns the count, or -1. */
int store_expire_leases(store_t *self, int64_t now, store_expired_t *out, int max);
/* Flags requests unclaimed past their offer timeout, or not done by their
 * deadline, once each, with an event and a request.overdue notice. Returns
 * how many were flagged, or -1. */
int store_mark_overdue(store_t *self, int64_t now);

/* Filters for store_list; NULL / 0 means "any". */
typedef struct {
    const char *status, *category, *channel, *building, *volunteer;
    int64_t since, until; /* created_at bounds, ms; 0 = open */
    int overdue;          /* 1: only overdue ones */
    int limit, offset;
} store_filter_t;

/* The matching requests, newest first (by ticket, which is by created_at:
 * it never goes back), as {"requests", "total", "limit", "offset"}. Caller
 * owns *out. */
int store_list(store_t *self, const store_filter_t *f, cJSON **out, bm_error_t *err);
/* Every volunteer with skills, max_jobs, last_seen and held tickets (caller
 * owns); "online" is the broker's to add. */
cJSON *store_volunteers(store_t *self);

/* The request, its timeline and its deliveries, as in the "get" reply. Caller
 * owns *out. Errors: not_found. */
int store_get(store_t *self, int64_t ticket, cJSON **out, bm_error_t *err);

/* ---- volunteers and dispatch ------------------------------------------- */

/* Creates or updates a volunteer (hello). skills is comma separated. */
int store_volunteer_hello(store_t *self, const char *id, const char *name, const char *skills,
                          int max_jobs, int64_t now, bm_error_t *err);
/* Notes that a volunteer was heard from (heartbeat); cheap, no event. */
int store_volunteer_seen(store_t *self, const char *id, int64_t now);
/* Number of requests the volunteer holds now, or -1. */
int store_volunteer_held(store_t *self, const char *id);
/* The jobs a volunteer holds, as a JSON array of job objects (caller owns). */
cJSON *store_volunteer_jobs(store_t *self, const char *id);

/* Brackets a run of reads (outside a batch) in one read transaction. */
int store_read_begin(store_t *self);
void store_read_end(store_t *self);

/* An open request as the dispatcher needs it. */
typedef struct {
    int64_t ticket;
    int category; /* index into cfg->categories */
    int priority;
    int64_t created_at;
} store_open_t;

/* Fills up to max open requests of one category (index into cfg->categories)
 * that the volunteer has not declined or failed, oldest first, after the
 * request `after` (NULL: from the start); returns the count or -1. The cost
 * follows what is returned plus the volunteer's own exclusions, however many
 * other requests wait. */
int store_open_for(store_t *self, int category, const char *volunteer, const store_open_t *after,
                   store_open_t *out, int max);
/* Jobs the volunteer was given (claimed) since `since` (ms) and still holds
 * or completed, or -1. */
int store_volunteer_claimed_since(store_t *self, const char *id, int64_t since);
/* The offer body for an open request (caller owns), or NULL. */
cJSON *store_offer(store_t *self, int64_t ticket);
/* How many photos the request's timeline holds, or -1. */
int store_photo_count(store_t *self, int64_t ticket);

/* ---- outbox ------------------------------------------------------------ */

/* Hands out up to max due deliveries, oldest first, never one that would
 * overtake an earlier pending delivery of the same request to the same
 * endpoint, and leases them for lease_ms to taker (the notifier's key). Appends objects to arr. Returns
 * the number taken or -1. Opens the batch if it hands anything out. */
int store_take(store_t *self, int64_t now, int max, int64_t lease_ms, const char *taker, cJSON *arr);

typedef struct {
    int64_t id;
    bool ok;
    int status;       /* HTTP status, 0 if none */
    int64_t latency_ms;  /* -1 if the notifier did not report it (stored as NULL) */
    const char *error;  /* may be NULL */
    int64_t retry_after_s; /* -1 if none */
    bool gone;        /* 410: the endpoint asked never to be called again */
    bool permanent;   /* the notifier cannot ever send it (refused address): dead at once */
} store_result_t;

/* Records one attempt and decides: delivered, due again per the retry
 * schedule, or dead. Unknown or finished deliveries are ignored (returns 0);
 * one not leased to taker now is refused (returns 1, nothing written). */
int store_report(store_t *self, const store_result_t *r, const char *taker, int64_t now,
                 bm_error_t *err);

/* Filters for store_deliveries; 0 / NULL = any. */
typedef struct {
    const char *state;
    int64_t endpoint, ticket, since;
    int limit, offset;
} store_delivery_filter_t;

/* Deliveries, newest first: {"deliveries", "total", "limit", "offset"}. */
int store_deliveries(store_t *self, const store_delivery_filter_t *f, cJSON **out, bm_error_t *err);
/* One delivery with its body and attempt log. Errors: not_found. */
int store_delivery(store_t *self, int64_t id, cJSON **out, bm_error_t *err);
/* Sends a delivery again (id), or every dead one that died since dead_since
 * (id 0). Keeps the msg_id; restarts the schedule. Returns how many. */
int store_replay(store_t *self, int64_t id, int64_t dead_since, int64_t now, bm_error_t *err);
/* Every endpoint with its counts of pending, dead and delivered. */
cJSON *store_endpoints(store_t *self);
/* action: "disable", "enable", or "rotate" (new_secret becomes the secret;
 * the old one is still signed with for overlap_ms). Errors: not_found. */
int store_endpoint_set(store_t *self, int64_t id, const char *action, const char *new_secret,
                       int64_t now, int64_t overlap_ms, bm_error_t *err);

/* Earliest next_at of a pending delivery, or INT64_MAX if none. */
int64_t store_next_due(store_t *self);

#endif
