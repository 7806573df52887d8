/* server.c - the HTTP side of bianmin-gateway on libmicrohttpd: one polling
 * thread, bodies gathered up to a limit, security headers on every answer,
 * per-address and per-key rates, login backoff per address, and routing to
 * open311.c, office.c and leader.c. Also the one connection to the broker. */
#include "server.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define RATE_SLOTS 1024
#define LOGIN_LOCK_MAX_S 300

typedef struct {
    char key[72];
    double tokens;
    int64_t last;    /* mono ms */
    int fails;       /* login failures */
    int64_t until;   /* mono ms: no login before */
} slot_t;

struct gw {
    gw_config_t cfg;
    struct MHD_Daemon *daemon;
    bm_rpc_t *rpc;
    bm_key_t key;
    bool have_key;
    pthread_mutex_t lock;
    slot_t slots[RATE_SLOTS];
    bm_config_t bcfg; /* categories */
    const char *cat_names[BM_MAX_CATEGORIES];
    const char *cat_labels[BM_MAX_CATEGORIES];
    bool cat_urgent[BM_MAX_CATEGORIES];
    int n_cats;
    char *tls_cert_pem, *tls_key_pem;
};

/* One request in flight: its body as it arrives. */
typedef struct {
    gw_buf_t body;
    bool too_large;
} conn_t;

/* ---- broker link ---------------------------------------------------------- */

static int link_open(gw_t *gw, bm_error_t *err)
{
    if (gw->cfg.key_file[0]) {
        if (bm_key_load(gw->cfg.key_file, &gw->key, err) != 0)
            return -1;
        gw->have_key = true;
        if (!gw->cfg.broker[0] && gw->key.client_endpoint[0])
            bm_strlcpy(gw->cfg.broker, gw->key.client_endpoint, sizeof gw->cfg.broker);
    }
    if (!gw->cfg.broker[0])
        bm_strlcpy(gw->cfg.broker, BM_DEFAULT_CLIENT_ENDPOINT, sizeof gw->cfg.broker);
    gw->rpc = bm_rpc_new_auth(gw->cfg.broker, gw->have_key ? &gw->key : NULL);
    if (!gw->rpc) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "无法连接服务站 / cannot set up the broker connection");
        return -1;
    }
    return 0;
}

bm_rpc_result_t gw_call(gw_t *gw, const char *cmd, const char *act_as, const cJSON *body,
                        const bm_frame_t *attach, size_t n_attach, cJSON **reply, bm_error_t *err)
{
    cJSON *b = body ? cJSON_Duplicate(body, true) : cJSON_CreateObject();
    if (!b) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "内存不足 / out of memory");
        return BM_RPC_FAIL;
    }
    if (act_as)
        cJSON_AddStringToObject(b, "act_as", act_as);
    pthread_mutex_lock(&gw->lock);
    bm_rpc_result_t rc = bm_rpc_call_parts(gw->rpc, cmd, b, attach, n_attach, gw->cfg.broker_ms,
                                           reply, err);
    pthread_mutex_unlock(&gw->lock);
    cJSON_Delete(b);
    if (rc == BM_RPC_TIMEOUT || rc == BM_RPC_FAIL)
        log_warn("broker %s: %s", cmd, err->message);
    return rc;
}

/* ---- rates ---------------------------------------------------------------- */

static slot_t *slot_for(gw_t *gw, const char *key, int64_t now)
{
    unsigned h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    slot_t *best = NULL;
    for (int i = 0; i < 8; i++) {
        slot_t *s = &gw->slots[(h + (unsigned)i) % RATE_SLOTS];
        if (strcmp(s->key, key) == 0)
            return s;
        if (!best || s->last < best->last)
            best = s;
    }
    memset(best, 0, sizeof *best);
    bm_strlcpy(best->key, key, sizeof best->key);
    best->tokens = -1;
    best->last = now;
    return best;
}

bool gw_rate_take(gw_t *gw, const char *key, int rate, int burst)
{
    int64_t now = bm_mono_ms();
    pthread_mutex_lock(&gw->lock);
    slot_t *s = slot_for(gw, key, now);
    if (s->tokens < 0)
        s->tokens = burst;
    s->tokens += (double)(now - s->last) * rate / 1000.0;
    if (s->tokens > burst)
        s->tokens = burst;
    s->last = now;
    bool ok = s->tokens >= 1;
    if (ok)
        s->tokens -= 1;
    pthread_mutex_unlock(&gw->lock);
    return ok;
}

