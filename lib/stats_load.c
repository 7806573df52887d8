/* stats_load.c - reads what one month's figures need, and no more: the
 * requests received in the month, those with a counted event in it, those
 * that may have been unfinished at its end, each with its whole timeline;
 * and for the 12-month trend only counts and the ratings of the months'
 * completed requests. Every read goes through an index (schema/001 and
 * 006_queries.sql), so the cost follows the month, not the years of history
 * around it. See docs/stats.md ("How the figures are read"). */
#define _POSIX_C_SOURCE 200809L
#include "stats_int.h"
#include "lifecycle.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ids closer than this are read as one range (the few requests between them
 * are read too; they count for nothing). */
#define RUN_GAP 32
/* A range of fewer ids than this is read with the scattered ones: up to
 * BATCH ids bound into one IN list. */
#define RUN_MIN 8
#define BATCH 64
/* The trend marks the months of each completed request in an array indexed
 * by request id; above this many ids it sorts instead. */
#define DENSE_MAX (INT64_C(1) << 26)
/* While merging ratings, a gap of more ids than this is skipped by a seek. */
#define SEEK_GAP 256

/* The kinds of events_month (schema/006_queries.sql): the query must repeat
 * the index's WHERE for SQLite to use it. */
#define MONTH_KINDS                                                                        \
    "(kind = 'completed' OR kind = 'resolved' OR kind = 'escalated' OR kind = 'cancelled'" \
    " OR kind = 'reopened')"

static const char *const kind_names[K_COUNT] = {
    "received",  "claimed",   "completed", "failed",   "lease_expired",
    "escalated", "resolved",  "cancelled", "reopened", "rated",
};
static const char *const status_names[S_COUNT] = {"open",     "claimed",  "done",
                                                  "escalated", "resolved", "cancelled"};

typedef struct {
    int64_t *v;
    size_t n, cap;
} ids_t;

static int kind_of(const char *s)
{
    for (int i = 0; s && i < K_COUNT; i++) {
        if (strcmp(kind_names[i], s) == 0)
            return i;
    }
    return -1;
}

static int status_of(const char *s)
{
    for (int i = 0; s && i < S_COUNT; i++) {
        if (strcmp(status_names[i], s) == 0)
            return i;
    }
    return S_NONE;
}

static int ids_add(ids_t *ids, int64_t id)
{
    if (stats_grow((void **)&ids->v, &ids->cap, ids->n, sizeof *ids->v) != 0)
        return -1;
    ids->v[ids->n++] = id;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int stats_score_of(const unsigned char *detail)
{
    if (!detail)
        return 0;
    cJSON *j = cJSON_Parse((const char *)detail);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "score");
    int score = cJSON_IsNumber(s) && s->valuedouble >= 1 && s->valuedouble <= 5
                    ? (int)s->valuedouble
                    : 0;
    cJSON_Delete(j);
    return score;
}

uint64_t stats_hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

/* The set's copy of text (NULL is ""): one copy per distinct text. NULL if
 * out of memory. */
static const char *intern(stats_set_t *set, const unsigned char *text)
{
    const char *s = text ? (const char *)text : "";
    if (set->nstr * 2 >= set->nslots) {
        size_t nn = set->nslots ? set->nslots * 2 : 256;
        size_t *ns = calloc(nn, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < set->nstr; i++) {
            size_t k = (size_t)stats_hash(set->strs[i]) & (nn - 1);
            while (ns[k])
                k = (k + 1) & (nn - 1);
            ns[k] = i + 1;
        }
        free(set->slots);
        set->slots = ns;
        set->nslots = nn;
    }
    size_t k = (size_t)stats_hash(s) & (set->nslots - 1);
    for (; set->slots[k]; k = (k + 1) & (set->nslots - 1)) {
        if (strcmp(set->strs[set->slots[k] - 1], s) == 0)
            return set->strs[set->slots[k] - 1];
    }
    char *copy = strdup(s);
    if (!copy || stats_grow((void **)&set->strs, &set->strcap, set->nstr, sizeof *set->strs) != 0) {
        free(copy);
        return NULL;
    }
    set->strs[set->nstr++] = copy;
    set->slots[k] = set->nstr;
    return copy;
}

