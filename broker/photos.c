/* photos.c - see photos.h. */
#include "photos.h"
#include "jsonx.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int photos_get(store_t *st, const bm_config_t *cfg, const cJSON *body, const char *channel,
               cJSON **reply, bm_error_t *err)
{
    int64_t ticket = 0;
    const char *sha = NULL;
    cJSON *got = NULL;
    unsigned char *data = NULL;
    char *b64 = NULL;
    FILE *f = NULL;
    int rc = -1;
    if (bm_json_int(body, "ticket", true, 1, INT64_C(9007199254740991), &ticket, err) ||
        bm_body_str(body, "sha256", true, 64, &sha, err))
        goto out;
    if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64) {
        bm_error_set(err, BM_ERR_INVALID, "sha256", "sha256 应为 64 个小写十六进制字符 / sha256 must be 64 "
                                                    "lower-case hex characters");
        goto out;
    }
    if (store_get(st, ticket, &got, err) != 0)
        goto out;
    const char *owner = cJSON_GetStringValue(bm_json_path(got, "request.channel"));
    if (channel && (!owner || strcmp(owner, channel) != 0)) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "ticket",
                     "这件工单不是本渠道提交的 / this request was not submitted by your channel");
        goto out;
    }
    const cJSON *a, *found = NULL;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(got, "attachments")) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "sha256")) ?
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "sha256")) : "", sha) == 0)
            found = a;
    }
    const char *rel = found ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(found, "path")) : NULL;
    if (!rel) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "sha256", "这件工单没有这张照片 / no such photo on this request");
        goto out;
    }
    char dir[1100], path[1400];
    bm_config_archive_dir(cfg, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    f = fopen(path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (!f || size < 0 || size > BM_MAX_PHOTO || fseek(f, 0, SEEK_SET) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "sha256", "照片文件读不了 / the photo file cannot be read");
        goto out;
    }
    data = malloc((size_t)size + 1);
    size_t b64len = ((size_t)size + 2) / 3 * 4 + 1;
    b64 = malloc(b64len);
    if (!data || !b64 || fread(data, 1, (size_t)size, f) != (size_t)size ||
        bm_base64_encode(data, (size_t)size, b64, b64len) < 0) {
        bm_error_set(err, BM_ERR_STORAGE, "sha256", "照片文件读不了 / the photo file cannot be read");
        goto out;
    }
    *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(*reply, "ticket", (double)ticket);
    cJSON_AddStringToObject(*reply, "sha256", sha);
    bm_json_add_str(*reply, "type", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(found, "type")));
    bm_json_add_str(*reply, "name", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(found, "name")));
    cJSON_AddNumberToObject(*reply, "size", (double)size);
    cJSON_AddStringToObject(*reply, "data", b64);
    rc = 0;
out:
    if (f)
        fclose(f);
    free(data);
    free(b64);
    cJSON_Delete(got);
    return rc;
}
