/* broker_volunteers.c - the volunteers' side on the worker socket: their
 * sessions (a live connection known from its hello), hello, heartbeat,
 * claim, progress, done, can't fix, escalate and decline. */
#include "broker_int.h"
#include "jsonx.h"
#include "log.h"

#include <string.h>

/* ---- sessions ---------------------------------------------------------- */

session_t *session_by_env(broker_t *b, const bm_envelope_t *env)
{
    for (int i = 0; i < b->session_top; i++) {
        session_t *s = &b->sessions[i];
        if (s->used && s->env.id_len == env->id_len && memcmp(s->env.id, env->id, env->id_len) == 0)
            return s;
    }
    return NULL;
}

bool session_online(const broker_t *b, const session_t *s, int64_t mono)
{
    return s->used && mono - s->last_heard <= 3 * (int64_t)b->cfg.heartbeat_ms;
}

void session_forget_offer(session_t *s, int64_t ticket)
{
    for (int i = 0; i < s->n_offered; i++) {
        if (s->offered[i] == ticket) {
            s->offered[i] = s->offered[--s->n_offered];
            return;
        }
    }
}

bool session_was_offered(const session_t *s, int64_t ticket)
{
    for (int i = 0; i < s->n_offered; i++) {
        if (s->offered[i] == ticket)
            return true;
    }
    return false;
}

/* ---- worker socket: hello, heartbeat, claim, done ----------------------- */

static bool volunteer_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > BM_MAX_VOL_ID)
        return false;
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* A slot for a new session: a free one, else the longest-silent offline one. */
static session_t *session_slot(broker_t *b, const bm_envelope_t *env, const char *id)
{
    int64_t mono = bm_mono_ms();
    session_t *free_slot = NULL, *stale = NULL;
    for (int i = 0; i < b->session_top; i++) {
        session_t *s = &b->sessions[i];
        bool same_peer = s->used && s->env.id_len == env->id_len &&
                         memcmp(s->env.id, env->id, env->id_len) == 0;
        if (s->used && (same_peer || strcmp(s->volunteer, id) == 0))
            return s; /* a re-hello replaces its own session */
        if (!s->used && !free_slot)
            free_slot = s;
        else if (s->used && !session_online(b, s, mono) && (!stale || s->last_heard < stale->last_heard))
            stale = s;
    }
    if (!free_slot && b->session_top < MAX_SESSIONS)
        free_slot = &b->sessions[b->session_top]; /* never used yet */
    return free_slot ? free_slot : stale;
}

