/* test_worker_parse.c - bianmin-worker's flags and the commands it reads,
 * typed by a person or as JSON lines. */
#include "command.h"
#include "options.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#define ARGV(...) ((char *[]){"bianmin-worker", __VA_ARGS__})
#define ARGC(...) ((int)(sizeof((char *[]){"bianmin-worker", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(o, err, ...) \
    wk_options_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o), (err), sizeof(err))

static void test_options_full(void **state)
{
    (void)state;
    wk_options_t o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "--id", "v01", "--name", "袁建成", "--skills",
                           "pipe, repair,pipe", "--max-jobs", "3", "--broker=tcp://10.0.0.1:1",
                           "--json", "--log-level", "debug"),
                     WK_ARGS_OK);
    assert_string_equal(o.id, "v01");
    assert_string_equal(o.name, "袁建成");
    assert_int_equal(o.skill_count, 2); /* trimmed, duplicate dropped */
    assert_string_equal(o.skills[0], "pipe");
    assert_string_equal(o.skills[1], "repair");
    assert_int_equal(o.max_jobs, 3);
    assert_string_equal(o.broker, "tcp://10.0.0.1:1");
    assert_true(o.json);
    assert_int_equal(o.log_level, BM_LOG_DEBUG);
}

static void test_options_defaults(void **state)
{
    (void)state;
    wk_options_t o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "--id=a.b-c_9", "--name=x", "--skills=lock"), WK_ARGS_OK);
    assert_int_equal(o.max_jobs, 1);
    assert_string_equal(o.broker, "tcp://127.0.0.1:5571");
    assert_false(o.json);
    assert_int_equal(o.log_level, BM_LOG_WARN);
    assert_int_equal(o.initial_heartbeat_ms, WK_DEFAULT_HEARTBEAT_MS);
    assert_int_equal(PARSE(&o, err, "--help"), WK_ARGS_HELP);
    assert_int_equal(PARSE(&o, err, "--id", "v1", "-h"), WK_ARGS_HELP);
}

static void expect_error(wk_args_t r, const char *err, const char *fragment)
{
    assert_int_equal(r, WK_ARGS_ERROR);
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" does not mention \"%s\"", err, fragment);
}

static void test_options_errors(void **state)
{
    (void)state;
    wk_options_t o;
    char err[256];
    char long_id[80], long_name[120];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    memset(long_name, 'n', 101);
    long_name[101] = '\0';
    char bad_utf8[] = {'n', (char)0xc3, (char)0x28, 0};

    expect_error(PARSE(&o, err, "--name", "x", "--skills", "pipe"), err, "--id is required");
    expect_error(PARSE(&o, err, "--id", "v1", "--skills", "pipe"), err, "--name is required");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x"), err, "--skills is required");
    expect_error(PARSE(&o, err, "--id", "v 1", "--name", "x", "--skills", "pipe"), err, "--id");
    expect_error(PARSE(&o, err, "--id", "", "--name", "x", "--skills", "pipe"), err, "--id");
    expect_error(PARSE(&o, err, "--id", long_id, "--name", "x", "--skills", "pipe"), err, "--id");
    expect_error(PARSE(&o, err, "--id", "袁", "--name", "x", "--skills", "pipe"), err, "--id");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "  ", "--skills", "pipe"), err,
                 "must not be empty");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", long_name, "--skills", "pipe"), err,
                 "limit is 100");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", bad_utf8, "--skills", "pipe"), err,
                 "UTF-8");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", ""), err, "empty item");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe,"), err,
                 "empty item");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pi pe"), err,
                 "not a category");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "--max-jobs",
                       "0"), err, "--max-jobs");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "--max-jobs",
                       "21"), err, "--max-jobs");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "--max-jobs",
                       "2x"), err, "--max-jobs");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "--log-level",
                       "loud"), err, "--log-level");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "--verbose"),
                 err, "unknown option");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "extra"), err,
                 "unexpected argument");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills"), err, "needs a value");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "--json=1"),
                 err, "no value");
}

