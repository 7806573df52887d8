/* test_client_list.c - `bianmin list` and `bianmin volunteers`: flags into a
 * list body (dates in local time become UTC), the tables for people (Chinese
 * text aligned, overdue mark, footer), and `list --all` paging against a
 * fake broker (a ROUTER on ipc:// in a temp dir). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli.h"
#include "clitest.h"
#include "proto.h"
#include "width.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments ----------------------------------------------------------- */

static char *parse_ok(int argc, char **argv, bool *all)
{
    cli_list_args_t args;
    char err[512] = "";
    if (cli_list_parse(argc, argv, &args, err, sizeof err) != 0)
        fail_msg("parse failed: %s", err);
    assert_false(args.help);
    *all = args.all;
    char *text = cJSON_PrintUnformatted(args.body);
    cJSON_Delete(args.body);
    return text;
}

static void parse_fails(int argc, char **argv, const char *want)
{
    cli_list_args_t args;
    char err[512] = "";
    assert_int_equal(cli_list_parse(argc, argv, &args, err, sizeof err), -1);
    assert_null(args.body);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void test_parse_date(void **state)
{
    (void)state;
    char iso[32];
    ct_set_tz("CST-8"); /* China: UTC+8, no summer time */
    assert_int_equal(cli_parse_date("2026-11-01", iso, sizeof iso), 0);
    assert_string_equal(iso, "2026-10-31T16:00:00.000Z");
    assert_int_equal(cli_parse_date("2026-01-01", iso, sizeof iso), 0);
    assert_string_equal(iso, "2025-12-31T16:00:00.000Z");
    ct_set_tz("UTC");
    assert_int_equal(cli_parse_date("2026-11-01", iso, sizeof iso), 0);
    assert_string_equal(iso, "2026-11-01T00:00:00.000Z");
    /* Summer time is the local rule of that day (Europe: +2 in July, +1 in Jan). */
    ct_set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
    assert_int_equal(cli_parse_date("2026-07-01", iso, sizeof iso), 0);
    assert_string_equal(iso, "2026-06-30T22:00:00.000Z");
    assert_int_equal(cli_parse_date("2026-01-15", iso, sizeof iso), 0);
    assert_string_equal(iso, "2026-01-14T23:00:00.000Z");
    /* An exact UTC time passes, normalized. */
    assert_int_equal(cli_parse_date("2026-11-01T08:00:00Z", iso, sizeof iso), 0);
    assert_string_equal(iso, "2026-11-01T08:00:00.000Z");
    assert_int_equal(cli_parse_date("2026-11-01T08:00:00.5Z", iso, sizeof iso), 0);
    assert_string_equal(iso, "2026-11-01T08:00:00.500Z");
    const char *bad[] = {"2026-02-30", "2026-13-01", "2026-11-1", "26-11-01",  "2026/11/01",
                         "2026-11-01x", "2026-11-01T08:00:00", "tomorrow", "", "2026-00-10",
                         "2026-11-01 08:00", "+026-11-01", "2026-1 -01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cli_parse_date(bad[i], iso, sizeof iso) == 0)
            fail_msg("\"%s\" was accepted as %s", bad[i], iso);
    }
    assert_int_equal(cli_parse_date(NULL, iso, sizeof iso), -1);
    ct_set_tz("UTC");
}

static void test_parse_filters(void **state)
{
    (void)state;
    bool all = true;
    ct_set_tz("CST-8");
    char *a[] = {"list",     "--status",  "open",      "--category",  "leak",
                 "--channel", "forum",    "--building", "市政小区 3栋", "--volunteer",
                 "v01",      "--overdue", "--since",   "2026-11-01",  "--until=2026-12-01",
                 "--limit",  "20",        "--offset",  "40"};
    char *body = parse_ok(ARGC(a), a, &all);
    assert_false(all);
    assert_string_equal(body, "{\"status\":\"open\",\"category\":\"leak\",\"channel\":\"forum\","
                              "\"building\":\"市政小区 3栋\",\"volunteer\":\"v01\","
                              "\"overdue\":true,\"since\":\"2026-10-31T16:00:00.000Z\","
                              "\"until\":\"2026-11-30T16:00:00.000Z\",\"limit\":20,\"offset\":40}");
    cJSON_free(body);

    char *b[] = {"list"};
    body = parse_ok(ARGC(b), b, &all);
    assert_string_equal(body, "{}"); /* the broker's defaults */
    cJSON_free(body);

    /* --all pages with the largest page unless --limit says otherwise. */
    char *c[] = {"list", "--all"};
    body = parse_ok(ARGC(c), c, &all);
    assert_true(all);
    assert_string_equal(body, "{\"limit\":200}");
    cJSON_free(body);
    char *d[] = {"list", "--all", "--limit", "50", "--offset", "10"};
    body = parse_ok(ARGC(d), d, &all);
    assert_string_equal(body, "{\"limit\":50,\"offset\":10}");
    cJSON_free(body);
    ct_set_tz("UTC");
}

static void test_parse_errors(void **state)
{
    (void)state;
    char *a[] = {"list", "--status", "pending"};
    parse_fails(ARGC(a), a, "unknown status \"pending\"；可选 / choices: open 待接单, claimed");
    /* a likely typo: did you mean, and the Chinese labels --help prints are accepted */
    char *typo[] = {"list", "--category", "pipes"};
    parse_fails(ARGC(typo), typo, "未知类别 \"pipes\" / unknown category \"pipes\"；您是不是要 / "
                                  "did you mean: pipe 管道疏通?");
    char *chan[] = {"list", "--channel", "form"};
    parse_fails(ARGC(chan), chan, "did you mean: forum 小区论坛?");
    char *st[] = {"list", "--status", "opne"};
    parse_fails(ARGC(st), st, "did you mean: open 待接单?");
    char *zh[] = {"list", "--category", "管道疏通", "--status", "处理中", "--channel", "楼栋长"};
    cli_list_args_t ok;
    char zerr[512];
    assert_int_equal(cli_list_parse(ARGC(zh), zh, &ok, zerr, sizeof zerr), 0);
    assert_string_equal(cli_json_str(ok.body, "category"), "pipe");
    assert_string_equal(cli_json_str(ok.body, "status"), "claimed");
    assert_string_equal(cli_json_str(ok.body, "channel"), "building_leader");
    cJSON_Delete(ok.body);
    char *b[] = {"list", "--since", "2026-11-31"};
    parse_fails(ARGC(b), b, "--since needs a date such as 2026-11-01");
    char *c[] = {"list", "--until", "next week"};
    parse_fails(ARGC(c), c, "--until needs a date");
    char *d[] = {"list", "--limit", "0"};
    parse_fails(ARGC(d), d, "--limit must be a number from 1 to 200");
    char *e[] = {"list", "--limit", "501"};
    parse_fails(ARGC(e), e, "--limit must be a number from 1 to 200");
    char *f[] = {"list", "--offset", "-1"};
    parse_fails(ARGC(f), f, "--offset must be a number from 0");
    char *g[] = {"list", "--building"};
    parse_fails(ARGC(g), g, "--building needs a value");
    char *h[] = {"list", "--building", " "};
    parse_fails(ARGC(h), h, "--building needs a value");
    char *i[] = {"list", "--building", "3\xff"};
    parse_fails(ARGC(i), i, "--building needs a value (UTF-8 text)");
    char *j[] = {"list", "--status", "open", "--status", "done"};
    parse_fails(ARGC(j), j, "--status given twice");
    char *k[] = {"list", "--since", "2026-11-01", "--since", "2026-11-02"};
    parse_fails(ARGC(k), k, "--since given twice");
    char *l[] = {"list", "--limit", "5", "--limit", "6"};
    parse_fails(ARGC(l), l, "--limit given twice");
    char *m[] = {"list", "--stat", "open"};
    parse_fails(ARGC(m), m, "unknown option --stat");
    char *n[] = {"list", "open"};
    parse_fails(ARGC(n), n, "unexpected argument \"open\"");

    cli_list_args_t args;
    char err[64];
    char *o[] = {"list", "--help"};
    assert_int_equal(cli_list_parse(ARGC(o), o, &args, err, sizeof err), 0);
    assert_true(args.help);
    cJSON_Delete(args.body);
}

/* ---- tables -------------------------------------------------------------- */

static const char *list_sample =
    "{\"requests\": ["
    " {\"ticket\": 123, \"status\": \"open\", \"category\": \"leak\", \"category_label\": \"漏水抢修\","
    "  \"urgent\": true, \"channel\": \"forum\", \"building\": \"市政小区 3栋\", \"unit\": \"2-301\","
    "  \"text\": \"楼上漏水\", \"volunteer\": null, \"attempts\": 0, \"overdue\": true,"
    "  \"created_at\": \"2026-11-29T06:20:01.123Z\", \"updated_at\": \"2026-11-29T06:20:01.123Z\"},"
    " {\"ticket\": 122, \"status\": \"claimed\", \"category\": \"pipe\", \"category_label\": \"管道疏通\","
    "  \"urgent\": false, \"channel\": \"building_leader\", \"building\": \"Garden Rd 12\", \"unit\": \"\","
    "  \"text\": \"x\", \"volunteer\": {\"id\": \"v01\", \"name\": \"袁建成\"}, \"attempts\": 1,"
    "  \"overdue\": false, \"created_at\": \"2026-11-29T05:00:00.000Z\", \"updated_at\": null},"
    " {\"ticket\": 9, \"status\": \"escalated\", \"category\": \"repair\","
    "  \"urgent\": false, \"channel\": \"office\", \"building\": \"幸福里小区东区 10栋 某某某某某\","
    "  \"unit\": \"1-1\", \"text\": \"x\", \"volunteer\": {\"id\": \"v02\", \"name\": \"Li Ming\"},"
    "  \"attempts\": 0, \"overdue\": false, \"created_at\": \"2026-11-28T23:59:00.000Z\"}],"
    " \"total\": 123, \"limit\": 3, \"offset\": 0}";

static char *format_list(const char *json, bool hint)
{
    cJSON *reply = cJSON_Parse(json);
    assert_non_null(reply);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    cli_format_list(f, reply, hint);
    fclose(f);
    cJSON_Delete(reply);
    return out;
}

/* The terminal column at which needle starts in line. */
static size_t column_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);
    if (!p)
        fail_msg("\"%s\" not in \"%s\"", needle, line);
    return bm_width_n(line, (size_t)(p - line));
}

