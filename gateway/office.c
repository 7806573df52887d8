/* office.c - the office console at /office/: the queue (filters, paging,
 * refreshing itself when anything changes), one request with its timeline
 * and actions (escalate, resolve, cancel, reopen), volunteers on duty, and
 * dead deliveries with replay. Every page acts as "office". */
#include "gw.h"
#include "stats.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_REFRESH_S 3 /* how often the queue asks whether anything changed */
#define NEEDS_ESCALATION_ATTEMPTS 3

static bm_rpc_result_t office_call(gw_req_t *r, const char *cmd, const cJSON *body, cJSON **reply,
                                   bm_error_t *err)
{
    return gw_call(r->gw, cmd, "office", body, NULL, 0, reply, err);
}

static void nav(gw_buf_t *b)
{
    buf_puts(b, "<nav><a href=\"/office/\">工单 Queue</a><a href=\"/office/volunteers\">志愿者 Volunteers</a>"
                "<a href=\"/office/deliveries\">投递失败 Dead deliveries</a>"
                "<a href=\"/office/report\">月报 Monthly report</a></nav>");
}

/* A version of the queue: the counts per status and of overdue ones. The
 * page reloads itself when this changes (gw.js asks /office/version). */
static int queue_version(gw_req_t *r, char *out, size_t len)
{
    static const char *const states[] = {"open", "claimed", "escalated", "done", "resolved", "cancelled"};
    unsigned long long h = 1469598103934665603ull;
    for (int i = 0; i <= 6; i++) {
        cJSON *b = cJSON_CreateObject(), *reply = NULL;
        if (i < 6)
            cJSON_AddStringToObject(b, "status", states[i]);
        else
            cJSON_AddBoolToObject(b, "overdue", true);
        cJSON_AddNumberToObject(b, "limit", 1);
        bm_error_t err = {0};
        bm_rpc_result_t rc = office_call(r, BM_CMD_LIST, b, &reply, &err);
        cJSON_Delete(b);
        if (rc != BM_RPC_OK)
            return -1;
        long total = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "total"));
        const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(reply, "requests"), 0);
        char mix[96];
        snprintf(mix, sizeof mix, "%d:%ld:%s;", i, total, gw_jstr(first, "updated_at"));
        for (const char *p = mix; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        cJSON_Delete(reply);
    }
    snprintf(out, len, "%016llx", h);
    return 0;
}

static const char *const tabs[][3] = {
    {"", "全部", "all"},           {"open", "待接单", "open"},  {"claimed", "已接单", "claimed"},
    {"overdue", "超时", "overdue"}, {"needs", "需上报", "needs escalation"},
    {"escalated", "已上报", "escalated"}, {"done", "已完成", "done"},
};

