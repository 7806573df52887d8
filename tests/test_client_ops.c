/* test_client_ops.c - `bianmin rate`, `bianmin deliveries` and `bianmin
 * endpoints`: the command line becomes the right command and body (what is
 * wrong is named, nothing is sent), the tables and texts for people, and
 * `deliveries replay --dead-since` and `endpoints rotate` run end to end
 * against a fake broker (a ROUTER on ipc:// in a temp dir). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli.h"
#include "clitest.h"
#include "proto.h"
#include "util.h"
#include "width.h"

#include <fcntl.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" /* 24 bytes */

static void expect_body(ct_parse_fn fn, int argc, char **argv, const char *cmd, const char *body)
{
    const char *got_cmd = NULL;
    char *got = ct_parse_ok(fn, argc, argv, &got_cmd);
    assert_string_equal(got_cmd, cmd);
    if (strcmp(got, body) != 0)
        fail_msg("body %s, want %s", got, body);
    cJSON_free(got);
}

static void expect_help(ct_parse_fn fn, int argc, char **argv)
{
    cli_op_args_t args;
    char err[512] = "";
    assert_int_equal(fn(argc, argv, &args, err, sizeof err), 0);
    assert_true(args.help);
    assert_null(args.body);
}

/* ---- rate ---------------------------------------------------------------- */

static void test_rate_parse(void **state)
{
    (void)state;
    char *a[] = {"rate", "42", "5", "--channel", "building_leader", "--comment", "师傅很快"};
    expect_body(cli_rate_parse, ARGC(a), a, "rate",
                "{\"ticket\":42,\"channel\":\"building_leader\",\"score\":5,"
                "\"comment\":\"师傅很快\"}");
    char *b[] = {"rate", "--channel=office", "#7", "1"};
    expect_body(cli_rate_parse, ARGC(b), b, "rate",
                "{\"ticket\":7,\"channel\":\"office\",\"score\":1}");
    char *c[] = {"rate", "7", "3", "--channel", "forum", "--comment", "  "}; /* blank: left out */
    expect_body(cli_rate_parse, ARGC(c), c, "rate",
                "{\"ticket\":7,\"channel\":\"forum\",\"score\":3}");
    char *h[] = {"rate", "42", "--help"};
    expect_help(cli_rate_parse, ARGC(h), h);

    char *e1[] = {"rate", "42", "6", "--channel", "forum"};
    ct_parse_fails(cli_rate_parse, ARGC(e1), e1, "from 1 to 5, not \"6\"");
    char *e2[] = {"rate", "42", "0", "--channel", "forum"};
    ct_parse_fails(cli_rate_parse, ARGC(e2), e2, "from 1 to 5");
    char *e3[] = {"rate", "42", "4.5", "--channel", "forum"};
    ct_parse_fails(cli_rate_parse, ARGC(e3), e3, "whole number from 1 to 5");
    char *e4[] = {"rate", "42", "5"};
    ct_parse_fails(cli_rate_parse, ARGC(e4), e4, "missing --channel");
    char *e5[] = {"rate", "42", "--channel", "forum"};
    ct_parse_fails(cli_rate_parse, ARGC(e5), e5, "which ticket and what score?");
    char *e6[] = {"rate", "abc", "5", "--channel", "forum"};
    ct_parse_fails(cli_rate_parse, ARGC(e6), e6, "\"abc\" is not a ticket number");
    char *e7[] = {"rate", "42", "5", "--channel", "forum", "很", "快"};
    ct_parse_fails(cli_rate_parse, ARGC(e7), e7, "goes in quotes after --comment");
    char *e8[] = {"rate", "42", "5", "--channel", "forum", "--stars", "5"};
    ct_parse_fails(cli_rate_parse, ARGC(e8), e8, "unknown option --stars");
    char *e9[] = {"rate", "42", "5", "--channel", "forum", "--channel", "office"};
    ct_parse_fails(cli_rate_parse, ARGC(e9), e9, "--channel given twice");
    char *e10[] = {"rate", "42", "5", "--channel", "forum", "--comment", "\xff\xfe"};
    ct_parse_fails(cli_rate_parse, ARGC(e10), e10, "not valid UTF-8");
    char *e11[] = {"rate", "42", "5", "--channel"};
    ct_parse_fails(cli_rate_parse, ARGC(e11), e11, "--channel needs a value");
    char longc[BM_MAX_COMMENT + 2];
    memset(longc, 'x', sizeof longc - 1);
    longc[sizeof longc - 1] = '\0';
    char *e12[] = {"rate", "42", "5", "--channel", "forum", "--comment", longc};
    ct_parse_fails(cli_rate_parse, ARGC(e12), e12, "--comment is longer than 1000 bytes");
}

