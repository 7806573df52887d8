/* load.c - the same clients for every system: `conns` connections, one
 * thread each, each keeping `window` requests in flight, sending the same
 * pre-encoded JSON bodies. To the broker: BM1 submit on a DEALER (a CURVE
 * client when a key is given). To Redis: LPUSH over RESP. To beanstalkd: put
 * over its text protocol. To PostgreSQL and RabbitMQ: through a driver
 * (pg.c, amqp.c) on their own client libraries. Latency is from the
 * request's send to its acknowledgement. */
#include "bench.h"
#include "proto.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_TICK_MS   1000
#define DRAIN_LIMIT_S  60.0 /* after max_seconds, outstanding replies get this long */
#define REDIS_KEY      "bianmin:requests"

struct load_conn {
    load_t *L;
    void *ctx;
    pthread_barrier_t *bar;
    long first, count;
    int64_t start, last_ack;
    long acked, errors;
    int rc;
    char err[256];
    /* tcp peers */
    int fd;
    char rbuf[8192];
    size_t rlen, rpos;
    long *fifo; /* outstanding seqs, in order */
    long fhead, ftail;
    void *drv; /* LOAD_DRIVER: the driver's connection */
};
typedef struct load_conn conn_t;

static void note_verror(conn_t *c, const char *fmt, va_list ap)
{
    if (!c->err[0])
        vsnprintf(c->err, sizeof c->err, fmt, ap);
}

__attribute__((format(printf, 2, 3))) static void note_error(conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_verror(c, fmt, ap);
    va_end(ap);
}

void load_fail(load_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_verror(c, fmt, ap);
    va_end(ap);
}

void load_sent(load_conn_t *c, long seq)
{
    c->L->sent_ns[seq] = now_ns();
}

void load_ack(load_conn_t *c, long seq, int64_t id)
{
    int64_t now = now_ns();
    c->L->ticket[seq] = id;
    c->L->lat_ns[seq] = now - c->L->sent_ns[seq];
    if (c->L->lat_ns[seq] <= 0)
        c->L->lat_ns[seq] = 1;
    c->acked++;
    c->last_ack = now;
}

void load_refused(load_conn_t *c, long seq, const char *why)
{
    note_error(c, "refused: %s", why);
    c->L->lat_ns[seq] = 0;
    c->errors++;
}

/* ---- broker -------------------------------------------------------------- */

static int broker_send(conn_t *c, void *sock, long seq)
{
    const bench_payload_t *p = &c->L->payloads[seq];
    char cid[24];
    int n = snprintf(cid, sizeof cid, "%ld", seq);
    /* The body is sent pre-encoded (the bytes the peers get too) rather than
     * re-encoded from cJSON by bm_send for every request. */
    if (zmq_send(sock, BM_PROTO_VERSION, 3, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, BM_CMD_SUBMIT, strlen(BM_CMD_SUBMIT), ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, cid, (size_t)n, ZMQ_SNDMORE) < 0 || zmq_send(sock, p->json, p->len, 0) < 0)
        return -1;
    c->L->sent_ns[seq] = now_ns();
    return 0;
}

/* Reads one reply: 1 if one was handled, 0 on timeout, -1 on failure. */
static int broker_recv(conn_t *c, void *sock)
{
    bm_msg_t msg;
    bm_error_t err = {0};
    bm_recv_t r = bm_recv(sock, false, false, NULL, &msg, &err);
    if (r == BM_RECV_NONE)
        return 0;
    if (r == BM_RECV_FAIL) {
        if (errno == EINTR)
            return 0;
        note_error(c, "receive failed: %s", zmq_strerror(errno));
        return -1;
    }
    int64_t now = now_ns();
    long seq = -1;
    if (r != BM_RECV_OK || bm_parse_long(msg.cid, c->first, c->first + c->count - 1, &seq) != 0) {
        note_error(c, "unexpected reply: %s", err.message);
        bm_msg_clear(&msg);
        return -1;
    }
    if (strcmp(msg.cmd, BM_REPLY_OK) == 0) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg.body, "ticket");
        c->L->ticket[seq] = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
        c->L->lat_ns[seq] = now - c->L->sent_ns[seq];
        if (c->L->lat_ns[seq] <= 0)
            c->L->lat_ns[seq] = 1;
        c->acked++;
        c->last_ack = now;
    } else {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(msg.body, "code");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg.body, "message");
        note_error(c, "%s: %s", cJSON_IsString(code) ? code->valuestring : "?",
                   cJSON_IsString(m) ? m->valuestring : "");
        c->L->lat_ns[seq] = 0;
        c->errors++;
    }
    bm_msg_clear(&msg);
    return 1;
}