int gw_login_wait(gw_t *gw, const char *addr)
{
    char key[72];
    snprintf(key, sizeof key, "login:%s", addr);
    int64_t now = bm_mono_ms();
    pthread_mutex_lock(&gw->lock);
    slot_t *s = slot_for(gw, key, now);
    int wait = s->until > now ? (int)((s->until - now + 999) / 1000) : 0;
    pthread_mutex_unlock(&gw->lock);
    return wait;
}

void gw_login_result(gw_t *gw, const char *addr, bool ok)
{
    char key[72];
    snprintf(key, sizeof key, "login:%s", addr);
    int64_t now = bm_mono_ms();
    pthread_mutex_lock(&gw->lock);
    slot_t *s = slot_for(gw, key, now);
    s->last = now;
    if (ok) {
        s->fails = 0;
        s->until = 0;
    } else if (++s->fails > GW_DEFAULT_LOGIN_FREE) {
        int shift = s->fails - GW_DEFAULT_LOGIN_FREE;
        int secs = shift > 8 ? LOGIN_LOCK_MAX_S : 1 << shift;
        s->until = now + (int64_t)(secs > LOGIN_LOCK_MAX_S ? LOGIN_LOCK_MAX_S : secs) * 1000;
    }
    pthread_mutex_unlock(&gw->lock);
}

int gw_categories(gw_t *gw, const char *const **names, const char *const **labels,
                  const bool **urgent)
{
    *names = gw->cat_names;
    *labels = gw->cat_labels;
    *urgent = gw->cat_urgent;
    return gw->n_cats;
}

/* ---- requests ------------------------------------------------------------- */

const char *req_arg(const gw_req_t *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && bm_utf8_valid(v, strlen(v)) ? v : NULL;
}

void resp_redirect(gw_resp_t *resp, const char *path)
{
    resp->status = 303;
    bm_strlcpy(resp->location, path, sizeof resp->location);
    resp->body.len = 0;
}

static void add_cookie(gw_resp_t *resp, const char *cookie)
{
    for (int i = 0; i < 2; i++) {
        if (!resp->cookie[i][0]) {
            bm_strlcpy(resp->cookie[i], cookie, sizeof resp->cookie[i]);
            return;
        }
    }
}

static void route(gw_req_t *r, gw_resp_t *resp)
{
    const char *p = r->path;
    if (strcmp(p, "/static/gw.css") == 0 || strcmp(p, "/static/gw.js") == 0) {
        bool css = p[8] == 'g' && p[11] == 'c';
        buf_puts(&resp->body, css ? gw_css : gw_js);
        resp->ctype = css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
        return;
    }
    if (strcmp(p, "/favicon.ico") == 0) {
        resp->status = 204;
        return;
    }
    if (strncmp(p, "/open311/v2/", 12) == 0) {
        open311_handle(r, resp);
        return;
    }
    if (strcmp(p, "/login") == 0 || strcmp(p, "/logout") == 0) {
        login_handle(r, resp);
        return;
    }
    if (strcmp(p, "/office") == 0 || strncmp(p, "/office/", 8) == 0) {
        office_handle(r, resp);
        return;
    }
    if (strcmp(p, "/submit") == 0 || strcmp(p, "/my") == 0 || strncmp(p, "/my/", 4) == 0) {
        leader_handle(r, resp);
        return;
    }
    if (strcmp(p, "/") == 0) {
        if (!r->logged_in)
            resp_redirect(resp, "/login");
        else
            resp_redirect(resp, strcmp(r->sess.role, "office") == 0 ? "/office/" : "/submit");
        return;
    }
    html_error(r, resp, 404, "找不到这个页面", "no such page");
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, gw_resp_t *resp)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        resp->body.len, resp->body.data ? resp->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", resp->ctype ? resp->ctype : "text/html; charset=utf-8");
    MHD_add_response_header(mr, "Content-Security-Policy", resp->csp ? resp->csp :
                            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(mr, "X-Frame-Options", "DENY");
    MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    if (resp->location[0])
        MHD_add_response_header(mr, "Location", resp->location);
    for (int i = 0; i < 2; i++) {
        if (resp->cookie[i][0])
            MHD_add_response_header(mr, "Set-Cookie", resp->cookie[i]);
    }
    if (resp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", resp->retry_after);
        MHD_add_response_header(mr, "Retry-After", ra);
    }
    if (resp->total > 0) {
        char tc[24];
        snprintf(tc, sizeof tc, "%ld", resp->total);
        MHD_add_response_header(mr, "X-Total-Count", tc);
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return rc;
}

static void peer_addr(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    bm_strlcpy(out, "?", len);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)len);
}

