/* broker_int.h - the broker's private header: the broker's state and the
 * pieces its files share (as redis's t_*.c share server.h). Not for use
 * outside broker/.
 *
 *   broker.c            making and ending a broker: database, keys, ZAP, sockets
 *   broker_loop.c       the loop: one pass, one commit, then the replies
 *   broker_commands.c   the one command table, handle(), who the caller is
 *   broker_requests.c   submit, get, list, cancel, reopen, escalate, resolve,
 *                       rate, photo, departments, choices; lifecycle actions;
 *                       photos in
 *   broker_volunteers.c sessions; hello, heartbeat, claim, progress, done,
 *                       can't fix, escalate, decline
 *   broker_dispatch.c   offers, taken/revoked notices, lease and overdue sweep
 *   broker_notifier.c   take and report
 *   broker_office.c     volunteers, deliveries, replay, endpoints, keys, users,
 *                       login, stats
 */
#ifndef BM_BROKER_INT_H
#define BM_BROKER_INT_H

#include "broker.h"
#include "archive.h"
#include "offers.h"
#include "metrics.h"
#include "proto.h"
#include "registry.h"
#include "store.h"
#include "store_keys.h"
#include "util.h"
#include "zap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define MAX_SESSIONS     1024
#define MAX_OFFERED      16    /* outstanding offers remembered per volunteer */
#define MAX_TAKERS       16
#define OFFER_CACHE      4096  /* offer bodies kept per dispatch (a power of two) */
#define OFFER_PAGES      64    /* pages of candidates one volunteer looks through per skill */
#define IDLE_TICK_MS     1000
#define TAKER_TICK_MS    200
#define SEEN_WRITE_MS    60000 /* how often a heartbeat refreshes volunteers.last_seen */
#define DISPATCH_EVERY_MS 5000
#define SWEEP_EVERY_MS   500   /* lease expiry and overdue checks */

#define SELF_TEST_MS     10000 /* the fail-closed check at start (a loaded machine is slow) */
#define ACCEPT_PAUSE_MS  1000  /* no new connections for this long after running out of descriptors */

enum { SOCK_CLIENT = 0, SOCK_WORKER = 1 };

/* Who sent the message being handled, from its key (never from the message):
 * the kind and principal after a gateway's act_as. In development mode
 * ("auth": "none") there are no keys: client peers are trusted as the office
 * and the notifier, and a worker is whoever it says in hello. */
typedef struct {
    unsigned kind;                     /* ROLE_* bits */
    char principal[BM_MAX_VOL_ID + 1]; /* channel name or volunteer id */
    reg_key_t *key;                    /* NULL in development mode */
    bool dev;
} peer_t;

/* A volunteer's live connection, known from its hello. */
typedef struct {
    bool used;
    bm_envelope_t env;
    char volunteer[BM_MAX_VOL_ID + 1];
    char name[BM_MAX_VOL_NAME + 1];
    uint32_t skills; /* bit i: cfg.categories[i] */
    int max_jobs;
    int64_t last_heard;   /* monotonic ms */
    int64_t last_db_seen; /* wall ms of the last last_seen write */
    uint64_t batch;       /* the pass that created it */
    int64_t offered[MAX_OFFERED];
    int n_offered;
    int64_t last_offered; /* monotonic ms of its latest offer, 0: never */
    int claims_today;     /* jobs given to it since local midnight (fairness) */
    int64_t claims_day;   /* the local midnight claims_today counts from; 0: not loaded */
} session_t;

/* Bytes of a reply body queued as text (reply_ok_text). */
#define OUT_TEXT_MAX 96

/* A message produced by a pass, sent after its commit. */
typedef struct {
    int sock;
    bm_envelope_t env;
    char cmd[BM_MAX_CMD + 1];
    char cid[BM_MAX_CID + 1];
    size_t cid_len;
    cJSON *body;
    char text[OUT_TEXT_MAX]; /* with body NULL: the body already written as text ("" if none) */
    bool durable; /* an acknowledgement of a write: replaced by storage_error if the commit fails */
} outmsg_t;

/* A notifier waiting in "take" for something to become due. */
typedef struct {
    bm_envelope_t env;
    char cid[BM_MAX_CID + 1];
    size_t cid_len;
    int max;
    int64_t deadline; /* monotonic ms */
    char taker[BM_Z85_KEY_LEN + 1]; /* the notifier's key */
} taker_t;

/* After the commit: a ticket no longer on offer (tell those offered it,
 * except `volunteer`), or a job taken from its holder (tell `volunteer`). */
typedef struct {
    int64_t ticket;
    char volunteer[BM_MAX_VOL_ID + 1];
    bool revoked;
    char reason[32];
    char note[BM_MAX_NOTE + 1]; /* the office's words on a cancel or escalate; may be "" */
} change_t;

