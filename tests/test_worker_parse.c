/* test_worker_parse.c - bianmin-worker's flags and the commands it reads,
 * typed by a person or as JSON lines. */
#include "command.h"
#include "options.h"
#include "photo.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    assert_int_equal(o.remind_before_s, WK_DEFAULT_REMIND_BEFORE_S);
    assert_false(o.verbose);
    assert_int_equal(PARSE(&o, err, "--id=v", "--name=x", "--skills=lock", "--verbose",
                           "--remind-before", "0"), WK_ARGS_OK);
    assert_true(o.verbose);
    assert_int_equal(o.remind_before_s, 0);
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
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe", "--loud"),
                 err, "unknown option");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe",
                       "--remind-before", "-1"), err, "--remind-before");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe",
                       "--remind-before", "86401"), err, "--remind-before");
    expect_error(PARSE(&o, err, "--id", "v1", "--name", "x", "--skills", "pipe",
                       "--verbose=yes"), err, "--verbose");
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
    assert_true(c.has_text);
    assert_string_equal(c.text, "疏通完毕，已试水");

    assert_int_equal(wk_cmd_parse_text("done 42", &c, &err), WK_PARSE_OK);
    assert_false(c.has_text);
    assert_string_equal(c.text, "");

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
    assert_int_equal(strlen(c.text), BM_MAX_NOTE);
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
    assert_string_equal(c.text, "疏通完毕");
    assert_true(c.has_text);
    assert_true(c.has_bridge_id);
    assert_string_equal(c.bridge_id, "wx-9");

    assert_int_equal(pj("{\"cmd\":\"done\",\"ticket\":1,\"note\":\"  \"}", &c, &err),
                     WK_PARSE_OK);
    assert_false(c.has_text);

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

