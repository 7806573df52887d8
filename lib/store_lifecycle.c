/* store_lifecycle.c - the request lifecycle: who may do what to a
 * request and when (claim, progress, done, cancel, escalate, resolve,
 * reopen, rate, decline), lease expiry and the overdue marks. */
#include "store_int.h"

/* The most requests one overdue sweep marks (the next sweep goes on). */
#define OVERDUE_BATCH 100

/* The columns a transition reads and writes. */
typedef struct {
    char status[16];
    char holder[BM_MAX_VOL_ID + 1];
    char channel[32];
    char category[32];
    char department[BM_MAX_DEPARTMENT + 1];
    int64_t lease_until, claimed_at, done_at, offer_due_at, deadline_at;
    int64_t endpoint; /* the requester's callback, 0 if none */
    int attempts, overdue;
} row_t;

static void bind_i64_or_null(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

/* Reads the request's lifecycle columns. Returns 0, 1 if not found, -1. */
static int row_load(store_t *self, int64_t ticket, row_t *r)
{
    sqlite3_stmt *s = st_stmt(self, Q_ACT_ROW);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        return 1;
    if (step != SQLITE_ROW)
        return -1;
    memset(r, 0, sizeof *r);
    bm_strlcpy(r->status, st_col_text(s, 0), sizeof r->status);
    bm_strlcpy(r->holder, st_col_text(s, 1) ? st_col_text(s, 1) : "", sizeof r->holder);
    bm_strlcpy(r->channel, st_col_text(s, 2), sizeof r->channel);
    bm_strlcpy(r->category, st_col_text(s, 3), sizeof r->category);
    r->lease_until = st_col_i64(s, 4);
    r->claimed_at = st_col_i64(s, 5);
    r->done_at = st_col_i64(s, 6);
    r->offer_due_at = st_col_i64(s, 7);
    r->deadline_at = st_col_i64(s, 8);
    r->attempts = sqlite3_column_int(s, 9);
    r->overdue = sqlite3_column_int(s, 10);
    bm_strlcpy(r->department, st_col_text(s, 11) ? st_col_text(s, 11) : "", sizeof r->department);
    r->endpoint = st_col_i64(s, 12);
    sqlite3_reset(s);
    return 0;
}

/* The notice to queue for a request, or NULL when nobody would be told (no
 * callback and no subscription): then not even the notice's lookup runs. */
static const char *notice_for(const store_t *self, const row_t *r, const char *type)
{
    return type && (r->endpoint || self->n_subs > 0) ? type : NULL;
}

/* The columns a transition may set, in the order of their bits and of
 * their parameters (?2 ... ?11; ?1 is the ticket, ?12 updated_at, ?13 the
 * status the row was read with). */
static const char *const act_cols[] = {
    "status = ?2",   "volunteer_id = ?3", "lease_until = ?4", "claimed_at = ?5",
    "done_at = ?6",  "offer_due_at = ?7", "deadline_at = ?8", "attempts = ?9",
    "overdue = ?10", "department = ?11",
};
enum { COL_STATUS, COL_HOLDER, COL_LEASE, COL_CLAIMED, COL_DONE, COL_OFFER_DUE, COL_DEADLINE,
       COL_ATTEMPTS, COL_OVERDUE, COL_DEPARTMENT, COL_COUNT };
_Static_assert(sizeof act_cols / sizeof act_cols[0] == COL_COUNT, "one SET term per column bit");

/* The columns in which r differs from old. */
static unsigned row_changes(const row_t *old, const row_t *r)
{
    unsigned c = 0;
    c |= (unsigned)(strcmp(old->status, r->status) != 0) << COL_STATUS;
    c |= (unsigned)(strcmp(old->holder, r->holder) != 0) << COL_HOLDER;
    c |= (unsigned)(old->lease_until != r->lease_until) << COL_LEASE;
    c |= (unsigned)(old->claimed_at != r->claimed_at) << COL_CLAIMED;
    c |= (unsigned)(old->done_at != r->done_at) << COL_DONE;
    c |= (unsigned)(old->offer_due_at != r->offer_due_at) << COL_OFFER_DUE;
    c |= (unsigned)(old->deadline_at != r->deadline_at) << COL_DEADLINE;
    c |= (unsigned)(old->attempts != r->attempts) << COL_ATTEMPTS;
    c |= (unsigned)(old->overdue != r->overdue) << COL_OVERDUE;
    c |= (unsigned)(strcmp(old->department, r->department) != 0) << COL_DEPARTMENT;
    return c;
}

/* The UPDATE that sets exactly the columns cols (and updated_at): SQLite
 * rewrites every index that uses a named column, whatever its value, so
 * naming only what changed spares the others (a progress report touches the
 * lease index alone). Kept prepared per set of columns; *owned is set when
 * every slot is taken and the caller must finalize it. NULL once the batch is
 * lost, or if it cannot be prepared. */
static sqlite3_stmt *act_update(store_t *self, unsigned cols, bool *owned)
{
    *owned = false;
    if (st_batch_gone(self))
        return NULL;
    int free_slot = -1;
    for (int i = 0; i < ST_ACT_UPD_SLOTS; i++) {
        if (!self->act_upd[i].stmt) {
            if (free_slot < 0)
                free_slot = i;
        } else if (self->act_upd[i].cols == cols) {
            sqlite3_reset(self->act_upd[i].stmt);
            sqlite3_clear_bindings(self->act_upd[i].stmt);
            return self->act_upd[i].stmt;
        }
    }
    char sql[512];
    size_t len = (size_t)snprintf(sql, sizeof sql, "UPDATE requests SET");
    for (int i = 0; i < COL_COUNT; i++) {
        if (cols & (1u << i))
            len += (size_t)snprintf(sql + len, sizeof sql - len, " %s,", act_cols[i]);
    }
    snprintf(sql + len, sizeof sql - len, " updated_at = ?12 WHERE id = ?1 AND status = ?13");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(self->db, sql, -1, free_slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &s,
                           NULL) != SQLITE_OK) {
        log_error("数据库语句准备失败 / sqlite: prepare %s: %s", sql, sqlite3_errmsg(self->db));
        return NULL;
    }
    if (free_slot >= 0) {
        self->act_upd[free_slot].cols = cols;
        self->act_upd[free_slot].stmt = s;
    } else {
        *owned = true;
    }
    return s;
}

