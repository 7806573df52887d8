/* retime.c - mapping a demo run's times back onto the trace's clock (see
 * retime.h). */
#define _POSIX_C_SOURCE 200809L
#include "retime.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int64_t start_ms;
    double speed;
    int64_t *off, *created; /* seconds */
    size_t n;
} timemap_t;

int demo_timemap_write(const char *path, int64_t wall_start_ms, double speed,
                       const int64_t *offsets, const int64_t *created, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%s %lld %.17g %zu\n", DEMO_TIMEMAP_MAGIC, (long long)wall_start_ms, speed, n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%lld %lld\n", (long long)offsets[i], (long long)created[i]);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return -1;
    return 0;
}

/* The trace's times are its local wall clock read as if UTC: the same wall
 * clock in this process's zone (the office's), so days and hours read as in
 * the trace. */
static int64_t wall_clock_here(int64_t trace_s)
{
    time_t t = (time_t)trace_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return trace_s;
    tm.tm_isdst = -1;
    time_t here = mktime(&tm);
    return here == (time_t)-1 ? trace_s : (int64_t)here;
}

static int map_read(const char *path, timemap_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    long long start = 0;
    size_t n = 0;
    char word[32] = "", ver[8] = "";
    if (fscanf(f, "%31s %7s %lld %lf %zu", word, ver, &start, &m->speed, &n) != 5 ||
        strcmp(word, "bianmin-demo-timemap") != 0 || strcmp(ver, "1") != 0 || m->speed <= 0 ||
        n == 0 || n > 100000000) {
        snprintf(err, errlen, "%s is not a bianmin-demo time map", path);
        goto out;
    }
    m->start_ms = start;
    m->off = malloc(n * sizeof *m->off);
    m->created = malloc(n * sizeof *m->created);
    if (!m->off || !m->created) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        long long o, c;
        if (fscanf(f, "%lld %lld", &o, &c) != 2 || (i > 0 && o < m->off[i - 1])) {
            snprintf(err, errlen, "%s: bad row %zu", path, i + 1);
            goto out;
        }
        m->off[i] = o;
        m->created[i] = wall_clock_here(c);
    }
    m->n = n;
    rc = 0;
out:
    fclose(f);
    return rc;
}

/* The trace time (ms) of run time t (ms); times before the run stay. */
static int64_t map_time(const timemap_t *m, int64_t t)
{
    if (t < m->start_ms)
        return t;
    double o = (double)(t - m->start_ms) / 1000.0 * m->speed; /* compressed trace s */
    size_t lo = 0, hi = m->n; /* last i with off[i] <= o */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if ((double)m->off[mid] <= o)
            lo = mid;
        else
            hi = mid;
    }
    double s = (double)m->created[lo] + (o - (double)m->off[lo]);
    return (int64_t)(s * 1000.0);
}

static void sql_retime(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const timemap_t *m = sqlite3_user_data(ctx);
    sqlite3_result_int64(ctx, map_time(m, sqlite3_value_int64(argv[0])));
}

/* retime_req(created, t): a time of a request, relative to its own arrival:
 * the arrival's trace time plus (t - created) * speed. A job's length is
 * then its compressed length times speed wherever the replay cut quiet
 * stretches; with created NULL it is retime(t). */
static void sql_retime_req(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const timemap_t *m = sqlite3_user_data(ctx);
    int64_t t = sqlite3_value_int64(argv[1]);
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_int64(ctx, map_time(m, t));
        return;
    }
    int64_t c = sqlite3_value_int64(argv[0]);
    if (c < m->start_ms || t < c) {
        sqlite3_result_int64(ctx, map_time(m, t));
        return;
    }
    sqlite3_result_int64(ctx, map_time(m, c) + (int64_t)((double)(t - c) * m->speed));
}

/* Every time column. The requests table goes last: the others are mapped
 * relative to their request's (old) arrival. Deadlines, offer and lease
 * limits are durations from the config, not trace time: they keep their
 * distance. */
