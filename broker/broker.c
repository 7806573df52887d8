/* broker.c - see broker.h. */
#include "broker.h"
#include "archive.h"
#include "jsonx.h"
#include "log.h"
#include "proto.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_SESSIONS     1024
#define MAX_OFFERED      16    /* outstanding offers remembered per volunteer */
#define MAX_TAKERS       16
#define QUEUE_SCAN       256   /* open requests the dispatcher looks at per pass */
#define IDLE_TICK_MS     1000
#define TAKER_TICK_MS    200
#define SEEN_WRITE_MS    60000 /* how often a heartbeat refreshes volunteers.last_seen */
#define DISPATCH_EVERY_MS 5000
#define SWEEP_EVERY_MS   500   /* lease expiry and overdue checks */

enum { SOCK_CLIENT = 0, SOCK_WORKER = 1 };

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
} taker_t;

/* After the commit: a ticket no longer on offer (tell those offered it,
 * except `volunteer`), or a job taken from its holder (tell `volunteer`). */
typedef struct {
    int64_t ticket;
    char volunteer[BM_MAX_VOL_ID + 1];
    bool revoked;
    char reason[32];
} change_t;

struct broker {
    bm_config_t cfg;
    store_t *store;
    void *ctx;
    void *sock[2];
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

static void cmd_submit(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    store_submit_t in = {0};
    const cJSON *body = msg->body;
    if (bm_json_str(body, "channel", true, 64, &in.channel, &err) ||
        bm_json_str(body, "category", true, 64, &in.category, &err) ||
        bm_json_str(body, "building", true, BM_MAX_BUILDING, &in.building, &err) ||
        bm_json_str(body, "unit", false, BM_MAX_UNIT, &in.unit, &err) ||
        bm_json_str(body, "contact", true, BM_MAX_CONTACT, &in.contact, &err) ||
        bm_json_str(body, "text", true, BM_MAX_TEXT, &in.text, &err) ||
        bm_json_str(body, "callback", false, BM_MAX_URL, &in.callback, &err) ||
        bm_json_str(body, "ref", false, BM_MAX_REF, &in.ref, &err))
        goto fail;
    if (!bm_config_channel(&b->cfg, in.channel)) {
        bm_error_set(&err, BM_ERR_UNKNOWN_CHANNEL, "channel", "unknown channel \"%s\"", in.channel);
        goto fail;
    }
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
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
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
    int n = store_take(b->store, bm_now_ms(), (int)max, (int64_t)b->cfg.delivery_lease_s * 1000, arr);
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
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "out of memory");
        goto fail;
    }
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, results) {
        store_result_t *x = &rs[i++];
        int64_t status = 0, retry = -1;
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
        const cJSON *gone = cJSON_GetObjectItemCaseSensitive(r, "gone");
        if (!cJSON_IsObject(r) || bm_json_int(r, "id", true, 1, INT64_MAX / 2, &x->id, &err) ||
            !cJSON_IsBool(ok) || bm_json_int(r, "status", false, 0, 999, &status, &err) ||
            bm_json_int(r, "latency_ms", false, 0, INT64_C(86400000), &x->latency_ms, &err) ||
            bm_json_int(r, "retry_after_s", false, 0, INT64_C(31536000), &retry, &err) ||
            bm_json_str(r, "error", false, 1000, &x->error, &err) || (gone && !cJSON_IsBool(gone))) {
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
    }
    int64_t now = bm_now_ms();
    for (int k = 0; k < count; k++) {
        if (store_report(b->store, &rs[k], now, &err) != 0) {
            free(rs);
            goto fail;
        }
    }
    free(rs);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "recorded", count);
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

