/* users.c - see users.h. */
#include "users.h"
#include "jsonx.h"
#include "log.h"
#include "store_users.h"
#include "util.h"

#include <argon2.h>
#include <stdio.h>
#include <string.h>

#define SALT_LEN 16
#define HASH_LEN 32

static bool login_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > BM_MAX_LOGIN)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static int read_login(const cJSON *body, const char **login, bm_error_t *err)
{
    if (bm_body_str(body, "user", true, BM_MAX_LOGIN, login, err) != 0)
        return -1;
    if (!login_ok(*login)) {
        bm_error_set(err, BM_ERR_INVALID, "user",
                     "登录名只能用字母、数字和 _ . -（1-64 个）/ a login name is 1-64 of A-Z a-z 0-9 _ . -");
        return -1;
    }
    return 0;
}

static int read_password(const cJSON *body, const char **pw, bm_error_t *err)
{
    if (bm_body_str(body, "password", true, BM_MAX_PASSWORD, pw, err) != 0)
        return -1;
    if (strlen(*pw) < BM_MIN_PASSWORD) {
        bm_error_set(err, BM_ERR_INVALID, "password",
                     "密码至少 %d 个字节 / a password needs at least %d bytes", BM_MIN_PASSWORD,
                     BM_MIN_PASSWORD);
        return -1;
    }
    return 0;
}

/* Encodes an argon2id hash of pw with a fresh random salt into out. */
static int hash_password(const char *pw, char *out, size_t outlen, bm_error_t *err)
{
    unsigned char salt[SALT_LEN];
    if (bm_random_bytes(salt, sizeof salt) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "没有随机数 / no randomness available");
        return -1;
    }
    int rc = argon2id_hash_encoded(BM_DEFAULT_ARGON2_T_COST, BM_DEFAULT_ARGON2_M_KIB,
                                   BM_DEFAULT_ARGON2_LANES, pw, strlen(pw), salt, sizeof salt,
                                   HASH_LEN, out, outlen);
    if (rc != ARGON2_OK) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "密码哈希失败 / hashing the password failed: %s",
                     argon2_error_message(rc));
        return -1;
    }
    return 0;
}

static int role_ok(const bm_config_t *cfg, const char *role, bm_error_t *err)
{
    if (strcmp(role, "office") == 0)
        return 0;
    if (strncmp(role, "channel:", 8) == 0 && bm_config_channel(cfg, role + 8) &&
        strcmp(role + 8, "office") != 0)
        return 0;
    bm_error_set(err, BM_ERR_INVALID, "role",
                 "角色应为 office 或 channel:<渠道>（已配置的渠道）/ role must be office or "
                 "channel:<a configured channel>");
    return -1;
}

static cJSON *user_reply(const char *login, const char *name, const char *role)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "user", login);
    if (name)
        cJSON_AddStringToObject(r, "name", name);
    if (role)
        cJSON_AddStringToObject(r, "role", role);
    return r;
}

int users_add(store_t *st, const bm_config_t *cfg, const cJSON *body, const char *actor,
              int64_t now, cJSON **reply, bm_error_t *err)
{
    const char *login = NULL, *name = NULL, *role = NULL, *pw = NULL;
    store_user_t u = {0};
    if (read_login(body, &login, err) || bm_body_str(body, "name", false, BM_MAX_USER_NAME, &name, err) ||
        bm_body_str(body, "role", true, BM_MAX_ROLE, &role, err) || role_ok(cfg, role, err) ||
        read_password(body, &pw, err) || hash_password(pw, u.hash, sizeof u.hash, err))
        return -1;
    bm_strlcpy(u.login, login, sizeof u.login);
    bm_strlcpy(u.name, name ? name : "", sizeof u.name);
    bm_strlcpy(u.role, role, sizeof u.role);
    if (store_user_add(st, &u, actor, now, err) != 0)
        return -1;
    log_info("用户已添加 / user added: %s (%s) by %s", login, role, actor);
    *reply = user_reply(login, u.name, role);
    return 0;
}

int users_passwd(store_t *st, const cJSON *body, const char *actor, int64_t now, cJSON **reply,
                 bm_error_t *err)
{
    const char *login = NULL, *pw = NULL;
    char hash[BM_MAX_HASH + 1];
    if (read_login(body, &login, err) || read_password(body, &pw, err) ||
        hash_password(pw, hash, sizeof hash, err) ||
        store_user_set_hash(st, login, hash, actor, now, err) != 0)
        return -1;
    log_info("密码已更改 / password set: %s by %s", login, actor);
    *reply = user_reply(login, NULL, NULL);
    return 0;
}