struct broker {
    bm_config_t cfg;
    store_t *store;
    void *ctx;
    void *sock[2];
    void *mon[2];            /* accept failures on each server socket */
    char bound[2][256];      /* the endpoints as bound, for pausing accepts */
    int64_t paused_until[2]; /* monotonic ms; 0 = accepting */
    bm_key_t key;            /* the broker's own key pair (CURVE) */
    registry_t *reg;
    zap_t *zap;
    peer_t caller;           /* the peer of the message being handled */
    store_key_t *new_keys;   /* registered in this pass: enter the registry after the commit */
    size_t n_new_keys, cap_new_keys;
    session_t sessions[MAX_SESSIONS];
    int session_top;         /* slots [0, session_top) have been used: loops over sessions stop there */
    int64_t midnight, next_midnight; /* today's local midnight and the next (dispatch's claims today) */
    taker_t takers[MAX_TAKERS];
    int n_takers;
    outmsg_t *out;
    size_t n_out, cap_out;
    change_t *changes;
    size_t n_changes, cap_changes;
    int64_t last_sweep;
    uint64_t batch;
    bool dispatch_dirty;
    int64_t last_dispatch;
    int64_t next_widen; /* monotonic ms when a job's offer widens next; 0: none waiting */
    offers_t *offers;
    struct offer_cache *offer_cache; /* dispatch's offer bodies, kept between dispatches */
    metrics_t *metrics; /* not owned; NULL: metrics off */
    int pass_submits;   /* submits accepted in this pass (for metrics) */
};

/* ---- broker_loop.c: the output queue, sent after the pass's commit ---- */

/* Queues a message (body owned by the queue); durable marks an
 * acknowledgement of a write, replaced by storage_error if the commit fails. */
void queue_msg(broker_t *b, int sock, const bm_envelope_t *env, const char *cmd,
               const char *cid, size_t cid_len, cJSON *body, bool durable);
/* Queues an ok reply (body owned; NULL: an empty object). */
void reply_ok(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
              cJSON *body, bool durable);
/* Queues an ok reply whose body is already written as JSON text (one
 * object, shorter than OUT_TEXT_MAX; copied): no cJSON object to build,
 * print and free for the commonest answers. */
void reply_ok_text(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                   const char *text, bool durable);
/* Queues an error reply. */
void reply_err(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
               const bm_error_t *err);
/* Sends at once (after a commit) and frees body. */
void send_now(broker_t *b, int sock, const bm_envelope_t *env, const char *cmd, cJSON *body);

/* ---- broker_commands.c: the command table and the caller ---- */

/* Finds the command in the table, resolves the caller and checks its role,
 * then runs the handler. */
void handle(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg);
/* The caller's role for events and logs ("office", "channel:forum", ...). */
const char *caller_actor(const broker_t *b, char *buf, size_t len);
/* The channel a client command acts for; 0, or -1 with err set. */
int acting_channel(broker_t *b, const cJSON *body, bool submit, const char **channel,
                   bm_error_t *err);

/* ---- broker_requests.c ---- */

/* Reads the body's "ticket"; 0, or -1 with err set. */
int get_ticket(const cJSON *body, int64_t *ticket, bm_error_t *err);
/* Runs a lifecycle action and queues its reply, noting its after-commit effects. */
void run_act(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
             int64_t ticket, const store_act_t *a);
/* Checks a volunteer's photos against the per-request and per-day limits and
 * the disk reserve; 0, or -1 with err set. */
int photo_quota(broker_t *b, int64_t ticket, const bm_msg_t *msg, bm_error_t *err);
/* Checks every photo frame of msg and stores them in the archive; 0, or -1
 * with err set. */
int accept_photos(broker_t *b, const bm_msg_t *msg, store_attach_t *attach,
                  bm_blob_t *blobs, bm_error_t *err);
void cmd_submit(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_get(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_list(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_cancel(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_reopen(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_escalate(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_resolve(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_rate(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_departments(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_choices(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_photo(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);

/* ---- broker_volunteers.c ---- */

/* The session of a connection, or NULL. */
session_t *session_by_env(broker_t *b, const bm_envelope_t *env);
/* Whether a session was heard from within three heartbeats. */
bool session_online(const broker_t *b, const session_t *s, int64_t mono);
void session_forget_offer(session_t *s, int64_t ticket);
bool session_was_offered(const session_t *s, int64_t ticket);
void cmd_hello(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_heartbeat(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_claim(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_done(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_progress(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_cantfix(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_worker_escalate(broker_t *b, session_t *s, const bm_envelope_t *env,
                         const bm_msg_t *msg);
void cmd_decline(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg);

/* ---- broker_dispatch.c ---- */

/* Notes a change to announce after the commit; NULL if out of memory. */
change_t *note_change(broker_t *b, int64_t ticket, const char *volunteer, bool revoked,
                      const char *reason);
/* Sends the taken/revoked notices of the changes noted in the pass. */
void announce_changes(broker_t *b);
/* Returns claims whose lease ran out to open, noting the revoked notices. */
void expire_leases(broker_t *b);
/* Lease expiry and overdue flags, at most every SWEEP_EVERY_MS. */
void sweep(broker_t *b);
/* Offers open requests to online volunteers (when something changed). */
void dispatch(broker_t *b);
/* Frees dispatch's offer cache (broker_destroy). */
void offer_cache_free(struct offer_cache **c);

/* ---- broker_notifier.c ---- */

void cmd_take(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_report(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
/* Answers the notifiers waiting in take that have something due or whose
 * wait is over (all of them when shutting down). */
void serve_takers(broker_t *b, bool shutting_down);

/* ---- broker_office.c ---- */

void cmd_volunteers(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_deliveries(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_delivery(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_replay(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_endpoints(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_endpoint(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_keys(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_key_add(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_key_revoke(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_users(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_user_add(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_user_passwd(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_user_disable(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_user_check(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_login(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);
void cmd_stats(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg);

#endif