/* Checks the whole table in the current width mode. */
static void check_list_table(void)
{
    ct_set_tz("UTC");
    char *out = format_list(list_sample, true);
    const char *want =
        "工单  状态              类别         楼栋/单元                 志愿者   受理时间\n"
        " 123  open 待接单       漏水抢修 急  市政小区 3栋 2-301        -        2026-11-29 06:20  超时 overdue\n"
        " 122  claimed 处理中    管道疏通     Garden Rd 12              袁建成   2026-11-29 05:00\n"
        "   9  escalated 已上报  水电维修     幸福里小区东区 10栋 某…   Li Ming  2026-11-28 23:59\n"
        "第 1-3 条，共 123 条 / showing 1-3 of 123 (下一页 next page: --offset 3)\n";
    if (strcmp(out, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", out, want);
    /* Whatever the bytes, the columns start at the same terminal column. */
    char *lines[4];
    char *p = out;
    for (int i = 0; i < 4; i++) {
        lines[i] = p;
        p = strchr(p, '\n');
        *p++ = '\0';
    }
    const char *times[] = {"受理时间", "2026-11-29 06:20", "2026-11-29 05:00", "2026-11-28 23:59"};
    const char *places[] = {"楼栋/单元", "市政小区", "Garden", "幸福里"};
    for (int i = 1; i < 4; i++) {
        assert_int_equal(column_of(lines[i], times[i]), column_of(lines[0], times[0]));
        assert_int_equal(column_of(lines[i], places[i]), column_of(lines[0], places[0]));
    }
    free(out);
}

static void test_list_table(void **state)
{
    (void)state;
    setlocale(LC_CTYPE, "C");
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    check_list_table();
    if (setlocale(LC_CTYPE, "C.UTF-8")) {
        bm_width_set_mode(BM_WIDTH_LOCALE);
        check_list_table();
        setlocale(LC_CTYPE, "C");
    }
    bm_width_set_mode(BM_WIDTH_FALLBACK);
}

static void test_list_footer(void **state)
{
    (void)state;
    ct_set_tz("UTC");
    const char *one = "{\"ticket\": 5, \"status\": \"done\", \"category\": \"lock\","
                      " \"building\": \"1栋\", \"created_at\": \"2026-11-29T06:20:01.123Z\"}";
    char json[1024];
    /* Last page: no hint. */
    snprintf(json, sizeof json, "{\"requests\": [%s], \"total\": 101, \"limit\": 50, \"offset\": 100}", one);
    char *out = format_list(json, true);
    assert_non_null(strstr(out, "\n第 101-101 条，共 101 条 / showing 101-101 of 101\n"));
    assert_non_null(strstr(out, "done 已完成"));
    assert_non_null(strstr(out, "开锁修锁")); /* label from our table when the reply has none */
    assert_null(strstr(out, "超时"));
    assert_null(strstr(out, "next page"));
    free(out);
    /* A middle page without the hint (what --all prints). */
    snprintf(json, sizeof json, "{\"requests\": [%s], \"total\": 300, \"limit\": 1, \"offset\": 49}", one);
    out = format_list(json, false);
    assert_non_null(strstr(out, "\n第 50-50 条，共 300 条 / showing 50-50 of 300\n"));
    free(out);
    out = format_list(json, true);
    assert_non_null(strstr(out, "\n第 50-50 条，共 300 条 / showing 50-50 of 300 (下一页 next page: --offset 50)\n"));
    free(out);
    out = format_list("{\"requests\": [], \"total\": 0, \"limit\": 50, \"offset\": 0}", true);
    assert_string_equal(out, "没有符合条件的记录 / no requests match (showing 0 of 0)\n");
    free(out);
    out = format_list("{\"requests\": [], \"total\": 7, \"limit\": 50, \"offset\": 50}", true);
    assert_string_equal(out, "超出范围 / showing none of 7 (--offset 50 is past the end)\n");
    free(out);
}

static const char *vol_sample =
    "{\"volunteers\": ["
    " {\"id\": \"v01\", \"name\": \"袁建成\", \"skills\": [\"pipe\", \"repair\"], \"max_jobs\": 2,"
    "  \"online\": true, \"last_seen\": \"2026-11-29T06:00:00.000Z\", \"jobs\": [42, 57]},"
    " {\"id\": \"v10\", \"name\": \"Wang\", \"skills\": [\"garden\"], \"max_jobs\": 1,"
    "  \"online\": false, \"last_seen\": null, \"jobs\": []}]}";

static void test_volunteers_table(void **state)
{
    (void)state;
    ct_set_tz("CST-8");
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    char *out = ct_format_with(cli_format_volunteers, vol_sample);
    const char *want =
        "编号 id  姓名 name  技能 skills         在线 online   接单 jobs    最近在线 last seen\n"
        "v01      袁建成     管道疏通、水电维修  在线 online   2/2 #42 #57  2026-11-29 14:00\n"
        "v10      Wang       garden              离线 offline  0/1          -\n"
        "2 位志愿者 volunteers，1 位在线 online\n";
    if (strcmp(out, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", out, want);
    free(out);
    out = ct_format_with(cli_format_volunteers, "{\"volunteers\": []}");
    assert_non_null(strstr(out, "no volunteers yet"));
    free(out);
    ct_set_tz("UTC");
}

/* ---- list --all against a fake broker ------------------------------------ */

#define FAKE_MAX_CALLS 16
#define FAKE_CAP       50 /* the fake gives at most this many per page */

typedef enum { FAKE_PLAIN, FAKE_SHIFT, FAKE_FAIL_SECOND } fake_mode_t;

typedef struct {
    ct_fake_t fb;
    fake_mode_t mode;
    long total;
    int calls;
    long offsets[FAKE_MAX_CALLS];
    long limits[FAKE_MAX_CALLS];
    char status_filter[32];
} fake_t;

/* The queue newest first: index i holds ticket total - i, made total - i
 * minutes after a fixed time (so created_at falls as tickets do). */
static cJSON *fake_page(long total, long offset, long limit)
{
    cJSON *reply = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(reply, "requests");
    long n = limit < FAKE_CAP ? limit : FAKE_CAP;
    for (long i = offset; i < offset + n && i < total; i++) {
        long ticket = total - i;
        char created[64];
        snprintf(created, sizeof created, "2026-11-%02dT%02d:%02d:00.000Z", (int)(1 + ticket / 1440),
                 (int)(ticket % 1440 / 60), (int)(ticket % 60));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "ticket", (double)ticket);
        cJSON_AddStringToObject(o, "status", "open");
        cJSON_AddStringToObject(o, "created_at", created);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddNumberToObject(reply, "total", (double)total);
    cJSON_AddNumberToObject(reply, "limit", (double)n);
    cJSON_AddNumberToObject(reply, "offset", (double)offset);
    return reply;
}

static void fake_answer(void *user, void *sock, const bm_envelope_t *env, const bm_msg_t *msg)
{
    fake_t *f = user;
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(msg->body, "offset");
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(msg->body, "limit");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(msg->body, "status");
    int call = f->calls++;
    long offset = cJSON_IsNumber(off) ? (long)off->valuedouble : 0;
    long limit = cJSON_IsNumber(lim) ? (long)lim->valuedouble : 50;
    if (call < FAKE_MAX_CALLS) {
        f->offsets[call] = offset;
        f->limits[call] = limit;
    }
    if (cJSON_IsString(status))
        snprintf(f->status_filter, sizeof f->status_filter, "%s", status->valuestring);
    if (strcmp(msg->cmd, BM_CMD_LIST) != 0 || (f->mode == FAKE_FAIL_SECOND && call == 1)) {
        bm_error_t err = {0};
        bm_error_set(&err, BM_ERR_STORAGE, NULL, "the database did not answer");
        assert_int_equal(bm_send_error(sock, env, msg->cid, msg->cid_len, &err), 0);
        return;
    }
    /* FAKE_SHIFT: a request is submitted after the first page is read. */
    long total = f->mode == FAKE_SHIFT && call > 0 ? f->total + 1 : f->total;
    cJSON *reply = fake_page(total, offset, limit);
    assert_int_equal(bm_send(sock, env, BM_REPLY_OK, msg->cid, msg->cid_len, reply), 0);
    cJSON_Delete(reply);
}

static void fake_start(fake_t *f, fake_mode_t mode, long total)
{
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->total = total;
    ct_fake_start(&f->fb, "clilist", fake_answer, f);
}

static void fake_stop(fake_t *f)
{
    ct_fake_stop(&f->fb);
}

/* Runs `list ARGS... --all` through the parser and cli_list_fetch_all. */
static int fetch_all(fake_t *f, int argc, char **argv, cJSON **merged)
{
    cli_list_args_t args;
    char err[256] = "";
    if (cli_list_parse(argc, argv, &args, err, sizeof err) != 0)
        fail_msg("parse: %s", err);
    assert_true(args.all);
    cli_ctx_t ctx = {.endpoint = f->fb.endpoint, .timeout_ms = 5000};
    int rc = cli_list_fetch_all(&ctx, args.body, merged, NULL);
    bm_rpc_destroy(&ctx.rpc);
    cJSON_Delete(args.body);
    return rc;
}

/* Checks merged holds tickets from down to 1, each once, newest first. */
static void check_tickets(const cJSON *merged, long from)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(merged, "requests");
    assert_int_equal(cJSON_GetArraySize(arr), from);
    long want = from;
    const cJSON *r = NULL;
    cJSON_ArrayForEach(r, arr)
    {
        assert_int_equal((long)cJSON_GetObjectItemCaseSensitive(r, "ticket")->valuedouble, want);
        want--;
    }
}

static void test_all_pages(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, FAKE_PLAIN, 120);
    cJSON *merged = NULL;
    char *a[] = {"list", "--all", "--limit", "50", "--status", "open"};
    assert_int_equal(fetch_all(&f, ARGC(a), a, &merged), CLI_EXIT_OK);
    fake_stop(&f);
    assert_int_equal(f.calls, 3);
    assert_int_equal(f.offsets[0], 0);
    assert_int_equal(f.offsets[1], 50);
    assert_int_equal(f.offsets[2], 100);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f.limits[i], 50);
    assert_string_equal(f.status_filter, "open"); /* filters go with every page */
    check_tickets(merged, 120);
    char *text = cJSON_PrintUnformatted(merged);
    assert_non_null(strstr(text, "],\"total\":120,\"offset\":0,\"limit\":120}"));
    cJSON_free(text);
    cJSON_Delete(merged);
}

static void test_all_broker_caps_page(void **state)
{
    (void)state;
    /* We ask for 200 a page; the broker gives 50: we advance by what came. */
    fake_t f;
    fake_start(&f, FAKE_PLAIN, 120);
    cJSON *merged = NULL;
    char *a[] = {"list", "--all"};
    assert_int_equal(fetch_all(&f, ARGC(a), a, &merged), CLI_EXIT_OK);
    fake_stop(&f);
    assert_int_equal(f.calls, 3);
    assert_int_equal(f.limits[0], 200);
    assert_int_equal(f.offsets[1], 50);
    assert_int_equal(f.offsets[2], 100);
    check_tickets(merged, 120);
    cJSON_Delete(merged);
}

static void test_all_from_offset(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, FAKE_PLAIN, 120);
    cJSON *merged = NULL;
    char *a[] = {"list", "--all", "--offset", "30", "--limit", "50"};
    assert_int_equal(fetch_all(&f, ARGC(a), a, &merged), CLI_EXIT_OK);
    fake_stop(&f);
    assert_int_equal(f.calls, 2);
    assert_int_equal(f.offsets[0], 30);
    assert_int_equal(f.offsets[1], 80);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(merged, "requests")), 90);
    assert_int_equal((long)cJSON_GetObjectItemCaseSensitive(merged, "offset")->valuedouble, 30);
    cJSON_Delete(merged);
}

