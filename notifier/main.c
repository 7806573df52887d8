/* main.c - bianmin-notifier: takes due webhook deliveries from the broker,
 * POSTs them in parallel (sender.c), and reports every attempt back.
 *
 * It keeps no state of its own: a delivery it took but never reported is
 * handed out again by the broker when its 60 s lease runs out, so a crash
 * costs a duplicate, never a lost notice. Results it could not report yet are
 * kept and retried; they are only given up at exit, with a warning.
 *
 * One event loop: curl_multi_poll waits on the transfers and on the broker
 * socket (ZMQ_FD) together, so a slow broker never stalls transfers and a
 * slow receiver never stalls the broker. At most one request to the broker is
 * outstanding at a time.
 *
 * Receiver URLs come from whoever submits a request: guard.c keeps webhooks
 * off loopback and private addresses unless --allow-host / --allow-private
 * say otherwise. */
#include "delivery.h"
#include "auth.h"
#include "exitcodes.h"
#include "log.h"
#include "proto.h"
#include "sender.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flag defaults. */
#define NT_DEFAULT_BROKER             "tcp://127.0.0.1:5570"
#define NT_DEFAULT_KEY                "var/keys/notifier.key" /* what `make run` makes */
#define NT_DEFAULT_PARALLEL           64
#define NT_DEFAULT_PER_HOST           8
#define NT_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define NT_DEFAULT_TIMEOUT_MS         15000
#define NT_DEFAULT_LOG_LEVEL          "info"

/* Flag ranges. */
#define NT_MAX_PARALLEL     4096
#define NT_MIN_TIMEOUT_MS   100
#define NT_MAX_TIMEOUT_MS   300000
#define NT_LEASE_MS         60000 /* the broker's delivery lease (its default) */

/* Loop timing. */
#define NT_IDLE_WAIT_MS     1000 /* take's wait_ms when nothing is in flight */
#define NT_POLL_MS          100  /* longest sleep while transfers are in flight */
#define NT_TAKE_INTERVAL_MS 100  /* pause after a take that brought nothing */
#define NT_RPC_GRACE_MS     3000 /* time for the broker to answer, on top of wait_ms */
#define NT_BACKOFF_MIN_MS   500  /* first pause after the broker failed to answer */
#define NT_BACKOFF_MAX_MS   5000
#define NT_REPORT_DELAY_MS  50   /* gather results this long into one report */
#define NT_REPORT_MAX       64   /* results per report: < 600 bytes each, well under BM_MAX_BODY */
#define NT_DRAIN_MS         5000 /* on SIGINT/SIGTERM, in-flight transfers get this long */
#define NT_FINAL_REPORT_MS  3000 /* and then reporting what finished gets this long */

static volatile sig_atomic_t stop_signals;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_signals < 2)
        stop_signals++;
}

typedef enum { REQ_NONE = 0, REQ_TAKE, REQ_REPORT } req_kind_t;

typedef struct {
    /* settings */
    const char *endpoint;
    const bm_key_t *key; /* NULL: development mode */
    long parallel;
    nt_sender_opts_t sender_opts;
    const char *allow_hosts[NT_MAX_ALLOW_HOSTS]; /* point into argv */

    void *ctx;
    void *sock;
    int sock_fd; /* ZMQ_FD of sock */
    nt_sender_t *sender;

    /* results not yet recorded by the broker, oldest first */
    nt_result_t *results;
    size_t nresults, cap;
    int64_t oldest_ms; /* when results[0] finished (monotonic) */

    /* the one request outstanding to the broker */
    req_kind_t req;
    char cid[32];
    unsigned long seq;
    int64_t req_deadline_ms;
    size_t report_count; /* results[0..report_count) are in the outstanding report */

    int64_t next_req_ms;  /* no request before this (back-off) */
    int64_t next_take_ms; /* no take before this (nothing was due) */
    int backoff_ms;
    bool broker_down;
    long take_cap; /* max per take; halved if a reply was too large to read */

    bool stopping;
    int64_t stop_ms;

    unsigned long delivered, failed;
} notifier_t;

