/* broker_notifier.c - the notifier's side on the client socket: take (due
 * deliveries from the outbox, or wait for some) and report (the result of
 * each attempt); waiting takes are served at the end of each pass. */
#include "broker_int.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

void cmd_take(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    int64_t max = 64, wait_ms = 0;
    if (bm_json_int(msg->body, "max", false, 1, BM_MAX_TAKE, &max, &err) ||
        bm_json_int(msg->body, "wait_ms", false, 0, 30000, &wait_ms, &err)) {
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    const char *taker = b->caller.key ? b->caller.key->public_key : "";
    int n = store_take(b->store, bm_now_ms(), (int)max, (int64_t)b->cfg.delivery_lease_s * 1000, taker,
                       arr);
    if (n < 0) {
        cJSON_Delete(arr);
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "读不了待发通知表，请再试 / cannot read the outbox; try again");
        reply_err(b, SOCK_CLIENT, env, msg, &err);
        return;
    }
    if (n == 0 && wait_ms > 0 && b->n_takers < MAX_TAKERS) {
        cJSON_Delete(arr);
        taker_t *t = &b->takers[b->n_takers++];
        t->env = *env;
        memcpy(t->cid, msg->cid, msg->cid_len + 1);
        t->cid_len = msg->cid_len;
        t->max = (int)max;
        t->deadline = bm_mono_ms() + wait_ms;
        bm_strlcpy(t->taker, taker, sizeof t->taker);
        return;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "deliveries", arr);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, n > 0);
}

void cmd_report(broker_t *b, const bm_envelope_t *env, const bm_msg_t *msg)
{
    bm_error_t err = {0};
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(msg->body, "results");
    int count = cJSON_GetArraySize(results);
    if (!cJSON_IsArray(results) || count > BM_MAX_RESULTS) {
        bm_error_set(&err, BM_ERR_INVALID, "results", "\"results\" 应为最多 %d 个结果的数组 / \"results\" must be an array of at most %d "
                     "results",
                     BM_MAX_RESULTS, BM_MAX_RESULTS);
        goto fail;
    }
    store_result_t *rs = calloc((size_t)count + 1, sizeof *rs);
    if (!rs) {
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        goto fail;
    }
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, results) {
        store_result_t *x = &rs[i++];
        x->latency_ms = -1; /* not reported; 0 ms is a real (fast) attempt */
        int64_t status = 0, retry = -1;
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
        const cJSON *gone = cJSON_GetObjectItemCaseSensitive(r, "gone");
        const cJSON *permanent = cJSON_GetObjectItemCaseSensitive(r, "permanent");
        if (!cJSON_IsObject(r) || bm_json_int(r, "id", true, 1, INT64_MAX / 2, &x->id, &err) ||
            !cJSON_IsBool(ok) || bm_json_int(r, "status", false, 0, 999, &status, &err) ||
            bm_json_int(r, "latency_ms", false, 0, INT64_C(86400000), &x->latency_ms, &err) ||
            bm_json_int(r, "retry_after_s", false, 0, INT64_C(31536000), &retry, &err) ||
            bm_body_str(r, "error", false, 1000, &x->error, &err) || (gone && !cJSON_IsBool(gone)) ||
            (permanent && !cJSON_IsBool(permanent))) {
            if (!err.code)
                bm_error_set(&err, BM_ERR_INVALID, "results",
                             "每个结果都要有 \"id\" 和布尔值 \"ok\" / each result needs \"id\" and a boolean \"ok\"");
            free(rs);
            goto fail;
        }
        x->ok = cJSON_IsTrue(ok);
        x->status = (int)status;
        x->retry_after_s = retry;
        x->gone = cJSON_IsTrue(gone);
        x->permanent = cJSON_IsTrue(permanent);
    }
    int64_t now = bm_now_ms();
    const char *taker = b->caller.key ? b->caller.key->public_key : "";
    cJSON *refused = cJSON_CreateArray();
    int recorded = 0;
    for (int k = 0; k < count; k++) {
        int rc = store_report(b->store, &rs[k], taker, now, &err);
        if (rc < 0) {
            free(rs);
            cJSON_Delete(refused);
            goto fail;
        }
        if (rc == 1) {
            cJSON_AddItemToArray(refused, cJSON_CreateNumber((double)rs[k].id));
        } else {
            recorded++;
            metrics_webhook(b->metrics, rs[k].ok, rs[k].latency_ms);
        }
    }
    free(rs);
    if (cJSON_GetArraySize(refused) > 0)
        log_warn("通知器报告了不归它的投递，已忽略 / a notifier reported %d deliveries it does not hold; "
                 "ignored",
                 cJSON_GetArraySize(refused));
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "recorded", recorded);
    cJSON_AddItemToObject(reply, "not_leased", refused);
    reply_ok(b, SOCK_CLIENT, env, msg, reply, true);
    return;
fail:
    reply_err(b, SOCK_CLIENT, env, msg, &err);
}

void serve_takers(broker_t *b, bool shutting_down)
{
    int64_t mono = bm_mono_ms();
    int64_t now = bm_now_ms();
    int kept = 0;
    for (int i = 0; i < b->n_takers; i++) {
        taker_t *t = &b->takers[i];
        bm_msg_t m = {0};
        memcpy(m.cid, t->cid, t->cid_len + 1);
        m.cid_len = t->cid_len;
        if (shutting_down) {
            bm_error_t err = {0};
            bm_error_set(&err, BM_ERR_SHUTTING_DOWN, NULL, "服务站正在停止 / the broker is stopping");
            reply_err(b, SOCK_CLIENT, &t->env, &m, &err);
            continue;
        }
        cJSON *arr = cJSON_CreateArray();
        int n = store_take(b->store, now, t->max, (int64_t)b->cfg.delivery_lease_s * 1000, t->taker, arr);
        if (n > 0 || mono >= t->deadline || n < 0) {
            cJSON *reply = cJSON_CreateObject();
            cJSON_AddItemToObject(reply, "deliveries", arr);
            reply_ok(b, SOCK_CLIENT, &t->env, &m, reply, n > 0);
        } else {
            cJSON_Delete(arr);
            b->takers[kept++] = *t;
        }
    }
    b->n_takers = kept;
}
