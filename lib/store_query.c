/* store_query.c - the office's reads: one request with its
 * timeline, the paged list with filters, the volunteers. */
#include "store_int.h"
#include "archive.h"

int store_get(store_t *self, int64_t ticket, cJSON **out, bm_error_t *err)
{
    *out = NULL;
    sqlite3_stmt *s = st_stmt(self, Q_REQ_ROW);
    if (!s) {
        st_db_error(self, err, "get");
        return -1;
    }
    sqlite3_bind_int64(s, 1, ticket);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "ticket", "没有编号为 %lld 的请求 / no request with ticket %lld", (long long)ticket,
                     (long long)ticket);
        return -1;
    }
    if (step != SQLITE_ROW) {
        st_db_error(self, err, "get");
        return -1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(root, "request");
    cJSON_AddNumberToObject(req, "ticket", (double)sqlite3_column_int64(s, 0));
    bm_json_add_str(req, "channel", st_col_text(s, 1));
    bm_json_add_str(req, "ref", st_col_text(s, 16));
    st_add_category(self, req, st_col_text(s, 2));
    bm_json_add_str(req, "building", st_col_text(s, 3));
    bm_json_add_str(req, "unit", st_col_text(s, 4));
    bm_json_add_str(req, "contact", st_col_text(s, 5));
    bm_json_add_str(req, "text", st_col_text(s, 6));
    bm_json_add_str(req, "status", st_col_text(s, 7));
    st_add_volunteer(req, st_col_text(s, 8), st_col_text(s, 9));
    cJSON_AddNumberToObject(req, "attempts", sqlite3_column_int(s, 10));
    bm_json_add_time(req, "created_at", sqlite3_column_int64(s, 11));
    bm_json_add_time(req, "updated_at", sqlite3_column_int64(s, 12));
    bm_json_add_time(req, "claimed_at", sqlite3_column_int64(s, 13));
    bm_json_add_time(req, "done_at", sqlite3_column_int64(s, 14));
    bm_json_add_time(req, "lease_until", sqlite3_column_int64(s, 15));
    if (sqlite3_column_type(s, 17) == SQLITE_NULL)
        cJSON_AddNullToObject(req, "rating");
    else
        cJSON_AddNumberToObject(req, "rating", sqlite3_column_int(s, 17));
    bm_json_add_str(req, "department", st_col_text(s, 18));
    cJSON_AddBoolToObject(req, "overdue", sqlite3_column_int(s, 19) != 0);
    bm_json_add_time(req, "deadline_at", st_col_i64(s, 20));
    sqlite3_reset(s);

    cJSON *atts = cJSON_AddArrayToObject(root, "attachments");
    s = st_stmt(self, Q_ATTACH_OF);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *a = cJSON_CreateObject();
            char rel[128];
            const char *mime = st_col_text(s, 1);
            const char *ext = strcmp(mime, "image/png") == 0    ? "png"
                              : strcmp(mime, "image/webp") == 0 ? "webp"
                                                                : "jpg";
            bm_archive_relpath(st_col_text(s, 0), ext, rel, sizeof rel);
            bm_json_add_str(a, "sha256", st_col_text(s, 0));
            bm_json_add_str(a, "type", mime);
            cJSON_AddNumberToObject(a, "size", (double)sqlite3_column_int64(s, 2));
            bm_json_add_str(a, "kind", st_col_text(s, 3));
            bm_json_add_str(a, "name", st_col_text(s, 4));
            bm_json_add_time(a, "at", st_col_i64(s, 5));
            bm_json_add_str(a, "event", st_col_text(s, 6));
            bm_json_add_str(a, "actor", st_col_text(s, 7));
            bm_json_add_str(a, "path", rel);
            cJSON_AddItemToArray(atts, a);
        }
        sqlite3_reset(s);
    }

    cJSON *events = cJSON_AddArrayToObject(root, "events");
    s = st_stmt(self, Q_EVENTS_OF);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *ev = cJSON_CreateObject();
            bm_json_add_time(ev, "at", sqlite3_column_int64(s, 0));
            bm_json_add_str(ev, "actor", st_col_text(s, 1));
            bm_json_add_str(ev, "kind", st_col_text(s, 2));
            bm_json_add_str(ev, "from", st_col_text(s, 3));
            bm_json_add_str(ev, "to", st_col_text(s, 4));
            cJSON *detail = st_col_text(s, 5) ? cJSON_Parse(st_col_text(s, 5)) : NULL;
            cJSON_AddItemToObject(ev, "detail", detail ? detail : cJSON_CreateObject());
            cJSON_AddItemToArray(events, ev);
        }
        sqlite3_reset(s);
    }
    cJSON *dels = cJSON_AddArrayToObject(root, "deliveries");
    s = st_stmt(self, Q_DELIVERIES_OF);
    if (s) {
        sqlite3_bind_int64(s, 1, ticket);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddNumberToObject(d, "id", (double)sqlite3_column_int64(s, 0));
            bm_json_add_str(d, "type", st_col_text(s, 1));
            bm_json_add_str(d, "url", st_col_text(s, 2));
            bm_json_add_str(d, "state", st_col_text(s, 3));
            cJSON_AddNumberToObject(d, "attempts", sqlite3_column_int(s, 4));
            bm_json_add_str(d, "last_error", st_col_text(s, 5));
            cJSON_AddItemToArray(dels, d);
        }
        sqlite3_reset(s);
    }
    *out = root;
    return 0;
}

