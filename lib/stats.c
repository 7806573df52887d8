/* stats.c - the office's monthly figures, computed from the database file
 * opened read-only. stats_load.c reads the requests that can count in the
 * month (and the trend's counts); each is then counted here in one pass.
 * Definitions of every figure: docs/stats.md. */
#define _POSIX_C_SOURCE 200809L
#include "stats.h"
#include "stats_int.h"
#include "jsonx.h"
#include "tz.h"
#include "util.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS  (86400LL * 1000)
#define HOUR_MS (3600LL * 1000)

/* The default channels' labels (the broker may be configured with others;
 * those are shown by name). */
static const char *const channel_labels[][2] = {
    {"building_leader", "楼栋长"}, {"council", "四方议事"}, {"forum", "小区论坛"},
    {"office", "社区办公室"},
};

/* Time-to-done histogram bins (upper bounds, ms; the last is open). */
static const int64_t hist_upper[] = {HOUR_MS, 4 * HOUR_MS, 12 * HOUR_MS, DAY_MS, 3 * DAY_MS,
                                     7 * DAY_MS};
static const char *const hist_labels[] = {"<1h", "1-4h", "4-12h", "12-24h", "1-3d", "3-7d", ">=7d"};
static const char *const hist_labels_zh[] = {"不到1小时", "1–4小时", "4–12小时", "12–24小时",
                                             "1–3天",     "3–7天",   "7天及以上"};
#define HIST_BINS 7

struct bm_stats_data {
    sqlite3 *db; /* not owned */
    char **vol_ids, **vol_names;
    size_t nvol;
};

/* ---- small helpers ------------------------------------------------------- */

static char *dup_text(const unsigned char *s)
{
    return strdup(s ? (const char *)s : "");
}

int64_t bm_stats_percentile(const int64_t *sorted, size_t n, int p)
{
    size_t rank = ((size_t)p * n + 99) / 100; /* ceil(p * n / 100) */
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- opening and loading ------------------------------------------------- */

sqlite3 *bm_stats_open(const char *path, bm_error_t *err)
{
    sqlite3 *db = NULL;
    if (access(path, R_OK) != 0) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "db", "找不到数据库 / no database at %s", path);
        return NULL;
    }
    /* One thread uses the handle: no mutex around every call. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "无法打开 / cannot open %s: %s", path,
                     db ? sqlite3_errmsg(db) : "内存不足 / out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *s = NULL;
    int ok = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                    " AND name IN ('requests', 'events', 'volunteers')",
                                -1, &s, NULL) == SQLITE_OK &&
             sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 3;
    sqlite3_finalize(s);
    if (!ok) {
        bm_error_set(err, BM_ERR_INVALID, "db", "不是便民数据库 / %s is not a bianmin database", path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

void bm_stats_data_destroy(bm_stats_data_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bm_stats_data_t *d = *self_p;
    for (size_t i = 0; i < d->nvol; i++) {
        free(d->vol_ids[i]);
        free(d->vol_names[i]);
    }
    free(d->vol_ids);
    free(d->vol_names);
    free(d);
    *self_p = NULL;
}

int stats_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int load_volunteers(sqlite3 *db, bm_stats_data_t *d)
{
    sqlite3_stmt *s = NULL;
    size_t cap = 0, cap2 = 0;
    if (sqlite3_prepare_v2(db, "SELECT id, name FROM volunteers ORDER BY id", -1, &s, NULL) !=
        SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (stats_grow((void **)&d->vol_ids, &cap, d->nvol, sizeof *d->vol_ids) != 0 ||
            stats_grow((void **)&d->vol_names, &cap2, d->nvol, sizeof *d->vol_names) != 0)
            break;
        d->vol_ids[d->nvol] = dup_text(sqlite3_column_text(s, 0));
        d->vol_names[d->nvol] = dup_text(sqlite3_column_text(s, 1));
        d->nvol++;
        if (!d->vol_ids[d->nvol - 1] || !d->vol_names[d->nvol - 1])
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

bm_stats_data_t *bm_stats_load(sqlite3 *db, bm_error_t *err)
{
    bm_stats_data_t *d = calloc(1, sizeof *d);
    if (!d) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        return NULL;
    }
    d->db = db;
    if (load_volunteers(db, d) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "读取数据库失败 / reading the database: %s", sqlite3_errmsg(db));
        bm_stats_data_destroy(&d);
    }
    return d;
}

static int cmp_str_p(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* The volunteer's name (vol_ids are sorted by id, bytewise), or NULL. */
static const char *volunteer_name(const bm_stats_data_t *d, const char *id)
{
    char **p = d->nvol ? bsearch(id, d->vol_ids, d->nvol, sizeof *d->vol_ids, cmp_str_p) : NULL;
    return p ? d->vol_names[p - d->vol_ids] : NULL;
}

