/* test_stats.c - the monthly figures (lib/stats.c) on the fixed database of
 * test_stats_fixture.c, each compared exactly with the value worked out by
 * hand below; an empty month; requests spanning a month boundary; a month
 * with completions but no ratings (figures absent, not 0); time-zone and DST
 * edges; percentiles; CSV quoting and HTML escaping; and the renderers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "jsonx.h"
#include "stats.h"
#include "test_stats_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_dir[512], g_db[600];

static int setup(void **state)
{
    (void)state;
    if (!fx_tmpdir(g_dir, sizeof g_dir))
        return -1;
    snprintf(g_db, sizeof g_db, "%s/bianmin.db", g_dir);
    return fx_create(g_db);
}

static int teardown(void **state)
{
    (void)state;
    fx_rmtree(g_dir);
    return 0;
}

static cJSON *report_of(const char *db_path, const char *tz, int year, int month)
{
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    sqlite3 *db = bm_stats_open(db_path, &err);
    if (!db)
        fail_msg("open: %s", err.message);
    cJSON *r = NULL;
    if (bm_stats_compute(db, &cfg, year, month, tz, &r, &err) != 0)
        fail_msg("compute: %s", err.message);
    sqlite3_close(db);
    return r;
}


/* Exact integer figure. */
static void expect_int(const cJSON *r, const char *path, long want)
{
    const cJSON *v = bm_json_path(r, path);
    if (!cJSON_IsNumber(v))
        fail_msg("%s: not a number", path);
    if (v->valuedouble != (double)want)
        fail_msg("%s: got %g, want %ld", path, v->valuedouble, want);
}

/* A ratio n/of computed as a double: compared with the same division. */
static void expect_real(const cJSON *r, const char *path, double want)
{
    const cJSON *v = bm_json_path(r, path);
    if (!cJSON_IsNumber(v))
        fail_msg("%s: not a number", path);
    if (fabs(v->valuedouble - want) > 1e-12)
        fail_msg("%s: got %.15g, want %.15g", path, v->valuedouble, want);
}

/* Absent figure: JSON null (never 0). */
static void expect_null(const cJSON *r, const char *path)
{
    const cJSON *v = bm_json_path(r, path);
    if (!cJSON_IsNull(v))
        fail_msg("%s: want null (absent), got %s", path, v ? "a value" : "no key");
}

static void expect_ratio(const cJSON *r, const char *path, long n, long of)
{
    char p[128];
    snprintf(p, sizeof p, "%s.n", path);
    expect_int(r, p, n);
    snprintf(p, sizeof p, "%s.of", path);
    expect_int(r, p, of);
    snprintf(p, sizeof p, "%s.rate", path);
    if (of == 0)
        expect_null(r, p);
    else
        expect_real(r, p, (double)n / (double)of);
}

/* ---- November 2026 in Asia/Shanghai, worked by hand ----------------------- */

static void test_november_volumes(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    assert_string_equal(bm_json_path(r, "month")->valuestring, "2026-11");
    assert_string_equal(bm_json_path(r, "from")->valuestring, "2026-10-31T16:00:00.000Z");
    assert_string_equal(bm_json_path(r, "until")->valuestring, "2026-11-30T16:00:00.000Z");
    /* received: 1,2,3,4,5,6,8,9,10 (7 is October; 10 is Nov 1 00:30 local) */
    expect_int(r, "received.total", 9);
    expect_int(r, "received.by_channel.building_leader", 2); /* 1, 5 */
    expect_int(r, "received.by_channel.forum", 3);           /* 2, 6, 8 */
    expect_int(r, "received.by_channel.council", 2);         /* 3, 9 */
    expect_int(r, "received.by_channel.office", 2);          /* 4, 10 */
    expect_int(r, "received.by_category.pipe", 3);           /* 1, 5, 8 */
    expect_int(r, "received.by_category.leak", 1);           /* 2 */
    expect_int(r, "received.by_category.repair", 2);         /* 3, 9 */
    expect_int(r, "received.by_category.other", 2);          /* 4, 10 */
    expect_int(r, "received.by_category.lock", 1);           /* 6 */
    /* done: completed 1, 2, 3 (3 twice: counted once); resolved 4; 6 is done in December */
    expect_int(r, "done.total", 4);
    expect_int(r, "done.completed", 3);
    expect_int(r, "done.resolved", 1);
    expect_int(r, "done.by_category.lock", 0);
    expect_int(r, "escalated", 1); /* 4 */
    expect_int(r, "cancelled", 1); /* 5 */
    expect_int(r, "reopened", 1);  /* 3 */
    cJSON_Delete(r);
}

static void test_november_open_at_end(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    /* end = 11-30T16:00Z. 6 claimed 1 h; 9 claimed 1 d 16 h; 8 open 3 d 16 h;
     * 7 open (lease expired) 36 d 16 h; 10 open 29 d 23.5 h. */
    expect_int(r, "open_at_end.total", 5);
    expect_int(r, "open_at_end.lt_1d", 1);
    expect_int(r, "open_at_end.d1_3", 1);
    expect_int(r, "open_at_end.d3_7", 1);
    expect_int(r, "open_at_end.ge_7d", 2);
    expect_int(r, "open_at_end.by_status.open", 3);
    expect_int(r, "open_at_end.by_status.claimed", 2);
    expect_int(r, "open_at_end.by_status.escalated", 0);
    cJSON_Delete(r);
}

