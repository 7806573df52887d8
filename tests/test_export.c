/* test_export.c - `bianmin export` on the fixed database: requests.csv and
 * events.csv (BOM, RFC 4180 quoting), requests.json (timelines, photos),
 * index.html (escaped text, relative photo links) and the photos copied from
 * the archive; the month in the office's time zone; and `bianmin stats`
 * writing its HTML page and refusing bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "report.h"
#include "test_stats_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define SHA_JPG "ab00000000000000000000000000000000000000000000000000000000000001"
#define SHA_PNG "cd00000000000000000000000000000000000000000000000000000000000002"

static char g_dir[512], g_db[600], g_archive[600];

static int setup(void **state)
{
    (void)state;
    if (!fx_tmpdir(g_dir, sizeof g_dir))
        return -1;
    snprintf(g_db, sizeof g_db, "%s/bianmin.db", g_dir);
    snprintf(g_archive, sizeof g_archive, "%s/archive", g_dir);
    if (fx_create(g_db) != 0)
        return -1;
    /* the JPEG is in the archive; the PNG is missing from it */
    char path[800];
    snprintf(path, sizeof path, "%s/ab", g_archive);
    if (mkdir(g_archive, 0755) != 0 || mkdir(path, 0755) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/ab/%s.jpg", g_archive, SHA_JPG);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs("\xFF\xD8\xFF\xE0 photo bytes", f);
    return fclose(f);
}

static int teardown(void **state)
{
    (void)state;
    fx_rmtree(g_dir);
    return 0;
}

static char *slurp(const char *dir, const char *name, size_t *len_out)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s was not written", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (len_out)
        *len_out = n;
    return buf;
}