/* ---- deliveries: arguments ----------------------------------------------- */

static void test_deliveries_parse(void **state)
{
    (void)state;
    ct_set_tz("CST-8");
    char *a[] = {"deliveries"};
    expect_body(cli_deliveries_parse, ARGC(a), a, "deliveries", "{}");
    char *b[] = {"deliveries",    "--state", "dead",     "--endpoint", "3",  "--ticket", "#42",
                 "--since",       "2026-11-01", "--limit", "20",       "--offset=40"};
    expect_body(cli_deliveries_parse, ARGC(b), b, "deliveries",
                "{\"state\":\"dead\",\"endpoint\":3,\"ticket\":42,"
                "\"since\":\"2026-10-31T16:00:00.000Z\",\"limit\":20,\"offset\":40}");
    char *c[] = {"deliveries", "list", "--state=pending"};
    expect_body(cli_deliveries_parse, ARGC(c), c, "deliveries", "{\"state\":\"pending\"}");
    char *d[] = {"deliveries", "show", "7"};
    expect_body(cli_deliveries_parse, ARGC(d), d, "delivery", "{\"id\":7}");
    char *e[] = {"deliveries", "replay", "7"};
    expect_body(cli_deliveries_parse, ARGC(e), e, "replay", "{\"id\":7}");
    char *f[] = {"deliveries", "replay", "--dead-since", "2026-11-28"};
    expect_body(cli_deliveries_parse, ARGC(f), f, "replay",
                "{\"dead_since\":\"2026-11-27T16:00:00.000Z\"}");
    char *g[] = {"deliveries", "replay", "--dead-since=2026-11-28T08:00:00Z"};
    expect_body(cli_deliveries_parse, ARGC(g), g, "replay",
                "{\"dead_since\":\"2026-11-28T08:00:00.000Z\"}");
    char *h1[] = {"deliveries", "--help"};
    expect_help(cli_deliveries_parse, ARGC(h1), h1);
    char *h2[] = {"deliveries", "replay", "-h"};
    expect_help(cli_deliveries_parse, ARGC(h2), h2);
    ct_set_tz("UTC");
}

static void test_deliveries_parse_errors(void **state)
{
    (void)state;
    char *a[] = {"deliveries", "--state", "failed"};
    ct_parse_fails(cli_deliveries_parse, ARGC(a), a, "--state must be pending");
    char *b[] = {"deliveries", "--limit", "501"};
    ct_parse_fails(cli_deliveries_parse, ARGC(b), b, "--limit must be a number from 1 to 200");
    char *c[] = {"deliveries", "--since", "yesterday"};
    ct_parse_fails(cli_deliveries_parse, ARGC(c), c, "--since needs a date such as 2026-11-01");
    char *d[] = {"deliveries", "--ticket", "-3"};
    ct_parse_fails(cli_deliveries_parse, ARGC(d), d, "--ticket must be a number");
    char *e[] = {"deliveries", "--state", "dead", "--state", "pending"};
    ct_parse_fails(cli_deliveries_parse, ARGC(e), e, "--state given twice");
    char *f[] = {"deliveries", "frob"};
    ct_parse_fails(cli_deliveries_parse, ARGC(f), f, "unexpected argument \"frob\"");
    char *g[] = {"deliveries", "--dead-since", "2026-11-01"};
    ct_parse_fails(cli_deliveries_parse, ARGC(g), g, "unknown option --dead-since");
    char *h[] = {"deliveries", "show"};
    ct_parse_fails(cli_deliveries_parse, ARGC(h), h, "which delivery?");
    char *i[] = {"deliveries", "show", "7", "8"};
    ct_parse_fails(cli_deliveries_parse, ARGC(i), i, "unexpected argument \"8\"");
    char *j[] = {"deliveries", "show", "x7"};
    ct_parse_fails(cli_deliveries_parse, ARGC(j), j, "the delivery id must be a number");
    char *k[] = {"deliveries", "replay"};
    ct_parse_fails(cli_deliveries_parse, ARGC(k), k, "which deliveries?");
    char *l[] = {"deliveries", "replay", "7", "--dead-since", "2026-11-01"};
    ct_parse_fails(cli_deliveries_parse, ARGC(l), l, "not both");
    char *m[] = {"deliveries", "replay", "--dead-since", "2026-02-30"};
    ct_parse_fails(cli_deliveries_parse, ARGC(m), m, "--dead-since needs a date");
    char *n[] = {"deliveries", "replay", "--dead-since"};
    ct_parse_fails(cli_deliveries_parse, ARGC(n), n, "--dead-since needs a value");
    char *o[] = {"deliveries", "show", "7", "--state", "dead"};
    ct_parse_fails(cli_deliveries_parse, ARGC(o), o, "unknown option --state");
}