/* Adds the first column of every row of sql (binding a, and b unless it is
 * INT64_MIN) to ids. */
static int collect(sqlite3 *db, const char *sql, int64_t a, int64_t b, ids_t *ids)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, a);
    if (b != INT64_MIN)
        sqlite3_bind_int64(s, 2, b);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (ids_add(ids, sqlite3_column_int64(s, 0)) != 0)
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The ids of every request that can count in the month, sorted, unique. */
static int month_ids(sqlite3 *db, int64_t from, int64_t until, int64_t as_of, ids_t *ids)
{
    /* Received in the month (a range per status, and the open ones). */
    if (collect(db, BM_SQL_IDS_CREATED("created_at >= ?1 AND created_at < ?2"), from, until, ids) != 0 ||
        /* A counted event in the month (events_month). */
        collect(db, "SELECT request_id FROM events WHERE " MONTH_KINDS " AND at >= ?1 AND at < ?2",
                from, until, ids) != 0 ||
        /* Unfinished at as_of and still unfinished (requests_status_created,
         * and the open ones from requests_open_category) ... */
        collect(db, "SELECT id FROM requests WHERE status <> 'open' AND status IN ('claimed', 'escalated')"
                    " AND created_at < ?1 UNION ALL SELECT id FROM requests INDEXED BY"
                    " requests_open_category WHERE status = 'open' AND created_at < ?1",
                as_of, INT64_MIN, ids) != 0 ||
        /* ... or finished since as_of (events_month): only the kinds that end a
         * request lead to done, resolved or cancelled (lib/lifecycle.c). */
        collect(db, "SELECT request_id FROM events WHERE " MONTH_KINDS
                    " AND kind IN ('completed', 'resolved', 'cancelled') AND at >= ?1"
                    " AND request_id NOT IN (" BM_SQL_IDS_CREATED("created_at >= ?1") ")",
                as_of, INT64_MIN, ids) != 0)
        return -1;
    if (ids->n > 1)
        qsort(ids->v, ids->n, sizeof *ids->v, cmp_i64);
    size_t w = 0;
    for (size_t i = 0; i < ids->n; i++) {
        if (w == 0 || ids->v[i] != ids->v[w - 1])
            ids->v[w++] = ids->v[i];
    }
    ids->n = w;
    return 0;
}

void stats_set_free(stats_set_t *set)
{
    for (size_t i = 0; i < set->nstr; i++)
        free(set->strs[i]);
    free(set->strs);
    free(set->slots);
    free(set->reqs);
    free(set->evs);
    memset(set, 0, sizeof *set);
}

static int cmp_ev(const void *a, const void *b)
{
    const ev_t *x = a, *y = b;
    if (x->at != y->at)
        return (x->at > y->at) - (x->at < y->at);
    return (x->id > y->id) - (x->id < y->id);
}

typedef struct {
    sqlite3_stmt *run_reqs, *run_evs;     /* id BETWEEN ?1 AND ?2 */
    sqlite3_stmt *batch_reqs, *batch_evs; /* id IN (?1, ..., ?BATCH) */
    size_t req_cap, ev_cap;
} loader_t;

/* Appends the rows of reqs (id, created_at, deadline_at, channel, category,
 * building; by id) and of evs (request_id, at, id, kind, to_status, actor,
 * detail; by request id), both bound and reset, to set. */
