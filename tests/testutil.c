/* testutil.c - see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"
#include "auth.h"
#include "broker.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

const char *tu_tmpdir(char *buf, size_t len)
{
    const char *base = getenv("BM_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    char mk[512];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", base);
    if (system(mk) != 0)
        base = "/tmp";
    snprintf(buf, len, "%s/bmtest-XXXXXX", base);
    return mkdtemp(buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct tu_broker {
    bm_config_t cfg;
    broker_t *broker;
    pthread_t thread;
    volatile sig_atomic_t stop;
};

static void *run(void *arg)
{
    tu_broker_t *b = arg;
    broker_run(b->broker, &b->stop);
    return NULL;
}

tu_broker_t *tu_broker_start(const char *dir, void (*cfg_edit)(bm_config_t *))
{
    tu_broker_t *b = calloc(1, sizeof *b);
    bm_config_defaults(&b->cfg);
    snprintf(b->cfg.client_endpoint, sizeof b->cfg.client_endpoint, "ipc://%s/client.sock", dir);
    snprintf(b->cfg.worker_endpoint, sizeof b->cfg.worker_endpoint, "ipc://%s/worker.sock", dir);
    snprintf(b->cfg.database, sizeof b->cfg.database, "%s/bianmin.db", dir);
    bm_strlcpy(b->cfg.callback_secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
               sizeof b->cfg.callback_secret);
    b->cfg.heartbeat_ms = 500;
    int fast[] = {0, 0, 0};
    memcpy(b->cfg.retry_schedule_s, fast, sizeof fast);
    b->cfg.retry_count = 3;
    /* The broker's logic under test; authentication has its own tests
     * (test_auth.c, integration/test_auth.py) through CURVE. */
    b->cfg.auth_none = true;
    if (cfg_edit)
        cfg_edit(&b->cfg);
    bm_log_init("broker", getenv("BM_TEST_VERBOSE") ? BM_LOG_DEBUG : BM_LOG_WARN);
    bm_error_t err = {0};
    b->broker = broker_new(&b->cfg, &err);
    if (!b->broker) {
        fprintf(stderr, "broker_new: %s\n", err.message);
        free(b);
        return NULL;
    }
    pthread_create(&b->thread, NULL, run, b);
    return b;
}

void tu_broker_stop(tu_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tu_broker_t *b = *self_p;
    b->stop = 1;
    pthread_join(b->thread, NULL);
    broker_destroy(&b->broker);
    free(b);
    *self_p = NULL;
}

const char *tu_client_ep(const tu_broker_t *b) { return b->cfg.client_endpoint; }
const char *tu_worker_ep(const tu_broker_t *b) { return b->cfg.worker_endpoint; }
const char *tu_db_path(const tu_broker_t *b) { return b->cfg.database; }
void tu_broker_fail_commits(tu_broker_t *b, int n) { broker_fail_commits(b->broker, n); }

/* Each socket gets its own context, stored in a side table, so tests stay simple. */
#define MAX_SOCKS 32
static struct {
    void *sock, *ctx, *mon;
    cJSON *pending[64]; /* unsolicited messages seen by tu_call: {"cmd":..,"body":..} */
    int n_pending;
} socks[MAX_SOCKS];

static int slot_of(void *sock)
{
    for (int i = 0; i < MAX_SOCKS; i++)
        if (socks[i].sock == sock)
            return i;
    return -1;
}

void *tu_dealer(const char *ep)
{
    for (int i = 0; i < MAX_SOCKS; i++) {
        if (!socks[i].sock) {
            socks[i].ctx = zmq_ctx_new();
            socks[i].sock = bm_socket(socks[i].ctx, ZMQ_DEALER, ep, false);
            socks[i].n_pending = 0;
            return socks[i].sock;
        }
    }
    return NULL;
}