/* ---- tcp peers ----------------------------------------------------------- */

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {RECV_TICK_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
    for (int tries = 0; len > 0 && tries < 100000; tries++) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return len == 0 ? 0 : -1;
}

static int tcp_send(conn_t *c, long seq)
{
    const bench_payload_t *p = &c->L->payloads[seq];
    char head[96];
    int n;
    if (c->L->kind == LOAD_REDIS)
        n = snprintf(head, sizeof head, "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n%s\r\n$%zu\r\n",
                     strlen(REDIS_KEY), REDIS_KEY, p->len);
    else
        n = snprintf(head, sizeof head, "put 1024 0 60 %zu\r\n", p->len);
    /* One write per request, like a client library would do. */
    char *buf = malloc((size_t)n + p->len + 2);
    if (!buf)
        return -1;
    memcpy(buf, head, (size_t)n);
    memcpy(buf + n, p->json, p->len);
    memcpy(buf + n + p->len, "\r\n", 2);
    int rc = write_all(c->fd, buf, (size_t)n + p->len + 2);
    free(buf);
    if (rc != 0)
        return -1;
    c->L->sent_ns[seq] = now_ns();
    c->fifo[c->ftail++ % c->L->window] = seq;
    return 0;
}

/* Reads one line into line (without CRLF): 1, 0 on timeout, -1 on failure. */
static int read_line(conn_t *c, char *line, size_t cap)
{
    for (int guard = 0; guard < 64; guard++) {
        char *nl = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);
        if (nl) {
            size_t len = (size_t)(nl - (c->rbuf + c->rpos));
            if (len > 0 && nl[-1] == '\r')
                len--;
            if (len >= cap)
                len = cap - 1;
            memcpy(line, c->rbuf + c->rpos, len);
            line[len] = '\0';
            c->rpos = (size_t)(nl - c->rbuf) + 1;
            return 1;
        }
        if (c->rpos > 0) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        if (c->rlen == sizeof c->rbuf)
            return -1;
        ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;
        c->rlen += (size_t)n;
    }
    return -1;
}

static int tcp_recv(conn_t *c)
{
    char line[256];
    int r = read_line(c, line, sizeof line);
    if (r <= 0) {
        if (r < 0)
            note_error(c, "connection lost");
        return r;
    }
    if (c->fhead == c->ftail) {
        note_error(c, "unexpected line: %s", line);
        return -1;
    }
    long seq = c->fifo[c->fhead++ % c->L->window];
    long id = 0;
    bool ok = c->L->kind == LOAD_REDIS
                  ? (line[0] == ':' && bm_parse_long(line + 1, 0, 1L << 60, &id) == 0)
                  : (strncmp(line, "INSERTED ", 9) == 0 && bm_parse_long(line + 9, 0, 1L << 60, &id) == 0);
    if (ok)
        load_ack(c, seq, id);
    else
        load_refused(c, seq, line);
    return 1;
}

