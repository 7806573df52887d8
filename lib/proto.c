/* proto.c - see proto.h. */
#include "proto.h"
#include "auth.h"
#include "json_arena.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FRAMES (2 + 4 + BM_MAX_ATTACH + 1) /* routing, delimiter, 4, photos, one extra */
/* Bytes of the stack buffer a reply body is printed into when it fits. */
#define SEND_PRINT_BUF 2048

bool bm_cmd_takes_attachments(const char *cmd)
{
    return strcmp(cmd, BM_CMD_PROGRESS) == 0 || strcmp(cmd, BM_CMD_DONE) == 0 ||
           strcmp(cmd, BM_CMD_SUBMIT) == 0; /* photos of the problem, from the gateway */
}

void bm_error_set(bm_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    bm_strlcpy(err->field, field ? field : "", sizeof err->field);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof err->message)
        bm_utf8_cut(err->message); /* a character cut in two goes */
}

void bm_msg_clear(bm_msg_t *msg)
{
    cJSON_Delete(msg->body);
    zmq_msg_t *owned = msg->owned;
    for (size_t i = 0; i < msg->n_owned; i++)
        zmq_msg_close(&owned[i]);
    free(owned);
    memset(msg, 0, sizeof *msg);
}

static bool cmd_ok(const char *s, size_t n)
{
    if (n == 0 || n > BM_MAX_CMD)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || c == '_' || c == '.' || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* True if the four characters after a \\u make cJSON store a NUL: "0000",
 * or anything that is not four hex digits (cJSON 1.7 reads those as 0 and
 * would silently cut the text there). */
static bool escape_is_nul(const char *hex4)
{
    bool zero = true;
    for (int k = 0; k < 4; k++) {
        char c = hex4[k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return true;
        zero = zero && c == '0';
    }
    return zero;
}

/* True if a \\u escape that stores a NUL occurs anywhere in s (inside a
 * string or not, escaped or not: scan_strings then decides). */
static bool has_nul_escape(const char *s, size_t n)
{
    for (const char *p = s; n >= 6 && (p = memchr(p, '\\', n - (size_t)(p - s) - 5)) != NULL; p++) {
        if (p[1] == 'u' && escape_is_nul(p + 2))
            return true;
    }
    return false;
}

/* Finds the first JSON string holding a NUL (the escape \u0000, which cJSON
 * would silently cut the text at) or bytes that are not UTF-8. field gets the
 * top-level key it belongs to. Returns 0 if there is none, -1 otherwise. A
 * malformed text is left for the parser to refuse. */
static int scan_strings(const char *s, size_t n, char *field, size_t flen, bool *nul)
{
    int depth = 0;
    char cur[32] = "";
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '{' || c == '[') {
            depth++;
            i++;
            continue;
        }
        if (c == '}' || c == ']') {
            depth--;
            i++;
            continue;
        }
        if (c != '"') {
            i++;
            continue;
        }
        size_t start = ++i;
        bool has_nul = false;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\') {
                if (i + 5 < n && s[i + 1] == 'u' && escape_is_nul(s + i + 2))
                    has_nul = true;
                i += 2;
                continue;
            }
            i++;
        }
        size_t end = i < n ? i : n;
        i++;
        bool ok = bm_utf8_valid(s + start, end - start);
        size_t j = i;
        while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
            j++;
        bool is_key = depth == 1 && j < n && s[j] == ':';
        if (is_key) {
            size_t len = end - start < sizeof cur - 1 ? end - start : sizeof cur - 1;
            memcpy(cur, s + start, len);
            cur[len] = '\0';
            if (!ok)
                cur[0] = '\0';
        }
        if (!ok || has_nul) {
            bm_strlcpy(field, cur, flen);
            *nul = has_nul && ok;
            return -1;
        }
    }
    return 0;
}

int bm_proto_decode(const bm_frame_t *frames, size_t n, bm_msg_t *msg, bm_error_t *err)
{
    return bm_proto_decode_max(frames, n, BM_MAX_BODY, msg, err);
}

