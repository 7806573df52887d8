/* broker.c - see broker.h. */
#include "broker.h"
#include "archive.h"
#include "auth.h"
#include "jsonx.h"
#include "log.h"
#include "offers.h"
#include "metrics.h"
#include "proto.h"
#include "registry.h"
#include "store.h"
#include "photos.h"
#include "reports.h"
#include "users.h"
#include "store_keys.h"
#include "util.h"
#include "zap.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <time.h>
#include <zmq.h>

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

/* A message produced by a pass, sent after its commit. */
typedef struct {
    int sock;
    bm_envelope_t env;
    char cmd[BM_MAX_CMD + 1];
    char cid[BM_MAX_CID + 1];
    size_t cid_len;
    cJSON *body;
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
    metrics_t *metrics; /* not owned; NULL: metrics off */
    int pass_submits;   /* submits accepted in this pass (for metrics) */
};

/* ---- output queue ------------------------------------------------------ */

static void queue_msg(broker_t *b, int sock, const bm_envelope_t *env, const char *cmd,
                      const char *cid, size_t cid_len, cJSON *body, bool durable)
{
    if (b->n_out == b->cap_out) {
        size_t cap = b->cap_out ? b->cap_out * 2 : 256;
        outmsg_t *grown = realloc(b->out, cap * sizeof *grown);
        if (!grown) {
            log_error("out of memory queueing a reply; it is dropped");
            cJSON_Delete(body);
            return;
        }
        b->out = grown;
        b->cap_out = cap;
    }
    outmsg_t *m = &b->out[b->n_out++];
    m->sock = sock;
    m->env = *env;
    bm_strlcpy(m->cmd, cmd, sizeof m->cmd);
    memcpy(m->cid, cid, cid_len);
    m->cid[cid_len] = '\0';
    m->cid_len = cid_len;
    m->body = body;
    m->durable = durable;
}

static void reply_ok(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                     cJSON *body, bool durable)
{
    queue_msg(b, sock, env, BM_REPLY_OK, msg->cid, msg->cid_len,
              body ? body : cJSON_CreateObject(), durable);
}

static void reply_err(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                      const bm_error_t *err)
{
    log_debug("error reply %s: %s", err->code, err->message);
    queue_msg(b, sock, env, BM_REPLY_ERROR, msg->cid, msg->cid_len, bm_error_json(err), false);
}

static void send_now(broker_t *b, int sock, const bm_envelope_t *env, const char *cmd, cJSON *body)
{
    if (bm_send(b->sock[sock], env, cmd, "", 0, body) != 0)
        log_debug("send %s failed: %s", cmd, zmq_strerror(errno));
    cJSON_Delete(body);
}

/* Sends everything the pass produced. committed=false turns each durable
 * acknowledgement into a storage_error. */
static void flush(broker_t *b, bool committed, const bm_error_t *commit_err)
{
    for (size_t i = 0; i < b->n_out; i++) {
        outmsg_t *m = &b->out[i];
        int rc;
        if (!committed && m->durable) {
            rc = bm_send_error(b->sock[m->sock], &m->env, m->cid, m->cid_len, commit_err);
        } else {
            rc = bm_send(b->sock[m->sock], &m->env, m->cmd, m->cid, m->cid_len, m->body);
        }
        if (rc != 0)
            log_debug("reply to a departed peer dropped (%s)", zmq_strerror(errno));
        cJSON_Delete(m->body);
    }
    b->n_out = 0;
}

/* ---- sessions ---------------------------------------------------------- */

static session_t *session_by_env(broker_t *b, const bm_envelope_t *env)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session_t *s = &b->sessions[i];
        if (s->used && s->env.id_len == env->id_len && memcmp(s->env.id, env->id, env->id_len) == 0)
            return s;
    }
    return NULL;
}

static bool session_online(const broker_t *b, const session_t *s, int64_t mono)
{
    return s->used && mono - s->last_heard <= 3 * (int64_t)b->cfg.heartbeat_ms;
}

static void session_forget_offer(session_t *s, int64_t ticket)
{
    for (int i = 0; i < s->n_offered; i++) {
        if (s->offered[i] == ticket) {
            s->offered[i] = s->offered[--s->n_offered];
            return;
        }
    }
}

static bool session_was_offered(const session_t *s, int64_t ticket)
{
    for (int i = 0; i < s->n_offered; i++) {
        if (s->offered[i] == ticket)
            return true;
    }
    return false;
}

/* ---- who acts: identity from the key ------------------------------------ */

/* The caller's role for events and logs: "office", "channel:forum", ... */
static const char *caller_actor(const broker_t *b, char *buf, size_t len)
{
    if (b->caller.dev)
        return "office";
    if (b->caller.kind & ROLE_CHANNEL)
        snprintf(buf, len, "channel:%s", b->caller.principal);
    else if (b->caller.kind & ROLE_VOLUNTEER)
        snprintf(buf, len, "volunteer:%s", b->caller.principal);
    else if (b->caller.kind & ROLE_NOTIFIER)
        snprintf(buf, len, "notifier");
    else
        snprintf(buf, len, "office");
    return buf;
}

/* The channel a client command acts for. A channel's key acts only for that
 * channel: naming another in "channel" is forbidden. The office acts as
 * "office" (for submit it may name the channel it records a request for). In
 * development mode the body's channel is trusted, as before keys existed. */
static int acting_channel(broker_t *b, const cJSON *body, bool submit, const char **channel,
                          bm_error_t *err)
{
    const char *named = NULL;
    if (bm_json_str(body, "channel", b->caller.dev, 64, &named, err) != 0)
        return -1;
    if (b->caller.kind & ROLE_CHANNEL) {
        if (named && strcmp(named, b->caller.principal) != 0) {
            bm_error_set(err, BM_ERR_FORBIDDEN, "channel",
                         "这把钥匙属于渠道 %s，不能以 %s 的名义操作 / this key belongs to channel "
                         "\"%s\"; it cannot act as \"%s\"",
                         b->caller.principal, named, b->caller.principal, named);
            return -1;
        }
        *channel = b->caller.principal;
        return 0;
    }
    if (!b->caller.dev && (!named || !submit))
        named = "office";
    if (!bm_config_channel(&b->cfg, named) && strcmp(named, "office") != 0) {
        bm_error_set(err, BM_ERR_UNKNOWN_CHANNEL, "channel", "没有这个渠道 \"%s\" / unknown channel \"%s\"",
                     named, named);
        return -1;
    }
    *channel = named;
    return 0;
}

/* Per-key submit limits: a token bucket of submit_per_min (refilled
 * continuously, as large as a minute) and submit_per_day per UTC day.
 * Returns 0, or -1 with rate_limited / quota_exceeded and retry_after_ms. */
static int submit_allowed(broker_t *b, bm_error_t *err, int64_t *retry_ms)
{
    reg_key_t *k = b->caller.key;
    if (!k)
        return 0;
    int64_t now = bm_now_ms();
    int64_t day = now / 86400000;
    if (k->day != day) {
        k->day = day;
        k->day_submits = 0;
        k->day_photos = 0;
    }
    if (b->cfg.submit_per_day > 0 && k->day_submits >= b->cfg.submit_per_day) {
        *retry_ms = (day + 1) * 86400000 - now;
        bm_error_set(err, BM_ERR_QUOTA, NULL,
                     "这把钥匙今天已提交 %d 件，达到每日上限；请明天再试 / this key has submitted %d "
                     "requests today, its daily quota; retry after midnight UTC",
                     k->day_submits, k->day_submits);
        return -1;
    }
    if (b->cfg.submit_per_min > 0) {
        double cap = b->cfg.submit_per_min, per_ms = cap / 60000.0;
        if (k->refill_ms == 0) {
            k->tokens = cap;
        } else {
            k->tokens += (double)(now - k->refill_ms) * per_ms;
            if (k->tokens > cap)
                k->tokens = cap;
        }
        k->refill_ms = now;
        if (k->tokens < 1.0) {
            *retry_ms = (int64_t)((1.0 - k->tokens) / per_ms) + 1;
            bm_error_set(err, BM_ERR_RATE_LIMITED, NULL,
                         "提交太频繁（每分钟最多 %d 件），请 %lld 毫秒后再试 / too many submits from "
                         "this key (at most %d a minute); retry in %lld ms",
                         b->cfg.submit_per_min, (long long)*retry_ms, b->cfg.submit_per_min,
                         (long long)*retry_ms);
            return -1;
        }
        k->tokens -= 1.0;
    }
    k->day_submits++;
    return 0;
}

/* ---- client socket: submit, get, take, report --------------------------- */

static bool url_ok(const char *url)
{
    const char *rest = NULL;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    if (!rest || !*rest || *rest == '/' || *rest == ':')
        return false;
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    }
    return true;
}

static int accept_photos(broker_t *b, const bm_msg_t *msg, store_attach_t *attach,
                         bm_blob_t *blobs, bm_error_t *err);

static void cmd_submit(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    store_submit_t in = {0};
    const cJSON *body = msg->body;
    int64_t retry_ms = 0;
    if (acting_channel(b, body, true, &in.channel, &err) ||
        bm_json_str(body, "category", true, 64, &in.category, &err) ||
        bm_json_str(body, "building", true, BM_MAX_BUILDING, &in.building, &err) ||
        bm_json_str(body, "unit", false, BM_MAX_UNIT, &in.unit, &err) ||
        bm_json_str(body, "contact", true, BM_MAX_CONTACT, &in.contact, &err) ||
        bm_json_str(body, "text", true, BM_MAX_TEXT, &in.text, &err) ||
        bm_json_str(body, "callback", false, BM_MAX_URL, &in.callback, &err) ||
        bm_json_str(body, "ref", false, BM_MAX_REF, &in.ref, &err))
        goto fail;
    if (!bm_config_category(&b->cfg, in.category)) {
        bm_error_set(&err, BM_ERR_UNKNOWN_CATEGORY, "category",
                     "unknown category \"%s\" (known: lock, pipe, leak, repair, other, or as configured)",
                     in.category);
        goto fail;
    }
    if (in.callback && !url_ok(in.callback)) {
        bm_error_set(&err, BM_ERR_INVALID, "callback",
                     "callback must be an http:// or https:// URL with a host");
        goto fail;
    }
    if (in.callback && !bm_config_callback_secret(&b->cfg, in.channel)[0]) {
        bm_error_set(&err, BM_ERR_INVALID, "callback",
                     "this broker has no callback_secret (or channel_secrets entry for \"%s\") "
                     "configured, so it cannot sign callbacks", in.channel);
        goto fail;
    }
    if (submit_allowed(b, &err, &retry_ms) != 0)
        goto fail;
    store_attach_t attach[BM_MAX_ATTACH];
    bm_blob_t blobs[BM_MAX_ATTACH];
    if (msg->n_attach > 0 && accept_photos(b, msg, attach, blobs, &err) != 0)
        goto fail;
    in.attach = attach;
    in.n_attach = msg->n_attach;
    int64_t ticket = 0;
    bool dup = false;
    if (store_submit(b->store, &in, bm_now_ms(), &ticket, &dup, &err) != 0)
        goto fail;
    if (!dup) {
        log_info("ticket %lld received from %s (%s)", (long long)ticket, in.channel, in.category);
        b->dispatch_dirty = true;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "ticket", (double)ticket);
    cJSON_AddStringToObject(reply, "status", "open");
    cJSON_AddBoolToObject(reply, "duplicate", dup);
    if (dup) {
        /* Report the real current status of the existing request. */
        cJSON *full = NULL;
        bm_error_t gerr = {0};
        if (store_get(b->store, ticket, &full, &gerr) == 0) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(full, "request"), "status");
            if (cJSON_IsString(st))
                cJSON_ReplaceItemInObjectCaseSensitive(reply, "status",
                                                       cJSON_CreateString(st->valuestring));
        }
        cJSON_Delete(full);
    }
    b->pass_submits++;
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    if (retry_ms > 0) {
        cJSON *e = bm_error_json(&err);
        cJSON_AddNumberToObject(e, "retry_after_ms", (double)retry_ms);
        queue_msg(b, SOCK_CLIENT, env, BM_REPLY_ERROR, msg->cid, msg->cid_len, e, false);
        return;
    }
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

