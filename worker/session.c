/* session.c - see session.h.
 *
 * States: CONNECTING (hello sent, waiting for its reply) and READY. Whatever
 * the state, if nothing at all is heard from the broker for three heartbeat
 * intervals the socket is thrown away (so no stale reply can be mistaken for
 * a new one) and a new one says hello again. A broker that restarted on the
 * same endpoint is noticed sooner: it answers hello_required. */
#include "session.h"
#include "command.h"
#include "event.h"
#include "log.h"
#include "photo.h"
#include "proto.h"
#include "remind.h"
#include "term.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PENDING   64  /* commands sent and not yet answered */
#define MAX_OFFERS    64  /* open offers remembered (the broker sends a few) */
#define MIN_HB_MS     20
#define MAX_HB_MS     600000
#define LOST_AFTER    3   /* heartbeat intervals of silence */
#define CID_LEN       24
#define ERR_NOT_CONNECTED "not_connected" /* local error codes, not the broker's */
#define ERR_NO_ANSWER     "no_answer"
#define ERR_BUSY          "busy"
#define REMIND_TICK_MS    1000 /* how often held leases are looked at */

typedef struct {
    char cid[CID_LEN];
    const wk_cmd_spec_t *spec;
    int64_t ticket;
    char department[BM_MAX_DEPARTMENT + 1]; /* escalate: told back in the event */
    int n_photos;                           /* progress/done: told back in the event */
    char bridge_id[WK_MAX_BRIDGE_ID + 1];
    bool has_bridge_id;
} pending_t;

typedef enum { ST_CONNECTING, ST_READY } state_t;

struct wk_session {
    wk_options_t opts;
    int in_fd;
    FILE *out;
    void *ctx;
    void *sock;
    state_t state;
    int hb_ms;
    int64_t last_heard; /* monotonic ms; when CONNECTING, also when hello was sent */
    int64_t next_hb;
    bool outage_told;   /* the "disconnected" event went out for this outage */
    bool reached;       /* the socket monitor saw a connection at least once */
    bool connected_before; /* a hello was answered at least once */
    void *mon;          /* PAIR reading the DEALER's monitor events */
    wk_term_t *term;    /* line editor when interactive on a terminal */
    wk_remind_t *remind;
    int64_t next_remind_check;
    unsigned long seq;
    char hello_cid[CID_LEN];
    pending_t pending[MAX_PENDING];
    int npending;
    cJSON *offers; /* array of offer bodies */
    cJSON *jobs;   /* array of JOB bodies */
    char *inbuf;
    size_t inlen;
    bool discarding; /* dropping the rest of an over-long line */
    bool in_eof;
    int64_t drain_until; /* after EOF: wait for replies until then */
    bool quit;
    bool fatal;
};

wk_session_t *wk_session_new(const wk_options_t *opts, int in_fd, FILE *out)
{
    wk_session_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = *opts;
    self->in_fd = in_fd;
    self->out = out;
    self->hb_ms = opts->initial_heartbeat_ms >= MIN_HB_MS ? opts->initial_heartbeat_ms
                                                           : WK_DEFAULT_HEARTBEAT_MS;
    self->ctx = zmq_ctx_new();
    self->offers = cJSON_CreateArray();
    self->jobs = cJSON_CreateArray();
    self->inbuf = malloc(WK_MAX_LINE + 1);
    self->remind = wk_remind_new();
    if (!self->ctx || !self->offers || !self->jobs || !self->inbuf || !self->remind)
        wk_session_destroy(&self);
    return self;
}

void wk_session_destroy(wk_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wk_session_t *self = *self_p;
    wk_term_destroy(&self->term);
    bm_monitor_close(self->sock, &self->mon);
    if (self->sock)
        zmq_close(self->sock);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    cJSON_Delete(self->offers);
    cJSON_Delete(self->jobs);
    free(self->inbuf);
    wk_remind_destroy(&self->remind);
    free(self);
    *self_p = NULL;
}

/* ---- output ---------------------------------------------------------------- */

/* Writes the event and frees it. */
static void emit(wk_session_t *self, cJSON *ev)
{
    if (!ev) {
        log_error("内存不足，无法生成事件 / out of memory building an event");
        return;
    }
    char *text = wk_event_format(ev, self->opts.json);
    cJSON_Delete(ev);
    if (!text) {
        log_error("内存不足，无法显示事件 / out of memory formatting an event");
        return;
    }
    if (self->term) {
        wk_term_print(self->term, text);
        free(text);
        return;
    }
    fputs(text, self->out);
    fputc('\n', self->out);
    free(text);
    if (fflush(self->out) != 0 || ferror(self->out)) {
        log_syserr("事件写不出去，停止 / cannot write events to the output; stopping");
        self->fatal = true;
    }
}