/* ---- queries for the office --------------------------------------------- */

/* Appends frag (and its value, if bound) as it is. */
static void where_raw(st_where_t *w, const char *frag, const char *text, int64_t num, bool bound)
{
    size_t len = strlen(w->sql);
    if (bm_strlcpy(w->sql + len, frag, sizeof w->sql - len) != 0 ||
        (bound && w->n >= ST_WHERE_VALS)) {
        w->overflow = true;
        return;
    }
    if (bound) {
        w->vals[w->n].text = text;
        w->vals[w->n].num = num;
        w->n++;
    }
}

static void where_add(st_where_t *w, const char *frag, const char *text, int64_t num, bool bound)
{
    if (!w->sql[0])
        where_raw(w, "WHERE 1", NULL, 0, false);
    where_raw(w, frag, text, num, bound);
}

/* Adds frag with a text value, if there is one. */
void st_where_text(st_where_t *w, const char *frag, const char *v)
{
    if (v)
        where_add(w, frag, v, 0, true);
}

/* Adds frag with a number value, if it is not 0. */
void st_where_num(st_where_t *w, const char *frag, int64_t v)
{
    if (v)
        where_add(w, frag, NULL, v, true);
}

/* Binds the clause's values from parameter 1 on; returns the next index. */
static int where_bind(const st_where_t *w, sqlite3_stmt *s)
{
    for (int i = 0; i < w->n; i++) {
        if (w->vals[i].text)
            st_bind_text(s, i + 1, w->vals[i].text);
        else
            sqlite3_bind_int64(s, i + 1, w->vals[i].num);
    }
    return w->n + 1;
}

/* A filtered, paged listing: count_sql and page_sql are completed by the
 * WHERE clause and then count_tail and page_tail (which holds the LIMIT ?
 * OFFSET ? placeholders); row() turns each row into an object. *out becomes
 * {key: [...], "total", "limit", "offset"}. */
int st_paged(store_t *self, const char *what, const char *count_sql, const char *count_tail,
             const st_where_t *w, const char *page_sql, const char *page_tail, const st_where_t *wp,
             int limit, int offset, const char *key,
             void (*row)(store_t *, cJSON *, sqlite3_stmt *), cJSON **out, bm_error_t *err)
{
    *out = NULL;
    char sql[ST_WHERE_SQL + 1024];
    sqlite3_stmt *count = NULL, *rows = NULL;
    cJSON *root = NULL;
    int rc = -1;
    /* A clause that did not fit is not reachable from a peer's input (every
     * filter's length is bounded); it is said plainly, not as SQLite's
     * complaint about a cut statement. */
    bool fits = !w->overflow && !wp->overflow &&
                (size_t)snprintf(sql, sizeof sql, "%s %s %s", count_sql, w->sql, count_tail) < sizeof sql;
    if (fits && sqlite3_prepare_v2(self->db, sql, -1, &count, NULL) != SQLITE_OK)
        goto out;
    fits = fits && (size_t)snprintf(sql, sizeof sql, "%s %s %s", page_sql, wp->sql, page_tail) < sizeof sql;
    if (!fits) {
        sqlite3_finalize(count);
        bm_error_set(err, BM_ERR_STORAGE, NULL, "查询条件太长，无法执行 / the %s query is too long to build",
                     what);
        return -1;
    }
    if (sqlite3_prepare_v2(self->db, sql, -1, &rows, NULL) != SQLITE_OK)
        goto out;
    where_bind(w, count);
    int next = where_bind(wp, rows);
    sqlite3_bind_int(rows, next, limit);
    sqlite3_bind_int(rows, next + 1, offset);
    if (sqlite3_step(count) != SQLITE_ROW)
        goto out;
    root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, key);
    int step;
    while ((step = sqlite3_step(rows)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        row(self, o, rows);
        cJSON_AddItemToArray(arr, o);
    }
    if (step != SQLITE_DONE)
        goto out;
    cJSON_AddNumberToObject(root, "total", (double)sqlite3_column_int64(count, 0));
    cJSON_AddNumberToObject(root, "limit", limit);
    cJSON_AddNumberToObject(root, "offset", offset);
    *out = root;
    root = NULL;
    rc = 0;
out:
    if (rc != 0)
        st_db_error(self, err, what);
    cJSON_Delete(root);
    sqlite3_finalize(count);
    sqlite3_finalize(rows);
    return rc;
}