static int run_export(const char *out, const char *tz, const char *month, bool with_archive)
{
    cli_ctx_t ctx = {0};
    char *argv[12];
    int argc = 0;
    argv[argc++] = "export";
    argv[argc++] = "--month";
    argv[argc++] = (char *)month;
    argv[argc++] = "--tz";
    argv[argc++] = (char *)tz;
    argv[argc++] = "--db";
    argv[argc++] = g_db;
    if (with_archive) {
        argv[argc++] = "--archive";
        argv[argc++] = g_archive;
    }
    argv[argc++] = (char *)out;
    return cli_export_run(&ctx, argc, argv);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_export_november(void **state)
{
    (void)state;
    char out[700];
    snprintf(out, sizeof out, "%s/out-nov", g_dir);
    assert_int_equal(run_export(out, "Asia/Shanghai", "2026-11", true), CLI_EXIT_OK);

    /* requests.csv: BOM, header, one row per request received in November (9) */
    char *csv = slurp(out, "requests.csv", NULL);
    assert_memory_equal(csv, "\xEF\xBB\xBFticket,received_at,", 22);
    assert_int_equal(count(csv, "\r\n"), 10);
    assert_non_null(strstr(csv, "\r\n10,2026-11-01 00:30:00,office,other,"));
    assert_null(strstr(csv, "\r\n7,"));
    /* a comma and quotes in the resident's text: quoted, quotes doubled */
    assert_non_null(
        strstr(csv, ",\"卫生间漏水, 楼下\"\"滴水\"\" <script>alert(1)</script>\",done,已完成,"));
    assert_non_null(strstr(csv, "\r\n1,2026-11-02 08:00:00,building_leader,pipe,管道疏通,"));
    assert_non_null(strstr(csv, ",2026-11-02 10:00:00,5,4,2\r\n")); /* done, rating, events, photos */
    free(csv);

    char *evs = slurp(out, "events.csv", NULL);
    assert_memory_equal(evs, "\xEF\xBB\xBFticket,at,actor,actor_name,kind,", 33);
    /* actors as people: the volunteer's name, the channel's label */
    assert_non_null(strstr(evs, "1,2026-11-02 10:00:00,volunteer:v01,袁建成（志愿者 v01）,completed,"
                                "完成,claimed,done,已疏通，<b>换了</b>存水弯\r\n"));
    assert_non_null(strstr(evs, "4,2026-11-14 08:00:00,channel:office,社区办公室,resolved,解决,"
                                "escalated,resolved,自来水公司已更换主管道\r\n"));
    assert_non_null(strstr(evs, ",rated,评价,,,4分\r\n"));
    free(evs);

    /* requests.json: the records with their timelines and photos */
    char *js = slurp(out, "requests.json", NULL);
    cJSON *doc = cJSON_Parse(js);
    free(js);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItem(doc, "month")->valuestring, "2026-11");
    const cJSON *reqs = cJSON_GetObjectItem(doc, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), 9);
    const cJSON *r1 = cJSON_GetArrayItem(reqs, 0);
    assert_int_equal(cJSON_GetObjectItem(r1, "ticket")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(r1, "received_at")->valuestring,
                        "2026-11-02T00:00:00.000Z");
    const cJSON *tl = cJSON_GetObjectItem(r1, "timeline");
    assert_int_equal(cJSON_GetArraySize(tl), 4);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, 2), "kind")->valuestring,
                        "completed");
    const cJSON *photos = cJSON_GetObjectItem(r1, "photos");
    assert_int_equal(cJSON_GetArraySize(photos), 2);
    const cJSON *p0 = cJSON_GetArrayItem(photos, 0), *p1 = cJSON_GetArrayItem(photos, 1);
    assert_string_equal(cJSON_GetObjectItem(p0, "file")->valuestring, "photos/" SHA_JPG ".jpg");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(p0, "missing")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p1, "missing")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 8), "ticket")->valueint, 10);
    cJSON_Delete(doc);

    /* the photo is copied byte for byte; the missing one is not invented */
    char *photo = slurp(out, "photos/" SHA_JPG ".jpg", NULL);
    assert_string_equal(photo, "\xFF\xD8\xFF\xE0 photo bytes");
    free(photo);
    char missing[900];
    snprintf(missing, sizeof missing, "%s/photos/%s.png", out, SHA_PNG);
    struct stat st;
    assert_int_not_equal(stat(missing, &st), 0);

    /* index.html: the contents, one line per page of cases (small, whatever
     * the month's size); cases-0001.html: each case, escaped text, relative
     * photo links */
    char *idx = slurp(out, "index.html", NULL);
    assert_non_null(strstr(idx, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(idx, "<a href=\"cases-0001.html\">第 1 页</a></td><td>#1 – #10</td>"));
    assert_non_null(strstr(idx, "<td>9</td>"));
    assert_null(strstr(idx, "<section"));
    free(idx);
    char page2[900];
    snprintf(page2, sizeof page2, "%s/cases-0002.html", out);
    assert_int_not_equal(stat(page2, &st), 0); /* 9 cases: one page */
    char *html = slurp(out, "cases-0001.html", NULL);
    assert_non_null(strstr(html, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(html, "<a href=\"index.html\">"));
    assert_non_null(strstr(html, "<img src=\"photos/" SHA_JPG ".jpg\""));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "已疏通，&lt;b&gt;换了&lt;/b&gt;存水弯"));
    assert_non_null(strstr(html, "照片缺失"));
    assert_int_equal(count(html, "<section id=\"t"), 9);
    assert_non_null(strstr(html, "自来水公司已更换主管道"));
    free(html);
}

/* A month bigger than a page: the cases are split over pages of
 * BM_DEFAULT_EXPORT_PAGE, each linked to the next; the contents list has
 * one line per page; every case is in the CSV and JSON files once. */