static int load_rows(loader_t *L, stats_set_t *set, sqlite3_stmt *reqs, sqlite3_stmt *evs)
{
    int rc;
    size_t first = set->nreq;
    while ((rc = sqlite3_step(reqs)) == SQLITE_ROW) {
        if (stats_grow((void **)&set->reqs, &L->req_cap, set->nreq, sizeof *set->reqs) != 0)
            return -1;
        req_t *r = &set->reqs[set->nreq];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(reqs, 0);
        r->created_at = sqlite3_column_int64(reqs, 1);
        r->deadline_at = sqlite3_column_int64(reqs, 2);
        r->channel = intern(set, sqlite3_column_text(reqs, 3));
        r->category = intern(set, sqlite3_column_text(reqs, 4));
        r->building = intern(set, sqlite3_column_text(reqs, 5));
        set->nreq++;
        if (!r->channel || !r->category || !r->building)
            return -1;
    }
    if (rc != SQLITE_DONE)
        return -1;
    size_t ri = first; /* requests and events are both ordered by request id */
    while ((rc = sqlite3_step(evs)) == SQLITE_ROW) {
        int64_t rid = sqlite3_column_int64(evs, 0);
        while (ri < set->nreq && set->reqs[ri].id < rid)
            ri++;
        if (ri >= set->nreq || set->reqs[ri].id != rid)
            continue; /* an event of an unknown request: not counted */
        int kind = kind_of((const char *)sqlite3_column_text(evs, 3));
        if (kind < 0)
            continue; /* a kind the figures do not use */
        if (stats_grow((void **)&set->evs, &L->ev_cap, set->nev, sizeof *set->evs) != 0)
            return -1;
        ev_t *e = &set->evs[set->nev];
        memset(e, 0, sizeof *e);
        e->at = sqlite3_column_int64(evs, 1);
        e->id = sqlite3_column_int64(evs, 2);
        e->kind = kind;
        e->to = status_of((const char *)sqlite3_column_text(evs, 4));
        const char *actor = (const char *)sqlite3_column_text(evs, 5);
        if ((kind == K_CLAIMED || kind == K_COMPLETED) && actor &&
            strncmp(actor, "volunteer:", 10) == 0) {
            e->vol = intern(set, (const unsigned char *)actor + 10);
            if (!e->vol)
                return -1;
        }
        if (kind == K_RATED)
            e->score = stats_score_of(sqlite3_column_text(evs, 6));
        if (set->reqs[ri].nev == 0)
            set->reqs[ri].ev0 = set->nev;
        set->reqs[ri].nev++;
        set->nev++;
    }
    if (rc != SQLITE_DONE)
        return -1;
    /* Each request's events in (at, id) order (read in id order). */
    for (size_t i = first; i < set->nreq; i++) {
        ev_t *ev = set->evs + set->reqs[i].ev0;
        size_t n = set->reqs[i].nev;
        for (size_t k = 1; k < n; k++) {
            if (cmp_ev(&ev[k - 1], &ev[k]) > 0) {
                qsort(ev, n, sizeof *ev, cmp_ev);
                break;
            }
        }
    }
    return 0;
}

static int load_range(loader_t *L, stats_set_t *set, int64_t lo, int64_t hi)
{
    sqlite3_stmt *st[2] = {L->run_reqs, L->run_evs};
    for (int i = 0; i < 2; i++) {
        sqlite3_reset(st[i]);
        sqlite3_bind_int64(st[i], 1, lo);
        sqlite3_bind_int64(st[i], 2, hi);
    }
    return load_rows(L, set, L->run_reqs, L->run_evs);
}

/* Reads up to BATCH scattered ids; unused places are bound to 0 (no request). */
static int load_batch(loader_t *L, stats_set_t *set, const int64_t *ids, size_t n)
{
    sqlite3_stmt *st[2] = {L->batch_reqs, L->batch_evs};
    for (int i = 0; i < 2; i++) {
        sqlite3_reset(st[i]);
        for (size_t k = 0; k < BATCH; k++)
            sqlite3_bind_int64(st[i], (int)k + 1, k < n ? ids[k] : 0);
    }
    return load_rows(L, set, L->batch_reqs, L->batch_evs);
}

#define REQ_COLS "SELECT id, created_at, deadline_at, channel, category, building FROM requests"
#define EV_COLS                                                                             \
    "SELECT request_id, at, id, kind, to_status, actor,"                                    \
    " CASE WHEN kind = 'rated' THEN detail END FROM events"