int bm_proto_decode_max(const bm_frame_t *frames, size_t n, size_t max_body, bm_msg_t *msg,
                        bm_error_t *err)
{
    memset(msg, 0, sizeof *msg);
    if (n >= 3 && frames[2].len <= BM_MAX_CID) {
        /* Fill the cid first so even a bad message's error can echo it. */
        memcpy(msg->cid, frames[2].data, frames[2].len);
        msg->cid[frames[2].len] = '\0';
        msg->cid_len = frames[2].len;
    }
    if (n < 4 || n > 4 + BM_MAX_ATTACH) {
        bm_error_set(err, BM_ERR_BAD_FRAME, NULL,
                     "expected 4 frames (version, command, correlation id, body), got %zu", n);
        return -1;
    }
    if (frames[0].len != strlen(BM_PROTO_VERSION) ||
        memcmp(frames[0].data, BM_PROTO_VERSION, frames[0].len) != 0) {
        bm_error_set(err, BM_ERR_BAD_VERSION, NULL,
                     "unsupported protocol version; this broker speaks %s", BM_PROTO_VERSION);
        return -1;
    }
    if (!cmd_ok(frames[1].data, frames[1].len)) {
        bm_error_set(err, BM_ERR_BAD_FRAME, NULL,
                     "command frame must be 1-%d characters of [a-z0-9_.]", BM_MAX_CMD);
        return -1;
    }
    memcpy(msg->cmd, frames[1].data, frames[1].len);
    msg->cmd[frames[1].len] = '\0';
    if (n > 4 && !bm_cmd_takes_attachments(msg->cmd)) {
        bm_error_set(err, BM_ERR_BAD_FRAME, NULL,
                     "expected 4 frames (version, command, correlation id, body), got %zu; "
                     "only progress and done carry photos", n);
        return -1;
    }
    for (size_t i = 4; i < n; i++) {
        if (frames[i].len > BM_MAX_PHOTO) {
            bm_error_set(err, BM_ERR_TOO_LARGE, "attachments",
                         "attachment %zu is %zu bytes; the limit is %d bytes", i - 3, frames[i].len,
                         BM_MAX_PHOTO);
            return -1;
        }
        if (frames[i].len == 0) {
            bm_error_set(err, BM_ERR_INVALID, "attachments", "attachment %zu is empty", i - 3);
            return -1;
        }
    }
    if (frames[2].len > BM_MAX_CID) {
        bm_error_set(err, BM_ERR_BAD_FRAME, NULL, "correlation id longer than %d bytes",
                     BM_MAX_CID);
        return -1;
    }
    if (frames[3].len > max_body) {
        bm_error_set(err, BM_ERR_TOO_LARGE, NULL, "body of %zu bytes is over the limit of %zu",
                     frames[3].len, max_body);
        return -1;
    }
    char field[32];
    bool nul = false;
    /* One fast pass decides for nearly every body; only a body that fails it
     * (or holds the text \u0000 somewhere) is scanned string by string, to
     * name the field in the error. */
    bool valid = bm_utf8_valid(frames[3].data, frames[3].len);
    bool suspect = !valid || has_nul_escape(frames[3].data, frames[3].len);
    if (suspect && scan_strings(frames[3].data, frames[3].len, field, sizeof field, &nul) != 0) {
        if (nul)
            bm_error_set(err, BM_ERR_INVALID, field,
                         "字段 \"%s\" 含有 NUL 字符 (\\u0000) 或不完整的 \\u 转义，不能保存 / field \"%s\" "
                         "contains a NUL character (\\u0000) or a \\u escape without four hex digits, "
                         "which cannot be stored",
                         field, field);
        else
            bm_error_set(err, BM_ERR_INVALID, field,
                         "字段 \"%s\" 不是有效的 UTF-8 / field \"%s\" is not valid UTF-8", field, field);
        return -1;
    }
    if (!valid) {
        bm_error_set(err, BM_ERR_BAD_JSON, NULL, "正文不是有效的 UTF-8 / body is not valid UTF-8");
        return -1;
    }
    const char *end = NULL;
    cJSON *body = bm_json_arena_parse(frames[3].data, frames[3].len, &end);
    if (!body || !cJSON_IsObject(body)) {
        cJSON_Delete(body);
        bm_error_set(err, BM_ERR_BAD_JSON, NULL, "body must be one JSON object");
        return -1;
    }
    /* Only whitespace may follow the object. */
    const char *stop = (const char *)frames[3].data + frames[3].len;
    for (; end && end < stop; end++) {
        if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t') {
            cJSON_Delete(body);
            bm_error_set(err, BM_ERR_BAD_JSON, NULL, "trailing data after the JSON object");
            return -1;
        }
    }
    msg->body = body;
    for (size_t i = 4; i < n; i++)
        msg->attach[msg->n_attach++] = frames[i];
    return 0;
}

