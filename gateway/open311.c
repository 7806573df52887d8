/* open311.c - Open311 GeoReport v2 at /open311/v2/ (JSON only): services,
 * service definitions, posting a request with an api_key (mapped to a
 * channel in the config), searching requests and reading one. Reads act as
 * the office and never return personal data (contact, unit); docs/open311.md
 * gives the status mapping and every extension. */
#include "gw.h"
#include "jsonx.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define O311_DEFAULT_PAGE_SIZE 50
#define O311_MAX_PAGE_SIZE     100
#define O311_DEFAULT_DAYS      90 /* GET requests without dates: the last 90 days (the spec's default) */

/* Underlying statuses behind Open311 "open" and "closed". */
static const char *const open_states[] = {"open", "claimed", "escalated"};
static const char *const closed_states[] = {"done", "resolved", "cancelled"};

static void o311_error(gw_resp_t *resp, int status, const char *zh, const char *en)
{
    resp->status = status;
    resp->body.len = 0;
    cJSON *arr = cJSON_CreateArray(), *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "code", status);
    char desc[600];
    snprintf(desc, sizeof desc, "%s / %s", zh, en);
    cJSON_AddStringToObject(e, "description", desc);
    cJSON_AddItemToArray(arr, e);
    char *text = cJSON_PrintUnformatted(arr);
    if (text)
        buf_puts(&resp->body, text);
    free(text);
    cJSON_Delete(arr);
}

static void o311_json(gw_resp_t *resp, int status, cJSON *j)
{
    resp->status = status;
    char *text = cJSON_PrintUnformatted(j);
    if (text)
        buf_puts(&resp->body, text);
    else
        resp->body.oom = true;
    free(text);
    cJSON_Delete(j);
}

/* Maps a broker error to the spec's codes: 404 not found, 403 refused,
 * 503 unreachable, 400 otherwise. */
static void broker_error(gw_resp_t *resp, bm_rpc_result_t rc, const bm_error_t *err)
{
    if (rc != BM_RPC_ERROR) {
        o311_error(resp, 503, "服务站暂时联系不上，请稍后再试", "the station is not answering: try again later");
        resp->retry_after = 5;
        return;
    }
    int status = strcmp(err->code, BM_ERR_NOT_FOUND) == 0 ? 404
                 : strcmp(err->code, BM_ERR_FORBIDDEN) == 0 ? 403
                 : strcmp(err->code, BM_ERR_STORAGE) == 0 || strcmp(err->code, BM_ERR_SHUTTING_DOWN) == 0
                     ? 503
                     : 400;
    resp->status = status;
    resp->body.len = 0;
    cJSON *arr = cJSON_CreateArray(), *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "code", status);
    cJSON_AddStringToObject(e, "description", err->message);
    cJSON_AddStringToObject(e, "bianmin_code", err->code); /* extension */
    if (err->field[0])
        cJSON_AddStringToObject(e, "bianmin_field", err->field);
    cJSON_AddItemToArray(arr, e);
    o311_json(resp, status, arr);
}

static int category_index(gw_t *gw, const char *code)
{
    const char *const *names, *const *labels;
    const bool *urgent;
    int n = gw_categories(gw, &names, &labels, &urgent);
    for (int i = 0; code && i < n; i++) {
        if (strcmp(names[i], code) == 0)
            return i;
    }
    return -1;
}

static void services(gw_req_t *r, gw_resp_t *resp)
{
    const char *const *names, *const *labels;
    const bool *urgent;
    int n = gw_categories(r->gw, &names, &labels, &urgent);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "service_code", names[i]);
        cJSON_AddStringToObject(s, "service_name", labels[i]);
        char desc[200];
        snprintf(desc, sizeof desc, "%s%s（便民服务站）", labels[i], urgent[i] ? "，紧急" : "");
        cJSON_AddStringToObject(s, "description", desc);
        cJSON_AddBoolToObject(s, "metadata", true);
        cJSON_AddStringToObject(s, "type", "realtime");
        cJSON_AddStringToObject(s, "keywords", names[i]);
        cJSON_AddStringToObject(s, "group", urgent[i] ? "urgent" : "service");
        cJSON_AddItemToArray(arr, s);
    }
    o311_json(resp, 200, arr);
}

