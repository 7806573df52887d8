/* amqp.c - RabbitMQ as a peer: a durable queue, persistent messages
 * (delivery_mode 2) and publisher confirms, `window` unconfirmed messages per
 * connection, through librabbitmq. A message counts as acknowledged when its
 * confirm (basic.ack) arrives: RabbitMQ sends it once the message is written
 * and fsynced by the queue.
 *
 * The node is private to one run: its own RABBITMQ_MNESIA_BASE, LOG_BASE,
 * config and plugins file in the temp dir, its own node name, AMQP and
 * distribution ports on 127.0.0.1, and its own epmd (the Erlang port mapper)
 * on a free loopback port, started by the bench as a child like the node, so
 * nothing is left running afterwards, also on Ctrl-C. Durability check:
 * SIGKILL the node (its whole process group), start it again on the same
 * dirs and count the messages in the queue. */
#include "bench.h"
#include "util.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RMQ_SERVER          "/usr/lib/rabbitmq/bin/rabbitmq-server" /* Debian's rabbitmq-server */
#define RMQ_EPMD            "/usr/bin/epmd"                          /* erlang-base */
#define RMQ_QUEUE           "bianmin.requests"
#define RMQ_CHANNEL         1
#define RMQ_FRAME_MAX       131072
#define RMQ_START_TIMEOUT_MS 180000 /* an Erlang node boots in ~10 s, more on a busy machine */
#define RMQ_RECOVER_TIMEOUT_MS 60000 /* durable queues come back after the listener opens */
#define RMQ_RECOVER_POLL_MS  200
#define RMQ_SETTLE_TRIES     3 /* restarts to see the declared queue kept, before the load */

/* One private node. */
typedef struct {
    char dir[600];
    char log[700];
    int port, dist_port, epmd_port;
    char node[64];
    pid_t pid, epmd_pid;
    char env[16][760]; /* KEY=value entries for the node */
    char *envp[17];
} rmq_node_t;

/* Where the load's connections go. */
typedef struct {
    int port;
} rmq_target_t;

int amqp_available(char *why, size_t cap)
{
    const char *need[] = {RMQ_SERVER, RMQ_EPMD};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (access(need[i], X_OK) != 0) {
            snprintf(why, cap, "%s", need[i]);
            return -1;
        }
    }
    return 0;
}

