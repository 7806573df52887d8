/* leader.c - the building leader's phone form: /submit (a resident's request
 * with photos from the phone's camera), /my (their channel's requests and
 * statuses) and /my/{ticket} (the timeline, and the resident's rating once
 * the job is done). Every call acts as the session's channel. */
#include "gw.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void act_as(const gw_req_t *r, char *buf, size_t len)
{
    snprintf(buf, len, "channel:%s", gw_session_channel(r));
}

static void nav(gw_buf_t *b)
{
    buf_puts(b, "<nav><a href=\"/submit\">登记新的 New request</a><a href=\"/my\">我登记的 My requests</a></nav>");
}

static void field(gw_buf_t *o, const char *id, const char *zh, const char *en, const char *type,
                  const char *value, bool required)
{
    buf_printf(o, "<label for=\"%s\">%s <small>%s</small></label>", id, zh, en);
    if (strcmp(type, "textarea") == 0) {
        buf_printf(o, "<textarea id=\"%s\" name=\"%s\"%s>", id, id, required ? " required" : "");
        buf_html(o, value);
        buf_puts(o, "</textarea>");
    } else {
        buf_printf(o, "<input type=\"%s\" id=\"%s\" name=\"%s\"%s value=\"", type, id, id, required ? " required" : "");
        buf_html(o, value);
        buf_puts(o, "\">");
    }
}

static void form_page(gw_req_t *r, gw_resp_t *resp, int status, const char *error, const gw_form_t *f)
{
    resp->status = status;
    resp->body.len = 0;
    gw_buf_t *o = &resp->body;
    html_begin(o, r, "登记居民诉求", "New resident request");
    nav(o);
    if (error) {
        buf_puts(o, "<p class=\"error\">");
        buf_html(o, error);
        buf_puts(o, "</p>");
    }
    buf_puts(o, "<form method=\"post\" action=\"/submit\" enctype=\"multipart/form-data\" class=\"card\">");
    html_csrf(o, r);
    buf_puts(o, "<label for=\"category\">类别 <small>Category</small></label><select id=\"category\" name=\"category\" required>"
                "<option value=\"\">请选择 / choose</option>");
    const char *const *names, *const *labels;
    const bool *urgent;
    int nc = gw_categories(r->gw, &names, &labels, &urgent);
    const char *cat = f ? form_get(f, "category") : NULL;
    for (int i = 0; i < nc; i++) {
        buf_printf(o, "<option value=\"%s\"%s>", names[i], cat && strcmp(cat, names[i]) == 0 ? " selected" : "");
        buf_html(o, labels[i]);
        buf_puts(o, urgent[i] ? "（紧急）</option>" : "</option>");
    }
    buf_puts(o, "</select>");
    field(o, "building", "小区和楼栋", "Building", "text", f ? form_get(f, "building") : NULL, true);
    field(o, "unit", "单元和房号", "Unit", "text", f ? form_get(f, "unit") : NULL, false);
    field(o, "contact", "居民联系人和电话", "Resident's contact", "text", f ? form_get(f, "contact") : NULL, true);
    field(o, "text", "需要帮什么", "What is needed", "textarea", f ? form_get(f, "text") : NULL, true);
    buf_printf(o, "<label for=\"photos\">照片（最多 %d 张，每张不超过 %zu MB）<small>Photos</small></label>"
                  "<input type=\"file\" id=\"photos\" name=\"photos\" accept=\"image/*\" capture=\"environment\" multiple>"
                  "<p><button type=\"submit\">提交 / Submit</button></p></form>",
               r->cfg->max_uploads, r->cfg->max_upload >> 20);
    html_end(o);
}

