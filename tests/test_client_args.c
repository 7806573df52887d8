/* test_client_args.c - `bianmin submit` flags into a submit body, the ticket
 * argument, and option matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *field(const cJSON *body, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_submit_full(void **state)
{
    char *argv[] = {"submit", "--channel", "building_leader", "--category", "pipe",
                    "--building", "市政小区 3栋", "--unit=2-301", "--contact",
                    "罗女士 13800000000", "--text", "厨房下水道堵了", "--callback",
                    "http://127.0.0.1:8080/hook", "--ref", "forum-88213"};
    cli_submit_args_t a;
    char err[256] = "";
    assert_int_equal(cli_submit_parse(ARGC(argv), argv, &a, err, sizeof err), 0);
    assert_false(a.from_stdin);
    assert_false(a.help);
    assert_int_equal(cJSON_GetArraySize(a.body), 8);
    assert_string_equal(field(a.body, "channel"), "building_leader");
    assert_string_equal(field(a.body, "category"), "pipe");
    assert_string_equal(field(a.body, "building"), "市政小区 3栋");
    assert_string_equal(field(a.body, "unit"), "2-301");
    assert_string_equal(field(a.body, "contact"), "罗女士 13800000000");
    assert_string_equal(field(a.body, "text"), "厨房下水道堵了");
    assert_string_equal(field(a.body, "callback"), "http://127.0.0.1:8080/hook");
    assert_string_equal(field(a.body, "ref"), "forum-88213");
    /* The wire text keeps the Chinese as UTF-8, not \u escapes. */
    char *wire = cJSON_PrintUnformatted(a.body);
    assert_non_null(strstr(wire, "\"building\":\"市政小区 3栋\""));
    cJSON_free(wire);
    cJSON_Delete(a.body);
}

static void test_submit_optional_absent(void **state)
{
    char *argv[] = {"submit", "--channel", "forum", "--category", "leak", "--building", "5栋",
                    "--contact", "王 139", "--text", "楼上漏水"};
    cli_submit_args_t a;
    char err[256] = "";
    assert_int_equal(cli_submit_parse(ARGC(argv), argv, &a, err, sizeof err), 0);
    assert_int_equal(cJSON_GetArraySize(a.body), 5);
    assert_null(cJSON_GetObjectItemCaseSensitive(a.body, "unit"));
    assert_null(cJSON_GetObjectItemCaseSensitive(a.body, "ref"));
    cJSON_Delete(a.body);
}

static void test_submit_missing(void **state)
{
    char *argv[] = {"submit", "--channel", "forum", "--building", "3栋", "--text", "   "};
    cli_submit_args_t a;
    char err[256] = "";
    assert_int_equal(cli_submit_parse(ARGC(argv), argv, &a, err, sizeof err), -1);
    /* Every missing flag is named at once; a blank value counts as missing. */
    assert_string_equal(err, "缺少 / missing --category, --contact, --text");
    assert_null(a.body);
}

static void test_submit_usage_errors(void **state)
{
    cli_submit_args_t a;
    char err[256];
    char *twice[] = {"submit", "--text", "a", "--text", "b"};
    assert_int_equal(cli_submit_parse(ARGC(twice), twice, &a, err, sizeof err), -1);
    assert_string_equal(err, "--text 重复给出 / --text given twice");

    char *unknown[] = {"submit", "--colour", "red"};
    assert_int_equal(cli_submit_parse(ARGC(unknown), unknown, &a, err, sizeof err), -1);
    assert_string_equal(err, "未知选项 / unknown option --colour");

    char *stray[] = {"submit", "--text", "厨房", "下水道堵了"};
    assert_int_equal(cli_submit_parse(ARGC(stray), stray, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "unexpected argument \"下水道堵了\""));

    char *novalue[] = {"submit", "--channel", "forum", "--building"};
    assert_int_equal(cli_submit_parse(ARGC(novalue), novalue, &a, err, sizeof err), -1);
    assert_string_equal(err, "--building 缺少值 / --building needs a value");

    char gbk[] = {'\xc2', 'x', '\0'}; /* not UTF-8 */
    char *bad[] = {"submit", "--building", gbk};
    assert_int_equal(cli_submit_parse(ARGC(bad), bad, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "--building is not valid UTF-8"));

    char *window[] = {"submit", "--window", "8"};
    assert_int_equal(cli_submit_parse(ARGC(window), window, &a, err, sizeof err), -1);
    assert_string_equal(err, "--window 只用于 --stdin / --window only applies with --stdin");

    char *cat[] = {"submit", "--category", "pipes"};
    assert_int_equal(cli_submit_parse(ARGC(cat), cat, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "--category: 未知类别 \"pipes\" / unknown category \"pipes\""));
    assert_non_null(strstr(err, "did you mean: pipe 管道疏通?"));
    char *chan[] = {"submit", "--channel", "buidling_leader"};
    assert_int_equal(cli_submit_parse(ARGC(chan), chan, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "did you mean: building_leader 楼栋长?"));
    char *label[] = {"submit", "--stdin", "--category", "漏水抢修", "--channel", "小区论坛"};
    assert_int_equal(cli_submit_parse(ARGC(label), label, &a, err, sizeof err), 0);
    assert_string_equal(cli_json_str(a.body, "category"), "leak");
    assert_string_equal(cli_json_str(a.body, "channel"), "forum");
    cJSON_Delete(a.body);

    char *badwin[] = {"submit", "--stdin", "--window", "0"};
    assert_int_equal(cli_submit_parse(ARGC(badwin), badwin, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "--window must be a number from 1 to"));
}

