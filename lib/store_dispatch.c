/* store_dispatch.c - what the dispatcher reads and writes: volunteers
 * online, their jobs, the open queue per category, offers. */
#include "store_int.h"

int st_claims_held(store_t *self, const char *volunteer, bool *known)
{
    sqlite3_stmt *s = st_stmt(self, Q_CLAIM_CHECK);
    if (!s)
        return -1;
    st_bind_text(s, 1, volunteer);
    int n = -1;
    bool k = false;
    if (sqlite3_step(s) == SQLITE_ROW) {
        n = sqlite3_column_int(s, 0);
        k = sqlite3_column_int(s, 1) != 0;
    }
    sqlite3_reset(s);
    if (known)
        *known = k;
    return n;
}

int store_volunteer_held(store_t *self, const char *id)
{
    return st_claims_held(self, id, NULL);
}

static cJSON *offer_of_row(store_t *self, int64_t ticket, sqlite3_stmt *s);

/* A job as its volunteer sees it: the offer plus unit, contact and lease,
 * from one read of the row. */
cJSON *st_job_json(store_t *self, int64_t ticket)
{
    sqlite3_stmt *s = st_stmt(self, Q_REQ_ROW);
    if (!s)
        return NULL;
    sqlite3_bind_int64(s, 1, ticket);
    cJSON *job = NULL;
    if (sqlite3_step(s) == SQLITE_ROW) {
        job = offer_of_row(self, ticket, s);
        bm_json_add_str(job, "status", st_col_text(s, 7));
        bm_json_add_str(job, "unit", st_col_text(s, 4));
        bm_json_add_str(job, "contact", st_col_text(s, 5));
        bm_json_add_time(job, "claimed_at", st_col_i64(s, 13));
        bm_json_add_time(job, "lease_until", st_col_i64(s, 15));
        bm_json_add_time(job, "deadline_at", st_col_i64(s, 20));
    }
    sqlite3_reset(s);
    return job;
}

/* ---- volunteers and dispatch ------------------------------------------- */

int store_volunteer_hello(store_t *self, const char *id, const char *name, const char *skills,
                          int max_jobs, int64_t now, bm_error_t *err)
{
    if (st_sp_begin(self, err) != 0)
        return -1;
    sqlite3_stmt *s = st_stmt(self, Q_VOL_UPSERT);
    int rc = -1;
    if (s) {
        st_bind_text(s, 1, id);
        st_bind_text(s, 2, name);
        st_bind_text(s, 3, skills);
        sqlite3_bind_int(s, 4, max_jobs);
        sqlite3_bind_int64(s, 5, now);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    if (rc != 0)
        st_db_error(self, err, "hello");
    return st_sp_end(self, rc, err);
}

int store_volunteer_seen(store_t *self, const char *id, int64_t now)
{
    sqlite3_stmt *s = st_stmt(self, Q_VOL_SEEN);
    if (!s)
        return -1;
    st_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

cJSON *store_volunteer_jobs(store_t *self, const char *id)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = st_stmt(self, Q_VOL_JOBS);
    if (!s)
        return arr;
    st_bind_text(s, 1, id);
    int64_t tickets[64];
    int n = 0;
    while (n < 64 && sqlite3_step(s) == SQLITE_ROW)
        tickets[n++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    for (int i = 0; i < n; i++) {
        cJSON *job = st_job_json(self, tickets[i]);
        if (job)
            cJSON_AddItemToArray(arr, job);
    }
    return arr;
}

int store_open_for(store_t *self, int category, const char *volunteer, const store_open_t *after,
                   store_open_t *out, int max)
{
    if (category < 0 || category >= self->cfg->category_count)
        return 0;
    sqlite3_stmt *s = st_stmt(self, Q_OPEN_QUEUE);
    if (!s)
        return -1;
    char actor[96];
    snprintf(actor, sizeof actor, "volunteer:%s", volunteer);
    st_bind_text(s, 1, self->cfg->categories[category].name);
    st_bind_text(s, 2, actor);
    sqlite3_bind_int(s, 3, max);
    sqlite3_bind_int64(s, 4, after ? after->created_at : INT64_MIN);
    sqlite3_bind_int64(s, 5, after ? after->ticket : INT64_MIN);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW) {
        out[n].ticket = sqlite3_column_int64(s, 0);
        out[n].priority = sqlite3_column_int(s, 1);
        out[n].created_at = sqlite3_column_int64(s, 2);
        out[n].category = category;
        n++;
    }
    sqlite3_reset(s);
    return n;
}

int store_volunteer_claimed_since(store_t *self, const char *id, int64_t since)
{
    sqlite3_stmt *s = st_stmt(self, Q_CLAIMED_SINCE);
    if (!s)
        return -1;
    st_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, since);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_reset(s);
    return n;
}

/* The offer of the request Q_REQ_ROW is on. */
static cJSON *offer_of_row(store_t *self, int64_t ticket, sqlite3_stmt *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "ticket", (double)ticket);
    st_add_category(self, o, st_col_text(s, 2));
    bm_json_add_str(o, "building", st_col_text(s, 3));
    /* No unit and no contact: only the volunteer who claims it sees those. */
    bm_json_add_str(o, "text", st_col_text(s, 6));
    bm_json_add_time(o, "created_at", sqlite3_column_int64(s, 11));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(s, 10));
    return o;
}

cJSON *store_offer(store_t *self, int64_t ticket)
{
    sqlite3_stmt *s = st_stmt(self, Q_REQ_ROW);
    if (!s)
        return NULL;
    sqlite3_bind_int64(s, 1, ticket);
    cJSON *o = sqlite3_step(s) == SQLITE_ROW ? offer_of_row(self, ticket, s) : NULL;
    sqlite3_reset(s);
    return o;
}

int store_photo_count(store_t *self, int64_t ticket)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT count(*) FROM attachments WHERE request_id = ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, ticket);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
}
