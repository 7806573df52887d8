/* config.c - bianmin-gateway's settings: named defaults, the JSON config
 * file (docs/gateway.md lists every key), and the session secret file. */
#include "gwconfig.h"
#include "jsonx.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void gw_config_defaults(gw_config_t *c)
{
    memset(c, 0, sizeof *c);
    bm_strlcpy(c->listen, GW_DEFAULT_LISTEN, sizeof c->listen);
    bm_strlcpy(c->secret_file, "var/gateway.secret", sizeof c->secret_file);
    c->max_body = GW_DEFAULT_MAX_BODY;
    c->max_upload = GW_DEFAULT_MAX_UPLOAD;
    c->max_uploads = GW_DEFAULT_MAX_UPLOADS;
    c->connections = GW_DEFAULT_CONNECTIONS;
    c->per_ip_conns = GW_DEFAULT_PER_IP_CONNS;
    c->timeout_s = GW_DEFAULT_TIMEOUT_S;
    c->addr_rate = GW_DEFAULT_ADDR_RATE;
    c->addr_burst = GW_DEFAULT_ADDR_BURST;
    c->key_rate = GW_DEFAULT_KEY_RATE;
    c->key_burst = GW_DEFAULT_KEY_BURST;
    c->session_s = GW_DEFAULT_SESSION_S;
    c->broker_ms = GW_DEFAULT_BROKER_MS;
    static const char *const depts[] = {"water_company", "power_company", "housing_bureau",
                                        "street_office"};
    for (size_t i = 0; i < sizeof depts / sizeof depts[0]; i++)
        bm_strlcpy(c->departments[c->n_departments++], depts[i], sizeof c->departments[0]);
}

static int str_key(const cJSON *root, const char *key, char *dst, size_t len, bm_error_t *err)
{
    const char *v = NULL;
    if (bm_json_str(root, key, false, len - 1, &v, err) != 0)
        return -1;
    if (v)
        bm_strlcpy(dst, v, len);
    return 0;
}

static int int_key(const cJSON *root, const char *key, int64_t min, int64_t max, int *dst,
                   bm_error_t *err)
{
    int64_t v = *dst;
    if (bm_json_int(root, key, false, min, max, &v, err) != 0)
        return -1;
    *dst = (int)v;
    return 0;
}

static int api_keys(const cJSON *root, gw_config_t *c, bm_error_t *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "api_keys");
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > GW_MAX_API_KEYS) {
        bm_error_set(err, BM_ERR_INVALID, "api_keys", "api_keys 应为最多 %d 项的数组 / api_keys must be an "
                     "array of at most %d", GW_MAX_API_KEYS, GW_MAX_API_KEYS);
        return -1;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, arr) {
        const char *hash = NULL, *channel = NULL;
        if (bm_json_str(k, "sha256", true, 64, &hash, err) ||
            bm_json_str(k, "channel", true, 31, &channel, err))
            return -1;
        if (strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64) {
            bm_error_set(err, BM_ERR_INVALID, "api_keys", "sha256 应为 64 个小写十六进制字符 / sha256 must be 64 "
                         "lower-case hex characters");
            return -1;
        }
        gw_api_key_t *a = &c->api_keys[c->n_api_keys++];
        bm_strlcpy(a->hash, hash, sizeof a->hash);
        bm_strlcpy(a->channel, channel, sizeof a->channel);
    }
    return 0;
}