bm_recv_t bm_recv(void *sock, bool router, bool dontwait, bm_envelope_t *env, bm_msg_t *msg,
                  bm_error_t *err)
{
    zmq_msg_t parts[MAX_FRAMES];
    size_t n = 0;
    size_t total = 0;
    bm_recv_t result = BM_RECV_OK;
    int more = 1;
    memset(msg, 0, sizeof *msg);
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        int flags = (n == 0 && total == 0 && dontwait) ? ZMQ_DONTWAIT : 0;
        if (zmq_msg_recv(&part, sock, flags) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            errno = e;
            return (e == EAGAIN && total == 0) ? BM_RECV_NONE : BM_RECV_FAIL;
        }
        more = zmq_msg_more(&part);
        total++;
        if (n < MAX_FRAMES)
            parts[n++] = part; /* zmq_msg_t may be moved by value before use */
        else
            zmq_msg_close(&part);
    }

    size_t first = 0;
    if (router) {
        memset(env, 0, sizeof *env);
        size_t len = zmq_msg_size(&parts[0]);
        if (len > sizeof env->id)
            len = sizeof env->id;
        memcpy(env->id, zmq_msg_data(&parts[0]), len);
        env->id_len = len;
        env->fd = -1;
        first = 1;
        if (n > 1) {
            /* Connection metadata travels on the peer's own frames, not on the
             * routing id the ROUTER made up. */
            const char *user = zmq_msg_gets(&parts[n - 1], "User-Id");
            if (user)
                bm_strlcpy(env->user, user, sizeof env->user);
            env->fd = zmq_msg_get(&parts[n - 1], ZMQ_SRCFD);
        }
        if (n > 1 && zmq_msg_size(&parts[1]) == 0) {
            env->delimiter = true;
            first = 2;
        }
    } else if (n > 0 && zmq_msg_size(&parts[0]) == 0) {
        first = 1; /* a DEALER talking to a REP-style peer */
    }

    bm_frame_t frames[MAX_FRAMES];
    size_t nf = 0;
    for (size_t i = first; i < n; i++) {
        frames[nf].data = zmq_msg_data(&parts[i]);
        frames[nf].len = zmq_msg_size(&parts[i]);
        nf++;
    }
    size_t counted = total - first;
    if (counted != nf) {
        bm_msg_t tmp;
        bm_proto_decode(frames, nf, &tmp, NULL);
        *msg = tmp;
        bm_error_set(err, BM_ERR_BAD_FRAME, NULL, "expected 4 frames, got %zu", counted);
        result = BM_RECV_INVALID;
    } else if (bm_proto_decode_max(frames, nf, router ? BM_MAX_BODY : BM_MAX_MSG, msg, err) != 0) {
        result = BM_RECV_INVALID;
    }
    size_t keep_from = n;
    if (result == BM_RECV_OK && msg->n_attach > 0) {
        /* The photo frames stay alive in the message, without a copy. */
        zmq_msg_t *owned = malloc(msg->n_attach * sizeof *owned);
        if (!owned) {
            bm_msg_clear(msg);
            bm_error_set(err, BM_ERR_TOO_LARGE, "attachments", "out of memory for attachments");
            result = BM_RECV_INVALID;
        } else {
            keep_from = n - msg->n_attach;
            for (size_t i = keep_from; i < n; i++)
                owned[i - keep_from] = parts[i];
            msg->owned = owned;
            msg->n_owned = msg->n_attach;
            for (size_t i = 0; i < msg->n_attach; i++) {
                msg->attach[i].data = zmq_msg_data(&owned[i]);
                msg->attach[i].len = zmq_msg_size(&owned[i]);
            }
        }
    }
    for (size_t i = 0; i < keep_from; i++)
        zmq_msg_close(&parts[i]);
    return result;
}