static void emit_error(wk_session_t *self, const wk_cmd_spec_t *spec, int64_t ticket,
                       const char *bridge_id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void emit_error(wk_session_t *self, const wk_cmd_spec_t *spec, int64_t ticket,
                       const char *bridge_id, const char *code, const char *fmt, ...)
{
    bm_error_t err = {.code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    cJSON *ev = wk_event_error(spec ? spec->name : NULL, ticket, &err);
    wk_event_set_id(ev, bridge_id);
    emit(self, ev);
}

/* ---- lists of offers and jobs ------------------------------------------------ */

static int64_t ticket_of(const cJSON *obj)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "ticket");
    if (!cJSON_IsNumber(t) || t->valuedouble < 1 || t->valuedouble > 9007199254740992.0)
        return 0;
    return (int64_t)t->valuedouble;
}

static int find_ticket(const cJSON *list, int64_t ticket)
{
    int i = 0;
    for (const cJSON *it = list->child; it; it = it->next, i++) {
        if (ticket_of(it) == ticket)
            return i;
    }
    return -1;
}

static bool drop_ticket(cJSON *list, int64_t ticket)
{
    int i = find_ticket(list, ticket);
    if (i < 0)
        return false;
    cJSON_DeleteItemFromArray(list, i);
    return true;
}

/* Puts a copy of item into list, replacing the entry with the same ticket. */
static void upsert(cJSON *list, const cJSON *item, int cap)
{
    cJSON *copy = cJSON_Duplicate(item, true);
    if (!copy)
        return;
    int i = find_ticket(list, ticket_of(item));
    if (i >= 0) {
        cJSON_ReplaceItemInArray(list, i, copy);
        return;
    }
    if (cap > 0 && cJSON_GetArraySize(list) >= cap)
        cJSON_DeleteItemFromArray(list, 0); /* forget the oldest */
    cJSON_AddItemToArray(list, copy);
}

/* ---- talking to the broker --------------------------------------------------- */

static void next_cid(wk_session_t *self, char prefix, char *cid)
{
    snprintf(cid, CID_LEN, "%c%lu", prefix, ++self->seq);
}

/* Sends cmd with body and n photos as frames after it. */
static int send_cmd(wk_session_t *self, const char *cmd, const char *cid, const cJSON *body,
                    const wk_photo_t *photos, size_t n)
{
    bm_frame_t frames[BM_MAX_ATTACH];
    for (size_t i = 0; i < n && i < BM_MAX_ATTACH; i++)
        frames[i] = (bm_frame_t){.data = photos[i].data, .len = photos[i].len};
    if (bm_send_parts(self->sock, NULL, cmd, cid, strlen(cid), body, frames, n) != 0) {
        log_warn("发不出 %s / cannot send %s to the broker: %s", cmd, cmd, zmq_strerror(errno));
        return -1;
    }
    log_debug("sent %s (%s) with %zu photo(s)", cmd, cid, n);
    return 0;
}

static void send_hello(wk_session_t *self)
{
    cJSON *body = cJSON_CreateObject();
    if (body) {
        cJSON_AddStringToObject(body, "volunteer", self->opts.id);
        cJSON_AddStringToObject(body, "name", self->opts.name);
        /* With a key the station knows the skills and the most jobs; name
         * them only to take fewer. */
        if (!self->opts.has_key || self->opts.skill_count > 0) {
            cJSON *skills = cJSON_AddArrayToObject(body, "skills");
            for (int i = 0; skills && i < self->opts.skill_count; i++)
                cJSON_AddItemToArray(skills, cJSON_CreateString(self->opts.skills[i]));
        }
        if (!self->opts.has_key || self->opts.max_jobs_given)
            cJSON_AddNumberToObject(body, "max_jobs", self->opts.max_jobs);
        next_cid(self, 'h', self->hello_cid);
        send_cmd(self, BM_CMD_HELLO, self->hello_cid, body, NULL, 0);
        cJSON_Delete(body);
    }
    /* Even if the send failed, the silence timer will try again. */
    self->state = ST_CONNECTING;
    self->last_heard = bm_mono_ms();
}

/* Reads the socket monitor's events (attached when the socket was made, so
 * that an outage can say whether the station was ever reached, and a refused
 * key is told as such instead of as silence). */