static int get_ticket(const cJSON *body, int64_t *ticket, bm_error_t *err)
{
    return bm_json_int(body, "ticket", true, 1, INT64_C(9007199254740991), ticket, err);
}

static void cmd_get(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    cJSON *out = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 || store_get(b->store, ticket, &out, &err) != 0) {
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    /* A channel sees only what it submitted (with the resident's contact). */
    const char *owner = cJSON_GetStringValue(bm_json_path(out, "request.channel"));
    if ((b->caller.kind & ROLE_CHANNEL) && (!owner || strcmp(owner, b->caller.principal) != 0)) {
        cJSON_Delete(out);
        bm_error_set(&err, BM_ERR_FORBIDDEN, "ticket",
                     "这件工单不是本渠道提交的 / this request was not submitted by your channel");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
}

static void cmd_take(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t max = 64, wait_ms = 0;
    if (bm_json_int(msg->body, "max", false, 1, BM_MAX_TAKE, &max, &err) ||
        bm_json_int(msg->body, "wait_ms", false, 0, 30000, &wait_ms, &err)) {
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    const char *taker = b->caller.key ? b->caller.key->public_key : "";
    int n = store_take(b->store, bm_now_ms(), (int)max, (int64_t)b->cfg.delivery_lease_s * 1000, taker,
                       arr);
    if (n < 0) {
        cJSON_Delete(arr);
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "cannot read the outbox; try again");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    if (n == 0 && wait_ms > 0 && b->n_takers < MAX_TAKERS) {
        cJSON_Delete(arr);
        taker_t *t = &b->takers[b->n_takers++];
        t->env = *env;
        memcpy(t->cid, msg->cid, msg->cid_len + 1);
        t->cid_len = msg->cid_len;
        t->max = (int)max;
        t->deadline = bm_mono_ms() + wait_ms;
        bm_strlcpy(t->taker, taker, sizeof t->taker);
        return;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "deliveries", arr);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, n > 0);
}

static void cmd_report(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(msg->body, "results");
    int count = cJSON_GetArraySize(results);
    if (!cJSON_IsArray(results) || count > BM_MAX_RESULTS) {
        bm_error_set(&err, BM_ERR_INVALID, "results", "\"results\" must be an array of at most %d results",
                     BM_MAX_RESULTS);
        goto fail;
    }
    store_result_t *rs = calloc((size_t)count + 1, sizeof *rs);
    if (!rs) {
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        goto fail;
    }
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, results) {
        store_result_t *x = &rs[i++];
        int64_t status = 0, retry = -1;
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
        const cJSON *gone = cJSON_GetObjectItemCaseSensitive(r, "gone");
        const cJSON *permanent = cJSON_GetObjectItemCaseSensitive(r, "permanent");
        if (!cJSON_IsObject(r) || bm_json_int(r, "id", true, 1, INT64_MAX / 2, &x->id, &err) ||
            !cJSON_IsBool(ok) || bm_json_int(r, "status", false, 0, 999, &status, &err) ||
            bm_json_int(r, "latency_ms", false, 0, INT64_C(86400000), &x->latency_ms, &err) ||
            bm_json_int(r, "retry_after_s", false, 0, INT64_C(31536000), &retry, &err) ||
            bm_json_str(r, "error", false, 1000, &x->error, &err) || (gone && !cJSON_IsBool(gone)) ||
            (permanent && !cJSON_IsBool(permanent))) {
            if (!err.code)
                bm_error_set(&err, BM_ERR_INVALID, "results",
                             "each result needs \"id\" and a boolean \"ok\"");
            free(rs);
            goto fail;
        }
        x->ok = cJSON_IsTrue(ok);
        x->status = (int)status;
        x->retry_after_s = retry;
        x->gone = cJSON_IsTrue(gone);
        x->permanent = cJSON_IsTrue(permanent);
    }
    int64_t now = bm_now_ms();
    const char *taker = b->caller.key ? b->caller.key->public_key : "";
    cJSON *refused = cJSON_CreateArray();
    int recorded = 0;
    for (int k = 0; k < count; k++) {
        int rc = store_report(b->store, &rs[k], taker, now, &err);
        if (rc < 0) {
            free(rs);
            cJSON_Delete(refused);
            goto fail;
        }
        if (rc == 1) {
            cJSON_AddItemToArray(refused, cJSON_CreateNumber((double)rs[k].id));
        } else {
            recorded++;
            metrics_webhook(b->metrics, rs[k].ok, rs[k].latency_ms);
        }
    }
    free(rs);
    if (cJSON_GetArraySize(refused) > 0)
        log_warn("通知器报告了不归它的投递，已忽略 / a notifier reported %d deliveries it does not hold; "
                 "ignored",
                 cJSON_GetArraySize(refused));
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "recorded", recorded);
    cJSON_AddItemToObject(reply, "not_leased", refused);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* ---- worker socket: hello, heartbeat, claim, done ----------------------- */

static bool volunteer_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > BM_MAX_VOL_ID)
        return false;
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* A slot for a new session: a free one, else the longest-silent offline one. */
static session_t *session_slot(broker_t *b, const bm_envelope_t *env, const char *id)
{
    int64_t mono = bm_mono_ms();
    session_t *free_slot = NULL, *stale = NULL;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session_t *s = &b->sessions[i];
        bool same_peer = s->used && s->env.id_len == env->id_len &&
                         memcmp(s->env.id, env->id, env->id_len) == 0;
        if (s->used && (same_peer || strcmp(s->volunteer, id) == 0))
            return s; /* a re-hello replaces its own session */
        if (!s->used && !free_slot)
            free_slot = s;
        else if (s->used && !session_online(b, s, mono) && (!stale || s->last_heard < stale->last_heard))
            stale = s;
    }
    return free_slot ? free_slot : stale;
}

static void cmd_hello(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const char *id = NULL, *name = NULL;
    int64_t max_jobs = 1;
    uint32_t skills = 0;
    char skill_list[BM_MAX_CATEGORIES * 33] = "";
    const reg_key_t *key = b->caller.key;
    if (bm_json_str(msg->body, "volunteer", !key, BM_MAX_VOL_ID, &id, &err) ||
        bm_json_str(msg->body, "name", !key, BM_MAX_VOL_NAME, &name, &err) ||
        bm_json_int(msg->body, "max_jobs", false, 1, 20, &max_jobs, &err))
        goto fail;
    if (key) {
        /* Who the volunteer is, what they may take and how many: from the key. */
        if (id && strcmp(id, key->principal) != 0) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "volunteer",
                         "这把钥匙属于志愿者 %s，不能自称 %s / this key belongs to volunteer \"%s\", "
                         "not \"%s\"",
                         key->principal, id, key->principal, id);
            goto fail;
        }
        id = key->principal;
        if (!name)
            name = key->name[0] ? key->name : key->principal;
        if (!cJSON_GetObjectItemCaseSensitive(msg->body, "max_jobs"))
            max_jobs = key->max_jobs;
        if (max_jobs > key->max_jobs) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "max_jobs",
                         "这把钥匙最多同时接 %d 单 / this key may hold at most %d jobs at once",
                         key->max_jobs, key->max_jobs);
            goto fail;
        }
    }
    if (!volunteer_id_ok(id)) {
        bm_error_set(&err, BM_ERR_INVALID, "volunteer",
                     "volunteer id must be 1-%d characters of A-Z a-z 0-9 _ . -", BM_MAX_VOL_ID);
        goto fail;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(msg->body, "skills");
    if (key && !arr) {
        skills = key->skills;
    } else if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        bm_error_set(&err, BM_ERR_INVALID, "skills", "\"skills\" must be a non-empty array of categories");
        goto fail;
    }
    const cJSON *sk;
    cJSON_ArrayForEach(sk, arr) {
        const bm_category_t *cat = cJSON_IsString(sk) ? bm_config_category(&b->cfg, sk->valuestring) : NULL;
        if (!cat) {
            bm_error_set(&err, BM_ERR_UNKNOWN_CATEGORY, "skills", "unknown skill %s%s%s",
                         cJSON_IsString(sk) ? "\"" : "", cJSON_IsString(sk) ? sk->valuestring : "(not a string)",
                         cJSON_IsString(sk) ? "\"" : "");
            goto fail;
        }
        uint32_t bit = 1u << (cat - b->cfg.categories);
        if (key && !(key->skills & bit)) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "skills",
                         "这把钥匙没有登记技能 %s（已登记：%s）/ this key is not registered for "
                         "\"%s\" (registered: %s)",
                         cat->name, key->skills_text, cat->name, key->skills_text);
            goto fail;
        }
        skills |= bit;
    }
    for (int i = 0; i < b->cfg.category_count; i++) {
        if (!(skills & (1u << i)))
            continue;
        if (skill_list[0])
            bm_strlcpy(skill_list + strlen(skill_list), ",", sizeof skill_list - strlen(skill_list));
        bm_strlcpy(skill_list + strlen(skill_list), b->cfg.categories[i].name,
                   sizeof skill_list - strlen(skill_list));
    }

    /* One session per volunteer and per connection: a re-hello replaces both.
     * Everything is checked before anything is written: a refused hello
     * writes nothing. */
    session_t *slot = session_slot(b, env, id);
    if (!slot) {
        bm_error_set(&err, BM_ERR_INVALID, NULL, "在线志愿者太多 (%d) / too many volunteers online (%d)",
                     MAX_SESSIONS, MAX_SESSIONS);
        goto fail;
    }
    if (store_volunteer_hello(b->store, id, name, skill_list, (int)max_jobs, bm_now_ms(), &err) != 0)
        goto fail;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session_t *s = &b->sessions[i];
        if (s != slot && s->used && strcmp(s->volunteer, id) == 0)
            s->used = false;
    }
    memset(slot, 0, sizeof *slot);
    slot->used = true;
    slot->env = *env;
    bm_strlcpy(slot->volunteer, id, sizeof slot->volunteer);
    bm_strlcpy(slot->name, name, sizeof slot->name);
    slot->skills = skills;
    slot->max_jobs = (int)max_jobs;
    slot->last_heard = bm_mono_ms();
    slot->last_db_seen = bm_now_ms();
    slot->batch = b->batch;
    b->dispatch_dirty = true;
    log_info("volunteer %s (%s) online, skills %s", id, name, skill_list);

    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "volunteer", id);
    cJSON_AddStringToObject(reply, "name", name);
    cJSON *sarr = cJSON_AddArrayToObject(reply, "skills");
    for (int i = 0; i < b->cfg.category_count; i++) {
        if (skills & (1u << i))
            cJSON_AddItemToArray(sarr, cJSON_CreateString(b->cfg.categories[i].name));
    }
    cJSON_AddNumberToObject(reply, "max_jobs", (double)max_jobs);
    cJSON_AddNumberToObject(reply, "heartbeat_ms", b->cfg.heartbeat_ms);
    cJSON_AddItemToObject(reply, "jobs", store_volunteer_jobs(b->store, id));
    reply_ok(b, SOCK_WORKER, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_WORKER, env, msg, &err);
}