void st_act_close(store_t *self)
{
    for (int i = 0; i < ST_ACT_UPD_SLOTS; i++) {
        sqlite3_finalize(self->act_upd[i].stmt);
        self->act_upd[i].stmt = NULL;
    }
}

/* Writes what r changed from old, guarded by the status it was read with. */
static int row_save(store_t *self, int64_t ticket, const row_t *old, const row_t *r, int64_t now)
{
    unsigned cols = row_changes(old, r);
    bool owned = false;
    sqlite3_stmt *s = act_update(self, cols, &owned);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    if (cols & (1u << COL_STATUS))
        st_bind_text(s, 2, r->status);
    if (cols & (1u << COL_HOLDER))
        st_bind_text(s, 3, r->holder[0] ? r->holder : NULL);
    if (cols & (1u << COL_LEASE))
        bind_i64_or_null(s, 4, r->lease_until);
    if (cols & (1u << COL_CLAIMED))
        bind_i64_or_null(s, 5, r->claimed_at);
    if (cols & (1u << COL_DONE))
        bind_i64_or_null(s, 6, r->done_at);
    if (cols & (1u << COL_OFFER_DUE))
        bind_i64_or_null(s, 7, r->offer_due_at);
    if (cols & (1u << COL_DEADLINE))
        sqlite3_bind_int64(s, 8, r->deadline_at);
    if (cols & (1u << COL_ATTEMPTS))
        sqlite3_bind_int(s, 9, r->attempts);
    if (cols & (1u << COL_OVERDUE))
        sqlite3_bind_int(s, 10, r->overdue);
    if (cols & (1u << COL_DEPARTMENT))
        st_bind_text(s, 11, r->department[0] ? r->department : NULL);
    sqlite3_bind_int64(s, 12, now);
    st_bind_text(s, 13, old->status);
    int rc = sqlite3_step(s) == SQLITE_DONE && sqlite3_changes(self->db) == 1 ? 0 : -1;
    /* st_bind_text binds without a copy: nothing stays bound to r once it is gone. */
    if (owned) {
        sqlite3_finalize(s);
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return rc;
}


static bool held_action(bm_action_t act)
{
    return act == BM_ACT_PROGRESS || act == BM_ACT_DONE || act == BM_ACT_CANTFIX;
}

/* Checks who may do what; returns 0 or -1 with err set. */
static int act_allowed(store_t *self, int64_t ticket, const row_t *r, const store_act_t *a,
                       int64_t now, bm_error_t *err)
{
    const char *name = bm_action_name(a->act);
    bool by_holder = held_action(a->act) || (a->act == BM_ACT_ESCALATE && a->volunteer);
    if (by_holder) {
        if (strcmp(r->status, "claimed") != 0) {
            bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                         "编号 %lld 的请求状态是 %s，只有已接单的请求才能 %s / ticket %lld is %s; only a claimed "
                         "request allows %s",
                         (long long)ticket, r->status, name, (long long)ticket, r->status, name);
            return -1;
        }
        if (strcmp(r->holder, a->volunteer) != 0) {
            bm_error_set(err, BM_ERR_NOT_YOURS, "ticket", "编号 %lld 的请求已由另一位志愿者负责 / ticket %lld is held by another volunteer", (long long)ticket,
                         (long long)ticket);
            return -1;
        }
    }
    if (a->act == BM_ACT_CLAIM && a->skills) {
        const bm_category_t *cat = bm_config_category(self->cfg, r->category);
        int i = cat ? (int)(cat - self->cfg->categories) : -1;
        if (i >= 0 && i < 32 && !(a->skills & (1u << i))) {
            bm_error_set(err, BM_ERR_FORBIDDEN, "ticket",
                         "这单是 %s，不在你的技能里 / this job is \"%s\", which is not one of your skills",
                         cat->label, cat->name);
            return -1;
        }
    }
    if (a->act == BM_ACT_CLAIM && strcmp(r->status, "claimed") == 0) {
        if (strcmp(r->holder, a->volunteer) == 0)
            bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket", "您已经在负责编号 %lld 的请求 / you already hold ticket %lld", (long long)ticket,
                         (long long)ticket);
        else
            bm_error_set(err, BM_ERR_TAKEN, "ticket", "编号 %lld 的请求已被另一位志愿者接走 / ticket %lld was taken by another volunteer", (long long)ticket,
                         (long long)ticket);
        return -1;
    }
    if ((a->act == BM_ACT_CANCEL || a->act == BM_ACT_REOPEN) && a->channel &&
        strcmp(a->channel, r->channel) != 0 && strcmp(a->channel, "office") != 0) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "channel",
                     "只有提交这件请求的渠道（%s）或办公室可以 %s / only the request's own channel (%s) or "
                     "the office may %s it",
                     r->channel, name, r->channel, name);
        return -1;
    }
    if ((a->act == BM_ACT_RESOLVE || (a->act == BM_ACT_ESCALATE && !a->volunteer)) && a->channel &&
        strcmp(a->channel, "office") != 0) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "channel", "只有办公室可以对请求执行 %s / only the office may %s a request", name, name);
        return -1;
    }
    if (!bm_lifecycle_next(r->status, a->act)) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket", "编号 %lld 的请求状态是 %s，不能 %s / ticket %lld is %s and cannot be %s",
                     (long long)ticket, r->status,
                     a->act == BM_ACT_CLAIM ? "claimed" : bm_action_event(a->act), (long long)ticket,
                     r->status, a->act == BM_ACT_CLAIM ? "claimed" : bm_action_event(a->act));
        return -1;
    }
    if (a->act == BM_ACT_CLAIM) {
        bool known = false;
        int held = st_claims_held(self, a->volunteer, &known);
        if (held >= 0 && !known) {
            /* The claim's write would fail on the foreign key, half way. */
            bm_error_set(err, BM_ERR_HELLO_REQUIRED, NULL,
                         "志愿者 %s 还没有报到（hello），不能接单 / volunteer %s has not said hello; it "
                         "cannot claim",
                         a->volunteer, a->volunteer);
            return -1;
        }
        if (held < 0 || held >= a->max_jobs) {
            bm_error_set(err, BM_ERR_TOO_MANY_JOBS, NULL,
                         "你手上已有 %d 单，已到上限，请先完成一单 / you already hold %d job(s), the most "
                         "allowed; finish one first",
                         held, held);
            return -1;
        }
    }
    if (a->act == BM_ACT_REOPEN &&
        now - r->done_at > (int64_t)self->cfg->reopen_days * 86400 * 1000) {
        bm_error_set(err, BM_ERR_TOO_LATE, "ticket",
                     "编号 %lld 的请求完成已超过 %d 天，请重新提交 / ticket %lld was done more than %d days "
                     "ago; submit a new request instead",
                     (long long)ticket, self->cfg->reopen_days, (long long)ticket,
                     self->cfg->reopen_days);
        return -1;
    }
    return 0;
}

