/* peers.c - the peers section: the same bodies, connections and window into
 * what a user would pick instead of bianmin - Redis (appendfsync always) and
 * beanstalkd (-f 0) over plain sockets, PostgreSQL 15 (pg.c) and RabbitMQ
 * (amqp.c) through their client libraries - each on a private server that
 * is SIGKILLed, restarted on the same data and counted; then bianmin's rate
 * as a ratio of each. A peer that is not installed is skipped with a line
 * saying so; scripts/bench.sh installs them from Debian. */
#include "bench.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_PEERS 4

/* ---- Redis and beanstalkd ------------------------------------------------- */

typedef struct {
    const char *name;
    const char *exe;
    load_kind_t kind;
    pid_t pid;
    int port;
    char dir[600];
} tcp_peer_t;

void peer_result_from_load(peer_result_t *r, const load_t *L)
{
    r->acked = L->acked;
    r->errors = L->errors;
    r->secs = L->secs;
    r->rate = L->secs > 0 ? (double)L->acked / L->secs : 0;
    r->lat = lat_stats(L->lat_ns, L->total);
    bm_strlcpy(r->first_error, L->first_error, sizeof r->first_error);
}

static int tcp_peer_start(tcp_peer_t *p)
{
    char port[16], log[700], data[700];
    snprintf(port, sizeof port, "%d", p->port);
    snprintf(log, sizeof log, "%s/server.log", p->dir);
    snprintf(data, sizeof data, "%s/data", p->dir);
    mkdir(data, 0700);
    char exe[256];
    bm_strlcpy(exe, p->exe, sizeof exe);
    if (p->kind == LOAD_REDIS) {
        char *argv[] = {exe, "--bind", "127.0.0.1", "--port", port, "--dir", data,
                        "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                        "--daemonize", "no", "--protected-mode", "yes", NULL};
        p->pid = proc_start(argv, log, NULL);
    } else {
        char *argv[] = {exe, "-l", "127.0.0.1", "-p", port, "-b", data, "-f", "0", NULL};
        p->pid = proc_start(argv, log, NULL);
    }
    if (p->pid < 0 || wait_port(p->port, 15000) != 0) {
        fprintf(stderr, "bench: %s 没有启动 / did not start (see %s)\n", p->name, log);
        return -1;
    }
    return 0;
}

/* How many items the peer holds: Redis LLEN, beanstalkd current-jobs-ready. */
static long tcp_peer_count(const tcp_peer_t *p)
{
    char out[8192];
    long n = -1;
    if (p->kind == LOAD_REDIS) {
        /* Redis answers -LOADING while it replays the AOF after the restart. */
        for (int tries = 0; tries < 200 && n < 0; tries++) {
            if (tcp_query(p->port, "LLEN bianmin:requests\r\n", out, sizeof out) != 0)
                break;
            if (out[0] == ':') {
                out[strcspn(out, "\r\n")] = '\0';
                bm_parse_long(out + 1, 0, 1L << 60, &n);
            } else if (strncmp(out, "-LOADING", 8) != 0) {
                fprintf(stderr, "bench: redis: %s", out);
                break;
            }
        }
    } else if (tcp_query(p->port, "stats\r\n", out, sizeof out) == 0) {
        char *at = strstr(out, "current-jobs-ready: ");
        if (at) {
            at += strlen("current-jobs-ready: ");
            at[strcspn(at, "\r\n")] = '\0';
            bm_parse_long(at, 0, 1L << 60, &n);
        }
    }
    return n;
}

/* One load run against a fresh Redis or beanstalkd, then SIGKILL, restart on
 * the same data and count: the same check the broker gets. */
static int tcp_peer_measure(const bench_opts_t *o, tcp_peer_t *p, const bench_payload_t *pl,
                            int clients, peer_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->recovered = r->stored = -1;
    char *dir = temp_dir(o, p->name);
    if (!dir)
        return -1;
    bm_strlcpy(p->dir, dir, sizeof p->dir);
    p->port = free_port();
    int rc = -1;
    if (p->port < 0 || tcp_peer_start(p) != 0) {
        snprintf(r->first_error, sizeof r->first_error, "%s 没有启动 / did not start", p->name);
        goto out;
    }
    load_t L = {.kind = p->kind, .port = p->port, .payloads = pl, .total = o->requests,
                .conns = clients, .window = o->window, .max_seconds = o->max_seconds};
    int lrc = load_run(&L);
    proc_kill(p->pid);
    p->pid = 0;
    if (tcp_peer_start(p) == 0) {
        r->stored = tcp_peer_count(p);
        r->recovered = r->stored < 0 ? -1 : r->stored < L.acked ? r->stored : L.acked;
        proc_stop(p->pid, 5000);
        p->pid = 0;
    }
    peer_result_from_load(r, &L);
    rc = lrc == 0 && r->errors == 0 && r->stored == r->acked ? 0 : -1;
    load_free(&L);
out:
    if (p->pid > 0)
        proc_kill(p->pid);
    p->pid = 0;
    temp_dir_remove(o, dir);
    return rc;
}

/* ---- the section ------------------------------------------------------------ */

static const struct {
    const char *name;
    unsigned bit;
    const char *package; /* Debian */
} peer_names[N_PEERS] = {
    {"redis", PEER_REDIS, "redis-server"},
    {"beanstalkd", PEER_BEANSTALK, "beanstalkd"},
    {"postgres", PEER_POSTGRES, "postgresql-15"},
    {"rabbitmq", PEER_RABBITMQ, "rabbitmq-server"},
};

int peers_parse(const char *list, unsigned *out)
{
    char buf[256];
    if (bm_strlcpy(buf, list, sizeof buf) != 0)
        return -1;
    unsigned mask = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned bit = strcmp(tok, "all") == 0 ? PEER_ALL : 0;
        for (int i = 0; i < N_PEERS && !bit; i++) {
            if (strcmp(tok, peer_names[i].name) == 0)
                bit = peer_names[i].bit;
        }
        if (!bit)
            return -1;
        mask |= bit;
    }
    if (!mask)
        return -1;
    *out = mask;
    return 0;
}

