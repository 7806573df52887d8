/* store_outbox.c - the webhook outbox as the notifier and the office
 * see it: take and report (leases), deliveries, replay, endpoints. */
#include "store_int.h"

/* ---- outbox ------------------------------------------------------------ */

int store_take(store_t *self, int64_t now, int max, int64_t lease_ms, const char *taker, cJSON *arr)
{
    int before = cJSON_GetArraySize(arr);
    sqlite3_stmt *s = st_stmt(self, Q_TAKE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, max);
    int64_t ids[BM_MAX_TAKE];
    int n = 0;
    int step;
    while (n < max && n < BM_MAX_TAKE && (step = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *d = cJSON_CreateObject();
        ids[n] = sqlite3_column_int64(s, 0);
        cJSON_AddNumberToObject(d, "id", (double)ids[n]);
        bm_json_add_str(d, "msg_id", st_col_text(s, 1));
        bm_json_add_str(d, "url", st_col_text(s, 2));
        cJSON *secrets = cJSON_AddArrayToObject(d, "secrets");
        cJSON_AddItemToArray(secrets, cJSON_CreateString(st_col_text(s, 3)));
        if (st_col_text(s, 7)) /* a rotation is under way: sign with both */
            cJSON_AddItemToArray(secrets, cJSON_CreateString(st_col_text(s, 7)));
        bm_json_add_str(d, "type", st_col_text(s, 4));
        bm_json_add_str(d, "body", st_col_text(s, 5));
        cJSON_AddNumberToObject(d, "attempt", sqlite3_column_int(s, 6) + 1);
        cJSON_AddItemToArray(arr, d);
        n++;
    }
    sqlite3_reset(s);
    if (n > 0 && store_batch_begin(self, NULL) != 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        s = st_stmt(self, Q_LEASE);
        if (!s)
            goto fail;
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_int64(s, 2, now + lease_ms);
        st_bind_text(s, 3, taker ? taker : "");
        if (sqlite3_step(s) != SQLITE_DONE)
            goto fail;
    }
    return n;
fail:
    /* Nothing is handed out whose lease was not written. */
    while (cJSON_GetArraySize(arr) > before)
        cJSON_DeleteItemFromArray(arr, before);
    return -1;
}

int store_report(store_t *self, const store_result_t *r, const char *taker, int64_t now,
                 bm_error_t *err)
{
    sqlite3_stmt *s = st_stmt(self, Q_DELIVERY_STATE);
    if (!s) {
        st_db_error(self, err, "report");
        return -1;
    }
    sqlite3_bind_int64(s, 1, r->id);
    if (sqlite3_step(s) != SQLITE_ROW || strcmp(st_col_text(s, 0), "pending") != 0) {
        sqlite3_reset(s);
        return 0; /* unknown or already finished: a late duplicate report */
    }
    /* Only the notifier key that holds the delivery's lease, while it holds
     * it, may report on it: no other peer can mark a notice delivered. */
    const char *holder = st_col_text(s, 3);
    if (!holder || strcmp(holder, taker ? taker : "") != 0 || sqlite3_column_int64(s, 4) < now) {
        sqlite3_reset(s);
        return 1;
    }
    int attempts = sqlite3_column_int(s, 1) + 1; /* including this one */
    int64_t endpoint = sqlite3_column_int64(s, 2);
    sqlite3_reset(s);

    if (st_sp_begin(self, err) != 0)
        return -1;
    int rc = -1;
    char error[300];
    if (r->error)
        snprintf(error, sizeof error, "%s", r->error);
    else if (r->status)
        snprintf(error, sizeof error, "HTTP %d", r->status);
    else
        snprintf(error, sizeof error, "failed");
    s = st_stmt(self, Q_ATTEMPT_INSERT);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int64(s, 2, now);
    if (r->status)
        sqlite3_bind_int(s, 3, r->status);
    if (r->latency_ms >= 0)
        sqlite3_bind_int64(s, 4, r->latency_ms);
    else
        sqlite3_bind_null(s, 4); /* not reported */
    if (!r->ok)
        st_bind_text(s, 5, error);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;

    if (r->ok) {
        s = st_stmt(self, Q_DELIVERED);
        if (!s)
            goto out;
        sqlite3_bind_int64(s, 1, r->id);
        sqlite3_bind_int64(s, 2, now);
    } else if (r->gone || r->permanent || attempts >= self->cfg->retry_count) {
        if (r->gone) {
            s = st_stmt(self, Q_ENDPOINT_DISABLE);
            if (!s)
                goto out;
            sqlite3_bind_int64(s, 1, endpoint);
            if (sqlite3_step(s) != SQLITE_DONE)
                goto out;
            snprintf(error, sizeof error, "endpoint answered 410 Gone and was disabled");
        }
        s = st_stmt(self, Q_DEAD);
        if (!s)
            goto out;
        sqlite3_bind_int64(s, 1, r->id);
        st_bind_text(s, 2, error);
        sqlite3_bind_int64(s, 3, now);
    } else {
        /* Exponential schedule with up to 10% jitter, never sooner than Retry-After. */
        int64_t delay_ms = (int64_t)self->cfg->retry_schedule_s[attempts] * 1000;
        uint32_t rnd = 0;
        bm_random_bytes(&rnd, sizeof rnd);
        if (delay_ms > 0)
            delay_ms += (int64_t)(rnd % (uint32_t)(delay_ms / 10 + 1));
        if (r->retry_after_s > 0 && r->retry_after_s * 1000 > delay_ms)
            delay_ms = r->retry_after_s * 1000;
        s = st_stmt(self, Q_RETRY);
        if (!s)
            goto out;
        sqlite3_bind_int64(s, 1, r->id);
        st_bind_text(s, 2, error);
        sqlite3_bind_int64(s, 3, now + delay_ms);
    }
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
out:
    if (rc != 0)
        st_db_error(self, err, "report");
    return st_sp_end(self, rc, err);
}

int64_t store_next_due(store_t *self)
{
    sqlite3_stmt *s = st_stmt(self, Q_NEXT_DUE);
    int64_t at = INT64_MAX;
    if (s && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        at = sqlite3_column_int64(s, 0);
    if (s)
        sqlite3_reset(s);
    return at;
}

/* ---- the operators' view of the outbox ----------------------------------- */

static void add_delivery_row(cJSON *o, sqlite3_stmt *s)
{
    /* columns: id, msg_id, type, state, attempts, last_error, next_at, created_at, done_at,
     * request_id, endpoint_id, url, endpoint name */
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(s, 0));
    bm_json_add_str(o, "msg_id", st_col_text(s, 1));
    bm_json_add_str(o, "type", st_col_text(s, 2));
    bm_json_add_str(o, "state", st_col_text(s, 3));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(s, 4));
    bm_json_add_str(o, "last_error", st_col_text(s, 5));
    bm_json_add_time(o, "next_at", strcmp(st_col_text(s, 3), "pending") == 0 ? st_col_i64(s, 6) : 0);
    bm_json_add_time(o, "created_at", st_col_i64(s, 7));
    bm_json_add_time(o, "done_at", st_col_i64(s, 8));
    if (sqlite3_column_type(s, 9) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "ticket");
    else
        cJSON_AddNumberToObject(o, "ticket", (double)sqlite3_column_int64(s, 9));
    cJSON_AddNumberToObject(o, "endpoint", (double)sqlite3_column_int64(s, 10));
    bm_json_add_str(o, "url", st_col_text(s, 11));
    bm_json_add_str(o, "endpoint_name", st_col_text(s, 12));
}