static void queue(gw_req_t *r, gw_resp_t *resp)
{
    const char *view = req_arg(r, "view"), *q = req_arg(r, "q"), *cat = req_arg(r, "category");
    long offset = 0;
    const char *ov = req_arg(r, "offset");
    if (ov && bm_parse_long(ov, 0, 1000000, &offset) != 0)
        offset = 0;
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    if (view && strcmp(view, "overdue") == 0)
        cJSON_AddBoolToObject(b, "overdue", true);
    else if (view && strcmp(view, "needs") == 0)
        cJSON_AddStringToObject(b, "status", "open");
    else if (view && view[0])
        cJSON_AddStringToObject(b, "status", view);
    if (q && q[0])
        cJSON_AddStringToObject(b, "building", q);
    if (cat && cat[0])
        cJSON_AddStringToObject(b, "category", cat);
    cJSON_AddNumberToObject(b, "limit", view && strcmp(view, "needs") == 0 ? BM_MAX_LIST : GW_DEFAULT_PAGE);
    cJSON_AddNumberToObject(b, "offset", (double)offset);
    bm_error_t err = {0};
    bm_rpc_result_t rc = office_call(r, BM_CMD_LIST, b, &reply, &err);
    cJSON_Delete(b);
    char version[32] = "";
    if (rc != BM_RPC_OK || queue_version(r, version, sizeof version) != 0) {
        cJSON_Delete(reply);
        gw_broker_page(r, resp, rc == BM_RPC_OK ? BM_RPC_TIMEOUT : rc, &err);
        return;
    }
    gw_buf_t *o = &resp->body;
    html_begin(o, r, "工单队列", "Request queue");
    nav(o);
    buf_printf(o, "<div data-version=\"%s\" data-refresh=\"%d\"></div>", version, QUEUE_REFRESH_S);
    buf_puts(o, "<p>");
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) {
        bool on = (view ? view : "")[0] ? strcmp(view, tabs[i][0]) == 0 : !tabs[i][0][0];
        buf_printf(o, "<a class=\"tag%s\" href=\"/office/?view=%s\">%s %s</a> ", on ? " urgent" : "",
                   tabs[i][0], tabs[i][1], tabs[i][2]);
    }
    buf_puts(o, "</p><form method=\"get\" action=\"/office/\" class=\"card\">");
    if (view) {
        buf_puts(o, "<input type=\"hidden\" name=\"view\" value=\"");
        buf_html(o, view);
        buf_puts(o, "\">");
    }
    buf_puts(o, "<label for=\"q\">楼栋 <small>Building contains</small></label><input type=\"text\" id=\"q\" name=\"q\" value=\"");
    buf_html(o, q);
    buf_puts(o, "\"><label for=\"category\">类别 <small>Category</small></label><select id=\"category\" name=\"category\"><option value=\"\">全部 all</option>");
    const char *const *names, *const *labels;
    const bool *urgent;
    int nc = gw_categories(r->gw, &names, &labels, &urgent);
    for (int i = 0; i < nc; i++) {
        buf_printf(o, "<option value=\"%s\"%s>", names[i], cat && strcmp(cat, names[i]) == 0 ? " selected" : "");
        buf_html(o, labels[i]);
        buf_printf(o, " %s</option>", names[i]);
    }
    buf_puts(o, "</select><p><button>筛选 / Filter</button></p></form>");
    long total = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "total"));
    buf_puts(o, "<table class=\"queue\"><thead><tr><th>单号 #</th><th>状态 Status</th><th>类别 Category</th>"
                "<th>地址 Where</th><th>内容 Text</th><th>受理 Received</th></tr></thead><tbody>");
    int shown = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(reply, "requests")) {
        long attempts = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "attempts"));
        if (view && strcmp(view, "needs") == 0 && attempts < NEEDS_ESCALATION_ATTEMPTS)
            continue;
        shown++;
        long t = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "ticket"));
        buf_printf(o, "<tr><td><a href=\"/office/request/%ld\">#%ld</a></td><td>%s", t, t,
                   html_status_label(gw_jstr(it, "status")));
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "overdue")))
            buf_puts(o, " <span class=\"tag overdue\">超时 overdue</span>");
        if (attempts >= NEEDS_ESCALATION_ATTEMPTS && strcmp(gw_jstr(it, "status"), "open") == 0)
            buf_puts(o, " <span class=\"tag urgent\">需上报</span>");
        buf_puts(o, "</td><td>");
        buf_html(o, gw_jstr(it, "category_label"));
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "urgent")))
            buf_puts(o, " <span class=\"tag urgent\">急</span>");
        buf_puts(o, "</td><td>");
        buf_html(o, gw_jstr(it, "building"));
        buf_puts(o, " ");
        buf_html(o, gw_jstr(it, "unit"));
        buf_puts(o, "</td><td class=\"text\">");
        buf_html(o, gw_jstr(it, "text"));
        buf_puts(o, "</td><td>");
        html_time(o, gw_jstr(it, "created_at"));
        buf_puts(o, "</td></tr>");
    }
    buf_puts(o, "</tbody></table>");
    if (!shown)
        buf_puts(o, "<p>没有工单 / no requests</p>");
    buf_printf(o, "<p>共 %ld 条 / %ld in all. ", total, total);
    if (offset + GW_DEFAULT_PAGE < total && !(view && strcmp(view, "needs") == 0)) {
        buf_printf(o, "<a href=\"/office/?offset=%ld&amp;view=", offset + GW_DEFAULT_PAGE);
        buf_url(o, view ? view : "");
        buf_puts(o, "&amp;q=");
        buf_url(o, q ? q : "");
        buf_puts(o, "&amp;category=");
        buf_url(o, cat ? cat : "");
        buf_puts(o, "\">下一页 / Next page</a>");
    }
    buf_puts(o, "</p>");
    html_end(o);
    cJSON_Delete(reply);
}

