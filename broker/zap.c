/* zap.c - see zap.h. */
#include "zap.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES   7 /* version, request id, domain, address, identity, mechanism, credentials */

struct zap {
    void *sock;
    registry_t *reg;
    unsigned long refused, accepted;
    bool silent;
};

void zap_set_silent(zap_t *self, bool silent)
{
    self->silent = silent;
}

void zap_unbind(zap_t *self)
{
    if (self->sock)
        zmq_close(self->sock);
    self->sock = NULL;
}

zap_t *zap_new(void *ctx, registry_t *reg, bm_error_t *err)
{
    zap_t *self = calloc(1, sizeof *self);
    if (!self) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        return NULL;
    }
    self->reg = reg;
    self->sock = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (self->sock)
        zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (!self->sock || zmq_bind(self->sock, ZAP_ENDPOINT) != 0) {
        bm_error_set(err, BM_ERR_INVALID, NULL,
                     "不能启动身份验证 (ZAP: %s) / cannot start the ZAP authentication handler",
                     zmq_strerror(errno));
        zap_destroy(&self);
        return NULL;
    }
    return self;
}

void zap_destroy(zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->sock)
        zmq_close((*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

void *zap_socket(zap_t *self)
{
    return self->sock;
}

unsigned long zap_refused(const zap_t *self)
{
    return self->refused;
}

static bool frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* Decides one request; returns the status code and fills user. */
static const char *decide(zap_t *self, zmq_msg_t *f, size_t n, char *user, size_t user_len,
                          const char **why)
{
    *why = "denied";
    if (n != ZAP_FRAMES || !frame_is(&f[0], "1.0"))
        return "500";
    if (!frame_is(&f[5], "CURVE") || zmq_msg_size(&f[6]) != 32) {
        *why = "CURVE required";
        return "400";
    }
    char z85[BM_Z85_KEY_LEN + 1];
    if (!zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32))
        return "500";
    const reg_key_t *k = registry_find(self->reg, z85);
    if (!k) {
        *why = "unknown key";
        return "400";
    }
    bool worker = frame_is(&f[2], BM_ZAP_DOMAIN_WORKER);
    bool client = frame_is(&f[2], BM_ZAP_DOMAIN_CLIENT);
    if ((worker && k->kind != ROLE_VOLUNTEER) || (client && k->kind == ROLE_VOLUNTEER) ||
        (!worker && !client)) {
        *why = "wrong socket for this role";
        return "400";
    }
    bm_strlcpy(user, z85, user_len);
    *why = "OK";
    return "200";
}

static int reply(zap_t *self, zmq_msg_t *request_id, const char *status, const char *text,
                 const char *user)
{
    zmq_msg_t id;
    zmq_msg_init(&id);
    if (request_id)
        zmq_msg_copy(&id, request_id);
    int rc = 0;
    if (zmq_send(self->sock, "1.0", 3, ZMQ_SNDMORE) < 0 || zmq_msg_send(&id, self->sock, ZMQ_SNDMORE) < 0 ||
        zmq_send(self->sock, status, strlen(status), ZMQ_SNDMORE) < 0 ||
        zmq_send(self->sock, text, strlen(text), ZMQ_SNDMORE) < 0 ||
        zmq_send(self->sock, user, strlen(user), ZMQ_SNDMORE) < 0 ||
        zmq_send(self->sock, "", 0, 0) < 0)
        rc = -1;
    zmq_msg_close(&id);
    return rc;
}

int zap_handle(zap_t *self)
{
    int handled = 0;
    if (!self->sock)
        return 0;
    for (;;) {
        zmq_msg_t f[ZAP_FRAMES + 1];
        size_t n = 0;
        int more = 1;
        bool got = false;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, self->sock, got ? 0 : ZMQ_DONTWAIT) < 0) {
                int e = errno;
                zmq_msg_close(&part);
                for (size_t i = 0; i < n; i++)
                    zmq_msg_close(&f[i]);
                if (!got && (e == EAGAIN || e == EINTR))
                    return handled;
                return -1;
            }
            got = true;
            more = zmq_msg_more(&part);
            if (n < ZAP_FRAMES + 1)
                f[n++] = part;
            else
                zmq_msg_close(&part);
        }
        if (self->silent) {
            /* A REP must answer before it reads again: a silent handler
             * answers nobody and so reads nothing more. */
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            return handled;
        }
        char user[BM_Z85_KEY_LEN + 1] = "";
        const char *why = "";
        const char *status = decide(self, f, n, user, sizeof user, &why);
        if (strcmp(status, "200") == 0) {
            log_debug("ZAP: accepted %s", user);
            self->accepted++;
        } else {
            self->refused++;
            char addr[64] = "";
            if (n > 3 && zmq_msg_size(&f[3]) < sizeof addr)
                memcpy(addr, zmq_msg_data(&f[3]), zmq_msg_size(&f[3]));
            log_warn("拒绝了一个连接 (%s) / refused a connection from %s: %s", why, addr[0] ? addr : "?",
                     why);
        }
        int rc = reply(self, n > 1 ? &f[1] : NULL, status, why, user);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        if (rc != 0)
            return -1;
        handled++;
    }
}

int zap_self_test(zap_t *self, void *ctx, const char *endpoint, const char *server_public,
                  int timeout_ms, bm_error_t *err)
{
    bm_key_t probe;
    memset(&probe, 0, sizeof probe);
    if (bm_key_generate(&probe) != 0) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "不能生成测试钥匙 / cannot make a probe key");
        return -1;
    }
    bm_strlcpy(probe.broker_key, server_public, sizeof probe.broker_key);
    void *mon = NULL;
    bm_sock_opts_t o = {.key = &probe, .mon = &mon};
    void *sock = bm_socket_ex(ctx, ZMQ_DEALER, endpoint, false, &o);
    int result = -1;
    const char *what = "没有回应 / no answer";
    unsigned long before = self->refused;
    if (!sock || !mon) {
        what = "cannot open a probe socket";
        goto out;
    }
    /* A message queued before the handshake: if it were accepted, the
     * handshake would succeed and the monitor would say so. */
    bm_send(sock, NULL, "probe", "", 0, NULL);
    int64_t deadline = bm_mono_ms() + timeout_ms;
    while (bm_mono_ms() < deadline) {
        zmq_pollitem_t items[2] = {{mon, 0, ZMQ_POLLIN, 0}, {self->sock, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, self->sock ? 2 : 1, 50) < 0 && errno != EINTR)
            break;
        zap_handle(self);
        int event = 0, value = 0;
        while (bm_monitor_read(mon, &event, &value) == 1) {
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                what = "一把没有登记的钥匙被接受了 / an unregistered key was accepted";
                goto out;
            }
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && self->refused > before) {
                result = 0;
                goto out;
            }
        }
    }
out:
    bm_monitor_close(sock, &mon);
    if (sock)
        zmq_close(sock);
    memset(&probe, 0, sizeof probe);
    if (result != 0)
        bm_error_set(err, BM_ERR_INVALID, NULL,
                     "身份验证自检失败，拒绝启动 (%s) / the authentication self-test failed, refusing "
                     "to start: an unregistered key must be refused at %s",
                     what, endpoint);
    return result;
}