static void usage(FILE *out)
{
    fprintf(out,
            "用法 / usage: bianmin-notifier [options]\n"
            "\n"
            "通知发送端：从服务站取到期的通知，按 Standard Webhooks 签名后 POST 给接收方，\n"
            "每次尝试的结果报告回服务站。它不保存状态，随时可停可启。SIGINT/SIGTERM：等进行\n"
            "中的发送结束（最多 %d 秒），报告后退出；再来一个信号就不等了。\n"
            "Takes due webhook deliveries from bianmin-broker, POSTs them with Standard\n"
            "Webhooks signatures, and reports every attempt back. Keeps no state: stop and\n"
            "start it at any time. SIGINT/SIGTERM finish the transfers in flight (up to %d s),\n"
            "report them and exit; a second signal gives up waiting.\n"
            "\n"
            "  --broker ENDPOINT        服务站地址 / the broker's client socket (default\n"
            "                           %s, or the key file's)\n"
            "  --key FILE               钥匙文件 / the notifier's key (default $BIANMIN_KEY,\n"
            "                           else " NT_DEFAULT_KEY " if present;\n"
            "                           不用钥匙 none: development mode)\n"
            "  --parallel N             同时发送数 / transfers at once, 1..%d (default %d)\n"
            "  --per-host N             每个接收主机的连接数 / connections to one receiver\n"
            "                           host, 1..%d (default %d)\n"
            "  --connect-timeout-ms MS  连接超时 / give up connecting after MS, %d..%d\n"
            "                           (default %d)\n"
            "  --timeout-ms MS          每次尝试的总超时 / give up on an attempt after MS\n"
            "                           in all, %d..%d (default %d; keep it well\n"
            "                           under the broker's %d s lease)\n"
            "  --allow-host HOST        允许发往该本地主机 / let webhooks reach HOST (as\n"
            "                           written in the URL, e.g. 127.0.0.1 or hooks.lan)\n"
            "                           even though it is a local address; repeat for\n"
            "                           each host (up to %d)\n"
            "  --allow-private          允许发往所有本机和内网地址 / let webhooks reach\n"
            "                           every loopback, private (10/8, 172.16/12,\n"
            "                           192.168/16, fc00::/7) and 100.64/10 address: only\n"
            "                           for a closed LAN where every receiver is trusted\n"
            "  --log-level LEVEL        日志级别 / error, warn, info or debug (default %s)\n"
            "  --log-format FMT         日志格式 / text (default) or json (one JSON object\n"
            "                           per line)\n"
            "  --version                版本 / the version and the database schema version\n"
            "  --help                   本说明 / show this help\n"
            "\n"
            "回调网址由提交请求的人给出，所以默认只连公网地址：将要连接的地址（DNS 解析后）\n"
            "不能是本机、内网、链路本地、CGNAT、组播、未指定或保留地址。被拒的尝试报告为\n"
            "失败（\"拒绝发送：... / refused: ...\"）。不使用环境变量里的代理设置。\n"
            "Webhook URLs come from whoever submits a request, so by default the notifier\n"
            "only connects to public addresses: the address it is about to connect to (after\n"
            "DNS) must not be loopback, private, link-local, CGNAT, multicast, unspecified or\n"
            "reserved. A refused attempt is reported as failed (\"refused: ...\"). Proxy\n"
            "settings from the environment are not used.\n",
            NT_DRAIN_MS / 1000, NT_DRAIN_MS / 1000, NT_DEFAULT_BROKER, NT_MAX_PARALLEL,
            NT_DEFAULT_PARALLEL, NT_MAX_PARALLEL, NT_DEFAULT_PER_HOST, NT_MIN_TIMEOUT_MS,
            NT_MAX_TIMEOUT_MS, NT_DEFAULT_CONNECT_TIMEOUT_MS, NT_MIN_TIMEOUT_MS,
            NT_MAX_TIMEOUT_MS, NT_DEFAULT_TIMEOUT_MS, NT_LEASE_MS / 1000, NT_MAX_ALLOW_HOSTS,
            NT_DEFAULT_LOG_LEVEL);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bianmin-notifier: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n请看 / Try 'bianmin-notifier --help'.\n");
    va_end(ap);
    return BM_EXIT_USAGE;
}