/* ---- time zones and months ----------------------------------------------- */

int bm_stats_parse_month(const char *s, int *year, int *month)
{
    if (!s || strlen(s) != 7 || s[4] != '-')
        return -1;
    for (int i = 0; i < 7; i++) {
        if (i != 4 && !isdigit((unsigned char)s[i]))
            return -1;
    }
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    if (y < 1970 || m < 1 || m > 12)
        return -1;
    *year = y;
    *month = m;
    return 0;
}

/* Puts the office's zone (spec, else TZ; see bm_tz_office) in force. */
static int tz_push(const char *spec, bm_tz_saved_t *saved, char *name, size_t namelen,
                   bm_error_t *err)
{
    char val[BM_TZ_MAX + 16];
    saved->pushed = false;
    saved->old = NULL;
    if (bm_tz_office(spec, val, sizeof val, name, namelen, err) != 0)
        return -1;
    if (bm_tz_push(val, saved) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        return -1;
    }
    return 0;
}

/* Local midnight starting the given day (month may be 13: next year's
 * January), as UTC ms. tm_isdst = -1 lets mktime find whether DST is in
 * force; a midnight that does not exist (a DST jump at 00:00) becomes the
 * first instant of that local day mktime normalizes to. */
static int64_t local_midnight(int year, int month, int day)
{
    while (month > 12) {
        month -= 12;
        year++;
    }
    while (month < 1) {
        month += 12;
        year--;
    }
    struct tm t = {0};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_isdst = -1;
    return (int64_t)mktime(&t) * 1000;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int bm_stats_month_range(const char *tz, int year, int month, int64_t *from, int64_t *until)
{
    bm_tz_saved_t saved;
    bm_error_t err = {0};
    if (month < 1 || month > 12 || tz_push(tz, &saved, NULL, 0, &err) != 0)
        return -1;
    *from = local_midnight(year, month, 1);
    *until = local_midnight(year, month + 1, 1);
    bm_tz_pop(&saved);
    return 0;
}

/* ---- accumulating one month ---------------------------------------------- */

typedef struct {
    int64_t *v;
    size_t n, cap;
} series_t;

static int series_add(series_t *s, int64_t v)
{
    if (stats_grow((void **)&s->v, &s->cap, s->n, sizeof *s->v) != 0)
        return -1;
    s->v[s->n++] = v;
    return 0;
}

/* One row of a per-channel / category / building / volunteer table. */
typedef struct {
    const char *key; /* points into the data or cfg */
    long received, done, ratings, score_sum, sla_n, sla_of;
    series_t claim, todone; /* ms */
    long daily[31];
} group_t;

/* The rows of one table, found by key through a hash index. */
typedef struct {
    group_t *g;
    size_t n, cap;
    size_t *slots; /* open addressing: index + 1 into g, 0 = empty */
    size_t nslots;
} groups_t;

static int groups_rehash(groups_t *gs)
{
    size_t nn = gs->nslots ? gs->nslots * 2 : 64;
    size_t *ns = calloc(nn, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < gs->n; i++) {
        size_t k = (size_t)stats_hash(gs->g[i].key) & (nn - 1);
        while (ns[k])
            k = (k + 1) & (nn - 1);
        ns[k] = i + 1;
    }
    free(gs->slots);
    gs->slots = ns;
    gs->nslots = nn;
    return 0;
}

static group_t *group_get(groups_t *gs, const char *key)
{
    if (gs->n * 2 >= gs->nslots && groups_rehash(gs) != 0)
        return NULL;
    size_t k = (size_t)stats_hash(key) & (gs->nslots - 1);
    for (; gs->slots[k]; k = (k + 1) & (gs->nslots - 1)) {
        group_t *g = &gs->g[gs->slots[k] - 1];
        if (g->key == key || strcmp(g->key, key) == 0)
            return g;
    }
    if (stats_grow((void **)&gs->g, &gs->cap, gs->n, sizeof *gs->g) != 0)
        return NULL;
    group_t *g = &gs->g[gs->n++];
    memset(g, 0, sizeof *g);
    g->key = key;
    gs->slots[k] = gs->n;
    return g;
}

static void groups_free(groups_t *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        free(gs->g[i].claim.v);
        free(gs->g[i].todone.v);
    }
    free(gs->g);
    free(gs->slots);
    memset(gs, 0, sizeof *gs);
}

