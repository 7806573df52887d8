/* sender.c - see sender.h. */
#include "sender.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef struct transfer {
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* owned copy; curl reads it in place */
    int64_t id;
    int64_t started_ms;   /* monotonic */
    long retry_after_s;   /* -1 until a Retry-After header is seen */
    char host[256];
    char errbuf[CURL_ERROR_SIZE];
    const nt_guard_t *guard;
    char refused[NT_ERROR_LEN]; /* why the guard refused an address, if it did */
    struct transfer *prev, *next;
} transfer_t;

struct nt_sender {
    CURLM *multi;
    nt_sender_opts_t opts;
    transfer_t *head; /* in flight */
    size_t inflight;
};

static size_t discard_body(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)data;
    (void)arg;
    return size * nmemb;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    transfer_t *t = arg;
    size_t len = size * nmemb;
    /* A new status line starts a new response (e.g. after 100 Continue). */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
        t->retry_after_s = -1;
    long secs;
    if (nt_header_retry_after(line, len, time(NULL), &secs) == 1)
        t->retry_after_s = secs;
    return len;
}

/* Called by curl instead of socket(2) for every address it tries: the
 * address actually connected to is the one checked. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    transfer_t *t = arg;
    if (purpose != CURLSOCKTYPE_IPCXN) {
        bm_strlcpy(t->refused, "拒绝发送：不是向外的连接 / refused: not an outgoing connection", sizeof t->refused);
        return CURL_SOCKET_BAD;
    }
    if (nt_guard_check(t->guard, t->host, &a->addr, a->addrlen, t->refused,
                       sizeof t->refused) != 0)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void host_of(const char *url, char *out, size_t outlen)
{
    bm_strlcpy(out, "(unparsable URL)", outlen);
    CURLU *u = curl_url();
    char *host = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        bm_strlcpy(out, host, outlen);
    curl_free(host);
    curl_url_cleanup(u);
}

static void transfer_free(transfer_t *t)
{
    if (!t)
        return;
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t);
}

static void unlink_transfer(nt_sender_t *self, transfer_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        self->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    self->inflight--;
}

nt_sender_t *nt_sender_new(const nt_sender_opts_t *opts)
{
    nt_sender_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = *opts;
    self->multi = curl_multi_init();
    if (!self->multi) {
        free(self);
        return NULL;
    }
    curl_multi_setopt(self->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts->parallel);
    curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts->per_host);
    /* Keep as many idle connections as may be busy at once, for reuse. */
    curl_multi_setopt(self->multi, CURLMOPT_MAXCONNECTS, opts->parallel);
    return self;
}

size_t nt_sender_abort_all(nt_sender_t *self)
{
    size_t n = 0;
    while (self->head) {
        transfer_t *t = self->head;
        curl_multi_remove_handle(self->multi, t->easy);
        unlink_transfer(self, t);
        transfer_free(t);
        n++;
    }
    return n;
}

void nt_sender_destroy(nt_sender_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nt_sender_t *self = *self_p;
    nt_sender_abort_all(self);
    curl_multi_cleanup(self->multi);
    free(self);
    *self_p = NULL;
}

size_t nt_sender_inflight(const nt_sender_t *self)
{
    return self->inflight;
}

int nt_sender_start(nt_sender_t *self, const nt_delivery_t *d, nt_result_t *fail)
{
    bm_error_t err = {0};
    transfer_t *t = calloc(1, sizeof *t);
    if (!t) {
        nt_result_fail(fail, d->id, "内存不足 / out of memory");
        return -1;
    }
    t->id = d->id;
    t->retry_after_s = -1;
    t->guard = &self->opts.guard;
    host_of(d->url, t->host, sizeof t->host);
    t->headers = nt_build_headers(d, bm_now_ms() / 1000, &err);
    if (!t->headers) {
        nt_result_fail(fail, d->id, "%s", err.message);
        goto err;
    }
    t->body = malloc(d->body_len + 1);
    t->easy = curl_easy_init();
    if (!t->body || !t->easy) {
        nt_result_fail(fail, d->id, "内存不足 / out of memory");
        goto err;
    }
    memcpy(t->body, d->body, d->body_len);
    t->body[d->body_len] = '\0';

    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
    SET(CURLOPT_URL, d->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SET(CURLOPT_OPENSOCKETDATA, t);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_POSTFIELDS, t->body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->body_len);
    SET(CURLOPT_HTTPHEADER, t->headers);
    SET(CURLOPT_CONNECTTIMEOUT_MS, self->opts.connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, self->opts.timeout_ms);
    SET(CURLOPT_WRITEFUNCTION, discard_body);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_PRIVATE, t);
#undef SET
    if (rc != CURLE_OK) {
        nt_result_fail(fail, d->id, "发送失败 / %s", curl_easy_strerror(rc));
        goto err;
    }
    t->started_ms = bm_mono_ms();
    CURLMcode mc = curl_multi_add_handle(self->multi, e);
    if (mc != CURLM_OK) {
        nt_result_fail(fail, d->id, "发送失败 / %s", curl_multi_strerror(mc));
        goto err;
    }
    t->next = self->head;
    if (self->head)
        self->head->prev = t;
    self->head = t;
    self->inflight++;
    return 0;
err:
    fail->latency_ms = 0;
    transfer_free(t);
    return -1;
}

/* Reads what curl finished and hands each result to done. */
static int collect(nt_sender_t *self, nt_done_fn done, void *arg)
{
    int finished = 0;
    int queued;
    CURLMsg *m;
    while ((m = curl_multi_info_read(self->multi, &queued))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode code = m->data.result;
        transfer_t *t = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
        long status = 0, os_errno = 0;
        curl_off_t connect_us = 0, pretransfer_us = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
        curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect_us);
        curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);

        nt_result_t r = {0};
        r.id = t->id;
        r.latency_ms = bm_mono_ms() - t->started_ms;
        r.retry_after_s = t->retry_after_s;
        nt_outcome_t o = {
            .code = code,
            .status = status,
            .os_errno = os_errno,
            .connected = connect_us > 0 || pretransfer_us > 0 || status > 0,
            .errbuf = t->errbuf,
            .connect_timeout_ms = self->opts.connect_timeout_ms,
            .timeout_ms = self->opts.timeout_ms,
        };
        nt_result_classify(&r, &o);
        /* Never connected, and the guard refused at least one address. */
        if (!r.ok && !o.connected && t->refused[0]) {
            bm_strlcpy(r.error, t->refused, sizeof r.error);
            r.permanent = true; /* the same address is refused next time too */
        }

        curl_multi_remove_handle(self->multi, e);
        unlink_transfer(self, t);
        done(&r, t->host, arg);
        transfer_free(t);
        finished++;
    }
    return finished;
}

int nt_sender_run(nt_sender_t *self, int timeout_ms, int extra_fd, nt_done_fn done, void *arg)
{
    int running = 0;
    if (curl_multi_perform(self->multi, &running) != CURLM_OK)
        return -1;
    int finished = collect(self, done, arg);

    struct curl_waitfd w = {.fd = extra_fd, .events = CURL_WAIT_POLLIN, .revents = 0};
    int numfds = 0;
    CURLMcode mc = curl_multi_poll(self->multi, extra_fd >= 0 ? &w : NULL,
                                   extra_fd >= 0 ? 1 : 0, finished ? 0 : timeout_ms, &numfds);
    if (mc != CURLM_OK)
        return -1;
    if (curl_multi_perform(self->multi, &running) != CURLM_OK)
        return -1;
    return finished + collect(self, done, arg);
}