/* A signed session stays valid only while its user is enabled with the same
 * role: disabling someone ends their sessions at once (one cheap broker call). */
static bool user_still_valid(gw_t *gw, const gw_session_t *s)
{
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    cJSON_AddStringToObject(b, "user", s->user);
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(gw, BM_CMD_USER_CHECK, NULL, b, NULL, 0, &reply, &err);
    cJSON_Delete(b);
    bool ok = rc == BM_RPC_OK && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "disabled")) &&
              strcmp(gw_jstr(reply, "role"), s->role) == 0;
    cJSON_Delete(reply);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    gw_t *gw = cls;
    conn_t *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return MHD_NO;
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!c->too_large && c->body.len + *upload_size <= gw->cfg.max_body)
            buf_put(&c->body, upload, *upload_size);
        else
            c->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    gw_req_t r = {.gw = gw, .cfg = &gw->cfg, .conn = conn, .method = method, .path = url,
                  .body = c->body.data ? c->body.data : "", .body_len = c->body.len};
    r.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    peer_addr(conn, r.addr, sizeof r.addr);
    gw_resp_t resp = {.status = 200};
    const char *cookies = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Cookie");
    if (cookie_get(cookies, GW_COOKIE_CSRF, r.csrf_nonce, sizeof r.csrf_nonce) != 0 ||
        strlen(r.csrf_nonce) < 16) {
        bm_random_id("n", r.csrf_nonce, sizeof r.csrf_nonce);
        r.new_nonce = true;
    }
    char sess[2100];
    if (cookie_get(cookies, GW_COOKIE_SESSION, sess, sizeof sess) == 0 &&
        session_check(gw->cfg.secret, sess, bm_now_ms() / 1000, &r.sess) == 0 &&
        strncmp(url, "/static/", 8) != 0 && strncmp(url, "/open311/", 9) != 0)
        r.logged_in = user_still_valid(gw, &r.sess);
    if (!gw_rate_take(gw, r.addr, gw->cfg.addr_rate, gw->cfg.addr_burst)) {
        resp.retry_after = 1;
        if (strncmp(url, "/open311/", 9) == 0) {
            resp.status = 429;
            resp.ctype = "application/json; charset=utf-8";
            buf_puts(&resp.body, "[{\"code\":429,\"description\":\"请求太频繁，请稍后再试 / too many "
                                 "requests from this address: slow down\"}]");
        } else {
            html_error(&r, &resp, 429, "请求太频繁，请稍后再试", "too many requests: slow down");
        }
    } else if (c->too_large) {
        if (strncmp(url, "/open311/", 9) == 0) {
            resp.status = 413;
            resp.ctype = "application/json; charset=utf-8";
            buf_printf(&resp.body, "[{\"code\":413,\"description\":\"请求太大（上限 %zu 字节）/ the "
                                   "request body is over %zu bytes\"}]",
                       gw->cfg.max_body, gw->cfg.max_body);
        } else {
            char zh[128], en[128];
            snprintf(zh, sizeof zh, "上传的内容太大（上限 %zu MB），请换小一点的照片",
                     gw->cfg.max_body >> 20);
            snprintf(en, sizeof en, "the upload is too large (limit %zu MB): use a smaller photo",
                     gw->cfg.max_body >> 20);
            html_error(&r, &resp, 413, zh, en);
        }
    } else {
        route(&r, &resp);
    }
    if (r.new_nonce) {
        char ck[160];
        snprintf(ck, sizeof ck, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", GW_COOKIE_CSRF,
                 r.csrf_nonce, gw->cfg.secure_cookies ? "; Secure" : "");
        add_cookie(&resp, ck);
    }
    if (resp.body.oom)
        resp.status = 500, resp.body.len = 0;
    log_debug("%s %s %s -> %d", r.addr, method, url, resp.status);
    enum MHD_Result rc = send_resp(conn, &resp);
    buf_free(&resp.body);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    conn_t *c = *con_cls;
    if (c) {
        buf_free(&c->body);
        free(c);
        *con_cls = NULL;
    }
}