static void cmd_hello(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const char *id = NULL, *name = NULL;
    int64_t max_jobs = 1;
    uint32_t skills = 0;
    char skill_list[BM_MAX_CATEGORIES * 33] = "";
    if (bm_json_str(msg->body, "volunteer", true, BM_MAX_VOL_ID, &id, &err) ||
        bm_json_str(msg->body, "name", true, BM_MAX_VOL_NAME, &name, &err) ||
        bm_json_int(msg->body, "max_jobs", false, 1, 20, &max_jobs, &err))
        goto fail;
    if (!volunteer_id_ok(id)) {
        bm_error_set(&err, BM_ERR_INVALID, "volunteer",
                     "volunteer id must be 1-%d characters of A-Z a-z 0-9 _ . -", BM_MAX_VOL_ID);
        goto fail;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(msg->body, "skills");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
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
        if (!(skills & bit)) {
            if (skill_list[0])
                bm_strlcpy(skill_list + strlen(skill_list), ",", sizeof skill_list - strlen(skill_list));
            bm_strlcpy(skill_list + strlen(skill_list), cat->name, sizeof skill_list - strlen(skill_list));
        }
        skills |= bit;
    }
    if (store_volunteer_hello(b->store, id, name, skill_list, (int)max_jobs, bm_now_ms(), &err) != 0)
        goto fail;

    /* One session per volunteer and per connection: a re-hello replaces both. */
    session_t *slot = NULL;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session_t *s = &b->sessions[i];
        bool same_peer = s->used && s->env.id_len == env->id_len &&
                         memcmp(s->env.id, env->id, env->id_len) == 0;
        if (s->used && (same_peer || strcmp(s->volunteer, id) == 0))
            s->used = false;
        if (!s->used && !slot)
            slot = s;
    }
    if (!slot) {
        bm_error_set(&err, BM_ERR_INVALID, NULL, "too many volunteers online (%d)", MAX_SESSIONS);
        goto fail;
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

static void note_change(broker_t *b, int64_t ticket, const char *volunteer, bool revoked,
                        const char *reason)
{
    if (b->n_changes == b->cap_changes) {
        size_t cap = b->cap_changes ? b->cap_changes * 2 : 64;
        change_t *grown = realloc(b->changes, cap * sizeof *grown);
        if (!grown)
            return; /* the offer lists heal at the next dispatch */
        b->changes = grown;
        b->cap_changes = cap;
    }
    change_t *c = &b->changes[b->n_changes++];
    c->ticket = ticket;
    bm_strlcpy(c->volunteer, volunteer ? volunteer : "", sizeof c->volunteer);
    c->revoked = revoked;
    bm_strlcpy(c->reason, reason ? reason : "", sizeof c->reason);
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
        if (prev[0] && (!a->volunteer || strcmp(prev, a->volunteer) != 0))
            note_change(b, ticket, prev, true, bm_action_event(a->act));
        break;
    default:
        break;
    }
    b->dispatch_dirty = true;
    reply_ok(b, sock, env, msg, result, true);
}

static void cmd_claim(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    if (get_ticket(msg->body, &ticket, &err) != 0) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    store_act_t a = {.act = BM_ACT_CLAIM, .volunteer = s->volunteer, .max_jobs = s->max_jobs};
    size_t before = b->n_out;
    run_act(b, SOCK_WORKER, env, msg, ticket, &a);
    if (b->n_out > before && strcmp(b->out[b->n_out - 1].cmd, BM_REPLY_ERROR) == 0)
        session_forget_offer(s, ticket); /* taken or gone: stop counting it as an offer */
}

/* Checks every photo of a progress/done message, then stores them in the
 * archive (durably, before the commit that refers to them). Nothing is
 * stored unless all of them pass. */
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
    if (get_ticket(msg->body, &ticket, &err) ||
        bm_json_str(msg->body, "channel", true, 64, &channel, &err) ||
        bm_json_int(msg->body, "score", true, 1, 5, &score, &err) ||
        bm_json_str(msg->body, "comment", false, BM_MAX_COMMENT, &comment, &err))
        goto fail;
    if (!bm_config_channel(&b->cfg, channel)) {
        bm_error_set(&err, BM_ERR_UNKNOWN_CHANNEL, "channel", "unknown channel \"%s\"", channel);
        goto fail;
    }
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
         bm_json_str(msg->body, "department", true, BM_MAX_DEPARTMENT, &department, &err) != 0)) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    store_act_t a = {.act = act, .volunteer = s->volunteer, .text = text, .department = department};
    store_attach_t attach[BM_MAX_ATTACH];
    bm_blob_t blobs[BM_MAX_ATTACH];
    if (msg->n_attach > 0 && accept_photos(b, msg, attach, blobs, &err) != 0) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
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
        bm_json_str(msg->body, "channel", true, 64, &channel, &err) != 0 ||
        bm_json_str(msg->body, text_key, text_required, BM_MAX_NOTE, &text, &err) != 0 ||
        (act == BM_ACT_ESCALATE &&
         bm_json_str(msg->body, "department", true, BM_MAX_DEPARTMENT, &department, &err) != 0))
        goto fail;
    if (!bm_config_channel(&b->cfg, channel)) {
        bm_error_set(&err, BM_ERR_UNKNOWN_CHANNEL, "channel", "unknown channel \"%s\"", channel);
        goto fail;
    }
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

typedef void (*client_fn)(broker_t *, const bm_envelope_t *, const bm_msg_t *);
typedef void (*worker_fn)(broker_t *, session_t *, const bm_envelope_t *, const bm_msg_t *);