static void test_text_new_commands(void **state)
{
    (void)state;
    wk_cmd_t c;
    bm_error_t err = {0};

    /* progress with a note, and the Chinese alias. */
    assert_int_equal(wk_cmd_parse_text("progress 42 已到现场，需要买配件", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "progress");
    assert_string_equal(c.spec->wire, "progress");
    assert_string_equal(c.text, "已到现场，需要买配件");
    assert_int_equal(c.n_photos, 0);
    assert_int_equal(wk_cmd_parse_text("进展 42", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "progress");
    assert_false(c.has_text);

    /* decline: reason optional. */
    assert_int_equal(wk_cmd_parse_text("decline 43", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->wire, "decline");
    assert_string_equal(c.spec->text_key, "reason");
    assert_false(c.has_text);
    assert_int_equal(wk_cmd_parse_text("不接 #43 不在附近", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "decline");
    assert_int_equal(c.ticket, 43);
    assert_string_equal(c.text, "不在附近");

    /* cantfix and its alias 修不了, with a Chinese reason; @@ writes an @. */
    assert_int_equal(wk_cmd_parse_text("修不了 42 需要更换主管道  @@物业", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "cantfix");
    assert_string_equal(c.spec->wire, "cantfix");
    assert_string_equal(c.text, "需要更换主管道  @物业");
    assert_int_equal(c.n_photos, 0);

    /* escalate: department word, then the reason. */
    assert_int_equal(wk_cmd_parse_text("上报 42 water_company 小区主管道破裂", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.spec->name, "escalate");
    assert_string_equal(c.spec->wire, "escalate");
    assert_string_equal(c.department, "water_company");
    assert_string_equal(c.text, "小区主管道破裂");
    assert_int_equal(wk_cmd_parse_text("escalate 7 自来水公司 主管道 破裂", &c, &err),
                     WK_PARSE_OK);
    assert_string_equal(c.department, "自来水公司");
    assert_string_equal(c.text, "主管道 破裂");
}

static void test_text_photos(void **state)
{
    (void)state;
    wk_cmd_t c;
    bm_error_t err = {0};

    /* @words are photos wherever they are; the note keeps the rest. */
    assert_int_equal(wk_cmd_parse_text("done 42 疏通完毕 @/sdcard/before.jpg @after.jpg", &c, &err),
                     WK_PARSE_OK);
    assert_string_equal(c.text, "疏通完毕");
    assert_int_equal(c.n_photos, 2);
    assert_string_equal(c.photos[0].path, "/sdcard/before.jpg");
    assert_string_equal(c.photos[0].kind, "other");
    assert_string_equal(c.photos[1].path, "after.jpg");

    assert_int_equal(wk_cmd_parse_text("完成 42 @before:/s/a.jpg 疏通完毕 @after:/s/b.png 已试水",
                                       &c, &err),
                     WK_PARSE_OK);
    assert_string_equal(c.text, "疏通完毕 已试水");
    assert_int_equal(c.n_photos, 2);
    assert_string_equal(c.photos[0].path, "/s/a.jpg");
    assert_string_equal(c.photos[0].kind, "before");
    assert_string_equal(c.photos[1].path, "/s/b.png");
    assert_string_equal(c.photos[1].kind, "after");

    /* Chinese kinds, with an ASCII or a full-width colon. */
    assert_int_equal(wk_cmd_parse_text("progress 5 @修前：/s/照片1.jpg @修后:/s/2.jpg", &c, &err),
                     WK_PARSE_OK);
    assert_false(c.has_text);
    assert_string_equal(c.photos[0].kind, "before");
    assert_string_equal(c.photos[0].path, "/s/照片1.jpg");
    assert_string_equal(c.photos[1].kind, "after");

    /* @@ writes a word starting with @ into the note. */
    assert_int_equal(wk_cmd_parse_text("done 42 告诉 @@王师傅 明天来", &c, &err), WK_PARSE_OK);
    assert_string_equal(c.text, "告诉 @王师傅 明天来");
    assert_int_equal(c.n_photos, 0);

    /* Six photos are fine, seven are refused with a clear count. */
    assert_int_equal(wk_cmd_parse_text("done 1 @1.jpg @2.jpg @3.jpg @4.jpg @5.jpg @6.jpg", &c, &err),
                     WK_PARSE_OK);
    assert_int_equal(c.n_photos, 6);
    assert_int_equal(wk_cmd_parse_text("done 1 x @1.jpg @2.jpg @3.jpg @4.jpg @5.jpg @6.jpg @7.jpg",
                                       &c, &err),
                     WK_PARSE_ERROR);
    assert_string_equal(err.code, WK_ERR_BAD_INPUT);
    assert_string_equal(err.field, "photos");
    assert_non_null(strstr(err.message, "7 photos; at most 6"));

    assert_int_equal(wk_cmd_parse_text("done 1 好了 @", &c, &err), WK_PARSE_ERROR);
    assert_non_null(strstr(err.message, "needs a file after the @"));
    assert_int_equal(wk_cmd_parse_text("done 1 @after:", &c, &err), WK_PARSE_ERROR);
    assert_string_equal(err.field, "photos");
}

static void test_text_new_errors(void **state)
{
    (void)state;
    expect_text_error("cantfix 42", "cantfix needs a reason");
    expect_text_error("修不了 42   ", "needs a reason");
    expect_text_error("escalate 42", "which department");
    expect_text_error("escalate 42 water_company", "escalate needs a reason");
    expect_text_error("上报 42 water_company 破裂 @a.jpg", "photos go with progress or done");
    expect_text_error("cantfix 42 @a.jpg", "type @@");
    expect_text_error("progress x", "not a job number");
    expect_text_error("decline", "which job");
    char long_dept[120];
    memcpy(long_dept, "escalate 4 ", 11);
    memset(long_dept + 11, 'd', 70);
    memcpy(long_dept + 81, " reason", 8);
    expect_text_error(long_dept, "the department is 70 bytes");
    /* decline's reason has the broker's reason limit. */
    static char line[BM_MAX_REASON + 32];
    memcpy(line, "decline 5 ", 10);
    memset(line + 10, 'r', BM_MAX_REASON + 1);
    line[11 + BM_MAX_REASON] = '\0';
    expect_text_error(line, "the reason is 1001 bytes");
}

static void test_json_new_commands(void **state)
{
    (void)state;
    wk_cmd_t c;
    bm_error_t err = {0};
    assert_int_equal(pj("{\"cmd\":\"progress\",\"ticket\":42,\"note\":\"已到现场\","
                        "\"photos\":[\"/tmp/a.jpg\",{\"path\":\"/tmp/b.png\",\"kind\":\"before\"},"
                        "{\"path\":\"/tmp/c.webp\"}]}",
                        &c, &err),
                     WK_PARSE_OK);
    assert_string_equal(c.spec->name, "progress");
    assert_string_equal(c.text, "已到现场");
    assert_int_equal(c.n_photos, 3);
    assert_string_equal(c.photos[0].path, "/tmp/a.jpg");
    assert_string_equal(c.photos[0].kind, "other");
    assert_string_equal(c.photos[1].path, "/tmp/b.png");
    assert_string_equal(c.photos[1].kind, "before");
    assert_string_equal(c.photos[2].kind, "other");

    assert_int_equal(pj("{\"cmd\":\"done\",\"ticket\":42,\"photos\":[{\"path\":\"/a.jpg\","
                        "\"kind\":\"after\"}],\"id\":\"p1\"}",
                        &c, &err),
                     WK_PARSE_OK);
    assert_int_equal(c.n_photos, 1);
    assert_string_equal(c.photos[0].kind, "after");
    assert_false(c.has_text);

    assert_int_equal(pj("{\"cmd\":\"decline\",\"ticket\":43,\"reason\":\"不在附近\"}", &c, &err),
                     WK_PARSE_OK);
    assert_string_equal(c.text, "不在附近");
    assert_int_equal(pj("{\"cmd\":\"decline\",\"ticket\":43}", &c, &err), WK_PARSE_OK);
    assert_false(c.has_text);

    assert_int_equal(pj("{\"cmd\":\"cantfix\",\"ticket\":42,\"reason\":\"需要更换主管道\"}", &c,
                        &err),
                     WK_PARSE_OK);
    assert_string_equal(c.spec->name, "cantfix");
    assert_string_equal(c.text, "需要更换主管道");

    assert_int_equal(pj("{\"cmd\":\"escalate\",\"ticket\":42,\"department\":\"water_company\","
                        "\"reason\":\"小区主管道破裂\"}",
                        &c, &err),
                     WK_PARSE_OK);
    assert_string_equal(c.department, "water_company");
    assert_string_equal(c.text, "小区主管道破裂");
}

static void test_json_new_errors(void **state)
{
    (void)state;
    expect_json_error("{\"cmd\":\"cantfix\",\"ticket\":42}", "\"reason\" is required", NULL);
    expect_json_error("{\"cmd\":\"cantfix\",\"ticket\":42,\"reason\":\"  \"}", "must not be empty",
                      NULL);
    expect_json_error("{\"cmd\":\"escalate\",\"ticket\":42,\"reason\":\"r\"}",
                      "\"department\" is required", NULL);
    expect_json_error("{\"cmd\":\"escalate\",\"ticket\":42,\"department\":\"w\"}",
                      "\"reason\" is required", NULL);
    expect_json_error("{\"cmd\":\"done\",\"ticket\":1,\"photos\":\"/a.jpg\"}", "must be an array",
                      NULL);
    expect_json_error("{\"cmd\":\"done\",\"ticket\":1,\"photos\":[\"1\",\"2\",\"3\",\"4\",\"5\","
                      "\"6\",\"7\"],\"id\":\"x7\"}",
                      "7 photos; at most 6", "x7");
    expect_json_error("{\"cmd\":\"done\",\"ticket\":1,\"photos\":[{\"kind\":\"after\"}]}",
                      "needs a \"path\"", NULL);
    expect_json_error("{\"cmd\":\"done\",\"ticket\":1,\"photos\":[{\"path\":\"/a\",\"kind\":\"x\"}]}",
                      "kind \"x\" is not", NULL);
    expect_json_error("{\"cmd\":\"done\",\"ticket\":1,\"photos\":[5]}", "path string", NULL);
    expect_json_error("{\"cmd\":\"done\",\"ticket\":1,\"photos\":[\"\"]}", "path is empty", NULL);
    expect_json_error("{\"cmd\":\"cantfix\",\"ticket\":1,\"reason\":\"r\",\"photos\":[\"/a.jpg\"]}",
                      "cantfix takes no photos", NULL);
}

/* ---- photo files ------------------------------------------------------------ */

static char photo_dir[512];

static void write_file(const char *name, const void *data, size_t len, char *path, size_t plen)
{
    snprintf(path, plen, "%s/%s", photo_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int photo_setup(void **state)
{
    (void)state;
    const char *base = getenv("BM_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(photo_dir, sizeof photo_dir, "%s/bmwkp-XXXXXX", base);
    return mkdtemp(photo_dir) ? 0 : -1;
}

static int photo_teardown(void **state)
{
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", photo_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void expect_photo_error(const char *path, const char *fragment)
{
    wk_photo_t p;
    bm_error_t err = {0};
    assert_int_equal(wk_photo_load(path, "after", &p, &err), -1);
    assert_null(p.data);
    assert_string_equal(err.code, WK_ERR_BAD_PHOTO);
    assert_string_equal(err.field, "photos");
    if (!strstr(err.message, fragment))
        fail_msg("%s: message \"%s\" does not mention \"%s\"", path, err.message, fragment);
}

static void test_photo_files(void **state)
{
    (void)state;
    char jpg[600], png[600], webp[600], txt[600], empty[600], big[600], ok_max[600];
    static const unsigned char jpeg_bytes[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1};
    static const unsigned char png_bytes[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13};
    static const unsigned char webp_bytes[] = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'E', 'B', 'P'};
    write_file("修前.jpg", jpeg_bytes, sizeof jpeg_bytes, jpg, sizeof jpg);
    write_file("b.png", png_bytes, sizeof png_bytes, png, sizeof png);
    write_file("c.webp", webp_bytes, sizeof webp_bytes, webp, sizeof webp);
    write_file("notes.jpg", "just text, not a photo\n", 23, txt, sizeof txt); /* name lies */
    write_file("empty.jpg", "", 0, empty, sizeof empty);

    wk_photo_t p;
    bm_error_t err = {0};
    assert_int_equal(wk_photo_load(jpg, "before", &p, &err), 0);
    assert_int_equal(p.len, sizeof jpeg_bytes);
    assert_memory_equal(p.data, jpeg_bytes, sizeof jpeg_bytes);
    assert_string_equal(p.name, "修前.jpg");
    assert_string_equal(p.kind, "before");
    assert_string_equal(p.mime, "image/jpeg");
    wk_photo_clear(&p);
    assert_null(p.data);
    wk_photo_clear(&p); /* twice is harmless */
    assert_int_equal(wk_photo_load(png, NULL, &p, &err), 0);
    assert_string_equal(p.mime, "image/png");
    assert_string_equal(p.kind, "other");
    wk_photo_clear(&p);
    assert_int_equal(wk_photo_load(webp, "after", &p, &err), 0);
    assert_string_equal(p.mime, "image/webp");
    wk_photo_clear(&p);

    expect_photo_error(txt, "is not a photo");
    expect_photo_error(txt, "notes.jpg");
    expect_photo_error(empty, "is empty");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope.jpg", photo_dir);
    expect_photo_error(missing, "cannot read photo");
    expect_photo_error(missing, "No such file");
    expect_photo_error(photo_dir, "is not a file");

    /* Exactly the limit is taken; one byte more is refused before reading. */
    snprintf(ok_max, sizeof ok_max, "%s/max.jpg", photo_dir);
    snprintf(big, sizeof big, "%s/big.jpg", photo_dir);
    const char *sizes[2] = {ok_max, big};
    for (int i = 0; i < 2; i++) {
        int fd = open(sizes[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, jpeg_bytes, sizeof jpeg_bytes), (ssize_t)sizeof jpeg_bytes);
        assert_int_equal(ftruncate(fd, BM_MAX_PHOTO + i), 0);
        close(fd);
    }
    assert_int_equal(wk_photo_load(ok_max, "after", &p, &err), 0);
    assert_int_equal(p.len, BM_MAX_PHOTO);
    wk_photo_clear(&p);
    expect_photo_error(big, "too big");
    expect_photo_error(big, "the limit is 8 MB");

    /* Unreadable (when not running as root, who can read anything). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(png, 0), 0);
        expect_photo_error(png, "Permission denied");
        assert_int_equal(chmod(png, 0600), 0);
    }

    /* A whole command's photos: all or nothing, and which one was bad. */
    wk_cmd_t c;
    char line[2200];
    snprintf(line, sizeof line, "done 9 好了 @before:%s @after:%s", jpg, png);
    assert_int_equal(wk_cmd_parse_text(line, &c, &err), WK_PARSE_OK);
    wk_photo_t photos[BM_MAX_ATTACH];
    size_t bad = 99;
    assert_int_equal(wk_photos_load(&c, photos, &bad, &err), 0);
    assert_string_equal(photos[0].kind, "before");
    assert_string_equal(photos[1].kind, "after");
    assert_string_equal(photos[1].name, "b.png");
    wk_photos_clear(photos, c.n_photos);
    snprintf(line, sizeof line, "done 9 @%s @%s @%s", jpg, txt, png);
    assert_int_equal(wk_cmd_parse_text(line, &c, &err), WK_PARSE_OK);
    assert_int_equal(wk_photos_load(&c, photos, &bad, &err), -1);
    assert_int_equal(bad, 1);
    assert_string_equal(err.code, WK_ERR_BAD_PHOTO);
    assert_null(photos[0].data); /* the good first one was freed again */
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
        /* A command with text names its field and limit; only text commands take photos. */
        assert_true((s->text_key != NULL) == (s->args >= WK_ARG_TICKET_TEXT));
        assert_true(s->text_key == NULL || s->text_max > 0);
        if (s->flags & WK_TAKES_PHOTOS)
            assert_true(bm_cmd_takes_attachments(s->wire));
        if (s->wire)
            assert_non_null(s->example);
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
        cmocka_unit_test(test_text_new_commands), cmocka_unit_test(test_text_photos),
        cmocka_unit_test(test_text_new_errors), cmocka_unit_test(test_json_new_commands),
        cmocka_unit_test(test_json_new_errors),
        cmocka_unit_test_setup_teardown(test_photo_files, photo_setup, photo_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