/* ---- endpoints: arguments ------------------------------------------------ */

static void test_endpoints_parse(void **state)
{
    (void)state;
    char *a[] = {"endpoints"};
    expect_body(cli_endpoints_parse, ARGC(a), a, "endpoints", "{}");
    char *a2[] = {"endpoints", "list"};
    expect_body(cli_endpoints_parse, ARGC(a2), a2, "endpoints", "{}");
    char *b[] = {"endpoints", "disable", "3"};
    expect_body(cli_endpoints_parse, ARGC(b), b, "endpoint", "{\"id\":3,\"action\":\"disable\"}");
    char *c[] = {"endpoints", "enable", "#3"};
    expect_body(cli_endpoints_parse, ARGC(c), c, "endpoint", "{\"id\":3,\"action\":\"enable\"}");
    char *d[] = {"endpoints", "rotate", "3"};
    expect_body(cli_endpoints_parse, ARGC(d), d, "endpoint", "{\"id\":3,\"action\":\"rotate\"}");
    char *e[] = {"endpoints", "rotate", "--secret", SECRET, "3"};
    expect_body(cli_endpoints_parse, ARGC(e), e, "endpoint",
                "{\"id\":3,\"action\":\"rotate\",\"secret\":\"" SECRET "\"}");
    char *h[] = {"endpoints", "rotate", "--help"};
    expect_help(cli_endpoints_parse, ARGC(h), h);

    char *f1[] = {"endpoints", "rotate", "3", "--secret", "whsec_short"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f1), f1, "--secret must be whsec_");
    char *f2[] = {"endpoints", "rotate", "3", "--secret", "hunter2hunter2hunter2hunter2hunter2"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f2), f2, "--secret must be whsec_");
    char *f3[] = {"endpoints", "disable", "3", "--secret", SECRET};
    ct_parse_fails(cli_endpoints_parse, ARGC(f3), f3, "unknown option --secret");
    char *f4[] = {"endpoints", "disable"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f4), f4, "which endpoint?");
    char *f5[] = {"endpoints", "enable", "three"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f5), f5, "\"three\" is not an endpoint id");
    char *f6[] = {"endpoints", "delete", "3"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f6), f6, "unknown subcommand \"delete\"");
    char *f7[] = {"endpoints", "enable", "3", "4"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f7), f7, "unexpected argument \"4\"");
    char *f8[] = {"endpoints", "list", "3"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f8), f8, "unexpected argument \"3\"");
    char *f9[] = {"endpoints", "--state", "dead"};
    ct_parse_fails(cli_endpoints_parse, ARGC(f9), f9, "unknown option --state");
    char *f10[] = {"endpoints", "rotate", "3", "--secret", SECRET, "--secret", SECRET};
    ct_parse_fails(cli_endpoints_parse, ARGC(f10), f10, "--secret given twice");
}

/* ---- formatting ---------------------------------------------------------- */

