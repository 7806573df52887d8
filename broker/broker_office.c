/* broker_office.c - the office's commands on the client socket: the
 * volunteers list, the operators' view of the outbox (deliveries, replay,
 * endpoints), the key registry (keys, key_add, key_revoke), users and login
 * (broker/users.c does the work) and the monthly figures. */
#include "broker_int.h"
#include "auth.h"
#include "jsonx.h"
#include "log.h"
#include "reports.h"
#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void cmd_volunteers(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    cJSON *arr = store_volunteers(b->store);
    int64_t mono = bm_mono_ms();
    cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
        bool online = false;
        for (int i = 0; i < b->session_top && cJSON_IsString(id); i++) {
            if (session_online(b, &b->sessions[i], mono) &&
                strcmp(b->sessions[i].volunteer, id->valuestring) == 0)
                online = true;
        }
        cJSON_AddBoolToObject(v, "online", online);
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "volunteers", arr);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

/* ---- the operators' view of the outbox ----------------------------------- */

void cmd_deliveries(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    store_delivery_filter_t f = {0};
    int64_t limit = 50, offset = 0;
    const char *since = NULL;
    cJSON *out = NULL;
    if (bm_body_str(msg->body, "state", false, 16, &f.state, &err) ||
        bm_json_int(msg->body, "endpoint", false, 1, INT64_MAX / 2, &f.endpoint, &err) ||
        bm_json_int(msg->body, "ticket", false, 1, INT64_MAX / 2, &f.ticket, &err) ||
        bm_body_str(msg->body, "since", false, 40, &since, &err) ||
        bm_json_int(msg->body, "limit", false, 1, BM_MAX_LIST, &limit, &err) ||
        bm_json_int(msg->body, "offset", false, 0, INT32_MAX, &offset, &err))
        goto fail;
    if (f.state && strcmp(f.state, "pending") != 0 && strcmp(f.state, "delivered") != 0 &&
        strcmp(f.state, "dead") != 0) {
        bm_error_set(&err, BM_ERR_INVALID, "state", "state 应为 pending（待发）、delivered（已送达）或 dead（已放弃） / state is pending, delivered or dead");
        goto fail;
    }
    if (since && bm_time_parse_iso(since, &f.since) != 0) {
        bm_error_set(&err, BM_ERR_INVALID, "since", "since 应为 ISO 8601 时间，例如 2026-11-01 / since is an ISO 8601 time, e.g. 2026-11-01");
        goto fail;
    }
    f.limit = (int)limit;
    f.offset = (int)offset;
    if (store_deliveries(b->store, &f, &out, &err) != 0)
        goto fail;
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

void cmd_delivery(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t id = 0;
    cJSON *out = NULL;
    if (bm_json_int(msg->body, "id", true, 1, INT64_MAX / 2, &id, &err) ||
        store_delivery(b->store, id, &out, &err) != 0) {
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    reply_ok(b, SOCK_CLIENT, env, msg, out, false);
}

void cmd_replay(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t id = 0, since = 0;
    const char *dead_since = NULL;
    if (bm_json_int(msg->body, "id", false, 1, INT64_MAX / 2, &id, &err) ||
        bm_body_str(msg->body, "dead_since", false, 40, &dead_since, &err))
        goto fail;
    if (!id == !dead_since) {
        bm_error_set(&err, BM_ERR_INVALID, "id", "请给出 \"id\" 或 \"dead_since\" 之一 / give either \"id\" or \"dead_since\"");
        goto fail;
    }
    if (dead_since && bm_time_parse_iso(dead_since, &since) != 0) {
        bm_error_set(&err, BM_ERR_INVALID, "dead_since", "dead_since 应为 ISO 8601 时间 / dead_since is an ISO 8601 time");
        goto fail;
    }
    int n = store_replay(b->store, id, since, bm_now_ms(), &err);
    if (n < 0)
        goto fail;
    log_info("重发 %d 条通知 / replay: %d deliver%s due again", n, n, n == 1 ? "y" : "ies");
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "replayed", n);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

void cmd_endpoints(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "endpoints", store_endpoints(b->store));
    reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

void cmd_endpoint(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t id = 0;
    const char *action = NULL, *secret = NULL;
    char generated[80];
    if (bm_json_int(msg->body, "id", true, 1, INT64_MAX / 2, &id, &err) ||
        bm_body_str(msg->body, "action", true, 16, &action, &err) ||
        bm_body_str(msg->body, "secret", false, 120, &secret, &err))
        goto fail;
    if (strcmp(action, "rotate") == 0) {
        if (secret && bm_secret_check(secret) != 0) {
            bm_error_set(&err, BM_ERR_INVALID, "secret",
                         "密钥应为 whsec_ 加上 24-64 字节的 base64 / secret must be whsec_ followed by base64 of 24-64 bytes");
            goto fail;
        }
        if (!secret) {
            unsigned char key[32];
            char b64[64];
            if (bm_random_bytes(key, sizeof key) != 0 ||
                bm_base64_encode(key, sizeof key, b64, sizeof b64) < 0) {
                bm_error_set(&err, BM_ERR_STORAGE, NULL, "不能生成密钥 / cannot generate a secret");
                goto fail;
            }
            snprintf(generated, sizeof generated, "whsec_%s", b64);
            secret = generated;
        }
    }
    if (store_endpoint_set(b->store, id, action, secret, bm_now_ms(),
                           (int64_t)b->cfg.rotation_overlap_s * 1000, &err) != 0)
        goto fail;
    log_info("接收地址 / endpoint %lld: %s", (long long)id, action);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "id", (double)id);
    cJSON_AddStringToObject(reply, "action", action);
    if (strcmp(action, "rotate") == 0) {
        cJSON_AddStringToObject(reply, "secret", secret);
        bm_json_add_time(reply, "old_secret_until",
                         bm_now_ms() + (int64_t)b->cfg.rotation_overlap_s * 1000);
    }
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* ---- keys (the office) ---------------------------------------------------- */

void cmd_keys(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(msg->body, "all");
    bm_error_t err = {0};
    if (all && !cJSON_IsBool(all)) {
        bm_error_set(&err, BM_ERR_INVALID, "all", "\"all\" 是 true 或 false / \"all\" must be true or false");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    cJSON *arr = store_keys_list(b->store, cJSON_IsTrue(all));
    if (!arr) {
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "读不到钥匙登记表 / cannot read the key registry");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "keys", arr);
    cJSON_AddStringToObject(reply, "broker", b->key.public_key);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

/* Registers a public key (the pair was made by the caller; the secret half
 * never travels). It is accepted from the next pass on, after the commit. */
void cmd_key_add(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const char *pub = NULL, *role = NULL, *name = NULL, *skills = NULL, *acts_for = NULL;
    int64_t max_jobs = BM_DEFAULT_MAX_JOBS;
    char actor[BM_MAX_ROLE + 1];
    if (bm_body_str(msg->body, "public", true, BM_Z85_KEY_LEN, &pub, &err) ||
        bm_body_str(msg->body, "role", true, BM_MAX_ROLE, &role, &err) ||
        bm_body_str(msg->body, "name", false, BM_MAX_VOL_NAME, &name, &err) ||
        bm_body_str(msg->body, "skills", false, 390, &skills, &err) ||
        bm_body_str(msg->body, "acts_for", false, 500, &acts_for, &err) ||
        bm_json_int(msg->body, "max_jobs", false, 1, 20, &max_jobs, &err))
        goto fail;
    if (!bm_key_z85_ok(pub)) {
        bm_error_set(&err, BM_ERR_INVALID, "public",
                     "公钥应为 40 个 Z85 字符 / the public key must be 40 Z85 characters");
        goto fail;
    }
    if (strcmp(pub, b->key.public_key) == 0) {
        bm_error_set(&err, BM_ERR_INVALID, "public", "这是服务站自己的钥匙 / that is the station's own key");
        goto fail;
    }
    store_key_t k = {0};
    bm_strlcpy(k.public_key, pub, sizeof k.public_key);
    bm_strlcpy(k.role, role, sizeof k.role);
    bm_strlcpy(k.name, name ? name : "", sizeof k.name);
    bm_strlcpy(k.skills, skills ? skills : "", sizeof k.skills);
    bm_strlcpy(k.acts_for, acts_for ? acts_for : "", sizeof k.acts_for);
    k.max_jobs = (int)max_jobs;
    if (registry_check(b->reg, &k, &err) != 0 ||
        store_key_add(b->store, &k, caller_actor(b, actor, sizeof actor), bm_now_ms(), &err) != 0)
        goto fail;
    if (b->n_new_keys == b->cap_new_keys) {
        size_t cap = b->cap_new_keys ? b->cap_new_keys * 2 : 8;
        store_key_t *grown = realloc(b->new_keys, cap * sizeof *grown);
        if (!grown) {
            bm_error_set(&err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
            goto fail;
        }
        b->new_keys = grown;
        b->cap_new_keys = cap;
    }
    b->new_keys[b->n_new_keys++] = k;
    log_info("钥匙已登记 / key registered: %s (%s) by %s", role, name ? name : "", actor);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "public", pub);
    cJSON_AddStringToObject(reply, "role", role);
    cJSON_AddStringToObject(reply, "name", k.name);
    cJSON_AddStringToObject(reply, "broker", b->key.public_key);
    cJSON_AddStringToObject(reply, "client_endpoint", b->cfg.client_endpoint);
    cJSON_AddStringToObject(reply, "worker_endpoint", b->cfg.worker_endpoint);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* Takes a revoked key's sessions and connections away at once. */
static void drop_key(broker_t *b, reg_key_t *k)
{
    if (k->kind == ROLE_VOLUNTEER) {
        for (int i = 0; i < b->session_top; i++) {
            if (b->sessions[i].used && strcmp(b->sessions[i].volunteer, k->principal) == 0)
                b->sessions[i].used = false;
        }
    }
    /* libzmq has no call to close one peer of a ROUTER; shutting the
     * connection's descriptor down makes its I/O thread close it, and the
     * reconnect is refused by ZAP. */
    for (int i = 0; i < k->n_fds; i++)
        shutdown(k->fds[i], SHUT_RDWR);
    registry_remove(b->reg, k->public_key);
}

typedef struct {
    const char *role;
    char (*found)[BM_Z85_KEY_LEN + 1];
    int n, max;
} role_match_t;

static int match_role(reg_key_t *k, void *arg)
{
    role_match_t *m = arg;
    if (strcmp(k->role, m->role) == 0 && m->n < m->max)
        bm_strlcpy(m->found[m->n++], k->public_key, BM_Z85_KEY_LEN + 1);
    return 0;
}

/* Revokes one key ("public") or every key of a role ("role": volunteer:v01). */
void cmd_key_revoke(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const char *pub = NULL, *role = NULL;
    char found[64][BM_Z85_KEY_LEN + 1];
    char actor[BM_MAX_ROLE + 1];
    int n = 0;
    if (bm_body_str(msg->body, "public", false, BM_Z85_KEY_LEN, &pub, &err) ||
        bm_body_str(msg->body, "role", false, BM_MAX_ROLE, &role, &err))
        goto fail;
    if (!pub == !role) {
        bm_error_set(&err, BM_ERR_INVALID, "public",
                     "请给出 public（公钥）或 role（角色）之一 / give either \"public\" or \"role\"");
        goto fail;
    }
    if (pub) {
        if (!registry_find(b->reg, pub)) {
            bm_error_set(&err, BM_ERR_NOT_FOUND, "public", "没有这把有效的钥匙 / no such key, or it was revoked already");
            goto fail;
        }
        bm_strlcpy(found[n++], pub, sizeof found[0]);
    } else {
        role_match_t m = {.role = role, .found = found, .max = 64};
        registry_each(b->reg, match_role, &m);
        n = m.n;
        if (n == 0) {
            bm_error_set(&err, BM_ERR_NOT_FOUND, "role", "角色 %s 没有有效的钥匙 / no key with role \"%s\"",
                         role, role);
            goto fail;
        }
    }
    int offices = registry_count(b->reg, ROLE_OFFICE), losing = 0;
    for (int i = 0; i < n; i++)
        losing += registry_find(b->reg, found[i])->kind == ROLE_OFFICE;
    if (losing > 0 && losing >= offices) {
        bm_error_set(&err, BM_ERR_FORBIDDEN, "public",
                     "至少要留一把办公室钥匙，先登记一把新的 / at least one office key must remain: "
                     "register a new one first");
        goto fail;
    }
    caller_actor(b, actor, sizeof actor);
    for (int i = 0; i < n; i++) {
        if (store_key_revoke(b->store, found[i], actor, bm_now_ms(), &err) != 0)
            goto fail;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(reply, "revoked");
    for (int i = 0; i < n; i++) {
        reg_key_t *k = registry_find(b->reg, found[i]);
        log_warn("钥匙已吊销 / key revoked: %s %s by %s", k->role, k->public_key, actor);
        cJSON_AddItemToArray(arr, cJSON_CreateString(found[i]));
        /* At once, not after the commit: if the commit fails the key stays
         * refused until a restart, which errs on the safe side. */
        drop_key(b, k);
    }
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

/* ---- users (broker/users.c does the work) -------------------------------- */

typedef enum { USER_ADD, USER_PASSWD, USER_DISABLE, USER_LIST, USER_LOGIN, USER_CHECK } user_op_t;

static void user_cmd(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg, user_op_t op)
{
    bm_error_t err = {0};
    cJSON *reply = NULL;
    char actor[BM_MAX_ROLE + 1];
    caller_actor(b, actor, sizeof actor);
    int64_t now = bm_now_ms();
    int rc = op == USER_ADD      ? users_add(b->store, &b->cfg, msg->body, actor, now, &reply, &err)
             : op == USER_PASSWD ? users_passwd(b->store, msg->body, actor, now, &reply, &err)
             : op == USER_DISABLE ? users_disable(b->store, msg->body, actor, now, &reply, &err)
             : op == USER_LIST   ? users_list(b->store, &reply, &err)
             : op == USER_CHECK  ? users_check(b->store, msg->body, &reply, &err)
                                 : users_login(b->store, msg->body, now, &reply, &err);
    if (rc != 0)
        reply_err(b, SOCK_CLIENT, env, msg, &err);
    else
        reply_ok(b, SOCK_CLIENT, env, msg, reply, op != USER_LIST && op != USER_CHECK);
}

void cmd_user_add(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_ADD);
}

void cmd_user_passwd(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_PASSWD);
}

void cmd_user_disable(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_DISABLE);
}

void cmd_users(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_LIST);
}

/* The monthly figures for the office (the gateway's report page). */
void cmd_stats(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    cJSON *reply = NULL;
    if (reports_month(&b->cfg, msg->body, &reply, &err) != 0)
        reply_err(b, SOCK_CLIENT, env, msg, &err);
    else
        reply_ok(b, SOCK_CLIENT, env, msg, reply, false);
}

void cmd_user_check(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_CHECK);
}

void cmd_login(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    user_cmd(b, env, msg, USER_LOGIN);
}
