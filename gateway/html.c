/* html.c - text buffers, HTML escaping, the page frame, status labels, and
 * the stylesheet and refresh script served as same-origin files (the CSP
 * allows nothing inline and nothing from other hosts). */
#include "gw.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(gw_buf_t *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void buf_put(gw_buf_t *b, const char *s, size_t n)
{
    if (!grow(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(gw_buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

void buf_printf(gw_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_html(gw_buf_t *b, const char *s)
{
    if (!s)
        return;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\'': buf_puts(b, "&#39;"); break;
        default: buf_put(b, p, 1);
        }
    }
}

void buf_url(gw_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_put(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_put(b, e, 3);
        }
    }
}

void buf_free(gw_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void html_begin(gw_buf_t *b, const gw_req_t *r, const char *title_zh, const char *title_en)
{
    buf_puts(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<link rel=\"stylesheet\" href=\"/static/gw.css\">"
                "<script src=\"/static/gw.js\" defer></script><title>");
    buf_html(b, title_zh);
    buf_puts(b, " · 便民</title></head><body><header><b>便民 bianmin</b>");
    if (r && r->logged_in) {
        buf_puts(b, "<span class=\"who\">");
        buf_html(b, r->sess.name[0] ? r->sess.name : r->sess.user);
        buf_puts(b, "</span><form method=\"post\" action=\"/logout\" class=\"inline\">");
        html_csrf(b, r);
        buf_puts(b, "<button>退出 / Log out</button></form>");
    }
    buf_puts(b, "</header><main><h1>");
    buf_html(b, title_zh);
    buf_puts(b, " <small>");
    buf_html(b, title_en);
    buf_puts(b, "</small></h1>\n");
}

void html_end(gw_buf_t *b)
{
    buf_puts(b, "</main></body></html>\n");
}

void html_csrf(gw_buf_t *b, const gw_req_t *r)
{
    char tok[65];
    csrf_token(r->cfg->secret, r->csrf_nonce, tok);
    buf_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", tok);
}

void html_error(gw_req_t *r, gw_resp_t *resp, int status, const char *zh, const char *en)
{
    resp->status = status;
    resp->body.len = 0;
    html_begin(&resp->body, r, "出错了", "Something is wrong");
    buf_puts(&resp->body, "<p class=\"error\">");
    buf_html(&resp->body, zh);
    buf_puts(&resp->body, "<br><small>");
    buf_html(&resp->body, en);
    buf_puts(&resp->body, "</small></p><p>"
                          "<a href=\"/\">返回首页 / Home</a></p>");
    html_end(&resp->body);
}

static const char *const status_labels[][2] = {
    {"open", "待接单"}, {"claimed", "已接单"}, {"done", "已完成"}, {"escalated", "已上报"},
    {"resolved", "已解决"}, {"cancelled", "已取消"}, {"failed", "未修好"},
};

const char *html_status_label(const char *status)
{
    for (size_t i = 0; status && i < sizeof status_labels / sizeof status_labels[0]; i++) {
        if (strcmp(status, status_labels[i][0]) == 0)
            return status_labels[i][1];
    }
    return status ? status : "?";
}

static const char *const event_labels[][2] = {
    {"received", "已受理"}, {"claimed", "接单"}, {"progress", "进展"}, {"done", "完成"},
    {"cantfix", "修不了"}, {"escalated", "上报"}, {"resolved", "解决"}, {"cancelled", "取消"},
    {"reopened", "重开"}, {"rated", "评价"}, {"lease_expired", "接单超时"}, {"overdue", "超时"},
    {"declined", "婉拒"},
};

const char *html_event_label(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof event_labels / sizeof event_labels[0]; i++) {
        if (strcmp(kind, event_labels[i][0]) == 0)
            return event_labels[i][1];
    }
    return kind ? kind : "?";
}

const char *gw_jstr(const cJSON *obj, const char *key)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
    return v ? v : "";
}

void html_time(gw_buf_t *b, const char *iso)
{
    int64_t ms = 0;
    char buf[32];
    if (!iso || !iso[0] || bm_time_parse_iso(iso, &ms) != 0) {
        buf_puts(b, "-");
        return;
    }
    buf_html(b, bm_time_local(ms, buf, sizeof buf));
}

const char gw_css[] =
    "*{box-sizing:border-box}body{margin:0;font-family:\"Noto Sans CJK SC\",\"PingFang SC\","
    "\"Microsoft YaHei\",sans-serif;font-size:16px;line-height:1.5;color:#1a1a1a;background:#f6f6f3}"
    "header{display:flex;flex-wrap:wrap;gap:.5em;align-items:center;padding:.5em 1em;"
    "background:#b3261e;color:#fff}header .who{margin-left:auto}header button{font-size:.9em}"
    "main{max-width:960px;margin:0 auto;padding:1em}h1{font-size:1.3em;margin:.2em 0 .6em}"
    "h1 small,label small{font-weight:normal;color:#666;font-size:.75em}"
    "nav a{display:inline-block;margin:0 .8em .4em 0}"
    "form.inline{display:inline}label{display:block;margin:.6em 0 .2em;font-weight:bold}"
    "input,select,textarea,button{font:inherit;max-width:100%}"
    "input[type=text],input[type=password],input[type=tel],select,textarea{width:100%;padding:.4em;"
    "border:1px solid #999;border-radius:4px}textarea{min-height:6em}"
    "button{padding:.45em 1em;border:0;border-radius:4px;background:#b3261e;color:#fff}"
    "button.alt{background:#555}.error{color:#b3261e;font-weight:bold}.ok{color:#1b6e20}"
    "table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #ddd;"
    "padding:.35em;text-align:left;vertical-align:top}.card{background:#fff;padding:.8em;"
    "border-radius:6px;margin:.6em 0;overflow-wrap:anywhere}.tag{display:inline-block;padding:0 .4em;"
    "border-radius:3px;background:#eee;font-size:.85em}.tag.urgent,.tag.overdue{background:#fbd;"
    "color:#900}.text{white-space:pre-wrap;overflow-wrap:anywhere}img.photo{max-width:100%;"
    "height:auto;border:1px solid #ccc}"
    "@media (max-width:600px){table.queue thead{display:none}table.queue tr{display:block;"
    "border-bottom:2px solid #ccc;padding:.3em 0}table.queue td{display:block;border:0;padding:.1em .3em}}\n";

/* The queue page carries data-refresh="SECONDS" and data-version="V" on
 * <main>; this asks /office/version and reloads when the version changed. */
const char gw_js[] =
    "(function(){var m=document.querySelector('[data-version]');if(!m)return;"
    "var v=m.getAttribute('data-version'),s=parseInt(m.getAttribute('data-refresh')||'3',10)*1000;"
    "function tick(){fetch('/office/version',{credentials:'same-origin',cache:'no-store'})"
    ".then(function(r){return r.ok?r.text():v}).then(function(t){if(t.trim()!==v){location.reload()}"
    "else{setTimeout(tick,s)}}).catch(function(){setTimeout(tick,s)})}setTimeout(tick,s)})();\n";