void html_request(gw_buf_t *o, const cJSON *got, bool office)
{
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(got, "request");
    buf_puts(o, "<div class=\"card\"><p><b>");
    buf_html(o, html_status_label(gw_jstr(req, "status")));
    buf_puts(o, "</b> <span class=\"tag\">");
    buf_html(o, gw_jstr(req, "category_label"));
    buf_puts(o, "</span></p><p>");
    buf_html(o, gw_jstr(req, "building"));
    buf_puts(o, " ");
    buf_html(o, gw_jstr(req, "unit"));
    buf_puts(o, "</p><p class=\"text\">");
    buf_html(o, gw_jstr(req, "text"));
    buf_puts(o, "</p>");
    if (office || gw_jstr(req, "contact")[0]) {
        buf_puts(o, "<p>联系人 Contact: ");
        buf_html(o, gw_jstr(req, "contact"));
        buf_puts(o, "</p>");
    }
    const cJSON *vol = cJSON_GetObjectItemCaseSensitive(req, "volunteer");
    if (cJSON_IsObject(vol)) {
        buf_puts(o, "<p>志愿者 Volunteer: ");
        buf_html(o, gw_jstr(vol, "name"));
        buf_puts(o, "</p>");
    }
    if (gw_jstr(req, "department")[0]) {
        buf_puts(o, "<p>上报部门 Department: ");
        buf_html(o, gw_jstr(req, "department"));
        buf_puts(o, "</p>");
    }
    buf_puts(o, "<p>受理 Received: ");
    html_time(o, gw_jstr(req, "created_at"));
    buf_puts(o, " · 期限 Due: ");
    html_time(o, gw_jstr(req, "deadline_at"));
    buf_puts(o, "</p></div><h2>照片 <small>Photos</small></h2><ul>");
    const cJSON *a;
    int photos = 0;
    long t = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(req, "ticket"));
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(got, "attachments")) {
        const char *sha = gw_jstr(a, "sha256");
        buf_puts(o, "<li>");
        if (strlen(sha) == 64 && strspn(sha, "0123456789abcdef") == 64) {
            buf_printf(o, "<img class=\"photo\" src=\"/%s/photo/%ld/%s\" alt=\"", office ? "office" : "my", t, sha);
            buf_html(o, gw_jstr(a, "name"));
            buf_puts(o, "\"><br>");
        }
        buf_html(o, gw_jstr(a, "name")[0] ? gw_jstr(a, "name") : sha);
        buf_printf(o, " (%s, %.0f KB)</li>", gw_jstr(a, "type"),
                   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, "size")) / 1024);
        photos++;
    }
    if (!photos)
        buf_puts(o, "<li>没有照片 / none</li>");
    buf_puts(o, "</ul><h2>经过 <small>Timeline</small></h2><ol>");
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(got, "events")) {
        buf_puts(o, "<li>");
        html_time(o, gw_jstr(ev, "at"));
        buf_puts(o, " <b>");
        buf_html(o, html_event_label(gw_jstr(ev, "kind")));
        buf_puts(o, "</b> ");
        buf_html(o, gw_jstr(ev, "actor"));
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "detail"), *f;
        cJSON_ArrayForEach(f, d) {
            if (cJSON_IsString(f)) {
                buf_puts(o, " · <span class=\"text\">");
                buf_html(o, f->valuestring);
                buf_puts(o, "</span>");
            }
        }
        buf_puts(o, "</li>");
    }
    buf_puts(o, "</ol>");
}