static const struct {
    const char *name;
    client_fn fn;
} client_cmds[] = {
    {BM_CMD_SUBMIT, cmd_submit},
    {BM_CMD_GET, cmd_get},
    {BM_CMD_TAKE, cmd_take},
    {BM_CMD_REPORT, cmd_report},
    {BM_CMD_CANCEL, cmd_cancel},
    {BM_CMD_REOPEN, cmd_reopen},
    {BM_CMD_ESCALATE, cmd_escalate},
    {BM_CMD_RESOLVE, cmd_resolve},
    {BM_CMD_LIST, cmd_list},
    {BM_CMD_VOLUNTEERS, cmd_volunteers},
    {BM_CMD_DELIVERIES, cmd_deliveries},
    {BM_CMD_DELIVERY, cmd_delivery},
    {BM_CMD_REPLAY, cmd_replay},
    {BM_CMD_ENDPOINTS, cmd_endpoints},
    {BM_CMD_ENDPOINT, cmd_endpoint},
    {BM_CMD_RATE, cmd_rate},
};

static const struct {
    const char *name;
    worker_fn fn;
} worker_cmds[] = {
    {BM_CMD_HEARTBEAT, cmd_heartbeat},
    {BM_CMD_CLAIM, cmd_claim},
    {BM_CMD_DONE, cmd_done},
    {BM_CMD_PROGRESS, cmd_progress},
    {BM_CMD_DECLINE, cmd_decline},
    {BM_CMD_CANTFIX, cmd_cantfix},
    {BM_CMD_ESCALATE, cmd_worker_escalate},
};

static void handle(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    if (sock == SOCK_CLIENT) {
        for (size_t i = 0; i < sizeof client_cmds / sizeof client_cmds[0]; i++) {
            if (strcmp(msg->cmd, client_cmds[i].name) == 0) {
                client_cmds[i].fn(b, env, msg);
                return;
            }
        }
    } else {
        if (strcmp(msg->cmd, BM_CMD_HELLO) == 0) {
            cmd_hello(b, env, msg);
            return;
        }
        for (size_t i = 0; i < sizeof worker_cmds / sizeof worker_cmds[0]; i++) {
            if (strcmp(msg->cmd, worker_cmds[i].name) == 0) {
                session_t *s = session_by_env(b, env);
                if (!s) {
                    bm_error_set(&err, BM_ERR_HELLO_REQUIRED, NULL,
                                 "say hello first (this connection is not known as a volunteer)");
                    reply_err(b, sock, env, msg, &err);
                    return;
                }
                s->last_heard = bm_mono_ms();
                worker_cmds[i].fn(b, s, env, msg);
                return;
            }
        }
    }
    bm_error_set(&err, BM_ERR_UNKNOWN_COMMAND, NULL, "unknown command \"%s\" on the %s socket",
                 msg->cmd, sock == SOCK_CLIENT ? "client" : "worker");
    reply_err(b, sock, env, msg, &err);
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
        int n = store_take(b->store, now, t->max, (int64_t)b->cfg.delivery_lease_s * 1000, arr);
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

/* Lease expiry and overdue flags, at most every SWEEP_EVERY_MS. */
static void sweep(broker_t *b)
{
    int64_t mono = bm_mono_ms();
    if (mono - b->last_sweep < SWEEP_EVERY_MS)
        return;
    b->last_sweep = mono;
    int64_t now = bm_now_ms();
    store_expired_t expired[64];
    int n = store_expire_leases(b->store, now, expired, 64);
    for (int i = 0; i < n; i++) {
        log_info("ticket %lld: lease of %s expired; offered again", (long long)expired[i].ticket,
                 expired[i].volunteer);
        note_change(b, expired[i].ticket, expired[i].volunteer, true, "lease_expired");
        b->dispatch_dirty = true;
    }
    int marked = store_mark_overdue(b->store, now);
    if (marked > 0)
        log_info("%d request(s) flagged overdue; the office is told", marked);
}

/* Offers open requests to online volunteers with the skill and room for a job:
 * urgent first, then oldest, at most offer_window outstanding per volunteer. */
static void dispatch(broker_t *b)
{
    int64_t mono = bm_mono_ms();
    if (!b->dispatch_dirty && mono - b->last_dispatch < DISPATCH_EVERY_MS)
        return;
    b->dispatch_dirty = false;
    b->last_dispatch = mono;
    store_open_t queue[QUEUE_SCAN];
    cJSON *offers[QUEUE_SCAN] = {0}; /* each offer body built once, for every volunteer */
    store_read_begin(b->store);
    int n = store_open_queue(b->store, queue, QUEUE_SCAN);
    for (int i = 0; n > 0 && i < MAX_SESSIONS; i++) {
        session_t *s = &b->sessions[i];
        if (!session_online(b, s, mono) || s->n_offered >= b->cfg.offer_window)
            continue;
        int held = store_volunteer_held(b->store, s->volunteer);
        if (held < 0 || held >= s->max_jobs)
            continue;
        for (int q = 0; q < n && s->n_offered < b->cfg.offer_window && s->n_offered < MAX_OFFERED; q++) {
            if (queue[q].category < 0 || !(s->skills & (1u << queue[q].category)) ||
                session_was_offered(s, queue[q].ticket) ||
                store_excluded(b->store, queue[q].ticket, s->volunteer))
                continue;
            if (!offers[q] && !(offers[q] = store_offer(b->store, queue[q].ticket)))
                continue;
            s->offered[s->n_offered++] = queue[q].ticket;
            log_debug("offer ticket %lld to %s", (long long)queue[q].ticket, s->volunteer);
            if (bm_send(b->sock[SOCK_WORKER], &s->env, BM_CMD_OFFER, "", 0, offers[q]) != 0)
                log_debug("offer to %s dropped: %s", s->volunteer, zmq_strerror(errno));
        }
    }
    store_read_end(b->store);
    for (int q = 0; q < n; q++)
        cJSON_Delete(offers[q]);
}

/* ---- the loop ----------------------------------------------------------- */

static void undo_pass_sessions(broker_t *b)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (b->sessions[i].used && b->sessions[i].batch == b->batch)
            b->sessions[i].used = false;
    }
    b->n_changes = 0;
}