static void test_submit_stdin_defaults(void **state)
{
    char *argv[] = {"submit", "--stdin", "--window=8", "--channel", "forum"};
    cli_submit_args_t a;
    char err[256] = "";
    assert_int_equal(cli_submit_parse(ARGC(argv), argv, &a, err, sizeof err), 0);
    assert_true(a.from_stdin);
    assert_int_equal(a.window, 8);
    /* No required-flag check in batch mode; the flags are defaults. */
    assert_int_equal(cJSON_GetArraySize(a.body), 1);
    assert_string_equal(field(a.body, "channel"), "forum");
    cJSON_Delete(a.body);

    char *plain[] = {"submit", "--stdin"};
    assert_int_equal(cli_submit_parse(ARGC(plain), plain, &a, err, sizeof err), 0);
    assert_int_equal(a.window, CLI_DEFAULT_WINDOW);
    assert_int_equal(cJSON_GetArraySize(a.body), 0);
    cJSON_Delete(a.body);
}

static void test_submit_help(void **state)
{
    char *argv[] = {"submit", "--channel", "forum", "--help"};
    cli_submit_args_t a;
    char err[64];
    assert_int_equal(cli_submit_parse(ARGC(argv), argv, &a, err, sizeof err), 0);
    assert_true(a.help);
    assert_null(a.body);

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    cli_submit_help(f);
    fclose(f);
    const char *want[] = {"building_leader", "council", "forum", "office", "开锁修锁",
                          "管道疏通", "漏水抢修 urgent", "水电维修", "其他"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_non_null(strstr(out, want[i]));
    free(out);
}

static void test_ticket(void **state)
{
    long t = 0;
    assert_int_equal(cli_parse_ticket("42", &t), 0);
    assert_int_equal(t, 42);
    assert_int_equal(cli_parse_ticket("#7", &t), 0);
    assert_int_equal(t, 7);
    assert_int_equal(cli_parse_ticket("9007199254740991", &t), 0);
    const char *bad[] = {"", "0", "-3", "+3", " 3", "3 ", "4x", "abc", "#", "##4",
                         "9007199254740992", "99999999999999999999", "四十二"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = -1;
        assert_int_equal(cli_parse_ticket(bad[i], &t), -1);
        assert_int_equal(t, -1);
    }
    assert_int_equal(cli_parse_ticket(NULL, &t), -1);
}

static void test_opt_value(void **state)
{
    char *argv[] = {"x", "--broker", "tcp://h:1", "--broker=ipc:///a", "--brokerx", "--broker"};
    const char *v = NULL;
    char err[64];
    int i = 1;
    assert_int_equal(cli_opt_value(6, argv, &i, "--broker", &v, err, sizeof err), 1);
    assert_string_equal(v, "tcp://h:1");
    assert_int_equal(i, 2);
    i = 3;
    assert_int_equal(cli_opt_value(6, argv, &i, "--broker", &v, err, sizeof err), 1);
    assert_string_equal(v, "ipc:///a");
    assert_int_equal(i, 3);
    i = 4;
    assert_int_equal(cli_opt_value(6, argv, &i, "--broker", &v, err, sizeof err), 0);
    i = 5;
    assert_int_equal(cli_opt_value(6, argv, &i, "--broker", &v, err, sizeof err), -1);
    assert_string_equal(err, "--broker 缺少值 / --broker needs a value");
}

static void test_command_table(void **state)
{
    assert_non_null(cli_command_find("submit"));
    assert_non_null(cli_command_find("status"));
    assert_null(cli_command_find("sub"));
    for (const cli_command_t *c = cli_commands; c->name; c++) {
        assert_non_null(c->run);
        assert_non_null(c->help);
        assert_non_null(c->summary);
    }
    assert_string_equal(cli_category_label("leak"), "漏水抢修");
    assert_string_equal(cli_status_label("claimed"), "处理中");
    assert_null(cli_category_label("garden"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_full),      cmocka_unit_test(test_submit_optional_absent),
        cmocka_unit_test(test_submit_missing),   cmocka_unit_test(test_submit_usage_errors),
        cmocka_unit_test(test_submit_stdin_defaults), cmocka_unit_test(test_submit_help),
        cmocka_unit_test(test_ticket),           cmocka_unit_test(test_opt_value),
        cmocka_unit_test(test_command_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
