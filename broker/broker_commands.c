/* broker_commands.c - the one command table: every command, the socket it
 * arrives on and who may send it; handle() resolves the caller's role from
 * its key (and a gateway's act_as) and checks the table before any handler
 * runs. Also who acts: the caller as an actor for the audit trail, and the
 * channel a client command acts for. */
#include "broker_int.h"
#include "jsonx.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* ---- who acts: identity from the key ------------------------------------ */

/* The caller's role for events and logs: "office", "channel:forum", ... */
const char *caller_actor(const broker_t *b, char *buf, size_t len)
{
    if (b->caller.dev)
        return "office";
    if (b->caller.kind & ROLE_CHANNEL)
        snprintf(buf, len, "channel:%s", b->caller.principal);
    else if (b->caller.kind & ROLE_VOLUNTEER)
        snprintf(buf, len, "volunteer:%s", b->caller.principal);
    else if (b->caller.kind & ROLE_NOTIFIER)
        snprintf(buf, len, "notifier");
    else
        snprintf(buf, len, "office");
    return buf;
}

/* The channel a client command acts for. A channel's key acts only for that
 * channel: naming another in "channel" is forbidden. The office acts as
 * "office" (for submit it may name the channel it records a request for). In
 * development mode the body's channel is trusted, as before keys existed. */
int acting_channel(broker_t *b, const cJSON *body, bool submit, const char **channel,
                          bm_error_t *err)
{
    const char *named = NULL;
    if (bm_body_str(body, "channel", b->caller.dev, 64, &named, err) != 0)
        return -1;
    if (b->caller.kind & ROLE_CHANNEL) {
        if (named && strcmp(named, b->caller.principal) != 0) {
            bm_error_set(err, BM_ERR_FORBIDDEN, "channel",
                         "这把钥匙属于渠道 %s，不能以 %s 的名义操作 / this key belongs to channel "
                         "\"%s\"; it cannot act as \"%s\"",
                         b->caller.principal, named, b->caller.principal, named);
            return -1;
        }
        *channel = b->caller.principal;
        return 0;
    }
    if (!b->caller.dev && (!named || !submit))
        named = "office";
    if (!bm_config_channel(&b->cfg, named) && strcmp(named, "office") != 0) {
        bm_error_set(err, BM_ERR_UNKNOWN_CHANNEL, "channel", "没有这个渠道 \"%s\" / unknown channel \"%s\"",
                     named, named);
        return -1;
    }
    *channel = named;
    return 0;
}

/* ---- the permission table ------------------------------------------------- */

typedef void (*client_fn)(broker_t *, const bm_envelope_t *, const bm_msg_t *);
typedef void (*worker_fn)(broker_t *, session_t *, const bm_envelope_t *, const bm_msg_t *);

/* Every command, the socket it arrives on, and who may send it. handle()
 * checks the role here before any handler runs; a handler narrows further
 * to what is the caller's own (a channel's requests, a volunteer's jobs).
 * docs/security.md and docs/protocol.md show this same table. A gateway acts
 * as the role named in "act_as", when its key lists that role. */