static void cmd_heartbeat(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    int64_t now = bm_now_ms();
    if (now - s->last_db_seen >= SEEN_WRITE_MS && store_batch_begin(b->store, NULL) == 0 &&
        store_volunteer_seen(b->store, s->volunteer, now) == 0)
        s->last_db_seen = now;
    reply_ok(b, SOCK_WORKER, env, msg, NULL, false);
}

/* Returns the change noted, or NULL if there was no memory for it. */
static change_t *note_change(broker_t *b, int64_t ticket, const char *volunteer, bool revoked,
                             const char *reason)
{
    if (b->n_changes == b->cap_changes) {
        size_t cap = b->cap_changes ? b->cap_changes * 2 : 64;
        change_t *grown = realloc(b->changes, cap * sizeof *grown);
        if (!grown)
            return NULL; /* the offer lists heal at the next dispatch */
        b->changes = grown;
        b->cap_changes = cap;
    }
    change_t *c = &b->changes[b->n_changes++];
    c->ticket = ticket;
    bm_strlcpy(c->volunteer, volunteer ? volunteer : "", sizeof c->volunteer);
    c->revoked = revoked;
    bm_strlcpy(c->reason, reason ? reason : "", sizeof c->reason);
    c->note[0] = '\0';
    return c;
}

/* Runs a lifecycle action and queues its reply; the after-commit effects
 * (taken / revoked notices, a new dispatch) are noted here. */
static void run_act(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                    int64_t ticket, const store_act_t *a)
{
    bm_error_t err = {0};
    cJSON *result = NULL;
    char prev[BM_MAX_VOL_ID + 1] = "";
    if (store_act(b->store, ticket, a, bm_now_ms(), &result, prev, sizeof prev, &err) != 0) {
        reply_err(b, sock, env, msg, &err);
        return;
    }
    log_info("ticket %lld: %s by %s%s", (long long)ticket, bm_action_name(a->act),
             a->volunteer ? "volunteer " : "channel ", a->volunteer ? a->volunteer : a->channel);
    switch (a->act) {
    case BM_ACT_CLAIM:
    case BM_ACT_ESCALATE:
    case BM_ACT_CANCEL:
        note_change(b, ticket, a->volunteer, false, NULL); /* off the market */
        if (prev[0] && (!a->volunteer || strcmp(prev, a->volunteer) != 0)) {
            change_t *c = note_change(b, ticket, prev, true, bm_action_event(a->act));
            if (c && !a->volunteer && a->text) /* the office's words go to the holder */
                bm_strlcpy(c->note, a->text, sizeof c->note);
        }
        break;
    default:
        break;
    }
    b->dispatch_dirty = true;
    reply_ok(b, sock, env, msg, result, true);
}

static void expire_leases(broker_t *b);

static void cmd_claim(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    if (get_ticket(msg->body, &ticket, &err) != 0) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    int cat = store_request_category(b->store, ticket);
    if (cat >= 0 && !(s->skills & (1u << cat))) {
        bm_error_set(&err, BM_ERR_FORBIDDEN, "ticket",
                     "这单是 %s，不在你的技能里 / this job is \"%s\", which is not one of your skills",
                     b->cfg.categories[cat].label, b->cfg.categories[cat].name);
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    /* A lease that ran out since the last sweep ends first, so that the
     * claim is judged against the request as it really stands. */
    expire_leases(b);
    store_act_t a = {.act = BM_ACT_CLAIM, .volunteer = s->volunteer, .max_jobs = s->max_jobs};
    size_t before = b->n_out;
    run_act(b, SOCK_WORKER, env, msg, ticket, &a);
    if (b->n_out > before && strcmp(b->out[b->n_out - 1].cmd, BM_REPLY_ERROR) == 0)
        session_forget_offer(s, ticket); /* taken or gone: stop counting it as an offer */
    else if (b->n_out > before)
        s->claims_today++;
}

/* Checks every photo of a progress/done message, then stores them in the
 * archive (durably, before the commit that refers to them). Nothing is
 * stored unless all of them pass. */
static int photo_quota(broker_t *b, int64_t ticket, const bm_msg_t *msg, bm_error_t *err)
{
    int n = (int)msg->n_attach;
    int have = store_photo_count(b->store, ticket);
    if (b->cfg.photos_per_request > 0 && have >= 0 && have + n > b->cfg.photos_per_request) {
        bm_error_set(err, BM_ERR_TOO_LARGE, "attachments",
                     "这件工单已有 %d 张照片，每件最多 %d 张 / this request has %d photos already; the "
                     "limit is %d a request",
                     have, b->cfg.photos_per_request, have, b->cfg.photos_per_request);
        return -1;
    }
    reg_key_t *k = b->caller.key;
    int64_t day = bm_now_ms() / 86400000;
    if (k && k->day != day) {
        k->day = day;
        k->day_submits = 0;
        k->day_photos = 0;
    }
    if (k && b->cfg.photos_per_volunteer_day > 0 && k->day_photos + n > b->cfg.photos_per_volunteer_day) {
        bm_error_set(err, BM_ERR_QUOTA, "attachments",
                     "你今天已发 %d 张照片，每天最多 %d 张 / you have sent %d photos today; the limit is "
                     "%d a day",
                     k->day_photos, b->cfg.photos_per_volunteer_day, k->day_photos,
                     b->cfg.photos_per_volunteer_day);
        return -1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < msg->n_attach; i++)
        bytes += msg->attach[i].len;
    char dir[1100];
    bm_config_archive_dir(&b->cfg, dir, sizeof dir);
    struct statvfs vs;
    /* The archive folder may not exist before the first photo: then measure
     * where the database is, on the same disk in the default layout. */
    if (statvfs(dir, &vs) == 0 || statvfs(b->cfg.database, &vs) == 0) {
        uint64_t avail = (uint64_t)vs.f_bavail * vs.f_frsize;
        uint64_t need = (uint64_t)b->cfg.disk_reserve_mb * 1024 * 1024 + bytes;
        if (avail < need) {
            bm_error_set(err, BM_ERR_NO_SPACE, "attachments",
                         "服务站存储空间不足，暂时不收照片（文字仍可提交）/ the station is low on disk "
                         "space: photos are refused for now (send the note without them)");
            log_error("磁盘只剩 %llu MiB，低于保留的 %d MiB，拒收照片 / only %llu MiB free, below the "
                      "reserve of %d MiB: photos refused",
                      (unsigned long long)(avail >> 20), b->cfg.disk_reserve_mb,
                      (unsigned long long)(avail >> 20), b->cfg.disk_reserve_mb);
            return -1;
        }
    }
    return 0;
}

static int accept_photos(broker_t *b, const bm_msg_t *msg, store_attach_t *attach,
                         bm_blob_t *blobs, bm_error_t *err)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(msg->body, "attachments");
    if (meta && (!cJSON_IsArray(meta) || (size_t)cJSON_GetArraySize(meta) != msg->n_attach)) {
        bm_error_set(err, BM_ERR_INVALID, "attachments",
                     "\"attachments\" must describe each of the %zu photo frames, in order",
                     msg->n_attach);
        return -1;
    }
    for (size_t i = 0; i < msg->n_attach; i++) {
        const cJSON *m = meta ? cJSON_GetArrayItem(meta, (int)i) : NULL;
        const char *kind = NULL, *name = NULL;
        if ((m && !cJSON_IsObject(m)) || bm_json_str(m, "kind", false, 16, &kind, err) ||
            bm_json_str(m, "name", false, 200, &name, err)) {
            if (!err->code)
                bm_error_set(err, BM_ERR_INVALID, "attachments", "each attachment is an object");
            return -1;
        }
        if (kind && strcmp(kind, "before") != 0 && strcmp(kind, "after") != 0 &&
            strcmp(kind, "other") != 0) {
            bm_error_set(err, BM_ERR_INVALID, "attachments", "kind is before, after or other");
            return -1;
        }
        if (bm_archive_check(msg->attach[i].data, msg->attach[i].len, &blobs[i], err) != 0)
            return -1;
        attach[i] = (store_attach_t){.sha256 = blobs[i].sha256, .mime = blobs[i].mime,
                                     .kind = kind ? kind : "other", .name = name,
                                     .size = blobs[i].size};
    }
    char dir[1100];
    bm_config_archive_dir(&b->cfg, dir, sizeof dir);
    for (size_t i = 0; i < msg->n_attach; i++) {
        if (bm_archive_put(dir, msg->attach[i].data, msg->attach[i].len, &blobs[i], err) != 0)
            return -1;
    }
    return 0;
}

static void cmd_rate(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0, score = 0;
    const char *channel = NULL, *comment = NULL;
    if (get_ticket(msg->body, &ticket, &err) || acting_channel(b, msg->body, false, &channel, &err) ||
        bm_json_int(msg->body, "score", true, 1, 5, &score, &err) ||
        bm_json_str(msg->body, "comment", false, BM_MAX_COMMENT, &comment, &err))
        goto fail;
    if (store_rate(b->store, ticket, channel, (int)score, comment, bm_now_ms(), &err) != 0)
        goto fail;
    log_info("ticket %lld rated %lld by %s", (long long)ticket, (long long)score, channel);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "ticket", (double)ticket);
    cJSON_AddNumberToObject(reply, "rating", (double)score);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* progress, done, cantfix and escalate from the volunteer who holds the job. */
