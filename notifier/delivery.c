/* delivery.c - see delivery.h. */
#include "delivery.h"
#include "jsonx.h"
#include "util.h"
#include "webhook.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* True if s is non-empty printable ASCII without spaces: safe to put in a
 * header line or hand to curl as a URL. */
static bool header_safe(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    }
    return true;
}

int nt_delivery_parse(const cJSON *obj, nt_delivery_t *d, bm_error_t *err)
{
    memset(d, 0, sizeof *d);
    if (!cJSON_IsObject(obj)) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "投递应为一个 JSON 对象 / a delivery must be a JSON object");
        return -1;
    }
    if (bm_json_int(obj, "id", true, 1, INT64_MAX, &d->id, err) != 0) {
        d->id = 0;
        return -1;
    }
    if (bm_json_str(obj, "msg_id", true, NT_MAX_MSG_ID, &d->msg_id, err) != 0 ||
        bm_json_str(obj, "url", true, BM_MAX_URL, &d->url, err) != 0 ||
        bm_json_str(obj, "type", false, 64, &d->type, err) != 0 ||
        bm_json_str(obj, "body", true, BM_MAX_BODY, &d->body, err) != 0 ||
        bm_json_int(obj, "attempt", false, 0, INT32_MAX, &d->attempt, err) != 0)
        return -1;
    if (!header_safe(d->msg_id)) {
        bm_error_set(err, BM_ERR_INVALID, "msg_id",
                     "字段 \"msg_id\" 应为不含空格的可打印 ASCII / field \"msg_id\" must be printable ASCII without spaces");
        return -1;
    }
    if (!header_safe(d->url)) {
        bm_error_set(err, BM_ERR_INVALID, "url",
                     "字段 \"url\" 应为不含空格的可打印 ASCII / field \"url\" must be printable ASCII without spaces");
        return -1;
    }
    d->body_len = strlen(d->body);

    const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(obj, "secrets");
    int n = cJSON_IsArray(secrets) ? cJSON_GetArraySize(secrets) : -1;
    if (n < 1 || n > NT_MAX_SECRETS) {
        bm_error_set(err, BM_ERR_INVALID, "secrets",
                     "字段 \"secrets\" 应为 1 到 %d 个签名密钥的数组 / field \"secrets\" must be an array of 1 "
                     "to %d signing secrets",
                     NT_MAX_SECRETS, NT_MAX_SECRETS);
        return -1;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, secrets) {
        if (!cJSON_IsString(s)) {
            bm_error_set(err, BM_ERR_INVALID, "secrets",
                         "字段 \"secrets\" 只能有文字 / field \"secrets\" must hold strings only");
            return -1;
        }
        d->secrets[d->secret_count++] = s->valuestring;
    }
    return 0;
}

int nt_signature_header(const char *const *secrets, size_t n, const char *msg_id,
                        int64_t timestamp, const char *body, size_t body_len, char *out,
                        size_t outlen)
{
    if (n == 0 || outlen == 0)
        return -1;
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char sig[BM_SIG_LEN];
        if (bm_webhook_sign(secrets[i], msg_id, timestamp, body, body_len, sig, sizeof sig) != 0)
            return -1;
        int w = snprintf(out + used, outlen - used, "%s%s", i ? " " : "", sig);
        if (w < 0 || (size_t)w >= outlen - used)
            return -1;
        used += (size_t)w;
    }
    return 0;
}

/* Appends one header; frees the list and returns NULL if out of memory. */
static struct curl_slist *append(struct curl_slist *list, const char *line)
{
    struct curl_slist *next = curl_slist_append(list, line);
    if (!next)
        curl_slist_free_all(list);
    return next;
}

struct curl_slist *nt_build_headers(const nt_delivery_t *d, int64_t timestamp, bm_error_t *err)
{
    char sig[NT_MAX_SECRETS * BM_SIG_LEN];
    if (nt_signature_header(d->secrets, d->secret_count, d->msg_id, timestamp, d->body,
                            d->body_len, sig, sizeof sig) != 0) {
        bm_error_set(err, BM_ERR_INVALID, "secrets", "签名密钥不是有效的 whsec_ 密钥 / a signing secret is not a valid whsec_ secret");
        return NULL;
    }
    char line[32 + NT_MAX_SECRETS * BM_SIG_LEN];
    struct curl_slist *h = NULL;
    h = append(h, "Content-Type: application/json");
    if (h)
        h = append(h, "User-Agent: " NT_USER_AGENT);
    /* No "Expect: 100-continue": a receiver that ignores it would cost a
     * second per attempt. */
    if (h)
        h = append(h, "Expect:");
    if (h) {
        snprintf(line, sizeof line, "webhook-id: %s", d->msg_id);
        h = append(h, line);
    }
    if (h) {
        snprintf(line, sizeof line, "webhook-timestamp: %lld", (long long)timestamp);
        h = append(h, line);
    }
    if (h) {
        snprintf(line, sizeof line, "webhook-signature: %s", sig);
        h = append(h, line);
    }
    if (!h)
        bm_error_set(err, BM_ERR_INVALID, NULL, "内存不足，无法生成请求头 / out of memory building headers");
    return h;
}