#define OFFICE    ROLE_OFFICE
#define CHANNEL   ROLE_CHANNEL
#define VOLUNTEER ROLE_VOLUNTEER
#define NOTIFIER  ROLE_NOTIFIER
static const struct {
    const char *name;
    int sock;
    unsigned roles;
    client_fn client;
    worker_fn worker;
} commands[] = {
    /* command             socket       who may send it     handler */
    {BM_CMD_SUBMIT,      SOCK_CLIENT, OFFICE | CHANNEL, cmd_submit, NULL},   /* a channel: as itself */
    {BM_CMD_GET,         SOCK_CLIENT, OFFICE | CHANNEL, cmd_get, NULL},      /* a channel: its own */
    {BM_CMD_LIST,        SOCK_CLIENT, OFFICE | CHANNEL, cmd_list, NULL},     /* a channel: its own */
    {BM_CMD_CANCEL,      SOCK_CLIENT, OFFICE | CHANNEL, cmd_cancel, NULL},   /* a channel: its own */
    {BM_CMD_REOPEN,      SOCK_CLIENT, OFFICE | CHANNEL, cmd_reopen, NULL},   /* a channel: its own */
    {BM_CMD_RATE,        SOCK_CLIENT, OFFICE | CHANNEL, cmd_rate, NULL},     /* a channel: its own */
    {BM_CMD_ESCALATE,    SOCK_CLIENT, OFFICE, cmd_escalate, NULL},
    {BM_CMD_RESOLVE,     SOCK_CLIENT, OFFICE, cmd_resolve, NULL},
    {BM_CMD_VOLUNTEERS,  SOCK_CLIENT, OFFICE, cmd_volunteers, NULL},
    {BM_CMD_DEPARTMENTS, SOCK_CLIENT, OFFICE | CHANNEL, cmd_departments, NULL}, /* no secrets */
    {BM_CMD_CHOICES,     SOCK_CLIENT, OFFICE | CHANNEL, cmd_choices, NULL},     /* no secrets */
    {BM_CMD_DELIVERIES,  SOCK_CLIENT, OFFICE, cmd_deliveries, NULL},
    {BM_CMD_DELIVERY,    SOCK_CLIENT, OFFICE, cmd_delivery, NULL},
    {BM_CMD_REPLAY,      SOCK_CLIENT, OFFICE, cmd_replay, NULL},
    {BM_CMD_ENDPOINTS,   SOCK_CLIENT, OFFICE, cmd_endpoints, NULL},
    {BM_CMD_ENDPOINT,    SOCK_CLIENT, OFFICE, cmd_endpoint, NULL},
    {BM_CMD_KEYS,        SOCK_CLIENT, OFFICE, cmd_keys, NULL},
    {BM_CMD_KEY_ADD,     SOCK_CLIENT, OFFICE, cmd_key_add, NULL},
    {BM_CMD_KEY_REVOKE,  SOCK_CLIENT, OFFICE, cmd_key_revoke, NULL},
    {BM_CMD_PHOTO,       SOCK_CLIENT, OFFICE | CHANNEL, cmd_photo, NULL},  /* a channel: its own */
    {BM_CMD_STATS,       SOCK_CLIENT, OFFICE, cmd_stats, NULL},
    {BM_CMD_USERS,       SOCK_CLIENT, OFFICE, cmd_users, NULL},
    {BM_CMD_USER_ADD,    SOCK_CLIENT, OFFICE, cmd_user_add, NULL},
    {BM_CMD_USER_PASSWD, SOCK_CLIENT, OFFICE, cmd_user_passwd, NULL},
    {BM_CMD_USER_DISABLE, SOCK_CLIENT, OFFICE, cmd_user_disable, NULL},
    {BM_CMD_LOGIN,       SOCK_CLIENT, ROLE_GATEWAY | OFFICE, cmd_login, NULL}, /* the gateway as itself */
    {BM_CMD_USER_CHECK,  SOCK_CLIENT, ROLE_GATEWAY | OFFICE, cmd_user_check, NULL}, /* the gateway as itself */
    {BM_CMD_TAKE,        SOCK_CLIENT, NOTIFIER, cmd_take, NULL},           /* holds the webhook secrets */
    {BM_CMD_REPORT,      SOCK_CLIENT, NOTIFIER, cmd_report, NULL},         /* only deliveries it holds */
    {BM_CMD_HELLO,       SOCK_WORKER, VOLUNTEER, NULL, NULL},              /* as the key's volunteer */
    {BM_CMD_HEARTBEAT,   SOCK_WORKER, VOLUNTEER, NULL, cmd_heartbeat},
    {BM_CMD_CLAIM,       SOCK_WORKER, VOLUNTEER, NULL, cmd_claim},         /* only its skills */
    {BM_CMD_DONE,        SOCK_WORKER, VOLUNTEER, NULL, cmd_done},          /* only jobs it holds */
    {BM_CMD_PROGRESS,    SOCK_WORKER, VOLUNTEER, NULL, cmd_progress},      /* only jobs it holds */
    {BM_CMD_DECLINE,     SOCK_WORKER, VOLUNTEER, NULL, cmd_decline},
    {BM_CMD_CANTFIX,     SOCK_WORKER, VOLUNTEER, NULL, cmd_cantfix},       /* only jobs it holds */
    {BM_CMD_ESCALATE,    SOCK_WORKER, VOLUNTEER, NULL, cmd_worker_escalate}, /* only jobs it holds */
};