static int send_frame(void *sock, const void *data, size_t len, int flags)
{
    for (;;) {
        if (zmq_send(sock, data, len, flags) >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int bm_send(void *sock, const bm_envelope_t *env, const char *cmd, const char *cid,
            size_t cid_len, const cJSON *body)
{
    return bm_send_parts(sock, env, cmd, cid, cid_len, body, NULL, 0);
}

/* Sends [env] BM1 cmd cid payload [attach...]. */
static int send_payload(void *sock, const bm_envelope_t *env, const char *cmd, const char *cid,
                        size_t cid_len, const char *payload, size_t len, const bm_frame_t *attach,
                        size_t n_attach)
{
    /* A router never blocks on a peer that does not read: the first frame
     * fails with EAGAIN (or EHOSTUNREACH) and the message is not sent. Later
     * frames of a multipart message cannot fail once the first went. */
    int more = ZMQ_SNDMORE | (env ? ZMQ_DONTWAIT : 0);
    if (env) {
        if (send_frame(sock, env->id, env->id_len, more) != 0)
            return -1;
        if (env->delimiter && send_frame(sock, "", 0, more) != 0)
            return -1;
    }
    if (send_frame(sock, BM_PROTO_VERSION, strlen(BM_PROTO_VERSION), more) != 0 ||
        send_frame(sock, cmd, strlen(cmd), more) != 0 ||
        send_frame(sock, cid ? cid : "", cid ? cid_len : 0, more) != 0 ||
        send_frame(sock, payload, len, n_attach ? more : (more & ~ZMQ_SNDMORE)) != 0)
        return -1;
    for (size_t i = 0; i < n_attach; i++) {
        if (send_frame(sock, attach[i].data, attach[i].len,
                       i + 1 < n_attach ? more : (more & ~ZMQ_SNDMORE)) != 0)
            return -1;
    }
    return 0;
}

int bm_send_parts(void *sock, const bm_envelope_t *env, const char *cmd, const char *cid,
                  size_t cid_len, const cJSON *body, const bm_frame_t *attach, size_t n_attach)
{
    /* Most bodies print into the stack buffer (cJSON_PrintPreallocated fails,
     * having written nothing we use, when the text does not fit; the body is
     * then printed into the heap). */
    char small[SEND_PRINT_BUF];
    char *text = NULL;
    const char *payload = "{}";
    if (body && cJSON_PrintPreallocated((cJSON *)body, small, (int)sizeof small, false)) {
        payload = small;
    } else if (body) {
        if (!(text = cJSON_PrintUnformatted(body))) {
            errno = ENOMEM;
            return -1;
        }
        payload = text;
    }
    int rc = send_payload(sock, env, cmd, cid, cid_len, payload, strlen(payload), attach, n_attach);
    free(text);
    return rc;
}

int bm_send_text(void *sock, const bm_envelope_t *env, const char *cmd, const char *cid,
                 size_t cid_len, const char *text)
{
    return send_payload(sock, env, cmd, cid, cid_len, text, strlen(text), NULL, 0);
}

cJSON *bm_error_json(const bm_error_t *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "code", err->code ? err->code : BM_ERR_INVALID);
    cJSON_AddStringToObject(body, "message", err->message);
    if (err->field[0])
        cJSON_AddStringToObject(body, "field", err->field);
    if (err->code && strcmp(err->code, BM_ERR_BAD_VERSION) == 0) {
        cJSON *sup = cJSON_AddArrayToObject(body, "supported");
        cJSON_AddItemToArray(sup, cJSON_CreateString(BM_PROTO_VERSION));
    }
    return body;
}

int bm_send_error(void *sock, const bm_envelope_t *env, const char *cid, size_t cid_len,
                  const bm_error_t *err)
{
    cJSON *body = bm_error_json(err);
    int rc = bm_send(sock, env, BM_REPLY_ERROR, cid, cid_len, body);
    cJSON_Delete(body);
    return rc;
}

void *bm_socket(void *ctx, int type, const char *endpoint, bool bind)
{
    return bm_socket_auth(ctx, type, endpoint, bind, NULL, NULL);
}

void *bm_socket_auth(void *ctx, int type, const char *endpoint, bool bind, const struct bm_key *key,
                     const char *zap_domain)
{
    bm_sock_opts_t o = {.key = key, .zap_domain = zap_domain};
    return bm_socket_ex(ctx, type, endpoint, bind, &o);
}

void *bm_socket_ex(void *ctx, int type, const char *endpoint, bool bind, const bm_sock_opts_t *o)
{
    const struct bm_key *key = o ? o->key : NULL;
    void *sock = zmq_socket(ctx, type);
    if (!sock)
        return NULL;
    if (key && (bind ? bm_curve_server(sock, key, o->zap_domain ? o->zap_domain : "")
                     : bm_curve_client(sock, key)) != 0) {
        int e = errno;
        zmq_close(sock);
        errno = e;
        return NULL;
    }
    int linger = bind ? 1000 : 200;
    int64_t maxmsg = BM_MAX_MSG;
    int one = 1;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (type == ZMQ_ROUTER) {
        /* Unroutable replies fail with EHOSTUNREACH instead of vanishing silently. */
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        /* Replies are never dropped for a peer that pipelines deeply: the
         * queue per peer is bounded by what that peer sent us, not by the
         * default high-water mark of 1000. */
        int hwm = BM_ROUTER_SNDHWM;
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    if (type == ZMQ_DEALER) {
        /* Do not queue requests for a peer that is not there yet beyond a reconnect. */
        int reconnect = 100, reconnect_max = 2000;
        zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect);
        zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &reconnect_max, sizeof reconnect_max);
    }
    if (o && o->sndhwm > 0)
        zmq_setsockopt(sock, ZMQ_SNDHWM, &o->sndhwm, sizeof o->sndhwm);
    /* The monitor is attached before the first connection: libzmq's I/O
     * thread would block sending an event to a monitor nobody reads yet. */
    void *mon = NULL;
    if (o && o->mon && !(mon = bm_monitor_open(ctx, sock, o->mon_events))) {
        int e = errno;
        zmq_close(sock);
        errno = e;
        return NULL;
    }
    int rc = bind ? zmq_bind(sock, endpoint) : zmq_connect(sock, endpoint);
    if (rc != 0) {
        int e = errno;
        bm_monitor_close(sock, &mon);
        zmq_close(sock);
        errno = e;
        return NULL;
    }
    if (o && o->mon)
        *o->mon = mon;
    return sock;
}

/* ---- handshake monitor --------------------------------------------------- */

void *bm_monitor_open(void *ctx, void *sock, int events)
{
    static unsigned long seq;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://bm-monitor-%d-%p-%lu", (int)getpid(), sock, ++seq);
    if (!events)
        events = ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED;
    if (zmq_socket_monitor(sock, ep, events) != 0)
        return NULL;
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    if (mon)
        zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof linger);
    if (!mon || zmq_connect(mon, ep) != 0) {
        if (mon)
            zmq_close(mon);
        zmq_socket_monitor(sock, NULL, 0);
        return NULL;
    }
    return mon;
}

