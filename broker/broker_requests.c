/* broker_requests.c - requests from channels and the office on the client
 * socket: submit (with the per-key submit limits), get, list, cancel, reopen,
 * escalate, resolve, rate, a request's photo, the departments and choices; the
 * lifecycle action they share with the volunteers' commands (run_act); and
 * the photos that come with a submit or a volunteer's report. */
#include "broker_int.h"
#include "archive.h"
#include "jsonx.h"
#include "log.h"
#include "photos.h"
#include "suggest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* ---- submit, get ---------------------------------------------------------- */

/* The name of this station's category that value names (its name or its
 * Chinese label, e.g. 管道疏通), or NULL with unknown_category, the closest
 * configured category if it is a likely typo, and the configured ones. */
static const char *station_category(const bm_config_t *cfg, const char *value, bm_error_t *err)
{
    const bm_category_t *c = bm_config_category_choice(cfg, value, "category", err);
    return c ? c->name : NULL;
}

/* Per-key submit limits: a token bucket of submit_per_min (refilled
 * continuously, as large as a minute) and submit_per_day per UTC day.
 * Returns 0, or -1 with rate_limited / quota_exceeded and retry_after_ms. */
static int submit_allowed(broker_t *b, bm_error_t *err, int64_t *retry_ms)
{
    reg_key_t *k = b->caller.key;
    if (!k)
        return 0;
    int64_t now = bm_now_ms();
    int64_t day = now / 86400000;
    if (k->day != day) {
        k->day = day;
        k->day_submits = 0;
        k->day_photos = 0;
    }
    if (b->cfg.submit_per_day > 0 && k->day_submits >= b->cfg.submit_per_day) {
        *retry_ms = (day + 1) * 86400000 - now;
        bm_error_set(err, BM_ERR_QUOTA, NULL,
                     "这把钥匙今天已提交 %d 件，达到每日上限；请明天再试 / this key has submitted %d "
                     "requests today, its daily quota; retry after midnight UTC",
                     k->day_submits, k->day_submits);
        return -1;
    }
    if (b->cfg.submit_per_min > 0) {
        double cap = b->cfg.submit_per_min, per_ms = cap / 60000.0;
        if (k->refill_ms == 0) {
            k->tokens = cap;
        } else {
            k->tokens += (double)(now - k->refill_ms) * per_ms;
            if (k->tokens > cap)
                k->tokens = cap;
        }
        k->refill_ms = now;
        if (k->tokens < 1.0) {
            *retry_ms = (int64_t)((1.0 - k->tokens) / per_ms) + 1;
            bm_error_set(err, BM_ERR_RATE_LIMITED, NULL,
                         "提交太频繁（每分钟最多 %d 件），请 %lld 毫秒后再试 / too many submits from "
                         "this key (at most %d a minute); retry in %lld ms",
                         b->cfg.submit_per_min, (long long)*retry_ms, b->cfg.submit_per_min,
                         (long long)*retry_ms);
            return -1;
        }
        k->tokens -= 1.0;
    }
    k->day_submits++;
    return 0;
}

static bool url_ok(const char *url)
{
    const char *rest = NULL;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    if (!rest || !*rest || *rest == '/' || *rest == ':')
        return false;
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    }
    return true;
}

/* Writes {"ticket":N,"status":"open","duplicate":false} into buf. */
static void submit_answer(char buf[OUT_TEXT_MAX], int64_t ticket)
{
    static const char head[] = "{\"ticket\":";
    static const char tail[] = ",\"status\":\"open\",\"duplicate\":false}";
    char digits[24];
    size_t n = 0;
    uint64_t v = ticket > 0 ? (uint64_t)ticket : 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char *p = buf;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    while (n > 0)
        *p++ = digits[--n];
    memcpy(p, tail, sizeof tail); /* with its NUL */
    _Static_assert(sizeof head - 1 + 20 + sizeof tail <= OUT_TEXT_MAX, "room for any ticket");
}