#define DELIVERY_COLS                                                                        \
    "d.id, d.msg_id, d.type, d.state, d.attempts, d.last_error, d.next_at, d.created_at,"    \
    " d.done_at, d.request_id, d.endpoint_id, e.url, e.name"

static void delivery_row(store_t *self, cJSON *o, sqlite3_stmt *s)
{
    (void)self;
    add_delivery_row(o, s);
}

int store_deliveries(store_t *self, const store_delivery_filter_t *f, cJSON **out, bm_error_t *err)
{
    st_where_t w = {0};
    st_where_text(&w, " AND d.state = ?", f->state);
    st_where_num(&w, " AND d.endpoint_id = ?", f->endpoint);
    st_where_num(&w, " AND d.request_id = ?", f->ticket);
    st_where_num(&w, " AND d.created_at >= ?", f->since);
    return st_paged(self, "deliveries", "SELECT count(*) FROM deliveries d", "", &w,
                    "SELECT " DELIVERY_COLS " FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id",
                    "ORDER BY d.id DESC LIMIT ? OFFSET ?", &w, f->limit, f->offset, "deliveries",
                    delivery_row, out, err);
}

int store_delivery(store_t *self, int64_t id, cJSON **out, bm_error_t *err)
{
    *out = NULL;
    sqlite3_stmt *s = NULL, *a = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT " DELIVERY_COLS ", d.body FROM deliveries d"
                           " JOIN endpoints e ON e.id = d.endpoint_id WHERE d.id = ?1",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db,
                           "SELECT at, status, latency_ms, error FROM delivery_attempts"
                           " WHERE delivery_id = ?1 ORDER BY id",
                           -1, &a, NULL) != SQLITE_OK) {
        st_db_error(self, err, "delivery");
        goto out;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(a, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "id", "没有编号为 %lld 的投递记录 / no delivery with id %lld", (long long)id, (long long)id);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    add_delivery_row(o, s);
    bm_json_add_str(o, "body", st_col_text(s, 13));
    cJSON *attempts = cJSON_AddArrayToObject(o, "attempt_log");
    while (sqlite3_step(a) == SQLITE_ROW) {
        cJSON *x = cJSON_CreateObject();
        bm_json_add_time(x, "at", st_col_i64(a, 0));
        if (sqlite3_column_type(a, 1) == SQLITE_NULL)
            cJSON_AddNullToObject(x, "status");
        else
            cJSON_AddNumberToObject(x, "status", sqlite3_column_int(a, 1));
        cJSON_AddNumberToObject(x, "latency_ms", (double)st_col_i64(a, 2));
        bm_json_add_str(x, "error", st_col_text(a, 3));
        cJSON_AddItemToArray(attempts, x);
    }
    *out = o;
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_finalize(a);
    return rc;
}

