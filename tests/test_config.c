/* test_config.c - unit tests for lib/config.c: built-in defaults, a good
 * config file overriding them, and bad files refused with a message that
 * names the file and the key. Files are written at run time into a fresh
 * directory under $BM_TEST_TMP (or /tmp). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_FILES 128

static char tmp_dir[512];
static char written[MAX_FILES][600];
static int written_count;

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("BM_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf(tmp_dir, sizeof tmp_dir, "%s/bm-config-XXXXXX", base);
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < written_count; i++)
        unlink(written[i]);
    return rmdir(tmp_dir);
}

/* Writes text to tmp_dir/name and returns the path (static storage). */
static const char *write_config(const char *name, const char *text)
{
    assert_true(written_count < MAX_FILES);
    char *path = written[written_count++];
    int n = snprintf(path, sizeof written[0], "%s/%s", tmp_dir, name);
    assert_true(n > 0 && (size_t)n < sizeof written[0]);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* ---- defaults --------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    bm_config_t cfg;
    memset(&cfg, 0x5A, sizeof cfg);
    bm_config_defaults(&cfg);
    assert_string_equal(cfg.client_endpoint, BM_DEFAULT_CLIENT_ENDPOINT);
    assert_string_equal(cfg.worker_endpoint, BM_DEFAULT_WORKER_ENDPOINT);
    assert_string_equal(cfg.database, BM_DEFAULT_DATABASE);
    assert_string_equal(cfg.callback_secret, "");
    assert_string_equal(cfg.log_level, "info");
    assert_int_equal(cfg.heartbeat_ms, 2000);
    assert_int_equal(cfg.offer_window, BM_DEFAULT_OFFER_WINDOW);
    assert_int_equal(cfg.delivery_lease_s, BM_DEFAULT_DELIVERY_LEASE_S);
    assert_int_equal(cfg.batch_max, BM_DEFAULT_BATCH_MAX);

    static const int retries[] = {0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400};
    assert_int_equal(cfg.retry_count, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(cfg.retry_schedule_s[i], retries[i]);

    assert_int_equal(cfg.category_count, 5);
    static const char *const names[] = {"leak", "lock", "pipe", "repair", "other"};
    for (int i = 0; i < 5; i++) {
        const bm_category_t *c = bm_config_category(&cfg, names[i]);
        assert_non_null(c);
        assert_string_equal(c->name, names[i]);
        assert_true(c->label[0] != '\0');
        assert_int_equal(c->urgent, strcmp(names[i], "leak") == 0);
        assert_true(c->offer_timeout_s > 0 && c->lease_s > 0 && c->deadline_s > 0);
    }
    /* Leak is the most urgent and goes first. */
    const bm_category_t *leak = bm_config_category(&cfg, "leak");
    assert_string_equal(leak->label, "漏水抢修");
    for (int i = 0; i < cfg.category_count; i++)
        assert_true(cfg.categories[i].priority <= leak->priority);
    assert_string_equal(bm_config_category(&cfg, "pipe")->label, "管道疏通");
    assert_null(bm_config_category(&cfg, "garden"));
    assert_null(bm_config_category(&cfg, "Leak"));
    assert_null(bm_config_category(&cfg, ""));

    assert_int_equal(cfg.channel_count, 4);
    assert_true(bm_config_channel(&cfg, "building_leader"));
    assert_true(bm_config_channel(&cfg, "council"));
    assert_true(bm_config_channel(&cfg, "forum"));
    assert_true(bm_config_channel(&cfg, "office"));
    assert_false(bm_config_channel(&cfg, "wechat"));
    assert_false(bm_config_channel(&cfg, ""));
}

/* ---- good files ---------------------------------------------------------------- */

static void test_load_good_file(void **state)
{
    (void)state;
    const char *path = write_config(
        "good.json",
        "{\n"
        "  \"client_endpoint\": \"tcp://127.0.0.1:6570\",\n"
        "  \"database\": \"/var/lib/bianmin/市政.db\",\n"
        "  \"callback_secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\",\n"
        "  \"log_level\": \"debug\",\n"
        "  \"heartbeat_ms\": 500,\n"
        "  \"offer_window\": 5,\n"
        "  \"delivery_lease_s\": 120,\n"
        "  \"batch_max\": 100,\n"
        "  \"retry_schedule_s\": [0, 10, 60],\n"
        "  \"categories\": [\n"
        "    {\"name\": \"pipe\", \"priority\": 7},\n"
        "    {\"name\": \"garden\", \"label\": \"绿化\", \"urgent\": true, \"lease_s\": 600},\n"
        "    {\"name\": \"misc\"}\n"
        "  ],\n"
        "  \"channels\": [\"office\", \"wechat\"]\n"
        "}\n");
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    int rc = bm_config_load(&cfg, path, &err);
    if (rc != 0)
        fail_msg("load failed: %s", err.message);
    assert_null(err.code);

    assert_string_equal(cfg.client_endpoint, "tcp://127.0.0.1:6570");
    assert_string_equal(cfg.worker_endpoint, BM_DEFAULT_WORKER_ENDPOINT); /* untouched */
    assert_string_equal(cfg.database, "/var/lib/bianmin/市政.db");
    assert_string_equal(cfg.callback_secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_string_equal(cfg.log_level, "debug");
    assert_int_equal(cfg.heartbeat_ms, 500);
    assert_int_equal(cfg.offer_window, 5);
    assert_int_equal(cfg.delivery_lease_s, 120);
    assert_int_equal(cfg.batch_max, 100);
    assert_int_equal(cfg.retry_count, 3);
    assert_int_equal(cfg.retry_schedule_s[0], 0);
    assert_int_equal(cfg.retry_schedule_s[1], 10);
    assert_int_equal(cfg.retry_schedule_s[2], 60);

    /* The list replaces the defaults; a known name keeps its built-in values. */
    assert_int_equal(cfg.category_count, 3);
    assert_null(bm_config_category(&cfg, "leak"));
    const bm_category_t *pipe = bm_config_category(&cfg, "pipe");
    assert_non_null(pipe);
    assert_int_equal(pipe->priority, 7);
    assert_string_equal(pipe->label, "管道疏通");
    assert_false(pipe->urgent);
    assert_int_equal(pipe->offer_timeout_s, 3600);
    assert_int_equal(pipe->deadline_s, 48 * 3600);
    const bm_category_t *garden = bm_config_category(&cfg, "garden");
    assert_non_null(garden);
    assert_string_equal(garden->label, "绿化");
    assert_true(garden->urgent);
    assert_int_equal(garden->lease_s, 600);
    assert_true(garden->offer_timeout_s > 0);
    assert_true(garden->deadline_s > 0);
    /* A new category without a label shows its name. */
    const bm_category_t *misc = bm_config_category(&cfg, "misc");
    assert_non_null(misc);
    assert_string_equal(misc->label, "misc");
    assert_true(misc->lease_s > 0 && misc->offer_timeout_s > 0 && misc->deadline_s > 0);

    assert_int_equal(cfg.channel_count, 2);
    assert_true(bm_config_channel(&cfg, "wechat"));
    assert_true(bm_config_channel(&cfg, "office"));
    assert_false(bm_config_channel(&cfg, "forum"));
}

static void test_load_empty_object_keeps_defaults(void **state)
{
    (void)state;
    const char *path = write_config("empty-object.json", "  {}  \n");
    bm_config_t cfg, defaults;
    bm_config_defaults(&cfg);
    bm_config_defaults(&defaults);
    bm_error_t err = {0};
    assert_int_equal(bm_config_load(&cfg, path, &err), 0);
    assert_memory_equal(&cfg, &defaults, sizeof cfg);
}

/* ---- bad files ------------------------------------------------------------------ */

/* Loads text (or path if text is NULL) expecting failure with code, a message
 * naming the file and every one of the words, and cfg left untouched. */
static void expect_bad(const char *name, const char *text, const char *code, const char *field,
                       const char *word1, const char *word2)
{
    const char *path = text ? write_config(name, text) : name;
    bm_config_t cfg, before;
    bm_config_defaults(&cfg);
    before = cfg;
    bm_error_t err = {0};
    int rc = bm_config_load(&cfg, path, &err);
    if (rc != -1)
        fail_msg("%s was accepted: %s", name, text ? text : "");
    assert_non_null(err.code);
    if (strcmp(err.code, code) != 0)
        fail_msg("%s: code %s, expected %s (%s)", name, err.code, code, err.message);
    if (field)
        assert_string_equal(err.field, field);
    if (!strstr(err.message, path))
        fail_msg("%s: message does not name the file: %s", name, err.message);
    if (word1 && !strstr(err.message, word1))
        fail_msg("%s: message lacks \"%s\": %s", name, word1, err.message);
    if (word2 && !strstr(err.message, word2))
        fail_msg("%s: message lacks \"%s\": %s", name, word2, err.message);
    /* Nothing of a refused file is applied. */
    assert_memory_equal(&cfg, &before, sizeof cfg);
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/does-not-exist.json", tmp_dir);
    expect_bad(path, NULL, BM_ERR_INVALID, NULL, "No such file", NULL);
}

static void test_not_json(void **state)
{
    (void)state;
    expect_bad("broken.json", "{\"heartbeat_ms\": 2000,", BM_ERR_BAD_JSON, NULL, NULL, NULL);
    expect_bad("unquoted.json", "{heartbeat_ms: 2000}", BM_ERR_BAD_JSON, NULL, NULL, NULL);
    expect_bad("empty.json", "", BM_ERR_BAD_JSON, NULL, NULL, NULL);
    expect_bad("array.json", "[{\"heartbeat_ms\": 2000}]", BM_ERR_BAD_JSON, NULL, NULL, NULL);
    expect_bad("string.json", "\"config\"", BM_ERR_BAD_JSON, NULL, NULL, NULL);
    expect_bad("ini.json", "heartbeat_ms = 2000\n", BM_ERR_BAD_JSON, NULL, NULL, NULL);
}

static void test_directory_is_not_a_config(void **state)
{
    (void)state;
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    assert_int_equal(bm_config_load(&cfg, tmp_dir, &err), -1);
    assert_non_null(err.code);
    assert_non_null(strstr(err.message, tmp_dir));
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_bad("hb-string.json", "{\"heartbeat_ms\": \"2000\"}", BM_ERR_INVALID, "heartbeat_ms",
               "\"heartbeat_ms\"", "integer");
    expect_bad("hb-bool.json", "{\"heartbeat_ms\": true}", BM_ERR_INVALID, "heartbeat_ms",
               "\"heartbeat_ms\"", NULL);
    expect_bad("hb-null.json", "{\"heartbeat_ms\": null}", BM_ERR_INVALID, "heartbeat_ms",
               "\"heartbeat_ms\"", NULL);
    expect_bad("hb-float.json", "{\"heartbeat_ms\": 1500.5}", BM_ERR_INVALID, "heartbeat_ms",
               "\"heartbeat_ms\"", NULL);
    expect_bad("ep-number.json", "{\"client_endpoint\": 5570}", BM_ERR_INVALID, "client_endpoint",
               "\"client_endpoint\"", NULL);
    expect_bad("ep-empty.json", "{\"worker_endpoint\": \"\"}", BM_ERR_INVALID, "worker_endpoint",
               "\"worker_endpoint\"", NULL);
    expect_bad("retry-string.json", "{\"retry_schedule_s\": \"0,5,300\"}", BM_ERR_INVALID,
               "retry_schedule_s", "retry_schedule_s", NULL);
    expect_bad("retry-item.json", "{\"retry_schedule_s\": [0, \"5\"]}", BM_ERR_INVALID,
               "retry_schedule_s", NULL, NULL);
    expect_bad("channels-object.json", "{\"channels\": {\"office\": true}}", BM_ERR_INVALID,
               "channels", "\"channels\"", NULL);
    expect_bad("channels-item.json", "{\"channels\": [\"office\", 3]}", BM_ERR_INVALID,
               "channels", "channel", NULL);
    expect_bad("categories-object.json", "{\"categories\": {\"name\": \"pipe\"}}", BM_ERR_INVALID,
               "categories", "\"categories\"", NULL);
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_bad("hb-low.json", "{\"heartbeat_ms\": 99}", BM_ERR_INVALID, "heartbeat_ms",
               "\"heartbeat_ms\"", "100 to 60000");
    expect_bad("hb-high.json", "{\"heartbeat_ms\": 60001}", BM_ERR_INVALID, "heartbeat_ms",
               "\"heartbeat_ms\"", NULL);
    expect_bad("hb-negative.json", "{\"heartbeat_ms\": -2000}", BM_ERR_INVALID, "heartbeat_ms",
               NULL, NULL);
    expect_bad("hb-huge.json", "{\"heartbeat_ms\": 1e300}", BM_ERR_INVALID, "heartbeat_ms", NULL,
               NULL);
    expect_bad("window-zero.json", "{\"offer_window\": 0}", BM_ERR_INVALID, "offer_window",
               "\"offer_window\"", NULL);
    expect_bad("batch-high.json", "{\"batch_max\": 100001}", BM_ERR_INVALID, "batch_max",
               "\"batch_max\"", NULL);
    expect_bad("lease-zero.json", "{\"delivery_lease_s\": 0}", BM_ERR_INVALID, "delivery_lease_s",
               NULL, NULL);
    expect_bad("retry-empty.json", "{\"retry_schedule_s\": []}", BM_ERR_INVALID,
               "retry_schedule_s", NULL, NULL);
    expect_bad("retry-negative.json", "{\"retry_schedule_s\": [0, -5]}", BM_ERR_INVALID,
               "retry_schedule_s", NULL, NULL);
    expect_bad("retry-week.json", "{\"retry_schedule_s\": [604801]}", BM_ERR_INVALID,
               "retry_schedule_s", NULL, NULL);
    expect_bad("retry-many.json",
               "{\"retry_schedule_s\": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
               "21,22,23,24,25,26,27,28,29,30,31,32]}",
               BM_ERR_INVALID, "retry_schedule_s", NULL, NULL);
    expect_bad("channels-empty.json", "{\"channels\": []}", BM_ERR_INVALID, "channels", NULL,
               NULL);
    expect_bad("channel-long.json",
               "{\"channels\": [\"a_channel_name_that_is_longer_than_32_bytes\"]}", BM_ERR_INVALID,
               "channels", NULL, NULL);
    expect_bad("channel-blank.json", "{\"channels\": [\"\"]}", BM_ERR_INVALID, "channels", NULL,
               NULL);
    expect_bad("log-level-long.json", "{\"log_level\": \"verbose-debugging\"}", BM_ERR_INVALID,
               "log_level", "\"log_level\"", NULL);
    /* The edges themselves are accepted. */
    const char *path = write_config("edges.json", "{\"heartbeat_ms\": 100, \"offer_window\": 50, "
                                                  "\"retry_schedule_s\": [604800]}");
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    assert_int_equal(bm_config_load(&cfg, path, &err), 0);
    assert_int_equal(cfg.heartbeat_ms, 100);
    assert_int_equal(cfg.offer_window, 50);
    assert_int_equal(cfg.retry_count, 1);
    assert_int_equal(cfg.retry_schedule_s[0], 604800);
}

static void test_bad_callback_secret(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"callback_secret\": \"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}",       /* no prefix */
        "{\"callback_secret\": \"whsec_\"}",                                 /* no key */
        "{\"callback_secret\": \"whsec_AAAA\"}",                             /* 3 bytes */
        "{\"callback_secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa\"}",   /* 21 bytes */
        "{\"callback_secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!\"}", /* not base64 */
        "{\"callback_secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwx\"}", /* length */
        "{\"callback_secret\": 42}",
        /* Padding characters only: not base64 of anything (last: a lib bug
         * lets it through, see bm_base64_decode). */
        "{\"callback_secret\": \"whsec_====================================\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "secret-%zu.json", i);
        expect_bad(name, bad[i], BM_ERR_INVALID, "callback_secret", "callback_secret", NULL);
    }
}

static void test_secret_check(void **state)
{
    (void)state;
    assert_int_equal(bm_secret_check("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), 0); /* 24 bytes */
    /* 64 bytes is the upper limit, 65 is over. */
    assert_int_equal(bm_secret_check("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJ"
                                     "ygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="),
                     0);
    assert_int_equal(bm_secret_check("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJ"
                                     "ygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A="),
                     -1);
    assert_int_equal(bm_secret_check("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRY="), -1); /* 23 */
    assert_int_equal(bm_secret_check("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), -1);
    assert_int_equal(bm_secret_check(""), -1);
}

static void test_bad_categories(void **state)
{
    (void)state;
    expect_bad("cat-empty.json", "{\"categories\": []}", BM_ERR_INVALID, "categories",
               "\"categories\"", NULL);
    expect_bad("cat-noname.json", "{\"categories\": [{\"label\": \"修车\", \"priority\": 2}]}",
               BM_ERR_INVALID, "categories", "\"name\"", NULL);
    expect_bad("cat-blank-name.json", "{\"categories\": [{\"name\": \"\"}]}", BM_ERR_INVALID,
               "categories", "\"name\"", NULL);
    expect_bad("cat-name-number.json", "{\"categories\": [{\"name\": 5}]}", BM_ERR_INVALID, NULL,
               "name", NULL);
    expect_bad("cat-string.json", "{\"categories\": [\"pipe\"]}", BM_ERR_INVALID, "categories",
               NULL, NULL);
    expect_bad("cat-second-bad.json",
               "{\"categories\": [{\"name\": \"pipe\"}, {\"label\": \"x\"}]}", BM_ERR_INVALID,
               "categories", "\"name\"", NULL);
    expect_bad("cat-urgent.json", "{\"categories\": [{\"name\": \"pipe\", \"urgent\": \"yes\"}]}",
               BM_ERR_INVALID, "categories", "urgent", NULL);
    expect_bad("cat-priority.json", "{\"categories\": [{\"name\": \"pipe\", \"priority\": 101}]}",
               BM_ERR_INVALID, "priority", "\"priority\"", "category \"pipe\"");
    expect_bad("cat-lease.json", "{\"categories\": [{\"name\": \"pipe\", \"lease_s\": 0}]}",
               BM_ERR_INVALID, "lease_s", "\"lease_s\"", NULL);
    expect_bad("cat-name-long.json",
               "{\"categories\": [{\"name\": \"a_category_name_over_thirty_two_bytes\"}]}",
               BM_ERR_INVALID, NULL, "name", NULL);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    /* a mistyped key is refused with its path and the closest known key */
    expect_bad("typo.json", "{\"callback_secrt\": \"x\"}", BM_ERR_INVALID, "config",
               "callback_secrt", "did you mean \"callback_secret\"");
    expect_bad("typo-cn.json", "{\"time_zoen\": \"+08:00\"}", BM_ERR_INVALID, "config",
               "未知设置", "\"time_zone\"");
    expect_bad("nothing-near.json", "{\"colour\": 3}", BM_ERR_INVALID, "config", "colour",
               "known: client_endpoint");
    expect_bad("cat-typo.json", "{\"categories\": [{\"name\": \"pipe\", \"deadline\": 5}]}",
               BM_ERR_INVALID, "config", "categories[0].deadline", "deadline_s");
    expect_bad("sub-typo.json",
               "{\"subscriptions\": [{\"name\": \"o\", \"url\": \"http://127.0.0.1/\", "
               "\"secret\": \"whsec_Y291bmNpbC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==\", "
               "\"event\": []}]}",
               BM_ERR_INVALID, "config", "subscriptions[0].event", "\"events\"");
    expect_bad("dep-typo.json", "{\"departments\": [{\"id\": \"w\", \"nmae\": \"水\"}]}",
               BM_ERR_INVALID, "config", "departments[0].nmae", "\"name\"");
}

static void test_time_zone_and_departments(void **state)
{
    (void)state;
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    assert_string_equal(cfg.time_zone, "");
    assert_non_null(bm_config_department(&cfg, "water_company"));
    assert_null(bm_config_department(&cfg, "water_compnay"));
    bm_error_t err = {0};
    const char *path = write_config("tz-deps.json",
                                    "{\"time_zone\": \"+08:00\", \"departments\": ["
                                    "{\"id\": \"water_company\", \"name\": \"自来水公司\"},"
                                    "{\"id\": \"grid\", \"name\": \"网格站\"}]}");
    assert_int_equal(bm_config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.time_zone, "+08:00");
    assert_int_equal(cfg.department_count, 2);
    assert_string_equal(bm_config_department(&cfg, "grid")->name, "网格站");
    assert_null(bm_config_department(&cfg, "power_company")); /* the list replaces the defaults */
    expect_bad("tz-posix.json", "{\"time_zone\": \"UTC+8\"}", BM_ERR_INVALID, "time_zone",
               "time_zone", "+08:00");
    expect_bad("tz-unknown.json", "{\"time_zone\": \"Asia/Shangai\"}", BM_ERR_INVALID,
               "time_zone", "未知时区", NULL);
    expect_bad("dep-dup.json",
               "{\"departments\": [{\"id\": \"a\", \"name\": \"甲\"}, {\"id\": \"a\", "
               "\"name\": \"乙\"}]}",
               BM_ERR_INVALID, "departments", "\"a\"", NULL);
    expect_bad("dep-noname.json", "{\"departments\": [{\"id\": \"a\"}]}", BM_ERR_INVALID,
               "departments", "departments[0]", NULL);
    expect_bad("dep-sub.json",
               "{\"departments\": [{\"id\": \"a\", \"name\": \"甲\", \"subscription\": "
               "\"nobody\"}]}",
               BM_ERR_INVALID, "departments", "nobody", NULL);
}

static void test_channel_secrets(void **state)
{
    (void)state;
    const char *good_secret = "whsec_Y291bmNpbC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";
    char text[512];
    snprintf(text, sizeof text,
             "{\"callback_secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\","
             " \"channel_secrets\": {\"council\": \"%s\"}}", good_secret);
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    assert_int_equal(bm_config_load(&cfg, write_config("chsec.json", text), &err), 0);
    assert_string_equal(bm_config_callback_secret(&cfg, "council"), good_secret);
    assert_string_equal(bm_config_callback_secret(&cfg, "forum"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    snprintf(text, sizeof text, "{\"channel_secrets\": {\"wechat\": \"%s\"}}", good_secret);
    expect_bad("chsec-unknown.json", text, BM_ERR_INVALID, "channel_secrets", "wechat", NULL);
    expect_bad("chsec-bad.json", "{\"channel_secrets\": {\"forum\": \"whsec_====\"}}", BM_ERR_INVALID,
               "channel_secrets", "forum", NULL);
    expect_bad("chsec-type.json", "{\"channel_secrets\": [1]}", BM_ERR_INVALID, "channel_secrets", NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_good_file),
        cmocka_unit_test(test_load_empty_object_keeps_defaults),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_directory_is_not_a_config),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_callback_secret),
        cmocka_unit_test(test_secret_check),
        cmocka_unit_test(test_bad_categories),
        cmocka_unit_test(test_channel_secrets),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_time_zone_and_departments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