int bm_monitor_read(void *mon, int *event, int *value)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return errno == EAGAIN ? 0 : -1;
    }
    int rc = 0;
    if (zmq_msg_size(&m) >= 6) {
        const uint8_t *d = zmq_msg_data(&m);
        uint16_t ev;
        uint32_t val;
        memcpy(&ev, d, 2);
        memcpy(&val, d + 2, 4);
        *event = ev;
        *value = (int)val;
        rc = 1;
    }
    /* The second frame (the endpoint) is not needed. */
    while (zmq_msg_more(&m)) {
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, 0) < 0)
            break;
    }
    zmq_msg_close(&m);
    return rc;
}

void bm_monitor_close(void *sock, void **mon_p)
{
    if (!mon_p || !*mon_p)
        return;
    /* Stop the events first: libzmq would block sending one to a monitor
     * whose reading end is gone. */
    if (sock)
        zmq_socket_monitor(sock, NULL, 0);
    zmq_close(*mon_p);
    *mon_p = NULL;
}

bool bm_monitor_refused(int event)
{
    return event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
           event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
}

/* ---- request/reply helper ---------------------------------------------- */

struct bm_rpc {
    void *ctx;
    void *sock;
    void *mon;
    char *endpoint;
    bm_key_t *key;
    unsigned long seq;
};

bm_rpc_t *bm_rpc_new(const char *endpoint)
{
    return bm_rpc_new_auth(endpoint, NULL);
}

bm_rpc_t *bm_rpc_new_auth(const char *endpoint, const struct bm_key *key)
{
    bm_rpc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup(endpoint);
    self->ctx = zmq_ctx_new();
    if (key && (self->key = malloc(sizeof *self->key)) != NULL)
        *self->key = *key;
    if (!self->endpoint || !self->ctx || (key && !self->key)) {
        bm_rpc_destroy(&self);
        return NULL;
    }
    return self;
}

static void rpc_close(bm_rpc_t *self)
{
    bm_monitor_close(self->sock, &self->mon);
    if (self->sock)
        zmq_close(self->sock);
    self->mon = NULL;
    self->sock = NULL;
}