void cmd_submit(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    store_submit_t in = {0};
    const cJSON *body = msg->body;
    int64_t retry_ms = 0;
    if (acting_channel(b, body, true, &in.channel, &err) ||
        bm_body_str(body, "category", true, 64, &in.category, &err) ||
        bm_body_str(body, "building", true, BM_MAX_BUILDING, &in.building, &err) ||
        bm_body_str(body, "unit", false, BM_MAX_UNIT, &in.unit, &err) ||
        bm_body_str(body, "contact", true, BM_MAX_CONTACT, &in.contact, &err) ||
        bm_body_str(body, "text", true, BM_MAX_TEXT, &in.text, &err) ||
        bm_body_str(body, "callback", false, BM_MAX_URL, &in.callback, &err) ||
        bm_body_str(body, "ref", false, BM_MAX_REF, &in.ref, &err))
        goto fail;
    if (!(in.category = station_category(&b->cfg, in.category, &err)))
        goto fail;
    if (in.callback && !url_ok(in.callback)) {
        bm_error_set(&err, BM_ERR_INVALID, "callback",
                     "回调地址应为带主机名的 http:// 或 https:// 网址 / callback must be an http:// or https:// URL with a host");
        goto fail;
    }
    if (in.callback && !bm_config_callback_secret(&b->cfg, in.channel)[0]) {
        bm_error_set(&err, BM_ERR_INVALID, "callback",
                     "服务站没有配置 callback_secret（或渠道 \"%s\" 的 channel_secrets），不能给回调签名 / "
                     "this broker has no callback_secret (or channel_secrets entry for \"%s\") "
                     "configured, so it cannot sign callbacks", in.channel, in.channel);
        goto fail;
    }
    if (submit_allowed(b, &err, &retry_ms) != 0)
        goto fail;
    store_attach_t attach[BM_MAX_ATTACH];
    bm_blob_t blobs[BM_MAX_ATTACH];
    if (msg->n_attach > 0 && accept_photos(b, msg, attach, blobs, &err) != 0)
        goto fail;
    in.attach = attach;
    in.n_attach = msg->n_attach;
    int64_t ticket = 0;
    bool dup = false;
    if (store_submit(b->store, &in, bm_now_ms(), &ticket, &dup, &err) != 0)
        goto fail;
    b->pass_submits++;
    if (!dup) {
        log_info("收到工单 / ticket %lld received from %s (%s)", (long long)ticket, in.channel, in.category);
        b->dispatch_dirty = true;
        /* The common answer, written as text: building, printing and
         * freeing a cJSON object for it (or even snprintf) cost more than
         * the rest of the reply path. */
        char text[OUT_TEXT_MAX];
        submit_answer(text, ticket);
        reply_ok_text(b, SOCK_CLIENT, env, msg, text, true);
        return;
    }
    /* A repeated ref: the existing request, with its real current status. */
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "ticket", (double)ticket);
    cJSON_AddStringToObject(reply, "status", "open");
    cJSON_AddBoolToObject(reply, "duplicate", dup);
    cJSON *full = NULL;
    bm_error_t gerr = {0};
    if (dup && store_get(b->store, ticket, &full, &gerr) == 0) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(full, "request"),
                                                           "status");
        if (cJSON_IsString(st))
            cJSON_ReplaceItemInObjectCaseSensitive(reply, "status", cJSON_CreateString(st->valuestring));
    }
    cJSON_Delete(full);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    if (retry_ms > 0) {
        cJSON *e = bm_error_json(&err);
        cJSON_AddNumberToObject(e, "retry_after_ms", (double)retry_ms);
        queue_msg(b, SOCK_CLIENT, env, BM_REPLY_ERROR, msg->cid, msg->cid_len, e, false);
        return;
    }
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

int get_ticket(const cJSON *body, int64_t *ticket, bm_error_t *err)
{
    return bm_json_int(body, "ticket", true, 1, INT64_C(9007199254740991), ticket, err);
}