static const bm_category_t *category_of(store_t *self, const char *name)
{
    static const bm_category_t fallback = {"other", "其他", 1, false, 3600, 4 * 3600, 72 * 3600,
                                           BM_DEFAULT_OFFER_FANOUT, BM_DEFAULT_OFFER_STEP_S};
    const bm_category_t *c = bm_config_category(self->cfg, name);
    return c ? c : &fallback;
}

int store_rate(store_t *self, int64_t ticket, const char *channel, int score, const char *comment,
               int64_t now, bm_error_t *err)
{
    row_t r;
    int found = row_load(self, ticket, &r);
    if (found != 0) {
        if (found < 0)
            st_db_error(self, err, "rate");
        else
            bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                         (long long)ticket);
        return -1;
    }
    if (strcmp(channel, r.channel) != 0 && strcmp(channel, "office") != 0) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "channel",
                     "只有提交这件请求的渠道（%s）或办公室可以评价 / only the request's own channel (%s) or "
                     "the office may rate it",
                     r.channel, r.channel);
        return -1;
    }
    if ((strcmp(r.status, "done") != 0 && strcmp(r.status, "resolved") != 0) || !r.done_at) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                     "编号 %lld 的请求状态是 %s，只有已完成或已解决的请求才能评价 / ticket %lld is %s; only a "
                     "done or resolved request can be rated",
                     (long long)ticket, r.status, (long long)ticket, r.status);
        return -1;
    }
    if (now - r.done_at > (int64_t)self->cfg->rate_days * 86400 * 1000) {
        bm_error_set(err, BM_ERR_TOO_LATE, "ticket", "编号 %lld 的请求完成已超过 %d 天 / ticket %lld was completed more than %d days ago",
                     (long long)ticket, self->cfg->rate_days, (long long)ticket, self->cfg->rate_days);
        return -1;
    }
    char actor[96];
    snprintf(actor, sizeof actor, "channel:%s", channel);
    cJSON *detail = cJSON_CreateObject();
    cJSON_AddNumberToObject(detail, "score", score);
    if (comment)
        cJSON_AddStringToObject(detail, "comment", comment);
    if (st_sp_begin(self, err) != 0) {
        cJSON_Delete(detail);
        return -1;
    }
    int rc = -1;
    sqlite3_stmt *s = st_stmt(self, Q_RATE);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        sqlite3_bind_int(s, 2, score);
        sqlite3_bind_int64(s, 3, now);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    if (rc == 0)
        rc = st_record_event(self, ticket, now, actor, "rated", NULL, NULL, detail, NULL);
    cJSON_Delete(detail);
    if (rc != 0)
        st_db_error(self, err, "rate");
    return st_sp_end(self, rc, err);
}