static void read_monitor(wk_session_t *self)
{
    int event = 0, value = 0;
    while (self->mon && bm_monitor_read(self->mon, &event, &value) == 1) {
        if (event == ZMQ_EVENT_CONNECTED && !self->reached) {
            self->reached = true;
            log_info("reached %s", self->opts.broker);
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !self->fatal) {
            char text[256];
            bm_key_refusal_message(event, value, text, sizeof text);
            emit_error(self, NULL, 0, NULL, "key_refused", "%s", text);
            self->fatal = true; /* retrying with the same key cannot help */
        }
    }
}

/* Opens a fresh socket and says hello. Returns 0, or -1 if the endpoint is
 * unusable (a fatal error, reported). */
static int open_socket(wk_session_t *self)
{
    bm_monitor_close(self->sock, &self->mon);
    if (self->sock) {
        zmq_close(self->sock);
        self->sock = NULL;
    }
    bm_sock_opts_t o = {.key = self->opts.has_key ? &self->opts.key : NULL,
                        .mon_events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
                        .mon = &self->mon};
    self->sock = bm_socket_ex(self->ctx, ZMQ_DEALER, self->opts.broker, false, &o);
    if (!self->sock) {
        emit_error(self, NULL, 0, NULL, "bad_endpoint",
                   "服务站地址不可用 cannot use the station's address %s: %s",
                   self->opts.broker, zmq_strerror(errno));
        self->fatal = true;
        return -1;
    }
    log_info("connecting to %s as %s", self->opts.broker, self->opts.id);
    send_hello(self);
    return 0;
}

/* Tells the user once per outage that the broker is gone. */
static void tell_outage(wk_session_t *self, const char *reason)
{
    if (self->outage_told) {
        log_debug("still no station, reconnecting: %s", reason);
        return;
    }
    self->outage_told = true;
    log_warn("%s, reconnecting: %s",
             self->connected_before ? "与服务站断开，正在重连 / lost the broker"
                                    : "连不上服务站，正在重连 / cannot reach the broker",
             reason);
    cJSON *ev = wk_event_new(WK_EV_DISCONNECTED);
    if (ev) {
        cJSON_AddStringToObject(ev, "reason", reason);
        cJSON_AddStringToObject(ev, "endpoint", self->opts.broker);
        cJSON_AddBoolToObject(ev, "connected_before", self->connected_before);
        cJSON_AddBoolToObject(ev, "reached", self->reached || self->connected_before);
    }
    emit(self, ev);
}

/* Nothing heard for LOST_AFTER intervals: start over on a new socket. */
static void reconnect(wk_session_t *self)
{
    char reason[2 * WK_MAX_ENDPOINT + 192];
    if (self->state == ST_CONNECTING)
        snprintf(reason, sizeof reason, "%s 在 %d 毫秒内没有回应报到 / no answer to hello from %s within %d ms",
                 self->opts.broker, LOST_AFTER * self->hb_ms, self->opts.broker,
                 LOST_AFTER * self->hb_ms);
    else
        snprintf(reason, sizeof reason, "%d 毫秒没有收到 %s 的消息 / nothing heard from %s for %d ms",
                 LOST_AFTER * self->hb_ms, self->opts.broker, self->opts.broker,
                 LOST_AFTER * self->hb_ms);
    tell_outage(self, reason);
    /* Replies to these can no longer arrive on the new socket. */
    for (int i = 0; i < self->npending; i++) {
        pending_t *p = &self->pending[i];
        emit_error(self, p->spec, p->ticket, p->has_bridge_id ? p->bridge_id : NULL,
                   ERR_NO_ANSWER,
                   "服务站还没回复就断开了，重连后请用 jobs 查看 lost the station before it answered; after reconnecting check with \"jobs\"");
    }
    self->npending = 0;
    cJSON_Delete(self->offers);
    self->offers = cJSON_CreateArray(); /* the broker offers again after hello */
    if (!self->offers)
        self->fatal = true;
    open_socket(self);
}