int gw_config_load(gw_config_t *c, const char *path, bm_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "读不了配置文件 %s：%s / cannot read config %s: %s",
                     path, strerror(errno), path, strerror(errno));
        return -1;
    }
    gw_buf_t b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < 1024 * 1024)
        buf_put(&b, chunk, n);
    fclose(f);
    cJSON *root = b.data ? cJSON_Parse(b.data) : NULL;
    buf_free(&b);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        bm_error_set(err, BM_ERR_BAD_JSON, NULL, "%s 不是 JSON 对象 / %s is not a JSON object", path, path);
        goto out;
    }
    int64_t body = (int64_t)c->max_body, upload = (int64_t)c->max_upload;
    if (str_key(root, "listen", c->listen, sizeof c->listen, err) ||
        str_key(root, "broker", c->broker, sizeof c->broker, err) ||
        str_key(root, "key", c->key_file, sizeof c->key_file, err) ||
        str_key(root, "secret_file", c->secret_file, sizeof c->secret_file, err) ||
        str_key(root, "broker_config", c->broker_config, sizeof c->broker_config, err) ||
        str_key(root, "tls_cert", c->tls_cert, sizeof c->tls_cert, err) ||
        str_key(root, "tls_key", c->tls_key, sizeof c->tls_key, err) ||
        str_key(root, "public_url", c->public_url, sizeof c->public_url, err) ||
        bm_json_int(root, "max_body", false, 4096, BM_MAX_MSG, &body, err) ||
        bm_json_int(root, "max_upload", false, 1024, BM_MAX_PHOTO, &upload, err) ||
        int_key(root, "max_uploads", 0, BM_MAX_ATTACH, &c->max_uploads, err) ||
        int_key(root, "connections", 1, 100000, &c->connections, err) ||
        int_key(root, "per_ip_connections", 1, 100000, &c->per_ip_conns, err) ||
        int_key(root, "timeout_s", 1, 3600, &c->timeout_s, err) ||
        int_key(root, "address_rate", 1, 100000, &c->addr_rate, err) ||
        int_key(root, "address_burst", 1, 100000, &c->addr_burst, err) ||
        int_key(root, "key_rate", 1, 100000, &c->key_rate, err) ||
        int_key(root, "key_burst", 1, 100000, &c->key_burst, err) ||
        int_key(root, "session_s", 60, 30 * 86400, &c->session_s, err) ||
        int_key(root, "broker_timeout_ms", 100, 600000, &c->broker_ms, err) || api_keys(root, c, err))
        goto out;
    c->max_body = (size_t)body;
    c->max_upload = (size_t)upload;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "secure_cookies");
    if (cJSON_IsBool(sc))
        c->secure_cookies = cJSON_IsTrue(sc);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "departments"), *it = NULL;
    if (cJSON_IsArray(d)) {
        c->n_departments = 0;
        cJSON_ArrayForEach(it, d) {
            if (cJSON_IsString(it) && c->n_departments < GW_MAX_DEPARTMENTS)
                bm_strlcpy(c->departments[c->n_departments++], it->valuestring, sizeof c->departments[0]);
        }
    }
    const cJSON *cbs = cJSON_GetObjectItemCaseSensitive(root, "channel_callbacks");
    const cJSON *cb_list = cJSON_IsObject(cbs) ? cbs : NULL;
    cJSON_ArrayForEach(it, cb_list) {
        if (!cJSON_IsString(it) || c->n_callbacks >= GW_MAX_API_KEYS)
            continue;
        bm_strlcpy(c->callback_channel[c->n_callbacks], it->string, sizeof c->callback_channel[0]);
        bm_strlcpy(c->callback_url[c->n_callbacks], it->valuestring, sizeof c->callback_url[0]);
        c->n_callbacks++;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int gw_secret_load(gw_config_t *c, bool create, bm_error_t *err)
{
    char hex[2 * GW_SECRET_LEN + 2] = "";
    int fd = open(c->secret_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        unsigned char raw[GW_SECRET_LEN];
        if (bm_random_bytes(raw, sizeof raw) != 0)
            goto bad;
        for (int i = 0; i < GW_SECRET_LEN; i++)
            snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        fd = open(c->secret_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, hex, 2 * GW_SECRET_LEN) != 2 * GW_SECRET_LEN) {
            if (fd >= 0)
                close(fd);
            goto bad;
        }
        close(fd);
        fd = open(c->secret_file, O_RDONLY | O_CLOEXEC);
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        goto bad;
    if (st.st_mode & 077) {
        close(fd);
        bm_error_set(err, BM_ERR_INVALID, "secret_file", "%s 别人也能读：请 chmod 600 / %s is readable by "
                     "others: chmod 600 it", c->secret_file, c->secret_file);
        return -1;
    }
    ssize_t n = read(fd, hex, sizeof hex - 1);
    close(fd);
    if (n < 2 * GW_SECRET_LEN)
        goto bad;
    for (int i = 0; i < GW_SECRET_LEN; i++) {
        unsigned v = 0;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            goto bad;
        c->secret[i] = (unsigned char)v;
    }
    explicit_bzero(hex, sizeof hex);
    return 0;
bad:
    bm_error_set(err, BM_ERR_INVALID, "secret_file",
                 "会话密钥文件 %s 读不了或格式不对（应为 64 个十六进制字符）/ the session secret file %s "
                 "is missing or malformed (64 hex characters)", c->secret_file, c->secret_file);
    return -1;
}

const char *gw_channel_callback(const gw_config_t *cfg, const char *channel)
{
    for (int i = 0; i < cfg->n_callbacks; i++) {
        if (strcmp(cfg->callback_channel[i], channel) == 0)
            return cfg->callback_url[i];
    }
    return NULL;
}