int users_disable(store_t *st, const cJSON *body, const char *actor, int64_t now, cJSON **reply,
                  bm_error_t *err)
{
    const char *login = NULL;
    const cJSON *enable = cJSON_GetObjectItemCaseSensitive(body, "enable");
    if (enable && !cJSON_IsBool(enable)) {
        bm_error_set(err, BM_ERR_INVALID, "enable", "enable 应为 true 或 false / enable must be a boolean");
        return -1;
    }
    bool disabled = !cJSON_IsTrue(enable);
    if (read_login(body, &login, err) ||
        store_user_set_disabled(st, login, disabled, actor, now, err) != 0)
        return -1;
    log_info("用户已%s / user %s: %s by %s", disabled ? "停用" : "启用",
             disabled ? "disabled" : "enabled", login, actor);
    *reply = user_reply(login, NULL, NULL);
    cJSON_AddBoolToObject(*reply, "disabled", disabled);
    return 0;
}

int users_list(store_t *st, cJSON **reply, bm_error_t *err)
{
    cJSON *arr = store_users_list(st);
    if (!arr) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "数据库读取失败 / the database could not be read");
        return -1;
    }
    *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(*reply, "users", arr);
    return 0;
}

int users_lock_seconds(int failed)
{
    if (failed <= BM_DEFAULT_LOGIN_FREE_FAILS)
        return 0;
    int shift = failed - BM_DEFAULT_LOGIN_FREE_FAILS;
    if (shift > 20)
        return BM_DEFAULT_LOGIN_LOCK_MAX_S;
    long s = 1L << shift;
    return s > BM_DEFAULT_LOGIN_LOCK_MAX_S ? BM_DEFAULT_LOGIN_LOCK_MAX_S : (int)s;
}

static void bad_login(bm_error_t *err)
{
    bm_error_set(err, BM_ERR_BAD_LOGIN, NULL,
                 "登录名或密码不对 / wrong login name or password");
}

/* A hash of a password nobody has, checked for unknown users so that they
 * take as long as known ones. Made once, on first use. */
static const char *dummy_hash(void)
{
    static char hash[BM_MAX_HASH + 1];
    if (!hash[0]) {
        bm_error_t e = {0};
        char pw[32];
        bm_random_id("x", pw, sizeof pw);
        if (hash_password(pw, hash, sizeof hash, &e) != 0)
            hash[0] = '\0';
    }
    return hash;
}

int users_login(store_t *st, const cJSON *body, int64_t now, cJSON **reply, bm_error_t *err)
{
    const char *login = NULL, *pw = NULL;
    store_user_t u;
    if (bm_body_str(body, "user", true, BM_MAX_LOGIN, &login, err) ||
        bm_body_str(body, "password", true, BM_MAX_PASSWORD, &pw, err))
        return -1;
    int found = login_ok(login) ? store_user_get(st, login, &u) : 1;
    if (found < 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "数据库读取失败 / the database could not be read");
        return -1;
    }
    if (found == 1) {
        const char *h = dummy_hash();
        if (h[0])
            (void)argon2id_verify(h, pw, strlen(pw));
        bad_login(err);
        return -1;
    }
    if (u.locked_until > now) {
        long left = (long)((u.locked_until - now + 999) / 1000);
        bm_error_set(err, BM_ERR_BAD_LOGIN, "retry_after",
                     "登录失败次数太多，请 %ld 秒后再试 / too many failed logins: try again in %ld s",
                     left, left);
        return -1;
    }
    bool good = argon2id_verify(u.hash, pw, strlen(pw)) == ARGON2_OK;
    if (!good || u.disabled) {
        bm_error_t werr = {0};
        int failed = good ? u.failed : u.failed + 1;
        int lock = users_lock_seconds(failed);
        if (store_user_login_result(st, login, false, failed, lock ? now + lock * 1000LL : 0, now,
                                    &werr) != 0)
            log_warn("无法记录失败的登录 / could not record a failed login for %s: %s", login, werr.message);
        if (!good)
            log_info("登录失败 / failed login for %s (%d in a row)", login, failed);
        bad_login(err);
        return -1;
    }
    if (store_user_login_result(st, login, true, 0, 0, now, err) != 0)
        return -1;
    *reply = user_reply(u.login, u.name, u.role);
    return 0;
}

int users_check(store_t *st, const cJSON *body, cJSON **reply, bm_error_t *err)
{
    const char *login = NULL;
    store_user_t u;
    if (read_login(body, &login, err) != 0)
        return -1;
    int found = store_user_get(st, login, &u);
    if (found != 0) {
        if (found < 0)
            bm_error_set(err, BM_ERR_STORAGE, NULL, "数据库读取失败 / the database could not be read");
        else
            bm_error_set(err, BM_ERR_NOT_FOUND, "user", "没有这个用户 / no such user");
        return -1;
    }
    *reply = user_reply(u.login, u.name, u.role);
    cJSON_AddBoolToObject(*reply, "disabled", u.disabled);
    return 0;
}