static void add_attr(cJSON *attrs, const char *code, bool required, const char *desc, int order)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "variable", true);
    cJSON_AddStringToObject(a, "code", code);
    cJSON_AddStringToObject(a, "datatype", "string");
    cJSON_AddBoolToObject(a, "required", required);
    cJSON_AddStringToObject(a, "datatype_description", "");
    cJSON_AddNumberToObject(a, "order", order);
    cJSON_AddStringToObject(a, "description", desc);
    cJSON_AddItemToArray(attrs, a);
}

static void service_definition(gw_req_t *r, gw_resp_t *resp, const char *code)
{
    if (category_index(r->gw, code) < 0) {
        o311_error(resp, 404, "没有这个服务类别", "no service with that service_code");
        return;
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "service_code", code);
    cJSON *attrs = cJSON_AddArrayToObject(d, "attributes");
    add_attr(attrs, "building", false,
             "小区和楼栋（也可用 address_string）/ estate and building (or address_string)", 1);
    add_attr(attrs, "unit", false, "单元和房号，如 2-301 / unit and flat, e.g. 2-301", 2);
    add_attr(attrs, "photos", false,
             "照片：在 multipart 请求里以 media 文件字段上传 / photos: upload as multipart file "
             "fields named media",
             3);
    o311_json(resp, 200, d);
}

static const char *o311_status(const char *s)
{
    for (size_t i = 0; i < 3; i++) {
        if (s && strcmp(s, closed_states[i]) == 0)
            return "closed";
    }
    return "open";
}

/* The Open311 view of a `get` reply: nothing personal (no contact, no unit). */
static cJSON *o311_request(const cJSON *got)
{
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(got, "request");
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "status"));
    cJSON *o = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof id, "%.0f", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(req, "ticket")));
    cJSON_AddStringToObject(o, "service_request_id", id);
    cJSON_AddStringToObject(o, "status", o311_status(status));
    cJSON_AddStringToObject(o, "bianmin_status", status ? status : "?");
    /* status_notes: the latest note, reason or answer in the timeline */
    const char *notes = NULL;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(got, "events")) {
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive(ev, "detail");
        const char *keys[] = {"answer", "note", "reason"};
        for (size_t k = 0; k < 3; k++) {
            const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(detail, keys[k]));
            if (v)
                notes = v;
        }
    }
    bm_json_add_str(o, "status_notes", notes);
    bm_json_add_str(o, "service_name", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "category_label")));
    bm_json_add_str(o, "service_code", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "category")));
    bm_json_add_str(o, "description", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "text")));
    bm_json_add_str(o, "agency_responsible", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "department")));
    cJSON_AddNullToObject(o, "service_notice");
    bm_json_add_str(o, "requested_datetime", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "created_at")));
    bm_json_add_str(o, "updated_datetime", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "updated_at")));
    bm_json_add_str(o, "expected_datetime", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "deadline_at")));
    bm_json_add_str(o, "address", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "building")));
    cJSON_AddNullToObject(o, "address_id");
    cJSON_AddNullToObject(o, "zipcode");
    cJSON_AddNullToObject(o, "lat");
    cJSON_AddNullToObject(o, "long");
    cJSON_AddNullToObject(o, "media_url");
    return o;
}

/* Reads one request as the office; returns BM_RPC_OK with *out. */
static bm_rpc_result_t fetch(gw_req_t *r, long ticket, cJSON **out, bm_error_t *err)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "ticket", (double)ticket);
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_GET, "office", b, NULL, 0, out, err);
    cJSON_Delete(b);
    return rc;
}

static void one_request(gw_req_t *r, gw_resp_t *resp, const char *id)
{
    long ticket = 0;
    if (bm_parse_long(id, 1, 9007199254740991L, &ticket) != 0) {
        o311_error(resp, 404, "没有这个工单", "no request with that service_request_id");
        return;
    }
    cJSON *got = NULL;
    bm_error_t err = {0};
    bm_rpc_result_t rc = fetch(r, ticket, &got, &err);
    if (rc != BM_RPC_OK) {
        broker_error(resp, rc, &err);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, o311_request(got));
    cJSON_Delete(got);
    o311_json(resp, 200, arr);
}