/* ---- broker connection ---- */

static int open_socket(notifier_t *n)
{
    n->sock = bm_socket_auth(n->ctx, ZMQ_DEALER, n->endpoint, false, n->key, NULL);
    if (!n->sock)
        return -1;
    size_t sz = sizeof n->sock_fd;
    if (zmq_getsockopt(n->sock, ZMQ_FD, &n->sock_fd, &sz) != 0) {
        zmq_close(n->sock);
        n->sock = NULL;
        return -1;
    }
    return 0;
}

/* True if a message is waiting on the broker socket. Also re-arms ZMQ_FD,
 * which only signals changes that happen after this check. */
static bool broker_readable(notifier_t *n)
{
    int events = 0;
    size_t sz = sizeof events;
    if (zmq_getsockopt(n->sock, ZMQ_EVENTS, &events, &sz) != 0)
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

static void request_failed(notifier_t *n, int64_t now)
{
    n->req = REQ_NONE;
    n->report_count = 0;
    n->next_req_ms = now + n->backoff_ms;
    n->backoff_ms = n->backoff_ms * 2 > NT_BACKOFF_MAX_MS ? NT_BACKOFF_MAX_MS : n->backoff_ms * 2;
}

static void request_answered(notifier_t *n)
{
    if (n->broker_down)
        log_info("服务站又有回应了 / the broker at %s answers again", n->endpoint);
    n->broker_down = false;
    n->backoff_ms = NT_BACKOFF_MIN_MS;
    n->req = REQ_NONE;
}

/* Sends cmd with body as the outstanding request. */
static void send_request(notifier_t *n, req_kind_t kind, const char *cmd, cJSON *body,
                         int wait_ms, int64_t now)
{
    snprintf(n->cid, sizeof n->cid, "nt-%lu", ++n->seq);
    if (!body || bm_send(n->sock, NULL, cmd, n->cid, strlen(n->cid), body) != 0) {
        log_warn("发不到服务站，稍后重试 / cannot send %s to the broker at %s: %s; retrying in %d ms", cmd, n->endpoint,
                 body ? zmq_strerror(errno) : "out of memory", n->backoff_ms);
        request_failed(n, now);
        if (body) {
            /* A message may be half sent: start over on a new socket. */
            zmq_close(n->sock);
            n->sock = NULL;
        }
        return;
    }
    n->req = kind;
    n->req_deadline_ms = now + wait_ms + NT_RPC_GRACE_MS;
}

static void push_result(notifier_t *n, const nt_result_t *r)
{
    if (n->nresults == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 64;
        nt_result_t *grown = realloc(n->results, cap * sizeof *grown);
        if (!grown) {
            /* Not reported means taken again after the lease: late, not lost. */
            log_error("内存不足，投递结果未保存，租期过后服务站会重发 / out of memory: result of delivery %lld not kept; the broker will hand it "
                      "out again after its lease", (long long)r->id);
            return;
        }
        n->results = grown;
        n->cap = cap;
    }
    if (n->nresults == 0)
        n->oldest_ms = bm_mono_ms();
    n->results[n->nresults++] = *r;
}

/* Forgets results[0..k) once the broker has them (or refused them for good). */
static void drop_results(notifier_t *n, size_t k)
{
    memmove(n->results, n->results + k, (n->nresults - k) * sizeof *n->results);
    n->nresults -= k;
    n->oldest_ms = bm_mono_ms();
}

static void send_report(notifier_t *n, int64_t now)
{
    size_t k = n->nresults < NT_REPORT_MAX ? n->nresults : NT_REPORT_MAX;
    cJSON *body = cJSON_CreateObject();
    cJSON *arr = body ? cJSON_AddArrayToObject(body, "results") : NULL;
    for (size_t i = 0; arr && i < k; i++) {
        cJSON *item = nt_result_json(&n->results[i]);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            arr = NULL;
        }
    }
    if (!arr) {
        cJSON_Delete(body);
        body = NULL;
    }
    send_request(n, REQ_REPORT, BM_CMD_REPORT, body, 0, now);
    if (n->req == REQ_REPORT) {
        n->report_count = k;
        log_debug("reporting %zu results (%zu waiting)", k, n->nresults);
    }
    cJSON_Delete(body);
}

