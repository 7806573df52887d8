/* metrics.c - see metrics.h. */
#include "metrics.h"
#include "util.h"
#include "version.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BUSY_TIMEOUT_MS 2000
#define MAX_BUCKETS     16

static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5};
static const double group_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
static const double webhook_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

typedef struct {
    const double *bounds;
    int n;
    uint64_t counts[MAX_BUCKETS]; /* per bucket, not cumulative; [n] is +Inf */
    double sum;
    uint64_t count;
} hist_t;

/* What the broker thread reports; guarded by the mutex. */
typedef struct {
    uint64_t submits, messages, commits, commit_failures, webhook_ok, webhook_failed;
    int online;
    hist_t commit, group, webhook;
} counters_t;

struct metrics {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    counters_t c;
    int port;
    bool loopback;
    char db_path[1024];
    int max_attempts;
    sqlite3 *db; /* read-only; used by the listener thread only */
};

/* ---- a growing text buffer ------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} sb_t;

static void sb_printf(sb_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *sb, const char *fmt, ...)
{
    if (sb->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(sb->buf ? sb->buf + sb->len : NULL, sb->buf ? sb->cap - sb->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            sb->failed = true;
            return;
        }
        if (sb->buf && sb->len + (size_t)n < sb->cap) {
            sb->len += (size_t)n;
            return;
        }
        size_t cap = sb->cap ? sb->cap * 2 : 4096;
        while (cap < sb->len + (size_t)n + 1)
            cap *= 2;
        char *grown = realloc(sb->buf, cap);
        if (!grown) {
            sb->failed = true;
            return;
        }
        sb->buf = grown;
        sb->cap = cap;
    }
}

/* A label value with \, " and newlines escaped (the text format's rule). */
static void sb_label(sb_t *sb, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            sb_printf(sb, "\\%c", *p);
        else if (*p == '\n')
            sb_printf(sb, "\\n");
        else
            sb_printf(sb, "%c", *p);
    }
}