void cmd_get(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    cJSON *out = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 || store_get(b->store, ticket, &out, &err) != 0) {
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    /* A channel sees only what it submitted (with the resident's contact). */
    const char *owner = cJSON_GetStringValue(bm_json_path(out, "request.channel"));
    if ((b->caller.kind & ROLE_CHANNEL) && (!owner || strcmp(owner, b->caller.principal) != 0)) {
        cJSON_Delete(out);
        bm_error_set(&err, BM_ERR_FORBIDDEN, "ticket",
                     "这件工单不是本渠道提交的 / this request was not submitted by your channel");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
}

/* ---- lifecycle actions (shared with the volunteers' commands) ------------ */

/* Runs a lifecycle action and queues its reply; the after-commit effects
 * (taken / revoked notices, a new dispatch) are noted here. */
void run_act(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                    int64_t ticket, const store_act_t *a)
{
    bm_error_t err = {0};
    cJSON *result = NULL;
    char prev[BM_MAX_VOL_ID + 1] = "";
    if (store_act(b->store, ticket, a, bm_now_ms(), &result, prev, sizeof prev, &err) != 0) {
        reply_err(b, sock, env, msg, &err);
        return;
    }
    log_info("工单 / ticket %lld: %s by %s%s", (long long)ticket, bm_action_name(a->act),
             a->volunteer ? "volunteer " : "channel ", a->volunteer ? a->volunteer : a->channel);
    switch (a->act) {
    case BM_ACT_CLAIM:
    case BM_ACT_ESCALATE:
    case BM_ACT_CANCEL:
        note_change(b, ticket, a->volunteer, false, NULL); /* off the market */
        if (prev[0] && (!a->volunteer || strcmp(prev, a->volunteer) != 0)) {
            change_t *c = note_change(b, ticket, prev, true, bm_action_event(a->act));
            if (c && !a->volunteer && a->text) /* the office's words go to the holder */
                bm_strlcpy(c->note, a->text, sizeof c->note);
        }
        break;
    default:
        break;
    }
    b->dispatch_dirty = true;
    reply_ok(b, sock, env, msg, result, true);
}

/* ---- photos that come with a message ------------------------------------- */

/* Checks every photo of a progress/done message, then stores them in the
 * archive (durably, before the commit that refers to them). Nothing is
 * stored unless all of them pass. */
int photo_quota(broker_t *b, int64_t ticket, const bm_msg_t *msg, bm_error_t *err)
{
    int n = (int)msg->n_attach;
    int have = store_photo_count(b->store, ticket);
    if (b->cfg.photos_per_request > 0 && have >= 0 && have + n > b->cfg.photos_per_request) {
        bm_error_set(err, BM_ERR_TOO_LARGE, "attachments",
                     "这件工单已有 %d 张照片，每件最多 %d 张 / this request has %d photos already; the "
                     "limit is %d a request",
                     have, b->cfg.photos_per_request, have, b->cfg.photos_per_request);
        return -1;
    }
    reg_key_t *k = b->caller.key;
    int64_t day = bm_now_ms() / 86400000;
    if (k && k->day != day) {
        k->day = day;
        k->day_submits = 0;
        k->day_photos = 0;
    }
    if (k && b->cfg.photos_per_volunteer_day > 0 && k->day_photos + n > b->cfg.photos_per_volunteer_day) {
        bm_error_set(err, BM_ERR_QUOTA, "attachments",
                     "你今天已发 %d 张照片，每天最多 %d 张 / you have sent %d photos today; the limit is "
                     "%d a day",
                     k->day_photos, b->cfg.photos_per_volunteer_day, k->day_photos,
                     b->cfg.photos_per_volunteer_day);
        return -1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < msg->n_attach; i++)
        bytes += msg->attach[i].len;
    char dir[1100];
    bm_config_archive_dir(&b->cfg, dir, sizeof dir);
    struct statvfs vs;
    /* The archive folder may not exist before the first photo: then measure
     * where the database is, on the same disk in the default layout. */
    if (statvfs(dir, &vs) == 0 || statvfs(b->cfg.database, &vs) == 0) {
        uint64_t avail = (uint64_t)vs.f_bavail * vs.f_frsize;
        uint64_t need = (uint64_t)b->cfg.disk_reserve_mb * 1024 * 1024 + bytes;
        if (avail < need) {
            bm_error_set(err, BM_ERR_NO_SPACE, "attachments",
                         "服务站存储空间不足，暂时不收照片（文字仍可提交）/ the station is low on disk "
                         "space: photos are refused for now (send the note without them)");
            log_error("磁盘只剩 %llu MiB，低于保留的 %d MiB，拒收照片 / only %llu MiB free, below the "
                      "reserve of %d MiB: photos refused",
                      (unsigned long long)(avail >> 20), b->cfg.disk_reserve_mb,
                      (unsigned long long)(avail >> 20), b->cfg.disk_reserve_mb);
            return -1;
        }
    }
    return 0;
}

int accept_photos(broker_t *b, const bm_msg_t *msg, store_attach_t *attach,
                         bm_blob_t *blobs, bm_error_t *err)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(msg->body, "attachments");
    if (meta && (!cJSON_IsArray(meta) || (size_t)cJSON_GetArraySize(meta) != msg->n_attach)) {
        bm_error_set(err, BM_ERR_INVALID, "attachments",
                     "\"attachments\" 应按顺序说明全部 %zu 张照片 / \"attachments\" must describe each of "
                     "the %zu photo frames, in order",
                     msg->n_attach, msg->n_attach);
        return -1;
    }
    for (size_t i = 0; i < msg->n_attach; i++) {
        const cJSON *m = meta ? cJSON_GetArrayItem(meta, (int)i) : NULL;
        const char *kind = NULL, *name = NULL;
        if ((m && !cJSON_IsObject(m)) || bm_body_str(m, "kind", false, 16, &kind, err) ||
            bm_body_str(m, "name", false, 200, &name, err)) {
            if (!err->code)
                bm_error_set(err, BM_ERR_INVALID, "attachments", "每个附件说明应为一个对象 / each attachment is an object");
            return -1;
        }
        if (kind && strcmp(kind, "before") != 0 && strcmp(kind, "after") != 0 &&
            strcmp(kind, "other") != 0) {
            bm_error_set(err, BM_ERR_INVALID, "attachments", "kind 应为 before（修前）、after（修后）或 other（其他） / kind is before, after or other");
            return -1;
        }
        if (bm_archive_check(msg->attach[i].data, msg->attach[i].len, &blobs[i], err) != 0)
            return -1;
        attach[i] = (store_attach_t){.sha256 = blobs[i].sha256, .mime = blobs[i].mime,
                                     .kind = kind ? kind : "other", .name = name,
                                     .size = blobs[i].size};
    }
    char dir[1100];
    bm_config_archive_dir(&b->cfg, dir, sizeof dir);
    for (size_t i = 0; i < msg->n_attach; i++) {
        if (bm_archive_put(dir, msg->attach[i].data, msg->attach[i].len, &blobs[i], err) != 0)
            return -1;
    }
    return 0;
}

