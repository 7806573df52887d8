/* notify.c - webhooks per second from the real bianmin-notifier to a local
 * receiver (a small HTTP/1.1 server in a thread here, which checks every
 * signature): a fast receiver, one that takes 100 ms per request, and a fast
 * one with a dead endpoint (connection refused) among the live ones. The
 * deliveries are queued first (notifier stopped), then the notifier starts
 * and drains them at 64 in flight. */
#include "bench.h"
#include "util.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define RX_MAX_CONNS 512
#define RX_BUF       (64 * 1024)
#define DRAIN_LIMIT_S 120

/* ---- the receiver ------------------------------------------------------------ */

typedef struct {
    int fd;
    char *buf;
    size_t len;
    size_t req_len; /* bytes of the complete request at the head, 0 if incomplete */
    int64_t due;    /* when to answer it (ns), 0 if none pending */
} rx_conn_t;

typedef struct {
    int listen_fd;
    int port;
    int delay_ms;
    const char *secret;
    volatile int stop;
    pthread_t th;
    rx_conn_t conns[RX_MAX_CONNS];
    /* results, read by the main thread under the lock */
    pthread_mutex_t lock;
    long answered, bad_sig;
    int64_t first_at, last_at;
    int64_t *at; /* answer times, [cap] */
    long cap;
} rx_t;

static const char *header(const char *req, size_t hdr_len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = req, *end = req + hdr_len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nlen + 1 && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* If a whole request is buffered, sets req_len and checks its signature. */
static void rx_parse(rx_t *rx, rx_conn_t *c, int64_t now)
{
    if (c->req_len || c->len < 4)
        return;
    char *hend = NULL;
    for (size_t i = 0; i + 3 < c->len; i++) {
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
            hend = c->buf + i;
            break;
        }
    }
    if (!hend)
        return;
    size_t hdr_len = (size_t)(hend - c->buf) + 2;
    size_t vlen = 0;
    long clen = 0;
    const char *v = header(c->buf, hdr_len, "content-length", &vlen);
    char num[24] = "0";
    if (v && vlen < sizeof num) {
        memcpy(num, v, vlen);
        num[vlen] = '\0';
    }
    if (bm_parse_long(num, 0, RX_BUF, &clen) != 0)
        clen = 0;
    size_t total = hdr_len + 2 + (size_t)clen;
    if (c->len < total)
        return;
    c->req_len = total;
    c->due = now + (int64_t)rx->delay_ms * 1000000;
    /* Check the Standard Webhooks signature, as a receiver must. */
    char id[128] = "", ts[32] = "", sig[512] = "";
    size_t l;
    if ((v = header(c->buf, hdr_len, "webhook-id", &l)) && l < sizeof id)
        memcpy(id, v, l), id[l] = '\0';
    if ((v = header(c->buf, hdr_len, "webhook-timestamp", &l)) && l < sizeof ts)
        memcpy(ts, v, l), ts[l] = '\0';
    if ((v = header(c->buf, hdr_len, "webhook-signature", &l)) && l < sizeof sig)
        memcpy(sig, v, l), sig[l] = '\0';
    long t = 0;
    if (bm_parse_long(ts, 0, 1L << 40, &t) != 0 ||
        bm_webhook_verify(rx->secret, id, t, hend + 4, (size_t)clen, sig) != 0) {
        pthread_mutex_lock(&rx->lock);
        rx->bad_sig++;
        pthread_mutex_unlock(&rx->lock);
    }
}