static void send_take(notifier_t *n, long max, int wait_ms, int64_t now)
{
    cJSON *body = cJSON_CreateObject();
    if (body) {
        cJSON_AddNumberToObject(body, "max", (double)max);
        cJSON_AddNumberToObject(body, "wait_ms", wait_ms);
    }
    send_request(n, REQ_TAKE, BM_CMD_TAKE, body, wait_ms, now);
    cJSON_Delete(body);
}

/* ---- results ---- */

static void on_done(const nt_result_t *r, const char *host, void *arg)
{
    notifier_t *n = arg;
    if (r->ok) {
        n->delivered++;
        log_debug("delivery %lld to %s: HTTP %ld in %lld ms", (long long)r->id, host, r->status,
                  (long long)r->latency_ms);
    } else {
        n->failed++;
        char ra[48] = "";
        if (r->retry_after_s >= 0)
            snprintf(ra, sizeof ra, ", retry after %ld s", r->retry_after_s);
        if (r->gone)
            log_warn("接收方说该地址已不存在 (HTTP 410) / delivery %lld to %s: the receiver says the endpoint is gone (HTTP 410)",
                     (long long)r->id, host);
        else
            log_info("投递失败 / delivery %lld to %s failed: %s after %lld ms%s", (long long)r->id, host,
                     r->error, (long long)r->latency_ms, ra);
    }
    push_result(n, r);
}

static void start_deliveries(notifier_t *n, const cJSON *reply)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(reply, "deliveries");
    if (!cJSON_IsArray(list)) {
        log_error("服务站的取件回复没有 deliveries 数组，已忽略 / the broker's take reply has no \"deliveries\" array; ignoring it");
        return;
    }
    int count = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        count++;
        nt_delivery_t d;
        nt_result_t fail;
        bm_error_t err = {0};
        if (nt_delivery_parse(item, &d, &err) != 0) {
            if (d.id == 0) {
                log_error("服务站发来的投递没有有效编号，已跳过 / the broker sent a delivery without a valid id (%s); skipping it",
                          err.message);
                continue;
            }
            nt_result_fail(&fail, d.id, "服务站发来的投递有误 / invalid delivery from the broker: %s",
                           err.message);
            log_warn("投递有误 / delivery %lld: %s", (long long)d.id, fail.error);
            n->failed++;
            push_result(n, &fail);
            continue;
        }
        log_debug("delivery %lld (%s, attempt %lld) msg %s: POST %zu bytes", (long long)d.id,
                  d.type ? d.type : "?", (long long)d.attempt, d.msg_id, d.body_len);
        if (nt_sender_start(n->sender, &d, &fail) != 0) {
            log_warn("投递未发送 / delivery %lld not sent: %s", (long long)d.id, fail.error);
            n->failed++;
            push_result(n, &fail);
        }
    }
    int64_t now = bm_mono_ms();
    if (count == 0)
        n->next_take_ms = now + NT_TAKE_INTERVAL_MS;
    else if (n->take_cap < n->parallel)
        n->take_cap = n->take_cap * 2 > n->parallel ? n->parallel : n->take_cap * 2;
}

/* An error code for which sending the same report again cannot succeed. */
static bool report_error_final(const char *code)
{
    return strcmp(code, BM_ERR_INVALID) == 0 || strcmp(code, BM_ERR_TOO_LARGE) == 0 ||
           strcmp(code, BM_ERR_BAD_JSON) == 0;
}