static const char *const dept_labels[][2] = {
    {"water_company", "自来水公司"}, {"power_company", "供电公司"},
    {"housing_bureau", "房管局"},     {"street_office", "街道办"},
};

static const char *dept_label(const char *d)
{
    for (size_t i = 0; i < sizeof dept_labels / sizeof dept_labels[0]; i++) {
        if (strcmp(d, dept_labels[i][0]) == 0)
            return dept_labels[i][1];
    }
    return "";
}

static void action_form(gw_buf_t *o, gw_req_t *r, long t, const char *act, const char *zh,
                        const char *en, const char *field, bool departments)
{
    buf_printf(o, "<form method=\"post\" action=\"/office/request/%ld/%s\" class=\"card\">", t, act);
    html_csrf(o, r);
    if (departments) {
        buf_printf(o, "<label for=\"%s-dept\">部门 <small>Department</small></label><select id=\"%s-dept\" name=\"department\">", act, act);
        for (int i = 0; i < r->cfg->n_departments; i++) {
            buf_puts(o, "<option value=\"");
            buf_html(o, r->cfg->departments[i]);
            buf_puts(o, "\">");
            buf_html(o, dept_label(r->cfg->departments[i]));
            buf_puts(o, " ");
            buf_html(o, r->cfg->departments[i]);
            buf_puts(o, "</option>");
        }
        buf_puts(o, "</select>");
    }
    bool answer = strcmp(field, "answer") == 0;
    buf_printf(o, "<label for=\"%s-text\">%s <small>%s</small></label><textarea id=\"%s-text\" name=\"%s\"></textarea>"
                  "<p><button name=\"go\" value=\"%s\">%s / %s</button></p></form>",
               act, answer ? "部门的答复" : "原因", answer ? "The department's answer" : "Reason", act, field,
               act, zh, en);
}

static void request_page(gw_req_t *r, gw_resp_t *resp, long t)
{
    cJSON *b = cJSON_CreateObject(), *got = NULL;
    cJSON_AddNumberToObject(b, "ticket", (double)t);
    bm_error_t err = {0};
    bm_rpc_result_t rc = office_call(r, BM_CMD_GET, b, &got, &err);
    cJSON_Delete(b);
    if (rc != BM_RPC_OK) {
        gw_broker_page(r, resp, rc, &err);
        return;
    }
    gw_buf_t *o = &resp->body;
    char title[40];
    snprintf(title, sizeof title, "工单 #%ld", t);
    html_begin(o, r, title, "Request");
    nav(o);
    const char *ok = req_arg(r, "ok");
    if (ok)
        buf_puts(o, "<p class=\"ok\">已完成操作 / done</p>");
    html_request(o, got, true);
    const char *st = gw_jstr(cJSON_GetObjectItemCaseSensitive(got, "request"), "status");
    buf_puts(o, "<h2>操作 <small>Actions</small></h2>");
    if (strcmp(st, "open") == 0 || strcmp(st, "claimed") == 0) {
        action_form(o, r, t, "escalate", "上报部门", "Escalate", "reason", true);
        action_form(o, r, t, "cancel", "取消", "Cancel", "reason", false);
    }
    if (strcmp(st, "escalated") == 0)
        action_form(o, r, t, "resolve", "记录答复并办结", "Resolve with the answer", "answer", false);
    if (strcmp(st, "done") == 0 || strcmp(st, "resolved") == 0 || strcmp(st, "cancelled") == 0)
        action_form(o, r, t, "reopen", "重开", "Reopen", "reason", false);
    html_end(o);
    cJSON_Delete(got);
}