static void list_row(store_t *self, cJSON *o, sqlite3_stmt *rows)
{
    cJSON_AddNumberToObject(o, "ticket", (double)sqlite3_column_int64(rows, 0));
    bm_json_add_str(o, "status", st_col_text(rows, 1));
    st_add_category(self, o, st_col_text(rows, 2));
    bm_json_add_str(o, "channel", st_col_text(rows, 3));
    bm_json_add_str(o, "building", st_col_text(rows, 4));
    bm_json_add_str(o, "unit", st_col_text(rows, 5));
    bm_json_add_str(o, "text", st_col_text(rows, 6));
    st_add_volunteer(o, st_col_text(rows, 7), st_col_text(rows, 8));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(rows, 9));
    cJSON_AddBoolToObject(o, "overdue", sqlite3_column_int(rows, 10) != 0);
    bm_json_add_time(o, "created_at", st_col_i64(rows, 11));
    bm_json_add_time(o, "updated_at", st_col_i64(rows, 12));
}

/* The filters that do not choose the index: category, channel, volunteer,
 * a building's substring, overdue. */
static void list_filters(st_where_t *w, const store_filter_t *f)
{
    st_where_text(w, " AND r.category = ?", f->category);
    st_where_text(w, " AND r.channel = ?", f->channel);
    st_where_text(w, " AND r.volunteer_id = ?", f->volunteer);
    /* A substring of the building: the distinct names are stepped through
     * on requests_building (one seek each, schema/006_queries.sql) and the
     * matching ones read from it, instead of testing every request. */
    st_where_text(w, " AND r.building IN (WITH RECURSIVE b(name) AS (SELECT min(building) FROM"
                     " requests UNION ALL SELECT (SELECT building FROM requests WHERE building >"
                     " b.name ORDER BY building LIMIT 1) FROM b WHERE b.name IS NOT NULL)"
                     " SELECT name FROM b WHERE instr(name, ?) > 0)", f->building);
    if (f->overdue)
        where_add(w, " AND r.overdue != 0", NULL, 0, false);
}

#define LIST_COLS                                                                                  \
    "SELECT r.id, r.status, r.category, r.channel, r.building, r.unit, r.text, r.volunteer_id,"    \
    " v.name, r.attempts, r.overdue, r.created_at, r.updated_at"                                   \
    " FROM requests r LEFT JOIN volunteers v ON v.id = r.volunteer_id"

/* A time range over every status, no building: since schema/010_open_once.sql
 * no index holds every request by time. The total counts the requests that
 * left the queue (requests_status_created, a range per status) and the open
 * ones (requests_open_category); the page takes, from each status's range
 * read newest first, at most offset + limit (no part is sorted whole) and
 * the newest of those. Every level orders by created_at, then ticket: a
 * status's newest by time are its newest by ticket only where created_at
 * never went back (since 009), and older databases may hold such rows. */
static int list_range(store_t *self, const store_filter_t *f, cJSON **out, bm_error_t *err)
{
    /* BM_SQL_NOT_OPEN's statuses (lib/lifecycle.h), one range each. */
    static const char *const moved[] = {"claimed", "done", "escalated", "resolved", "cancelled"};
    int64_t since = f->since ? f->since : INT64_MIN, until = f->until ? f->until : INT64_MAX;
    int64_t want = (int64_t)f->offset + f->limit;
    st_where_t w = {0}, wp = {0};
    where_add(&w, " AND r." BM_SQL_NOT_OPEN " AND r.created_at >= ?", NULL, since, true);
    where_add(&w, " AND r.created_at < ?", NULL, until, true);
    list_filters(&w, f);
    where_add(&w, " UNION ALL SELECT r.id FROM requests r INDEXED BY requests_open_category"
                  " WHERE r.status = 'open' AND r.created_at >= ?",
              NULL, since, true);
    where_add(&w, " AND r.created_at < ?", NULL, until, true);
    list_filters(&w, f);
    for (size_t k = 0; k <= sizeof moved / sizeof *moved; k++) {
        bool open = k == sizeof moved / sizeof *moved;
        where_raw(&wp, k ? " UNION ALL SELECT * FROM (SELECT r.id, r.created_at FROM requests r"
                         : "SELECT * FROM (SELECT r.id, r.created_at FROM requests r",
                  NULL, 0, false);
        if (open)
            where_raw(&wp, " INDEXED BY requests_open_category WHERE r.status = 'open'", NULL, 0, false);
        else
            where_raw(&wp, " WHERE r.status <> 'open' AND r.status = ?", moved[k], 0, true);
        where_raw(&wp, " AND r.created_at >= ?", NULL, since, true);
        where_raw(&wp, " AND r.created_at < ?", NULL, until, true);
        list_filters(&wp, f);
        where_raw(&wp, " ORDER BY r.created_at DESC, r.id DESC LIMIT ?)", NULL, want, true);
    }
    return st_paged(self, "list", "SELECT count(*) FROM (SELECT r.id FROM requests r", ")", &w,
                    LIST_COLS " WHERE r.id IN (SELECT id FROM (",
                    ") ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?)"
                    " ORDER BY r.created_at DESC, r.id DESC",
                    &wp, f->limit, f->offset,
                    "requests", list_row, out, err);
}