int store_act(store_t *self, int64_t ticket, const store_act_t *a, int64_t now, cJSON **result,
              char *prev_holder, size_t prev_len, bm_error_t *err)
{
    if (result)
        *result = NULL;
    if (prev_holder && prev_len)
        prev_holder[0] = '\0';
    /* No savepoint (as for a submit, docs/architecture.md): the row is read
     * and every check made inside the batch's transaction, before anything
     * is written, so the writes below can fail only for what concerns the
     * whole database (disk full, I/O error); if one does, half way or not,
     * the whole pass is given up (st_direct_end). That spares the
     * savepoint's statement journal, a copy of every page the transition
     * touches. */
    if (st_direct_begin(self, err) != 0)
        return -1;
    row_t r;
    int found = row_load(self, ticket, &r);
    if (found < 0) {
        st_db_error(self, err, bm_action_name(a->act));
        return -1;
    }
    if (found > 0) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                     (long long)ticket);
        return -1;
    }
    if (act_allowed(self, ticket, &r, a, now, err) != 0)
        return -1;
    if (prev_holder)
        bm_strlcpy(prev_holder, r.holder, prev_len);

    const row_t old = r;
    const char *old_status = old.status;
    const bm_category_t *cat = category_of(self, r.category);
    bm_strlcpy(r.status, bm_lifecycle_next(old_status, a->act), sizeof r.status);
    switch (a->act) {
    case BM_ACT_CLAIM:
        bm_strlcpy(r.holder, a->volunteer, sizeof r.holder);
        r.lease_until = now + (int64_t)cat->lease_s * 1000;
        r.claimed_at = now;
        r.offer_due_at = 0;
        break;
    case BM_ACT_PROGRESS:
        r.lease_until = now + (int64_t)cat->lease_s * 1000;
        break;
    case BM_ACT_DONE:
        r.lease_until = 0;
        r.done_at = now;
        break;
    case BM_ACT_CANTFIX:
    case BM_ACT_LEASE_EXPIRE:
        r.holder[0] = '\0';
        r.lease_until = 0;
        r.attempts++;
        r.offer_due_at = now + (int64_t)cat->offer_timeout_s * 1000;
        r.overdue &= ~1;
        break;
    case BM_ACT_ESCALATE:
        r.lease_until = 0;
        r.offer_due_at = 0;
        bm_strlcpy(r.department, a->department ? a->department : "", sizeof r.department);
        break;
    case BM_ACT_RESOLVE:
        r.done_at = now; /* resolved by the department: the request is complete */
        break;
    case BM_ACT_CANCEL:
        r.lease_until = 0;
        r.offer_due_at = 0;
        break;
    case BM_ACT_REOPEN:
        r.holder[0] = '\0';
        r.done_at = 0;
        r.offer_due_at = now + (int64_t)cat->offer_timeout_s * 1000;
        r.deadline_at = now + (int64_t)cat->deadline_s * 1000;
        r.overdue = 0;
        break;
    case BM_ACT_COUNT:
        return -1;
    }

    char actor[96];
    if (a->volunteer)
        snprintf(actor, sizeof actor, "volunteer:%s", a->volunteer);
    else if (a->channel)
        snprintf(actor, sizeof actor, "channel:%s", a->channel);
    else
        snprintf(actor, sizeof actor, "system");
    cJSON *detail = cJSON_CreateObject();
    if (a->text) {
        const char *key = (a->act == BM_ACT_DONE || a->act == BM_ACT_PROGRESS) ? "note"
                          : a->act == BM_ACT_RESOLVE                          ? "answer"
                                                                              : "reason";
        cJSON_AddStringToObject(detail, key, a->text);
    }
    if (a->act == BM_ACT_ESCALATE && a->department)
        cJSON_AddStringToObject(detail, "department", a->department);
    if (a->act == BM_ACT_LEASE_EXPIRE || a->act == BM_ACT_CANTFIX)
        cJSON_AddNumberToObject(detail, "attempts", r.attempts);

    int rc = row_save(self, ticket, &old, &r, now);
    if (rc == 0)
        rc = st_record_event(self, ticket, now, actor, bm_action_event(a->act), old_status, r.status,
                             detail, notice_for(self, &r, bm_action_notice(a->act)));
    for (size_t i = 0; rc == 0 && i < a->n_attach; i++)
        rc = st_insert_attachment(self, ticket, self->last_event_id, &a->attach[i], now);
    if (rc == 0 && (a->act == BM_ACT_CANTFIX || a->act == BM_ACT_LEASE_EXPIRE) &&
        r.attempts >= self->cfg->max_attempts) {
        cJSON *d2 = cJSON_CreateObject();
        cJSON_AddNumberToObject(d2, "attempts", r.attempts);
        rc = st_record_event(self, ticket, now, "system", "needs_escalation", NULL, NULL, d2,
                             notice_for(self, &r, "request.needs_escalation"));
        cJSON_Delete(d2);
    }
    cJSON_Delete(detail);
    if (rc != 0)
        st_db_error(self, err, bm_action_name(a->act));
    rc = st_direct_end(self, rc, bm_action_name(a->act), err);
    if (rc == 0 && result) {
        if (a->act == BM_ACT_CLAIM || a->act == BM_ACT_PROGRESS) {
            *result = st_job_json(self, ticket);
        } else {
            *result = cJSON_CreateObject();
            cJSON_AddNumberToObject(*result, "ticket", (double)ticket);
            cJSON_AddStringToObject(*result, "status", r.status);
            if (a->act == BM_ACT_CANTFIX)
                cJSON_AddNumberToObject(*result, "attempts", r.attempts);
        }
    }
    return rc;
}