static void request_action(gw_req_t *r, gw_resp_t *resp, long t, const char *act)
{
    gw_form_t form = {0};
    if (gw_read_form(r, resp, &form) != 0)
        goto out;
    const char *cmd = strcmp(act, "escalate") == 0 ? BM_CMD_ESCALATE
                      : strcmp(act, "resolve") == 0 ? BM_CMD_RESOLVE
                      : strcmp(act, "cancel") == 0  ? BM_CMD_CANCEL
                      : strcmp(act, "reopen") == 0  ? BM_CMD_REOPEN : NULL;
    if (!cmd) {
        html_error(r, resp, 404, "没有这个操作", "no such action");
        goto out;
    }
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    cJSON_AddNumberToObject(b, "ticket", (double)t);
    cJSON_AddStringToObject(b, "channel", "office");
    const char *key = strcmp(act, "resolve") == 0 ? "answer" : "reason";
    const char *text = form_get(&form, key), *dept = form_get(&form, "department");
    if (text && text[0])
        cJSON_AddStringToObject(b, key, text);
    if (dept && strcmp(act, "escalate") == 0)
        cJSON_AddStringToObject(b, "department", dept);
    bm_error_t err = {0};
    bm_rpc_result_t rc = office_call(r, cmd, b, &reply, &err);
    cJSON_Delete(b);
    cJSON_Delete(reply);
    if (rc != BM_RPC_OK) {
        if (rc == BM_RPC_ERROR && strcmp(err.code, BM_ERR_INVALID) == 0) {
            html_error(r, resp, 400, "请把必填的内容写上（原因或答复）", err.message);
            goto out;
        }
        gw_broker_page(r, resp, rc, &err);
        goto out;
    }
    char to[64];
    snprintf(to, sizeof to, "/office/request/%ld?ok=1", t);
    resp_redirect(resp, to);
out:
    form_clear(&form);
}

static void volunteers(gw_req_t *r, gw_resp_t *resp)
{
    cJSON *reply = NULL;
    bm_error_t err = {0};
    bm_rpc_result_t rc = office_call(r, BM_CMD_VOLUNTEERS, NULL, &reply, &err);
    if (rc != BM_RPC_OK) {
        gw_broker_page(r, resp, rc, &err);
        return;
    }
    gw_buf_t *o = &resp->body;
    html_begin(o, r, "志愿者", "Volunteers");
    nav(o);
    buf_puts(o, "<table class=\"queue\"><thead><tr><th>志愿者 Name</th><th>在线 Online</th><th>会做 Skills</th>"
                "<th>手上的单 Jobs</th></tr></thead><tbody>");
    const cJSON *v, *j;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(reply, "volunteers")) {
        buf_puts(o, "<tr><td>");
        buf_html(o, gw_jstr(v, "name"));
        buf_puts(o, " (");
        buf_html(o, gw_jstr(v, "id"));
        buf_printf(o, ")</td><td>%s</td><td>",
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "online")) ? "在线 online" : "离线 offline");
        cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(v, "skills")) {
            if (cJSON_IsString(j)) {
                buf_html(o, j->valuestring);
                buf_puts(o, " ");
            }
        }
        buf_puts(o, "</td><td>");
        cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(v, "jobs")) {
            long t = (long)cJSON_GetNumberValue(j);
            buf_printf(o, "<a href=\"/office/request/%ld\">#%ld</a> ", t, t);
        }
        buf_puts(o, "</td></tr>");
    }
    buf_puts(o, "</tbody></table>");
    html_end(o);
    cJSON_Delete(reply);
}