static void on_reply(notifier_t *n, const bm_msg_t *msg, int64_t now)
{
    req_kind_t kind = n->req;
    size_t k = n->report_count;
    if (strcmp(msg->cmd, BM_REPLY_OK) == 0) {
        request_answered(n);
        n->report_count = 0;
        if (kind == REQ_TAKE) {
            start_deliveries(n, msg->body);
        } else {
            log_debug("the broker recorded %zu results", k);
            drop_results(n, k);
        }
        return;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg->body, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg->body, "message");
    const char *code = cJSON_IsString(c) ? c->valuestring : "error";
    const char *text = cJSON_IsString(m) ? m->valuestring : "(no message)";
    if (kind == REQ_REPORT && report_error_final(code)) {
        log_error("服务站拒收了结果报告，租期过后会重发这些投递 / the broker refused a report of %zu results (%s: %s); dropping them, the "
                  "broker hands those deliveries out again after its lease", k, code, text);
        request_answered(n);
        n->report_count = 0;
        drop_results(n, k);
        return;
    }
    log_warn("服务站回复了错误，稍后重试 / the broker answered %s with %s: %s; retrying in %d ms",
             kind == REQ_TAKE ? BM_CMD_TAKE : BM_CMD_REPORT, code, text, n->backoff_ms);
    n->broker_down = false;
    request_failed(n, now);
}

/* Reads every reply waiting on the broker socket. */
static void read_replies(notifier_t *n)
{
    for (;;) {
        bm_msg_t msg;
        bm_error_t err = {0};
        bm_recv_t r = bm_recv(n->sock, false, true, NULL, &msg, &err);
        if (r == BM_RECV_NONE)
            return;
        if (r == BM_RECV_FAIL) {
            if (errno == EINTR)
                continue;
            log_warn("从服务站接收失败 / receiving from the broker failed: %s", zmq_strerror(errno));
            return;
        }
        int64_t now = bm_mono_ms();
        bool mine = n->req != REQ_NONE && msg.cid_len == strlen(n->cid) &&
                    memcmp(msg.cid, n->cid, msg.cid_len) == 0;
        if (!mine) {
            log_debug("ignoring a reply that answers no outstanding request");
        } else if (r == BM_RECV_INVALID) {
            log_error("读不了服务站的回复 / cannot read the broker's answer to %s: %s",
                      n->req == REQ_TAKE ? BM_CMD_TAKE : BM_CMD_REPORT, err.message);
            if (n->req == REQ_TAKE && err.code && strcmp(err.code, BM_ERR_TOO_LARGE) == 0 &&
                n->take_cap > 1) {
                n->take_cap /= 2;
                log_warn("从现在起每次最多取这么多投递 / taking at most %ld deliveries at a time from now on", n->take_cap);
            }
            request_failed(n, now);
        } else {
            on_reply(n, &msg, now);
        }
        bm_msg_clear(&msg);
    }
}

/* Gives up on an unanswered request: the socket is dropped (next_request
 * opens a new one), so its late reply can never be read as the next one's,
 * and there is a pause before trying again. */
static void check_timeout(notifier_t *n, int64_t now)
{
    if (n->req == REQ_NONE || now < n->req_deadline_ms)
        return;
    if (n->stopping && n->req == REQ_TAKE)
        log_info("最后一次取件没有回复，直接停止 / no answer to the last take; stopping without it");
    else
        log_warn("服务站没有回应（它在运行吗？），稍后重试 / no answer from the broker at %s (is it running?); %s%zu results waiting, "
                 "retrying in %d ms", n->endpoint,
                 n->req == REQ_TAKE ? "" : "report unanswered, ", n->nresults, n->backoff_ms);
    n->broker_down = true;
    request_failed(n, now);
    zmq_close(n->sock);
    n->sock = NULL;
}

/* Sends the next request if none is outstanding: a report when results are
 * waiting long enough (or nothing else is going on), else a take. */