static void test_export_pages(void **state)
{
    (void)state;
    long n = 2 * BM_DEFAULT_EXPORT_PAGE + 50;
    char sql[1200];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %ld)"
             " INSERT INTO requests(id, channel, category, priority, building, unit, contact, text,"
             " status, deadline_at, created_at, updated_at) SELECT 1000 + i, 'forum', 'pipe', 3,"
             " '大楼 ' || i, '', 'x', '第' || i || '件', 'open', 0,"
             " 1748736000000 + i * 60000, 0 FROM k;"
             "INSERT INTO events(request_id, at, actor, kind, from_status, to_status, detail)"
             " SELECT id, created_at, 'channel:forum', 'received', NULL, 'open', '{}' FROM requests"
             " WHERE id > 1000;",
             n);
    assert_int_equal(fx_exec(g_db, sql), 0);
    char out[700];
    snprintf(out, sizeof out, "%s/out-pages", g_dir);
    assert_int_equal(run_export(out, "UTC", "2025-06", true), CLI_EXIT_OK);
    char *idx = slurp(out, "index.html", NULL);
    assert_int_equal(count(idx, "<a href=\"cases-"), 3);
    char line[200];
    snprintf(line, sizeof line, "<a href=\"cases-0003.html\">第 3 页</a></td><td>#%ld – #%ld</td>",
             1001 + 2L * BM_DEFAULT_EXPORT_PAGE, 1000 + n);
    assert_non_null(strstr(idx, line));
    free(idx);
    char *p1 = slurp(out, "cases-0001.html", NULL);
    assert_int_equal((long)count(p1, "<section id=\"t"), BM_DEFAULT_EXPORT_PAGE);
    assert_non_null(strstr(p1, "<a href=\"cases-0002.html\">下一页"));
    assert_null(strstr(p1, "上一页"));
    free(p1);
    char *p3 = slurp(out, "cases-0003.html", NULL);
    assert_int_equal(count(p3, "<section id=\"t"), 50);
    assert_non_null(strstr(p3, "<a href=\"cases-0002.html\">上一页"));
    assert_null(strstr(p3, "下一页"));
    free(p3);
    char *csv = slurp(out, "requests.csv", NULL);
    assert_int_equal((long)count(csv, "\r\n"), n + 1);
    free(csv);
    char *js = slurp(out, "requests.json", NULL);
    cJSON *doc = cJSON_Parse(js);
    free(js);
    assert_non_null(doc);
    const cJSON *reqs = cJSON_GetObjectItem(doc, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), n);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, (int)n - 1), "ticket")->valueint,
                     1000 + n);
    cJSON_Delete(doc);
}

static void test_export_default_archive_and_utc(void **state)
{
    (void)state;
    /* without --archive: "archive" beside the database; in UTC, 10 is October */
    char out[700];
    snprintf(out, sizeof out, "%s/out-utc", g_dir);
    assert_int_equal(run_export(out, "UTC", "2026-11", false), CLI_EXIT_OK);
    char *csv = slurp(out, "requests.csv", NULL);
    assert_int_equal(count(csv, "\r\n"), 9); /* header + 8 */
    assert_null(strstr(csv, "\r\n10,"));
    assert_non_null(strstr(csv, "\r\n1,2026-11-02 00:00:00,"));
    free(csv);
    char *photo = slurp(out, "photos/" SHA_JPG ".jpg", NULL);
    free(photo);
}

static void test_export_empty_month(void **state)
{
    (void)state;
    char out[700];
    snprintf(out, sizeof out, "%s/out-empty", g_dir);
    assert_int_equal(run_export(out, "Asia/Shanghai", "2025-01", true), CLI_EXIT_OK);
    char *csv = slurp(out, "requests.csv", NULL);
    assert_int_equal(count(csv, "\r\n"), 1);
    free(csv);
    char *html = slurp(out, "index.html", NULL);
    assert_non_null(strstr(html, "本月没有受理的请求"));
    free(html);
    char *js = slurp(out, "requests.json", NULL);
    cJSON *doc = cJSON_Parse(js);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "requests")), 0);
    cJSON_Delete(doc);
    free(js);
}

static void test_export_refuses(void **state)
{
    (void)state;
    cli_ctx_t ctx = {0};
    char *no_dir[] = {"export", "--month", "2026-11", "--db", g_db};
    assert_int_equal(cli_export_run(&ctx, ARGC(no_dir), no_dir), CLI_EXIT_USAGE);
    char *bad_tz[] = {"export", "--month", "2026-11", "--tz", "Mars/Olympus", "--db", g_db, "x"};
    assert_int_equal(cli_export_run(&ctx, ARGC(bad_tz), bad_tz), CLI_EXIT_USAGE);
    char nodb[700];
    snprintf(nodb, sizeof nodb, "%s/none.db", g_dir);
    char out[700];
    snprintf(out, sizeof out, "%s/out-none", g_dir);
    char *missing[] = {"export", "--month", "2026-11", "--db", nodb, out};
    assert_int_equal(cli_export_run(&ctx, ARGC(missing), missing), CLI_EXIT_REFUSED);
}