/* Adds a session cookie for s to resp (used by login). */
void gw_set_session(gw_req_t *r, gw_resp_t *resp, const gw_session_t *s)
{
    char *v = session_make(r->cfg->secret, s);
    if (!v)
        return;
    char ck[1024];
    snprintf(ck, sizeof ck, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             GW_COOKIE_SESSION, v, r->cfg->session_s, r->cfg->secure_cookies ? "; Secure" : "");
    free(v);
    add_cookie(resp, ck);
}

void gw_clear_session(gw_req_t *r, gw_resp_t *resp)
{
    char ck[200];
    snprintf(ck, sizeof ck, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
             GW_COOKIE_SESSION, r->cfg->secure_cookies ? "; Secure" : "");
    add_cookie(resp, ck);
}

/* ---- start, stop ---------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    gw_buf_t b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_put(&b, chunk, n);
    fclose(f);
    if (b.oom || !b.data) {
        buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int load_categories(gw_t *gw, bm_error_t *err)
{
    bm_config_defaults(&gw->bcfg);
    if (gw->cfg.broker_config[0] && bm_config_load(&gw->bcfg, gw->cfg.broker_config, err) != 0)
        return -1;
    gw->n_cats = gw->bcfg.category_count;
    for (int i = 0; i < gw->n_cats; i++) {
        gw->cat_names[i] = gw->bcfg.categories[i].name;
        gw->cat_labels[i] = gw->bcfg.categories[i].label;
        gw->cat_urgent[i] = gw->bcfg.categories[i].urgent;
    }
    return 0;
}

gw_t *gw_new(const gw_config_t *cfg, bm_error_t *err)
{
    gw_t *gw = calloc(1, sizeof *gw);
    if (!gw) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "内存不足 / out of memory");
        return NULL;
    }
    gw->cfg = *cfg;
    pthread_mutex_init(&gw->lock, NULL);
    if (load_categories(gw, err) != 0 || link_open(gw, err) != 0)
        goto fail;
    char host[200] = "127.0.0.1";
    long port = 0;
    const char *colon = strrchr(gw->cfg.listen, ':');
    if (!colon || (size_t)(colon - gw->cfg.listen) >= sizeof host ||
        bm_parse_long(colon + 1, 0, 65535, &port) != 0) {
        bm_error_set(err, BM_ERR_INVALID, "listen", "--listen 应为 地址:端口 / --listen must be HOST:PORT");
        goto fail;
    }
    memcpy(host, gw->cfg.listen, (size_t)(colon - gw->cfg.listen));
    host[colon - gw->cfg.listen] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        bm_error_set(err, BM_ERR_INVALID, "listen", "--listen 的地址应为 IPv4 / the listen host must be an IPv4 address");
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL;
    if (gw->cfg.tls_cert[0] || gw->cfg.tls_key[0]) {
        gw->tls_cert_pem = read_file(gw->cfg.tls_cert);
        gw->tls_key_pem = read_file(gw->cfg.tls_key);
        if (!gw->tls_cert_pem || !gw->tls_key_pem) {
            bm_error_set(err, BM_ERR_INVALID, "tls", "读不了 TLS 证书或私钥 / cannot read the TLS certificate or key");
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    gw->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, gw, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, gw, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)gw->cfg.connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)gw->cfg.per_ip_conns, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)gw->cfg.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
        gw->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, gw->tls_cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, gw->tls_key_pem, MHD_OPTION_END);
    if (!gw->daemon) {
        bm_error_set(err, BM_ERR_INVALID, "listen", "无法在 %s 上监听 / cannot listen on %s",
                     gw->cfg.listen, gw->cfg.listen);
        goto fail;
    }
    return gw;
fail:
    gw_destroy(&gw);
    return NULL;
}

void gw_destroy(gw_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_t *gw = *self_p;
    if (gw->daemon)
        MHD_stop_daemon(gw->daemon);
    bm_rpc_destroy(&gw->rpc);
    pthread_mutex_destroy(&gw->lock);
    free(gw->tls_cert_pem);
    free(gw->tls_key_pem);
    explicit_bzero(gw, sizeof *gw);
    free(gw);
    *self_p = NULL;
}