typedef struct {
    int64_t from, until;
    int64_t as_of; /* open requests are aged at min(until, now) */
    int ndays;
    int64_t day_start[32]; /* day_start[ndays] == until */
    long received, done, completed, resolved, escalated, cancelled, reopened;
    long open_total, open_age[4];
    long open_status[S_COUNT];
    groups_t channels, categories, buildings, volunteers;
    series_t claim_all, done_all;
    long sla_n, sla_of, ftf_n, ftf_of, reopen_n, reopen_of, esc_n, esc_of;
    long rated, score_sum, by_score[6];
    long hist[HIST_BINS];
    bool oom;
} acc_t;

static void acc_free(acc_t *a)
{
    groups_free(&a->channels);
    groups_free(&a->categories);
    groups_free(&a->buildings);
    groups_free(&a->volunteers);
    free(a->claim_all.v);
    free(a->done_all.v);
}

static bool in_month(const acc_t *a, int64_t t)
{
    return t >= a->from && t < a->until;
}

static int day_index(const acc_t *a, int64_t t)
{
    for (int i = 0; i < a->ndays; i++) {
        if (t < a->day_start[i + 1])
            return i;
    }
    return a->ndays - 1;
}

static int64_t deadline_of(const req_t *r, const bm_config_t *cfg)
{
    const bm_category_t *c = bm_config_category(cfg, r->category);
    return c ? r->created_at + (int64_t)c->deadline_s * 1000 : r->deadline_at;
}