/* Writes a small file (config, plugins); 0 or -1. */
static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* Dirs, ports, config and the environment of the node; 0 or -1. */
static int rmq_init(rmq_node_t *n, const char *dir, int seq)
{
    memset(n, 0, sizeof *n);
    bm_strlcpy(n->dir, dir, sizeof n->dir);
    snprintf(n->log, sizeof n->log, "%s/rabbitmq.log", dir);
    n->port = free_port();
    n->dist_port = free_port();
    n->epmd_port = free_port();
    if (n->port < 0 || n->dist_port < 0 || n->epmd_port < 0 || n->port == n->dist_port ||
        n->port == n->epmd_port || n->dist_port == n->epmd_port)
        return -1;
    snprintf(n->node, sizeof n->node, "bmbench%d_%d@localhost", (int)getpid(), seq);
    char path[760], conf[256];
    snprintf(path, sizeof path, "%s/rabbitmq.conf", dir);
    snprintf(conf, sizeof conf,
             "listeners.tcp.default = 127.0.0.1:%d\n"
             "log.console = true\nlog.console.level = warning\nlog.file.level = warning\n",
             n->port);
    if (write_file(path, conf) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/enabled_plugins", dir);
    if (write_file(path, "[].\n") != 0)
        return -1;
    snprintf(path, sizeof path, "%s/rabbitmq-env.conf", dir);
    if (write_file(path, "") != 0)
        return -1;
    int k = 0;
    /* HOME: the Erlang cookie goes there, not to /root or /var/lib/rabbitmq. */
    snprintf(n->env[k++], sizeof n->env[0], "HOME=%s", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_CONF_ENV_FILE=%s/rabbitmq-env.conf", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_CONFIG_FILE=%s/rabbitmq.conf", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_ADVANCED_CONFIG_FILE=%s/advanced.config", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_ENABLED_PLUGINS_FILE=%s/enabled_plugins", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_MNESIA_BASE=%s/mnesia", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_LOG_BASE=%s/log", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_PID_FILE=%s/rabbitmq.pid", dir);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_NODENAME=%s", n->node);
    snprintf(n->env[k++], sizeof n->env[0], "RABBITMQ_DIST_PORT=%d", n->dist_port);
    snprintf(n->env[k++], sizeof n->env[0], "ERL_EPMD_PORT=%d", n->epmd_port);
    snprintf(n->env[k++], sizeof n->env[0],
             "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}");
    for (int i = 0; i < k; i++)
        n->envp[i] = n->env[i];
    n->envp[k] = NULL;
    return 0;
}

static amqp_connection_state_t rmq_connect(int port, char *err, size_t cap);
static void rmq_close(amqp_connection_state_t conn);

/* True while something still accepts connections on the port (a killed
 * node's VM may take a moment to go). */
static bool port_open(int port)
{
    return wait_port(port, 0) == 0;
}

/* Starts the node (and its epmd, once) and waits until it takes a login
 * (after recovering its queues, on a restart). 0 or -1 (message printed). */
static int rmq_start(rmq_node_t *n)
{
    if (n->epmd_pid <= 0) {
        char exe[] = RMQ_EPMD, port[16];
        snprintf(port, sizeof port, "%d", n->epmd_port);
        char *argv[] = {exe, "-port", port, "-address", "127.0.0.1", NULL};
        char elog[700];
        snprintf(elog, sizeof elog, "%s/epmd.log", n->dir);
        n->epmd_pid = proc_start(argv, elog, NULL);
        if (n->epmd_pid < 0 || wait_port(n->epmd_port, 15000) != 0) {
            fprintf(stderr, "bench: rabbitmq: epmd 没有启动 / epmd did not start (%s)\n", elog);
            return -1;
        }
    }
    int64_t end = now_ns() + (int64_t)RMQ_START_TIMEOUT_MS * 1000000;
    while (port_open(n->port) && now_ns() < end)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    char exe[] = RMQ_SERVER;
    char *argv[] = {exe, NULL};
    proc_opts_t po = {.own_group = true, .cwd = n->dir};
    n->pid = proc_start_ex(argv, n->log, n->envp, &po);
    if (n->pid < 0)
        return -1;
    char err[256] = "";
    while (now_ns() < end) {
        if (wait_port(n->port, 200) == 0) {
            amqp_connection_state_t conn = rmq_connect(n->port, err, sizeof err);
            if (conn) {
                rmq_close(conn);
                return 0;
            }
            nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
        }
        if (proc_exited(n->pid)) {
            n->pid = 0;
            break;
        }
    }
    fprintf(stderr, "bench: rabbitmq 没有启动 / did not start (%s; see %s and %s/log)\n",
            err[0] ? err : "no answer", n->log, n->dir);
    if (n->pid > 0)
        proc_kill(n->pid);
    n->pid = 0;
    return -1;
}

static void rmq_stop(rmq_node_t *n)
{
    if (n->pid > 0)
        proc_kill(n->pid); /* its data is thrown away next */
    n->pid = 0;
    if (n->epmd_pid > 0)
        proc_kill(n->epmd_pid);
    n->epmd_pid = 0;
}

/* The text of a failed librabbitmq call. */
static void reply_text(amqp_rpc_reply_t r, char *out, size_t cap)
{
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(out, cap, "%s", amqp_error_string2(r.library_error));
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD || r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        const amqp_bytes_t *t = r.reply.id == AMQP_CHANNEL_CLOSE_METHOD
                                    ? &((amqp_channel_close_t *)r.reply.decoded)->reply_text
                                    : &((amqp_connection_close_t *)r.reply.decoded)->reply_text;
        snprintf(out, cap, "%.*s", (int)t->len, (const char *)t->bytes);
    } else {
        snprintf(out, cap, "AMQP reply %d", (int)r.reply_type);
    }
}

/* Opens a connection with channel 1; NULL with a message in err. */
static amqp_connection_state_t rmq_connect(int port, char *err, size_t cap)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = conn ? amqp_tcp_socket_new(conn) : NULL;
    if (!sock) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    int st = amqp_socket_open(sock, "127.0.0.1", port);
    if (st != AMQP_STATUS_OK) {
        snprintf(err, cap, "connect: %s", amqp_error_string2(st));
        goto fail;
    }
    amqp_rpc_reply_t r = amqp_login(conn, "/", 0, RMQ_FRAME_MAX, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                                    "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        reply_text(r, err, cap);
        goto fail;
    }
    amqp_channel_open(conn, RMQ_CHANNEL);
    r = amqp_get_rpc_reply(conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        reply_text(r, err, cap);
        goto fail;
    }
    return conn;