/* ---- rate, cancel, reopen, escalate, resolve, list ----------------------- */

void cmd_rate(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0, score = 0;
    const char *channel = NULL, *comment = NULL;
    if (get_ticket(msg->body, &ticket, &err) || acting_channel(b, msg->body, false, &channel, &err) ||
        bm_json_int(msg->body, "score", true, 1, 5, &score, &err) ||
        bm_body_str(msg->body, "comment", false, BM_MAX_COMMENT, &comment, &err))
        goto fail;
    if (store_rate(b->store, ticket, channel, (int)score, comment, bm_now_ms(), &err) != 0)
        goto fail;
    log_info("工单已评价 / ticket %lld rated %lld by %s", (long long)ticket, (long long)score, channel);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "ticket", (double)ticket);
    cJSON_AddNumberToObject(reply, "rating", (double)score);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* cancel, reopen, escalate and resolve from a channel (client socket). */
static void channel_act(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg,
                        bm_action_t act, const char *text_key, bool text_required)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    const char *channel = NULL, *text = NULL, *department = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 ||
        acting_channel(b, msg->body, false, &channel, &err) != 0 ||
        bm_body_str(msg->body, text_key, text_required, BM_MAX_NOTE, &text, &err) != 0 ||
        (act == BM_ACT_ESCALATE &&
         (bm_body_str(msg->body, "department", true, BM_MAX_DEPARTMENT, &department, &err) != 0 ||
          bm_config_check_department(&b->cfg, department, &err) != 0)))
        goto fail;
    store_act_t a = {.act = act, .channel = channel, .text = text, .department = department};
    run_act(b, SOCK_CLIENT, env, msg, ticket, &a);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

void cmd_cancel(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_CANCEL, "reason", false);
}

void cmd_reopen(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_REOPEN, "reason", true);
}

void cmd_escalate(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_ESCALATE, "reason", true);
}

void cmd_resolve(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    channel_act(b, env, msg, BM_ACT_RESOLVE, "answer", true);
}