/* Adds one request's contribution to the month. */
static void acc_request(acc_t *a, const stats_set_t *set, const req_t *r, const bm_config_t *cfg)
{
    const ev_t *ev = set->evs + r->ev0;
    size_t n = r->nev;
    bool rec = in_month(a, r->created_at);

    /* Its whole history, once. */
    int64_t first_claim = -1, first_done = -1;
    int latest_score = 0, claims = 0;
    bool any_escalated = false, any_setback = false, done_in_month = false;
    for (size_t i = 0; i < n; i++) {
        const ev_t *e = &ev[i];
        if ((e->kind == K_COMPLETED || e->kind == K_RESOLVED) && in_month(a, e->at))
            done_in_month = true;
        if (e->kind == K_CLAIMED) {
            claims++;
            if (first_claim < 0)
                first_claim = e->at;
        }
        if ((e->kind == K_COMPLETED || e->kind == K_RESOLVED) && first_done < 0)
            first_done = e->at;
        if (e->kind == K_RATED && e->score)
            latest_score = e->score; /* events are in time order: the last wins */
        if (e->kind == K_ESCALATED)
            any_escalated = true;
        if (e->kind == K_FAILED || e->kind == K_LEASE_EXPIRED || e->kind == K_REOPENED ||
            e->kind == K_ESCALATED)
            any_setback = true;
    }

    /* Only a request received or done in the month adds its category and
     * channel to the tables: the keys do not depend on the years around it. */
    group_t *cat = NULL, *chan = NULL;
    if (rec || done_in_month) {
        cat = group_get(&a->categories, r->category);
        chan = group_get(&a->channels, r->channel);
        if (!cat || !chan) {
            a->oom = true;
            return;
        }
    }

    /* Received in the month: volumes, times, escalation rate. */
    if (rec) {
        group_t *b = group_get(&a->buildings, r->building);
        if (!b) {
            a->oom = true;
            return;
        }
        a->received++;
        cat->received++;
        chan->received++;
        b->received++;
        cat->daily[day_index(a, r->created_at)]++;
        a->esc_of++;
        if (any_escalated)
            a->esc_n++;
        if (first_claim >= 0) {
            if (series_add(&cat->claim, first_claim - r->created_at) != 0 ||
                series_add(&a->claim_all, first_claim - r->created_at) != 0)
                a->oom = true;
        }
        if (first_done >= 0) {
            int64_t t = first_done - r->created_at;
            if (series_add(&cat->todone, t) != 0 || series_add(&a->done_all, t) != 0)
                a->oom = true;
            int bin = 0;
            while (bin < HIST_BINS - 1 && t >= hist_upper[bin])
                bin++;
            a->hist[bin]++;
        }
    }

    /* Events in the month. */
    int64_t done_in = -1, completed_in = -1;
    size_t completed_idx = 0;
    bool esc_in = false, cancel_in = false, reopen_in = false, resolved_in = false;
    for (size_t i = 0; i < n; i++) {
        const ev_t *e = &ev[i];
        if (!in_month(a, e->at))
            continue;
        switch (e->kind) {
        case K_COMPLETED:
            if (completed_in < 0) {
                completed_in = e->at;
                completed_idx = i;
            }
            if (done_in < 0)
                done_in = e->at;
            if (e->vol) {
                group_t *v = group_get(&a->volunteers, e->vol);
                if (!v) {
                    a->oom = true;
                    return;
                }
                v->done++;
                for (size_t j = i; j-- > 0;) {
                    if (ev[j].kind == K_CLAIMED) {
                        if (series_add(&v->todone, e->at - ev[j].at) != 0)
                            a->oom = true;
                        break;
                    }
                }
            }
            break;
        case K_RESOLVED:
            resolved_in = true;
            if (done_in < 0)
                done_in = e->at;
            break;
        case K_ESCALATED:
            esc_in = true;
            break;
        case K_CANCELLED:
            cancel_in = true;
            break;
        case K_REOPENED:
            reopen_in = true;
            break;
        default:
            break;
        }
    }
    /* The latest rating is about the completion before it: it counts once,
     * for that completion's volunteer, if that completion is in the month. */
    for (size_t i = n; latest_score && i-- > 0;) {
        if (ev[i].kind != K_RATED || !ev[i].score)
            continue;
        for (size_t j = i; j-- > 0;) {
            if (ev[j].kind != K_COMPLETED && ev[j].kind != K_RESOLVED)
                continue;
            if (ev[j].kind == K_COMPLETED && ev[j].vol && in_month(a, ev[j].at)) {
                group_t *v = group_get(&a->volunteers, ev[j].vol);
                if (!v) {
                    a->oom = true;
                    return;
                }
                v->ratings++;
                v->score_sum += ev[i].score;
            }
            break;
        }
        break;
    }
    a->escalated += esc_in;
    a->cancelled += cancel_in;
    a->reopened += reopen_in;
    a->resolved += resolved_in;
    if (completed_in >= 0) {
        a->completed++;
        a->ftf_of++;
        if (!any_setback && claims == 1)
            a->ftf_n++;
        a->reopen_of++;
        /* After it in (at, id) order: a reopen in the same millisecond counts. */
        for (size_t i = completed_idx + 1; i < n; i++) {
            if (ev[i].kind == K_REOPENED) {
                a->reopen_n++;
                break;
            }
        }
    }
    if (done_in >= 0) {
        group_t *b = group_get(&a->buildings, r->building);
        if (!b) {
            a->oom = true;
            return;
        }
        a->done++;
        cat->done++;
        chan->done++;
        b->done++;
        bool within = done_in <= deadline_of(r, cfg);
        a->sla_of++;
        cat->sla_of++;
        a->sla_n += within;
        cat->sla_n += within;
        if (latest_score) {
            a->rated++;
            a->score_sum += latest_score;
            a->by_score[latest_score]++;
            cat->ratings++;
            cat->score_sum += latest_score;
            b->ratings++;
            b->score_sum += latest_score;
        }
    }

    /* Still unfinished at the end of the month: status as of then. */
    if (r->created_at < a->as_of) {
        int st = S_OPEN;
        for (size_t i = 0; i < n && ev[i].at < a->as_of; i++) {
            if (ev[i].to != S_NONE)
                st = ev[i].to;
        }
        if (st == S_OPEN || st == S_CLAIMED || st == S_ESCALATED) {
            int64_t age = a->as_of - r->created_at;
            int bucket = age < DAY_MS ? 0 : age < 3 * DAY_MS ? 1 : age < 7 * DAY_MS ? 2 : 3;
            a->open_total++;
            a->open_age[bucket]++;
            a->open_status[st]++;
        }
    }
}