static void holder_act(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg,
                       bm_action_t act, const char *text_key, bool text_required)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    const char *text = NULL, *department = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 ||
        bm_json_str(msg->body, text_key, text_required, BM_MAX_NOTE, &text, &err) != 0 ||
        (act == BM_ACT_ESCALATE &&
         (bm_json_str(msg->body, "department", true, BM_MAX_DEPARTMENT, &department, &err) != 0 ||
          bm_config_check_department(&b->cfg, department, &err) != 0))) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    store_act_t a = {.act = act, .volunteer = s->volunteer, .text = text, .department = department};
    store_attach_t attach[BM_MAX_ATTACH];
    bm_blob_t blobs[BM_MAX_ATTACH];
    if (msg->n_attach > 0 && (photo_quota(b, ticket, msg, &err) != 0 ||
                              accept_photos(b, msg, attach, blobs, &err) != 0)) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    if (msg->n_attach > 0 && b->caller.key)
        b->caller.key->day_photos += (int)msg->n_attach;
    a.attach = attach;
    a.n_attach = msg->n_attach;
    run_act(b, SOCK_WORKER, env, msg, ticket, &a);
}

static void cmd_done(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_DONE, "note", false);
}

static void cmd_progress(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_PROGRESS, "note", false);
}

static void cmd_cantfix(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_CANTFIX, "reason", true);
}

static void cmd_worker_escalate(broker_t *b, session_t *s, const bm_envelope_t *env,
                                const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_ESCALATE, "reason", true);
}

static void cmd_decline(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    const char *reason = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 ||
        bm_json_str(msg->body, "reason", false, BM_MAX_REASON, &reason, &err) != 0 ||
        store_decline(b->store, ticket, s->volunteer, reason, bm_now_ms(), &err) != 0) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    session_forget_offer(s, ticket);
    b->dispatch_dirty = true;
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "ticket", (double)ticket);
    reply_ok(b, SOCK_WORKER, env, msg, reply, true);
}

/* cancel, reopen, escalate and resolve from a channel (client socket). */
static void channel_act(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg,
                        bm_action_t act, const char *text_key, bool text_required)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    const char *channel = NULL, *text = NULL, *department = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 ||
        acting_channel(b, msg->body, false, &channel, &err) != 0 ||
        bm_json_str(msg->body, text_key, text_required, BM_MAX_NOTE, &text, &err) != 0 ||
        (act == BM_ACT_ESCALATE &&
         (bm_json_str(msg->body, "department", true, BM_MAX_DEPARTMENT, &department, &err) != 0 ||
          bm_config_check_department(&b->cfg, department, &err) != 0)))
        goto fail;
    store_act_t a = {.act = act, .channel = channel, .text = text, .department = department};
    run_act(b, SOCK_CLIENT, env, msg, ticket, &a);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

static void cmd_cancel(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_CANCEL, "reason", false);
}

static void cmd_reopen(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_REOPEN, "reason", true);
}

static void cmd_escalate(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_ESCALATE, "reason", true);
}

static void cmd_resolve(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_RESOLVE, "answer", true);
}

static void cmd_list(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    store_filter_t f = {.limit = 50};
    int64_t limit = 50, offset = 0;
    const char *since = NULL, *until = NULL;
    const cJSON *overdue = cJSON_GetObjectItemCaseSensitive(msg->body, "overdue");
    cJSON *out = NULL;
    if (bm_json_str(msg->body, "status", false, 32, &f.status, &err) ||
        bm_json_str(msg->body, "category", false, 64, &f.category, &err) ||
        bm_json_str(msg->body, "channel", false, 64, &f.channel, &err) ||
        bm_json_str(msg->body, "building", false, BM_MAX_BUILDING, &f.building, &err) ||
        bm_json_str(msg->body, "volunteer", false, BM_MAX_VOL_ID, &f.volunteer, &err) ||
        bm_json_str(msg->body, "since", false, 40, &since, &err) ||
        bm_json_str(msg->body, "until", false, 40, &until, &err) ||
        bm_json_int(msg->body, "limit", false, 1, BM_MAX_LIST, &limit, &err) ||
        bm_json_int(msg->body, "offset", false, 0, INT32_MAX, &offset, &err))
        goto fail;
    if (overdue && !cJSON_IsBool(overdue)) {
        bm_error_set(&err, BM_ERR_INVALID, "overdue", "\"overdue\" must be true or false");
        goto fail;
    }
    if ((since && bm_time_parse_iso(since, &f.since) != 0) ||
        (until && bm_time_parse_iso(until, &f.until) != 0)) {
        bm_error_set(&err, BM_ERR_INVALID, since && bm_time_parse_iso(since, &f.since) ? "since" : "until",
                     "dates are ISO 8601 in UTC, e.g. 2026-11-01 or 2026-11-01T08:00:00Z");
        goto fail;
    }
    if (b->caller.kind & ROLE_CHANNEL) {
        /* A channel lists only its own requests. */
        if (f.channel && strcmp(f.channel, b->caller.principal) != 0) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "channel",
                         "只能查看本渠道的工单 / a channel may list only its own requests");
            goto fail;
        }
        f.channel = b->caller.principal;
    }
    f.overdue = cJSON_IsTrue(overdue);
    f.limit = (int)limit;
    f.offset = (int)offset;
    if (store_list(b->store, &f, &out, &err) != 0)
        goto fail;
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

static void cmd_volunteers(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    cJSON *arr = store_volunteers(b->store);
    int64_t mono = bm_mono_ms();
    cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
        bool online = false;
        for (int i = 0; i < MAX_SESSIONS && cJSON_IsString(id); i++) {
            if (session_online(b, &b->sessions[i], mono) &&
                strcmp(b->sessions[i].volunteer, id->valuestring) == 0)
                online = true;
        }
        cJSON_AddBoolToObject(v, "online", online);
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "volunteers", arr);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

/* The configured departments requests can be escalated to. */
static void cmd_departments(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    reply_ok(b, SOCK_CLIENT, env, msg, bm_config_departments_json(&b->cfg), false);
}

/* ---- the operators' view of the outbox ----------------------------------- */