int store_replay(store_t *self, int64_t id, int64_t dead_since, int64_t now, bm_error_t *err)
{
    /* A replayed delivery keeps its msg_id (receivers may deduplicate) and
     * starts the retry schedule again; its attempt log stays. */
    sqlite3_stmt *s = NULL;
    int rc = -1;
    const char *sql = id ? "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?3,"
                           " done_at = NULL WHERE id = ?1 AND state IN ('dead', 'delivered')"
                         : "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?3,"
                           " done_at = NULL WHERE state = 'dead' AND done_at >= ?2";
    if (st_sp_begin(self, err) != 0)
        return -1;
    if (sqlite3_prepare_v2(self->db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (id)
            sqlite3_bind_int64(s, 1, id);
        else
            sqlite3_bind_int64(s, 2, dead_since);
        sqlite3_bind_int64(s, 3, now);
        if (sqlite3_step(s) == SQLITE_DONE)
            rc = sqlite3_changes(self->db);
    }
    sqlite3_finalize(s);
    if (rc < 0)
        st_db_error(self, err, "replay");
    if (st_sp_end(self, rc < 0 ? -1 : 0, err) != 0)
        return -1;
    if (rc == 0 && id) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "id",
                     "通知 %lld 不存在或还在等待发送，只有已放弃或已送达的才能重发 / delivery %lld does not "
                     "exist or is still pending; only dead or delivered ones can be replayed",
                     (long long)id, (long long)id);
        return -1;
    }
    return rc;
}

cJSON *store_endpoints(store_t *self)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT e.id, e.kind, e.name, e.url, e.enabled, e.events, e.department,"
                           " e.old_until,"
                           " (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending'),"
                           " (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'dead'),"
                           " (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'delivered')"
                           " FROM endpoints e ORDER BY e.kind DESC, e.id",
                           -1, &s, NULL) != SQLITE_OK)
        return arr;
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(s, 0));
        bm_json_add_str(o, "kind", st_col_text(s, 1));
        bm_json_add_str(o, "name", st_col_text(s, 2));
        bm_json_add_str(o, "url", st_col_text(s, 3));
        cJSON_AddBoolToObject(o, "enabled", sqlite3_column_int(s, 4) != 0);
        bm_json_add_str(o, "events", st_col_text(s, 5));
        bm_json_add_str(o, "department", st_col_text(s, 6));
        bm_json_add_time(o, "rotation_until", st_col_i64(s, 7) > bm_now_ms() ? st_col_i64(s, 7) : 0);
        cJSON_AddNumberToObject(o, "pending", sqlite3_column_int(s, 8));
        cJSON_AddNumberToObject(o, "dead", sqlite3_column_int(s, 9));
        cJSON_AddNumberToObject(o, "delivered", sqlite3_column_int(s, 10));
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(s);
    return arr;
}

int store_endpoint_set(store_t *self, int64_t id, const char *action, const char *new_secret,
                       int64_t now, int64_t overlap_ms, bm_error_t *err)
{
    const char *sql;
    if (strcmp(action, "disable") == 0)
        sql = "UPDATE endpoints SET enabled = 0 WHERE id = ?1";
    else if (strcmp(action, "enable") == 0)
        sql = "UPDATE endpoints SET enabled = 1 WHERE id = ?1";
    else if (strcmp(action, "rotate") == 0)
        sql = "UPDATE endpoints SET old_secret = secret, old_until = ?3, secret = ?2"
              " WHERE id = ?1 AND kind = 'callback'";
    else {
        bm_error_set(err, BM_ERR_INVALID, "action", "操作只能是 disable（停用）、enable（启用）或 rotate（更换密钥） / action must be disable, enable or rotate");
        return -1;
    }
    if (st_sp_begin(self, err) != 0)
        return -1;
    sqlite3_stmt *s = NULL;
    int changed = -1;
    if (sqlite3_prepare_v2(self->db, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        if (new_secret)
            st_bind_text(s, 2, new_secret);
        sqlite3_bind_int64(s, 3, now + overlap_ms);
        if (sqlite3_step(s) == SQLITE_DONE)
            changed = sqlite3_changes(self->db);
    }
    sqlite3_finalize(s);
    if (changed < 0)
        st_db_error(self, err, "endpoint");
    else if (changed == 0 && strcmp(action, "rotate") == 0)
        bm_error_set(err, BM_ERR_NOT_FOUND, "id",
                     "没有编号 %lld 的回调地址（订阅的密钥在配置里改，旧密钥还会签一段时间） / no callback "
                     "endpoint with id %lld (a subscription's secret is rotated by changing it in "
                     "the config: the old one is still signed with for a while)",
                     (long long)id, (long long)id);
    else if (changed == 0)
        bm_error_set(err, BM_ERR_NOT_FOUND, "id", "没有编号为 %lld 的回调地址 / no endpoint with id %lld", (long long)id, (long long)id);
    if (st_sp_end(self, changed == 1 ? 0 : -1, err) != 0)
        return -1;
    return 0;
}