static void test_text_commands(void **state)
{
    (void)state;
    wk_cmd_t c;
    bm_error_t err = {0};
    assert_int_equal(wk_cmd_parse_text("claim 42", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "claim");
    assert_string_equal(c.spec->wire, "claim");
    assert_int_equal(c.ticket, 42);

    assert_int_equal(wk_cmd_parse_text("  c   #7 \r", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "claim");
    assert_int_equal(c.ticket, 7);

    assert_int_equal(wk_cmd_parse_text("接单 8", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "claim");
    assert_int_equal(c.ticket, 8);

    assert_int_equal(wk_cmd_parse_text("CLAIM 9", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "claim");

    assert_int_equal(wk_cmd_parse_text("done 42 疏通完毕，已试水  ", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "done");
    assert_int_equal(c.ticket, 42);
    assert_true(c.has_note);
    assert_string_equal(c.note, "疏通完毕，已试水");

    assert_int_equal(wk_cmd_parse_text("done 42", &c, &err), WK_PARSE_OK);
    assert_false(c.has_note);
    assert_string_equal(c.note, "");

    assert_int_equal(wk_cmd_parse_text("jobs", &c, &err), WK_PARSE_OK);
    assert_int_equal(c.spec->local, WK_LOCAL_JOBS);
    assert_null(c.spec->wire);
    assert_int_equal(wk_cmd_parse_text("offers", &c, &err), WK_PARSE_OK);
    assert_int_equal(c.spec->local, WK_LOCAL_OFFERS);
    assert_int_equal(wk_cmd_parse_text("?", &c, &err), WK_PARSE_OK);
    assert_int_equal(c.spec->local, WK_LOCAL_HELP);
    assert_int_equal(wk_cmd_parse_text("q", &c, &err), WK_PARSE_OK);
    assert_int_equal(c.spec->local, WK_LOCAL_QUIT);

    assert_int_equal(wk_cmd_parse_text("", &c, &err), WK_PARSE_EMPTY);
    assert_int_equal(wk_cmd_parse_text("   \t ", &c, &err), WK_PARSE_EMPTY);
}

static void expect_text_error(const char *line, const char *fragment)
{
    wk_cmd_t c;
    bm_error_t err = {0};
    assert_int_equal(wk_cmd_parse_text(line, &c, &err), WK_PARSE_ERROR);
    assert_string_equal(err.code, WK_ERR_BAD_INPUT);
    if (!strstr(err.message, fragment))
        fail_msg("\"%s\": message \"%s\" does not mention \"%s\"", line, err.message, fragment);
}

static void test_text_errors(void **state)
{
    (void)state;
    expect_text_error("grab 42", "unknown command \"grab\"");
    expect_text_error("claim", "which job");
    expect_text_error("claim abc", "\"abc\" is not a job number");
    expect_text_error("claim 0", "\"0\" is not a job number");
    expect_text_error("claim -3", "is not a job number");
    expect_text_error("claim #", "is not a job number");
    expect_text_error("claim 99999999999999999999999", "is not a job number");
    expect_text_error("claim 42 43", "only the job number");
    expect_text_error("jobs now", "takes nothing");
    expect_text_error("done", "which job");
    char bad[] = {'d', 'o', 'n', 'e', ' ', '4', ' ', (char)0xff, 0};
    expect_text_error(bad, "UTF-8");
}

static void test_text_long_note(void **state)
{
    (void)state;
    static char line[BM_MAX_NOTE + 32];
    wk_cmd_t c;
    bm_error_t err = {0};
    memcpy(line, "done 5 ", 7);
    memset(line + 7, 'x', BM_MAX_NOTE);
    line[7 + BM_MAX_NOTE] = '\0';
    assert_int_equal(wk_cmd_parse_text(line, &c, &err), WK_PARSE_OK);
    assert_int_equal(strlen(c.note), BM_MAX_NOTE);
    line[7 + BM_MAX_NOTE] = 'x';
    line[8 + BM_MAX_NOTE] = '\0';
    assert_int_equal(wk_cmd_parse_text(line, &c, &err), WK_PARSE_ERROR);
    assert_string_equal(err.field, "note");
}

static wk_parse_t pj(const char *line, wk_cmd_t *c, bm_error_t *err)
{
    return wk_cmd_parse_json(line, strlen(line), c, err);
}

static void test_json_commands(void **state)
{
    (void)state;
    wk_cmd_t c;
    bm_error_t err = {0};
    assert_int_equal(pj("{\"cmd\":\"claim\",\"ticket\":42}", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "claim");
    assert_int_equal(c.ticket, 42);
    assert_false(c.has_bridge_id);

    assert_int_equal(pj(" {\"cmd\":\"done\",\"ticket\":42,\"note\":\"疏通完毕\",\"id\":\"wx-9\"} \r",
                        &c, &err),
                     WK_PARSE_OK);
    assert_string_equal(c.spec->name, "done");
    assert_string_equal(c.note, "疏通完毕");
    assert_true(c.has_note);
    assert_true(c.has_bridge_id);
    assert_string_equal(c.bridge_id, "wx-9");

    assert_int_equal(pj("{\"cmd\":\"done\",\"ticket\":1,\"note\":\"  \"}", &c, &err),
                     WK_PARSE_OK);
    assert_false(c.has_note);

    assert_int_equal(pj("{\"cmd\":\"jobs\",\"future_field\":[1,2]}", &c, &err), WK_PARSE_OK);
    assert_int_equal(c.spec->local, WK_LOCAL_JOBS);
    assert_int_equal(pj("{\"cmd\":\"quit\"}", &c, &err), WK_PARSE_OK);
    assert_int_equal(c.spec->local, WK_LOCAL_QUIT);
    assert_int_equal(pj("   ", &c, &err), WK_PARSE_EMPTY);
}

static void expect_json_error(const char *line, const char *fragment, const char *id)
{
    wk_cmd_t c;
    bm_error_t err = {0};
    assert_int_equal(wk_cmd_parse_json(line, strlen(line), &c, &err), WK_PARSE_ERROR);
    assert_string_equal(err.code, WK_ERR_BAD_INPUT);
    if (!strstr(err.message, fragment))
        fail_msg("%s: message \"%s\" does not mention \"%s\"", line, err.message, fragment);
    if (id) {
        assert_true(c.has_bridge_id);
        assert_string_equal(c.bridge_id, id);
    }
}

static void test_json_errors(void **state)
{
    (void)state;
    expect_json_error("claim 42", "one JSON object", NULL);
    expect_json_error("[1]", "one JSON object", NULL);
    expect_json_error("{\"cmd\":\"claim\",\"ticket\":42} x", "trailing", NULL);
    expect_json_error("{\"ticket\":42}", "\"cmd\" is required", NULL);
    expect_json_error("{\"cmd\":7}", "\"cmd\" must be a string", NULL);
    expect_json_error("{\"cmd\":\"c\",\"ticket\":42}", "unknown command \"c\"", NULL);
    expect_json_error("{\"cmd\":\"claim\",\"id\":\"r1\"}", "\"ticket\" is required", "r1");
    expect_json_error("{\"cmd\":\"claim\",\"ticket\":\"42\"}", "\"ticket\" must be an integer",
                      NULL);
    expect_json_error("{\"cmd\":\"claim\",\"ticket\":4.5}", "must be an integer", NULL);
    expect_json_error("{\"cmd\":\"claim\",\"ticket\":0}", "must be an integer", NULL);
    expect_json_error("{\"cmd\":\"done\",\"ticket\":3,\"note\":5}", "\"note\" must be a string",
                      NULL);
    expect_json_error("{\"cmd\":\"jobs\",\"id\":5}", "\"id\" must be a string", NULL);
    char bad[] = "{\"cmd\":\"jobs\",\"id\":\"\xff\"}";
    expect_json_error(bad, "UTF-8", NULL);
}

static void test_table(void **state)
{
    (void)state;
    /* Every entry is complete, names and aliases are unique. */
    for (const wk_cmd_spec_t *s = wk_commands; s->name; s++) {
        assert_non_null(s->usage);
        assert_non_null(s->help);
        assert_non_null(s->event);
        assert_true((s->wire != NULL) != (s->local != WK_LOCAL_NONE));
        assert_ptr_equal(wk_cmd_find(s->name, false), s);
        for (size_t i = 0; i < 3 && s->aliases[i]; i++)
            assert_ptr_equal(wk_cmd_find(s->aliases[i], true), s);
    }
    assert_null(wk_cmd_find("c", false));
    assert_null(wk_cmd_find("nope", true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_full),  cmocka_unit_test(test_options_defaults),
        cmocka_unit_test(test_options_errors), cmocka_unit_test(test_text_commands),
        cmocka_unit_test(test_text_errors),   cmocka_unit_test(test_text_long_note),
        cmocka_unit_test(test_json_commands), cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