static void on_hello_reply(wk_session_t *self, const bm_msg_t *msg)
{
    if (strcmp(msg->cmd, BM_REPLY_OK) != 0) {
        const char *code = "error", *text = "(no message)";
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg->body, "code");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg->body, "message");
        if (cJSON_IsString(c))
            code = c->valuestring;
        if (cJSON_IsString(m))
            text = m->valuestring;
        if (strcmp(code, BM_ERR_SHUTTING_DOWN) == 0 || strcmp(code, BM_ERR_STORAGE) == 0) {
            log_warn("服务站暂时不能接受报到，稍后重试 / the broker cannot take the hello now (%s): %s; "
                     "will try again",
                     code, text);
            return; /* the silence timer retries */
        }
        emit_error(self, NULL, 0, NULL, code, "服务站拒绝了登录 the station refused the hello: %s", text);
        self->fatal = true;
        return;
    }
    const cJSON *hb = cJSON_GetObjectItemCaseSensitive(msg->body, "heartbeat_ms");
    if (cJSON_IsNumber(hb) && hb->valuedouble >= MIN_HB_MS && hb->valuedouble <= MAX_HB_MS)
        self->hb_ms = (int)hb->valuedouble;
    else
        log_warn("报到回复里没有可用的 heartbeat_ms，改用 %d 毫秒 / hello reply without a usable "
                 "heartbeat_ms; using %d ms",
                 self->hb_ms, self->hb_ms);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(msg->body, "jobs");
    cJSON *copy = cJSON_IsArray(jobs) ? cJSON_Duplicate(jobs, true) : cJSON_CreateArray();
    if (copy) {
        cJSON_Delete(self->jobs);
        self->jobs = copy;
    }
    self->state = ST_READY;
    self->outage_told = false;
    self->connected_before = true;
    self->next_hb = bm_mono_ms() + self->hb_ms;
    log_info("已连上服务站 / connected as %s, heartbeat every %d ms, %d job(s) held", self->opts.id,
             self->hb_ms, cJSON_GetArraySize(self->jobs));

    cJSON *ev = wk_event_new(WK_EV_CONNECTED);
    if (ev) {
        cJSON_AddStringToObject(ev, "volunteer", self->opts.id);
        cJSON_AddItemToObject(ev, "jobs", cJSON_Duplicate(self->jobs, true));
    }
    emit(self, ev);
}

/* The broker forgot us (it restarted): say hello again on the same socket. */
static void rehello(wk_session_t *self)
{
    if (self->state == ST_CONNECTING)
        return; /* a hello is already on its way */
    tell_outage(self, "服务站重启了，要求重新报到 / the broker restarted and asks for hello again");
    cJSON_Delete(self->offers);
    self->offers = cJSON_CreateArray();
    if (!self->offers)
        self->fatal = true;
    send_hello(self);
}

static int find_pending(const wk_session_t *self, const bm_msg_t *msg)
{
    for (int i = 0; i < self->npending; i++) {
        if (strlen(self->pending[i].cid) == msg->cid_len &&
            memcmp(self->pending[i].cid, msg->cid, msg->cid_len) == 0)
            return i;
    }
    return -1;
}

/* A progress reply carries the job's new lease: the job list shows it. */
static void renew_job(wk_session_t *self, int64_t ticket, const cJSON *reply)
{
    int i = find_ticket(self->jobs, ticket);
    const cJSON *lease = cJSON_GetObjectItemCaseSensitive(reply, "lease_until");
    if (i < 0 || !cJSON_IsString(lease))
        return;
    cJSON *job = cJSON_GetArrayItem(self->jobs, i);
    cJSON *copy = cJSON_CreateString(lease->valuestring);
    if (!copy)
        return;
    if (cJSON_HasObjectItem(job, "lease_until"))
        cJSON_ReplaceItemInObjectCaseSensitive(job, "lease_until", copy);
    else
        cJSON_AddItemToObject(job, "lease_until", copy);
}

static void on_reply(wk_session_t *self, const pending_t *p, const bm_msg_t *msg)
{
    const char *bridge_id = p->has_bridge_id ? p->bridge_id : NULL;
    if (strcmp(msg->cmd, BM_REPLY_OK) == 0) {
        unsigned flags = p->spec->flags;
        if (flags & WK_ADDS_JOB) {
            if (ticket_of(msg->body) == p->ticket)
                upsert(self->jobs, msg->body, 0);
            else
                log_warn("回复里没有工单编号 / %s reply for #%lld does not carry the ticket", p->spec->name,
                         (long long)p->ticket);
        }
        if (flags & WK_RENEWS_JOB)
            renew_job(self, p->ticket, msg->body);
        if (flags & WK_DROPS_JOB)
            drop_ticket(self->jobs, p->ticket);
        if (flags & WK_DROPS_OFFER)
            drop_ticket(self->offers, p->ticket);
        cJSON *ev = wk_event_from(p->spec->event, msg->body);
        if (ev && !cJSON_HasObjectItem(ev, "ticket") && p->ticket > 0)
            cJSON_AddNumberToObject(ev, "ticket", (double)p->ticket);
        if (ev && p->department[0] && !cJSON_HasObjectItem(ev, "department"))
            cJSON_AddStringToObject(ev, "department", p->department);
        if (ev && (flags & WK_TAKES_PHOTOS) && !cJSON_HasObjectItem(ev, "photos"))
            cJSON_AddNumberToObject(ev, "photos", p->n_photos);
        wk_event_set_id(ev, bridge_id);
        emit(self, ev);
        return;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg->body, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg->body, "message");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(msg->body, "field");
    bm_error_t err = {.code = cJSON_IsString(c) ? c->valuestring : "error"};
    bm_strlcpy(err.message, cJSON_IsString(m) ? m->valuestring : "(no message)",
               sizeof err.message);
    if (cJSON_IsString(f))
        bm_strlcpy(err.field, f->valuestring, sizeof err.field);
    if (strcmp(err.code, BM_ERR_TAKEN) == 0 || strcmp(err.code, BM_ERR_NOT_FOUND) == 0)
        drop_ticket(self->offers, p->ticket);
    else if (strcmp(err.code, BM_ERR_NOT_YOURS) == 0)
        drop_ticket(self->jobs, p->ticket);
    cJSON *ev = wk_event_error(p->spec->name, p->ticket, &err);
    wk_event_set_id(ev, bridge_id);
    emit(self, ev);
}