/* Sets the month's bounds (in the zone in force) and its configured keys. */
static void acc_init(acc_t *a, const bm_config_t *cfg, int year, int month, int64_t now)
{
    memset(a, 0, sizeof *a);
    a->ndays = days_in_month(year, month);
    for (int i = 0; i < a->ndays; i++)
        a->day_start[i] = local_midnight(year, month, i + 1);
    a->day_start[a->ndays] = local_midnight(year, month + 1, 1);
    a->from = a->day_start[0];
    a->until = a->day_start[a->ndays];
    a->as_of = now < a->until ? now : a->until;
    /* Configured categories and channels come first, in config order, so a
     * quiet month still has every key. */
    for (int i = 0; i < cfg->category_count; i++) {
        if (!group_get(&a->categories, cfg->categories[i].name))
            a->oom = true;
    }
    for (int i = 0; i < cfg->channel_count; i++) {
        if (!group_get(&a->channels, cfg->channels[i]))
            a->oom = true;
    }
}

/* ---- the report as JSON -------------------------------------------------- */

static void add_ratio(cJSON *obj, const char *key, long n, long of)
{
    cJSON *o = cJSON_AddObjectToObject(obj, key);
    cJSON_AddNumberToObject(o, "n", (double)n);
    cJSON_AddNumberToObject(o, "of", (double)of);
    if (of > 0)
        cJSON_AddNumberToObject(o, "rate", (double)n / (double)of);
    else
        cJSON_AddNullToObject(o, "rate");
}

static void add_mean(cJSON *obj, const char *key, long sum, long n)
{
    if (n > 0)
        cJSON_AddNumberToObject(obj, key, (double)sum / (double)n);
    else
        cJSON_AddNullToObject(obj, key);
}

/* {"n", "p50_s", "p90_s"} of a series of ms (sorted here). */
static void add_times(cJSON *obj, const char *key, series_t *s)
{
    cJSON *o = cJSON_AddObjectToObject(obj, key);
    cJSON_AddNumberToObject(o, "n", (double)s->n);
    if (s->n == 0) {
        cJSON_AddNullToObject(o, "p50_s");
        cJSON_AddNullToObject(o, "p90_s");
        return;
    }
    qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    cJSON_AddNumberToObject(o, "p50_s", (double)(bm_stats_percentile(s->v, s->n, 50) / 1000));
    cJSON_AddNumberToObject(o, "p90_s", (double)(bm_stats_percentile(s->v, s->n, 90) / 1000));
}

static void add_satisfaction(cJSON *obj, long done, long rated, long score_sum,
                             const long *by_score)
{
    cJSON *o = cJSON_AddObjectToObject(obj, "satisfaction");
    cJSON_AddNumberToObject(o, "done", (double)done);
    cJSON_AddNumberToObject(o, "rated", (double)rated);
    long good = by_score ? by_score[4] + by_score[5] : 0;
    if (rated > 0) {
        cJSON_AddNumberToObject(o, "csat", (double)good / (double)rated);
        cJSON_AddNumberToObject(o, "mean", (double)score_sum / (double)rated);
    } else {
        cJSON_AddNullToObject(o, "csat");
        cJSON_AddNullToObject(o, "mean");
    }
    if (done > 0)
        cJSON_AddNumberToObject(o, "response_rate", (double)rated / (double)done);
    else
        cJSON_AddNullToObject(o, "response_rate");
    if (by_score) {
        cJSON *b = cJSON_AddObjectToObject(o, "by_score");
        for (int i = 1; i <= 5; i++) {
            char k[2] = {(char)('0' + i), '\0'};
            cJSON_AddNumberToObject(b, k, (double)by_score[i]);
        }
    }
}

static int cmp_group_key(const void *a, const void *b)
{
    return strcmp(((const group_t *)a)->key, ((const group_t *)b)->key);
}

static void month_name(int year, int month, char *buf, size_t len)
{
    while (month < 1) {
        month += 12;
        year--;
    }
    snprintf(buf, len, "%04d-%02d", year, month);
}

/* Adds obj[key] = t (UTC ms) as local "YYYY-MM-DD HH:MM" in the zone in force. */
static void add_local(cJSON *obj, const char *key, int64_t t)
{
    time_t sec = (time_t)(t / 1000);
    struct tm tm;
    char buf[32];
    if (localtime_r(&sec, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm) > 0)
        cJSON_AddStringToObject(obj, key, buf);
    else
        cJSON_AddNullToObject(obj, key);
}