/* Collects the tickets of one underlying status (limit rows from 0). */
static bm_rpc_result_t list_status(gw_req_t *r, const char *status, const char *code,
                                   const char *since, const char *until, long limit,
                                   cJSON *rows, long *total, bm_error_t *err)
{
    cJSON *b = cJSON_CreateObject();
    if (status)
        cJSON_AddStringToObject(b, "status", status);
    if (code)
        cJSON_AddStringToObject(b, "category", code);
    cJSON_AddStringToObject(b, "since", since);
    if (until)
        cJSON_AddStringToObject(b, "until", until);
    cJSON_AddNumberToObject(b, "limit", (double)(limit > BM_MAX_LIST ? BM_MAX_LIST : limit));
    cJSON *reply = NULL;
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_LIST, "office", b, NULL, 0, &reply, err);
    cJSON_Delete(b);
    if (rc != BM_RPC_OK)
        return rc;
    *total += (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "total"));
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(reply, "requests"))
        cJSON_AddItemToArray(rows, cJSON_Duplicate(it, true));
    cJSON_Delete(reply);
    return BM_RPC_OK;
}

static int by_created_desc(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const char *cx = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "created_at"));
    const char *cy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "created_at"));
    int c = strcmp(cy ? cy : "", cx ? cx : "");
    if (c)
        return c;
    double tx = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "ticket"));
    double ty = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(y, "ticket"));
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

static int date_arg(const char *v, char *iso, size_t len)
{
    int64_t ms = 0;
    if (!v)
        return 0;
    if (bm_time_parse_iso(v, &ms) != 0)
        return -1;
    bm_time_iso(ms, iso, len);
    return 1;
}

static void search(gw_req_t *r, gw_resp_t *resp)
{
    const char *ids = req_arg(r, "service_request_id");
    bm_error_t err = {0};
    if (ids) {
        cJSON *arr = cJSON_CreateArray();
        char copy[1024];
        if (bm_strlcpy(copy, ids, sizeof copy) != 0) {
            cJSON_Delete(arr);
            o311_error(resp, 400, "service_request_id 太长", "service_request_id is too long");
            return;
        }
        int count = 0;
        for (char *tok = copy, *next; tok; tok = next) {
            next = strchr(tok, ',');
            if (next)
                *next++ = '\0';
            long t = 0;
            if (bm_parse_long(tok, 1, 9007199254740991L, &t) != 0 || ++count > O311_MAX_PAGE_SIZE) {
                cJSON_Delete(arr);
                o311_error(resp, 400, "service_request_id 应为逗号分隔的编号（最多 100 个）",
                           "service_request_id must be comma separated ids (at most 100)");
                return;
            }
            cJSON *got = NULL;
            bm_rpc_result_t rc = fetch(r, t, &got, &err);
            if (rc == BM_RPC_OK) {
                cJSON_AddItemToArray(arr, o311_request(got));
                cJSON_Delete(got);
            } else if (rc != BM_RPC_ERROR || strcmp(err.code, BM_ERR_NOT_FOUND) != 0) {
                cJSON_Delete(arr);
                broker_error(resp, rc, &err);
                return;
            }
        }
        o311_json(resp, 200, arr);
        return;
    }
    const char *code = req_arg(r, "service_code"), *status = req_arg(r, "status");
    if (code && category_index(r->gw, code) < 0) {
        o311_error(resp, 400, "没有这个服务类别", "unknown service_code");
        return;
    }
    if (status && strcmp(status, "open") != 0 && strcmp(status, "closed") != 0 &&
        strcmp(status, "open,closed") != 0 && strcmp(status, "closed,open") != 0) {
        o311_error(resp, 400, "status 只能是 open 或 closed", "status must be open or closed");
        return;
    }
    char since[32], until[32];
    int hs = date_arg(req_arg(r, "start_date"), since, sizeof since);
    int hu = date_arg(req_arg(r, "end_date"), until, sizeof until);
    if (hs < 0 || hu < 0) {
        o311_error(resp, 400, "日期应为 ISO 8601（如 2026-11-01T00:00:00Z）",
                   "start_date and end_date must be ISO 8601 (e.g. 2026-11-01T00:00:00Z)");
        return;
    }
    if (!hs)
        bm_time_iso(bm_now_ms() - (int64_t)O311_DEFAULT_DAYS * 86400000, since, sizeof since);
    long page = 1, size = O311_DEFAULT_PAGE_SIZE;
    const char *pv = req_arg(r, "page"), *sv = req_arg(r, "page_size");
    if ((pv && bm_parse_long(pv, 1, 100000, &page) != 0) ||
        (sv && bm_parse_long(sv, 1, O311_MAX_PAGE_SIZE, &size) != 0)) {
        o311_error(resp, 400, "page 应为正整数，page_size 为 1-100", "page must be >= 1 and page_size 1-100");
        return;
    }
    long want = page * size, total = 0;
    if (want > BM_MAX_LIST) {
        o311_error(resp, 400, "翻页太深：请缩小日期范围", "paging too deep: narrow the date range");
        return;
    }
    cJSON *rows = cJSON_CreateArray();
    bm_rpc_result_t rc = BM_RPC_OK;
    bool one = status && strchr(status, ',') == NULL;
    if (!one) {
        rc = list_status(r, NULL, code, since, hu ? until : NULL, want, rows, &total, &err);
    } else {
        const char *const *set = strcmp(status, "open") == 0 ? open_states : closed_states;
        for (int i = 0; i < 3 && rc == BM_RPC_OK; i++)
            rc = list_status(r, set[i], code, since, hu ? until : NULL, want, rows, &total, &err);
    }
    if (rc != BM_RPC_OK) {
        cJSON_Delete(rows);
        broker_error(resp, rc, &err);
        return;
    }
    int n = cJSON_GetArraySize(rows);
    cJSON **v = calloc((size_t)n + 1, sizeof *v);
    cJSON *out = cJSON_CreateArray();
    for (int i = 0; v && i < n; i++)
        v[i] = cJSON_GetArrayItem(rows, i);
    if (v)
        qsort(v, (size_t)n, sizeof *v, by_created_desc);
    for (long i = (page - 1) * size; v && i < n && i < want; i++) {
        long t = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v[i], "ticket"));
        cJSON *got = NULL;
        if (fetch(r, t, &got, &err) == BM_RPC_OK) {
            cJSON_AddItemToArray(out, o311_request(got));
            cJSON_Delete(got);
        }
    }
    free(v);
    cJSON_Delete(rows);
    resp->total = total; /* paging extension: X-Total-Count, the body stays the spec's array */
    o311_json(resp, 200, out);
}