void cmd_hello(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const char *id = NULL, *name = NULL;
    int64_t max_jobs = 1;
    uint32_t skills = 0;
    char skill_list[BM_MAX_CATEGORIES * 33] = "";
    const reg_key_t *key = b->caller.key;
    if (bm_body_str(msg->body, "volunteer", !key, BM_MAX_VOL_ID, &id, &err) ||
        bm_body_str(msg->body, "name", !key, BM_MAX_VOL_NAME, &name, &err) ||
        bm_json_int(msg->body, "max_jobs", false, 1, 20, &max_jobs, &err))
        goto fail;
    if (key) {
        /* Who the volunteer is, what they may take and how many: from the key. */
        if (id && strcmp(id, key->principal) != 0) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "volunteer",
                         "这把钥匙属于志愿者 %s，不能自称 %s / this key belongs to volunteer \"%s\", "
                         "not \"%s\"",
                         key->principal, id, key->principal, id);
            goto fail;
        }
        id = key->principal;
        if (!name)
            name = key->name[0] ? key->name : key->principal;
        if (!cJSON_GetObjectItemCaseSensitive(msg->body, "max_jobs"))
            max_jobs = key->max_jobs;
        if (max_jobs > key->max_jobs) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "max_jobs",
                         "这把钥匙最多同时接 %d 单 / this key may hold at most %d jobs at once",
                         key->max_jobs, key->max_jobs);
            goto fail;
        }
    }
    if (!volunteer_id_ok(id)) {
        bm_error_set(&err, BM_ERR_INVALID, "volunteer",
                     "志愿者编号应为 1-%d 个字符（A-Z a-z 0-9 _ . -） / volunteer id must be 1-%d "
                     "characters of A-Z a-z 0-9 _ . -",
                     BM_MAX_VOL_ID, BM_MAX_VOL_ID);
        goto fail;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(msg->body, "skills");
    if (key && !arr) {
        skills = key->skills;
    } else if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        bm_error_set(&err, BM_ERR_INVALID, "skills", "\"skills\" 应为非空的类别数组 / \"skills\" must be a non-empty array of categories");
        goto fail;
    }
    const cJSON *sk;
    cJSON_ArrayForEach(sk, arr) {
        const bm_category_t *cat =
            bm_config_category_choice(&b->cfg, cJSON_IsString(sk) ? sk->valuestring : NULL, "skills", &err);
        if (!cat)
            goto fail;
        uint32_t bit = 1u << (cat - b->cfg.categories);
        if (key && !(key->skills & bit)) {
            bm_error_set(&err, BM_ERR_FORBIDDEN, "skills",
                         "这把钥匙没有登记技能 %s（已登记：%s）/ this key is not registered for "
                         "\"%s\" (registered: %s)",
                         cat->name, key->skills_text, cat->name, key->skills_text);
            goto fail;
        }
        skills |= bit;
    }
    for (int i = 0; i < b->cfg.category_count; i++) {
        if (!(skills & (1u << i)))
            continue;
        if (skill_list[0])
            bm_strlcpy(skill_list + strlen(skill_list), ",", sizeof skill_list - strlen(skill_list));
        bm_strlcpy(skill_list + strlen(skill_list), b->cfg.categories[i].name,
                   sizeof skill_list - strlen(skill_list));
    }

    /* One session per volunteer and per connection: a re-hello replaces both.
     * Everything is checked before anything is written: a refused hello
     * writes nothing. */
    session_t *slot = session_slot(b, env, id);
    if (!slot) {
        bm_error_set(&err, BM_ERR_INVALID, NULL, "在线志愿者太多 (%d) / too many volunteers online (%d)",
                     MAX_SESSIONS, MAX_SESSIONS);
        goto fail;
    }
    if (store_volunteer_hello(b->store, id, name, skill_list, (int)max_jobs, bm_now_ms(), &err) != 0)
        goto fail;
    for (int i = 0; i < b->session_top; i++) {
        session_t *s = &b->sessions[i];
        if (s != slot && s->used && strcmp(s->volunteer, id) == 0)
            s->used = false;
    }
    memset(slot, 0, sizeof *slot);
    slot->used = true;
    if (slot - b->sessions >= b->session_top)
        b->session_top = (int)(slot - b->sessions) + 1;
    slot->env = *env;
    bm_strlcpy(slot->volunteer, id, sizeof slot->volunteer);
    bm_strlcpy(slot->name, name, sizeof slot->name);
    slot->skills = skills;
    slot->max_jobs = (int)max_jobs;
    slot->last_heard = bm_mono_ms();
    slot->last_db_seen = bm_now_ms();
    slot->batch = b->batch;
    b->dispatch_dirty = true;
    log_info("志愿者上线 / volunteer %s (%s) online, skills %s", id, name, skill_list);

    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "volunteer", id);
    cJSON_AddStringToObject(reply, "name", name);
    cJSON *sarr = cJSON_AddArrayToObject(reply, "skills");
    for (int i = 0; i < b->cfg.category_count; i++) {
        if (skills & (1u << i))
            cJSON_AddItemToArray(sarr, cJSON_CreateString(b->cfg.categories[i].name));
    }
    cJSON_AddNumberToObject(reply, "max_jobs", (double)max_jobs);
    cJSON_AddNumberToObject(reply, "heartbeat_ms", b->cfg.heartbeat_ms);
    cJSON_AddItemToObject(reply, "jobs", store_volunteer_jobs(b->store, id));
    reply_ok(b, SOCK_WORKER, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_WORKER, env, msg, &err);
}