static void next_request(notifier_t *n, int64_t now)
{
    if (n->req != REQ_NONE || now < n->next_req_ms)
        return;
    if (!n->sock && open_socket(n) != 0) {
        log_error("不能建立连接 / cannot create a socket for %s: %s", n->endpoint, zmq_strerror(errno));
        request_failed(n, now);
        return;
    }
    size_t inflight = nt_sender_inflight(n->sender);
    if (n->nresults > 0 &&
        (n->stopping || inflight == 0 || n->nresults >= NT_REPORT_MAX ||
         now - n->oldest_ms >= NT_REPORT_DELAY_MS)) {
        send_report(n, now);
        return;
    }
    long room = n->parallel - (long)inflight;
    if (n->stopping || room <= 0 || now < n->next_take_ms)
        return;
    if (room > n->take_cap)
        room = n->take_cap;
    if (room > BM_MAX_TAKE)
        room = BM_MAX_TAKE;
    send_take(n, room, inflight ? 0 : NT_IDLE_WAIT_MS, now);
}

/* How long the loop may sleep before something is due. */
static int sleep_ms(const notifier_t *n, int64_t now)
{
    size_t inflight = nt_sender_inflight(n->sender);
    int64_t until = now + (inflight ? NT_POLL_MS : NT_IDLE_WAIT_MS);
    if (n->req != REQ_NONE && n->req_deadline_ms < until)
        until = n->req_deadline_ms;
    if (n->req == REQ_NONE) {
        if (n->nresults > 0) {
            int64_t due = (n->stopping || inflight == 0) ? now : n->oldest_ms + NT_REPORT_DELAY_MS;
            if (n->next_req_ms > due)
                due = n->next_req_ms;
            if (due < until)
                until = due;
        }
        if (!n->stopping && (long)inflight < n->parallel) {
            int64_t due = n->next_req_ms > n->next_take_ms ? n->next_req_ms : n->next_take_ms;
            if (due < until)
                until = due;
        }
    }
    if (n->stopping && n->stop_ms + NT_DRAIN_MS < until)
        until = n->stop_ms + NT_DRAIN_MS;
    int64_t d = until - now;
    return d < 0 ? 0 : (int)d;
}

/* Handles a stop request; returns true when the loop should end. */
static bool check_stop(notifier_t *n, int64_t now)
{
    if (stop_signals && !n->stopping) {
        n->stopping = true;
        n->stop_ms = now;
        log_info("正在停止：等待进行中的发送并报告结果 / stopping: %zu transfers in flight (waiting up to %d ms), %zu results to report",
                 nt_sender_inflight(n->sender), NT_DRAIN_MS, n->nresults);
        /* A broker holding our take answers within its wait_ms; do not wait
         * the full grace for one that does not answer at all. */
        if (n->req == REQ_TAKE && n->req_deadline_ms > now + NT_IDLE_WAIT_MS)
            n->req_deadline_ms = now + NT_IDLE_WAIT_MS;
    }
    if (!n->stopping)
        return false;
    bool drain_over = stop_signals > 1 || now - n->stop_ms >= NT_DRAIN_MS;
    if (drain_over && nt_sender_inflight(n->sender) > 0) {
        size_t k = nt_sender_abort_all(n->sender);
        log_warn("放弃仍在进行的发送，租期过后服务站会重发 / gave up on %zu transfers still in flight; the broker hands those deliveries "
                 "out again after its lease", k);
    }
    if (nt_sender_inflight(n->sender) > 0)
        return false;
    /* An outstanding take is waited for: what it brings is leased to us and
     * is better sent now than a lease later. */
    if (n->nresults == 0 && n->req == REQ_NONE)
        return true;
    if (stop_signals > 1 || now - n->stop_ms >= NT_DRAIN_MS + NT_FINAL_REPORT_MS) {
        if (n->nresults > 0)
            log_warn("有结果没能报告，租期过后服务站会重发 / could not report %zu results; the broker hands those deliveries out "
                     "again after its lease", n->nresults);
        return true;
    }
    return false;
}