void bm_rpc_destroy(bm_rpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bm_rpc_t *self = *self_p;
    rpc_close(self);
    if (self->key)
        memset(self->key, 0, sizeof *self->key);
    free(self->key);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

bm_rpc_result_t bm_rpc_call(bm_rpc_t *self, const char *cmd, const cJSON *body, int timeout_ms,
                            cJSON **reply, bm_error_t *err)
{
    return bm_rpc_call_parts(self, cmd, body, NULL, 0, timeout_ms, reply, err);
}

bm_rpc_result_t bm_rpc_call_parts(bm_rpc_t *self, const char *cmd, const cJSON *body,
                                  const bm_frame_t *attach, size_t n_attach, int timeout_ms,
                                  cJSON **reply, bm_error_t *err)
{
    *reply = NULL;
    if (!self->sock) {
        bm_sock_opts_t o = {.key = self->key, .mon = self->key ? &self->mon : NULL};
        self->sock = bm_socket_ex(self->ctx, ZMQ_DEALER, self->endpoint, false, &o);
        if (!self->sock) {
            bm_error_set(err, BM_ERR_INVALID, NULL, "无法连接 %s (%s) / cannot connect to %s",
                         self->endpoint, zmq_strerror(errno), self->endpoint);
            return BM_RPC_FAIL;
        }
    }
    char cid[32];
    snprintf(cid, sizeof cid, "%d-%lu", (int)getpid(), ++self->seq);
    if (bm_send_parts(self->sock, NULL, cmd, cid, strlen(cid), body, attach, n_attach) != 0) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "send failed: %s", zmq_strerror(errno));
        return BM_RPC_FAIL;
    }
    int64_t deadline = bm_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - bm_mono_ms();
        if (left < 0)
            left = 0;
        zmq_pollitem_t items[2] = {{self->sock, 0, ZMQ_POLLIN, 0}, {self->mon, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, self->mon ? 2 : 1, (long)left);
        if (rc < 0 && errno != EINTR) {
            bm_error_set(err, BM_ERR_INVALID, NULL, "poll failed: %s", zmq_strerror(errno));
            return BM_RPC_FAIL;
        }
        int event = 0, value = 0;
        if (rc > 0 && self->mon && (items[1].revents & ZMQ_POLLIN) &&
            bm_monitor_read(self->mon, &event, &value) == 1 && bm_monitor_refused(event)) {
            rpc_close(self);
            char text[sizeof err->message];
            bm_key_refusal_message(event, value, text, sizeof text);
            bm_error_set(err, "key_refused", NULL, "%s", text);
            return BM_RPC_ERROR;
        }
        if (rc > 0 && !(items[0].revents & ZMQ_POLLIN))
            continue;
        if (rc <= 0) {
            if (bm_mono_ms() < deadline)
                continue;
            /* Drop the socket: a late reply must not be read as the next one's. */
            rpc_close(self);
            bm_error_set(err, BM_ERR_INVALID, NULL,
                         "no answer from the broker at %s within %d ms (is it running?)",
                         self->endpoint, timeout_ms);
            return BM_RPC_TIMEOUT;
        }
        bm_msg_t msg;
        bm_error_t perr = {0};
        bm_recv_t r = bm_recv(self->sock, false, true, NULL, &msg, &perr);
        if (r == BM_RECV_NONE)
            continue;
        if (r == BM_RECV_FAIL) {
            bm_error_set(err, BM_ERR_INVALID, NULL, "receive failed: %s", zmq_strerror(errno));
            return BM_RPC_FAIL;
        }
        bool mine = msg.cid_len == strlen(cid) && memcmp(msg.cid, cid, msg.cid_len) == 0;
        if (r == BM_RECV_INVALID || !mine) {
            bm_msg_clear(&msg); /* a stale or garbled reply: not ours */
            continue;
        }
        if (strcmp(msg.cmd, BM_REPLY_OK) == 0) {
            *reply = msg.body;
            msg.body = NULL;
            bm_msg_clear(&msg);
            return BM_RPC_OK;
        }
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(msg.body, "code");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg.body, "message");
        const cJSON *field = cJSON_GetObjectItemCaseSensitive(msg.body, "field");
        /* Error codes are compared by value; keep a static string for the code. */
        static char code_buf[64];
        bm_strlcpy(code_buf, cJSON_IsString(code) ? code->valuestring : "error", sizeof code_buf);
        bm_error_set(err, code_buf, cJSON_IsString(field) ? field->valuestring : NULL, "%s",
                     cJSON_IsString(text) ? text->valuestring : "(no message)");
        bm_msg_clear(&msg);
        return BM_RPC_ERROR;
    }
}
