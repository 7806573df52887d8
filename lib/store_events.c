/* store_events.c - the event log and the transactional outbox's writes:
 * every event appended with the webhooks it causes, in the same
 * transaction; the configured subscriptions and the fan-out to them. */
#include "store_int.h"

/* ---- events and notices ------------------------------------------------ */

static const char *category_label(store_t *self, const char *name)
{
    const bm_category_t *c = name ? bm_config_category(self->cfg, name) : NULL;
    return c ? c->label : name;
}

/* True if a subscription wants this notice. */
static bool sub_wants(const sub_t *sub, const char *type, const char *department)
{
    if (sub->department[0] && (!department || strcmp(sub->department, department) != 0))
        return false; /* a department hears only about what was escalated to it */
    if (!sub->events[0])
        return true;
    size_t n = strlen(type);
    for (const char *p = sub->events; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, type, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static int insert_delivery(store_t *self, int64_t endpoint, int64_t ticket, int64_t event_id,
                           const char *type, const char *body, int64_t now)
{
    char msg_id[48];
    bm_random_id("msg_", msg_id, sizeof msg_id);
    sqlite3_stmt *s = st_stmt(self, Q_DELIVERY_INSERT);
    if (!s)
        return -1;
    st_bind_text(s, 1, msg_id);
    sqlite3_bind_int64(s, 2, endpoint);
    sqlite3_bind_int64(s, 3, ticket);
    if (event_id)
        sqlite3_bind_int64(s, 4, event_id);
    else
        sqlite3_bind_null(s, 4); /* a receipt: no event row (007_receipt.sql) */
    st_bind_text(s, 5, type);
    st_bind_text(s, 6, body);
    sqlite3_bind_int64(s, 7, now);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

/* Queues the webhook for an event (event_id 0: the receipt, which has no
 * event row), in the current transaction: to the request's callback, and to
 * every subscription that wants it. The event's detail (note, reason, answer,
 * department) is copied into data. */
int st_notice(store_t *self, int64_t ticket, int64_t event_id, const char *type, const cJSON *detail,
              int64_t now)
{
    sqlite3_stmt *s = st_stmt(self, Q_REQ_NOTICE_INFO);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    if (sqlite3_step(s) != SQLITE_ROW)
        return -1;
    int64_t callback = st_col_i64(s, 3);
    char department[BM_MAX_DEPARTMENT + 1] = "";
    if (st_col_text(s, 5))
        bm_strlcpy(department, st_col_text(s, 5), sizeof department);
    bool wanted = callback != 0;
    for (int i = 0; !wanted && i < self->n_subs; i++)
        wanted = sub_wants(&self->subs[i], type, department[0] ? department : NULL);
    if (!wanted) {
        sqlite3_reset(s);
        return 0; /* nobody to tell: do not even build the body */
    }

    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    bm_json_add_time(body, "timestamp", now);
    cJSON *data = cJSON_AddObjectToObject(body, "data");
    cJSON_AddNumberToObject(data, "ticket", (double)ticket);
    bm_json_add_str(data, "category", st_col_text(s, 0));
    bm_json_add_str(data, "category_label", category_label(self, st_col_text(s, 0)));
    bm_json_add_str(data, "building", st_col_text(s, 1));
    bm_json_add_str(data, "status", st_col_text(s, 2));
    bm_json_add_str(data, "volunteer", st_col_text(s, 4));
    sqlite3_reset(s);
    if (strcmp(type, "request.completed") == 0 || strcmp(type, "request.resolved") == 0) {
        char how[200];
        snprintf(how, sizeof how,
                 "请为本次服务评分 1-5 / rate 1-5 within %d days: bianmin rate %lld SCORE --channel CHANNEL",
                 self->cfg->rate_days, (long long)ticket);
        cJSON_AddStringToObject(data, "rate", how);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, detail) {
        if (!cJSON_GetObjectItemCaseSensitive(data, item->string))
            cJSON_AddItemToObject(data, item->string, cJSON_Duplicate(item, true));
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text)
        return -1;
    int rc = 0;
    if (callback)
        rc = insert_delivery(self, callback, ticket, event_id, type, text, now);
    for (int i = 0; rc == 0 && i < self->n_subs; i++) {
        if (sub_wants(&self->subs[i], type, department[0] ? department : NULL))
            rc = insert_delivery(self, self->subs[i].id, ticket, event_id, type, text, now);
    }
    free(text);
    return rc;
}

/* Appends an event (detail: a JSON object or NULL) and, if notice is not
 * NULL, the webhooks it causes. */
int st_record_event(store_t *self, int64_t ticket, int64_t now, const char *actor,
                    const char *kind, const char *from, const char *to, const cJSON *detail,
                    const char *notice)
{
    sqlite3_stmt *s = st_stmt(self, Q_EVENT_INSERT);
    if (!s)
        return -1;
    char *dtext = detail ? cJSON_PrintUnformatted(detail) : NULL;
    sqlite3_bind_int64(s, 1, ticket);
    sqlite3_bind_int64(s, 2, now);
    st_bind_text(s, 3, actor);
    st_bind_text(s, 4, kind);
    st_bind_text(s, 5, from);
    st_bind_text(s, 6, to);
    st_bind_text(s, 7, dtext ? dtext : "{}");
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    free(dtext);
    if (rc != 0)
        return -1;
    int64_t event_id = sqlite3_last_insert_rowid(self->db);
    self->last_event_id = event_id;
    if (notice)
        return st_notice(self, ticket, event_id, notice, detail, now);
    return 0;
}

/* Writes the configured subscriptions into endpoints (those no longer
 * configured are disabled, never deleted: their deliveries stay visible) and
 * caches them for the fan-out. */
int st_sync_subscriptions(store_t *self, bm_error_t *err)
{
    int64_t now = bm_now_ms();
    if (st_exec(self, "BEGIN IMMEDIATE") != 0)
        goto fail;
    sqlite3_stmt *s = st_stmt(self, Q_SUB_DISABLE_ALL);
    if (!s || sqlite3_step(s) != SQLITE_DONE)
        goto fail_tx;
    for (int i = 0; i < self->cfg->subscription_count; i++) {
        const bm_subscription_t *c = &self->cfg->subscriptions[i];
        s = st_stmt(self, Q_SUB_UPSERT);
        if (!s)
            goto fail_tx;
        st_bind_text(s, 1, c->url);
        st_bind_text(s, 2, c->secret);
        st_bind_text(s, 3, c->name);
        st_bind_text(s, 4, c->events[0] ? c->events : NULL);
        st_bind_text(s, 5, c->department[0] ? c->department : NULL);
        sqlite3_bind_int64(s, 6, now);
        /* A changed secret is a rotation: the old one is signed with too, for a while. */
        sqlite3_bind_int64(s, 7, now + (int64_t)self->cfg->rotation_overlap_s * 1000);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto fail_tx;
    }
    if (st_exec(self, "COMMIT") != 0)
        goto fail_tx;
    self->n_subs = 0;
    s = st_stmt(self, Q_SUB_LIST);
    while (s && self->n_subs < BM_MAX_SUBSCRIPTIONS && sqlite3_step(s) == SQLITE_ROW) {
        sub_t *sub = &self->subs[self->n_subs++];
        sub->id = sqlite3_column_int64(s, 0);
        bm_strlcpy(sub->events, st_col_text(s, 1), sizeof sub->events);
        bm_strlcpy(sub->department, st_col_text(s, 2), sizeof sub->department);
    }
    if (s)
        sqlite3_reset(s);
    return 0;
fail_tx:
    st_exec(self, "ROLLBACK");
fail:
    bm_error_set(err, BM_ERR_STORAGE, NULL, "订阅记不下来 / cannot record the subscriptions: %s",
                 sqlite3_errmsg(self->db));
    return -1;
}