static void deliveries(gw_req_t *r, gw_resp_t *resp)
{
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    cJSON_AddStringToObject(b, "state", "dead");
    cJSON_AddNumberToObject(b, "limit", 100);
    bm_error_t err = {0};
    bm_rpc_result_t rc = office_call(r, BM_CMD_DELIVERIES, b, &reply, &err);
    cJSON_Delete(b);
    if (rc != BM_RPC_OK) {
        gw_broker_page(r, resp, rc, &err);
        return;
    }
    gw_buf_t *o = &resp->body;
    html_begin(o, r, "投递失败的通知", "Dead deliveries");
    nav(o);
    if (req_arg(r, "ok"))
        buf_puts(o, "<p class=\"ok\">已重新排队 / queued again</p>");
    buf_puts(o, "<table class=\"queue\"><thead><tr><th>#</th><th>通知 Type</th><th>单号 Ticket</th><th>地址 URL</th>"
                "<th>错误 Error</th><th></th></tr></thead><tbody>");
    const cJSON *d;
    int n = 0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(reply, "deliveries")) {
        long id = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
        buf_printf(o, "<tr><td>%ld</td><td>", id);
        buf_html(o, gw_jstr(d, "type"));
        buf_printf(o, "</td><td>#%.0f</td><td class=\"text\">", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "ticket")));
        buf_html(o, gw_jstr(d, "url"));
        buf_puts(o, "</td><td class=\"text\">");
        buf_html(o, gw_jstr(d, "last_error"));
        buf_printf(o, "</td><td><form method=\"post\" action=\"/office/deliveries/%ld/replay\">", id);
        html_csrf(o, r);
        buf_puts(o, "<button>重发 / Replay</button></form></td></tr>");
        n++;
    }
    buf_puts(o, "</tbody></table>");
    if (!n)
        buf_puts(o, "<p>没有投递失败的通知 / no dead deliveries</p>");
    html_end(o);
    cJSON_Delete(reply);
}

static void replay(gw_req_t *r, gw_resp_t *resp, long id)
{
    gw_form_t form = {0};
    if (gw_read_form(r, resp, &form) == 0) {
        cJSON *b = cJSON_CreateObject(), *reply = NULL;
        cJSON_AddNumberToObject(b, "id", (double)id);
        bm_error_t err = {0};
        bm_rpc_result_t rc = office_call(r, BM_CMD_REPLAY, b, &reply, &err);
        cJSON_Delete(b);
        cJSON_Delete(reply);
        if (rc == BM_RPC_OK)
            resp_redirect(resp, "/office/deliveries?ok=1");
        else
            gw_broker_page(r, resp, rc, &err);
    }
    form_clear(&form);
}

/* The existing monthly HTML report (lib/report_html.c) from the broker's
 * figures. It styles with inline <style> and style attributes and has no
 * script: its CSP allows inline styles and nothing else. */