static void format_deliveries_hint(FILE *f, const cJSON *reply)
{
    cli_format_deliveries(f, reply, true);
}

static const char *deliveries_sample =
    "{\"deliveries\": ["
    " {\"id\": 12, \"msg_id\": \"msg_a\", \"type\": \"request.completed\", \"state\": \"dead\","
    "  \"attempts\": 10, \"last_error\": \"connection refused (couldn't connect to host)\","
    "  \"next_at\": null, \"created_at\": \"2026-11-29T06:20:00.000Z\","
    "  \"done_at\": \"2026-11-30T06:20:00.000Z\", \"ticket\": 42, \"endpoint\": 3,"
    "  \"url\": \"http://127.0.0.1:9/x\", \"endpoint_name\": null},"
    " {\"id\": 11, \"msg_id\": \"msg_b\", \"type\": \"request.escalated\", \"state\": \"pending\","
    "  \"attempts\": 2, \"last_error\": \"HTTP 503\", \"next_at\": \"2026-11-29T07:00:00.000Z\","
    "  \"created_at\": \"2026-11-29T06:10:00.000Z\", \"done_at\": null, \"ticket\": 41,"
    "  \"endpoint\": 1, \"url\": \"https://water.example/hook\", \"endpoint_name\": \"自来水公司\"},"
    " {\"id\": 9, \"msg_id\": \"msg_c\", \"type\": \"request.overdue\", \"state\": \"delivered\","
    "  \"attempts\": 1, \"last_error\": null, \"next_at\": null,"
    "  \"created_at\": \"2026-11-29T05:00:00.000Z\", \"done_at\": \"2026-11-29T05:00:01.000Z\","
    "  \"ticket\": null, \"endpoint\": 2, \"url\": \"https://office.example/hook\","
    "  \"endpoint_name\": \"office\"}],"
    " \"total\": 30, \"limit\": 3, \"offset\": 0}";

static void check_deliveries_table(void)
{
    char *out = ct_format_with(format_deliveries_hint, deliveries_sample);
    ct_expect_text(out,
                "编号 id  工单 ticket  类型 type          接收方 endpoint       状态 state        "
                "次数 attempts  最近错误 last error             下次 next attempt\n"
                "     12           42  request.completed  http://127.0.0.1:9/x  dead 投递失败     "
                "           10  connection refused (couldn't …  -\n"
                "     11           41  request.escalated  自来水公司            pending 待发送    "
                "            2  HTTP 503                        2026-11-29 07:00\n"
                "      9            -  request.overdue    office                delivered 已送达  "
                "            1  -                               -\n"
                "第 1-3 条，共 30 条 / showing 1-3 of 30 (下一页 next page: --offset 3)\n"
                "1 dead 投递失败: see why with bianmin deliveries show 12; send again with\n"
                "bianmin deliveries replay ID (or --dead-since DATE for all since then)\n");
    free(out);
}

static void test_deliveries_table(void **state)
{
    (void)state;
    ct_set_tz("UTC");
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    check_deliveries_table();
    /* The same columns from the locale's wcwidth, where there is a UTF-8 one. */
    if (setlocale(LC_CTYPE, "C.UTF-8")) {
        bm_width_set_mode(BM_WIDTH_LOCALE);
        check_deliveries_table();
        setlocale(LC_CTYPE, "C");
    }
    bm_width_set_mode(BM_WIDTH_FALLBACK);

    char *out = ct_format_with(format_deliveries_hint,
                            "{\"deliveries\": [], \"total\": 0, \"limit\": 50, \"offset\": 0}");
    ct_expect_text(out, "没有符合条件的记录 / no deliveries match (showing 0 of 0)\n");
    free(out);
    out = ct_format_with(format_deliveries_hint,
                      "{\"deliveries\": [], \"total\": 4, \"limit\": 50, \"offset\": 50}");
    ct_expect_text(out, "超出范围 / showing none of 4 (--offset 50 is past the end)\n");
    free(out);
    /* Garbage does not crash, and peers' control characters stay out. */
    out = ct_format_with(format_deliveries_hint,
                      "{\"deliveries\": [1, {\"last_error\": \"a\\u001b[2Jb\", \"state\": 5}]}");
    assert_null(strchr(out, '\x1b'));
    assert_non_null(strstr(out, "共 2 条 / showing 1-2 of 2\n"));
    free(out);
}

