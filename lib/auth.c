/* auth.c - see auth.h. */
#include "auth.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_KEY_FILE 8192

int bm_key_generate(bm_key_t *key)
{
    return zmq_curve_keypair(key->public_key, key->secret_key) == 0 ? 0 : -1;
}

bool bm_key_z85_ok(const char *s)
{
    uint8_t raw[32];
    return s && strlen(s) == BM_Z85_KEY_LEN && zmq_z85_decode(raw, s) != NULL;
}

static int read_small_file(const char *path, char **out, bm_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        bm_error_set(err, "key_file", NULL, "读不到钥匙文件 %s (%s) / cannot read key file %s", path,
                     strerror(errno), path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_KEY_FILE) {
        bm_error_set(err, "key_file", NULL, "%s 不是钥匙文件 / %s is not a key file", path, path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        bm_error_set(err, "key_file", NULL,
                     "钥匙文件 %s 别人也能读，请先执行 chmod 600 %s / key file %s is readable by "
                     "others: run chmod 600 %s",
                     path, path, path, path);
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (n < 0 || n != st.st_size) {
        free(buf);
        bm_error_set(err, "key_file", NULL, "读不到钥匙文件 %s / cannot read key file %s", path, path);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int copy_field(const cJSON *obj, const char *k, bool required, char *dst, size_t len,
                      const char *path, bm_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k);
    if (!v && !required) {
        dst[0] = '\0';
        return 0;
    }
    if (!cJSON_IsString(v) || bm_strlcpy(dst, v->valuestring, len) != 0) {
        bm_error_set(err, "key_file", k, "钥匙文件 %s 缺少或有错误的 \"%s\" / key file %s: bad or missing \"%s\"",
                     path, k, path, k);
        return -1;
    }
    return 0;
}

int bm_key_load(const char *path, bm_key_t *key, bm_error_t *err)
{
    char *text = NULL;
    memset(key, 0, sizeof *key);
    if (read_small_file(path, &text, err) != 0)
        return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        bm_error_set(err, "key_file", NULL, "钥匙文件 %s 不是 JSON / key file %s is not JSON", path, path);
        goto out;
    }
    if (copy_field(j, "public", true, key->public_key, sizeof key->public_key, path, err) ||
        copy_field(j, "secret", true, key->secret_key, sizeof key->secret_key, path, err) ||
        copy_field(j, "broker", false, key->broker_key, sizeof key->broker_key, path, err) ||
        copy_field(j, "role", true, key->role, sizeof key->role, path, err) ||
        copy_field(j, "name", false, key->name, sizeof key->name, path, err) ||
        copy_field(j, "client_endpoint", false, key->client_endpoint, sizeof key->client_endpoint, path, err) ||
        copy_field(j, "worker_endpoint", false, key->worker_endpoint, sizeof key->worker_endpoint, path, err))
        goto out;
    if (!bm_key_z85_ok(key->public_key) || !bm_key_z85_ok(key->secret_key) ||
        (key->broker_key[0] && !bm_key_z85_ok(key->broker_key))) {
        bm_error_set(err, "key_file", NULL, "钥匙文件 %s 里的钥匙格式不对 / key file %s holds a malformed key",
                     path, path);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc != 0)
        memset(key, 0, sizeof *key);
    return rc;
}

int bm_key_save(const char *path, const bm_key_t *key, bool overwrite, bm_error_t *err)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "role", key->role);
    if (key->name[0])
        cJSON_AddStringToObject(j, "name", key->name);
    cJSON_AddStringToObject(j, "public", key->public_key);
    cJSON_AddStringToObject(j, "secret", key->secret_key);
    if (key->broker_key[0])
        cJSON_AddStringToObject(j, "broker", key->broker_key);
    if (key->client_endpoint[0])
        cJSON_AddStringToObject(j, "client_endpoint", key->client_endpoint);
    if (key->worker_endpoint[0])
        cJSON_AddStringToObject(j, "worker_endpoint", key->worker_endpoint);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) {
        bm_error_set(err, "key_file", NULL, "内存不足 / out of memory");
        return -1;
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, 0600);
    int rc = -1;
    if (fd < 0) {
        bm_error_set(err, "key_file", NULL, "不能写钥匙文件 %s (%s) / cannot write key file %s%s", path,
                     strerror(errno), path, errno == EEXIST ? ": it exists already" : "");
        goto out;
    }
    size_t len = strlen(text);
    if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
        fsync(fd) != 0) {
        bm_error_set(err, "key_file", NULL, "不能写钥匙文件 %s (%s) / cannot write key file %s", path,
                     strerror(errno), path);
        close(fd);
        unlink(path);
        goto out;
    }
    close(fd);
    rc = 0;
out:
    free(text);
    return rc;
}

int bm_curve_client(void *sock, const bm_key_t *key)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, key->broker_key, BM_Z85_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, key->public_key, BM_Z85_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, key->secret_key, BM_Z85_KEY_LEN) != 0)
        return -1;
    return 0;
}

int bm_curve_server(void *sock, const bm_key_t *key, const char *zap_domain)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, key->secret_key, BM_Z85_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain)) != 0)
        return -1;
    return 0;
}

static bool principal_ok(const char *p, bool volunteer)
{
    size_t n = strlen(p);
    if (n == 0 || n > (volunteer ? BM_MAX_VOL_ID : 31))
        return false;
    for (; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  (volunteer && ((c >= 'A' && c <= 'Z') || c == '.' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

int bm_role_parse(const char *role, char *kind, size_t kind_len, char *principal,
                  size_t principal_len)
{
    static const char *plain[] = {"office", "notifier", "gateway", "broker"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (strcmp(role, plain[i]) == 0) {
            bm_strlcpy(kind, role, kind_len);
            if (principal_len)
                principal[0] = '\0';
            return 0;
        }
    }
    const char *colon = strchr(role, ':');
    if (!colon)
        return -1;
    size_t klen = (size_t)(colon - role);
    bool volunteer = klen == 9 && strncmp(role, "volunteer", 9) == 0;
    bool channel = klen == 7 && strncmp(role, "channel", 7) == 0;
    if ((!volunteer && !channel) || !principal_ok(colon + 1, volunteer) || klen >= kind_len ||
        bm_strlcpy(principal, colon + 1, principal_len) != 0)
        return -1;
    memcpy(kind, role, klen);
    kind[klen] = '\0';
    return 0;
}

const char *bm_key_default_path(const char *dflt)
{
    static char buf[1024];
    const char *env = getenv("BIANMIN_KEY");
    if (env && *env)
        return bm_strlcpy(buf, env, sizeof buf) == 0 ? buf : NULL;
    if (dflt && access(dflt, F_OK) == 0)
        return bm_strlcpy(buf, dflt, sizeof buf) == 0 ? buf : NULL;
    return NULL;
}

const char *bm_key_choose(const char *given, const char *dflt)
{
    if (given)
        return strcmp(given, "none") == 0 ? NULL : given;
    const char *env = getenv("BIANMIN_KEY");
    if (env && strcmp(env, "none") == 0)
        return NULL;
    return bm_key_default_path(dflt);
}

void bm_key_refusal_message(int event, int value, char *buf, size_t len)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf(buf, len,
                 "服务站拒绝了这把钥匙，请向办公室要一把新的 / the station refused this key: ask the "
                 "office for a new one (ZAP %d)",
                 value);
    else
        snprintf(buf, len,
                 "与服务站的加密握手失败：钥匙文件里的服务站公钥不对，或对方不是服务站 / the "
                 "encrypted handshake with the station failed: the station's key in the key file is "
                 "wrong, or the peer is not the station");
}
