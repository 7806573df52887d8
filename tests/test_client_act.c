/* test_client_act.c - `bianmin cancel | reopen | escalate | resolve`: the
 * command line becomes the right command and request body, and what is
 * missing is named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli.h"
#include "clitest.h"

#include <stdlib.h>
#include <string.h>

static void test_cancel(void **state)
{
    (void)state;
    const char *cmd = NULL;
    char *a[] = {"cancel", "42", "--channel", "building_leader", "--reason", "住户已自行修好"};
    char *body = ct_parse_ok(cli_act_parse, ARGC(a), a, &cmd);
    assert_string_equal(cmd, "cancel");
    assert_string_equal(body,
                        "{\"ticket\":42,\"channel\":\"building_leader\",\"reason\":\"住户已自行修好\"}");
    cJSON_free(body);

    /* The reason is optional; flags may come before the ticket, "=" works, "#42" too. */
    char *b[] = {"cancel", "--channel=forum", "#7"};
    body = ct_parse_ok(cli_act_parse, ARGC(b), b, &cmd);
    assert_string_equal(body, "{\"ticket\":7,\"channel\":\"forum\"}");
    cJSON_free(body);

    char *c[] = {"cancel", "42"};
    ct_parse_fails(cli_act_parse, ARGC(c), c, "missing --channel");
    char *d[] = {"cancel", "42", "--channel", "  "};
    ct_parse_fails(cli_act_parse, ARGC(d), d, "missing --channel");
}

static void test_reopen(void **state)
{
    (void)state;
    const char *cmd = NULL;
    char *a[] = {"reopen", "42", "--channel", "office", "--reason", "还是漏水，\"厨房\"水管"};
    char *body = ct_parse_ok(cli_act_parse, ARGC(a), a, &cmd);
    assert_string_equal(cmd, "reopen");
    assert_string_equal(body,
                        "{\"ticket\":42,\"channel\":\"office\",\"reason\":\"还是漏水，\\\"厨房\\\"水管\"}");
    cJSON_free(body);

    char *b[] = {"reopen", "42", "--channel", "office"};
    ct_parse_fails(cli_act_parse, ARGC(b), b, "missing --reason");
    char *c[] = {"reopen", "42"};
    ct_parse_fails(cli_act_parse, ARGC(c), c, "missing --channel, --reason");
    char *d[] = {"reopen", "42", "--channel", "office", "--answer", "x"};
    ct_parse_fails(cli_act_parse, ARGC(d), d, "unknown option --answer");
}

static void test_escalate(void **state)
{
    (void)state;
    const char *cmd = NULL;
    /* The channel defaults to office. */
    char *a[] = {"escalate", "42", "--department", "water_company", "--reason", "小区主管道破裂"};
    char *body = ct_parse_ok(cli_act_parse, ARGC(a), a, &cmd);
    assert_string_equal(cmd, "escalate");
    assert_string_equal(body, "{\"ticket\":42,\"channel\":\"office\",\"department\":"
                              "\"water_company\",\"reason\":\"小区主管道破裂\"}");
    cJSON_free(body);

    /* The department's Chinese name is its id; an unknown one goes to the
     * broker, which refuses it with did you mean (tests/test_lifecycle.c). */
    char *zh[] = {"escalate", "42", "--department", "自来水公司", "--reason", "r"};
    body = ct_parse_ok(cli_act_parse, ARGC(zh), zh, &cmd);
    assert_non_null(strstr(body, "\"department\":\"water_company\""));
    cJSON_free(body);

    /* Another channel is sent as given: the broker answers forbidden. */
    char *b[] = {"escalate", "42", "--department", "d", "--reason", "r", "--channel", "forum"};
    body = ct_parse_ok(cli_act_parse, ARGC(b), b, &cmd);
    assert_non_null(strstr(body, "\"channel\":\"forum\""));
    cJSON_free(body);

    char *c[] = {"escalate", "42"};
    ct_parse_fails(cli_act_parse, ARGC(c), c, "missing --department, --reason");
    char *d[] = {"escalate", "42", "--reason", "r"};
    ct_parse_fails(cli_act_parse, ARGC(d), d, "missing --department");
    char *e[] = {"escalate", "42", "--department"};
    ct_parse_fails(cli_act_parse, ARGC(e), e, "--department needs a value");
}