static const char *delivery_sample =
    "{\"id\": 12, \"msg_id\": \"msg_2bq7\", \"type\": \"request.completed\", \"state\": \"dead\","
    " \"attempts\": 2, \"last_error\": \"HTTP 503\", \"next_at\": null,"
    " \"created_at\": \"2026-11-29T06:20:00.000Z\", \"done_at\": \"2026-11-29T06:25:00.000Z\","
    " \"ticket\": 42, \"endpoint\": 3, \"url\": \"http://127.0.0.1:9/x\", \"endpoint_name\": null,"
    " \"body\": \"{\\\"type\\\":\\\"request.completed\\\",\\\"data\\\":{\\\"ticket\\\":42,"
    "\\\"note\\\":\\\"疏通完毕\\\"}}\","
    " \"attempt_log\": ["
    "  {\"at\": \"2026-11-29T06:20:01.000Z\", \"status\": null, \"latency_ms\": 3,"
    "   \"error\": \"connection refused\"},"
    "  {\"at\": \"2026-11-29T06:25:00.000Z\", \"status\": 503, \"latency_ms\": 1204,"
    "   \"error\": \"HTTP 503\"}]}";

static void test_delivery_show(void **state)
{
    (void)state;
    ct_set_tz("UTC");
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    char *out = ct_format_with(cli_format_delivery, delivery_sample);
    ct_expect_text(out, "通知 delivery 12  request.completed  [dead 投递失败]\n"
                     "  工单 ticket:      42\n"
                     "  接收 endpoint:    3\n"
                     "  地址 url:         http://127.0.0.1:9/x\n"
                     "  编号 webhook-id:  msg_2bq7\n"
                     "  次数 attempts:    2\n"
                     "  错误 last error:  HTTP 503\n"
                     "  创建 created:     2026-11-29 06:20\n"
                     "  结束 finished:    2026-11-29 06:25\n"
                     "\n"
                     "尝试记录 attempt log:\n"
                     "  时间 time            HTTP  耗时 latency  错误 error\n"
                     "  2026-11-29 06:20:01     -          3 ms  connection refused\n"
                     "  2026-11-29 06:25:00   503       1204 ms  HTTP 503\n"
                     "\n"
                     "内容 body:\n"
                     "  {\n"
                     "    \"type\": \"request.completed\",\n"
                     "    \"data\": {\n"
                     "      \"ticket\": 42,\n"
                     "      \"note\": \"疏通完毕\"\n"
                     "    }\n"
                     "  }\n"
                     "\n"
                     "重新发送 / send it again: bianmin deliveries replay 12\n");
    free(out);

    /* Pending, never tried, a body that is not JSON: shown as text; no replay hint. */
    out = ct_format_with(cli_format_delivery,
                      "{\"id\": 5, \"type\": \"request.received\", \"state\": \"pending\","
                      " \"attempts\": 0, \"next_at\": \"2026-11-29T06:20:00.000Z\","
                      " \"ticket\": 7, \"endpoint\": 1, \"endpoint_name\": \"office\","
                      " \"body\": \"not json\\n\\u001b[2J\", \"attempt_log\": []}");
    assert_non_null(strstr(out, "[pending 待发送]\n"));
    assert_non_null(strstr(out, "  接收 endpoint:    1 office\n"));
    assert_non_null(strstr(out, "  下次 next:        2026-11-29 06:20\n"));
    assert_non_null(strstr(out, "尝试记录 attempt log:\n  （暂无 none yet）\n"));
    assert_non_null(strstr(out, "内容 body:\n  not json  [2J\n"));
    assert_null(strstr(out, "replay"));
    assert_null(strchr(out, '\x1b'));
    free(out);
}