fail:
    if (conn)
        amqp_destroy_connection(conn);
    return NULL;
}

static void rmq_close(amqp_connection_state_t conn)
{
    if (!conn)
        return;
    amqp_channel_close(conn, RMQ_CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Declares the durable queue (passive: only asks) and returns how many
 * messages it holds, or -1 (message in err). */
static long rmq_queue(int port, bool passive, char *err, size_t cap)
{
    long count = -1;
    amqp_connection_state_t conn = rmq_connect(port, err, cap);
    if (!conn)
        return -1;
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(conn, RMQ_CHANNEL, amqp_cstring_bytes(RMQ_QUEUE),
                                                     passive, 1, 0, 0, amqp_empty_table);
    if (ok)
        count = (long)ok->message_count;
    else
        reply_text(amqp_get_rpc_reply(conn), err, cap);
    rmq_close(conn);
    return count;
}

/* ---- the load driver: one connection, confirms on ----------------------- */

typedef struct {
    const load_t *L;
    amqp_connection_state_t conn;
    long first, count;
    uint64_t next_tag;   /* the last delivery tag used; tag k is seq first + k - 1 */
    uint64_t oldest;     /* the oldest tag not yet confirmed */
    bool *done;          /* [count]: confirmed or refused */
} rmq_conn_t;

static void drv_close(void *p)
{
    rmq_conn_t *rc = p;
    if (!rc)
        return;
    rmq_close(rc->conn);
    free(rc->done);
    free(rc);
}

static void *drv_open(const load_t *L, long first, long count, char *err, size_t cap)
{
    const rmq_target_t *t = L->driver_arg;
    rmq_conn_t *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->L = L;
    rc->first = first;
    rc->count = count;
    rc->oldest = 1;
    rc->done = calloc((size_t)(count > 0 ? count : 1), sizeof *rc->done);
    if (!rc->done || !(rc->conn = rmq_connect(t->port, err, cap))) {
        drv_close(rc);
        return NULL;
    }
    amqp_confirm_select(rc->conn, RMQ_CHANNEL);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(rc->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        reply_text(r, err, cap);
        drv_close(rc);
        return NULL;
    }
    return rc;
}

static int drv_send(void *p, load_conn_t *c, long seq)
{
    rmq_conn_t *rc = p;
    const bench_payload_t *pl = &rc->L->payloads[seq];
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof props);
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = 2; /* persistent */
    props.content_type = amqp_cstring_bytes("application/json");
    amqp_bytes_t body = {.len = pl->len, .bytes = pl->json};
    load_sent(c, seq);
    int st = amqp_basic_publish(rc->conn, RMQ_CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(RMQ_QUEUE),
                                0, 0, &props, body);
    if (st != AMQP_STATUS_OK) {
        load_fail(c, "rabbitmq: publish: %s", amqp_error_string2(st));
        return -1;
    }
    rc->next_tag++;
    return 0;
}

/* Settles tag (and, if multiple, every older one still open); returns how many. */
static int settle(rmq_conn_t *rc, load_conn_t *c, uint64_t tag, bool multiple, bool ok)
{
    int n = 0;
    if (tag < rc->oldest || tag > rc->next_tag)
        return 0;
    for (uint64_t t = multiple ? rc->oldest : tag; t <= tag; t++) {
        long i = (long)(t - 1);
        if (rc->done[i])
            continue;
        rc->done[i] = true;
        if (ok)
            load_ack(c, rc->first + i, (int64_t)t);
        else
            load_refused(c, rc->first + i, "basic.nack");
        n++;
    }
    while (rc->oldest <= rc->next_tag && rc->done[rc->oldest - 1])
        rc->oldest++;
    return n;
}

static int drv_recv(void *p, load_conn_t *c)
{
    rmq_conn_t *rc = p;
    int answered = 0;
    struct timeval tv = {1, 0};
    /* The first frame may take up to a second; those already read, none. */
    for (int i = 0; i < 4096; i++) {
        if (i > 0 && !amqp_frames_enqueued(rc->conn) && !amqp_data_in_buffer(rc->conn))
            break;
        amqp_frame_t f;
        int st = amqp_simple_wait_frame_noblock(rc->conn, &f, &tv);
        if (st == AMQP_STATUS_TIMEOUT)
            break;
        if (st != AMQP_STATUS_OK) {
            load_fail(c, "rabbitmq: %s", amqp_error_string2(st));
            return -1;
        }
        tv.tv_sec = 0;
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const amqp_basic_ack_t *a = f.payload.method.decoded;
            answered += settle(rc, c, a->delivery_tag, a->multiple, true);
        } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            const amqp_basic_nack_t *a = f.payload.method.decoded;
            answered += settle(rc, c, a->delivery_tag, a->multiple, false);
        } else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                   f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            load_fail(c, "rabbitmq closed the %s",
                      f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ? "channel" : "connection");
            return -1;
        }
    }
    amqp_maybe_release_buffers(rc->conn);
    return answered;
}