static void submit(gw_req_t *r, gw_resp_t *resp)
{
    gw_form_t form = {0};
    cJSON *b = NULL, *meta = NULL;
    if (gw_read_form(r, resp, &form) != 0)
        goto out;
    const char *cat = form_get(&form, "category"), *building = form_get(&form, "building");
    const char *unit = form_get(&form, "unit"), *contact = form_get(&form, "contact");
    const char *text = form_get(&form, "text");
    if (!cat || !building || bm_blank(building) || !contact || bm_blank(contact) || !text || bm_blank(text)) {
        form_page(r, resp, 400, "请填写楼栋、联系人和需要帮什么 / building, contact and what is needed are required", &form);
        goto out;
    }
    bm_frame_t photos[BM_MAX_ATTACH];
    size_t n = 0;
    meta = cJSON_CreateArray();
    for (int i = 0; i < form.n; i++) {
        const gw_field_t *f = &form.f[i];
        if (!f->filename || strcmp(f->name, "photos") != 0 || f->len == 0)
            continue;
        if (n >= (size_t)r->cfg->max_uploads || n >= BM_MAX_ATTACH) {
            char msg[200];
            snprintf(msg, sizeof msg, "照片太多：最多 %d 张 / too many photos: at most %d", r->cfg->max_uploads,
                     r->cfg->max_uploads);
            form_page(r, resp, 413, msg, &form);
            goto out;
        }
        if (f->len > r->cfg->max_upload) {
            char msg[200];
            snprintf(msg, sizeof msg, "照片太大：每张不超过 %zu MB / a photo is too large: at most %zu MB each",
                     r->cfg->max_upload >> 20, r->cfg->max_upload >> 20);
            form_page(r, resp, 413, msg, &form);
            goto out;
        }
        photos[n].data = f->value;
        photos[n].len = f->len;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "kind", "before");
        if (bm_utf8_valid(f->filename, strlen(f->filename)) && strlen(f->filename) <= 200)
            cJSON_AddStringToObject(m, "name", f->filename);
        cJSON_AddItemToArray(meta, m);
        n++;
    }
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "channel", gw_session_channel(r));
    cJSON_AddStringToObject(b, "category", cat);
    cJSON_AddStringToObject(b, "building", building);
    if (unit && unit[0])
        cJSON_AddStringToObject(b, "unit", unit);
    cJSON_AddStringToObject(b, "contact", contact);
    cJSON_AddStringToObject(b, "text", text);
    const char *cb = gw_channel_callback(r->cfg, gw_session_channel(r));
    if (cb)
        cJSON_AddStringToObject(b, "callback", cb);
    if (n) {
        cJSON_AddItemToObject(b, "attachments", meta);
        meta = NULL;
    }
    char as[96];
    act_as(r, as, sizeof as);
    cJSON *reply = NULL;
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_SUBMIT, as, b, photos, n, &reply, &err);
    if (rc == BM_RPC_OK) {
        char to[64];
        snprintf(to, sizeof to, "/my/%.0f?new=1", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "ticket")));
        resp_redirect(resp, to);
    } else if (rc == BM_RPC_ERROR) {
        char msg[BM_MAX_ERROR_MESSAGE + 64];
        snprintf(msg, sizeof msg, "没有提交成功，请改正后再提交：%s", err.message);
        form_page(r, resp, strcmp(err.code, BM_ERR_TOO_LARGE) == 0 ? 413 : 400, msg, &form);
    } else {
        gw_broker_page(r, resp, rc, &err);
    }
    cJSON_Delete(reply);
out:
    cJSON_Delete(meta);
    cJSON_Delete(b);
    form_clear(&form);
}

static void mine(gw_req_t *r, gw_resp_t *resp)
{
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    cJSON_AddStringToObject(b, "channel", gw_session_channel(r));
    cJSON_AddNumberToObject(b, "limit", 50);
    char as[96];
    act_as(r, as, sizeof as);
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_LIST, as, b, NULL, 0, &reply, &err);
    cJSON_Delete(b);
    if (rc != BM_RPC_OK) {
        gw_broker_page(r, resp, rc, &err);
        return;
    }
    gw_buf_t *o = &resp->body;
    html_begin(o, r, "我登记的诉求", "My requests");
    nav(o);
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(reply, "requests")) {
        long t = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "ticket"));
        buf_printf(o, "<div class=\"card\"><a href=\"/my/%ld\">#%ld</a> <b>%s</b> ", t, t,
                   html_status_label(gw_jstr(it, "status")));
        buf_html(o, gw_jstr(it, "category_label"));
        buf_puts(o, "<br>");
        buf_html(o, gw_jstr(it, "building"));
        buf_puts(o, " ");
        buf_html(o, gw_jstr(it, "unit"));
        buf_puts(o, "<br><span class=\"text\">");
        buf_html(o, gw_jstr(it, "text"));
        buf_puts(o, "</span></div>");
        n++;
    }
    if (!n)
        buf_puts(o, "<p>还没有登记 / nothing yet</p>");
    html_end(o);
    cJSON_Delete(reply);
}