static void on_offer(wk_session_t *self, const bm_msg_t *msg)
{
    int64_t ticket = ticket_of(msg->body);
    if (ticket <= 0) {
        log_warn("派单没有有效的工单编号，已忽略 / offer without a valid ticket; ignored");
        return;
    }
    if (find_ticket(self->jobs, ticket) >= 0)
        return; /* already ours */
    upsert(self->offers, msg->body, MAX_OFFERS);
    emit(self, wk_event_from(WK_EV_OFFER, msg->body));
}

static void on_taken(wk_session_t *self, const bm_msg_t *msg)
{
    int64_t ticket = ticket_of(msg->body);
    if (ticket <= 0 || find_ticket(self->jobs, ticket) >= 0)
        return;
    drop_ticket(self->offers, ticket);
    cJSON *ev = wk_event_new(WK_EV_TAKEN);
    if (ev)
        cJSON_AddNumberToObject(ev, "ticket", (double)ticket);
    emit(self, ev);
}

/* A job we held is no longer ours (lease expired, cancelled, escalated by
 * the office): forget it and say so. */
static void on_revoked(wk_session_t *self, const bm_msg_t *msg)
{
    int64_t ticket = ticket_of(msg->body);
    if (ticket <= 0) {
        log_warn("收回通知没有有效的工单编号，已忽略 / revoked without a valid ticket; ignored");
        return;
    }
    drop_ticket(self->jobs, ticket);
    drop_ticket(self->offers, ticket);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(msg->body, "reason");
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(msg->body, "note");
    cJSON *ev = wk_event_new(WK_EV_REVOKED);
    if (ev) {
        cJSON_AddNumberToObject(ev, "ticket", (double)ticket);
        cJSON_AddStringToObject(ev, "reason", cJSON_IsString(r) ? r->valuestring : "unknown");
        if (cJSON_IsString(note) && note->valuestring[0])
            cJSON_AddStringToObject(ev, "note", note->valuestring);
    }
    log_info("工单 #%lld 已被收回 / job #%lld revoked (%s)", (long long)ticket, (long long)ticket,
             cJSON_IsString(r) ? r->valuestring : "no reason given");
    emit(self, ev);
}

static bool is_code(const bm_msg_t *msg, const char *code)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg->body, "code");
    return cJSON_IsString(c) && strcmp(c->valuestring, code) == 0;
}

static void on_message(wk_session_t *self, const bm_msg_t *msg)
{
    bool reply = strcmp(msg->cmd, BM_REPLY_OK) == 0 || strcmp(msg->cmd, BM_REPLY_ERROR) == 0;
    if (!reply) {
        if (strcmp(msg->cmd, BM_CMD_OFFER) == 0)
            on_offer(self, msg);
        else if (strcmp(msg->cmd, BM_CMD_TAKEN) == 0)
            on_taken(self, msg);
        else if (strcmp(msg->cmd, BM_CMD_REVOKED) == 0)
            on_revoked(self, msg);
        else
            log_debug("ignoring \"%s\" from the broker", msg->cmd);
        return;
    }
    if (self->state == ST_CONNECTING && msg->cid_len == strlen(self->hello_cid) &&
        memcmp(msg->cid, self->hello_cid, msg->cid_len) == 0) {
        on_hello_reply(self, msg);
        return;
    }
    int i = find_pending(self, msg);
    if (i >= 0) {
        pending_t p = self->pending[i];
        self->pending[i] = self->pending[--self->npending];
        on_reply(self, &p, msg);
    } else if (strcmp(msg->cmd, BM_REPLY_ERROR) == 0 && !is_code(msg, BM_ERR_HELLO_REQUIRED)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg->body, "message");
        log_warn("服务站回复了错误 / the broker answered an error to %s: %s", msg->cid,
                 cJSON_IsString(m) ? m->valuestring : "?");
    }
    if (strcmp(msg->cmd, BM_REPLY_ERROR) == 0 && is_code(msg, BM_ERR_HELLO_REQUIRED))
        rehello(self);
}

