/* broker_loop.c - the broker's event loop: one pass reads what waits on both
 * sockets, handles it in one transaction, commits once and only then sends
 * the replies (the output queue below); after a commit, new keys are
 * admitted, taken/revoked notices go out and offers are dispatched. Also
 * pauses accepting when descriptors run out. */
#include "broker_int.h"
#include "json_arena.h"
#include "log.h"
#include "metrics.h"
#include "zap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* ---- output queue ------------------------------------------------------ */

void queue_msg(broker_t *b, int sock, const bm_envelope_t *env, const char *cmd,
                      const char *cid, size_t cid_len, cJSON *body, bool durable)
{
    if (b->n_out == b->cap_out) {
        size_t cap = b->cap_out ? b->cap_out * 2 : 256;
        outmsg_t *grown = realloc(b->out, cap * sizeof *grown);
        if (!grown) {
            log_error("内存不足，一条回复被丢弃 / out of memory queueing a reply; it is dropped");
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
    m->text[0] = '\0';
    m->durable = durable;
}

void reply_ok(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                     cJSON *body, bool durable)
{
    queue_msg(b, sock, env, BM_REPLY_OK, msg->cid, msg->cid_len,
              body ? body : cJSON_CreateObject(), durable);
}

void reply_ok_text(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                   const char *text, bool durable)
{
    size_t n_before = b->n_out;
    queue_msg(b, sock, env, BM_REPLY_OK, msg->cid, msg->cid_len, NULL, durable);
    if (b->n_out > n_before && bm_strlcpy(b->out[b->n_out - 1].text, text, OUT_TEXT_MAX) != 0) {
        /* (longer than the buffer: a programming error; send it as a raw body) */
        b->out[b->n_out - 1].text[0] = '\0';
        b->out[b->n_out - 1].body = cJSON_CreateRaw(text);
    }
}

void reply_err(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                      const bm_error_t *err)
{
    log_debug("error reply %s: %s", err->code, err->message);
    queue_msg(b, sock, env, BM_REPLY_ERROR, msg->cid, msg->cid_len, bm_error_json(err), false);
}

void send_now(broker_t *b, int sock, const bm_envelope_t *env, const char *cmd, cJSON *body)
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
        } else if (!m->body && m->text[0]) {
            rc = bm_send_text(b->sock[m->sock], &m->env, m->cmd, m->cid, m->cid_len, m->text);
        } else {
            rc = bm_send(b->sock[m->sock], &m->env, m->cmd, m->cid, m->cid_len, m->body);
        }
        if (rc != 0)
            log_debug("reply to a departed peer dropped (%s)", zmq_strerror(errno));
        cJSON_Delete(m->body);
    }
    b->n_out = 0;
}

/* ---- the loop ----------------------------------------------------------- */

static void undo_pass_sessions(broker_t *b)
{
    for (int i = 0; i < b->session_top; i++) {
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
    for (int i = 0; i < b->session_top; i++)
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
                log_error("接收失败 / receive failed: %s", zmq_strerror(errno));
                return -1;
            }
            more = true;
            handled++;
            if (r == BM_RECV_INVALID) {
                log_debug("malformed message: %s", err.message);
                reply_err(b, k, &env, &msg, &err);
            } else if (shutting_down) {
                bm_error_set(&err, BM_ERR_SHUTTING_DOWN, NULL, "服务站正在停止，请稍后再试 / the broker is stopping; retry shortly");
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
        log_error("提交失败，%zu 条回复改为错误 / commit failed, %zu replies turned into errors: %s", b->n_out,
                  b->n_out, cerr.message);
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
    /* After the replies: a checkpoint never delays an acknowledgement. */
    store_checkpoint(b->store);
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

static int run(broker_t *self, volatile sig_atomic_t *stop)
{
    log_info("开始监听 / listening: clients %s, workers %s", self->cfg.client_endpoint,
             self->cfg.worker_endpoint);
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
            log_error("等待消息失败 / poll failed: %s", zmq_strerror(errno));
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
    log_info("已停止，确认过的都已写入磁盘 / stopped; everything acknowledged is committed");
    return 0;
}

int broker_run(broker_t *self, volatile sig_atomic_t *stop)
{
    /* The bodies this thread parses take their nodes from one block
     * (lib/json_arena.h): a pass's messages are each freed before the next
     * is read, so the block is used again from its start for each. */
    if (bm_json_arena_open(0) != 0)
        log_warn("内存不足，消息改用普通分配 / out of memory for the JSON arena; parsing with malloc");
    int rc = run(self, stop);
    bm_json_arena_close();
    return rc;
}