static const char *const updates =
    "UPDATE events SET at = retime_req((SELECT created_at FROM requests r WHERE"
    " r.id = events.request_id), at);"
    "UPDATE attachments SET created_at = retime_req((SELECT created_at FROM requests r WHERE"
    " r.id = attachments.request_id), created_at);"
    "UPDATE delivery_attempts SET at = retime_req((SELECT r.created_at FROM deliveries d JOIN"
    " requests r ON r.id = d.request_id WHERE d.id = delivery_attempts.delivery_id), at);"
    "UPDATE deliveries SET"
    " created_at = retime_req((SELECT created_at FROM requests r WHERE r.id ="
    " deliveries.request_id), created_at),"
    " next_at = retime_req((SELECT created_at FROM requests r WHERE r.id = deliveries.request_id),"
    " next_at),"
    " done_at = retime_req((SELECT created_at FROM requests r WHERE r.id = deliveries.request_id),"
    " done_at);"
    "UPDATE volunteers SET first_seen = retime(first_seen), last_seen = retime(last_seen);"
    "UPDATE requests SET"
    " deadline_at = retime(created_at) + (deadline_at - created_at),"
    " offer_due_at = retime(created_at) + (offer_due_at - created_at),"
    " lease_until = retime_req(created_at, claimed_at) + (lease_until - claimed_at),"
    " updated_at = retime_req(created_at, updated_at),"
    " claimed_at = retime_req(created_at, claimed_at),"
    " done_at = retime_req(created_at, done_at),"
    " rated_at = retime_req(created_at, rated_at),"
    " created_at = retime(created_at);";

int demo_retime(const char *db_path, const char *map_path, char *month, size_t month_len,
                char *err, size_t errlen)
{
    timemap_t m;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = -1;
    month[0] = '\0';
    if (map_read(map_path, &m, err, errlen) != 0)
        goto out;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
        sqlite3_create_function(db, "retime", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, &m,
                                sql_retime, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "retime_req", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, &m,
                                sql_retime_req, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", db_path, db ? sqlite3_errmsg(db) : "?");
        goto out;
    }
    char *msg = NULL;
    char *trigger = NULL;
    /* The events table refuses updates (the audit trail is append-only); a
     * demo database's clock is rewritten once, openly, inside one
     * transaction that puts the guard back before it commits. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND"
                               " name = 'events_no_update'", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW || !sqlite3_column_text(s, 0) ||
        !(trigger = strdup((const char *)sqlite3_column_text(s, 0))) ||
        sqlite3_exec(db, "DROP TRIGGER events_no_update", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, updates, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, trigger, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        free(trigger);
        snprintf(err, errlen, "rewriting the times in %s: %s", db_path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    free(trigger);
    sqlite3_finalize(s);
    s = NULL;
    /* The month most requests were received in, local time. */
    if (sqlite3_prepare_v2(db, "SELECT created_at FROM requests", -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        goto out;
    }
    struct {
        int ym;
        long count;
    } months[64];
    size_t nm = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        time_t sec = (time_t)(sqlite3_column_int64(s, 0) / 1000);
        struct tm tm;
        if (!localtime_r(&sec, &tm))
            continue;
        int ym = (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
        size_t k = 0;
        while (k < nm && months[k].ym != ym)
            k++;
        if (k == nm) {
            if (nm == sizeof months / sizeof months[0])
                continue;
            months[nm].ym = ym;
            months[nm++].count = 0;
        }
        months[k].count++;
    }
    size_t best = 0;
    for (size_t k = 1; k < nm; k++) {
        if (months[k].count > months[best].count)
            best = k;
    }
    if (nm)
        snprintf(month, month_len, "%04d-%02d", months[best].ym / 100, months[best].ym % 100);
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(m.off);
    free(m.created);
    return rc;
}