static void test_replayed_text(void **state)
{
    (void)state;
    char *out = ct_format_with(cli_format_replayed, "{\"replayed\": 3}");
    ct_expect_text(out, "3 deliveries due again 已重新排队发送\n");
    free(out);
    out = ct_format_with(cli_format_replayed, "{\"replayed\": 1}");
    ct_expect_text(out, "1 delivery due again 已重新排队发送\n");
    free(out);
    out = ct_format_with(cli_format_replayed, "{\"replayed\": 0}");
    ct_expect_text(out, "0 deliveries due again 已重新排队发送\n");
    free(out);
}

static const char *endpoints_sample =
    "{\"endpoints\": ["
    " {\"id\": 1, \"kind\": \"subscription\", \"name\": \"自来水公司\", \"url\": "
    "\"https://water.example/hook\", \"enabled\": true, \"events\": \"request.escalated\","
    " \"department\": \"water_company\", \"rotation_until\": null, \"pending\": 1, \"dead\": 0,"
    " \"delivered\": 12},"
    " {\"id\": 3, \"kind\": \"callback\", \"name\": null, \"url\": \"http://127.0.0.1:9/x\","
    " \"enabled\": false, \"events\": null, \"department\": null,"
    " \"rotation_until\": \"2026-11-30T06:20:00.000Z\", \"pending\": 4, \"dead\": 2,"
    " \"delivered\": 0}]}";

static void test_endpoints_table(void **state)
{
    (void)state;
    ct_set_tz("UTC");
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    char *out = ct_format_with(cli_format_endpoints, endpoints_sample);
    ct_expect_text(out,
                "编号 id  类型 kind          名称 name   地址 url                    "
                "状态 enabled   待发 pending  失败 dead  已送达 delivered  旧密钥签至 rotation until\n"
                "      1  subscription 订阅  自来水公司  https://water.example/hook  "
                "启用 enabled              1          0                12\n"
                "      3  callback 回调      -           http://127.0.0.1:9/x        "
                "停用 disabled             4          2                 0  2026-11-30 06:20\n"
                "2 个接收地址 endpoints，1 个已停用 disabled\n"
                "停用的接收端的通知保持待发送 / a disabled endpoint's notices wait as pending: "
                "bianmin endpoints enable ID\n"
                "2 dead 投递失败 at 1 endpoint: bianmin deliveries --state dead [--endpoint ID]\n");
    free(out);
    out = ct_format_with(cli_format_endpoints, "{\"endpoints\": []}");
    assert_non_null(strstr(out, "no endpoints yet"));
    free(out);
}

static void test_endpoint_action_text(void **state)
{
    (void)state;
    ct_set_tz("UTC");
    char *out = ct_format_with(cli_format_endpoint_action,
                            "{\"id\": 3, \"action\": \"rotate\", \"secret\": \"" SECRET "\","
                            " \"old_secret_until\": \"2026-11-30T06:20:00.000Z\"}");
    ct_expect_text(out, "endpoint 3: new signing secret 新密钥\n"
                     "  " SECRET "\n"
                     "the old secret is still signed with until 2026-11-30 06:20 "
                     "(旧密钥签名保留至此时间)\n"
                     "Give the new secret to the receiver (请把新密钥交给接收方) before then:\n"
                     "until that time every notice carries both signatures, afterwards only "
                     "the new.\n");
    free(out);
    out = ct_format_with(cli_format_endpoint_action, "{\"id\": 3, \"action\": \"disable\"}");
    ct_expect_text(out, "endpoint 3: disabled 已停用\n"
                     "its notices wait as pending until: bianmin endpoints enable 3\n");
    free(out);
    out = ct_format_with(cli_format_endpoint_action, "{\"id\": 3, \"action\": \"enable\"}");
    ct_expect_text(out, "endpoint 3: enabled 已启用 (what waited is sent now)\n");
    free(out);
}

/* ---- against a fake broker ----------------------------------------------- */

#define FAKE_MAX_CALLS 8

typedef struct {
    ct_fake_t fb;
    int calls;
    char cmds[FAKE_MAX_CALLS][BM_MAX_CMD + 1];
    char *bodies[FAKE_MAX_CALLS]; /* compact JSON of what came */
} fake_t;