static void read_socket(wk_session_t *self)
{
    while (self->sock && !self->fatal) {
        bm_msg_t msg;
        bm_error_t err = {0};
        bm_recv_t r = bm_recv(self->sock, false, true, NULL, &msg, &err);
        if (r == BM_RECV_NONE)
            return;
        if (r == BM_RECV_FAIL) {
            if (errno != EINTR)
                log_warn("从服务站接收失败 / receive from the broker failed: %s", zmq_strerror(errno));
            return;
        }
        self->last_heard = bm_mono_ms();
        if (r == BM_RECV_INVALID)
            log_warn("服务站发来的消息有误，已忽略 / garbled message from the broker ignored: %s", err.message);
        else
            on_message(self, &msg);
        bm_msg_clear(&msg);
    }
}

/* ---- commands from the user -------------------------------------------------- */

static void run_local(wk_session_t *self, const wk_cmd_t *cmd)
{
    const char *bridge_id = cmd->has_bridge_id ? cmd->bridge_id : NULL;
    cJSON *ev = NULL;
    switch (cmd->spec->local) {
    case WK_LOCAL_QUIT:
        self->quit = true;
        return;
    case WK_LOCAL_JOBS:
        ev = wk_event_new(WK_EV_JOBS);
        if (ev)
            cJSON_AddItemToObject(ev, "jobs", cJSON_Duplicate(self->jobs, true));
        break;
    case WK_LOCAL_OFFERS:
        ev = wk_event_new(WK_EV_OFFERS);
        if (ev)
            cJSON_AddItemToObject(ev, "offers", cJSON_Duplicate(self->offers, true));
        break;
    case WK_LOCAL_HELP:
        ev = wk_event_new(WK_EV_HELP);
        if (ev) {
            cJSON *list = cJSON_AddArrayToObject(ev, "commands");
            for (const wk_cmd_spec_t *s = wk_commands; list && s->name; s++) {
                cJSON *c = cJSON_CreateObject();
                if (!c)
                    break;
                cJSON_AddStringToObject(c, "cmd", s->name);
                cJSON *aliases = cJSON_AddArrayToObject(c, "aliases");
                for (size_t i = 0; aliases && i < 3 && s->aliases[i]; i++)
                    cJSON_AddItemToArray(aliases, cJSON_CreateString(s->aliases[i]));
                cJSON_AddStringToObject(c, "usage", s->usage);
                cJSON_AddStringToObject(c, "help", s->help);
                if (s->example)
                    cJSON_AddStringToObject(c, "example", s->example);
                cJSON_AddItemToArray(list, c);
            }
            cJSON *notes = cJSON_AddArrayToObject(ev, "notes");
            for (size_t i = 0; notes && wk_help_notes[i]; i++)
                cJSON_AddItemToArray(notes, cJSON_CreateString(wk_help_notes[i]));
        }
        break;
    case WK_LOCAL_NONE:
        return;
    }
    wk_event_set_id(ev, bridge_id);
    emit(self, ev);
}

/* The wire body of a command: ticket, department, the note or reason, and
 * "attachments" describing the photo frames in order. Caller owns it. */
static cJSON *build_body(const wk_cmd_t *cmd, const wk_photo_t *photos)
{
    const wk_cmd_spec_t *spec = cmd->spec;
    cJSON *body = cJSON_CreateObject();
    if (!body)
        return NULL;
    if (spec->args != WK_ARG_NONE)
        cJSON_AddNumberToObject(body, "ticket", (double)cmd->ticket);
    if (cmd->department[0])
        cJSON_AddStringToObject(body, "department", cmd->department);
    if (cmd->has_text && spec->text_key)
        cJSON_AddStringToObject(body, spec->text_key, cmd->text);
    if (cmd->n_photos > 0) {
        cJSON *list = cJSON_AddArrayToObject(body, "attachments");
        for (size_t i = 0; list && i < cmd->n_photos; i++) {
            cJSON *a = cJSON_CreateObject();
            if (!a || !cJSON_AddItemToArray(list, a)) {
                cJSON_Delete(a);
                list = NULL;
                break;
            }
            cJSON_AddStringToObject(a, "name", photos[i].name);
            cJSON_AddStringToObject(a, "kind", photos[i].kind);
        }
        if (!list) {
            cJSON_Delete(body);
            return NULL;
        }
    }
    return body;
}