static void one(gw_req_t *r, gw_resp_t *resp, long t)
{
    cJSON *b = cJSON_CreateObject(), *got = NULL;
    cJSON_AddNumberToObject(b, "ticket", (double)t);
    char as[96];
    act_as(r, as, sizeof as);
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_GET, as, b, NULL, 0, &got, &err);
    cJSON_Delete(b);
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(got, "request");
    if (rc == BM_RPC_OK && strcmp(gw_jstr(req, "channel"), gw_session_channel(r)) != 0) {
        /* the broker checks this with keys; in development mode the gateway does */
        rc = BM_RPC_ERROR;
        bm_error_set(&err, BM_ERR_NOT_FOUND, NULL, "没有这个工单 / no request with that ticket");
    }
    if (rc != BM_RPC_OK) {
        cJSON_Delete(got);
        gw_broker_page(r, resp, rc, &err);
        return;
    }
    gw_buf_t *o = &resp->body;
    char title[40];
    snprintf(title, sizeof title, "诉求 #%ld", t);
    html_begin(o, r, title, "Request");
    nav(o);
    if (req_arg(r, "new"))
        buf_printf(o, "<p class=\"ok\">已提交，单号 #%ld / submitted as #%ld</p>", t, t);
    if (req_arg(r, "rated"))
        buf_puts(o, "<p class=\"ok\">已记录评价 / rating recorded</p>");
    html_request(o, got, false);
    const char *st = gw_jstr(req, "status");
    if (strcmp(st, "done") == 0 || strcmp(st, "resolved") == 0) {
        buf_printf(o, "<h2>居民评价 <small>Resident's rating</small></h2><form method=\"post\" action=\"/my/%ld/rate\" class=\"card\">", t);
        html_csrf(o, r);
        buf_puts(o, "<label for=\"score\">满意度 <small>Score</small></label><select id=\"score\" name=\"score\">"
                    "<option value=\"5\">5 非常满意</option><option value=\"4\">4 满意</option>"
                    "<option value=\"3\">3 一般</option><option value=\"2\">2 不满意</option>"
                    "<option value=\"1\">1 很不满意</option></select>"
                    "<label for=\"comment\">意见 <small>Comment</small></label><textarea id=\"comment\" name=\"comment\"></textarea>"
                    "<p><button>记录评价 / Record rating</button></p></form>");
    }
    html_end(o);
    cJSON_Delete(got);
}

static void rate(gw_req_t *r, gw_resp_t *resp, long t)
{
    gw_form_t form = {0};
    if (gw_read_form(r, resp, &form) != 0)
        goto out;
    long score = 0;
    const char *sv = form_get(&form, "score"), *comment = form_get(&form, "comment");
    if (!sv || bm_parse_long(sv, 1, 5, &score) != 0) {
        html_error(r, resp, 400, "请选择 1 到 5 分", "choose a score from 1 to 5");
        goto out;
    }
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    cJSON_AddNumberToObject(b, "ticket", (double)t);
    cJSON_AddStringToObject(b, "channel", gw_session_channel(r));
    cJSON_AddNumberToObject(b, "score", (double)score);
    if (comment && comment[0])
        cJSON_AddStringToObject(b, "comment", comment);
    char as[96];
    act_as(r, as, sizeof as);
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_RATE, as, b, NULL, 0, &reply, &err);
    cJSON_Delete(b);
    cJSON_Delete(reply);
    if (rc == BM_RPC_OK) {
        char to[64];
        snprintf(to, sizeof to, "/my/%ld?rated=1", t);
        resp_redirect(resp, to);
    } else {
        gw_broker_page(r, resp, rc, &err);
    }
out:
    form_clear(&form);
}

void leader_handle(gw_req_t *r, gw_resp_t *resp)
{
    if (!gw_require(r, resp, false))
        return;
    bool get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
    if (strcmp(r->path, "/submit") == 0) {
        if (get)
            form_page(r, resp, 200, NULL, NULL);
        else if (post)
            submit(r, resp);
        else
            html_error(r, resp, 405, "请用页面上的按钮", "use the buttons on the page");
        return;
    }
    if (strcmp(r->path, "/my") == 0 && get) {
        mine(r, resp);
        return;
    }
    if (strncmp(r->path, "/my/photo/", 10) == 0 && get) {
        char as[96];
        act_as(r, as, sizeof as);
        gw_photo(r, resp, r->path + 10, as);
        return;
    }
    char tail[64];
    long t = 0;
    if (strncmp(r->path, "/my/", 4) != 0 || bm_strlcpy(tail, r->path + 4, sizeof tail) != 0) {
        html_error(r, resp, 404, "找不到这个页面", "no such page");
        return;
    }
    char *slash = strchr(tail, '/');
    if (slash)
        *slash++ = '\0';
    if (bm_parse_long(tail, 1, 9007199254740991L, &t) != 0)
        html_error(r, resp, 404, "没有这个工单", "no such request");
    else if (!slash && get)
        one(r, resp, t);
    else if (slash && strcmp(slash, "rate") == 0 && post)
        rate(r, resp, t);
    else
        html_error(r, resp, 404, "找不到这个页面", "no such page");
}