static void test_november_times(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    /* claim (received in Nov and claimed): 300 (2), 600 (1), 1800 (3), 1800 (6),
     * 3600 (9); nearest rank: p50 = 3rd of 5, p90 = 5th of 5 */
    expect_int(r, "times.all.claim.n", 5);
    expect_int(r, "times.all.claim.p50_s", 1800);
    expect_int(r, "times.all.claim.p90_s", 3600);
    /* done: 7200 (1), 18000 (3, its first completion), 21600 (2), 36000 (6,
     * done in December but received in November), 172800 (4, resolved) */
    expect_int(r, "times.all.done.n", 5);
    expect_int(r, "times.all.done.p50_s", 21600);
    expect_int(r, "times.all.done.p90_s", 172800);
    expect_int(r, "times.by_category.pipe.claim.p50_s", 600);
    expect_int(r, "times.by_category.pipe.done.p90_s", 7200);
    expect_int(r, "times.by_category.repair.claim.n", 2);
    expect_int(r, "times.by_category.repair.claim.p50_s", 1800); /* rank ceil(1.0) = 1 */
    expect_int(r, "times.by_category.repair.claim.p90_s", 3600); /* rank ceil(1.8) = 2 */
    expect_int(r, "times.by_category.other.claim.n", 0);
    expect_null(r, "times.by_category.other.claim.p50_s");
    expect_null(r, "times.by_category.other.claim.p90_s");
    expect_int(r, "times.by_category.other.done.p50_s", 172800);
    expect_int(r, "times.by_category.lock.done.p50_s", 36000);
    expect_int(r, "times.by_category.leak.done.p50_s", 21600);
    /* histogram <1h,1-4h,4-12h,12-24h,1-3d,3-7d,>=7d: 2h | 5h 6h 10h | 48h */
    const cJSON *counts = bm_json_path(r, "time_to_done_hist.counts");
    const int want[7] = {0, 1, 3, 0, 1, 0, 0};
    assert_int_equal(cJSON_GetArraySize(counts), 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(cJSON_GetArrayItem(counts, i)->valueint, want[i]);
    /* The bins as the office reads them (the report shows these), Chinese. */
    const cJSON *labels = bm_json_path(r, "time_to_done_hist.labels");
    assert_int_equal(cJSON_GetArraySize(labels), 7);
    assert_string_equal(cJSON_GetArrayItem(labels, 0)->valuestring, "不到1小时");
    assert_string_equal(cJSON_GetArrayItem(labels, 6)->valuestring, "7天及以上");
    cJSON_Delete(r);
}

static void test_november_rates(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    /* done in Nov: 1 pipe 2h<=48h yes; 2 leak 6h>4h no; 3 repair 5h<=72h yes
     * (its first completion in the month); 4 other 48h<=7d yes */
    expect_ratio(r, "sla", 3, 4);
    expect_ratio(r, "sla.by_category.pipe", 1, 1);
    expect_ratio(r, "sla.by_category.leak", 0, 1);
    expect_ratio(r, "sla.by_category.lock", 0, 0);
    /* completed in Nov: 1 (one claim, no setback), 2 (failed), 3 (reopened) */
    expect_ratio(r, "first_time_fix", 1, 3);
    expect_ratio(r, "reopen", 1, 3);
    /* received in Nov: 9, escalated: 4 */
    expect_ratio(r, "escalation", 1, 9);
    cJSON_Delete(r);
}

static void test_november_satisfaction(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    /* done 1, 2, 3, 4; latest ratings 5 (1), 4 (2: 3 then 4), none (3), 1 (4) */
    expect_int(r, "satisfaction.done", 4);
    expect_int(r, "satisfaction.rated", 3);
    expect_real(r, "satisfaction.csat", 2.0 / 3.0);
    expect_real(r, "satisfaction.mean", 10.0 / 3.0);
    expect_real(r, "satisfaction.response_rate", 3.0 / 4.0);
    expect_int(r, "satisfaction.by_score.1", 1);
    expect_int(r, "satisfaction.by_score.3", 0); /* 2's earlier 3 was replaced */
    expect_int(r, "satisfaction.by_score.4", 1);
    expect_int(r, "satisfaction.by_score.5", 1);
    cJSON_Delete(r);
}

static void test_november_volunteers_buildings(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    const cJSON *v = bm_json_path(r, "volunteers");
    assert_int_equal(cJSON_GetArraySize(v), 2);
    const cJSON *v1 = cJSON_GetArrayItem(v, 0), *v2 = cJSON_GetArrayItem(v, 1);
    assert_string_equal(bm_json_path(v1, "id")->valuestring, "v01");
    assert_string_equal(bm_json_path(v1, "name")->valuestring, "袁建成");
    /* v01 completed 1 (1h50m), 2 (4h from its own claim), 3 (4h30m) */
    expect_int(v1, "completed", 3);
    expect_int(v1, "median_claim_to_done_s", 14400);
    expect_int(v1, "rated", 2);
    expect_real(v1, "mean_rating", 4.5);
    /* v02 completed 3 after the reopen (2h); 6 is done in December */
    assert_string_equal(bm_json_path(v2, "name")->valuestring, "李芳");
    expect_int(v2, "completed", 1);
    expect_int(v2, "median_claim_to_done_s", 7200);
    expect_int(v2, "rated", 0);
    expect_null(v2, "mean_rating");

    const cJSON *b = bm_json_path(r, "buildings");
    assert_int_equal(cJSON_GetArraySize(b), 3);
    const cJSON *b0 = cJSON_GetArrayItem(b, 0), *b1 = cJSON_GetArrayItem(b, 1),
                *b2 = cJSON_GetArrayItem(b, 2);
    assert_string_equal(bm_json_path(b0, "building")->valuestring, "和平路 5号"); /* byte order */
    expect_int(b0, "received", 2);
    expect_int(b0, "done", 0);
    expect_null(b0, "mean_rating");
    assert_string_equal(bm_json_path(b1, "building")->valuestring, "市政小区 3栋");
    expect_int(b1, "received", 4); /* 1, 2, 5, 8 */
    expect_int(b1, "done", 2);
    expect_real(b1, "mean_rating", 4.5);
    assert_string_equal(bm_json_path(b2, "building")->valuestring, "幸福里 1栋");
    expect_int(b2, "received", 3); /* 3, 4, 6 */
    expect_int(b2, "done", 2);
    expect_real(b2, "mean_rating", 1.0);
    cJSON_Delete(r);
}

static void test_november_daily_and_trend(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    assert_int_equal(cJSON_GetArraySize(bm_json_path(r, "daily.days")), 30);
    /* 10 at 10-31T16:30Z is Nov 1 00:30 local: day 1; 6 at 11-30T15:00Z is day 30 */
    assert_int_equal(
        cJSON_GetArrayItem(bm_json_path(r, "daily.by_category.other"), 0)->valueint, 1);
    assert_int_equal(
        cJSON_GetArrayItem(bm_json_path(r, "daily.by_category.lock"), 29)->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(bm_json_path(r, "daily.by_category.pipe"), 1)->valueint, 1);
    const cJSON *trend = bm_json_path(r, "trend");
    assert_int_equal(cJSON_GetArraySize(trend), 12);
    const cJSON *first = cJSON_GetArrayItem(trend, 0), *oct = cJSON_GetArrayItem(trend, 10),
                *nov = cJSON_GetArrayItem(trend, 11);
    assert_string_equal(bm_json_path(first, "month")->valuestring, "2025-12");
    assert_string_equal(bm_json_path(nov, "month")->valuestring, "2026-11");
    expect_int(nov, "received", 9);
    expect_int(nov, "done", 4);
    expect_real(nov, "csat", 2.0 / 3.0);
    assert_string_equal(bm_json_path(oct, "month")->valuestring, "2026-10");
    expect_int(oct, "received", 1); /* 7 only: 10 belongs to November here */
    expect_null(oct, "csat");
    expect_null(oct, "mean");
    cJSON_Delete(r);
}

/* ---- boundaries ---------------------------------------------------------- */

static void test_spanning_into_december(void **state)
{
    (void)state;
    /* 6 was received in November and done on Dec 1 09:00 local: December has
     * its completion (lock 10h <= 24h) but no ratings at all. */
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 12);
    expect_int(r, "received.total", 0);
    expect_int(r, "done.total", 1);
    expect_int(r, "done.by_category.lock", 1);
    expect_ratio(r, "sla", 1, 1);
    expect_ratio(r, "first_time_fix", 1, 1);
    expect_ratio(r, "escalation", 0, 0);
    expect_int(r, "times.all.done.n", 0); /* the cohort is requests received in December */
    expect_null(r, "times.all.done.p50_s");
    const cJSON *v = bm_json_path(r, "volunteers");
    assert_int_equal(cJSON_GetArraySize(v), 1);
    expect_int(cJSON_GetArrayItem(v, 0), "completed", 1);
    expect_int(cJSON_GetArrayItem(v, 0), "median_claim_to_done_s", 34200); /* 15:30 -> 01:00 */
    /* no ratings: absent, not 0; response rate is a real 0 of 1 */
    expect_int(r, "satisfaction.rated", 0);
    expect_null(r, "satisfaction.csat");
    expect_null(r, "satisfaction.mean");
    expect_real(r, "satisfaction.response_rate", 0.0);
    /* at the end of December: 7, 8, 9, 10 still open (6 done) */
    expect_int(r, "open_at_end.total", 4);
    cJSON_Delete(r);
}