static cJSON *build_report(acc_t *a, const bm_stats_data_t *d, const bm_config_t *cfg, int year,
                           int month, const char *tzname_used)
{
    cJSON *root = cJSON_CreateObject();
    char buf[64];
    month_name(year, month, buf, sizeof buf);
    cJSON_AddStringToObject(root, "month", buf);
    cJSON_AddStringToObject(root, "tz", tzname_used);
    bm_json_add_time(root, "from", a->from);
    bm_json_add_time(root, "until", a->until);
    bm_json_add_time(root, "as_of", a->as_of);
    add_local(root, "from_local", a->from);
    add_local(root, "until_local", a->until);
    add_local(root, "as_of_local", a->as_of);

    cJSON *labels = cJSON_AddObjectToObject(root, "labels");
    cJSON *lc = cJSON_AddObjectToObject(labels, "categories");
    for (int i = 0; i < cfg->category_count; i++)
        cJSON_AddStringToObject(lc, cfg->categories[i].name, cfg->categories[i].label);
    cJSON *lch = cJSON_AddObjectToObject(labels, "channels");
    for (size_t i = 0; i < sizeof channel_labels / sizeof channel_labels[0]; i++)
        cJSON_AddStringToObject(lch, channel_labels[i][0], channel_labels[i][1]);

    cJSON *rec = cJSON_AddObjectToObject(root, "received");
    cJSON_AddNumberToObject(rec, "total", (double)a->received);
    cJSON *bc = cJSON_AddObjectToObject(rec, "by_channel");
    for (size_t i = 0; i < a->channels.n; i++)
        cJSON_AddNumberToObject(bc, a->channels.g[i].key, (double)a->channels.g[i].received);
    cJSON *bk = cJSON_AddObjectToObject(rec, "by_category");
    for (size_t i = 0; i < a->categories.n; i++)
        cJSON_AddNumberToObject(bk, a->categories.g[i].key, (double)a->categories.g[i].received);

    cJSON *done = cJSON_AddObjectToObject(root, "done");
    cJSON_AddNumberToObject(done, "total", (double)a->done);
    cJSON_AddNumberToObject(done, "completed", (double)a->completed);
    cJSON_AddNumberToObject(done, "resolved", (double)a->resolved);
    cJSON *dk = cJSON_AddObjectToObject(done, "by_category");
    for (size_t i = 0; i < a->categories.n; i++)
        cJSON_AddNumberToObject(dk, a->categories.g[i].key, (double)a->categories.g[i].done);
    cJSON_AddNumberToObject(root, "escalated", (double)a->escalated);
    cJSON_AddNumberToObject(root, "cancelled", (double)a->cancelled);
    cJSON_AddNumberToObject(root, "reopened", (double)a->reopened);

    cJSON *open = cJSON_AddObjectToObject(root, "open_at_end");
    cJSON_AddNumberToObject(open, "total", (double)a->open_total);
    cJSON_AddNumberToObject(open, "lt_1d", (double)a->open_age[0]);
    cJSON_AddNumberToObject(open, "d1_3", (double)a->open_age[1]);
    cJSON_AddNumberToObject(open, "d3_7", (double)a->open_age[2]);
    cJSON_AddNumberToObject(open, "ge_7d", (double)a->open_age[3]);
    cJSON *os = cJSON_AddObjectToObject(open, "by_status");
    cJSON_AddNumberToObject(os, "open", (double)a->open_status[S_OPEN]);
    cJSON_AddNumberToObject(os, "claimed", (double)a->open_status[S_CLAIMED]);
    cJSON_AddNumberToObject(os, "escalated", (double)a->open_status[S_ESCALATED]);

    cJSON *times = cJSON_AddObjectToObject(root, "times");
    cJSON *ta = cJSON_AddObjectToObject(times, "all");
    add_times(ta, "claim", &a->claim_all);
    add_times(ta, "done", &a->done_all);
    cJSON *tc = cJSON_AddObjectToObject(times, "by_category");
    for (size_t i = 0; i < a->categories.n; i++) {
        group_t *g = &a->categories.g[i];
        cJSON *o = cJSON_AddObjectToObject(tc, g->key);
        add_times(o, "claim", &g->claim);
        add_times(o, "done", &g->todone);
    }

    add_ratio(root, "sla", a->sla_n, a->sla_of);
    cJSON *sla = cJSON_GetObjectItem(root, "sla");
    cJSON *sc = cJSON_AddObjectToObject(sla, "by_category");
    for (size_t i = 0; i < a->categories.n; i++)
        add_ratio(sc, a->categories.g[i].key, a->categories.g[i].sla_n, a->categories.g[i].sla_of);
    add_ratio(root, "first_time_fix", a->ftf_n, a->ftf_of);
    add_ratio(root, "reopen", a->reopen_n, a->reopen_of);
    add_ratio(root, "escalation", a->esc_n, a->esc_of);
    add_satisfaction(root, a->done, a->rated, a->score_sum, a->by_score);

    if (a->volunteers.n > 1)
        qsort(a->volunteers.g, a->volunteers.n, sizeof *a->volunteers.g, cmp_group_key);
    cJSON *vols = cJSON_AddArrayToObject(root, "volunteers");
    for (size_t i = 0; i < a->volunteers.n; i++) {
        group_t *g = &a->volunteers.g[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", g->key);
        bm_json_add_str(o, "name", volunteer_name(d, g->key));
        cJSON_AddNumberToObject(o, "completed", (double)g->done);
        if (g->todone.n) {
            qsort(g->todone.v, g->todone.n, sizeof *g->todone.v, cmp_i64);
            cJSON_AddNumberToObject(
                o, "median_claim_to_done_s",
                (double)(bm_stats_percentile(g->todone.v, g->todone.n, 50) / 1000));
        } else {
            cJSON_AddNullToObject(o, "median_claim_to_done_s");
        }
        cJSON_AddNumberToObject(o, "rated", (double)g->ratings);
        add_mean(o, "mean_rating", g->score_sum, g->ratings);
        cJSON_AddItemToArray(vols, o);
    }

    if (a->buildings.n > 1)
        qsort(a->buildings.g, a->buildings.n, sizeof *a->buildings.g, cmp_group_key);
    cJSON *blds = cJSON_AddArrayToObject(root, "buildings");
    for (size_t i = 0; i < a->buildings.n; i++) {
        group_t *g = &a->buildings.g[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "building", g->key);
        cJSON_AddNumberToObject(o, "received", (double)g->received);
        cJSON_AddNumberToObject(o, "done", (double)g->done);
        cJSON_AddNumberToObject(o, "rated", (double)g->ratings);
        add_mean(o, "mean_rating", g->score_sum, g->ratings);
        cJSON_AddItemToArray(blds, o);
    }

    cJSON *daily = cJSON_AddObjectToObject(root, "daily");
    cJSON *days = cJSON_AddArrayToObject(daily, "days");
    for (int i = 0; i < a->ndays; i++) {
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, i + 1);
        cJSON_AddItemToArray(days, cJSON_CreateString(buf));
    }
    cJSON *dc = cJSON_AddObjectToObject(daily, "by_category");
    for (size_t i = 0; i < a->categories.n; i++) {
        cJSON *arr = cJSON_AddArrayToObject(dc, a->categories.g[i].key);
        for (int j = 0; j < a->ndays; j++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)a->categories.g[i].daily[j]));
    }

    cJSON *hist = cJSON_AddObjectToObject(root, "time_to_done_hist");
    cJSON *hb = cJSON_AddArrayToObject(hist, "bins");
    cJSON *hl = cJSON_AddArrayToObject(hist, "labels");
    cJSON *hc = cJSON_AddArrayToObject(hist, "counts");
    for (int i = 0; i < HIST_BINS; i++) {
        cJSON_AddItemToArray(hb, cJSON_CreateString(hist_labels[i]));
        cJSON_AddItemToArray(hl, cJSON_CreateString(hist_labels_zh[i]));
        cJSON_AddItemToArray(hc, cJSON_CreateNumber((double)a->hist[i]));
    }
    return root;
}