int store_decline(store_t *self, int64_t ticket, const char *volunteer, const char *reason,
                  int64_t now, bm_error_t *err)
{
    row_t r;
    int found = row_load(self, ticket, &r);
    if (found != 0) {
        if (found < 0)
            st_db_error(self, err, "decline");
        else
            bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                         (long long)ticket);
        return -1;
    }
    if (strcmp(r.status, "open") != 0) {
        bm_error_set(err, BM_ERR_BAD_TRANSITION, "ticket",
                     "编号 %lld 的请求状态是 %s，只有待接单的派单才能谢绝 / ticket %lld is %s; only an open "
                     "request's offer can be declined",
                     (long long)ticket, r.status, (long long)ticket, r.status);
        return -1;
    }
    char actor[96];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    cJSON *detail = cJSON_CreateObject();
    if (reason)
        cJSON_AddStringToObject(detail, "reason", reason);
    if (st_sp_begin(self, err) != 0) {
        cJSON_Delete(detail);
        return -1;
    }
    int rc = st_record_event(self, ticket, now, actor, "declined", NULL, NULL, detail, NULL);
    cJSON_Delete(detail);
    if (rc != 0)
        st_db_error(self, err, "decline");
    return st_sp_end(self, rc, err);
}

bool store_excluded(store_t *self, int64_t ticket, const char *volunteer)
{
    sqlite3_stmt *s = st_stmt(self, Q_EXCLUDED);
    if (!s)
        return false;
    char actor[96];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    sqlite3_bind_int64(s, 1, ticket);
    st_bind_text(s, 2, actor);
    bool excluded = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    return excluded;
}