static void test_empty_month(void **state)
{
    (void)state;
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2025, 6);
    expect_int(r, "received.total", 0);
    expect_int(r, "received.by_category.pipe", 0);
    expect_int(r, "done.total", 0);
    expect_int(r, "open_at_end.total", 0);
    expect_ratio(r, "sla", 0, 0);
    expect_ratio(r, "first_time_fix", 0, 0);
    expect_ratio(r, "reopen", 0, 0);
    expect_ratio(r, "escalation", 0, 0);
    expect_null(r, "satisfaction.csat");
    expect_null(r, "satisfaction.mean");
    expect_null(r, "satisfaction.response_rate");
    expect_null(r, "times.all.claim.p50_s");
    expect_null(r, "times.all.done.p90_s");
    assert_int_equal(cJSON_GetArraySize(bm_json_path(r, "volunteers")), 0);
    assert_int_equal(cJSON_GetArraySize(bm_json_path(r, "buildings")), 0);
    cJSON_Delete(r);
}

static void test_empty_database(void **state)
{
    (void)state;
    char dir[512], db[600];
    assert_non_null(fx_tmpdir(dir, sizeof dir));
    snprintf(db, sizeof db, "%s/empty.db", dir);
    assert_int_equal(fx_create_empty(db), 0);
    cJSON *r = report_of(db, "UTC", 2026, 11);
    expect_int(r, "received.total", 0);
    expect_null(r, "satisfaction.csat");
    assert_int_equal(cJSON_GetArraySize(bm_json_path(r, "trend")), 12);
    /* the renderers cope with nothing */
    FILE *f = tmpfile();
    assert_int_equal(bm_stats_write_html(f, r), 0);
    assert_int_equal(bm_stats_write_csv(f, r), 0);
    fclose(f);
    cJSON_Delete(r);
    fx_rmtree(dir);
}