cJSON *bm_stats_month(const bm_stats_data_t *data, const bm_config_t *cfg, int year, int month,
                      const char *tz, bm_error_t *err)
{
    return bm_stats_month_asof(data, cfg, year, month, tz, bm_now_ms(), err);
}

cJSON *bm_stats_month_asof(const bm_stats_data_t *data, const bm_config_t *cfg, int year,
                           int month, const char *tz, int64_t now, bm_error_t *err)
{
    if (month < 1 || month > 12 || year < 1970) {
        bm_error_set(err, BM_ERR_INVALID, "month", "月份须为 YYYY-MM / month must be YYYY-MM");
        return NULL;
    }
    bm_tz_saved_t saved;
    char tzname_used[BM_TZ_MAX + 1];
    if (tz_push(tz, &saved, tzname_used, sizeof tzname_used, err) != 0)
        return NULL;
    cJSON *root = NULL;
    acc_t a;
    stats_set_t set = {0};
    stats_trend_t trend[BM_STATS_TREND_MONTHS];
    int64_t bounds[BM_STATS_TREND_MONTHS + 1];
    /* The twelve months ending with this one, in the zone in force. */
    for (int k = 0; k <= BM_STATS_TREND_MONTHS; k++)
        bounds[k] = local_midnight(year, month - (BM_STATS_TREND_MONTHS - 1) + k, 1);
    acc_init(&a, cfg, year, month, now);
    /* One read transaction: every read sees the same snapshot. */
    int in_tx = sqlite3_exec(data->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    bool read_ok = stats_set_load(data->db, a.from, a.until, a.as_of, &set) == 0;
    /* The trend's last month is this one: counted below from the set. */
    read_ok = read_ok && stats_trend_load(data->db, bounds, BM_STATS_TREND_MONTHS - 1, trend) == 0;
    if (!read_ok)
        bm_error_set(err, BM_ERR_STORAGE, "db", "读取数据库失败 / reading the database: %s",
                     sqlite3_errmsg(data->db));
    if (in_tx)
        sqlite3_exec(data->db, "COMMIT", NULL, NULL, NULL);
    for (size_t i = 0; read_ok && i < set.nreq && !a.oom; i++)
        acc_request(&a, &set, &set.reqs[i], cfg);
    if (read_ok && !a.oom)
        root = build_report(&a, data, cfg, year, month, tzname_used);
    stats_trend_t *last = &trend[BM_STATS_TREND_MONTHS - 1];
    last->received = a.received;
    last->done = a.done;
    last->rated = a.rated;
    last->good = a.by_score[4] + a.by_score[5];
    last->score_sum = a.score_sum;
    acc_free(&a);
    stats_set_free(&set);

    cJSON *tr = root ? cJSON_AddArrayToObject(root, "trend") : NULL;
    for (int k = 0; tr && k < BM_STATS_TREND_MONTHS; k++) {
        const stats_trend_t *t = &trend[k];
        cJSON *o = cJSON_CreateObject();
        char name[16];
        month_name(year, month - (BM_STATS_TREND_MONTHS - 1) + k, name, sizeof name);
        cJSON_AddStringToObject(o, "month", name);
        cJSON_AddNumberToObject(o, "received", (double)t->received);
        cJSON_AddNumberToObject(o, "done", (double)t->done);
        cJSON_AddNumberToObject(o, "rated", (double)t->rated);
        if (t->rated > 0) {
            cJSON_AddNumberToObject(o, "csat", (double)t->good / (double)t->rated);
            cJSON_AddNumberToObject(o, "mean", (double)t->score_sum / (double)t->rated);
        } else {
            cJSON_AddNullToObject(o, "csat");
            cJSON_AddNullToObject(o, "mean");
        }
        cJSON_AddItemToArray(tr, o);
    }
    bm_tz_pop(&saved);
    if (!root && read_ok)
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
    return root;
}

int bm_stats_compute(sqlite3 *db, const bm_config_t *cfg, int year, int month, const char *tz,
                     cJSON **out, bm_error_t *err)
{
    *out = NULL;
    bm_stats_data_t *d = bm_stats_load(db, err);
    if (!d)
        return -1;
    *out = bm_stats_month(d, cfg, year, month, tz, err);
    bm_stats_data_destroy(&d);
    return *out ? 0 : -1;
}

/* ---- formatting for people ----------------------------------------------- */

char *bm_stats_fmt(const cJSON *v, bm_fmt_t how, char *buf, size_t len)
{
    if (!cJSON_IsNumber(v)) {
        snprintf(buf, len, "—");
        return buf;
    }
    double x = v->valuedouble;
    switch (how) {
    case BM_FMT_COUNT:
        snprintf(buf, len, "%lld", (long long)x);
        break;
    case BM_FMT_PERCENT:
        snprintf(buf, len, "%.1f%%", x * 100.0);
        break;
    case BM_FMT_MEAN:
        snprintf(buf, len, "%.2f", x);
        break;
    case BM_FMT_DURATION: {
        long long s = (long long)x;
        long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
        if (d > 0)
            snprintf(buf, len, "%lld天%lld小时", d, h);
        else if (h > 0)
            snprintf(buf, len, "%lld小时%lld分", h, m);
        else if (m > 0)
            snprintf(buf, len, "%lld分", m);
        else
            snprintf(buf, len, "%lld秒", s);
        break;
    }
    }
    return buf;
}