static void run_command(wk_session_t *self, const wk_cmd_t *cmd)
{
    const wk_cmd_spec_t *spec = cmd->spec;
    const char *bridge_id = cmd->has_bridge_id ? cmd->bridge_id : NULL;
    if (!spec->wire) {
        run_local(self, cmd);
        return;
    }
    if (self->state != ST_READY) {
        emit_error(self, spec, cmd->ticket, bridge_id, ERR_NOT_CONNECTED,
                   "还没连上服务站 not connected to the station yet; try again when connected");
        return;
    }
    if (self->npending == MAX_PENDING) {
        emit_error(self, spec, cmd->ticket, bridge_id, ERR_BUSY,
                   "还有 %d 条命令在等服务站回复，请稍后再试 %d commands are still waiting for "
                   "the station; try again shortly",
                   MAX_PENDING, MAX_PENDING);
        return;
    }
    /* Photos are read and checked before anything is sent. */
    wk_photo_t photos[BM_MAX_ATTACH];
    size_t bad = 0;
    bm_error_t perr = {0};
    if (cmd->n_photos > 0 && wk_photos_load(cmd, photos, &bad, &perr) != 0) {
        cJSON *ev = wk_event_error(spec->name, cmd->ticket, &perr);
        if (ev)
            cJSON_AddStringToObject(ev, "photo", cmd->photos[bad].path);
        wk_event_set_id(ev, bridge_id);
        emit(self, ev);
        return;
    }
    cJSON *body = build_body(cmd, photos);
    if (!body) {
        wk_photos_clear(photos, cmd->n_photos);
        self->fatal = true;
        return;
    }
    pending_t *p = &self->pending[self->npending];
    memset(p, 0, sizeof *p);
    next_cid(self, 'c', p->cid);
    p->spec = spec;
    p->ticket = cmd->ticket;
    p->n_photos = (int)cmd->n_photos;
    bm_strlcpy(p->department, cmd->department, sizeof p->department);
    p->has_bridge_id = cmd->has_bridge_id;
    bm_strlcpy(p->bridge_id, cmd->bridge_id, sizeof p->bridge_id);
    if (send_cmd(self, spec->wire, p->cid, body, photos, cmd->n_photos) == 0)
        self->npending++;
    else
        emit_error(self, spec, cmd->ticket, bridge_id, ERR_NO_ANSWER,
                   "发不出去 could not send to the station: %s", zmq_strerror(errno));
    cJSON_Delete(body);
    wk_photos_clear(photos, cmd->n_photos);
}

static void handle_line(wk_session_t *self, char *line, size_t len)
{
    line[len] = '\0';
    wk_cmd_t cmd;
    bm_error_t err = {0};
    wk_parse_t r = self->opts.json ? wk_cmd_parse_json(line, len, &cmd, &err)
                                   : wk_cmd_parse_text(line, &cmd, &err);
    if (r == WK_PARSE_EMPTY)
        return;
    if (r == WK_PARSE_ERROR) {
        cJSON *ev = wk_event_error(cmd.spec ? cmd.spec->name : NULL, cmd.ticket, &err);
        wk_event_set_id(ev, cmd.has_bridge_id ? cmd.bridge_id : NULL);
        emit(self, ev);
        return;
    }
    run_command(self, &cmd);
}

static void end_input(wk_session_t *self)
{
    self->in_eof = true;
    self->drain_until = bm_mono_ms() + (int64_t)LOST_AFTER * self->hb_ms;
    log_info("输入结束%s / input ended%s", self->npending ? "，等待服务站的最后回复" : "",
             self->npending ? "; waiting for the broker's last answers" : "");
}

/* A line finished in the line editor (NULL: Ctrl-D on an empty line). */
static void on_term_line(void *arg, const char *line)
{
    wk_session_t *self = arg;
    if (!line) {
        end_input(self);
        return;
    }
    size_t len = strlen(line);
    if (len > WK_MAX_LINE) {
        bm_error_t err = {0};
        bm_error_set(&err, WK_ERR_BAD_INPUT, NULL,
                     "这一行太长 the line is over %d bytes; ignored", WK_MAX_LINE);
        emit(self, wk_event_error(NULL, 0, &err));
        return;
    }
    memcpy(self->inbuf, line, len);
    handle_line(self, self->inbuf, len);
}

