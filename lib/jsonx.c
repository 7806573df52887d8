/* jsonx.c - see jsonx.h. */
#include "jsonx.h"
#include "util.h"

#include <math.h>
#include <string.h>

static int json_str(const cJSON *obj, const char *key, bool required, size_t max, bool check_utf8,
                    const char **out, bm_error_t *err)
{
    *out = NULL;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item || cJSON_IsNull(item)) {
        if (required) {
            bm_error_set(err, BM_ERR_INVALID, key, "缺少字段 \"%s\" / field \"%s\" is required", key, key);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(item)) {
        bm_error_set(err, BM_ERR_INVALID, key, "字段 \"%s\" 应为文字 / field \"%s\" must be a string", key, key);
        return -1;
    }
    size_t len = strlen(item->valuestring);
    if (len > max) {
        bm_error_set(err, BM_ERR_TOO_LARGE, key,
                     "字段 \"%s\" 有 %zu 字节，上限为 %zu 字节（约%zu个汉字） / field \"%s\" is %zu bytes; the limit is %zu bytes",
                     key, len, max, max / 3, key, len, max);
        return -1;
    }
    if (check_utf8 && !bm_utf8_valid(item->valuestring, len)) {
        bm_error_set(err, BM_ERR_INVALID, key, "字段 \"%s\" 含有无法识别的字符（不是有效的 UTF-8） / field \"%s\" is not valid UTF-8", key, key);
        return -1;
    }
    if (required && bm_blank(item->valuestring)) {
        bm_error_set(err, BM_ERR_INVALID, key, "字段 \"%s\" 不能为空 / field \"%s\" must not be empty", key, key);
        return -1;
    }
    *out = item->valuestring;
    return 0;
}

int bm_json_str(const cJSON *obj, const char *key, bool required, size_t max, const char **out,
                bm_error_t *err)
{
    return json_str(obj, key, required, max, true, out, err);
}

int bm_body_str(const cJSON *obj, const char *key, bool required, size_t max, const char **out,
                bm_error_t *err)
{
    return json_str(obj, key, required, max, false, out, err);
}

int bm_json_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
                int64_t *out, bm_error_t *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item || cJSON_IsNull(item)) {
        if (required) {
            bm_error_set(err, BM_ERR_INVALID, key, "缺少字段 \"%s\" / field \"%s\" is required", key, key);
            return -1;
        }
        return 0;
    }
    double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    /* Range-check as a double before converting: 2^63 and beyond do not fit. */
    if (!cJSON_IsNumber(item) || v != floor(v) || v < -0x1p63 || v >= 0x1p63 ||
        (int64_t)v < min || (int64_t)v > max) {
        bm_error_set(err, BM_ERR_INVALID, key, "字段 \"%s\" 应为 %lld 到 %lld 之间的整数 / field \"%s\" must be an integer from %lld to %lld",
                     key, (long long)min, (long long)max, key, (long long)min, (long long)max);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

const cJSON *bm_json_path(const cJSON *obj, const char *path)
{
    char key[64];
    const char *p = path;
    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        p = dot ? dot + 1 : p + n;
    }
    return obj;
}

void bm_json_add_str(cJSON *obj, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(obj, key, s);
    else
        cJSON_AddNullToObject(obj, key);
}

void bm_json_add_time(cJSON *obj, const char *key, int64_t ms)
{
    char buf[32];
    if (ms)
        cJSON_AddStringToObject(obj, key, bm_time_iso(ms, buf, sizeof buf));
    else
        cJSON_AddNullToObject(obj, key);
}