static void test_timezone_edge(void **state)
{
    (void)state;
    /* 10 (2026-10-31T16:30Z) is November in Shanghai, October in UTC */
    cJSON *utc_nov = report_of(g_db, "UTC", 2026, 11);
    cJSON *utc_oct = report_of(g_db, "UTC", 2026, 10);
    cJSON *sh_oct = report_of(g_db, "Asia/Shanghai", 2026, 10);
    expect_int(utc_nov, "received.total", 8);
    expect_int(utc_nov, "received.by_category.other", 1); /* 4 only */
    expect_int(utc_oct, "received.total", 2);             /* 7, 10 */
    expect_int(utc_oct, "received.by_channel.office", 1);
    expect_int(sh_oct, "received.total", 1); /* 7 */
    expect_int(sh_oct, "received.by_channel.office", 0);
    assert_string_equal(bm_json_path(utc_nov, "from")->valuestring, "2026-11-01T00:00:00.000Z");
    cJSON_Delete(utc_nov);
    cJSON_Delete(utc_oct);
    cJSON_Delete(sh_oct);
}

static void test_month_range_dst(void **state)
{
    (void)state;
    int64_t from, until;
    /* New York: DST ends Nov 1 2026 02:00; Nov 1 00:00 is EDT (UTC-4), Dec 1 EST (UTC-5) */
    assert_int_equal(bm_stats_month_range("America/New_York", 2026, 11, &from, &until), 0);
    assert_true(from == fx_ms("2026-11-01T04:00:00Z"));
    assert_true(until == fx_ms("2026-12-01T05:00:00Z"));
    /* London: BST from Mar 29 2026; April 1 00:00 BST = Mar 31 23:00Z */
    assert_int_equal(bm_stats_month_range("Europe/London", 2026, 3, &from, &until), 0);
    assert_true(from == fx_ms("2026-03-01T00:00:00Z"));
    assert_true(until == fx_ms("2026-03-31T23:00:00Z"));
    /* December rolls into next year's January */
    assert_int_equal(bm_stats_month_range("Asia/Shanghai", 2026, 12, &from, &until), 0);
    assert_true(from == fx_ms("2026-11-30T16:00:00Z"));
    assert_true(until == fx_ms("2026-12-31T16:00:00Z"));
    /* an unknown zone is refused, not silently UTC */
    assert_int_equal(bm_stats_month_range("Asia/Shangai", 2026, 11, &from, &until), -1);
    /* day boundaries move with DST: the day of the change has 25 hours */
    cJSON *r = report_of(g_db, "America/New_York", 2026, 11);
    assert_string_equal(bm_json_path(r, "until")->valuestring, "2026-12-01T05:00:00.000Z");
    /* 10 (Oct 31 12:30 in New York) is October there */
    expect_int(r, "received.by_channel.office", 1);
    cJSON_Delete(r);
}

static void test_tz_restored(void **state)
{
    (void)state;
    setenv("TZ", "Europe/Paris", 1);
    int64_t from, until;
    assert_int_equal(bm_stats_month_range("Asia/Shanghai", 2026, 11, &from, &until), 0);
    assert_string_equal(getenv("TZ"), "Europe/Paris");
    /* NULL: the process's zone */
    assert_int_equal(bm_stats_month_range(NULL, 2026, 11, &from, &until), 0);
    assert_true(from == fx_ms("2026-10-31T23:00:00Z"));
    unsetenv("TZ");
}

/* ---- time-zone forms, the current month, rating attribution -------------- */

