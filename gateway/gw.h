/* gw.h - bianmin-gateway's private header: the pieces every part of the HTTP
 * door shares (settings, one request, one response, a growable text buffer).
 * The modules: server.c (libmicrohttpd, limits, routing), link.c (the broker
 * connection), form.c (request parsing), session.c (cookies, CSRF), html.c
 * (escaping, page frame), open311.c, office.c (console), leader.c (phone
 * form). */
#ifndef BM_GW_H
#define BM_GW_H

#include "proto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Named defaults (each has a config key, see docs/gateway.md). */
#define GW_DEFAULT_LISTEN        "127.0.0.1:8380"
#define GW_DEFAULT_MAX_BODY      (12 * 1024 * 1024) /* bytes of one request body */
#define GW_DEFAULT_MAX_UPLOAD    (5 * 1024 * 1024)  /* bytes of one photo */
#define GW_DEFAULT_MAX_UPLOADS   3                  /* photos per submit */
#define GW_DEFAULT_CONNECTIONS   256
#define GW_DEFAULT_PER_IP_CONNS  32
#define GW_DEFAULT_TIMEOUT_S     30                 /* idle connection */
#define GW_DEFAULT_ADDR_RATE     20                 /* requests per second per address */
#define GW_DEFAULT_ADDR_BURST    100
#define GW_DEFAULT_KEY_RATE      2                  /* Open311 POSTs per second per api_key */
#define GW_DEFAULT_KEY_BURST     20
#define GW_DEFAULT_SESSION_S     (8 * 3600)         /* a login lasts this long */
#define GW_DEFAULT_BROKER_MS     5000               /* wait for the broker's answer */
#define GW_DEFAULT_PAGE          20                 /* queue rows per page */
#define GW_DEFAULT_LOGIN_FREE    5                  /* failed logins per address before backoff */
#define GW_MAX_API_KEYS          32
#define GW_MAX_DEPARTMENTS       16
#define GW_SECRET_LEN            32

typedef struct {
    char hash[65];     /* hex SHA-256 of the api_key */
    char channel[32];
} gw_api_key_t;

typedef struct {
    char listen[256];
    char broker[256];
    char key_file[1024];       /* CURVE key of role gateway ("" : development mode) */
    char secret_file[1024];
    unsigned char secret[GW_SECRET_LEN];
    char tls_cert[1024], tls_key[1024];
    char broker_config[1024];  /* the broker's config, for categories (optional) */
    char public_url[256];      /* for the console URL printed at start */
    size_t max_body, max_upload;
    int max_uploads, connections, per_ip_conns, timeout_s;
    int addr_rate, addr_burst, key_rate, key_burst;
    int session_s, broker_ms;
    gw_api_key_t api_keys[GW_MAX_API_KEYS];
    int n_api_keys;
    char departments[GW_MAX_DEPARTMENTS][64];
    int n_departments;
    bool secure_cookies;       /* add Secure (TLS, or behind an https proxy) */
    char callback_channel[GW_MAX_API_KEYS][32]; /* channel_callbacks: where a channel's */
    char callback_url[GW_MAX_API_KEYS][512];    /* submissions' notices go */
    int n_callbacks;
} gw_config_t;

/* A growable text buffer; data is always NUL-terminated. */
typedef struct {
    char *data;
    size_t len, cap;
    bool oom;
} gw_buf_t;