int nt_retry_after_parse(const char *value, size_t len, time_t now, long *secs)
{
    while (len > 0 && isspace((unsigned char)*value)) {
        value++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, value, len);
    buf[len] = '\0';

    bool digits = true;
    for (size_t i = 0; i < len; i++)
        digits = digits && isdigit((unsigned char)buf[i]);
    if (digits) {
        long v;
        /* More digits than a long holds is still "a long time". */
        if (bm_parse_long(buf, 0, NT_RETRY_AFTER_MAX_S, &v) != 0)
            v = NT_RETRY_AFTER_MAX_S;
        *secs = v;
        return 0;
    }
    /* An HTTP-date names a day of the week first; curl_getdate alone would
     * also take things like "5 minutes". */
    if (!isalpha((unsigned char)buf[0]))
        return -1;
    time_t when = curl_getdate(buf, &now);
    if (when == (time_t)-1)
        return -1;
    long long delta = (long long)when - (long long)now;
    if (delta < 0)
        delta = 0;
    if (delta > NT_RETRY_AFTER_MAX_S)
        delta = NT_RETRY_AFTER_MAX_S;
    *secs = (long)delta;
    return 0;
}

int nt_header_retry_after(const char *line, size_t len, time_t now, long *secs)
{
    static const char name[] = "retry-after:";
    size_t nlen = sizeof name - 1;
    if (len < nlen || strncasecmp(line, name, nlen) != 0)
        return 0;
    return nt_retry_after_parse(line + nlen, len - nlen, now, secs) == 0 ? 1 : 0;
}

void nt_result_fail(nt_result_t *r, int64_t id, const char *fmt, ...)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    r->retry_after_s = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    bm_utf8_cut(r->error);
}

/* Formats r->error, never leaving a character cut in two. */
static void set_error(nt_result_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(nt_result_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    bm_utf8_cut(r->error);
}

void nt_result_classify(nt_result_t *r, const nt_outcome_t *o)
{
    r->status = o->status > 0 ? o->status : 0;
    r->gone = r->status == 410;
    r->ok = false;
    r->error[0] = '\0';
    const char *detail = o->errbuf && *o->errbuf ? o->errbuf : NULL;

    if (o->code == CURLE_OK) {
        if (r->status >= 200 && r->status <= 299)
            r->ok = true;
        else if (r->status >= 300 && r->status <= 399)
            set_error(r, "HTTP %ld（不跟随重定向） / HTTP %ld (redirects are not followed)",
                      r->status, r->status);
        else if (r->status == 0)
            set_error(r, "回复里没有 HTTP 状态码 / no HTTP status in the response");
        else
            set_error(r, "HTTP %ld", r->status); /* a code, the same in both languages */
        return;
    }
    switch (o->code) {
    case CURLE_OPERATION_TIMEDOUT:
        if (o->connected)
            set_error(r, "超时：%ld 毫秒内没有完成 / timeout after %ld ms", o->timeout_ms,
                      o->timeout_ms);
        else {
            long ms = o->connect_timeout_ms < o->timeout_ms ? o->connect_timeout_ms
                                                            : o->timeout_ms;
            set_error(r, "连接超时：%ld 毫秒内没有连上 / connect timeout after %ld ms", ms, ms);
        }
        break;
    case CURLE_COULDNT_CONNECT:
        if (o->os_errno == ECONNREFUSED)
            set_error(r, "连接被拒绝 / connection refused");
        else if (o->os_errno != 0)
            set_error(r, "连不上 / cannot connect: %s", strerror((int)o->os_errno));
        else
            set_error(r, "连不上 / cannot connect%s%s", detail ? ": " : "", detail ? detail : "");
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        set_error(r, "找不到主机 / %s", detail ? detail : "cannot resolve host");
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        set_error(r, "不支持的网址类型（只支持 http 和 https） / unsupported URL scheme (only http "
                     "and https)");
        break;
    case CURLE_URL_MALFORMAT:
        set_error(r, "网址格式不对 / malformed URL");
        break;
    default:
        set_error(r, "发送失败 / %s", detail ? detail : curl_easy_strerror(o->code));
        break;
    }
}

cJSON *nt_result_json(const nt_result_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddBoolToObject(o, "ok", r->ok);
    if (r->status > 0)
        cJSON_AddNumberToObject(o, "status", (double)r->status);
    else
        cJSON_AddNullToObject(o, "status");
    cJSON_AddNumberToObject(o, "latency_ms", (double)r->latency_ms);
    if (!r->ok)
        cJSON_AddStringToObject(o, "error", r->error[0] ? r->error : "发送失败 / failed");
    if (r->retry_after_s >= 0)
        cJSON_AddNumberToObject(o, "retry_after_s", (double)r->retry_after_s);
    cJSON_AddBoolToObject(o, "gone", r->gone);
    if (r->permanent)
        cJSON_AddBoolToObject(o, "permanent", true);
    return o;
}