static void test_all_shifted_by_new_request(void **state)
{
    (void)state;
    /* A submit between pages pushes everything down one place: the next page
     * begins with a request already taken, which must not appear twice. */
    fake_t f;
    fake_start(&f, FAKE_SHIFT, 120);
    cJSON *merged = NULL;
    char *a[] = {"list", "--all", "--limit", "50"};
    assert_int_equal(fetch_all(&f, ARGC(a), a, &merged), CLI_EXIT_OK);
    fake_stop(&f);
    assert_int_equal(f.calls, 3);
    check_tickets(merged, 120);
    assert_int_equal((long)cJSON_GetObjectItemCaseSensitive(merged, "total")->valuedouble, 121);
    cJSON_Delete(merged);
}

static void test_all_error_midway(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, FAKE_FAIL_SECOND, 120);
    cJSON *merged = (cJSON *)1;
    char *a[] = {"list", "--all", "--limit", "50"};
    assert_int_equal(fetch_all(&f, ARGC(a), a, &merged), CLI_EXIT_REFUSED);
    fake_stop(&f);
    assert_null(merged);
    assert_int_equal(f.calls, 2);
}

static void test_all_small(void **state)
{
    (void)state;
    /* Everything on the first page: one call. And an empty queue: one call. */
    fake_t f;
    fake_start(&f, FAKE_PLAIN, 7);
    cJSON *merged = NULL;
    char *a[] = {"list", "--all"};
    assert_int_equal(fetch_all(&f, ARGC(a), a, &merged), CLI_EXIT_OK);
    fake_stop(&f);
    assert_int_equal(f.calls, 1);
    check_tickets(merged, 7);
    cJSON_Delete(merged);

    fake_start(&f, FAKE_PLAIN, 0);
    assert_int_equal(fetch_all(&f, ARGC(a), a, &merged), CLI_EXIT_OK);
    fake_stop(&f);
    assert_int_equal(f.calls, 1);
    check_tickets(merged, 0);
    cJSON_Delete(merged);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_parse_filters),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_list_table),
        cmocka_unit_test(test_list_footer),
        cmocka_unit_test(test_volunteers_table),
        cmocka_unit_test(test_all_pages),
        cmocka_unit_test(test_all_broker_caps_page),
        cmocka_unit_test(test_all_from_offset),
        cmocka_unit_test(test_all_shifted_by_new_request),
        cmocka_unit_test(test_all_error_midway),
        cmocka_unit_test(test_all_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