int store_expire_leases(store_t *self, int64_t now, store_expired_t *out, int max)
{
    sqlite3_stmt *s = st_stmt(self, Q_LEASE_DUE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, max);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW) {
        out[n].ticket = sqlite3_column_int64(s, 0);
        bm_strlcpy(out[n].volunteer, st_col_text(s, 1) ? st_col_text(s, 1) : "", sizeof out[n].volunteer);
        n++;
    }
    sqlite3_reset(s);
    int done = 0;
    for (int i = 0; i < n; i++) {
        store_act_t a = {.act = BM_ACT_LEASE_EXPIRE, .text = "lease expired without progress"};
        bm_error_t err = {0};
        if (store_act(self, out[i].ticket, &a, now, NULL, NULL, 0, &err) == 0)
            out[done++] = out[i];
    }
    return done;
}

/* One mark: the overdue bit, and the reason its event gives. Without a
 * savepoint, as a transition: neither statement can fail for a reason of its
 * own, and a failure of either gives up the whole pass. */
static int mark_one(store_t *self, int64_t ticket, int bit, const char *reason, int64_t now)
{
    bm_error_t err = {0};
    if (st_direct_begin(self, &err) != 0)
        return -1;
    sqlite3_stmt *s = st_stmt(self, Q_SET_OVERDUE);
    int rc = -1;
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        sqlite3_bind_int(s, 2, bit);
        sqlite3_bind_int64(s, 3, now);
        rc = sqlite3_step(s) == SQLITE_DONE && sqlite3_changes(self->db) == 1 ? 0 : -1;
    }
    cJSON *detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "reason", reason);
    if (rc == 0)
        rc = st_record_event(self, ticket, now, "system", "overdue", NULL, NULL, detail,
                             "request.overdue");
    cJSON_Delete(detail);
    return st_direct_end(self, rc, "overdue", &err);
}

int store_mark_overdue(store_t *self, int64_t now)
{
    /* The requests whose due_at has come (schema/008_lifecycle.sql): each has
     * at least one kind still unmarked whose time has come. */
    struct {
        int64_t id;
        int bits;
    } due[OVERDUE_BATCH];
    sqlite3_stmt *s = st_stmt(self, Q_OVERDUE_DUE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, OVERDUE_BATCH);
    int n = 0;
    while (n < OVERDUE_BATCH && sqlite3_step(s) == SQLITE_ROW) {
        const char *status = st_col_str(s, 1);
        int overdue = sqlite3_column_int(s, 2);
        int64_t offer_due = st_col_i64(s, 3), deadline = st_col_i64(s, 4);
        bool open = strcmp(status, "open") == 0;
        int bits = 0;
        if (open && !(overdue & 1) && offer_due && offer_due <= now)
            bits |= 1;
        if ((open || strcmp(status, "claimed") == 0) && !(overdue & 2) && deadline <= now)
            bits |= 2;
        due[n].id = sqlite3_column_int64(s, 0);
        due[n++].bits = bits;
    }
    sqlite3_reset(s);
    static const char *const reason[] = {"unclaimed past the offer timeout",
                                         "not done by the service deadline"};
    int marked = 0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            if (!(due[i].bits & (1 << k)))
                continue;
            if (mark_one(self, due[i].id, 1 << k, reason[k], now) != 0)
                return -1; /* the pass is lost */
            marked++;
        }
    }
    return marked;
}