static int prepare_loader(sqlite3 *db, loader_t *L)
{
    char list[BATCH * 6], sql[BATCH * 6 + 200];
    size_t len = 0;
    for (int k = 1; k <= BATCH; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s?%d", k > 1 ? "," : "", k);
    if (sqlite3_prepare_v2(db, REQ_COLS " WHERE id BETWEEN ?1 AND ?2 ORDER BY id", -1,
                           &L->run_reqs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, EV_COLS " WHERE request_id BETWEEN ?1 AND ?2 ORDER BY request_id, id",
                           -1, &L->run_evs, NULL) != SQLITE_OK)
        return -1;
    snprintf(sql, sizeof sql, REQ_COLS " WHERE id IN (%s) ORDER BY id", list);
    if (sqlite3_prepare_v2(db, sql, -1, &L->batch_reqs, NULL) != SQLITE_OK)
        return -1;
    snprintf(sql, sizeof sql, EV_COLS " WHERE request_id IN (%s) ORDER BY request_id, id", list);
    return sqlite3_prepare_v2(db, sql, -1, &L->batch_evs, NULL) == SQLITE_OK ? 0 : -1;
}

int stats_set_load(sqlite3 *db, int64_t from, int64_t until, int64_t as_of, stats_set_t *set)
{
    memset(set, 0, sizeof *set);
    ids_t ids = {0}, scattered = {0};
    loader_t L = {0};
    int rc = -1;
    if (month_ids(db, from, until, as_of, &ids) != 0 || prepare_loader(db, &L) != 0)
        goto out;

    /* Dense ranges by id, the rest in batches. */
    for (size_t i = 0; i < ids.n;) {
        size_t j = i;
        while (j + 1 < ids.n && ids.v[j + 1] - ids.v[j] <= RUN_GAP)
            j++;
        if (j - i + 1 >= RUN_MIN) {
            if (load_range(&L, set, ids.v[i], ids.v[j]) != 0)
                goto out;
        } else {
            for (size_t k = i; k <= j; k++) {
                if (ids_add(&scattered, ids.v[k]) != 0)
                    goto out;
            }
        }
        i = j + 1;
    }
    for (size_t i = 0; i < scattered.n; i += BATCH) {
        size_t n = scattered.n - i < BATCH ? scattered.n - i : BATCH;
        if (load_batch(&L, set, scattered.v + i, n) != 0)
            goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(L.run_reqs);
    sqlite3_finalize(L.run_evs);
    sqlite3_finalize(L.batch_reqs);
    sqlite3_finalize(L.batch_evs);
    free(ids.v);
    free(scattered.v);
    if (rc != 0)
        stats_set_free(set);
    return rc;
}

/* ---- the trend ------------------------------------------------------------ */

/* A completed request and the months (bits) it was done in. */
typedef struct {
    int64_t id;
    uint32_t months;
} done_t;

static int cmp_done(const void *a, const void *b)
{
    return cmp_i64(&((const done_t *)a)->id, &((const done_t *)b)->id);
}

/* Sorts and merges pairs of the same request (ORing their months). */
static size_t done_unique(done_t *d, size_t n)
{
    if (n > 1)
        qsort(d, n, sizeof *d, cmp_done);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && d[w - 1].id == d[i].id)
            d[w - 1].months |= d[i].months;
        else
            d[w++] = d[i];
    }
    return w;
}

/* Merges the same when the ids are dense enough for an array indexed by id
 * (linear instead of a sort). */
static size_t done_unique_dense(done_t *d, size_t n, int64_t lo, int64_t hi)
{
    size_t span = (size_t)(hi - lo + 1);
    uint32_t *m = calloc(span, sizeof *m);
    if (!m)
        return done_unique(d, n);
    for (size_t i = 0; i < n; i++)
        m[d[i].id - lo] |= d[i].months;
    size_t w = 0;
    for (size_t k = 0; k < span; k++) {
        if (m[k]) {
            d[w].id = lo + (int64_t)k;
            d[w].months = m[k];
            w++;
        }
    }
    free(m);
    return w;
}

/* The requests completed (completed or resolved) in each month, unique,
 * read month by month from events_month (index only). */