static void test_report_parse(void **state)
{
    (void)state;
    cli_report_args_t a;
    char err[256];
    char *ok[] = {"stats", "--month=2026-02", "--tz", "Asia/Shanghai", "--csv", "--db", "x.db"};
    assert_int_equal(cli_report_parse(ARGC(ok), ok, false, false, &a, err, sizeof err), 0);
    assert_int_equal(a.year, 2026);
    assert_int_equal(a.month, 2);
    assert_int_equal(a.fmt, CLI_REPORT_CSV);
    assert_string_equal(a.db, "x.db");
    assert_string_equal(a.tz, "Asia/Shanghai");
    char *json[] = {"stats", "--month", "2026-02"};
    assert_int_equal(cli_report_parse(ARGC(json), json, false, true, &a, err, sizeof err), 0);
    assert_int_equal(a.fmt, CLI_REPORT_JSON); /* the global --json */
    char *no_month[] = {"stats", "--csv"};
    assert_int_equal(cli_report_parse(ARGC(no_month), no_month, false, false, &a, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "--month"));
    char *bad_month[] = {"stats", "--month", "2026-2"};
    assert_int_equal(
        cli_report_parse(ARGC(bad_month), bad_month, false, false, &a, err, sizeof err), -1);
    char *no_file[] = {"stats", "--month", "2026-02", "--html"};
    assert_int_equal(cli_report_parse(ARGC(no_file), no_file, false, false, &a, err, sizeof err),
                     -1);
    char *html_on_export[] = {"export", "--month", "2026-02", "--html", "f", "dir"};
    assert_int_equal(cli_report_parse(ARGC(html_on_export), html_on_export, true, false, &a, err,
                                      sizeof err),
                     -1);
    char *two_dirs[] = {"export", "--month", "2026-02", "a", "b"};
    assert_int_equal(cli_report_parse(ARGC(two_dirs), two_dirs, true, false, &a, err, sizeof err),
                     -1);
    /* BIANMIN_DB when --db is not given */
    setenv(CLI_ENV_DB, "/env/bianmin.db", 1);
    assert_int_equal(cli_report_parse(ARGC(json), json, false, false, &a, err, sizeof err), 0);
    assert_string_equal(a.db, "/env/bianmin.db");
    unsetenv(CLI_ENV_DB);
}

static void test_stats_html_file(void **state)
{
    (void)state;
    cli_ctx_t ctx = {0};
    char file[700];
    snprintf(file, sizeof file, "%s/report.html", g_dir);
    char *argv[] = {"stats", "--month", "2026-11", "--tz", "Asia/Shanghai", "--db", g_db,
                    "--html", file};
    assert_int_equal(cli_stats_run(&ctx, ARGC(argv), argv), CLI_EXIT_OK);
    char *html = slurp(g_dir, "report.html", NULL);
    assert_non_null(strstr(html, "<svg id=\"chart-daily\""));
    assert_non_null(strstr(html, "便民服务月度统计 2026-11"));
    assert_non_null(strstr(html, "袁建成"));
    free(html);
    char *bad[] = {"stats", "--month", "2026-11", "--tz", "Nowhere/Land", "--db", g_db};
    assert_int_equal(cli_stats_run(&ctx, ARGC(bad), bad), CLI_EXIT_USAGE);
}

static void test_text_tables(void **state)
{
    (void)state;
    cJSON *r = cJSON_Parse("{\"month\":\"2026-11\",\"tz\":\"UTC\",\"satisfaction\":{\"csat\":null,"
                           "\"mean\":null,\"rated\":0,\"done\":2,\"response_rate\":0},"
                           "\"buildings\":[{\"building\":\"幸福里 1栋\",\"received\":3,\"done\":1,"
                           "\"rated\":0,\"mean_rating\":null}]}");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_format_stats(f, r);
    fclose(f);
    assert_non_null(strstr(buf, "满意度 CSAT"));
    assert_non_null(strstr(buf, "幸福里 1栋"));
    assert_non_null(strstr(buf, "0/2")); /* rated of done */
    /* no ratings: a dash, never "0.00" or "0.0%" for CSAT / mean */
    assert_null(strstr(buf, "0.00"));
    assert_non_null(strstr(buf, "0.0%")); /* the response rate is a real 0 */
    assert_int_equal(count(buf, "0.0%"), 1);
    free(buf);
    cJSON_Delete(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_november),
        cmocka_unit_test(test_export_pages),
        cmocka_unit_test(test_export_default_archive_and_utc),
        cmocka_unit_test(test_export_empty_month),
        cmocka_unit_test(test_export_refuses),
        cmocka_unit_test(test_report_parse),
        cmocka_unit_test(test_stats_html_file),
        cmocka_unit_test(test_text_tables),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