/* ---- the connection loop --------------------------------------------------- */

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    load_t *L = c->L;
    void *sock = NULL;
    c->rc = -1;
    c->fd = -1;
    if (L->kind == LOAD_BROKER) {
        /* With a key the connection is a CURVE client of the broker. */
        bm_sock_opts_t so = {.key = L->key};
        sock = bm_socket_ex(c->ctx, ZMQ_DEALER, L->endpoint, false, &so);
        if (sock) {
            int tmo = RECV_TICK_MS;
            zmq_setsockopt(sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
        }
    } else if (L->kind == LOAD_DRIVER) {
        char why[200] = "";
        c->drv = L->driver->open(L, c->first, c->count, why, sizeof why);
        if (!c->drv)
            note_error(c, "cannot connect: %s", why);
    } else {
        c->fd = tcp_connect(L->port);
        c->fifo = calloc((size_t)L->window, sizeof *c->fifo);
    }
    bool ready = L->kind == LOAD_BROKER   ? sock != NULL
                 : L->kind == LOAD_DRIVER ? c->drv != NULL
                                          : (c->fd >= 0 && c->fifo);
    pthread_barrier_wait(c->bar);
    if (!ready) {
        note_error(c, "cannot connect");
        goto out;
    }
    c->start = now_ns();
    int64_t stop_sending = c->start + (int64_t)(L->max_seconds * 1e9);
    int64_t give_up = stop_sending + (int64_t)(DRAIN_LIMIT_S * 1e9);
    long sent = 0, answered = 0;
    for (;;) {
        int64_t now = now_ns();
        while (sent - answered < L->window && sent < c->count && now < stop_sending) {
            int rc = L->kind == LOAD_BROKER   ? broker_send(c, sock, c->first + sent)
                     : L->kind == LOAD_DRIVER ? L->driver->send(c->drv, c, c->first + sent)
                                              : tcp_send(c, c->first + sent);
            if (rc != 0) {
                note_error(c, "send failed: %s", strerror(errno));
                goto out;
            }
            sent++;
        }
        if (answered == sent)
            break;
        if (now > give_up) {
            note_error(c, "no answer within the time limit");
            goto out;
        }
        int r = L->kind == LOAD_BROKER   ? broker_recv(c, sock)
                : L->kind == LOAD_DRIVER ? L->driver->recv(c->drv, c)
                                         : tcp_recv(c);
        if (r < 0)
            goto out;
        answered += r;
    }
    c->rc = 0;
out:
    if (sock)
        zmq_close(sock);
    if (c->drv)
        L->driver->close(c->drv);
    c->drv = NULL;
    if (c->fd >= 0)
        close(c->fd);
    free(c->fifo);
    c->fifo = NULL;
    return NULL;
}

int load_run(load_t *L)
{
    L->lat_ns = calloc((size_t)L->total, sizeof *L->lat_ns);
    L->ticket = calloc((size_t)L->total, sizeof *L->ticket);
    L->sent_ns = calloc((size_t)L->total, sizeof *L->sent_ns);
    conn_t *conns = calloc((size_t)L->conns, sizeof *conns);
    pthread_t *th = calloc((size_t)L->conns, sizeof *th);
    L->acked = L->errors = 0;
    L->first_error[0] = '\0';
    L->secs = 0;
    if (!L->lat_ns || !L->ticket || !L->sent_ns || !conns || !th || L->conns < 1 || L->window < 1) {
        free(conns);
        free(th);
        return -1;
    }
    void *ctx = L->kind == LOAD_BROKER ? zmq_ctx_new() : NULL;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)L->conns + 1);
    int started = 0;
    for (int i = 0; i < L->conns; i++) {
        conn_t *c = &conns[i];
        c->L = L;
        c->ctx = ctx;
        c->bar = &bar;
        c->first = L->total * i / L->conns;
        c->count = L->total * (i + 1) / L->conns - c->first;
        if (pthread_create(&th[i], NULL, conn_main, c) != 0)
            break;
        started++;
    }
    int rc = 0;
    if (started < L->conns) {
        /* The barrier can never complete: give up loudly rather than hang. */
        fprintf(stderr, "bench: cannot start %d client threads\n", L->conns);
        abort();
    }
    pthread_barrier_wait(&bar);
    int64_t t0 = now_ns();
    int64_t last = t0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        conn_t *c = &conns[i];
        L->acked += c->acked;
        L->errors += c->errors;
        if (c->last_ack > last)
            last = c->last_ack;
        if (c->rc != 0)
            rc = -1;
        if (c->err[0] && !L->first_error[0])
            bm_strlcpy(L->first_error, c->err, sizeof L->first_error);
    }
    L->secs = (double)(last - t0) / 1e9;
    pthread_barrier_destroy(&bar);
    if (ctx)
        zmq_ctx_term(ctx);
    free(conns);
    free(th);
    return rc;
}

void load_free(load_t *L)
{
    free(L->lat_ns);
    free(L->ticket);
    free(L->sent_ns);
    L->sent_ns = NULL;
    L->lat_ns = NULL;
    L->ticket = NULL;
}

int tcp_query(int port, const char *cmd, char *out, size_t cap)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    struct timeval tv = {0, 300 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t len = 0;
    if (write_all(fd, cmd, strlen(cmd)) == 0) {
        /* Read until the peer has been quiet for a moment. */
        for (int i = 0; i < 100 && len + 1 < cap; i++) {
            ssize_t n = read(fd, out + len, cap - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
    }
    out[len] = '\0';
    close(fd);
    return len > 0 ? 0 : -1;
}