static void test_tz_forms(void **state)
{
    (void)state;
    int64_t from, until;
    /* +08:00 and its short forms mean eight hours EAST of UTC, like Shanghai */
    static const char *const east8[] = {"+08:00", "+0800", "+08", "+8", "Asia/Shanghai"};
    for (size_t i = 0; i < sizeof east8 / sizeof east8[0]; i++) {
        if (bm_stats_month_range(east8[i], 2026, 11, &from, &until) != 0)
            fail_msg("%s refused", east8[i]);
        if (from != fx_ms("2026-10-31T16:00:00Z"))
            fail_msg("%s: November starts at %lld", east8[i], (long long)from);
    }
    assert_int_equal(bm_stats_month_range("-05:30", 2026, 11, &from, &until), 0);
    assert_true(from == fx_ms("2026-11-01T05:30:00Z"));
    assert_int_equal(bm_stats_month_range("UTC", 2026, 11, &from, &until), 0);
    assert_true(from == fx_ms("2026-11-01T00:00:00Z"));
    /* UTC+8 would be UTC-8 for POSIX: refused, with what to write */
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    sqlite3 *db = bm_stats_open(g_db, &err);
    assert_non_null(db);
    bm_stats_data_t *d = bm_stats_load(db, &err);
    assert_non_null(d);
    static const char *const bad[][2] = {{"UTC+8", "+08:00"}, {"GMT-3", "-03:00"},
                                         {"Asia/Shangai", "Asia/Shanghai"}, {"+15:00", NULL},
                                         {"+08:61", NULL}, {"CST-8", NULL}, {"../etc", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        cJSON *r = bm_stats_month(d, &cfg, 2026, 11, bad[i][0], &err);
        if (r)
            fail_msg("%s accepted", bad[i][0]);
        assert_string_equal(err.code, "invalid");
        assert_string_equal(err.field, "tz");
        if (!strstr(err.message, "时区"))
            fail_msg("%s: not Chinese first: %s", bad[i][0], err.message);
        if (bad[i][1] && !strstr(err.message, bad[i][1]))
            fail_msg("%s: no suggestion %s: %s", bad[i][0], bad[i][1], err.message);
    }
    /* a bad TZ in the environment is an error, not UTC */
    setenv("TZ", "Mars/Olympus", 1);
    memset(&err, 0, sizeof err);
    assert_null(bm_stats_month(d, &cfg, 2026, 11, NULL, &err));
    assert_string_equal(err.field, "tz");
    assert_non_null(strstr(err.message, "TZ"));
    assert_int_equal(bm_stats_month_range(NULL, 2026, 11, &from, &until), -1);
    /* but a good --tz wins over it, and TZ is left as it was */
    cJSON *r = bm_stats_month(d, &cfg, 2026, 11, "+08:00", &err);
    assert_non_null(r);
    assert_string_equal(bm_json_path(r, "tz")->valuestring, "+08:00");
    assert_string_equal(bm_json_path(r, "from_local")->valuestring, "2026-11-01 00:00");
    expect_int(r, "received.total", 9); /* as in Asia/Shanghai: 10 is in, 7 is not */
    cJSON_Delete(r);
    assert_string_equal(getenv("TZ"), "Mars/Olympus");
    unsetenv("TZ");
    bm_stats_data_destroy(&d);
    sqlite3_close(db);
}

/* A database of its own: September 2026 (UTC) with
 *  11  claim v01, done 02:00, reopened IN THE SAME MILLISECOND, claim v02,
 *      done 04:00, rated 5 at 05:00: the rating is about v02's fix
 *  12  claim v01, done, rated 4, reopened, claim v02, done, never rated
 *      again: the rating is about v01's fix
 *  13  received 09-20 00:00, never touched */
static const char *const sept_sql =
    "INSERT INTO requests(id, channel, category, priority, building, unit, contact, text, status,"
    " deadline_at, created_at, updated_at) VALUES"
    " (11, 'forum', 'pipe', 3, 'A栋', '1', 'x', 't', 'done', 0, 1788220800000, 0),"
    " (12, 'forum', 'pipe', 3, 'A栋', '1', 'x', 't', 'done', 0, 1788307200000, 0),"
    " (13, 'forum', 'pipe', 3, 'A栋', '1', 'x', 't', 'open', 0, 1789862400000, 0);"
    "INSERT INTO events(request_id, at, actor, kind, from_status, to_status, detail) VALUES"
    " (11, 1788220800000, 'channel:forum', 'received', NULL, 'open', '{}'),"
    " (11, 1788224400000, 'volunteer:v01', 'claimed', 'open', 'claimed', '{}'),"
    " (11, 1788228000000, 'volunteer:v01', 'completed', 'claimed', 'done', '{}'),"
    " (11, 1788228000000, 'channel:forum', 'reopened', 'done', 'open', '{}'),"
    " (11, 1788231600000, 'volunteer:v02', 'claimed', 'open', 'claimed', '{}'),"
    " (11, 1788235200000, 'volunteer:v02', 'completed', 'claimed', 'done', '{}'),"
    " (11, 1788238800000, 'channel:forum', 'rated', NULL, NULL, '{\"score\":5}'),"
    " (12, 1788307200000, 'channel:forum', 'received', NULL, 'open', '{}'),"
    " (12, 1788310800000, 'volunteer:v01', 'claimed', 'open', 'claimed', '{}'),"
    " (12, 1788314400000, 'volunteer:v01', 'completed', 'claimed', 'done', '{}'),"
    " (12, 1788318000000, 'channel:forum', 'rated', NULL, NULL, '{\"score\":4}'),"
    " (12, 1788321600000, 'channel:forum', 'reopened', 'done', 'open', '{}'),"
    " (12, 1788325200000, 'volunteer:v02', 'claimed', 'open', 'claimed', '{}'),"
    " (12, 1788328800000, 'volunteer:v02', 'completed', 'claimed', 'done', '{}'),"
    " (13, 1789862400000, 'channel:forum', 'received', NULL, 'open', '{}');";

static cJSON *sept_report(int64_t now)
{
    char path[700];
    snprintf(path, sizeof path, "%s/sept.db", g_dir);
    remove(path);
    if (fx_create(path) != 0 || fx_exec(path, sept_sql) != 0)
        fail_msg("fixture");
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    sqlite3 *db = bm_stats_open(path, &err);
    assert_non_null(db);
    bm_stats_data_t *d = bm_stats_load(db, &err);
    assert_non_null(d);
    cJSON *r = bm_stats_month_asof(d, &cfg, 2026, 9, "UTC", now, &err);
    if (!r)
        fail_msg("month: %s", err.message);
    bm_stats_data_destroy(&d);
    sqlite3_close(db);
    return r;
}

static void test_rating_attribution(void **state)
{
    (void)state;
    assert_true(fx_ms("2026-09-01T00:00:00Z") == 1788220800000LL); /* the literals above */
    cJSON *r = sept_report(fx_ms("2027-01-01T00:00:00Z"));
    const cJSON *v = bm_json_path(r, "volunteers");
    assert_int_equal(cJSON_GetArraySize(v), 2);
    const cJSON *v1 = cJSON_GetArrayItem(v, 0), *v2 = cJSON_GetArrayItem(v, 1);
    assert_string_equal(bm_json_path(v1, "id")->valuestring, "v01");
    expect_int(v1, "completed", 2);
    expect_int(v1, "rated", 1); /* 12's rating only: 11's failed fix inherits nothing */
    expect_real(v1, "mean_rating", 4.0);
    expect_int(v2, "completed", 2);
    expect_int(v2, "rated", 1); /* 11's rating; 12's refix was never rated */
    expect_real(v2, "mean_rating", 5.0);
    /* each request's latest rating once: 11 (5) and 12 (4) */
    expect_int(r, "satisfaction.rated", 2);
    /* 11's reopen has the same millisecond as its completion: it counts */
    expect_ratio(r, "reopen", 2, 2);
    cJSON_Delete(r);
}

static void test_current_month(void **state)
{
    (void)state;
    /* September seen on the 20th at 01:00: 13 is an hour old, not 11 days */
    cJSON *r = sept_report(fx_ms("2026-09-20T01:00:00Z"));
    expect_int(r, "open_at_end.total", 1);
    expect_int(r, "open_at_end.lt_1d", 1);
    expect_int(r, "open_at_end.ge_7d", 0);
    assert_string_equal(bm_json_path(r, "as_of")->valuestring, "2026-09-20T01:00:00.000Z");
    cJSON_Delete(r);
    /* the same month once it is over: aged at its end */
    r = sept_report(fx_ms("2026-12-01T00:00:00Z"));
    expect_int(r, "open_at_end.total", 1);
    expect_int(r, "open_at_end.ge_7d", 1);
    assert_string_equal(bm_json_path(r, "as_of")->valuestring, "2026-10-01T00:00:00.000Z");
    cJSON_Delete(r);
    /* before 13 was received: nothing open */
    r = sept_report(fx_ms("2026-09-10T00:00:00Z"));
    expect_int(r, "open_at_end.total", 0);
    cJSON_Delete(r);
}

/* ---- pure helpers -------------------------------------------------------- */

/* History around a month: requests that began and ended long before it
 * (March 2025, May 2026, with a category and a channel no longer
 * configured) and ones received after it (February 2027, still open). */
static const char *const history_sql =
    "INSERT INTO requests(id, channel, category, priority, building, unit, contact, text, status,"
    " deadline_at, created_at, updated_at) VALUES"
    " (101, 'wechat', 'garden', 1, '旧楼 9栋', '1', 'x', 't', 'done', 0, 1741132800000, 0),"
    " (102, 'forum', 'pipe', 3, '市政小区 3栋', '2', 'x', 't', 'done', 0, 1778025600000, 0),"
    " (103, 'office', 'lock', 5, '幸福里 1栋', '3', 'x', 't', 'cancelled', 0, 1778112000000, 0),"
    " (104, 'forum', 'leak', 10, '市政小区 3栋', '4', 'x', 't', 'open', 0, 1801526400000, 0);"
    "INSERT INTO events(request_id, at, actor, kind, from_status, to_status, detail) VALUES"
    " (101, 1741132800000, 'channel:wechat', 'received', NULL, 'open', '{}'),"
    " (101, 1741136400000, 'volunteer:v01', 'claimed', 'open', 'claimed', '{}'),"
    " (101, 1741140000000, 'volunteer:v01', 'completed', 'claimed', 'done', '{}'),"
    " (101, 1741143600000, 'channel:wechat', 'rated', NULL, NULL, '{\"score\":2}'),"
    " (102, 1778025600000, 'channel:forum', 'received', NULL, 'open', '{}'),"
    " (102, 1778029200000, 'volunteer:v02', 'claimed', 'open', 'claimed', '{}'),"
    " (102, 1778032800000, 'volunteer:v02', 'completed', 'claimed', 'done', '{}'),"
    " (102, 1778036400000, 'channel:forum', 'reopened', 'done', 'open', '{}'),"
    " (102, 1778040000000, 'volunteer:v01', 'claimed', 'open', 'claimed', '{}'),"
    " (102, 1778043600000, 'volunteer:v01', 'completed', 'claimed', 'done', '{}'),"
    " (102, 1778047200000, 'channel:forum', 'rated', NULL, NULL, '{\"score\":5}'),"
    " (103, 1778112000000, 'channel:office', 'received', NULL, 'open', '{}'),"
    " (103, 1778115600000, 'channel:office', 'cancelled', 'open', 'cancelled', '{}'),"
    " (104, 1801526400000, 'channel:forum', 'received', NULL, 'open', '{}');";

static cJSON *report_asof(const char *path, const char *tz, int year, int month, int64_t now)
{
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    sqlite3 *db = bm_stats_open(path, &err);
    if (!db)
        fail_msg("open: %s", err.message);
    bm_stats_data_t *d = bm_stats_load(db, &err);
    if (!d)
        fail_msg("load: %s", err.message);
    cJSON *r = bm_stats_month_asof(d, &cfg, year, month, tz, now, &err);
    if (!r)
        fail_msg("month: %s", err.message);
    bm_stats_data_destroy(&d);
    sqlite3_close(db);
    return r;
}

/* The month's figures are the same whatever history surrounds it: only the
 * trend entry of a month that got requests changes (the stats read the
 * month by index, not the years; docs/stats.md). */
static void test_history_around_month(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/history.db", g_dir);
    remove(path);
    if (fx_create(path) != 0)
        fail_msg("fixture");
    int64_t now = fx_ms("2027-03-01T00:00:00Z");
    static const char *const zones[] = {"Asia/Shanghai", "UTC", "America/New_York"};
    cJSON *before[3];
    for (int z = 0; z < 3; z++)
        before[z] = report_asof(path, zones[z], 2026, 11, now);
    if (fx_exec(path, history_sql) != 0)
        fail_msg("history");
    for (int z = 0; z < 3; z++) {
        cJSON *after = report_asof(path, zones[z], 2026, 11, now);
        cJSON *tb = cJSON_DetachItemFromObjectCaseSensitive(before[z], "trend");
        cJSON *ta = cJSON_DetachItemFromObjectCaseSensitive(after, "trend");
        char *jb = cJSON_PrintUnformatted(before[z]), *ja = cJSON_PrintUnformatted(after);
        if (strcmp(jb, ja) != 0)
            fail_msg("%s: the month changed with the history around it:\n%s\n%s", zones[z], jb, ja);
        assert_null(strstr(ja, "garden")); /* an old category does not become a key */
        assert_null(strstr(ja, "wechat"));
        assert_int_equal(cJSON_GetArraySize(ta), 12);
        for (int i = 0; i < 12; i++) {
            const cJSON *b = cJSON_GetArrayItem(tb, i), *a = cJSON_GetArrayItem(ta, i);
            const char *m = bm_json_path(a, "month")->valuestring;
            if (strcmp(m, "2026-05") == 0) {
                /* 102 (done twice in May, counted once, rated 5) and 103 */
                expect_int(a, "received", 2);
                expect_int(a, "done", 1);
                expect_int(a, "rated", 1);
                expect_real(a, "mean", 5.0);
                continue;
            }
            char *xb = cJSON_PrintUnformatted(b), *xa = cJSON_PrintUnformatted(a);
            if (strcmp(xb, xa) != 0)
                fail_msg("%s: trend %s changed: %s -> %s", zones[z], m, xb, xa);
            free(xb);
            free(xa);
        }
        free(jb);
        free(ja);
        cJSON_Delete(tb);
        cJSON_Delete(ta);
        cJSON_Delete(after);
        cJSON_Delete(before[z]);
    }
    /* The month of the old history itself is counted from it, keys and all. */
    cJSON *mar = report_asof(path, "UTC", 2025, 3, now);
    expect_int(mar, "received.total", 1);
    expect_int(mar, "received.by_category.garden", 1);
    expect_int(mar, "received.by_channel.wechat", 1);
    expect_int(mar, "done.total", 1);
    expect_int(mar, "satisfaction.rated", 1);
    cJSON_Delete(mar);
}

static void test_percentile(void **state)
{
    (void)state;
    const int64_t one[] = {7};
    assert_true(bm_stats_percentile(one, 1, 50) == 7);
    assert_true(bm_stats_percentile(one, 1, 90) == 7);
    const int64_t ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_true(bm_stats_percentile(ten, 10, 50) == 5); /* rank 5 */
    assert_true(bm_stats_percentile(ten, 10, 90) == 9); /* rank 9 */
    assert_true(bm_stats_percentile(ten, 10, 91) == 10);
    const int64_t four[] = {10, 20, 30, 40};
    assert_true(bm_stats_percentile(four, 4, 50) == 20); /* lower median: rank 2 */
    assert_true(bm_stats_percentile(four, 4, 90) == 40); /* rank ceil(3.6) = 4 */
}

/* bm_json_path (lib/jsonx.h), which every figure above is read through. */
static void test_json_path(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse("{\"a\": {\"b\": {\"c\": 7}, \"s\": \"x\"}, \"n\": null}");
    assert_non_null(j);
    assert_int_equal(bm_json_path(j, "a.b.c")->valueint, 7);
    assert_ptr_equal(bm_json_path(j, "a"), cJSON_GetObjectItemCaseSensitive(j, "a"));
    assert_ptr_equal(bm_json_path(j, ""), j);
    assert_true(cJSON_IsNull(bm_json_path(j, "n")));
    assert_null(bm_json_path(j, "a.b.d"));
    assert_null(bm_json_path(j, "a.s.c")); /* through a string: no keys */
    assert_null(bm_json_path(j, "x.b"));
    assert_null(bm_json_path(NULL, "a"));
    char longkey[80];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_null(bm_json_path(j, longkey)); /* a key of 64 bytes or more */
    cJSON_Delete(j);
}

static void test_parse_month(void **state)
{
    (void)state;
    int y = 0, m = 0;
    assert_int_equal(bm_stats_parse_month("2026-11", &y, &m), 0);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 11);
    assert_int_equal(bm_stats_parse_month("2026-13", &y, &m), -1);
    assert_int_equal(bm_stats_parse_month("2026-00", &y, &m), -1);
    assert_int_equal(bm_stats_parse_month("2026-1", &y, &m), -1);
    assert_int_equal(bm_stats_parse_month("2026/11", &y, &m), -1);
    assert_int_equal(bm_stats_parse_month("", &y, &m), -1);
    assert_int_equal(bm_stats_parse_month(NULL, &y, &m), -1);
}