static void test_resolve(void **state)
{
    (void)state;
    const char *cmd = NULL;
    char *a[] = {"resolve", "42", "--answer", "自来水公司已于周三更换主管道"};
    char *body = ct_parse_ok(cli_act_parse, ARGC(a), a, &cmd);
    assert_string_equal(cmd, "resolve");
    assert_string_equal(body, "{\"ticket\":42,\"channel\":\"office\",\"answer\":"
                              "\"自来水公司已于周三更换主管道\"}");
    cJSON_free(body);

    char *b[] = {"resolve", "42"};
    ct_parse_fails(cli_act_parse, ARGC(b), b, "missing --answer");
    char *c[] = {"resolve", "42", "--reason", "x"};
    ct_parse_fails(cli_act_parse, ARGC(c), c, "unknown option --reason");
    char *d[] = {"resolve", "42", "--department", "x", "--answer", "y"};
    /* --department is escalate's flag only */
    ct_parse_fails(cli_act_parse, ARGC(d), d, "unknown option --department");
}

static void test_usage_errors(void **state)
{
    (void)state;
    char *a[] = {"cancel", "--channel", "forum"};
    ct_parse_fails(cli_act_parse, ARGC(a), a, "which ticket?");
    char *b[] = {"cancel", "abc", "--channel", "forum"};
    ct_parse_fails(cli_act_parse, ARGC(b), b, "\"abc\" is not a ticket number");
    char *c[] = {"cancel", "0", "--channel", "forum"};
    ct_parse_fails(cli_act_parse, ARGC(c), c, "not a ticket number");
    char *d[] = {"cancel", "42", "43", "--channel", "forum"};
    ct_parse_fails(cli_act_parse, ARGC(d), d, "unexpected argument \"43\"");
    char *e[] = {"cancel", "42", "--channel", "forum", "--channel", "office"};
    ct_parse_fails(cli_act_parse, ARGC(e), e, "--channel given twice");
    char *f[] = {"cancel", "42", "--channel", "forum", "--reason", "bad \xff text"};
    ct_parse_fails(cli_act_parse, ARGC(f), f, "--reason is not valid UTF-8");
    char *g[] = {"cancel", "42", "--channel", "forum", "--reason"};
    ct_parse_fails(cli_act_parse, ARGC(g), g, "--reason needs a value");
    char *h[] = {"frobnicate", "42"};
    ct_parse_fails(cli_act_parse, ARGC(h), h, "unknown command");

    /* --help wins over anything missing. */
    cli_act_args_t args;
    char err[128];
    char *i[] = {"resolve", "--help"};
    assert_int_equal(cli_act_parse(ARGC(i), i, &args, err, sizeof err), 0);
    assert_true(args.help);
    assert_null(args.body);
}

static void test_help_texts(void **state)
{
    (void)state;
    const char *names[] = {"cancel", "reopen", "escalate", "resolve", "list", "volunteers", "show"};
    const char *want[] = {"--reason", "--reason TEXT", "--department NAME", "--answer TEXT",
                          "YYYY-MM-DD", "在线", "show TICKET"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const cli_command_t *c = cli_command_find(names[k]);
        assert_non_null(c);
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        c->help(f);
        fclose(f);
        if (!strstr(out, want[k]))
            fail_msg("%s --help lacks \"%s\"", names[k], want[k]);
        free(out);
    }
    /* show is status under another name. */
    assert_ptr_equal(cli_command_find("show")->run, cli_command_find("status")->run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel),   cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_escalate), cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_usage_errors), cmocka_unit_test(test_help_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