static void fake_answer(void *user, void *sock, const bm_envelope_t *env, const bm_msg_t *msg)
{
    fake_t *f = user;
    int call = f->calls++;
    if (call < FAKE_MAX_CALLS) {
        bm_strlcpy(f->cmds[call], msg->cmd, sizeof f->cmds[call]);
        f->bodies[call] = cJSON_PrintUnformatted(msg->body);
    }
    cJSON *reply = NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg->body, "id");
    if (strcmp(msg->cmd, BM_CMD_REPLAY) == 0 &&
        cJSON_GetObjectItemCaseSensitive(msg->body, "dead_since")) {
        reply = cJSON_CreateObject();
        cJSON_AddNumberToObject(reply, "replayed", 3);
    } else if (strcmp(msg->cmd, BM_CMD_ENDPOINT) == 0 && cJSON_IsNumber(id) &&
               id->valuedouble == 3) {
        const cJSON *secret = cJSON_GetObjectItemCaseSensitive(msg->body, "secret");
        reply = cJSON_CreateObject();
        cJSON_AddNumberToObject(reply, "id", 3);
        cJSON_AddStringToObject(reply, "action", "rotate");
        cJSON_AddStringToObject(reply, "secret",
                                cJSON_IsString(secret) ? secret->valuestring
                                                       : "whsec_generatedgeneratedgeneratedgene");
        cJSON_AddStringToObject(reply, "old_secret_until", "2026-11-30T06:20:00.000Z");
    }
    if (reply) {
        assert_int_equal(bm_send(sock, env, BM_REPLY_OK, msg->cid, msg->cid_len, reply), 0);
        cJSON_Delete(reply);
        return;
    }
    bm_error_t err = {0};
    bm_error_set(&err, BM_ERR_NOT_FOUND, "id", "no endpoint with that id");
    assert_int_equal(bm_send_error(sock, env, msg->cid, msg->cid_len, &err), 0);
}

static void fake_start(fake_t *f)
{
    memset(f, 0, sizeof *f);
    ct_fake_start(&f->fb, "cliops", fake_answer, f);
}

static void fake_stop(fake_t *f)
{
    ct_fake_stop(&f->fb);
}

/* Frees what the fake recorded (after the test has looked at it). */
static void fake_free(fake_t *f)
{
    for (int i = 0; i < FAKE_MAX_CALLS; i++) {
        cJSON_free(f->bodies[i]);
        f->bodies[i] = NULL;
    }
}

/* Runs a subcommand with stdout going to a file; returns its exit code and
 * what it printed in *out (caller frees). */
static int run_captured(fake_t *f, bool json, int (*run)(cli_ctx_t *, int, char **), int argc,
                        char **argv, char **out)
{
    char path[400];
    snprintf(path, sizeof path, "%s/out.txt", f->fb.dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    cli_ctx_t ctx = {.endpoint = f->fb.endpoint, .timeout_ms = 5000, .json = json};
    int rc = run(&ctx, argc, argv);
    bm_rpc_destroy(&ctx.rpc);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);

    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char *text = calloc(1, 8192);
    assert_non_null(text);
    size_t n = fread(text, 1, 8191, in);
    text[n] = '\0';
    fclose(in);
    *out = text;
    return rc;
}

static void test_fake_replay_dead_since(void **state)
{
    (void)state;
    ct_set_tz("CST-8");
    fake_t f;
    fake_start(&f);
    char *out = NULL;
    char *a[] = {"deliveries", "replay", "--dead-since", "2026-11-28"};
    int rc = run_captured(&f, false, cli_deliveries_run, ARGC(a), a, &out);
    assert_int_equal(rc, CLI_EXIT_OK);
    ct_expect_text(out, "3 deliveries due again 已重新排队发送\n");
    free(out);
    /* --json: the broker's reply as it came, one line. */
    rc = run_captured(&f, true, cli_deliveries_run, ARGC(a), a, &out);
    assert_int_equal(rc, CLI_EXIT_OK);
    ct_expect_text(out, "{\"replayed\":3}\n");
    free(out);
    /* A usage error sends nothing. */
    char *bad[] = {"deliveries", "replay", "--dead-since", "last week"};
    rc = run_captured(&f, false, cli_deliveries_run, ARGC(bad), bad, &out);
    assert_int_equal(rc, CLI_EXIT_USAGE);
    assert_string_equal(out, "");
    free(out);
    fake_stop(&f);
    assert_int_equal(f.calls, 2);
    assert_string_equal(f.cmds[0], "replay");
    /* Local midnight of 2026-11-28 in China, sent in UTC. */
    assert_string_equal(f.bodies[0], "{\"dead_since\":\"2026-11-27T16:00:00.000Z\"}");
    assert_string_equal(f.bodies[1], f.bodies[0]);
    fake_free(&f);
    ct_set_tz("UTC");
}