/* One pass: read what is waiting, handle it in one transaction, commit,
 * answer. Returns the number of messages handled, or -1 on a fatal error. */
static int pass(broker_t *b, bool shutting_down)
{
    int handled = 0;
    bool more = true;
    b->batch++;
    while (more && handled < b->cfg.batch_max) {
        more = false;
        for (int k = 0; k < 2; k++) {
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
        }
    }
    if (!shutting_down)
        sweep(b);
    if (b->n_takers > 0)
        serve_takers(b, shutting_down);

    bm_error_t cerr = {0};
    bool committed = true;
    if (store_in_batch(b->store) && store_batch_commit(b->store, &cerr) != 0) {
        committed = false;
        log_error("commit failed, %zu replies turned into errors: %s", b->n_out, cerr.message);
        bm_error_set(&cerr, BM_ERR_STORAGE, NULL,
                     "the database could not commit; nothing was recorded, please retry");
        undo_pass_sessions(b);
    }
    flush(b, committed, &cerr);
    if (committed) {
        announce_changes(b);
        dispatch(b);
    }
    return handled;
}

int broker_run(broker_t *self, volatile sig_atomic_t *stop)
{
    log_info("listening: clients %s, workers %s", self->cfg.client_endpoint, self->cfg.worker_endpoint);
    while (!*stop) {
        zmq_pollitem_t items[2] = {
            {self->sock[SOCK_CLIENT], 0, ZMQ_POLLIN, 0},
            {self->sock[SOCK_WORKER], 0, ZMQ_POLLIN, 0},
        };
        long timeout = self->n_takers > 0 ? TAKER_TICK_MS : IDLE_TICK_MS;
        if (zmq_poll(items, 2, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        if (pass(self, false) < 0)
            return -1;
    }
    /* Answer what is already queued, then stop. */
    pass(self, true);
    log_info("stopped; everything acknowledged is committed");
    return 0;
}

broker_t *broker_new(const bm_config_t *cfg, bm_error_t *err)
{
    broker_t *self = calloc(1, sizeof *self);
    if (!self) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->store = store_open(self->cfg.database, &self->cfg, err);
    if (!self->store)
        goto fail;
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "cannot create a ZeroMQ context");
        goto fail;
    }
    const char *eps[2] = {self->cfg.client_endpoint, self->cfg.worker_endpoint};
    for (int k = 0; k < 2; k++) {
        self->sock[k] = bm_socket(self->ctx, ZMQ_ROUTER, eps[k], true);
        if (!self->sock[k]) {
            bm_error_set(err, BM_ERR_INVALID, NULL, "cannot bind %s: %s", eps[k], zmq_strerror(errno));
            goto fail;
        }
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
        if (self->sock[k])
            zmq_close(self->sock[k]);
    }
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    for (size_t i = 0; i < self->n_out; i++)
        cJSON_Delete(self->out[i].body);
    free(self->out);
    free(self->changes);
    store_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

void broker_fail_commits(broker_t *self, int n)
{
    store_fail_commits(self->store, n);
}