static void cmd_deliveries(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    store_delivery_filter_t f = {0};
    int64_t limit = 50, offset = 0;
    const char *since = NULL;
    cJSON *out = NULL;
    if (bm_json_str(msg->body, "state", false, 16, &f.state, &err) ||
        bm_json_int(msg->body, "endpoint", false, 1, INT64_MAX / 2, &f.endpoint, &err) ||
        bm_json_int(msg->body, "ticket", false, 1, INT64_MAX / 2, &f.ticket, &err) ||
        bm_json_str(msg->body, "since", false, 40, &since, &err) ||
        bm_json_int(msg->body, "limit", false, 1, BM_MAX_LIST, &limit, &err) ||
        bm_json_int(msg->body, "offset", false, 0, INT32_MAX, &offset, &err))
        goto fail;
    if (f.state && strcmp(f.state, "pending") != 0 && strcmp(f.state, "delivered") != 0 &&
        strcmp(f.state, "dead") != 0) {
        bm_error_set(&err, BM_ERR_INVALID, "state", "state is pending, delivered or dead");
        goto fail;
    }
    if (since && bm_time_parse_iso(since, &f.since) != 0) {
        bm_error_set(&err, BM_ERR_INVALID, "since", "since is an ISO 8601 time, e.g. 2026-11-01");
        goto fail;
    }
    f.limit = (int)limit;
    f.offset = (int)offset;
    if (store_deliveries(b->store, &f, &out, &err) != 0)
        goto fail;
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

static void cmd_delivery(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t id = 0;
    cJSON *out = NULL;
    if (bm_json_int(msg->body, "id", true, 1, INT64_MAX / 2, &id, &err) ||
        store_delivery(b->store, id, &out, &err) != 0) {
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
}

static void cmd_replay(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t id = 0, since = 0;
    const char *dead_since = NULL;
    if (bm_json_int(msg->body, "id", false, 1, INT64_MAX / 2, &id, &err) ||
        bm_json_str(msg->body, "dead_since", false, 40, &dead_since, &err))
        goto fail;
    if (!id == !dead_since) {
        bm_error_set(&err, BM_ERR_INVALID, "id", "give either \"id\" or \"dead_since\"");
        goto fail;
    }
    if (dead_since && bm_time_parse_iso(dead_since, &since) != 0) {
        bm_error_set(&err, BM_ERR_INVALID, "dead_since", "dead_since is an ISO 8601 time");
        goto fail;
    }
    int n = store_replay(b->store, id, since, bm_now_ms(), &err);
    if (n < 0)
        goto fail;
    log_info("replay: %d deliver%s due again", n, n == 1 ? "y" : "ies");
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "replayed", n);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

static void cmd_endpoints(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "endpoints", store_endpoints(b->store));
    reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

static void cmd_endpoint(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t id = 0;
    const char *action = NULL, *secret = NULL;
    char generated[80];
    if (bm_json_int(msg->body, "id", true, 1, INT64_MAX / 2, &id, &err) ||
        bm_json_str(msg->body, "action", true, 16, &action, &err) ||
        bm_json_str(msg->body, "secret", false, 120, &secret, &err))
        goto fail;
    if (strcmp(action, "rotate") == 0) {
        if (secret && bm_secret_check(secret) != 0) {
            bm_error_set(&err, BM_ERR_INVALID, "secret",
                         "secret must be whsec_ followed by base64 of 24-64 bytes");
            goto fail;
        }
        if (!secret) {
            unsigned char key[32];
            char b64[64];
            if (bm_random_bytes(key, sizeof key) != 0 ||
                bm_base64_encode(key, sizeof key, b64, sizeof b64) < 0) {
                bm_error_set(&err, BM_ERR_STORAGE, NULL, "cannot generate a secret");
                goto fail;
            }
            snprintf(generated, sizeof generated, "whsec_%s", b64);
            secret = generated;
        }
    }
    if (store_endpoint_set(b->store, id, action, secret, bm_now_ms(),
                           (int64_t)b->cfg.rotation_overlap_s * 1000, &err) != 0)
        goto fail;
    log_info("endpoint %lld: %s", (long long)id, action);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "id", (double)id);
    cJSON_AddStringToObject(reply, "action", action);
    if (strcmp(action, "rotate") == 0) {
        cJSON_AddStringToObject(reply, "secret", secret);
        bm_json_add_time(reply, "old_secret_until",
                         bm_now_ms() + (int64_t)b->cfg.rotation_overlap_s * 1000);
    }
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* ---- keys (the office) ---------------------------------------------------- */

static void cmd_keys(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(msg->body, "all");
    bm_error_t err = {0};
    if (all && !cJSON_IsBool(all)) {
        bm_error_set(&err, BM_ERR_INVALID, "all", "\"all\" 是 true 或 false / \"all\" must be true or false");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    cJSON *arr = store_keys_list(b->store, cJSON_IsTrue(all));
    if (!arr) {
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "读不到钥匙登记表 / cannot read the key registry");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "keys", arr);
    cJSON_AddStringToObject(reply, "broker", b->key.public_key);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

/* Registers a public key (the pair was made by the caller; the secret half
 * never travels). It is accepted from the next pass on, after the commit. */
static void cmd_key_add(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const char *pub = NULL, *role = NULL, *name = NULL, *skills = NULL, *acts_for = NULL;
    int64_t max_jobs = BM_DEFAULT_MAX_JOBS;
    char actor[BM_MAX_ROLE + 1];
    if (bm_json_str(msg->body, "public", true, BM_Z85_KEY_LEN, &pub, &err) ||
        bm_json_str(msg->body, "role", true, BM_MAX_ROLE, &role, &err) ||
        bm_json_str(msg->body, "name", false, BM_MAX_VOL_NAME, &name, &err) ||
        bm_json_str(msg->body, "skills", false, 390, &skills, &err) ||
        bm_json_str(msg->body, "acts_for", false, 500, &acts_for, &err) ||
        bm_json_int(msg->body, "max_jobs", false, 1, 20, &max_jobs, &err))
        goto fail;
    if (!bm_key_z85_ok(pub)) {
        bm_error_set(&err, BM_ERR_INVALID, "public",
                     "公钥应为 40 个 Z85 字符 / the public key must be 40 Z85 characters");
        goto fail;
    }
    if (strcmp(pub, b->key.public_key) == 0) {
        bm_error_set(&err, BM_ERR_INVALID, "public", "这是服务站自己的钥匙 / that is the station's own key");
        goto fail;
    }
    store_key_t k = {0};
    bm_strlcpy(k.public_key, pub, sizeof k.public_key);
    bm_strlcpy(k.role, role, sizeof k.role);
    bm_strlcpy(k.name, name ? name : "", sizeof k.name);
    bm_strlcpy(k.skills, skills ? skills : "", sizeof k.skills);
    bm_strlcpy(k.acts_for, acts_for ? acts_for : "", sizeof k.acts_for);
    k.max_jobs = (int)max_jobs;
    if (registry_check(b->reg, &k, &err) != 0 ||
        store_key_add(b->store, &k, caller_actor(b, actor, sizeof actor), bm_now_ms(), &err) != 0)
        goto fail;
    if (b->n_new_keys == b->cap_new_keys) {
        size_t cap = b->cap_new_keys ? b->cap_new_keys * 2 : 8;
        store_key_t *grown = realloc(b->new_keys, cap * sizeof *grown);
        if (!grown) {
            bm_error_set(&err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
            goto fail;
        }
        b->new_keys = grown;
        b->cap_new_keys = cap;
    }
    b->new_keys[b->n_new_keys++] = k;
    log_info("钥匙已登记 / key registered: %s (%s) by %s", role, name ? name : "", actor);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "public", pub);
    cJSON_AddStringToObject(reply, "role", role);
    cJSON_AddStringToObject(reply, "name", k.name);
    cJSON_AddStringToObject(reply, "broker", b->key.public_key);
    cJSON_AddStringToObject(reply, "client_endpoint", b->cfg.client_endpoint);
    cJSON_AddStringToObject(reply, "worker_endpoint", b->cfg.worker_endpoint);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* Takes a revoked key's sessions and connections away at once. */
static void drop_key(broker_t *b, reg_key_t *k)
{
    if (k->kind == ROLE_VOLUNTEER) {
        for (int i = 0; i < MAX_SESSIONS; i++) {
            if (b->sessions[i].used && strcmp(b->sessions[i].volunteer, k->principal) == 0)
                b->sessions[i].used = false;
        }
    }
    /* libzmq has no call to close one peer of a ROUTER; shutting the
     * connection's descriptor down makes its I/O thread close it, and the
     * reconnect is refused by ZAP. */
    for (int i = 0; i < k->n_fds; i++)
        shutdown(k->fds[i], SHUT_RDWR);
    registry_remove(b->reg, k->public_key);
}

typedef struct {
    const char *role;
    char (*found)[BM_Z85_KEY_LEN + 1];
    int n, max;
} role_match_t;

static int match_role(reg_key_t *k, void *arg)
{
    role_match_t *m = arg;
    if (strcmp(k->role, m->role) == 0 && m->n < m->max)
        bm_strlcpy(m->found[m->n++], k->public_key, BM_Z85_KEY_LEN + 1);
    return 0;
}

/* Revokes one key ("public") or every key of a role ("role": volunteer:v01). */
static void cmd_key_revoke(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const char *pub = NULL, *role = NULL;
    char found[64][BM_Z85_KEY_LEN + 1];
    char actor[BM_MAX_ROLE + 1];
    int n = 0;
    if (bm_json_str(msg->body, "public", false, BM_Z85_KEY_LEN, &pub, &err) ||
        bm_json_str(msg->body, "role", false, BM_MAX_ROLE, &role, &err))
        goto fail;
    if (!pub == !role) {
        bm_error_set(&err, BM_ERR_INVALID, "public",
                     "请给出 public（公钥）或 role（角色）之一 / give either \"public\" or \"role\"");
        goto fail;
    }
    if (pub) {
        if (!registry_find(b->reg, pub)) {
            bm_error_set(&err, BM_ERR_NOT_FOUND, "public", "没有这把有效的钥匙 / no such key, or it was revoked already");
            goto fail;
        }
        bm_strlcpy(found[n++], pub, sizeof found[0]);
    } else {
        role_match_t m = {.role = role, .found = found, .max = 64};
        registry_each(b->reg, match_role, &m);
        n = m.n;
        if (n == 0) {
            bm_error_set(&err, BM_ERR_NOT_FOUND, "role", "角色 %s 没有有效的钥匙 / no key with role \"%s\"",
                         role, role);
            goto fail;
        }
    }
    int offices = registry_count(b->reg, ROLE_OFFICE), losing = 0;
    for (int i = 0; i < n; i++)
        losing += registry_find(b->reg, found[i])->kind == ROLE_OFFICE;
    if (losing > 0 && losing >= offices) {
        bm_error_set(&err, BM_ERR_FORBIDDEN, "public",
                     "至少要留一把办公室钥匙，先登记一把新的 / at least one office key must remain: "
                     "register a new one first");
        goto fail;
    }
    caller_actor(b, actor, sizeof actor);
    for (int i = 0; i < n; i++) {
        if (store_key_revoke(b->store, found[i], actor, bm_now_ms(), &err) != 0)
            goto fail;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(reply, "revoked");
    for (int i = 0; i < n; i++) {
        reg_key_t *k = registry_find(b->reg, found[i]);
        log_warn("钥匙已吊销 / key revoked: %s %s by %s", k->role, k->public_key, actor);
        cJSON_AddItemToArray(arr, cJSON_CreateString(found[i]));
        /* At once, not after the commit: if the commit fails the key stays
         * refused until a restart, which errs on the safe side. */
        drop_key(b, k);
    }
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* ---- users (broker/users.c does the work) -------------------------------- */

typedef enum { USER_ADD, USER_PASSWD, USER_DISABLE, USER_LIST, USER_LOGIN, USER_CHECK } user_op_t;

static void user_cmd(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg, user_op_t op)
{
    bm_error_t err = {0};
    cJSON *reply = NULL;
    char actor[BM_MAX_ROLE + 1];
    caller_actor(b, actor, sizeof actor);
    int64_t now = bm_now_ms();
    int rc = op == USER_ADD      ? users_add(b->store, &b->cfg, msg->body, actor, now, &reply, &err)
             : op == USER_PASSWD ? users_passwd(b->store, msg->body, actor, now, &reply, &err)
             : op == USER_DISABLE ? users_disable(b->store, msg->body, actor, now, &reply, &err)
             : op == USER_LIST   ? users_list(b->store, &reply, &err)
             : op == USER_CHECK  ? users_check(b->store, msg->body, &reply, &err)
                                 : users_login(b->store, msg->body, now, &reply, &err);
    if (rc != 0)
        reply_err(b, SOCK_CLIENT, env, msg, &err);
    else
        reply_ok(b, SOCK_CLIENT, env, msg, reply, op != USER_LIST && op != USER_CHECK);
}

static void cmd_user_add(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_ADD);
}

static void cmd_user_passwd(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_PASSWD);
}

static void cmd_user_disable(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_DISABLE);
}

static void cmd_users(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_LIST);
}

/* One photo of a request, base64 (for the gateway's pages); a channel only
 * of its own requests. */
static void cmd_photo(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    cJSON *reply = NULL;
    const char *channel = (b->caller.kind & ROLE_CHANNEL) ? b->caller.principal : NULL;
    if (photos_get(b->store, &b->cfg, msg->body, channel, &reply, &err) != 0)
        reply_err(b, SOCK_CLIENT, env, msg, &err);
    else
        reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

/* The monthly figures for the office (the gateway's report page). */
static void cmd_stats(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    cJSON *reply = NULL;
    if (reports_month(&b->cfg, msg->body, &reply, &err) != 0)
        reply_err(b, SOCK_CLIENT, env, msg, &err);
    else
        reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

static void cmd_user_check(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_CHECK);
}

static void cmd_login(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_LOGIN);
}

/* ---- the permission table ------------------------------------------------- */

typedef void (*client_fn)(broker_t *, const bm_envelope_t *, const bm_msg_t *);
typedef void (*worker_fn)(broker_t *, session_t *, const bm_envelope_t *, const bm_msg_t *);

/* Every command, the socket it arrives on, and who may send it. handle()
 * checks the role here before any handler runs; a handler narrows further
 * to what is the caller's own (a channel's requests, a volunteer's jobs).
 * docs/security.md and docs/protocol.md show this same table. A gateway acts
 * as the role named in "act_as", when its key lists that role. */
#define OFFICE    ROLE_OFFICE
#define CHANNEL   ROLE_CHANNEL
#define VOLUNTEER ROLE_VOLUNTEER
#define NOTIFIER  ROLE_NOTIFIER
static const struct {
    const char *name;
    int sock;
    unsigned roles;
    client_fn client;
    worker_fn worker;
} commands[] = {
    /* command             socket       who may send it     handler */
    {BM_CMD_SUBMIT,      SOCK_CLIENT, OFFICE | CHANNEL, cmd_submit, NULL},   /* a channel: as itself */
    {BM_CMD_GET,         SOCK_CLIENT, OFFICE | CHANNEL, cmd_get, NULL},      /* a channel: its own */
    {BM_CMD_LIST,        SOCK_CLIENT, OFFICE | CHANNEL, cmd_list, NULL},     /* a channel: its own */
    {BM_CMD_CANCEL,      SOCK_CLIENT, OFFICE | CHANNEL, cmd_cancel, NULL},   /* a channel: its own */
    {BM_CMD_REOPEN,      SOCK_CLIENT, OFFICE | CHANNEL, cmd_reopen, NULL},   /* a channel: its own */
    {BM_CMD_RATE,        SOCK_CLIENT, OFFICE | CHANNEL, cmd_rate, NULL},     /* a channel: its own */
    {BM_CMD_ESCALATE,    SOCK_CLIENT, OFFICE, cmd_escalate, NULL},
    {BM_CMD_RESOLVE,     SOCK_CLIENT, OFFICE, cmd_resolve, NULL},
    {BM_CMD_VOLUNTEERS,  SOCK_CLIENT, OFFICE, cmd_volunteers, NULL},
    {BM_CMD_DEPARTMENTS, SOCK_CLIENT, OFFICE | CHANNEL, cmd_departments, NULL}, /* no secrets */
    {BM_CMD_DELIVERIES,  SOCK_CLIENT, OFFICE, cmd_deliveries, NULL},
    {BM_CMD_DELIVERY,    SOCK_CLIENT, OFFICE, cmd_delivery, NULL},
    {BM_CMD_REPLAY,      SOCK_CLIENT, OFFICE, cmd_replay, NULL},
    {BM_CMD_ENDPOINTS,   SOCK_CLIENT, OFFICE, cmd_endpoints, NULL},
    {BM_CMD_ENDPOINT,    SOCK_CLIENT, OFFICE, cmd_endpoint, NULL},
    {BM_CMD_KEYS,        SOCK_CLIENT, OFFICE, cmd_keys, NULL},
    {BM_CMD_KEY_ADD,     SOCK_CLIENT, OFFICE, cmd_key_add, NULL},
    {BM_CMD_KEY_REVOKE,  SOCK_CLIENT, OFFICE, cmd_key_revoke, NULL},
    {BM_CMD_PHOTO,       SOCK_CLIENT, OFFICE | CHANNEL, cmd_photo, NULL},  /* a channel: its own */
    {BM_CMD_STATS,       SOCK_CLIENT, OFFICE, cmd_stats, NULL},
    {BM_CMD_USERS,       SOCK_CLIENT, OFFICE, cmd_users, NULL},
    {BM_CMD_USER_ADD,    SOCK_CLIENT, OFFICE, cmd_user_add, NULL},
    {BM_CMD_USER_PASSWD, SOCK_CLIENT, OFFICE, cmd_user_passwd, NULL},
    {BM_CMD_USER_DISABLE, SOCK_CLIENT, OFFICE, cmd_user_disable, NULL},
    {BM_CMD_LOGIN,       SOCK_CLIENT, ROLE_GATEWAY | OFFICE, cmd_login, NULL}, /* the gateway as itself */
    {BM_CMD_USER_CHECK,  SOCK_CLIENT, ROLE_GATEWAY | OFFICE, cmd_user_check, NULL}, /* the gateway as itself */
    {BM_CMD_TAKE,        SOCK_CLIENT, NOTIFIER, cmd_take, NULL},           /* holds the webhook secrets */
    {BM_CMD_REPORT,      SOCK_CLIENT, NOTIFIER, cmd_report, NULL},         /* only deliveries it holds */
    {BM_CMD_HELLO,       SOCK_WORKER, VOLUNTEER, NULL, NULL},              /* as the key's volunteer */
    {BM_CMD_HEARTBEAT,   SOCK_WORKER, VOLUNTEER, NULL, cmd_heartbeat},
    {BM_CMD_CLAIM,       SOCK_WORKER, VOLUNTEER, NULL, cmd_claim},         /* only its skills */
    {BM_CMD_DONE,        SOCK_WORKER, VOLUNTEER, NULL, cmd_done},          /* only jobs it holds */
    {BM_CMD_PROGRESS,    SOCK_WORKER, VOLUNTEER, NULL, cmd_progress},      /* only jobs it holds */
    {BM_CMD_DECLINE,     SOCK_WORKER, VOLUNTEER, NULL, cmd_decline},
    {BM_CMD_CANTFIX,     SOCK_WORKER, VOLUNTEER, NULL, cmd_cantfix},       /* only jobs it holds */
    {BM_CMD_ESCALATE,    SOCK_WORKER, VOLUNTEER, NULL, cmd_worker_escalate}, /* only jobs it holds */
};

static const char *kind_name(unsigned kind)
{
    switch (kind) {
    case ROLE_OFFICE: return "office";
    case ROLE_CHANNEL: return "channel";
    case ROLE_VOLUNTEER: return "volunteer";
    case ROLE_NOTIFIER: return "notifier";
    case ROLE_GATEWAY: return "gateway";
    default: return "?";
    }
}

/* Fills b->caller from the connection's key (and a gateway's act_as).
 * Returns 0, or -1 with err set: the message is refused. */
static int resolve_caller(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                          bm_error_t *err)
{
    memset(&b->caller, 0, sizeof b->caller);
    if (b->cfg.auth_none) {
        b->caller.dev = true;
        b->caller.kind = sock == SOCK_CLIENT ? (ROLE_OFFICE | ROLE_NOTIFIER) : ROLE_VOLUNTEER;
        return 0;
    }
    reg_key_t *k = registry_find(b->reg, env->user);
    if (!k) {
        bm_error_set(err, BM_ERR_KEY_REVOKED, NULL,
                     "这把钥匙已被吊销或不再有效，请向办公室要一把新的 / this key has been revoked "
                     "or is no longer valid: ask the office for a new one");
        return -1;
    }
    registry_note_fd(b->reg, k, env->fd);
    b->caller.key = k;
    b->caller.kind = k->kind;
    bm_strlcpy(b->caller.principal, k->principal, sizeof b->caller.principal);
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(msg->body, "act_as");
    if (!as)
        return 0;
    if (k->kind != ROLE_GATEWAY || !cJSON_IsString(as) || !registry_acts_for(k, as->valuestring)) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "act_as",
                     "这把钥匙不能代表 %s / this key may not act as %s",
                     cJSON_IsString(as) ? as->valuestring : "?", cJSON_IsString(as) ? as->valuestring : "?");
        return -1;
    }
    b->caller.kind = registry_kind(as->valuestring, b->caller.principal, sizeof b->caller.principal);
    return 0;
}