static char *capture(void (*fn)(FILE *, const char *), const char *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, arg);
    fclose(f);
    return buf;
}

static void test_csv_field(void **state)
{
    (void)state;
    char *s = capture(bm_csv_field, "plain 文字");
    assert_string_equal(s, "plain 文字");
    free(s);
    s = capture(bm_csv_field, "a,b");
    assert_string_equal(s, "\"a,b\"");
    free(s);
    s = capture(bm_csv_field, "say \"hi\"");
    assert_string_equal(s, "\"say \"\"hi\"\"\"");
    free(s);
    s = capture(bm_csv_field, "two\nlines");
    assert_string_equal(s, "\"two\nlines\"");
    free(s);
    s = capture(bm_csv_field, NULL);
    assert_string_equal(s, "");
    free(s);
    /* a spreadsheet must not run a cell as a formula: a leading ' (OWASP) */
    static const char *const risky[][2] = {
        {"=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""},
        {"+86 138", "'+86 138"},
        {"-1+2", "'-1+2"},
        {"@SUM(A1)", "'@SUM(A1)"},
        {"\tx", "'\tx"},
        {"\rx", "\"'\rx\""},
        {"=1,2", "\"'=1,2\""},
    };
    for (size_t i = 0; i < sizeof risky / sizeof risky[0]; i++) {
        s = capture(bm_csv_field, risky[i][0]);
        if (strcmp(s, risky[i][1]) != 0)
            fail_msg("csv of %s: got %s, want %s", risky[i][0], s, risky[i][1]);
        free(s);
    }
    s = capture(bm_csv_field, "a=b"); /* only a leading sign matters */
    assert_string_equal(s, "a=b");
    free(s);
}

static void test_html_escape(void **state)
{
    (void)state;
    char *s = capture(bm_html_escape, "<script>alert('x')</script> & \"楼\"");
    assert_string_equal(s, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;楼&quot;");
    free(s);
    s = capture(bm_html_escape, "bad\xff\x01ok");
    assert_string_equal(s, "bad\xEF\xBF\xBD\xEF\xBF\xBDok");
    free(s);
}

static void test_fmt(void **state)
{
    (void)state;
    char buf[64];
    cJSON *n = cJSON_CreateNull(), *x = cJSON_CreateNumber(0.75), *d = cJSON_CreateNumber(93784);
    assert_string_equal(bm_stats_fmt(n, BM_FMT_PERCENT, buf, sizeof buf), "—");
    assert_string_equal(bm_stats_fmt(NULL, BM_FMT_MEAN, buf, sizeof buf), "—");
    assert_string_equal(bm_stats_fmt(x, BM_FMT_PERCENT, buf, sizeof buf), "75.0%");
    assert_string_equal(bm_stats_fmt(d, BM_FMT_DURATION, buf, sizeof buf), "1天2小时");
    cJSON_SetNumberValue(d, 3900);
    assert_string_equal(bm_stats_fmt(d, BM_FMT_DURATION, buf, sizeof buf), "1小时5分");
    cJSON_Delete(n);
    cJSON_Delete(x);
    cJSON_Delete(d);
}

/* ---- renderers ----------------------------------------------------------- */

static void test_render_csv_html(void **state)
{
    (void)state;
    /* a building name that tries to break out of the page */
    assert_int_equal(fx_exec(g_db, "UPDATE requests SET building = '<img src=x onerror=alert(1)>'"
                                   " WHERE id = 9"),
                     0);
    cJSON *r = report_of(g_db, "Asia/Shanghai", 2026, 11);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(bm_stats_write_csv(f, r), 0);
    fclose(f);
    assert_memory_equal(buf, "\xEF\xBB\xBFsection,key,value\r\n", 22);
    assert_non_null(strstr(buf, "received,total,9\r\n"));
    assert_non_null(strstr(buf, "sla,rate,0.750000\r\n"));
    assert_non_null(strstr(buf, "volunteers,v01.name,袁建成\r\n"));
    assert_non_null(strstr(buf, "volunteers,v02.mean_rating,\r\n")); /* absent: empty */
    free(buf);

    f = open_memstream(&buf, &len);
    assert_int_equal(bm_stats_write_html(f, r), 0);
    fclose(f);
    assert_non_null(strstr(buf, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(buf, "Noto Sans CJK SC"));
    assert_non_null(strstr(buf, "id=\"chart-daily\""));
    assert_non_null(strstr(buf, "id=\"chart-hist\""));
    assert_non_null(strstr(buf, "id=\"chart-trend\""));
    assert_non_null(strstr(buf, "&lt;img src=x onerror=alert(1)&gt;"));
    assert_null(strstr(buf, "<img"));
    assert_null(strstr(buf, "<script"));
    assert_null(strstr(buf, "src=\"http")); /* no external resources */
    assert_null(strstr(buf, "href=\"http"));
    assert_null(strstr(buf, "url("));
    assert_non_null(strstr(buf, "66.7%")); /* CSAT */
    free(buf);
    cJSON_Delete(r);
    assert_int_equal(fx_exec(g_db, "UPDATE requests SET building = '和平路 5号' WHERE id = 9"), 0);
}

static void test_open_refuses(void **state)
{
    (void)state;
    bm_error_t err = {0};
    char path[700];
    snprintf(path, sizeof path, "%s/nope.db", g_dir);
    assert_null(bm_stats_open(path, &err));
    assert_string_equal(err.code, "not_found");
    /* a file that is not a bianmin database */
    snprintf(path, sizeof path, "%s/other.db", g_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(bm_stats_open(path, &err));
    assert_string_equal(err.code, "invalid");
    /* read-only: a write through the handle fails */
    db = bm_stats_open(g_db, &err);
    assert_non_null(db);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM volunteers", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_november_volumes),
        cmocka_unit_test(test_november_open_at_end),
        cmocka_unit_test(test_november_times),
        cmocka_unit_test(test_november_rates),
        cmocka_unit_test(test_november_satisfaction),
        cmocka_unit_test(test_november_volunteers_buildings),
        cmocka_unit_test(test_november_daily_and_trend),
        cmocka_unit_test(test_spanning_into_december),
        cmocka_unit_test(test_empty_month),
        cmocka_unit_test(test_empty_database),
        cmocka_unit_test(test_timezone_edge),
        cmocka_unit_test(test_month_range_dst),
        cmocka_unit_test(test_tz_restored),
        cmocka_unit_test(test_tz_forms),
        cmocka_unit_test(test_rating_attribution),
        cmocka_unit_test(test_current_month),
        cmocka_unit_test(test_history_around_month),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_parse_month),
        cmocka_unit_test(test_json_path),
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_render_csv_html),
        cmocka_unit_test(test_open_refuses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