void cmd_heartbeat(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    int64_t now = bm_now_ms();
    if (now - s->last_db_seen >= SEEN_WRITE_MS && store_batch_begin(b->store, NULL) == 0 &&
        store_volunteer_seen(b->store, s->volunteer, now) == 0)
        s->last_db_seen = now;
    reply_ok(b, SOCK_WORKER, env, msg, NULL, false);
}

void cmd_claim(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    if (get_ticket(msg->body, &ticket, &err) != 0) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    /* A lease that ran out since the last sweep ends first, so that the
     * claim is judged against the request as it really stands. The store
     * checks the volunteer's skills on the row it reads for the claim. */
    expire_leases(b);
    store_act_t a = {.act = BM_ACT_CLAIM, .volunteer = s->volunteer, .max_jobs = s->max_jobs,
                     .skills = s->skills};
    size_t before = b->n_out;
    run_act(b, SOCK_WORKER, env, msg, ticket, &a);
    if (b->n_out > before && strcmp(b->out[b->n_out - 1].cmd, BM_REPLY_ERROR) == 0)
        session_forget_offer(s, ticket); /* taken or gone: stop counting it as an offer */
    else if (b->n_out > before)
        s->claims_today++;
}

/* progress, done, cantfix and escalate from the volunteer who holds the job. */
static void holder_act(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg,
                       bm_action_t act, const char *text_key, bool text_required)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    const char *text = NULL, *department = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 ||
        bm_body_str(msg->body, text_key, text_required, BM_MAX_NOTE, &text, &err) != 0 ||
        (act == BM_ACT_ESCALATE &&
         (bm_body_str(msg->body, "department", true, BM_MAX_DEPARTMENT, &department, &err) != 0 ||
          bm_config_check_department(&b->cfg, department, &err) != 0))) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    store_act_t a = {.act = act, .volunteer = s->volunteer, .text = text, .department = department};
    store_attach_t attach[BM_MAX_ATTACH];
    bm_blob_t blobs[BM_MAX_ATTACH];
    if (msg->n_attach > 0 && (photo_quota(b, ticket, msg, &err) != 0 ||
                              accept_photos(b, msg, attach, blobs, &err) != 0)) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    if (msg->n_attach > 0 && b->caller.key)
        b->caller.key->day_photos += (int)msg->n_attach;
    a.attach = attach;
    a.n_attach = msg->n_attach;
    run_act(b, SOCK_WORKER, env, msg, ticket, &a);
}

void cmd_done(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_DONE, "note", false);
}

void cmd_progress(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_PROGRESS, "note", false);
}

void cmd_cantfix(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_CANTFIX, "reason", true);
}

void cmd_worker_escalate(broker_t *b, session_t *s, const bm_envelope_t *env,
                                const bm_msg_t *msg)
{
    holder_act(b, s, env, msg, BM_ACT_ESCALATE, "reason", true);
}

void cmd_decline(broker_t *b, session_t *s, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t ticket = 0;
    const char *reason = NULL;
    if (get_ticket(msg->body, &ticket, &err) != 0 ||
        bm_body_str(msg->body, "reason", false, BM_MAX_REASON, &reason, &err) != 0 ||
        store_decline(b->store, ticket, s->volunteer, reason, bm_now_ms(), &err) != 0) {
        reply_err(b, SOCK_WORKER, env, msg, &err);
        return;
    }
    session_forget_offer(s, ticket);
    b->dispatch_dirty = true;
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "ticket", (double)ticket);
    reply_ok(b, SOCK_WORKER, env, msg, reply, true);
}
