/* broker.c - see broker.h. Making and ending a broker: the database, the
 * station's key pair and the first office key, the ZAP handler and its
 * self-test, the two server sockets. The loop is in broker_loop.c; the
 * command table in broker_commands.c (broker_int.h lists the parts). */
#include "broker_int.h"
#include "auth.h"
#include "log.h"
#include "zap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

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
            bm_error_set(err, BM_ERR_INVALID, k == 0 ? "client_endpoint" : "worker_endpoint",
                         "不能监听 %s (%s) / cannot bind %s", eps[k],
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
        bm_error_set(err, BM_ERR_INVALID, NULL, "不能建立 ZeroMQ 环境 / cannot create a ZeroMQ context");
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
            bm_error_set(err, BM_ERR_INVALID, "key_dir", "不能建钥匙目录 %s (%s) / cannot create key folder %s",
                         dir, strerror(errno), dir);
            goto fail;
        }
        if (broker_key(self, dir, err) != 0)
            goto fail;
        if (store_keys_load(self->store, load_stored_key, self) != 0) {
            bm_error_set(err, BM_ERR_STORAGE, NULL,
                         "不能从数据库读出钥匙 / cannot read the registered keys from the database");
            goto fail;
        }
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
    offer_cache_free(&self->offer_cache);
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