void *tu_dealer_key(const char *ep, const struct bm_key *key, void **mon)
{
    for (int i = 0; i < MAX_SOCKS; i++) {
        if (!socks[i].sock) {
            socks[i].ctx = zmq_ctx_new();
            bm_sock_opts_t o = {.key = key, .mon = mon ? &socks[i].mon : NULL};
            socks[i].sock = bm_socket_ex(socks[i].ctx, ZMQ_DEALER, ep, false, &o);
            socks[i].n_pending = 0;
            if (mon)
                *mon = socks[i].mon;
            return socks[i].sock;
        }
    }
    return NULL;
}

void tu_close(void *sock)
{
    int i = slot_of(sock);
    if (i < 0)
        return;
    bm_monitor_close(socks[i].sock, &socks[i].mon);
    zmq_close(socks[i].sock);
    zmq_ctx_term(socks[i].ctx);
    for (int k = 0; k < socks[i].n_pending; k++)
        cJSON_Delete(socks[i].pending[k]);
    memset(&socks[i], 0, sizeof socks[i]);
}

static unsigned cid_seq;

/* Reads messages until one with cid arrives (or timeout); stores others. */
static cJSON *await(void *sock, const char *cid, char *cmd_out, size_t cmd_len, int timeout_ms)
{
    int slot = slot_of(sock);
    int64_t deadline = bm_mono_ms() + timeout_ms;
    while (bm_mono_ms() < deadline) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        bm_msg_t msg;
        bm_error_t err = {0};
        bm_recv_t r = bm_recv(sock, false, true, NULL, &msg, &err);
        if (r != BM_RECV_OK) {
            bm_msg_clear(&msg);
            continue;
        }
        if (cid && strcmp(msg.cid, cid) == 0) {
            bm_strlcpy(cmd_out, msg.cmd, cmd_len);
            cJSON *body = msg.body;
            msg.body = NULL;
            bm_msg_clear(&msg);
            return body;
        }
        if (slot >= 0 && socks[slot].n_pending < 64) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "cmd", msg.cmd);
            cJSON_AddItemToObject(p, "body", msg.body);
            msg.body = NULL;
            socks[slot].pending[socks[slot].n_pending++] = p;
        }
        bm_msg_clear(&msg);
        if (!cid)
            return NULL;
    }
    return NULL;
}