static void handle(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    size_t i = 0, n = sizeof commands / sizeof commands[0];
    while (i < n && (commands[i].sock != sock || strcmp(msg->cmd, commands[i].name) != 0))
        i++;
    if (i == n) {
        bm_error_set(&err, BM_ERR_UNKNOWN_COMMAND, NULL, "没有这个命令 \"%s\"（%s 端口）/ unknown command \"%s\" on the %s socket",
                     msg->cmd, sock == SOCK_CLIENT ? "客户" : "志愿者", msg->cmd,
                     sock == SOCK_CLIENT ? "client" : "worker");
        reply_err(b, sock, env, msg, &err);
        return;
    }
    if (resolve_caller(b, sock, env, msg, &err) != 0) {
        reply_err(b, sock, env, msg, &err);
        return;
    }
    if (!(commands[i].roles & b->caller.kind)) {
        bm_error_set(&err, BM_ERR_FORBIDDEN, NULL,
                     "你的角色（%s）不能执行 %s / your role (%s) may not send \"%s\"",
                     kind_name(b->caller.kind), msg->cmd, kind_name(b->caller.kind), msg->cmd);
        reply_err(b, sock, env, msg, &err);
        return;
    }
    if (commands[i].client) {
        commands[i].client(b, env, msg);
        return;
    }
    if (!commands[i].worker) {
        cmd_hello(b, env, msg);
        return;
    }
    session_t *s = session_by_env(b, env);
    if (!s || (b->caller.key && strcmp(s->volunteer, b->caller.principal) != 0)) {
        bm_error_set(&err, BM_ERR_HELLO_REQUIRED, NULL,
                     "请先 hello（这个连接还没有报到）/ say hello first (this connection is not known as "
                     "a volunteer)");
        reply_err(b, sock, env, msg, &err);
        return;
    }
    s->last_heard = bm_mono_ms();
    commands[i].worker(b, s, env, msg);
}

/* ---- after the commit --------------------------------------------------- */

static void serve_takers(broker_t *b, bool shutting_down)
{
    int64_t mono = bm_mono_ms();
    int64_t now = bm_now_ms();
    int kept = 0;
    for (int i = 0; i < b->n_takers; i++) {
        taker_t *t = &b->takers[i];
        bm_msg_t m = {0};
        memcpy(m.cid, t->cid, t->cid_len + 1);
        m.cid_len = t->cid_len;
        if (shutting_down) {
            bm_error_t err = {0};
            bm_error_set(&err, BM_ERR_SHUTTING_DOWN, NULL, "the broker is stopping");
            reply_err(b, SOCK_CLIENT, &t->env, &m, &err);
            continue;
        }
        cJSON *arr = cJSON_CreateArray();
        int n = store_take(b->store, now, t->max, (int64_t)b->cfg.delivery_lease_s * 1000, t->taker, arr);
        if (n > 0 || mono >= t->deadline || n < 0) {
            cJSON *reply = cJSON_CreateObject();
            cJSON_AddItemToObject(reply, "deliveries", arr);
            reply_ok(b, SOCK_CLIENT, &t->env, &m, reply, n > 0);
        } else {
            cJSON_Delete(arr);
            b->takers[kept++] = *t;
        }
    }
    b->n_takers = kept;
}

/* Tells those who were offered a ticket that is no longer on offer that it
 * is taken, and a volunteer who lost a job that it is revoked. */
static void announce_changes(broker_t *b)
{
    for (size_t k = 0; k < b->n_changes; k++) {
        const change_t *c = &b->changes[k];
        for (int i = 0; i < MAX_SESSIONS; i++) {
            session_t *s = &b->sessions[i];
            if (!s->used)
                continue;
            if (c->revoked) {
                if (strcmp(s->volunteer, c->volunteer) != 0)
                    continue;
                cJSON *body = cJSON_CreateObject();
                cJSON_AddNumberToObject(body, "ticket", (double)c->ticket);
                cJSON_AddStringToObject(body, "reason", c->reason);
                if (c->note[0])
                    cJSON_AddStringToObject(body, "note", c->note);
                send_now(b, SOCK_WORKER, &s->env, BM_CMD_REVOKED, body);
                continue;
            }
            if (!session_was_offered(s, c->ticket))
                continue;
            session_forget_offer(s, c->ticket);
            if (strcmp(s->volunteer, c->volunteer) == 0)
                continue;
            cJSON *body = cJSON_CreateObject();
            cJSON_AddNumberToObject(body, "ticket", (double)c->ticket);
            send_now(b, SOCK_WORKER, &s->env, BM_CMD_TAKEN, body);
        }
    }
    b->n_changes = 0;
}

/* Returns claims whose lease ran out to open, noting the revoked notices. */
static void expire_leases(broker_t *b)
{
    store_expired_t expired[64];
    int n = store_expire_leases(b->store, bm_now_ms(), expired, 64);
    for (int i = 0; i < n; i++) {
        log_info("ticket %lld: lease of %s expired; offered again", (long long)expired[i].ticket,
                 expired[i].volunteer);
        note_change(b, expired[i].ticket, expired[i].volunteer, true, "lease_expired");
        b->dispatch_dirty = true;
    }
}

/* Lease expiry and overdue flags, at most every SWEEP_EVERY_MS. */
static void sweep(broker_t *b)
{
    int64_t mono = bm_mono_ms();
    if (mono - b->last_sweep < SWEEP_EVERY_MS)
        return;
    b->last_sweep = mono;
    expire_leases(b);
    if (store_batch_failed(b->store))
        return;
    int marked = store_mark_overdue(b->store, bm_now_ms());
    if (marked > 0)
        log_info("%d request(s) flagged overdue; the office is told", marked);
}