void buf_put(gw_buf_t *b, const char *s, size_t n);
void buf_puts(gw_buf_t *b, const char *s);
void buf_printf(gw_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with & < > " ' escaped for HTML text and attribute values. */
void buf_html(gw_buf_t *b, const char *s);
/* Appends s percent-encoded for a URL query value. */
void buf_url(gw_buf_t *b, const char *s);
void buf_free(gw_buf_t *b);

/* ---- form.c: parsing what the browser or app sent ------------------------ */

#define GW_MAX_FIELDS 64

typedef struct {
    char *name;
    char *value;       /* NUL-terminated (files may hold NULs: use len) */
    size_t len;
    char *filename;    /* multipart file parts; NULL otherwise */
    char *ctype;
} gw_field_t;

typedef struct {
    gw_field_t f[GW_MAX_FIELDS];
    int n;
} gw_form_t;

/* Parses application/x-www-form-urlencoded text (a body or a query string).
 * Returns 0, or -1 on malformed input (bad % escape, too many fields). */
int form_parse_urlencoded(const char *s, size_t n, gw_form_t *form);
/* Parses a multipart/form-data body; content_type is the header (holding the
 * boundary). Returns 0 or -1. */
int form_parse_multipart(const char *body, size_t n, const char *content_type, gw_form_t *form);
/* The first text field called name (NULL if none, or if it is a file or not
 * valid UTF-8). */
const char *form_get(const gw_form_t *form, const char *name);
void form_clear(gw_form_t *form);
/* Finds cookie name in a Cookie header; copies its value into out. Returns 0
 * or -1 (absent, or longer than outlen - 1). */
int cookie_get(const char *header, const char *name, char *out, size_t outlen);

/* ---- session.c: signed cookies and CSRF tokens --------------------------- */

#define GW_COOKIE_SESSION "bm_session"
#define GW_COOKIE_CSRF    "bm_csrf"

typedef struct {
    char user[65];
    char name[101];
    char role[81]; /* office | channel:<name> */
    int64_t expires; /* unix seconds */
} gw_session_t;

/* Makes a session cookie value (caller frees). NULL on failure. */
char *session_make(const unsigned char *secret, const gw_session_t *s);
/* Checks a cookie value's signature and expiry; fills s. Returns 0 or -1. */
int session_check(const unsigned char *secret, const char *value, int64_t now, gw_session_t *s);
/* The CSRF token for a browser's bm_csrf nonce: hex HMAC; out needs 65 bytes. */
void csrf_token(const unsigned char *secret, const char *nonce, char *out);
/* Constant-time check of a submitted token against the nonce's. */
bool csrf_ok(const unsigned char *secret, const char *nonce, const char *token);
/* Hex SHA-256 of s into out (65 bytes): how api keys are stored. */
void gw_sha256_hex(const char *s, char *out);

/* ---- server.c: one request and its response ---------------------------- */

typedef struct gw gw_t; /* the running gateway (server.c) */

typedef struct {
    gw_t *gw;
    const gw_config_t *cfg;
    struct MHD_Connection *conn;
    const char *method;  /* GET, POST, ... */
    const char *path;    /* without the query */
    const char *body;
    size_t body_len;
    const char *content_type;
    char addr[64];       /* the peer's address */
    char csrf_nonce[40]; /* the browser's bm_csrf cookie (made if absent) */
    bool new_nonce;      /* set the bm_csrf cookie in the response */
    gw_session_t sess;
    bool logged_in;
} gw_req_t;

typedef struct {
    int status;
    gw_buf_t body;
    const char *ctype;
    char location[512];     /* redirect target */
    char cookie[2][1024];   /* Set-Cookie values */
    int retry_after;        /* seconds; 0 none */
    long total;             /* > 0: X-Total-Count (Open311 paging) */
    const char *csp;        /* another Content-Security-Policy (the report); NULL: the strict one */
} gw_resp_t;

/* The query argument name of the request, or NULL. */
const char *req_arg(const gw_req_t *r, const char *name);
/* A redirect (303 See Other) to path. */
void resp_redirect(gw_resp_t *resp, const char *path);

/* Calls the broker as role act_as (NULL: the gateway itself, for login) with
 * body (not taken) and optional photo frames. Returns BM_RPC_* and fills
 * *reply (caller owns) or err. */
bm_rpc_result_t gw_call(gw_t *gw, const char *cmd, const char *act_as, const cJSON *body,
                        const bm_frame_t *attach, size_t n_attach, cJSON **reply, bm_error_t *err);
/* Token bucket per address (login backoff) or api key: true if allowed. */
bool gw_rate_take(gw_t *gw, const char *key, int rate, int burst);
/* Login backoff per address: seconds to wait (0: may try), and recording a
 * failure or a success. */
int gw_login_wait(gw_t *gw, const char *addr);
void gw_login_result(gw_t *gw, const char *addr, bool ok);
/* The configured categories (name, Chinese label, urgent) for forms and
 * Open311 services. */
int gw_categories(gw_t *gw, const char *const **names, const char *const **labels,
                  const bool **urgent);

/* Route handlers: each fills resp. */
void open311_handle(gw_req_t *r, gw_resp_t *resp);
void office_handle(gw_req_t *r, gw_resp_t *resp);
void leader_handle(gw_req_t *r, gw_resp_t *resp);
/* /login, /logout (shared by the console and the form). */
void login_handle(gw_req_t *r, gw_resp_t *resp);
/* Parses a POSTed form (urlencoded or multipart) and checks its CSRF token.
 * Returns 0, or -1 after writing the error page into resp. */
int gw_read_form(gw_req_t *r, gw_resp_t *resp, gw_form_t *form);
/* True if someone with role (office, or any channel when channel is true)
 * is logged in; otherwise writes a redirect to /login (or a 403 page). */
bool gw_require(gw_req_t *r, gw_resp_t *resp, bool office);
/* The channel of a channel:<name> session ("" for the office). */
const char *gw_session_channel(const gw_req_t *r);
/* A broker failure as a page (Chinese first). */
void gw_broker_page(gw_req_t *r, gw_resp_t *resp, bm_rpc_result_t rc, const bm_error_t *err);
/* The configured callback URL for a channel's submissions, or NULL. */
const char *gw_channel_callback(const gw_config_t *cfg, const char *channel);

/* ---- html.c: the page frame ----------------------------------------------- */

/* Starts a page: doctype, head (title, viewport, the stylesheet and, with
 * refresh > 0, the self-refresh script), header with who is logged in. */
void html_begin(gw_buf_t *b, const gw_req_t *r, const char *title_zh, const char *title_en);
void html_end(gw_buf_t *b);
/* A hidden CSRF field for this browser. */
void html_csrf(gw_buf_t *b, const gw_req_t *r);
/* An error page: status, Chinese and English text. */
void html_error(gw_req_t *r, gw_resp_t *resp, int status, const char *zh, const char *en);
/* The Chinese label of a request status / event kind (or the name). */
const char *html_status_label(const char *status);
const char *html_event_label(const char *kind);
/* obj[key] as a string, "" if absent or not a string. */
const char *gw_jstr(const cJSON *obj, const char *key);
/* Appends an ISO time as local "2026-11-29 14:20" (or "-"). */
void html_time(gw_buf_t *b, const char *iso);
/* A request's details, photos and timeline from a `get` reply (office.c). */
void html_request(gw_buf_t *o, const cJSON *got, bool office);
/* Serves a request's photo: tail is "TICKET/SHA256"; acts as act_as. */
void gw_photo(gw_req_t *r, gw_resp_t *resp, const char *tail, const char *act_as);
/* The stylesheet and the refresh script (served as /static/...). */
extern const char gw_css[];
extern const char gw_js[];

#endif