static int run(notifier_t *n)
{
    for (;;) {
        int64_t now = bm_mono_ms();
        check_timeout(n, now);
        if (n->sock)
            read_replies(n);
        now = bm_mono_ms();
        if (check_stop(n, now))
            return 0;
        next_request(n, now);
        int wait = sleep_ms(n, now);
        if (n->sock && broker_readable(n))
            wait = 0;
        if (nt_sender_run(n->sender, wait, n->sock ? n->sock_fd : -1, on_done, n) < 0) {
            log_error("发送引擎 (curl) 出错，暂停 / the transfer engine failed (curl); pausing");
            struct timespec ts = {0, NT_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

static int parse_flag(const char *name, const char *arg, long min, long max, long *out)
{
    if (bm_parse_long(arg, min, max, out) != 0) {
        fprintf(stderr,
                "bianmin-notifier: --%s 应为 %ld 到 %ld 的整数，不是 \"%s\" / --%s must be a whole number "
                "from %ld to %ld, not \"%s\"\n"
                "请看 / Try 'bianmin-notifier --help'.\n",
                name, min, max, arg, name, min, max, arg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (bm_version_asked(argc, argv)) {
        bm_version_print(stdout, "bianmin-notifier");
        return 0;
    }
    static const struct option options[] = {
        {"broker", required_argument, NULL, 'b'},
        {"key", required_argument, NULL, 'k'},
        {"parallel", required_argument, NULL, 'p'},
        {"per-host", required_argument, NULL, 'H'},
        {"connect-timeout-ms", required_argument, NULL, 'c'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, 'F'},
        {"allow-host", required_argument, NULL, 'A'},
        {"allow-private", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    notifier_t n = {
        .endpoint = NT_DEFAULT_BROKER,
        .parallel = NT_DEFAULT_PARALLEL,
        .sender_opts = {.parallel = NT_DEFAULT_PARALLEL,
                        .per_host = NT_DEFAULT_PER_HOST,
                        .connect_timeout_ms = NT_DEFAULT_CONNECT_TIMEOUT_MS,
                        .timeout_ms = NT_DEFAULT_TIMEOUT_MS},
        .backoff_ms = NT_BACKOFF_MIN_MS,
    };
    const char *level_name = NT_DEFAULT_LOG_LEVEL;
    const char *key_path = NULL;
    bool endpoint_given = false;
    bm_key_t key;
    bool json_logs = false;
    bm_log_level_t level = BM_LOG_INFO;

    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            n.endpoint = optarg;
            endpoint_given = true;
            break;
        case 'k':
            key_path = optarg;
            break;
        case 'p':
            if (parse_flag("parallel", optarg, 1, NT_MAX_PARALLEL, &n.parallel) != 0)
                return BM_EXIT_USAGE;
            break;
        case 'H':
            if (parse_flag("per-host", optarg, 1, NT_MAX_PARALLEL, &n.sender_opts.per_host) != 0)
                return BM_EXIT_USAGE;
            break;
        case 'c':
            if (parse_flag("connect-timeout-ms", optarg, NT_MIN_TIMEOUT_MS, NT_MAX_TIMEOUT_MS,
                           &n.sender_opts.connect_timeout_ms) != 0)
                return BM_EXIT_USAGE;
            break;
        case 't':
            if (parse_flag("timeout-ms", optarg, NT_MIN_TIMEOUT_MS, NT_MAX_TIMEOUT_MS,
                           &n.sender_opts.timeout_ms) != 0)
                return BM_EXIT_USAGE;
            break;
        case 'F':
            if (bm_log_format_parse(optarg, &json_logs) != 0)
                return usage_error("--log-format 应为 text 或 json / --log-format must be text or json, not \"%s\"", optarg);
            break;
        case 'l':
            level_name = optarg;
            break;
        case 'A': {
            const char *problem = nt_guard_host_problem(optarg);
            if (problem)
                return usage_error("--allow-host \"%s\"：%s", optarg, problem);
            if (n.sender_opts.guard.nhosts == NT_MAX_ALLOW_HOSTS)
                return usage_error("--allow-host 最多只能给这么多次 / --allow-host may be given at most %d times",
                                   NT_MAX_ALLOW_HOSTS);
            n.allow_hosts[n.sender_opts.guard.nhosts++] = optarg;
            break;
        }
        case 'P':
            n.sender_opts.guard.allow_private = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return usage_error("缺少值 / %s needs a value", argv[optind - 1]);
        default:
            return usage_error("未知选项 / unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("多余的参数 / unexpected argument \"%s\"", argv[optind]);
    if (bm_log_level_parse(level_name, &level) != 0)
        return usage_error("--log-level 应为 error、warn、info 或 debug / --log-level must be error, warn, info or debug, not \"%s\"",
                           level_name);
    key_path = bm_key_choose(key_path, NT_DEFAULT_KEY);
    if (key_path) {
        bm_error_t kerr = {0};
        /* The key file is configuration: missing, unreadable, not the owner's
         * alone or not a notifier's → the table's config code. */
        if (bm_key_load(key_path, &key, &kerr) != 0) {
            usage_error("%s", kerr.message);
            return BM_EXIT_CONFIG;
        }
        if (strcmp(key.role, "notifier") != 0 || !key.broker_key[0]) {
            usage_error("%s 不是通知器的钥匙 (角色 %s) / %s is not a notifier's key (role %s)", key_path,
                        key.role, key_path, key.role);
            return BM_EXIT_CONFIG;
        }
        n.key = &key;
        if (!endpoint_given && key.client_endpoint[0])
            n.endpoint = key.client_endpoint;
    }
    if (!*n.endpoint)
        return usage_error("--broker 后面要跟服务站地址 / --broker needs an endpoint such as %s", NT_DEFAULT_BROKER);
    n.sender_opts.parallel = n.parallel;
    n.sender_opts.guard.hosts = n.allow_hosts;
    n.take_cap = n.parallel;
    bm_log_init("bianmin-notifier", level);
    bm_log_set_json(json_logs);
    if (n.sender_opts.timeout_ms >= NT_LEASE_MS - NT_DRAIN_MS)
        log_warn("--timeout-ms 接近服务站的投递租期，慢的发送可能被重发 / --timeout-ms %ld is close to the broker's %d s delivery lease: a slow "
                 "attempt may be handed out again while it runs", n.sender_opts.timeout_ms,
                 NT_LEASE_MS / 1000);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = BM_EXIT_INTERNAL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("不能初始化 libcurl / cannot initialize libcurl");
        return BM_EXIT_INTERNAL;
    }
    n.ctx = zmq_ctx_new();
    if (!n.ctx) {
        log_error("不能建立 ZeroMQ 环境 / cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto out;
    }
    if (open_socket(&n) != 0) {
        log_error("连不上服务站 / cannot connect to the broker at \"%s\": %s", n.endpoint, zmq_strerror(errno));
        rc = BM_EXIT_USAGE; /* zmq refuses the endpoint itself: a bad --broker */
        goto out;
    }
    n.sender = nt_sender_new(&n.sender_opts);
    if (!n.sender) {
        log_error("不能建立发送引擎（内存不足） / cannot create the transfer engine (out of memory)");
        goto out;
    }
    log_info("开始从服务站取投递 / taking deliveries from %s: %ld in parallel, %ld per host, timeouts %ld/%ld ms",
             n.endpoint, n.parallel, n.sender_opts.per_host, n.sender_opts.connect_timeout_ms,
             n.sender_opts.timeout_ms);
    if (n.sender_opts.guard.allow_private)
        log_warn("--allow-private：回调可以发往本机或内网任何地址，只在封闭网络里使用 / --allow-private: webhooks may reach any loopback or private address; use it "
                 "only on a closed network");
    for (size_t i = 0; i < n.sender_opts.guard.nhosts; i++)
        log_info("允许发往本地地址 / webhooks may reach %s even if it is a local address", n.allow_hosts[i]);
    rc = run(&n);
    log_info("已停止 / stopped: %lu delivered, %lu failed attempts", n.delivered, n.failed);
out:
    nt_sender_destroy(&n.sender);
    free(n.results);
    if (n.sock)
        zmq_close(n.sock);
    if (n.ctx)
        zmq_ctx_term(n.ctx);
    curl_global_cleanup();
    return rc;
}