/* Offer bodies built during one dispatch, each once, by ticket. */
typedef struct {
    int64_t *tickets;
    cJSON **bodies;
    size_t cap; /* a power of two */
} offer_cache_t;

/* The offer body for ticket; *owned is set when the caller must free it
 * (the cache is missing or full). */
static cJSON *offer_body(broker_t *b, offer_cache_t *c, int64_t ticket, bool *owned)
{
    *owned = false;
    size_t i = (size_t)ticket * 0x9E3779B97F4A7C15ull & (c->cap - 1);
    for (size_t probes = 0; probes < c->cap; probes++, i = (i + 1) & (c->cap - 1)) {
        if (c->tickets[i] == ticket)
            return c->bodies[i];
        if (c->tickets[i] == 0) {
            c->bodies[i] = store_offer(b->store, ticket);
            if (c->bodies[i])
                c->tickets[i] = ticket;
            return c->bodies[i];
        }
    }
    *owned = true;
    return store_offer(b->store, ticket);
}

static int by_urgency(const void *pa, const void *pb)
{
    const store_open_t *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    if (a->created_at != b->created_at)
        return a->created_at < b->created_at ? -1 : 1;
    return a->ticket < b->ticket ? -1 : a->ticket > b->ticket;
}

/* Fills a volunteer's free offer slots: for each of its skills the oldest
 * open requests it has not declined or failed (one indexed query per skill,
 * whatever waits in other categories or was declined by others) that are
 * not yet on offer to as many volunteers as their current step allows, then
 * the most urgent, oldest of those across its skills. */
static void dispatch_one(broker_t *b, session_t *s, offer_cache_t *cache, int64_t mono)
{
    int window = b->cfg.offer_window < MAX_OFFERED ? b->cfg.offer_window : MAX_OFFERED;
    int room = window - s->n_offered;
    if (room <= 0)
        return;
    int held = store_volunteer_held(b->store, s->volunteer);
    if (held < 0 || held >= s->max_jobs)
        return;
    store_open_t cand[BM_MAX_CATEGORIES * MAX_OFFERED];
    store_open_t page[MAX_OFFERED];
    int n = 0;
    for (int c = 0; c < b->cfg.category_count && c < 32; c++) {
        if (!(s->skills & (1u << c)))
            continue;
        const bm_category_t *cat = &b->cfg.categories[c];
        int kept = 0;
        store_open_t after = {.created_at = INT64_MIN, .ticket = INT64_MIN};
        for (int p = 0; p < OFFER_PAGES && kept < room; p++) {
            int got = store_open_for(b->store, c, s->volunteer, p ? &after : NULL, page, window);
            for (int i = 0; i < got && kept < room; i++) {
                if (session_was_offered(s, page[i].ticket) ||
                    !offers_room(b->offers, page[i].ticket, cat->offer_fanout,
                                 (int64_t)cat->offer_step_s * 1000, mono, &b->next_widen))
                    continue;
                cand[n + kept++] = page[i];
            }
            if (got < window)
                break;
            after = page[got - 1];
        }
        n += kept;
    }
    qsort(cand, (size_t)n, sizeof cand[0], by_urgency);
    for (int q = 0; q < n && s->n_offered < window; q++) {
        bool owned = false;
        cJSON *body = offer_body(b, cache, cand[q].ticket, &owned);
        if (!body)
            continue;
        s->offered[s->n_offered++] = cand[q].ticket;
        s->last_offered = mono;
        if (offers_count(b->offers, cand[q].ticket, mono) != 0)
            log_warn("内存不足，无法计数 / out of memory counting offers; ticket %lld may go to more volunteers",
                     (long long)cand[q].ticket);
        log_debug("offer ticket %lld to %s", (long long)cand[q].ticket, s->volunteer);
        if (bm_send(b->sock[SOCK_WORKER], &s->env, BM_CMD_OFFER, "", 0, body) != 0)
            log_debug("offer to %s dropped: %s", s->volunteer, zmq_strerror(errno));
        if (owned)
            cJSON_Delete(body);
    }
}

/* Wall ms of the latest local midnight. */
static int64_t local_midnight(int64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return now_ms - now_ms % 86400000;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

/* Fairness: fewest jobs given today first, then the one offered to longest
 * ago (never offered first), then by id, so that equal volunteers take turns. */
static int by_fairness(const void *pa, const void *pb)
{
    const session_t *a = *(session_t *const *)pa, *b = *(session_t *const *)pb;
    if (a->claims_today != b->claims_today)
        return a->claims_today < b->claims_today ? -1 : 1;
    if (a->last_offered != b->last_offered)
        return a->last_offered < b->last_offered ? -1 : 1;
    return strcmp(a->volunteer, b->volunteer);
}

/* Offers open requests to online volunteers with the skill and room for a
 * job, at most offer_window outstanding per volunteer; each job first to its
 * category's offer_fanout volunteers, chosen fairly, and to that many more
 * every offer_step_s until someone claims it. */
static void dispatch(broker_t *b)
{
    int64_t mono = bm_mono_ms();
    bool widen = b->next_widen && mono >= b->next_widen;
    if (!b->dispatch_dirty && !widen && mono - b->last_dispatch < DISPATCH_EVERY_MS)
        return;
    b->dispatch_dirty = false;
    b->last_dispatch = mono;
    b->next_widen = 0;
    offer_cache_t cache = {0};
    cache.tickets = calloc(OFFER_CACHE, sizeof *cache.tickets);
    cache.bodies = calloc(OFFER_CACHE, sizeof *cache.bodies);
    if (cache.tickets && cache.bodies)
        cache.cap = OFFER_CACHE;
    /* Who holds which offer now: claims and declines have taken some away. */
    offers_begin(b->offers);
    session_t *online[MAX_SESSIONS];
    int n = 0;
    int64_t midnight = local_midnight(bm_now_ms());
    store_read_begin(b->store);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session_t *s = &b->sessions[i];
        if (!session_online(b, s, mono))
            continue; /* an offer to someone gone offline does not hold a job back */
        for (int k = 0; k < s->n_offered; k++)
            offers_count(b->offers, s->offered[k], mono);
        if (s->claims_day != midnight) {
            int got = store_volunteer_claimed_since(b->store, s->volunteer, midnight);
            s->claims_today = got > 0 ? got : 0;
            s->claims_day = midnight;
        }
        online[n++] = s;
    }
    qsort(online, (size_t)n, sizeof online[0], by_fairness);
    for (int i = 0; i < n; i++)
        dispatch_one(b, online[i], &cache, mono);
    store_read_end(b->store);
    offers_end(b->offers);
    for (size_t i = 0; i < cache.cap; i++)
        cJSON_Delete(cache.bodies[i]);
    free(cache.tickets);
    free(cache.bodies);
}

/* ---- the loop ----------------------------------------------------------- */

static void undo_pass_sessions(broker_t *b)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (b->sessions[i].used && b->sessions[i].batch == b->batch)
            b->sessions[i].used = false;
    }
    b->n_changes = 0;
    b->n_new_keys = 0; /* never registered */
}

/* Keys registered in a committed pass are accepted from now on. */
static void admit_new_keys(broker_t *b)
{
    for (size_t i = 0; i < b->n_new_keys; i++) {
        bm_error_t err = {0};
        if (registry_put(b->reg, &b->new_keys[i], &err) != 0)
            log_error("登记的钥匙无法启用 / a registered key cannot be used: %s", err.message);
    }
    b->n_new_keys = 0;
}

/* Volunteers online now (for the metrics). */
static int count_online(const broker_t *b)
{
    int n = 0;
    int64_t mono = bm_mono_ms();
    for (int i = 0; i < MAX_SESSIONS; i++)
        n += b->sessions[i].used && session_online(b, &b->sessions[i], mono);
    return n;
}

/* One pass: read what is waiting, handle it in one transaction, commit,
 * answer. If SQLite rolls the pass's transaction back under us (a full disk,
 * an I/O error) or the database file is gone, nothing more runs in the pass:
 * the messages not yet read stay queued in their sockets for the next pass,
 * and every acknowledgement already queued becomes storage_error.
 * Returns the number of messages handled, or -1 on a fatal error. */
static int pass(broker_t *b, bool shutting_down)
{
    int handled = 0;
    bool more = true;
    b->batch++;
    /* Leases first: a claim read in this pass meets leases already expired. */
    if (!shutting_down)
        sweep(b);
    bool failed = store_batch_failed(b->store);
    while (more && (!failed || shutting_down) && handled < b->cfg.batch_max) {
        more = false;
        for (int k = 0; k < 2 && (!failed || shutting_down); k++) {
            bm_envelope_t env;
            bm_msg_t msg;
            bm_error_t err = {0};
            bm_recv_t r = bm_recv(b->sock[k], true, true, &env, &msg, &err);
            if (r == BM_RECV_NONE)
                continue;
            if (r == BM_RECV_FAIL) {
                if (errno == EINTR)
                    continue;
                log_error("receive failed: %s", zmq_strerror(errno));
                return -1;
            }
            more = true;
            handled++;
            if (r == BM_RECV_INVALID) {
                log_debug("malformed message: %s", err.message);
                reply_err(b, k, &env, &msg, &err);
            } else if (shutting_down) {
                bm_error_set(&err, BM_ERR_SHUTTING_DOWN, NULL, "the broker is stopping; retry shortly");
                reply_err(b, k, &env, &msg, &err);
            } else {
                handle(b, k, &env, &msg);
            }
            bm_msg_clear(&msg);
            failed = store_batch_failed(b->store);
        }
    }
    if (b->n_takers > 0 && !failed)
        serve_takers(b, shutting_down);

    bm_error_t cerr = {0};
    bool committed = true;
    bool wrote = store_in_batch(b->store);
    int64_t commit_t0 = metrics_now_us();
    if (wrote && store_batch_commit(b->store, &cerr) != 0) {
        committed = false;
        log_error("commit failed, %zu replies turned into errors: %s", b->n_out, cerr.message);
        undo_pass_sessions(b);
    }
    metrics_pass(b->metrics, wrote, committed, metrics_now_us() - commit_t0, handled, b->pass_submits,
                 b->metrics ? count_online(b) : 0);
    b->pass_submits = 0;
    flush(b, committed, &cerr);
    if (committed) {
        admit_new_keys(b);
        announce_changes(b);
        dispatch(b);
    }
    return handled;
}

/* Out of descriptors, libzmq's listener would retry accept() in a busy loop:
 * stop listening for a while instead, and keep serving the connections we
 * have. The monitor says when accept failed. */
