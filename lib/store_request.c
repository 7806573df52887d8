/* store_request.c - taking a request in: submit (with its ref, callback
 * endpoint and photos; the request row is its receipt). */
#include "store_int.h"

/* ---- requests ---------------------------------------------------------- */

/* The callback endpoint for a URL as used by a channel: each channel's
 * callbacks are signed with that channel's secret. */
static int endpoint_for(store_t *self, const char *url, const char *channel, int64_t now,
                        int64_t *id)
{
    sqlite3_stmt *s = st_stmt(self, Q_ENDPOINT_FIND);
    if (!s)
        return -1;
    st_bind_text(s, 1, url);
    st_bind_text(s, 2, channel);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s); /* a statement left on a row would pin a read snapshot */
    if (step == SQLITE_ROW)
        return 0;
    if (step != SQLITE_DONE)
        return -1;
    s = st_stmt(self, Q_ENDPOINT_ADD);
    if (!s)
        return -1;
    st_bind_text(s, 1, url);
    st_bind_text(s, 2, channel);
    st_bind_text(s, 3, bm_config_callback_secret(self->cfg, channel));
    sqlite3_bind_int64(s, 4, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        return -1;
    *id = sqlite3_last_insert_rowid(self->db);
    return 0;
}

/* The ticket of the request this channel sent with this ref: 1 found, 0 not,
 * -1 on a database error. */
static int ref_lookup(store_t *self, const store_submit_t *in, int64_t *ticket)
{
    sqlite3_stmt *s = st_stmt(self, Q_REF_LOOKUP);
    if (!s)
        return -1;
    st_bind_text(s, 1, in->channel);
    st_bind_text(s, 2, in->ref);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *ticket = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
}

int store_submit(store_t *self, const store_submit_t *in, int64_t now, int64_t *ticket,
                 bool *duplicate, bm_error_t *err)
{
    *duplicate = false;
    const bm_category_t *cat = bm_config_category(self->cfg, in->category);
    if (!cat) {
        bm_error_set(err, BM_ERR_UNKNOWN_CATEGORY, "category", "未知类别 \"%s\" / unknown category \"%s\"",
                     in->category, in->category);
        return -1;
    }
    /* A repeated ref is found by the insert itself (its unique index answers
     * "already there" and nothing is written), except with a callback: then
     * it is looked up first, so that a repeat never adds a callback endpoint. */
    if (in->ref && in->callback) {
        int found = ref_lookup(self, in, ticket);
        if (found < 0) {
            st_db_error(self, err, "ref lookup");
            return -1;
        }
        if (found > 0) {
            *duplicate = true;
            return 0;
        }
    }
    /* A request's time never goes back in ticket order (the clock may step
     * back): the newest-first order of lists is the ticket order
     * (schema/009_ticket_order.sql). */
    if (now < self->last_created)
        now = self->last_created;
    if (st_direct_begin(self, err) != 0)
        return -1;
    int rc = -1;
    int64_t endpoint = 0;
    if (in->callback && endpoint_for(self, in->callback, in->channel, now, &endpoint) != 0)
        goto out;
    sqlite3_stmt *s = st_stmt(self, Q_REQ_INSERT);
    if (!s)
        goto out;
    st_bind_text(s, 1, in->channel);
    st_bind_text(s, 2, in->ref);
    st_bind_text(s, 3, in->category);
    sqlite3_bind_int(s, 4, cat->priority);
    st_bind_text(s, 5, in->building);
    st_bind_text(s, 6, in->unit ? in->unit : "");
    st_bind_text(s, 7, in->contact);
    st_bind_text(s, 8, in->text);
    if (endpoint)
        sqlite3_bind_int64(s, 9, endpoint);
    sqlite3_bind_int64(s, 10, now);
    sqlite3_bind_int64(s, 11, now + (int64_t)cat->offer_timeout_s * 1000);
    sqlite3_bind_int64(s, 12, now + (int64_t)cat->deadline_s * 1000);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    if (in->ref && sqlite3_changes(self->db) == 0) {
        /* ON CONFLICT DO NOTHING: this channel sent this ref before. */
        rc = ref_lookup(self, in, ticket) == 1 ? 0 : -1;
        *duplicate = rc == 0;
        goto out;
    }
    *ticket = sqlite3_last_insert_rowid(self->db);
    self->last_created = now;
    /* Without a callback or any subscription nobody is told: not even the
     * notice's lookup runs. */
    const char *notice = endpoint || self->n_subs > 0 ? "request.received" : NULL;
    if (in->n_attach == 0) {
        /* The receipt is the request row itself (schema/007_receipt.sql: the
         * timeline view reads it from there); no event row is written. */
        rc = notice ? st_notice(self, *ticket, 0, notice, NULL, now) : 0;
        goto out;
    }
    /* Photos point at the event that brought them: a received event. */
    char actor[64];
    snprintf(actor, sizeof actor, "channel:%s", in->channel);
    rc = st_record_event(self, *ticket, now, actor, "received", NULL, "open", NULL, notice);
    for (size_t i = 0; rc == 0 && i < in->n_attach; i++)
        rc = st_insert_attachment(self, *ticket, self->last_event_id, &in->attach[i], now);
out:
    return st_direct_end(self, rc, "submit", err);
}

int st_insert_attachment(store_t *self, int64_t ticket, int64_t event_id,
                         const store_attach_t *at, int64_t now)
{
    sqlite3_stmt *s = st_stmt(self, Q_ATTACH_INSERT);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    sqlite3_bind_int64(s, 2, event_id);
    st_bind_text(s, 3, at->sha256);
    st_bind_text(s, 4, at->mime);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)at->size);
    st_bind_text(s, 6, at->kind);
    st_bind_text(s, 7, at->name);
    sqlite3_bind_int64(s, 8, now);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}