static const gw_api_key_t *api_key(gw_req_t *r, const char *key)
{
    if (!key || !key[0])
        return NULL;
    char hex[65];
    gw_sha256_hex(key, hex);
    for (int i = 0; i < r->cfg->n_api_keys; i++) {
        if (strcmp(r->cfg->api_keys[i].hash, hex) == 0)
            return &r->cfg->api_keys[i];
    }
    return NULL;
}

static void post_request(gw_req_t *r, gw_resp_t *resp)
{
    gw_form_t form = {0};
    int prc = r->content_type && strncmp(r->content_type, "multipart/form-data", 19) == 0
                  ? form_parse_multipart(r->body, r->body_len, r->content_type, &form)
                  : form_parse_urlencoded(r->body, r->body_len, &form);
    cJSON *b = NULL;
    if (prc != 0) {
        o311_error(resp, 400, "请求格式不对", "the request body could not be parsed");
        goto out;
    }
    const gw_api_key_t *k = api_key(r, form_get(&form, "api_key"));
    if (!k) {
        o311_error(resp, 403, "api_key 缺少或无效", "api_key is missing or not valid");
        goto out;
    }
    char rk[80];
    snprintf(rk, sizeof rk, "key:%.16s", k->hash);
    if (!gw_rate_take(r->gw, rk, r->cfg->key_rate, r->cfg->key_burst)) {
        o311_error(resp, 429, "这个 api_key 提交太频繁", "too many requests with this api_key: slow down");
        resp->retry_after = 1;
        goto out;
    }
    const char *code = form_get(&form, "service_code");
    if (!code || !code[0]) {
        o311_error(resp, 400, "缺少 service_code", "service_code is required");
        goto out;
    }
    if (category_index(r->gw, code) < 0) {
        o311_error(resp, 400, "没有这个服务类别", "unknown service_code");
        goto out;
    }
    const char *desc = form_get(&form, "description");
    const char *building = form_get(&form, "attribute[building]");
    if (!building || !building[0])
        building = form_get(&form, "address_string");
    if (!building || !building[0]) {
        o311_error(resp, 400, "缺少地址：address_string 或 attribute[building]（不支持只给经纬度）",
                   "an address is required: address_string or attribute[building] (lat/long alone "
                   "is not supported)");
        goto out;
    }
    if (!desc || !desc[0]) {
        o311_error(resp, 400, "缺少 description", "description is required");
        goto out;
    }
    const char *first = form_get(&form, "first_name"), *last = form_get(&form, "last_name");
    const char *phone = form_get(&form, "phone"), *email = form_get(&form, "email");
    gw_buf_t contact = {0};
    if (last && last[0])
        buf_puts(&contact, last);
    if (first && first[0])
        buf_puts(&contact, first);
    if (phone && phone[0])
        buf_printf(&contact, "%s%s", contact.len ? " " : "", phone);
    if (email && email[0])
        buf_printf(&contact, "%s%s", contact.len ? " " : "", email);
    if (!contact.len) {
        buf_free(&contact);
        o311_error(resp, 400, "至少要有一种联系方式：姓名、phone 或 email",
                   "a contact is required: a name, phone or email");
        goto out;
    }
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "channel", k->channel);
    cJSON_AddStringToObject(b, "category", code);
    cJSON_AddStringToObject(b, "building", building);
    const char *unit = form_get(&form, "attribute[unit]");
    if (unit && unit[0])
        cJSON_AddStringToObject(b, "unit", unit);
    cJSON_AddStringToObject(b, "contact", contact.data);
    buf_free(&contact);
    cJSON_AddStringToObject(b, "text", desc);
    const char *cb = form_get(&form, "callback"), *ref = form_get(&form, "ref");
    if (cb && cb[0])
        cJSON_AddStringToObject(b, "callback", cb);
    if (ref && ref[0])
        cJSON_AddStringToObject(b, "ref", ref);
    bm_frame_t photos[BM_MAX_ATTACH];
    size_t n = 0;
    cJSON *meta = cJSON_CreateArray();
    for (int i = 0; i < form.n; i++) {
        if (!form.f[i].filename || strcmp(form.f[i].name, "media") != 0 || form.f[i].len == 0)
            continue;
        if (n >= (size_t)r->cfg->max_uploads || form.f[i].len > r->cfg->max_upload) {
            cJSON_Delete(meta);
            o311_error(resp, 413, "照片太多或太大", "too many or too large photos (media)");
            goto out;
        }
        photos[n].data = form.f[i].value;
        photos[n].len = form.f[i].len;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "kind", "before");
        if (bm_utf8_valid(form.f[i].filename, strlen(form.f[i].filename)))
            cJSON_AddStringToObject(m, "name", form.f[i].filename);
        cJSON_AddItemToArray(meta, m);
        n++;
    }
    if (n)
        cJSON_AddItemToObject(b, "attachments", meta);
    else
        cJSON_Delete(meta);
    char act_as[64];
    snprintf(act_as, sizeof act_as, "channel:%s", k->channel);
    cJSON *reply = NULL;
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_SUBMIT, act_as, b, photos, n, &reply, &err);
    if (rc != BM_RPC_OK) {
        broker_error(resp, rc, &err);
        goto out;
    }
    cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof id, "%.0f", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reply, "ticket")));
    cJSON_AddStringToObject(o, "service_request_id", id);
    cJSON_AddStringToObject(o, "service_notice", "已受理，我们会尽快上门 / received: someone will come soon");
    cJSON_AddNullToObject(o, "account_id");
    cJSON_AddBoolToObject(o, "bianmin_duplicate",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "duplicate")));
    cJSON_AddItemToArray(arr, o);
    cJSON_Delete(reply);
    o311_json(resp, 201, arr);