static void report(gw_req_t *r, gw_resp_t *resp)
{
    const char *month = req_arg(r, "month"), *tz = req_arg(r, "tz");
    char now[32];
    if (!month || !month[0]) {
        bm_time_iso(bm_now_ms(), now, sizeof now);
        now[7] = '\0';
        month = now;
    }
    cJSON *b = cJSON_CreateObject(), *rep = NULL;
    cJSON_AddStringToObject(b, "month", month);
    cJSON_AddStringToObject(b, "tz", tz && tz[0] ? tz : "Asia/Shanghai");
    bm_error_t err = {0};
    bm_rpc_result_t rc = office_call(r, BM_CMD_STATS, b, &rep, &err);
    cJSON_Delete(b);
    if (rc != BM_RPC_OK) {
        gw_broker_page(r, resp, rc, &err);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int wrc = mem ? bm_stats_write_html(mem, rep) : -1;
    if (mem)
        fclose(mem);
    if (wrc != 0 || !text) {
        html_error(r, resp, 500, "报表生成失败", "the report could not be made");
    } else {
        buf_put(&resp->body, text, len);
        resp->csp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
    }
    free(text);
    cJSON_Delete(rep);
}

void office_handle(gw_req_t *r, gw_resp_t *resp)
{
    if (!gw_require(r, resp, true))
        return;
    const char *p = r->path + 7; /* after "/office" */
    bool get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
    long n = 0;
    char act[32] = "";
    if ((strcmp(p, "") == 0 || strcmp(p, "/") == 0) && get) {
        queue(r, resp);
    } else if (strcmp(p, "/version") == 0 && get) {
        char v[32];
        resp->ctype = "text/plain; charset=utf-8";
        if (queue_version(r, v, sizeof v) == 0)
            buf_puts(&resp->body, v);
        else
            resp->status = 503;
    } else if (strncmp(p, "/photo/", 7) == 0 && get) {
        gw_photo(r, resp, p + 7, "office");
    } else if (strcmp(p, "/report") == 0 && get) {
        report(r, resp);
    } else if (strcmp(p, "/volunteers") == 0 && get) {
        volunteers(r, resp);
    } else if (strcmp(p, "/deliveries") == 0 && get) {
        deliveries(r, resp);
    } else if (strncmp(p, "/deliveries/", 12) == 0 && post &&
               sscanf(p + 12, "%ld/%31s", &n, act) == 2 && strcmp(act, "replay") == 0 && n > 0) {
        replay(r, resp, n);
    } else if (strncmp(p, "/request/", 9) == 0) {
        char tail[64];
        if (bm_strlcpy(tail, p + 9, sizeof tail) != 0) {
            html_error(r, resp, 404, "找不到这个页面", "no such page");
            return;
        }
        char *slash = strchr(tail, '/');
        if (slash)
            *slash = '\0';
        if (bm_parse_long(tail, 1, 9007199254740991L, &n) != 0) {
            html_error(r, resp, 404, "没有这个工单", "no such request");
        } else if (!slash && get) {
            request_page(r, resp, n);
        } else if (slash && post) {
            request_action(r, resp, n, slash + 1);
        } else {
            html_error(r, resp, 405, "请用页面上的按钮", "use the buttons on the page");
        }
    } else {
        html_error(r, resp, 404, "找不到这个页面", "no such page");
    }
}

void gw_photo(gw_req_t *r, gw_resp_t *resp, const char *tail, const char *act_as)
{
    char sha[65];
    long t = 0;
    const char *slash = strchr(tail, '/');
    char num[24];
    if (!slash || (size_t)(slash - tail) >= sizeof num || strlen(slash + 1) != 64 ||
        bm_strlcpy(sha, slash + 1, sizeof sha) != 0) {
        html_error(r, resp, 404, "没有这张照片", "no such photo");
        return;
    }
    memcpy(num, tail, (size_t)(slash - tail));
    num[slash - tail] = '\0';
    if (bm_parse_long(num, 1, 9007199254740991L, &t) != 0) {
        html_error(r, resp, 404, "没有这张照片", "no such photo");
        return;
    }
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    cJSON_AddNumberToObject(b, "ticket", (double)t);
    cJSON_AddStringToObject(b, "sha256", sha);
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_PHOTO, act_as, b, NULL, 0, &reply, &err);
    cJSON_Delete(b);
    const char *type = gw_jstr(reply, "type"), *data = gw_jstr(reply, "data");
    static const char *const types[] = {"image/jpeg", "image/png", "image/webp"};
    const char *ctype = NULL;
    for (size_t i = 0; rc == BM_RPC_OK && i < 3; i++) {
        if (strcmp(type, types[i]) == 0)
            ctype = types[i];
    }
    size_t cap = strlen(data) / 4 * 3 + 3;
    unsigned char *bytes = ctype ? malloc(cap) : NULL;
    int n = bytes ? bm_base64_decode(data, bytes, cap) : -1;
    if (rc != BM_RPC_OK) {
        gw_broker_page(r, resp, rc, &err);
    } else if (n < 0) {
        html_error(r, resp, 502, "照片读不了", "the photo could not be read");
    } else {
        resp->ctype = ctype;
        resp->body.len = 0;
        buf_put(&resp->body, (const char *)bytes, (size_t)n);
    }
    free(bytes);
    cJSON_Delete(reply);
}