static int trend_done(sqlite3 *db, const int64_t *bounds, int n, done_t **out, size_t *nout)
{
    sqlite3_stmt *s = NULL;
    done_t *d = NULL;
    size_t nd = 0, cap = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT request_id FROM events WHERE " MONTH_KINDS
                           " AND kind IN ('completed', 'resolved') AND at >= ?1 AND at < ?2",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    for (int m = 0; m < n; m++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, bounds[m]);
        sqlite3_bind_int64(s, 2, bounds[m + 1]);
        int step;
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
            if (nd == cap) {
                size_t ncap = cap ? cap * 2 : 65536;
                done_t *p = realloc(d, ncap * sizeof *d);
                if (!p)
                    goto out;
                d = p;
                cap = ncap;
            }
            int64_t id = sqlite3_column_int64(s, 0);
            d[nd].id = id;
            d[nd].months = UINT32_C(1) << m;
            lo = id < lo ? id : lo;
            hi = id > hi ? id : hi;
            nd++;
        }
        if (step != SQLITE_DONE)
            goto out;
    }
    if (nd > 0 && hi - lo < DENSE_MAX && (uint64_t)(hi - lo) < 16 * (uint64_t)nd + 4096)
        nd = done_unique_dense(d, nd, lo, hi);
    else
        nd = done_unique(d, nd);
    *out = d;
    *nout = nd;
    d = NULL;
    rc = 0;
out:
    sqlite3_finalize(s);
    free(d);
    return rc;
}

/* Adds the latest rating of every request in d (sorted by id) to the months
 * it was done in. Walks events_rated in id order, seeking over long gaps. */
static int trend_ratings(sqlite3 *db, const done_t *d, size_t nd, int n, stats_trend_t *out)
{
    sqlite3_stmt *s = NULL;
    if (nd == 0)
        return 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT request_id, detail FROM events WHERE kind = 'rated'"
                           " AND request_id >= ?1 ORDER BY request_id, at, id",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    size_t p = 0;
    int64_t cur = -1; /* the request whose ratings are being read */
    int score = 0;
    int step = SQLITE_DONE;
    sqlite3_bind_int64(s, 1, d[0].id);
    for (;;) {
        step = sqlite3_step(s);
        int64_t rid = step == SQLITE_ROW ? sqlite3_column_int64(s, 0) : INT64_MAX;
        if (rid != cur && cur >= 0) {
            /* cur's ratings are all read: the last one with a score counts */
            for (int m = 0; score && m < n; m++) {
                if (d[p].months & (UINT32_C(1) << m)) {
                    out[m].rated++;
                    out[m].score_sum += score;
                    out[m].good += score >= 4;
                }
            }
            cur = -1;
            p++;
        }
        if (step != SQLITE_ROW)
            break;
        while (p < nd && d[p].id < rid)
            p++;
        if (p >= nd)
            break;
        if (d[p].id == rid) {
            if (cur < 0) {
                cur = rid;
                score = 0;
            }
            int sc = stats_score_of(sqlite3_column_text(s, 1));
            if (sc)
                score = sc; /* in (at, id) order: the last wins */
        } else if (d[p].id - rid > SEEK_GAP) {
            sqlite3_reset(s);
            sqlite3_bind_int64(s, 1, d[p].id);
        }
    }
    sqlite3_finalize(s);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -1;
}

int stats_trend_load(sqlite3 *db, const int64_t *bounds, int n, stats_trend_t *out)
{
    sqlite3_stmt *s = NULL;
    done_t *d = NULL;
    size_t nd = 0;
    int rc = -1;
    memset(out, 0, (size_t)n * sizeof *out);
    if (n < 1 || n > 32 ||
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM (" BM_SQL_IDS_CREATED("created_at >= ?1 AND created_at < ?2") ")",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    for (int m = 0; m < n; m++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, bounds[m]);
        sqlite3_bind_int64(s, 2, bounds[m + 1]);
        if (sqlite3_step(s) != SQLITE_ROW)
            goto out;
        out[m].received = (long)sqlite3_column_int64(s, 0);
    }
    if (trend_done(db, bounds, n, &d, &nd) != 0)
        goto out;
    for (size_t i = 0; i < nd; i++) {
        for (int m = 0; m < n; m++)
            out[m].done += (d[i].months >> m) & 1;
    }
    if (trend_ratings(db, d, nd, n, out) != 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(s);
    free(d);
    return rc;
}