static void rx_close(rx_conn_t *c)
{
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void rx_answer(rx_t *rx, rx_conn_t *c, int64_t now)
{
    static const char reply[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
    if (write(c->fd, reply, sizeof reply - 1) != (ssize_t)(sizeof reply - 1)) {
        rx_close(c);
        return;
    }
    pthread_mutex_lock(&rx->lock);
    if (!rx->first_at)
        rx->first_at = now;
    rx->last_at = now;
    if (rx->answered < rx->cap)
        rx->at[rx->answered] = now;
    rx->answered++;
    pthread_mutex_unlock(&rx->lock);
    memmove(c->buf, c->buf + c->req_len, c->len - c->req_len);
    c->len -= c->req_len;
    c->req_len = 0;
    c->due = 0;
    rx_parse(rx, c, now);
}

static void *rx_main(void *arg)
{
    rx_t *rx = arg;
    struct pollfd pfd[RX_MAX_CONNS + 1];
    int idx[RX_MAX_CONNS + 1];
    while (!rx->stop) {
        int64_t now = now_ns();
        int n = 0, timeout = 20;
        pfd[n].fd = rx->listen_fd;
        pfd[n].events = POLLIN;
        idx[n++] = -1;
        for (int i = 0; i < RX_MAX_CONNS; i++) {
            rx_conn_t *c = &rx->conns[i];
            if (c->fd < 0)
                continue;
            if (c->due) {
                int ms = (int)((c->due - now) / 1000000);
                if (ms < timeout)
                    timeout = ms < 0 ? 0 : ms;
            }
            pfd[n].fd = c->fd;
            pfd[n].events = POLLIN;
            idx[n++] = i;
        }
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
            break;
        now = now_ns();
        if (pfd[0].revents & POLLIN) {
            for (int k = 0; k < 64; k++) {
                int fd = accept(rx->listen_fd, NULL, NULL);
                if (fd < 0)
                    break;
                int slot = -1;
                for (int i = 0; i < RX_MAX_CONNS && slot < 0; i++) {
                    if (rx->conns[i].fd < 0)
                        slot = i;
                }
                char *buf = slot >= 0 ? malloc(RX_BUF) : NULL;
                if (!buf) {
                    close(fd);
                    continue;
                }
                fcntl(fd, F_SETFL, O_NONBLOCK);
                rx->conns[slot] = (rx_conn_t){.fd = fd, .buf = buf};
            }
        }
        for (int k = 1; k < n; k++) {
            rx_conn_t *c = &rx->conns[idx[k]];
            if (c->fd >= 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                if (c->len == RX_BUF) {
                    rx_close(c);
                    continue;
                }
                ssize_t got = read(c->fd, c->buf + c->len, RX_BUF - c->len);
                if (got <= 0) {
                    if (got < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                    rx_close(c);
                    continue;
                }
                c->len += (size_t)got;
                rx_parse(rx, c, now);
            }
        }
        for (int i = 0; i < RX_MAX_CONNS; i++) {
            rx_conn_t *c = &rx->conns[i];
            if (c->fd >= 0 && c->req_len && c->due <= now)
                rx_answer(rx, c, now);
        }
    }
    for (int i = 0; i < RX_MAX_CONNS; i++) {
        if (rx->conns[i].fd >= 0)
            rx_close(&rx->conns[i]);
    }
    return NULL;
}

static int rx_start(rx_t *rx, int delay_ms, const char *secret, long cap)
{
    memset(rx, 0, sizeof *rx);
    for (int i = 0; i < RX_MAX_CONNS; i++)
        rx->conns[i].fd = -1;
    rx->delay_ms = delay_ms;
    rx->secret = secret;
    rx->cap = cap;
    rx->at = calloc((size_t)cap, sizeof *rx->at);
    pthread_mutex_init(&rx->lock, NULL);
    rx->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int one = 1;
    if (!rx->at || rx->listen_fd < 0 ||
        setsockopt(rx->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(rx->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(rx->listen_fd, 512) != 0 ||
        getsockname(rx->listen_fd, (struct sockaddr *)&a, &len) != 0) {
        if (rx->listen_fd >= 0)
            close(rx->listen_fd);
        free(rx->at);
        return -1;
    }
    fcntl(rx->listen_fd, F_SETFL, O_NONBLOCK);
    rx->port = ntohs(a.sin_port);
    if (pthread_create(&rx->th, NULL, rx_main, rx) != 0) {
        close(rx->listen_fd);
        free(rx->at);
        return -1;
    }
    return 0;
}

static void rx_stop(rx_t *rx)
{
    rx->stop = 1;
    pthread_join(rx->th, NULL);
    close(rx->listen_fd);
    free(rx->at);
    pthread_mutex_destroy(&rx->lock);
}

static long rx_answered(rx_t *rx)
{
    pthread_mutex_lock(&rx->lock);
    long n = rx->answered;
    pthread_mutex_unlock(&rx->lock);
    return n;
}

/* ---- the runs ------------------------------------------------------------------ */

static long db_count(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long n = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static bool notifier_has_flag(const bench_opts_t *o, const char *flag)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "'%s/bianmin-notifier' --help 2>&1", o->bin_dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    char line[512];
    bool found = false;
    for (int i = 0; i < 200 && fgets(line, sizeof line, p); i++)
        found = found || strstr(line, flag) != NULL;
    pclose(p);
    return found;
}

typedef struct {
    const char *label;
    long live, dead;
    int delay_ms;
} scenario_t;

/* Returns the live webhooks/s, 0 on failure. */
static double notify_once(const bench_opts_t *o, const bench_rows_t *rows, const scenario_t *sc,
                          bool allow_host, int *failed)
{
    char *dir = temp_dir(o, "notifier");
    if (!dir) {
        *failed = 1;
        return 0;
    }
    double rate = 0;
    long total = sc->live + sc->dead;
    rx_t rx;
    broker_proc_t b = {0};
    bench_payload_t *pl = NULL;
    pid_t np = -1;
    if (rx_start(&rx, sc->delay_ms, "", total * 2 + 16) != 0) {
        *failed = 1;
        temp_dir_remove(o, dir);
        return 0;
    }
    int dead_port = free_port();
    if (broker_start(o, dir, "\"retry_schedule_s\": [0, 1, 2, 4, 8]", &b) != 0)
        goto out;
    rx.secret = b.secret;
    char base[96], dead_url[96];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/hook", rx.port);
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d/hook", dead_port);
    long dead_every = sc->dead > 0 ? total / sc->dead : 0;
    pl = payloads_make(rows, total, base, sc->dead > 0 ? dead_url : NULL, dead_every);
    if (!pl)
        goto out;
    long dead = 0;
    for (long i = 0; i < total; i++)
        dead += strstr(pl[i].json, dead_url) != NULL && sc->dead > 0;
    long live = total - dead;

    /* Queue every notice first. */
    load_t L = {.kind = LOAD_BROKER, .endpoint = b.client_ep, .payloads = pl, .total = total,
                .conns = 8, .window = 32, .max_seconds = 120};
    int lrc = load_run(&L);
    long acked = L.acked;
    load_free(&L);
    if (lrc != 0 || acked != total) {
        printf("  %s: only %ld of %ld submits acknowledged\n", sc->label, acked, total);
        goto out;
    }

    /* Then let the notifier drain them. */
    char exe[600], log[700];
    snprintf(exe, sizeof exe, "%s/bianmin-notifier", o->bin_dir);
    snprintf(log, sizeof log, "%s/notifier.log", dir);
    /* --key none: the bench's broker is in development mode; without it the
     * notifier would take var/keys/notifier.key if `make run` made one here
     * and fail the handshake. */
    char *argv[] = {exe, "--broker", b.client_ep, "--key", "none", "--parallel", "64", "--per-host", "64",
                    "--connect-timeout-ms", "1000", "--timeout-ms", "5000", "--log-level", "warn",
                    allow_host ? "--allow-host" : NULL, "127.0.0.1", NULL};
    if (access(exe, X_OK) != 0) {
        printf("  %s is missing: build it first\n", exe);
        goto out;
    }
    int64_t t0 = now_ns();
    np = proc_start(argv, log, NULL);
    if (np < 0)
        goto out;
    int64_t limit = t0 + (int64_t)DRAIN_LIMIT_S * 1000000000;
    while (rx_answered(&rx) < live && now_ns() < limit) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
        if (proc_exited(np)) {
            printf("  the notifier exited early; see %s (--keep keeps it)\n", log);
            np = -1;
            break;
        }
    }
    long got = rx_answered(&rx);
    int64_t nth = 0, first = 0;
    pthread_mutex_lock(&rx.lock);
    if (got >= live && live > 0 && live <= rx.cap)
        nth = rx.at[live - 1];
    first = rx.first_at;
    long bad = rx.bad_sig;
    pthread_mutex_unlock(&rx.lock);
    double secs = nth ? (double)(nth - t0) / 1e9 : secs_since(t0);
    rate = nth ? (double)live / secs : 0;

    /* Every result reported back and recorded? */
    long delivered = -1;
    int64_t rec_limit = now_ns() + INT64_C(30000000000);
    while (now_ns() < rec_limit) {
        delivered = db_count(b.db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'");
        if (delivered >= live)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    double recorded_s = secs_since(t0);
    char dead_info[160] = "";
    if (dead > 0) {
        /* Give the dead deliveries a moment of retries, then look at them. */
        long attempts = db_count(b.db, "SELECT count(*) FROM delivery_attempts a JOIN deliveries d "
                                       "ON d.id = a.delivery_id WHERE d.state != 'delivered'");
        long pending = db_count(b.db, "SELECT count(*) FROM deliveries WHERE state = 'pending'");
        snprintf(dead_info, sizeof dead_info, "  dead endpoint: %ld deliveries, %ld attempts so far, "
                 "%ld still pending (retrying)", dead, attempts, pending);
    }
    printf("%-22s %6ld %6ld %7.2f %9.0f %9.1f %9.2f %8ld/%-6ld %5ld\n", sc->label, live, dead, secs,
           rate, first ? (double)(first - t0) / 1e6 : -1.0, recorded_s, delivered, live, bad);
    if (dead_info[0])
        printf("%s\n", dead_info);
    if (got < live || delivered < live || bad > 0)
        *failed = 1;
out:
    if (np > 0)
        proc_stop(np, 10000);
    if (b.pid > 0)
        broker_stop(&b, false);
    rx_stop(&rx);
    payloads_free(pl, total);
    temp_dir_remove(o, dir);
    if (rate <= 0)
        *failed = 1;
    return rate;
}

int section_notifier(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    (void)ctx;
    banner("notifier", "webhooks/s from the real bianmin-notifier at 64 in flight");
    bool allow = notifier_has_flag(o, "--allow-host");
    printf("  bianmin-notifier --parallel 64 --per-host 64%s; the deliveries are queued first,\n"
           "  then the notifier starts; every signature is checked by the receiver\n",
           allow ? " --allow-host 127.0.0.1" : "");
    scenario_t sc[3] = {
        {"fast receiver", o->webhooks, 0, 0},
        {"slow receiver", o->slow_webhooks, 0, o->slow_ms},
        {"fast + dead endpoint", o->webhooks, o->dead_webhooks, 0},
    };
    char slow_label[32];
    snprintf(slow_label, sizeof slow_label, "%d ms receiver", o->slow_ms);
    sc[1].label = slow_label;
    printf("%-22s %6s %6s %7s %9s %9s %9s %15s %5s\n", "receiver", "live", "dead", "secs",
           "hooks/s", "first ms", "recorded", "delivered", "badsig");
    int failed = 0;
    double rates[3];
    for (int i = 0; i < 3; i++)
        rates[i] = notify_once(o, rows, &sc[i], allow, &failed);
    printf("  (secs = notifier start -> the last live webhook answered; recorded = until the broker\n"
           "   had every result in the database)\n");
    if (o->slow_ms > 0) {
        double ceiling = 64.0 * 1000.0 / o->slow_ms;
        printf("  %d ms receiver: %.0f/s = %.0f%% of the %.0f/s ceiling (64 in flight / %d ms)\n",
               o->slow_ms, rates[1], 100.0 * rates[1] / ceiling, ceiling, o->slow_ms);
    }
    if (rates[0] > 0)
        printf("  with a dead endpoint among the live ones: %.0f/s = %.0f%% of the fast run\n",
               rates[2], 100.0 * rates[2] / rates[0]);
    return failed ? -1 : 0;
}