static void watch_accepts(broker_t *b)
{
    int64_t mono = bm_mono_ms();
    for (int k = 0; k < 2; k++) {
        int event = 0, value = 0;
        while (b->mon[k] && bm_monitor_read(b->mon[k], &event, &value) == 1) {
            if (event != ZMQ_EVENT_ACCEPT_FAILED || (value != EMFILE && value != ENFILE) ||
                b->paused_until[k])
                continue;
            if (zmq_unbind(b->sock[k], b->bound[k]) == 0) {
                b->paused_until[k] = mono + ACCEPT_PAUSE_MS;
                log_error("文件描述符用完了，暂停接受新连接 %d 毫秒 / out of file descriptors: not "
                          "accepting new connections on %s for %d ms",
                          ACCEPT_PAUSE_MS, b->bound[k], ACCEPT_PAUSE_MS);
            }
        }
        if (b->paused_until[k] && mono >= b->paused_until[k]) {
            if (zmq_bind(b->sock[k], b->bound[k]) == 0) {
                b->paused_until[k] = 0;
                log_info("重新接受新连接 / accepting new connections on %s again", b->bound[k]);
            } else {
                b->paused_until[k] = mono + ACCEPT_PAUSE_MS;
            }
        }
    }
}

int broker_run(broker_t *self, volatile sig_atomic_t *stop)
{
    log_info("listening: clients %s, workers %s", self->cfg.client_endpoint, self->cfg.worker_endpoint);
    while (!*stop) {
        zmq_pollitem_t items[5] = {
            {self->sock[SOCK_CLIENT], 0, ZMQ_POLLIN, 0},
            {self->sock[SOCK_WORKER], 0, ZMQ_POLLIN, 0},
        };
        int n = 2;
        void *extra[3] = {self->zap ? zap_socket(self->zap) : NULL, self->mon[0], self->mon[1]};
        /* (a handler unbound by the testing seam has no socket) */
        for (int k = 0; k < 3; k++) {
            if (extra[k])
                items[n++] = (zmq_pollitem_t){extra[k], 0, ZMQ_POLLIN, 0};
        }
        long timeout = self->n_takers > 0 ? TAKER_TICK_MS : IDLE_TICK_MS;
        if (self->paused_until[0] || self->paused_until[1])
            timeout = TAKER_TICK_MS;
        if (zmq_poll(items, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        /* Handshakes first: a new peer waits at most one pass. */
        if (self->zap && zap_handle(self->zap) < 0) {
            log_error("身份验证处理失败 / the ZAP handler failed: %s", zmq_strerror(errno));
            return -1;
        }
        watch_accepts(self);
        if (pass(self, false) < 0)
            return -1;
    }
    /* Answer what is already queued, then stop. */
    pass(self, true);
    log_info("stopped; everything acknowledged is committed");
    return 0;
}

/* Adds each stored key to the registry (a key whose role the config no
 * longer allows is skipped with a warning). */
static int load_stored_key(const store_key_t *k, void *arg)
{
    broker_t *b = arg;
    bm_error_t err = {0};
    if (registry_put(b->reg, k, &err) != 0)
        log_warn("跳过一把钥匙 / skipping key %s (%s): %s", k->public_key, k->role, err.message);
    return 0;
}

/* The broker's own key pair: key_dir/broker.key, made on the first start. */
static int broker_key(broker_t *b, const char *dir, bm_error_t *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/broker.key", dir);
    if (access(path, F_OK) == 0)
        return bm_key_load(path, &b->key, err);
    memset(&b->key, 0, sizeof b->key);
    if (bm_key_generate(&b->key) != 0) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "不能生成服务站钥匙 / cannot make the station's key");
        return -1;
    }
    bm_strlcpy(b->key.role, "broker", sizeof b->key.role);
    bm_strlcpy(b->key.name, "bianmin-broker", sizeof b->key.name);
    if (bm_key_save(path, &b->key, false, err) != 0)
        return -1;
    log_info("生成了服务站钥匙 / made the station's key pair: %s (public %s)", path, b->key.public_key);
    return 0;
}

/* On a first start (no office key registered) makes key_dir/office.key and
 * registers it, so that the office can act with no manual step. An existing
 * office.key (e.g. after the database was restored) is registered again. */
static int first_office_key(broker_t *b, const char *dir, bm_error_t *err)
{
    if (registry_count(b->reg, ROLE_OFFICE) > 0)
        return 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/office.key", dir);
    bm_key_t office;
    bool made = false;
    if (access(path, F_OK) == 0) {
        if (bm_key_load(path, &office, err) != 0)
            return -1;
    } else {
        memset(&office, 0, sizeof office);
        if (bm_key_generate(&office) != 0) {
            bm_error_set(err, BM_ERR_INVALID, NULL, "不能生成办公室钥匙 / cannot make the office key");
            return -1;
        }
        bm_strlcpy(office.role, "office", sizeof office.role);
        bm_strlcpy(office.name, "办公室 office", sizeof office.name);
        bm_strlcpy(office.broker_key, b->key.public_key, sizeof office.broker_key);
        bm_strlcpy(office.client_endpoint, b->cfg.client_endpoint, sizeof office.client_endpoint);
        bm_strlcpy(office.worker_endpoint, b->cfg.worker_endpoint, sizeof office.worker_endpoint);
        if (bm_key_save(path, &office, false, err) != 0)
            return -1;
        made = true;
    }
    store_key_t k = {0};
    bm_strlcpy(k.public_key, office.public_key, sizeof k.public_key);
    bm_strlcpy(k.role, "office", sizeof k.role);
    bm_strlcpy(k.name, office.name[0] ? office.name : "office", sizeof k.name);
    memset(&office, 0, sizeof office);
    if (store_key_add(b->store, &k, "system", bm_now_ms(), err) != 0 ||
        store_batch_commit(b->store, err) != 0 || registry_put(b->reg, &k, err) != 0) {
        store_batch_rollback(b->store);
        return -1;
    }
    log_warn("%s办公室钥匙 / %s the office key: %s — keep it safe; `bianmin --key %s keys new ...` "
             "makes the others",
             made ? "生成了" : "重新登记了", made ? "made" : "registered again", path, path);
    return 0;
}

/* Binds the two server sockets: CURVE servers behind the ZAP handler, or
 * plain ones in development mode. */
static int bind_sockets(broker_t *self, bm_error_t *err)
{
    const char *eps[2] = {self->cfg.client_endpoint, self->cfg.worker_endpoint};
    const char *domains[2] = {BM_ZAP_DOMAIN_CLIENT, BM_ZAP_DOMAIN_WORKER};
    for (int k = 0; k < 2; k++) {
        /* A peer that never reads cannot make the broker hold more than
         * peer_queue messages for it: later ones are dropped. The monitor
         * says when accept() fails for want of descriptors. */
        bm_sock_opts_t o = {.key = self->cfg.auth_none ? NULL : &self->key, .zap_domain = domains[k],
                            .sndhwm = self->cfg.peer_queue, .mon_events = ZMQ_EVENT_ACCEPT_FAILED,
                            .mon = &self->mon[k]};
        self->sock[k] = bm_socket_ex(self->ctx, ZMQ_ROUTER, eps[k], true, &o);
        if (!self->sock[k]) {
            bm_error_set(err, BM_ERR_INVALID, NULL, "不能监听 %s (%s) / cannot bind %s", eps[k],
                         zmq_strerror(errno), eps[k]);
            return -1;
        }
        size_t len = sizeof self->bound[k];
        if (zmq_getsockopt(self->sock[k], ZMQ_LAST_ENDPOINT, self->bound[k], &len) != 0)
            bm_strlcpy(self->bound[k], eps[k], sizeof self->bound[k]);
    }
    return 0;
}

broker_t *broker_new(const bm_config_t *cfg, bm_error_t *err)
{
    broker_t *self = calloc(1, sizeof *self);
    if (!self) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    if (self->cfg.auth_none &&
        (!bm_endpoint_local(self->cfg.client_endpoint) || !bm_endpoint_local(self->cfg.worker_endpoint))) {
        bm_error_set(err, BM_ERR_INVALID, "auth",
                     "开发模式（\"auth\": \"none\"）只能监听本机 (ipc:// 或 127.0.0.1)，不能监听 %s / "
                     "development mode (\"auth\": \"none\") listens only on ipc:// or loopback, not %s",
                     bm_endpoint_local(self->cfg.client_endpoint) ? self->cfg.worker_endpoint
                                                                  : self->cfg.client_endpoint,
                     bm_endpoint_local(self->cfg.client_endpoint) ? self->cfg.worker_endpoint
                                                                  : self->cfg.client_endpoint);
        goto fail;
    }
    self->store = store_open(self->cfg.database, &self->cfg, err);
    self->reg = registry_new(&self->cfg);
    if (!self->store || !self->reg)
        goto fail;
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "cannot create a ZeroMQ context");
        goto fail;
    }
    if (self->cfg.auth_none) {
        log_warn("开发模式：没有身份验证，谁能连上谁就是办公室 / DEVELOPMENT MODE (\"auth\": \"none\"): "
                 "no authentication; whoever reaches %s is the office",
                 self->cfg.client_endpoint);
        if (bind_sockets(self, err) != 0)
            goto fail;
    } else {
        char dir[1100];
        bm_config_key_dir(&self->cfg, dir, sizeof dir);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            bm_error_set(err, BM_ERR_INVALID, NULL, "不能建钥匙目录 %s (%s) / cannot create key folder %s",
                         dir, strerror(errno), dir);
            goto fail;
        }
        if (broker_key(self, dir, err) != 0 || store_keys_load(self->store, load_stored_key, self) != 0)
            goto fail;
        /* The handler is bound before any server socket, in the same context. */
        self->zap = zap_new(self->ctx, self->reg, err);
        if (!self->zap)
            goto fail;
        if (self->cfg.fault_zap == 1) /* testing: as if no handler were bound */
            zap_unbind(self->zap);
        else if (self->cfg.fault_zap == 2) /* testing: a handler that never answers */
            zap_set_silent(self->zap, true);
        if (bind_sockets(self, err) != 0)
            goto fail;
        for (int k = 0; k < 2; k++) {
            if (zap_self_test(self->zap, self->ctx, self->bound[k], self->key.public_key, SELF_TEST_MS,
                              err) != 0)
                goto fail;
        }
        log_info("身份验证已开启，自检通过 / authentication on (CURVE + ZAP); self-test refused an "
                 "unregistered key on both sockets");
        if (first_office_key(self, dir, err) != 0)
            goto fail;
    }
    self->offers = offers_new();
    if (!self->offers) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        goto fail;
    }
    self->dispatch_dirty = true;
    return self;
fail:
    broker_destroy(&self);
    return NULL;
}

void broker_destroy(broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    for (int k = 0; k < 2; k++) {
        bm_monitor_close(self->sock[k], &self->mon[k]);
        if (self->sock[k])
            zmq_close(self->sock[k]);
    }
    zap_destroy(&self->zap);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    for (size_t i = 0; i < self->n_out; i++)
        cJSON_Delete(self->out[i].body);
    free(self->out);
    free(self->changes);
    free(self->new_keys);
    registry_destroy(&self->reg);
    memset(&self->key, 0, sizeof self->key);
    offers_destroy(&self->offers);
    store_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

void broker_fail_commits(broker_t *self, int n)
{
    store_fail_commits(self->store, n);
}

void broker_set_metrics(broker_t *self, metrics_t *metrics)
{
    self->metrics = metrics;
}