int store_list(store_t *self, const store_filter_t *f, cJSON **out, bm_error_t *err)
{
    bool by_building = f->building != NULL;
    if ((f->since || f->until) && !f->status && !by_building)
        return list_range(self, f, out, err);
    st_where_t w = {0};
    /* A status that left the queue is read from requests_status_created (its
     * condition written out, so that SQLite may use the partial index), an
     * open one from requests_open_category (schema/010_open_once.sql). */
    if (f->status && strcmp(f->status, "open") == 0)
        where_add(&w, " AND r.status = 'open'", NULL, 0, false);
    else
        st_where_text(&w, " AND r.status <> 'open' AND r.status = ?", f->status);
    /* A time range with a status or a building: a range of that index. */
    st_where_num(&w, " AND r.created_at >= ?", f->since);
    st_where_num(&w, " AND r.created_at < ?", f->until);
    list_filters(&w, f);
    /* The page's ids first (narrow index rows), then the wide rows. */
    /* With a building, its index is the narrow one (the planner would
     * otherwise take requests_status_created for a status and test every
     * done request). */
    return st_paged(self, "list",
                    by_building ? "SELECT count(*) FROM requests r INDEXED BY requests_building"
                                : "SELECT count(*) FROM requests r",
                    "", &w,
                    by_building ? LIST_COLS " WHERE r.id IN (SELECT r.id FROM requests r INDEXED BY requests_building"
                                : LIST_COLS " WHERE r.id IN (SELECT r.id FROM requests r",
                    /* Newest first: by ticket, which is also by created_at
                     * (it never goes back, store_submit); a building's or a
                     * status's index is in created_at order. */
                    by_building || f->status ? "ORDER BY r.created_at DESC, r.id DESC LIMIT ? OFFSET ?)"
                                               " ORDER BY r.created_at DESC, r.id DESC"
                                             : "ORDER BY r.id DESC LIMIT ? OFFSET ?) ORDER BY r.id DESC",
                    &w, f->limit, f->offset, "requests", list_row, out, err);
}

cJSON *store_volunteers(store_t *self)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT v.id, v.name, v.skills, v.max_jobs, v.last_seen,"
                           " (SELECT group_concat(r.id) FROM requests r"
                           "   WHERE r.volunteer_id = v.id AND r.status = 'claimed')"
                           " FROM volunteers v ORDER BY v.id",
                           -1, &s, NULL) != SQLITE_OK)
        return arr;
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        bm_json_add_str(o, "id", st_col_text(s, 0));
        bm_json_add_str(o, "name", st_col_text(s, 1));
        cJSON *skills = cJSON_AddArrayToObject(o, "skills");
        char buf[BM_MAX_CATEGORIES * 33];
        bm_strlcpy(buf, st_col_text(s, 2) ? st_col_text(s, 2) : "", sizeof buf);
        for (char *p = buf, *comma; *p; p = comma + 1) {
            comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            cJSON_AddItemToArray(skills, cJSON_CreateString(p));
            if (!comma)
                break;
        }
        cJSON_AddNumberToObject(o, "max_jobs", sqlite3_column_int(s, 3));
        bm_json_add_time(o, "last_seen", st_col_i64(s, 4));
        cJSON *jobs = cJSON_AddArrayToObject(o, "jobs");
        const char *ids = st_col_text(s, 5);
        for (const char *p = ids; p && *p;) {
            char *end = NULL;
            long long t = strtoll(p, &end, 10);
            if (end == p)
                break;
            cJSON_AddItemToArray(jobs, cJSON_CreateNumber((double)t));
            p = *end == ',' ? end + 1 : end;
        }
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(s);
    return arr;
}