static void read_input(wk_session_t *self)
{
    if (self->term) {
        wk_term_read(self->term);
        return;
    }
    ssize_t n = read(self->in_fd, self->inbuf + self->inlen, WK_MAX_LINE - self->inlen);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        log_syserr("读取命令失败 / reading commands failed");
        end_input(self);
        return;
    }
    if (n == 0) {
        if (self->inlen > 0 && !self->discarding)
            handle_line(self, self->inbuf, self->inlen); /* last line without newline */
        self->inlen = 0;
        end_input(self);
        return;
    }
    self->inlen += (size_t)n;
    size_t start = 0;
    for (size_t i = start; i < self->inlen && !self->quit && !self->fatal; i++) {
        if (self->inbuf[i] != '\n')
            continue;
        if (self->discarding)
            self->discarding = false;
        else
            handle_line(self, self->inbuf + start, i - start);
        start = i + 1;
    }
    memmove(self->inbuf, self->inbuf + start, self->inlen - start);
    self->inlen -= start;
    if (self->inlen == WK_MAX_LINE) {
        bm_error_t err = {0};
        bm_error_set(&err, WK_ERR_BAD_INPUT, NULL, "这一行太长，已忽略 line is over %d bytes; ignored",
                     WK_MAX_LINE);
        if (!self->discarding)
            emit(self, wk_event_error(NULL, 0, &err));
        self->discarding = true;
        self->inlen = 0;
    }
}

/* ---- lease reminders ------------------------------------------------------------ */

/* Tells the volunteer once, remind_before_s ahead, that a claim runs out. */
static void check_leases(wk_session_t *self)
{
    int64_t mono = bm_mono_ms();
    if (self->opts.remind_before_s <= 0 || mono < self->next_remind_check)
        return;
    self->next_remind_check = mono + REMIND_TICK_MS;
    cJSON *due = wk_remind_due(self->remind, self->jobs, bm_now_ms(), self->opts.remind_before_s);
    if (!due) {
        log_error("内存不足，无法检查接单期限 / out of memory checking leases");
        return;
    }
    while (cJSON_GetArraySize(due) > 0)
        emit(self, cJSON_DetachItemFromArray(due, 0));
    cJSON_Delete(due);
}

/* ---- the loop ---------------------------------------------------------------- */

int wk_session_run(wk_session_t *self, volatile sig_atomic_t *stop)
{
    if (open_socket(self) != 0)
        return -1;
    if (!self->opts.json) {
        self->term = wk_term_new(self->in_fd, self->out, on_term_line, self);
        /* Log lines would break the line being typed: kept off the screen
         * unless asked for, still written when stderr is not the screen. */
        if (self->term && !self->opts.verbose && isatty(STDERR_FILENO))
            bm_log_threshold = BM_LOG_ERROR;
    }
    while (!self->quit && !self->fatal && !(stop && *stop)) {
        int64_t now = bm_mono_ms();
        if (self->in_eof && (self->npending == 0 || now >= self->drain_until))
            break;
        int64_t lost_at = self->last_heard + (int64_t)LOST_AFTER * self->hb_ms;
        if (now >= lost_at) {
            reconnect(self);
            continue;
        }
        if (self->state == ST_READY && now >= self->next_hb) {
            char cid[CID_LEN];
            next_cid(self, 'b', cid);
            send_cmd(self, BM_CMD_HEARTBEAT, cid, NULL, NULL, 0);
            self->next_hb = now + self->hb_ms;
        }
        int64_t wake = lost_at;
        if (self->state == ST_READY && self->next_hb < wake)
            wake = self->next_hb;
        if (self->in_eof && self->drain_until < wake)
            wake = self->drain_until;
        if (self->opts.remind_before_s > 0 && cJSON_GetArraySize(self->jobs) > 0 &&
            self->next_remind_check < wake)
            wake = self->next_remind_check;
        long timeout = wake > now ? (long)(wake - now) : 0;

        zmq_pollitem_t items[3] = {{self->sock, 0, ZMQ_POLLIN, 0},
                                   {self->mon, 0, ZMQ_POLLIN, 0},
                                   {NULL, self->in_fd, ZMQ_POLLIN, 0}};
        int n = 3;
        if (self->in_eof)
            n--;
        if (!self->mon) { /* no monitor: stdin takes its place */
            items[1] = items[2];
            n--;
        }
        int rc = zmq_poll(items, n, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            log_error("等待消息失败 / poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        if (items[0].revents & ZMQ_POLLIN)
            read_socket(self);
        zmq_pollitem_t *in = &items[self->mon ? 2 : 1];
        if (self->mon && (items[1].revents & ZMQ_POLLIN))
            read_monitor(self);
        if (!self->in_eof && in - items < n && (in->revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            read_input(self);
        check_leases(self);
    }
    wk_term_destroy(&self->term);
    return self->fatal ? -1 : 0;
}