void cmd_list(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    store_filter_t f = {.limit = 50};
    int64_t limit = 50, offset = 0;
    const char *since = NULL, *until = NULL;
    const cJSON *overdue = cJSON_GetObjectItemCaseSensitive(msg->body, "overdue");
    cJSON *out = NULL;
    if (bm_body_str(msg->body, "status", false, 32, &f.status, &err) ||
        bm_body_str(msg->body, "category", false, 64, &f.category, &err) ||
        bm_body_str(msg->body, "channel", false, 64, &f.channel, &err) ||
        bm_body_str(msg->body, "building", false, BM_MAX_BUILDING, &f.building, &err) ||
        bm_body_str(msg->body, "volunteer", false, BM_MAX_VOL_ID, &f.volunteer, &err) ||
        bm_body_str(msg->body, "since", false, 40, &since, &err) ||
        bm_body_str(msg->body, "until", false, 40, &until, &err) ||
        bm_json_int(msg->body, "limit", false, 1, BM_MAX_LIST, &limit, &err) ||
        bm_json_int(msg->body, "offset", false, 0, INT32_MAX, &offset, &err))
        goto fail;
    /* An unknown category matches nothing: say so rather than "none match". */
    if (f.category && !(f.category = station_category(&b->cfg, f.category, &err)))
        goto fail;
    if (overdue && !cJSON_IsBool(overdue)) {
        bm_error_set(&err, BM_ERR_INVALID, "overdue", "\"overdue\" 应为 true 或 false / \"overdue\" must be true or false");
        goto fail;
    }
    if ((since && bm_time_parse_iso(since, &f.since) != 0) ||
        (until && bm_time_parse_iso(until, &f.until) != 0)) {
        bm_error_set(&err, BM_ERR_INVALID, since && bm_time_parse_iso(since, &f.since) ? "since" : "until",
                     "日期应为 UTC 的 ISO 8601 格式，例如 2026-11-01 或 2026-11-01T08:00:00Z / dates are ISO 8601 in UTC, e.g. 2026-11-01 or 2026-11-01T08:00:00Z");
        goto fail;
    }
    if (b->caller.kind & ROLE_CHANNEL) {
        /* A channel lists only its own requests. */
        if (f.channel && strcmp(f.channel, b->caller.principal) != 0) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "channel",
                         "只能查看本渠道的工单 / a channel may list only its own requests");
            goto fail;
        }
        f.channel = b->caller.principal;
    }
    f.overdue = cJSON_IsTrue(overdue);
    f.limit = (int)limit;
    f.offset = (int)offset;
    if (store_list(b->store, &f, &out, &err) != 0)
        goto fail;
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* The configured departments requests can be escalated to. */
void cmd_departments(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    reply_ok(b, SOCK_CLIENT, env, msg, bm_config_departments_json(&b->cfg), false);
}

/* The station's configured categories (name, Chinese label, urgent),
 * channels and departments, so that a client checks what a person types
 * against what this broker accepts rather than against built-in defaults. */
void cmd_choices(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    cJSON *reply = bm_config_departments_json(&b->cfg);
    cJSON *cats = cJSON_AddArrayToObject(reply, "categories");
    for (int i = 0; cats && i < b->cfg.category_count; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", b->cfg.categories[i].name);
        cJSON_AddStringToObject(c, "label", b->cfg.categories[i].label);
        cJSON_AddBoolToObject(c, "urgent", b->cfg.categories[i].urgent);
        cJSON_AddItemToArray(cats, c);
    }
    cJSON *chans = cJSON_AddArrayToObject(reply, "channels");
    for (int i = 0; chans && i < b->cfg.channel_count; i++)
        cJSON_AddItemToArray(chans, cJSON_CreateString(b->cfg.channels[i]));
    reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

/* One photo of a request, base64 (for the gateway's pages); a channel only
 * of its own requests. */
void cmd_photo(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    cJSON *reply = NULL;
    const char *channel = (b->caller.kind & ROLE_CHANNEL) ? b->caller.principal : NULL;
    if (photos_get(b->store, &b->cfg, msg->body, channel, &reply, &err) != 0)
        reply_err(b, SOCK_CLIENT, env, msg, &err);
    else
        reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}