/* 0 if peer i can run here, else -1 with what is missing in why. */
static int peer_available(int i, char *why, size_t cap)
{
    static const char *const exes[N_PEERS] = {"/usr/bin/redis-server", "/usr/bin/beanstalkd"};
    if (i == 2)
        return pg_available(why, cap);
    if (i == 3)
        return amqp_available(why, cap);
    if (access(exes[i], X_OK) != 0) {
        snprintf(why, cap, "%s", exes[i]);
        return -1;
    }
    return 0;
}

static int peer_measure(const bench_opts_t *o, int i, const bench_payload_t *pl, int clients,
                        peer_result_t *r)
{
    tcp_peer_t tp = {.name = peer_names[i].name};
    switch (i) {
    case 0: tp.exe = "/usr/bin/redis-server"; tp.kind = LOAD_REDIS; break;
    case 1: tp.exe = "/usr/bin/beanstalkd"; tp.kind = LOAD_BEANSTALK; break;
    case 2: return pg_measure(o, pl, clients, r);
    default: return amqp_measure(o, pl, clients, r);
    }
    return tcp_peer_measure(o, &tp, pl, clients, r);
}

static void peer_print(const bench_opts_t *o, const char *name, int clients, const peer_result_t *r)
{
    char after[96];
    if (r->stored < 0)
        snprintf(after, sizeof after, "after kill -9 and restart: ?/%ld  MISMATCH", r->acked);
    else
        snprintf(after, sizeof after, "after kill -9 and restart: %ld/%ld%s", r->recovered, r->acked,
                 r->recovered == r->acked && r->stored == r->acked ? "" : "  MISMATCH");
    printf("%-11s %7d %8ld %7.2f %9.0f %8.2f %8.2f %8.2f  %s\n", name, clients, r->acked, r->secs,
           r->rate, r->lat.p50_ms, r->lat.p99_ms, r->lat.max_ms, after);
    if (r->stored >= 0 && r->stored != r->acked)
        printf("            the restarted server holds %ld, %ld were acknowledged\n", r->stored,
               r->acked);
    if (r->errors > 0 || r->first_error[0])
        printf("            %ld errors; first: %s\n", r->errors, r->first_error[0] ? r->first_error : "?");
    if (r->acked < o->requests && r->secs >= o->max_seconds * 0.9)
        printf("            (stopped after %.0f s: --max-seconds)\n", o->max_seconds);
}

int section_peers(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    if (ctx->n_submit == 0 && section_submit(o, rows, ctx) != 0)
        fprintf(stderr, "bench: the broker run had problems (see above)\n");
    banner("peers", "the same bodies, clients and window into Redis, beanstalkd, PostgreSQL and "
                    "RabbitMQ");
    printf("  redis-server --appendonly yes --appendfsync always (LPUSH, RESP); beanstalkd -b DIR -f 0 "
           "(put);\n"
           "  postgres 15 (fsync, synchronous_commit=on; INSERT request RETURNING id, its own "
           "transaction,\n"
           "  libpq pipeline mode); rabbitmq (durable queue, delivery_mode 2, publisher confirms)\n");
    printf("%-11s %7s %8s %7s %9s %8s %8s %8s\n", "system", "clients", "acked", "secs", "req/s",
           "p50 ms", "p99 ms", "max ms");
    bench_payload_t *pl = payloads_make(rows, o->requests, NULL, NULL, 0);
    if (!pl)
        return -1;
    double rates[N_PEERS][BENCH_MAX_LIST] = {{0}};
    bool ran[N_PEERS] = {false};
    int rc = 0;
    for (int k = 0; k < N_PEERS; k++) {
        if (!(o->peers & peer_names[k].bit))
            continue;
        char why[256];
        if (peer_available(k, why, sizeof why) != 0) {
            printf("%-11s 跳过：找不到 %s / skipped: %s not found (apt-get install -y %s; "
                   "scripts/bench.sh does it)\n",
                   peer_names[k].name, why, why, peer_names[k].package);
            continue;
        }
        ran[k] = true;
        for (int i = 0; i < o->n_clients; i++) {
            peer_result_t r;
            if (peer_measure(o, k, pl, o->clients[i], &r) != 0)
                rc = -1;
            peer_print(o, peer_names[k].name, o->clients[i], &r);
            rates[k][i] = r.rate;
        }
    }
    for (int i = 0; i < ctx->n_submit; i++) {
        const submit_result_t *s = &ctx->submit[i];
        printf("%-11s %7d %8s %7s %9.0f %8.2f %8.2f %8.2f  (from the submit section)\n", "bianmin",
               s->clients, "", "", s->rate, s->lat.p50_ms, s->lat.p99_ms, s->lat.max_ms);
    }
    for (int i = 0; i < ctx->n_submit && i < o->n_clients; i++) {
        const submit_result_t *s = &ctx->submit[i];
        printf("  %2d clients: bianmin %.0f req/s =", s->clients, s->rate);
        const char *sep = "";
        for (int k = 0; k < N_PEERS; k++) {
            if (!ran[k])
                continue;
            printf("%s %.2fx %s (%.0f)", sep, rates[k][i] > 0 ? s->rate / rates[k][i] : 0,
                   peer_names[k].name, rates[k][i]);
            sep = ",";
        }
        printf("%s\n", *sep ? "" : " (no peer ran)");
    }
    payloads_free(pl, o->requests);
    return rc;
}