cJSON *tu_raw(void *sock, const char *const *frames, const size_t *lens, size_t n,
              char *cmd_out, size_t cmd_len)
{
    for (size_t i = 0; i < n; i++)
        zmq_send(sock, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
    const char *cid = n >= 3 ? frames[2] : "";
    char cidbuf[80];
    snprintf(cidbuf, sizeof cidbuf, "%.*s", n >= 3 ? (int)lens[2] : 0, cid);
    return await(sock, cidbuf, cmd_out, cmd_len, 5000);
}

cJSON *tu_call_ms(void *sock, const char *cmd, const char *body, char *cmd_out, size_t cmd_len,
                  int timeout_ms)
{
    char cid[32];
    snprintf(cid, sizeof cid, "t%u", ++cid_seq);
    const char *frames[4] = {BM_PROTO_VERSION, cmd, cid, body};
    size_t lens[4] = {3, strlen(cmd), strlen(cid), strlen(body)};
    for (size_t i = 0; i < 4; i++)
        zmq_send(sock, frames[i], lens[i], i + 1 < 4 ? ZMQ_SNDMORE | ZMQ_DONTWAIT : ZMQ_DONTWAIT);
    return await(sock, cid, cmd_out, cmd_len, timeout_ms);
}

int tu_spawn_broker(const char *dir, const char *extra_json, const char *const *extra_args,
                    int *status)
{
    char cfg[1024], log[1024], db[1024];
    snprintf(cfg, sizeof cfg, "%s/bianmin.json", dir);
    snprintf(log, sizeof log, "%s/broker.log", dir);
    snprintf(db, sizeof db, "%s/bianmin.db", dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return -1;
    /* The extra settings come first: the first of two equal keys counts. */
    const char *extra = extra_json && extra_json[0] == ',' ? extra_json + 1 : "";
    fprintf(f,
            "{%s%s\"client_endpoint\": \"ipc://%s/client.sock\", \"worker_endpoint\": \"ipc://%s/worker.sock\",\n"
            " \"database\": \"%s\", \"heartbeat_ms\": 300, \"log_level\": \"info\",\n"
            " \"callback_secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}\n",
            extra, extra[0] ? ", " : "", dir, dir, db);
    fclose(f);
    const char *argv[32] = {BM_BIN_DIR "/bianmin-broker", "--config", cfg};
    int argc = 3;
    for (int i = 0; extra_args && extra_args[i] && argc < 31; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* Ready when its log says it listens (after the self-test and keys). */
    int64_t deadline = bm_mono_ms() + 20000;
    while (bm_mono_ms() < deadline) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            if (status)
                *status = st;
            return -1;
        }
        FILE *lf = fopen(log, "r");
        char line[2048];
        bool up = false;
        while (lf && fgets(line, sizeof line, lf))
            up = up || strstr(line, "listening: clients") != NULL;
        if (lf)
            fclose(lf);
        if (up)
            return pid;
        usleep(20000);
    }
    tu_kill_broker(pid);
    return -1;
}

void tu_kill_broker(int pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

cJSON *tu_call(void *sock, const char *cmd, const char *body, char *cmd_out, size_t cmd_len)
{
    char cid[32];
    snprintf(cid, sizeof cid, "t%u", ++cid_seq);
    const char *frames[4] = {BM_PROTO_VERSION, cmd, cid, body};
    size_t lens[4] = {3, strlen(cmd), strlen(cid), strlen(body)};
    return tu_raw(sock, frames, lens, 4, cmd_out, cmd_len);
}

cJSON *tu_next(void *sock, const char *cmd, int timeout_ms)
{
    int slot = slot_of(sock);
    int64_t deadline = bm_mono_ms() + timeout_ms;
    for (;;) {
        for (int k = 0; slot >= 0 && k < socks[slot].n_pending; k++) {
            cJSON *p = socks[slot].pending[k];
            if (strcmp(tu_str(p, "cmd"), cmd) == 0) {
                cJSON *body = cJSON_DetachItemFromObjectCaseSensitive(p, "body");
                cJSON_Delete(p);
                memmove(&socks[slot].pending[k], &socks[slot].pending[k + 1],
                        (size_t)(socks[slot].n_pending - k - 1) * sizeof(cJSON *));
                socks[slot].n_pending--;
                return body;
            }
        }
        int64_t left = deadline - bm_mono_ms();
        if (left <= 0)
            return NULL;
        char dummy[16];
        await(sock, NULL, dummy, sizeof dummy, (int)(left < 100 ? left : 100));
    }
}

long long tu_sql_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    long long v = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        else
            fprintf(stderr, "tu_sql_int(%s): %s\n", sql, sqlite3_errmsg(h));
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    return v;
}

const char *tu_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double tu_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int tu_sql_exec(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    int rc = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK)
        rc = 0;
    else
        fprintf(stderr, "tu_sql_exec(%s): %s\n", sql, sqlite3_errmsg(h));
    sqlite3_close(h);
    return rc;
}

const char *tu_path_db(const char *dir)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/bianmin.db", dir);
    return buf;
}

int tu_fixture_setup(void **state, void (*cfg_edit)(bm_config_t *))
{
    tu_fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx || !tu_tmpdir(fx->dir, sizeof fx->dir)) {
        free(fx);
        return -1;
    }
    fx->broker = tu_broker_start(fx->dir, cfg_edit);
    if (!fx->broker) {
        tu_rmtree(fx->dir);
        free(fx);
        return -1;
    }
    fx->client = tu_dealer(tu_client_ep(fx->broker));
    *state = fx;
    return 0;
}

int tu_fixture_teardown(void **state)
{
    tu_fixture_t *fx = *state;
    tu_close(fx->client);
    tu_broker_stop(&fx->broker);
    tu_rmtree(fx->dir);
    free(fx);
    return 0;
}