out:
    cJSON_Delete(b);
    form_clear(&form);
}

void open311_handle(gw_req_t *r, gw_resp_t *resp)
{
    resp->ctype = "application/json; charset=utf-8";
    char path[256];
    if (bm_strlcpy(path, r->path + 12, sizeof path) != 0) {
        o311_error(resp, 404, "没有这个接口", "no such endpoint");
        return;
    }
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".xml") == 0) {
        o311_error(resp, 400, "只支持 JSON（请用 .json）", "only JSON is supported: use .json");
        return;
    }
    if (len > 5 && strcmp(path + len - 5, ".json") == 0)
        path[len - 5] = '\0';
    bool get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
    if (strcmp(path, "services") == 0 && get) {
        services(r, resp);
    } else if (strncmp(path, "services/", 9) == 0 && get) {
        service_definition(r, resp, path + 9);
    } else if (strcmp(path, "requests") == 0 && get) {
        search(r, resp);
    } else if (strcmp(path, "requests") == 0 && post) {
        post_request(r, resp);
    } else if (strncmp(path, "requests/", 9) == 0 && get) {
        one_request(r, resp, path + 9);
    } else if (strcmp(path, "services") == 0 || strcmp(path, "requests") == 0 ||
               strncmp(path, "services/", 9) == 0 || strncmp(path, "requests/", 9) == 0) {
        o311_error(resp, 405, "这个接口不支持这个方法", "method not allowed on this endpoint");
    } else {
        o311_error(resp, 404, "没有这个接口", "no such endpoint");
    }
}