static void test_fake_endpoint_rotate(void **state)
{
    (void)state;
    ct_set_tz("UTC");
    fake_t f;
    fake_start(&f);
    char *out = NULL;
    char *a[] = {"endpoints", "rotate", "3"};
    int rc = run_captured(&f, false, cli_endpoints_run, ARGC(a), a, &out);
    assert_int_equal(rc, CLI_EXIT_OK);
    assert_non_null(strstr(out, "endpoint 3: new signing secret 新密钥\n"
                                "  whsec_generatedgeneratedgeneratedgene\n"
                                "the old secret is still signed with until 2026-11-30 06:20"));
    assert_non_null(strstr(out, "Give the new secret to the receiver"));
    free(out);
    char *b[] = {"endpoints", "rotate", "3", "--secret", SECRET};
    rc = run_captured(&f, true, cli_endpoints_run, ARGC(b), b, &out);
    assert_int_equal(rc, CLI_EXIT_OK);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "secret")->valuestring, SECRET);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "old_secret_until")->valuestring,
                        "2026-11-30T06:20:00.000Z");
    cJSON_Delete(j);
    free(out);
    /* The broker refuses: exit 2, and with --json the error as one line on stdout. */
    char *c[] = {"endpoints", "rotate", "99"};
    rc = run_captured(&f, true, cli_endpoints_run, ARGC(c), c, &out);
    assert_int_equal(rc, CLI_EXIT_REFUSED);
    assert_non_null(strstr(out, "\"code\":\"not_found\""));
    free(out);
    fake_stop(&f);
    assert_int_equal(f.calls, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(f.cmds[i], "endpoint");
    assert_string_equal(f.bodies[0], "{\"id\":3,\"action\":\"rotate\"}");
    assert_string_equal(f.bodies[1], "{\"id\":3,\"action\":\"rotate\",\"secret\":\"" SECRET "\"}");
    assert_string_equal(f.bodies[2], "{\"id\":99,\"action\":\"rotate\"}");
    fake_free(&f);
}

static void test_unreachable(void **state)
{
    (void)state;
    /* Nobody listens: exit 3 after the timeout, the failure said on stderr. */
    char dir[256], ep[300], errpath[300];
    ct_temp_dir(dir, sizeof dir, "cliops");
    snprintf(ep, sizeof ep, "ipc://%s/nobody.sock", dir);
    snprintf(errpath, sizeof errpath, "%s/err.txt", dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    char *a[] = {"rate", "42", "5", "--channel", "forum"};
    cli_ctx_t ctx = {.endpoint = ep, .timeout_ms = 200};
    int rc = cli_rate_run(&ctx, ARGC(a), a);
    bm_rpc_destroy(&ctx.rpc);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(rc, CLI_EXIT_UNREACHABLE);
    char text[512] = "";
    FILE *in = fopen(errpath, "r");
    assert_non_null(in);
    size_t n = fread(text, 1, sizeof text - 1, in);
    text[n] = '\0';
    fclose(in);
    assert_non_null(strstr(text, "error (timeout"));
    unlink(errpath);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_parse),
        cmocka_unit_test(test_deliveries_parse),
        cmocka_unit_test(test_deliveries_parse_errors),
        cmocka_unit_test(test_endpoints_parse),
        cmocka_unit_test(test_deliveries_table),
        cmocka_unit_test(test_delivery_show),
        cmocka_unit_test(test_replayed_text),
        cmocka_unit_test(test_endpoints_table),
        cmocka_unit_test(test_endpoint_action_text),
        cmocka_unit_test(test_fake_replay_dead_since),
        cmocka_unit_test(test_fake_endpoint_rotate),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