static const load_driver_t rmq_driver = {drv_open, drv_send, drv_recv, drv_close};

int amqp_measure(const bench_opts_t *o, const bench_payload_t *pl, int clients, peer_result_t *r)
{
    static int runs;
    memset(r, 0, sizeof *r);
    r->recovered = r->stored = -1;
    char *dir = temp_dir(o, "rabbitmq");
    if (!dir)
        return -1;
    rmq_node_t n;
    char err[256] = "";
    int rc = -1;
    if (rmq_init(&n, dir, ++runs) != 0 || rmq_start(&n) != 0 ||
        rmq_queue(n.port, false, err, sizeof err) != 0) {
        if (err[0])
            fprintf(stderr, "bench: rabbitmq: %s\n", err);
        bm_strlcpy(r->first_error, "rabbitmq 没有启动 / did not start", sizeof r->first_error);
        goto out;
    }
    /* A queue is declared once, long before a crash, where people run
     * RabbitMQ. Killed within moments of its declaration, a node can come
     * back without the queue at all (seen here: NOT_FOUND after the restart,
     * every confirmed message gone with it) - a fact about declaring, not
     * about persistent messages. So the setup settles first: the node is
     * killed once after the declaration and must come back with the queue
     * before the load (declared again if not; at most RMQ_SETTLE_TRIES). */
    bool settled = false;
    for (int i = 0; i < RMQ_SETTLE_TRIES && !settled; i++) {
        proc_kill(n.pid);
        n.pid = 0;
        if (rmq_start(&n) != 0)
            break;
        settled = rmq_queue(n.port, true, err, sizeof err) == 0;
        if (!settled && rmq_queue(n.port, false, err, sizeof err) != 0)
            break;
    }
    if (!settled) {
        fprintf(stderr, "bench: rabbitmq: the queue did not survive a restart: %s\n", err);
        bm_strlcpy(r->first_error, "rabbitmq 队列没有保存下来 / queue not kept", sizeof r->first_error);
        goto out;
    }
    rmq_target_t t = {.port = n.port};
    load_t L = {.kind = LOAD_DRIVER, .driver = &rmq_driver, .driver_arg = &t, .payloads = pl,
                .total = o->requests, .conns = clients, .window = o->window,
                .max_seconds = o->max_seconds};
    int lrc = load_run(&L);
    /* A crash of the node: the script, the Erlang VM and its helpers. */
    proc_kill(n.pid);
    n.pid = 0;
    if (rmq_start(&n) == 0) {
        /* The node opens its port before it has recovered every durable
         * queue: until then a passive declare answers NOT_FOUND. Ask again,
         * bounded. */
        int64_t until = now_ns() + (int64_t)RMQ_RECOVER_TIMEOUT_MS * 1000000;
        while ((r->stored = rmq_queue(n.port, true, err, sizeof err)) < 0 && now_ns() < until) {
            struct timespec ts = {0, RMQ_RECOVER_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (r->stored < 0)
            fprintf(stderr, "bench: rabbitmq: %s\n", err);
        /* A queue holds no ids to look up: every confirmed message is there
         * when the count is at least the confirmed ones. */
        r->recovered = r->stored < 0 ? -1 : r->stored < L.acked ? r->stored : L.acked;
    }
    peer_result_from_load(r, &L);
    rc = lrc == 0 && r->errors == 0 && r->stored == r->acked ? 0 : -1;
    load_free(&L);
out:
    rmq_stop(&n);
    temp_dir_remove(o, dir);
    return rc;
}