static const char *kind_name(unsigned kind)
{
    switch (kind) {
    case ROLE_OFFICE: return "office";
    case ROLE_CHANNEL: return "channel";
    case ROLE_VOLUNTEER: return "volunteer";
    case ROLE_NOTIFIER: return "notifier";
    case ROLE_GATEWAY: return "gateway";
    default: return "?";
    }
}

/* Fills b->caller from the connection's key (and a gateway's act_as).
 * Returns 0, or -1 with err set: the message is refused. */
static int resolve_caller(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg,
                          bm_error_t *err)
{
    memset(&b->caller, 0, sizeof b->caller);
    if (b->cfg.auth_none) {
        b->caller.dev = true;
        b->caller.kind = sock == SOCK_CLIENT ? (ROLE_OFFICE | ROLE_NOTIFIER) : ROLE_VOLUNTEER;
        return 0;
    }
    reg_key_t *k = registry_find(b->reg, env->user);
    if (!k) {
        bm_error_set(err, BM_ERR_KEY_REVOKED, NULL,
                     "这把钥匙已被吊销或不再有效，请向办公室要一把新的 / this key has been revoked "
                     "or is no longer valid: ask the office for a new one");
        return -1;
    }
    registry_note_fd(b->reg, k, env->fd);
    b->caller.key = k;
    b->caller.kind = k->kind;
    bm_strlcpy(b->caller.principal, k->principal, sizeof b->caller.principal);
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(msg->body, "act_as");
    if (!as)
        return 0;
    if (k->kind != ROLE_GATEWAY || !cJSON_IsString(as) || !registry_acts_for(k, as->valuestring)) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "act_as",
                     "这把钥匙不能代表 %s / this key may not act as %s",
                     cJSON_IsString(as) ? as->valuestring : "?", cJSON_IsString(as) ? as->valuestring : "?");
        return -1;
    }
    b->caller.kind = registry_kind(as->valuestring, b->caller.principal, sizeof b->caller.principal);
    return 0;
}

void handle(broker_t *b, int sock, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    size_t i = 0, n = sizeof commands / sizeof commands[0];
    while (i < n && (commands[i].sock != sock || strcmp(msg->cmd, commands[i].name) != 0))
        i++;
    if (i == n) {
        bm_error_set(&err, BM_ERR_UNKNOWN_COMMAND, NULL, "没有这个命令 \"%s\"（%s 端口）/ unknown command \"%s\" on the %s socket",
                     msg->cmd, sock == SOCK_CLIENT ? "客户" : "志愿者", msg->cmd,
                     sock == SOCK_CLIENT ? "client" : "worker");
        reply_err(b, sock, env, msg, &err);
        return;
    }
    if (resolve_caller(b, sock, env, msg, &err) != 0) {
        reply_err(b, sock, env, msg, &err);
        return;
    }
    if (!(commands[i].roles & b->caller.kind)) {
        bm_error_set(&err, BM_ERR_FORBIDDEN, NULL,
                     "你的角色（%s）不能执行 %s / your role (%s) may not send \"%s\"",
                     kind_name(b->caller.kind), msg->cmd, kind_name(b->caller.kind), msg->cmd);
        reply_err(b, sock, env, msg, &err);
        return;
    }
    if (commands[i].client) {
        commands[i].client(b, env, msg);
        return;
    }
    if (!commands[i].worker) {
        cmd_hello(b, env, msg);
        return;
    }
    session_t *s = session_by_env(b, env);
    if (!s || (b->caller.key && strcmp(s->volunteer, b->caller.principal) != 0)) {
        bm_error_set(&err, BM_ERR_HELLO_REQUIRED, NULL,
                     "请先 hello（这个连接还没有报到）/ say hello first (this connection is not known as "
                     "a volunteer)");
        reply_err(b, sock, env, msg, &err);
        return;
    }
    s->last_heard = bm_mono_ms();
    commands[i].worker(b, s, env, msg);
}