static void head(sb_t *sb, const char *name, const char *type, const char *help)
{
    sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- histograms ----------------------------------------------------------- */

static void hist_init(hist_t *h, const double *bounds, int n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n;
}

static void hist_add(hist_t *h, double v)
{
    int i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

static void hist_write(sb_t *sb, const char *name, const char *help, const hist_t *h)
{
    head(sb, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->counts[i];
        sb_printf(sb, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    sb_printf(sb, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
              (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

/* ---- the hooks (broker thread) ------------------------------------------- */

int64_t metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void metrics_pass(metrics_t *self, bool wrote, bool committed, int64_t commit_us, int handled,
                  int submits, int online)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->c.messages += (uint64_t)(handled > 0 ? handled : 0);
    self->c.online = online;
    if (wrote) {
        if (committed) {
            self->c.commits++;
            self->c.submits += (uint64_t)(submits > 0 ? submits : 0);
            hist_add(&self->c.commit, (double)commit_us / 1e6);
            hist_add(&self->c.group, handled);
        } else {
            self->c.commit_failures++;
        }
    }
    pthread_mutex_unlock(&self->lock);
}

void metrics_webhook(metrics_t *self, bool ok, int64_t latency_ms)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    if (ok)
        self->c.webhook_ok++;
    else
        self->c.webhook_failed++;
    if (latency_ms >= 0) /* every reported attempt, a 0 ms one too */
        hist_add(&self->c.webhook, (double)latency_ms / 1000.0);
    pthread_mutex_unlock(&self->lock);
}

/* ---- the scrape (listener thread) ----------------------------------------- */

/* The gauges that live in the database. Returns 0, or -1 if it could not be
 * read (then bianmin_database_up is 0 and the gauges are left out). */
static int write_db_gauges(metrics_t *self, sb_t *sb)
{
    if (!self->db) {
        if (sqlite3_open_v2(self->db_path, &self->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
            sqlite3_close(self->db);
            self->db = NULL;
            return -1;
        }
        sqlite3_busy_timeout(self->db, BUSY_TIMEOUT_MS);
    }
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_exec(self->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT status, category, count(*) FROM requests GROUP BY status, category",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    head(sb, "bianmin_requests", "gauge", "Requests by current status and category.");
    while (sqlite3_step(s) == SQLITE_ROW) {
        sb_printf(sb, "bianmin_requests{status=\"");
        sb_label(sb, (const char *)sqlite3_column_text(s, 0));
        sb_printf(sb, "\",category=\"");
        sb_label(sb, (const char *)sqlite3_column_text(s, 1));
        sb_printf(sb, "\"} %lld\n", (long long)sqlite3_column_int64(s, 2));
    }
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT coalesce(sum(status = 'open' AND (overdue & 1) != 0), 0),"
                           " coalesce(sum(status IN ('open', 'claimed') AND (overdue & 2) != 0), 0),"
                           " coalesce(sum(status IN ('open', 'claimed') AND attempts >= ?1), 0)"
                           " FROM requests",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int(s, 1, self->max_attempts);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    head(sb, "bianmin_requests_overdue", "gauge",
         "Requests past a limit: unclaimed (open past its offer timeout) or deadline (not done by "
         "its service deadline).");
    sb_printf(sb, "bianmin_requests_overdue{kind=\"unclaimed\"} %lld\n",
              (long long)sqlite3_column_int64(s, 0));
    sb_printf(sb, "bianmin_requests_overdue{kind=\"deadline\"} %lld\n",
              (long long)sqlite3_column_int64(s, 1));
    head(sb, "bianmin_requests_needs_escalation", "gauge",
         "Open or claimed requests that failed max_attempts times: the office should escalate.");
    sb_printf(sb, "bianmin_requests_needs_escalation %lld\n", (long long)sqlite3_column_int64(s, 2));
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT state, count(*), min(created_at) FROM deliveries GROUP BY state",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    long long counts[3] = {0, 0, 0}, oldest = 0;
    static const char *const states[] = {"pending", "delivered", "dead"};
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *st = (const char *)sqlite3_column_text(s, 0);
        for (int i = 0; i < 3; i++) {
            if (st && strcmp(st, states[i]) == 0) {
                counts[i] = sqlite3_column_int64(s, 1);
                if (i == 0)
                    oldest = sqlite3_column_int64(s, 2);
            }
        }
    }
    sqlite3_finalize(s);
    s = NULL;
    head(sb, "bianmin_deliveries", "gauge", "Webhook notices by state (pending, delivered, dead).");
    for (int i = 0; i < 3; i++)
        sb_printf(sb, "bianmin_deliveries{state=\"%s\"} %lld\n", states[i], counts[i]);
    head(sb, "bianmin_deliveries_oldest_pending_seconds", "gauge",
         "Age of the oldest notice not yet delivered (0 if none).");
    sb_printf(sb, "bianmin_deliveries_oldest_pending_seconds %.3f\n",
              counts[0] > 0 && oldest > 0 ? (double)(bm_now_ms() - oldest) / 1000.0 : 0.0);
    if (sqlite3_prepare_v2(self->db,
                           "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        head(sb, "bianmin_database_bytes", "gauge", "Size of the database file.");
        sb_printf(sb, "bianmin_database_bytes %lld\n", (long long)sqlite3_column_int64(s, 0));
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

static void write_counters(const counters_t *c, sb_t *sb)
{
    head(sb, "bianmin_volunteers_online", "gauge", "Volunteers connected and heard from recently.");
    sb_printf(sb, "bianmin_volunteers_online %d\n", c->online);
    head(sb, "bianmin_submits_total", "counter", "Submits acknowledged (committed) since start.");
    sb_printf(sb, "bianmin_submits_total %llu\n", (unsigned long long)c->submits);
    head(sb, "bianmin_messages_total", "counter", "Messages handled from clients and workers.");
    sb_printf(sb, "bianmin_messages_total %llu\n", (unsigned long long)c->messages);
    head(sb, "bianmin_commits_total", "counter", "Transactions committed (one per pass that wrote).");
    sb_printf(sb, "bianmin_commits_total %llu\n", (unsigned long long)c->commits);
    head(sb, "bianmin_commit_failures_total", "counter",
         "Commits that failed (their replies became storage_error).");
    sb_printf(sb, "bianmin_commit_failures_total %llu\n", (unsigned long long)c->commit_failures);
    hist_write(sb, "bianmin_commit_seconds", "Time one COMMIT took (synchronous=FULL).", &c->commit);
    hist_write(sb, "bianmin_commit_group_size", "Messages handled in a pass that committed.", &c->group);
    head(sb, "bianmin_webhook_attempts_total", "counter", "Webhook attempts the notifier reported.");
    sb_printf(sb, "bianmin_webhook_attempts_total{result=\"ok\"} %llu\n",
              (unsigned long long)c->webhook_ok);
    sb_printf(sb, "bianmin_webhook_attempts_total{result=\"failed\"} %llu\n",
              (unsigned long long)c->webhook_failed);
    hist_write(sb, "bianmin_webhook_latency_seconds", "Webhook latency as the notifier reported it.",
               &c->webhook);
}

/* Builds the whole exposition; caller frees. */
static char *render(metrics_t *self, size_t *len)
{
    sb_t sb = {0};
    counters_t c;
    pthread_mutex_lock(&self->lock);
    c = self->c;
    pthread_mutex_unlock(&self->lock);
    head(&sb, "bianmin_build_info", "gauge", "The running version and the schema version.");
    sb_printf(&sb, "bianmin_build_info{version=\"%s\",schema=\"%d\"} 1\n", bm_version(),
              bm_schema_version());
    write_counters(&c, &sb);
    sb_t gauges = {0};
    int ok = write_db_gauges(self, &gauges) == 0 && !gauges.failed;
    head(&sb, "bianmin_database_up", "gauge", "1 if the gauges could be read from the database.");
    sb_printf(&sb, "bianmin_database_up %d\n", ok);
    if (ok && gauges.len)
        sb_printf(&sb, "%s", gauges.buf);
    free(gauges.buf);
    if (sb.failed) {
        free(sb.buf);
        return NULL;
    }
    *len = sb.len;
    return sb.buf;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    metrics_t *self = cls;
    static int first;
    if (!*state) { /* headers only so far: wait for the end of the request */
        *state = &first;
        return MHD_YES;
    }
    const char *text = "text/plain; charset=utf-8";
    if (*upload_size) {
        *upload_size = 0; /* a body is never wanted: drop it */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "只支持 GET / only GET /metrics\n";
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, strdup(msg), sizeof msg - 1);
    }
    if (strcmp(url, "/metrics") != 0) {
        static const char msg[] = "找不到 / not found: the metrics are at /metrics\n";
        return answer(conn, MHD_HTTP_NOT_FOUND, text, strdup(msg), sizeof msg - 1);
    }
    size_t len = 0;
    char *body = render(self, &len);
    if (!body) {
        static const char msg[] = "out of memory\n";
        return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, strdup(msg), sizeof msg - 1);
    }
    return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

/* ---- set-up ---------------------------------------------------------------- */

int metrics_parse_listen(const char *spec, void *addr, unsigned *addrlen, bm_error_t *err)
{
    char host[128];
    const char *port_s;
    const char *colon = strrchr(spec, ':');
    if (!colon) {
        bm_strlcpy(host, BM_DEFAULT_METRICS_HOST, sizeof host);
        port_s = spec;
    } else {
        size_t n = (size_t)(colon - spec);
        if (n >= sizeof host)
            goto bad;
        memcpy(host, spec, n);
        host[n] = '\0';
        port_s = colon + 1;
        if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
            memmove(host, host + 1, n - 2);
            host[n - 2] = '\0';
        }
    }
    long port;
    if (bm_parse_long(port_s, 0, 65535, &port) != 0)
        goto bad;
    struct sockaddr_storage *ss = addr;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = addr;
    struct sockaddr_in6 *v6 = addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *addrlen = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *addrlen = sizeof *v6;
        return 0;
    }
bad:
    bm_error_set(err, BM_ERR_INVALID, "metrics_listen",
                 "指标监听地址不对 / metrics_listen must be PORT, IP:PORT or [IPv6]:PORT (e.g. "
                 "127.0.0.1:9570), not \"%s\"",
                 spec);
    return -1;
}

metrics_t *metrics_new(const char *listen, const bm_config_t *cfg, bm_error_t *err)
{
    struct sockaddr_storage ss;
    unsigned len = 0;
    if (metrics_parse_listen(listen, &ss, &len, err) != 0)
        return NULL;
    metrics_t *self = calloc(1, sizeof *self);
    if (!self) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    hist_init(&self->c.commit, commit_bounds, (int)(sizeof commit_bounds / sizeof *commit_bounds));
    hist_init(&self->c.group, group_bounds, (int)(sizeof group_bounds / sizeof *group_bounds));
    hist_init(&self->c.webhook, webhook_bounds, (int)(sizeof webhook_bounds / sizeof *webhook_bounds));
    bm_strlcpy(self->db_path, cfg->database, sizeof self->db_path);
    self->max_attempts = cfg->max_attempts;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        self->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
        self->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, self, MHD_OPTION_SOCK_ADDR,
                                    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                                    (unsigned)BM_METRICS_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
                                    (unsigned)BM_METRICS_TIMEOUT_S, MHD_OPTION_END);
    if (!self->daemon) {
        bm_error_set(err, BM_ERR_INVALID, "metrics_listen",
                     "无法监听 / cannot listen for metrics on %s (in use, or not this host's address)",
                     listen);
        metrics_destroy(&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    return self;
}

void metrics_destroy(metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    sqlite3_close(self->db);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int metrics_port(const metrics_t *self)
{
    return self ? self->port : 0;
}

bool metrics_loopback(const metrics_t *self)
{
    return self && self->loopback;
}
