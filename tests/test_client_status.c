/* test_client_status.c - `bianmin status`: formatting a get reply for people. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli.h"
#include "lifecycle.h"
#include "clitest.h"
#include "width.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *sample =
    "{\"request\": {\"ticket\": 42, \"channel\": \"building_leader\", \"category\": \"pipe\","
    " \"category_label\": \"管道疏通\", \"urgent\": false, \"building\": \"市政小区 3栋\","
    " \"unit\": \"2-301\", \"contact\": \"罗女士 13800000000\", \"text\": \"厨房下水道堵了\","
    " \"ref\": \"forum-88213\", \"status\": \"done\", \"volunteer\": {\"id\": \"v01\", \"name\": \"袁建成\"}, \"attempts\": 0,"
    " \"created_at\": \"2026-11-29T06:20:01.123Z\", \"updated_at\": \"2026-11-29T07:02:00.000Z\","
    " \"claimed_at\": \"2026-11-29T06:25:30.000Z\", \"done_at\": \"2026-11-29T07:02:00.000Z\"},"
    " \"events\": ["
    "  {\"at\": \"2026-11-29T06:20:01.123Z\", \"actor\": \"channel:building_leader\","
    "   \"kind\": \"received\", \"from\": null, \"to\": \"open\", \"detail\": {}},"
    "  {\"at\": \"2026-11-29T06:25:30.000Z\", \"actor\": \"volunteer:v01\", \"kind\": \"claimed\","
    "   \"from\": \"open\", \"to\": \"claimed\", \"detail\": {\"lease_s\": 3600}},"
    "  {\"at\": \"2026-11-29T07:02:00.000Z\", \"actor\": \"volunteer:v01\", \"kind\": \"done\","
    "   \"from\": \"claimed\", \"to\": \"done\", \"detail\": {\"note\": \"疏通完毕，已试水\"}}],"
    " \"deliveries\": ["
    "  {\"id\": 7, \"type\": \"request.received\", \"url\": \"http://127.0.0.1:8080/hook\","
    "   \"state\": \"delivered\", \"attempts\": 1, \"last_error\": null},"
    "  {\"id\": 9, \"type\": \"request.completed\", \"url\": \"http://127.0.0.1:8080/hook\","
    "   \"state\": \"pending\", \"attempts\": 2, \"last_error\": \"HTTP 503\"}]}";

/* cli_format_get's text for a reply. */
static char *format(const char *json)
{
    return ct_format_with(cli_format_get, json);
}

static int setup_utc(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static void test_format_sample(void **state)
{
    char *out = format(sample);
    const char *want[] = {
        "工单 ticket 42  管道疏通 pipe  [已完成 done]\n",
        "  渠道 channel:   building_leader\n",
        "  楼栋 building:  市政小区 3栋 2-301\n",
        "  联系 contact:   罗女士 13800000000\n",
        "  内容 text:      厨房下水道堵了\n",
        "  编号 ref:       forum-88213\n",
        "  志愿者 volunteer: 袁建成 (v01)\n",
        "  受理 created:   2026-11-29 06:20\n",
        "  接单 claimed:   2026-11-29 06:25\n",
        "  完成 done:      2026-11-29 07:02\n",
        "\n时间线 timeline:\n"
        "  2026-11-29 06:20  channel:building_leader  received 受理  → open\n"
        "  2026-11-29 06:25  volunteer:v01  claimed 接单  open → claimed  lease_s=3600\n"
        "  2026-11-29 07:02  volunteer:v01  done 完成  claimed → done  疏通完毕，已试水\n",
        "\n通知 deliveries:\n"
        "  #7  request.received  delivered 已送达  attempts 1\n"
        "  #9  request.completed  pending 待发送  attempts 2  最近错误 last error: HTTP 503\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            fail_msg("missing %s\n--- in ---\n%s", want[i], out);
    }
    assert_null(strstr(out, "紧急"));
    assert_null(strstr(out, "重派"));
    /* An older reply without these fields shows none of them. */
    assert_null(strstr(out, "评分"));
    assert_null(strstr(out, "超时"));
    assert_null(strstr(out, "期限"));
    assert_null(strstr(out, "部门"));
    assert_non_null(strstr(out, "\n图片 photos:\n  (none)\n"));
    free(out);
}

/* A resolved request escalated to a department, rated, overdue, with photos. */
static const char *sample_photos =
    "{\"request\": {\"ticket\": 57, \"channel\": \"forum\", \"category\": \"leak\","
    " \"category_label\": \"漏水抢修\", \"urgent\": true, \"building\": \"幸福里 10栋\","
    " \"contact\": \"王\", \"text\": \"楼顶水箱漏水\", \"status\": \"resolved\","
    " \"volunteer\": null, \"attempts\": 1, \"rating\": 4, \"department\": \"water_company\","
    " \"overdue\": true, \"deadline_at\": \"2026-11-29T10:20:00.000Z\","
    " \"created_at\": \"2026-11-29T06:20:00.000Z\"},"
    " \"attachments\": ["
    "  {\"sha256\": \"ab12\", \"type\": \"image/jpeg\", \"size\": 251187, \"kind\": \"before\","
    "   \"name\": \"水箱-修前.jpg\", \"at\": \"2026-11-29T07:00:00.000Z\", \"event\": \"progress\","
    "   \"actor\": \"volunteer:v01\", \"path\": \"ab/ab12.jpg\"},"
    "  {\"sha256\": \"cd34\", \"type\": \"image/png\", \"size\": 900, \"kind\": \"after\","
    "   \"name\": null, \"at\": \"2026-11-29T08:30:00.000Z\", \"event\": \"done\","
    "   \"actor\": \"volunteer:v01\", \"path\": \"cd/cd34.png\"}],"
    " \"events\": [], \"deliveries\": []}";

static void test_format_rating_photos(void **state)
{
    (void)state;
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    char *out = format(sample_photos);
    const char *want[] = {
        "工单 ticket 57  漏水抢修 leak  [已解决 resolved]  紧急 urgent  超时 overdue\n",
        "  受理 created:   2026-11-29 06:20\n"
        "  期限 deadline:  2026-11-29 10:20\n",
        "  部门 department: water_company\n",
        "  重派 attempts:  1\n"
        "  评分 rating:    ★★★★☆ 4/5\n",
        "\n图片 photos:\n"
        "  类别 kind    文件 name      类型 type   大小 size  事件 event     时间 time         归档 archive path\n"
        "  before 修前  水箱-修前.jpg  image/jpeg   245.3 KB  progress 进展  2026-11-29 07:00  ab/ab12.jpg\n"
        "  after 修后   -              image/png       900 B  done 完成      2026-11-29 08:30  cd/cd34.png\n"
        "\n通知 deliveries:\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            fail_msg("missing %s\n--- in ---\n%s", want[i], out);
    }
    /* The photos come after the timeline. */
    assert_true(strstr(out, "时间线 timeline:") < strstr(out, "图片 photos:"));
    free(out);

    /* Not rated yet: the field is there but null. */
    out = format("{\"request\": {\"ticket\": 3, \"status\": \"done\", \"rating\": null,"
                 " \"overdue\": false, \"department\": null}, \"attachments\": []}");
    assert_non_null(strstr(out, "  评分 rating:    未评分 not rated\n"));
    assert_null(strstr(out, "超时"));
    assert_null(strstr(out, "部门"));
    assert_non_null(strstr(out, "图片 photos:\n  (none)\n"));
    free(out);
    /* An open request cannot be rated yet: no "not rated" line. */
    out = format("{\"request\": {\"ticket\": 4, \"status\": \"open\", \"rating\": null}}");
    assert_null(strstr(out, "评分"));
    free(out);
}

/* After a reopen: the current attempt, and the earlier rating shown as
 * belonging to the earlier completion. */
static void test_format_reopened(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    static const char *const events =
        "\"events\": ["
        "{\"at\": \"2026-11-10T00:00:00.000Z\", \"actor\": \"channel:forum\", \"kind\": \"received\"},"
        "{\"at\": \"2026-11-10T01:00:00.000Z\", \"actor\": \"volunteer:v01\", \"kind\": \"claimed\"},"
        "{\"at\": \"2026-11-10T02:00:00.000Z\", \"actor\": \"volunteer:v01\", \"kind\": \"completed\"},"
        "{\"at\": \"2026-11-10T03:00:00.000Z\", \"actor\": \"channel:forum\", \"kind\": \"rated\","
        " \"detail\": {\"score\": 5}},"
        "{\"at\": \"2026-11-11T00:00:00.000Z\", \"actor\": \"channel:forum\", \"kind\": \"reopened\"}";
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"request\": {\"ticket\": 3, \"status\": \"open\", \"rating\": 5,"
             " \"claimed_at\": \"2026-11-10T01:00:00.000Z\"}, %s]}",
             events);
    char *out = format(buf);
    const char *want[] = {
        "  本次 attempt:   第 2 次处理，重开于 2026-11-11 00:00 / attempt 2, reopened 2026-11-11 00:00\n",
        "  接单 claimed:   本次尚未接单 / not claimed in this attempt\n",
        "  上次评分 earlier rating: ★★★★★ 5/5，评的是 2026-11-10 02:00 volunteer:v01 的完成",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            fail_msg("missing %s\n--- in ---\n%s", want[i], out);
    }
    assert_null(strstr(out, "  评分 rating:    ★")); /* not shown as this attempt's */
    free(out);
    /* refixed and rated again: the new rating is this attempt's */
    snprintf(buf, sizeof buf,
             "{\"request\": {\"ticket\": 3, \"status\": \"done\", \"rating\": 2}, %s,"
             "{\"at\": \"2026-11-11T01:00:00.000Z\", \"actor\": \"volunteer:v02\", \"kind\": \"claimed\"},"
             "{\"at\": \"2026-11-11T02:00:00.000Z\", \"actor\": \"volunteer:v02\", \"kind\": \"completed\"},"
             "{\"at\": \"2026-11-11T03:00:00.000Z\", \"actor\": \"channel:forum\", \"kind\": \"rated\","
             " \"detail\": {\"score\": 2}}]}",
             events);
    out = format(buf);
    assert_non_null(strstr(out, "  评分 rating:    ★★☆☆☆ 2/5\n"));
    assert_null(strstr(out, "上次评分"));
    assert_null(strstr(out, "本次尚未接单"));
    free(out);
    /* refixed, not rated again: this attempt is not rated; 5 was for v01 */
    snprintf(buf, sizeof buf,
             "{\"request\": {\"ticket\": 3, \"status\": \"done\", \"rating\": 5}, %s,"
             "{\"at\": \"2026-11-11T02:00:00.000Z\", \"actor\": \"volunteer:v02\", \"kind\": \"completed\"}]}",
             events);
    out = format(buf);
    assert_non_null(strstr(out, "  评分 rating:    本次未评分 / this attempt not rated\n"));
    assert_non_null(strstr(out, "volunteer:v01 的完成"));
    free(out);
    unsetenv("TZ");
    tzset();
}

static void test_rating_text(void **state)
{
    (void)state;
    char buf[64];
    const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"1", "★☆☆☆☆ 1/5"}, {"5", "★★★★★ 5/5"}, {"3", "★★★☆☆ 3/5"},
        {"null", "未评分 not rated"}, {"0", "未评分 not rated"}, {"6", "未评分 not rated"},
        {"4.5", "未评分 not rated"}, {"\"4\"", "未评分 not rated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        assert_string_equal(cli_rating_text(j, buf, sizeof buf), cases[i].want);
        cJSON_Delete(j);
    }
    assert_string_equal(cli_rating_text(NULL, buf, sizeof buf), "未评分 not rated");
}

static void test_format_open_unclaimed(void **state)
{
    /* No volunteer, no label from the broker (taken from our table), urgent,
     * hostile control characters in peer text, an unparseable time. */
    char *out = format(
        "{\"request\": {\"ticket\": 5, \"category\": \"leak\", \"urgent\": true,"
        " \"building\": \"7栋\", \"contact\": \"李\", \"text\": \"漏水\\u001b[2J\\n快来\","
        " \"status\": \"open\", \"volunteer\": null, \"created_at\": \"yesterday\"},"
        " \"events\": [], \"deliveries\": []}");
    assert_non_null(strstr(out, "工单 ticket 5  漏水抢修 leak  [待接单 open]  紧急 urgent\n"));
    assert_non_null(strstr(out, "  内容 text:      漏水 [2J 快来\n"));
    assert_non_null(strstr(out, "  受理 created:   yesterday\n"));
    assert_null(strstr(out, "volunteer"));
    assert_null(strstr(out, "ref:"));
    assert_null(strchr(out, '\x1b'));
    assert_non_null(strstr(out, "时间线 timeline:\n  (none)\n"));
    assert_non_null(strstr(out, "通知 deliveries:\n  (none)\n"));
    free(out);
}

static void test_format_garbage_reply(void **state)
{
    /* Whatever the reply holds, formatting does not crash. */
    char *out = format("{\"request\": 3, \"events\": {\"a\": 1}, \"deliveries\": [1, null]}");
    assert_non_null(strstr(out, "工单 ticket 0"));
    free(out);
    out = format("{}");
    assert_non_null(strstr(out, "工单 ticket 0"));
    free(out);
    out = format("{\"request\": {\"status\": \"done\", \"rating\": \"x\", \"overdue\": 1},"
                 " \"attachments\": [1, null, {\"size\": \"big\", \"kind\": 7}, {}],"
                 " \"deliveries\": [{\"id\": \"7\", \"state\": 3}]}");
    assert_non_null(strstr(out, "未评分 not rated"));
    assert_non_null(strstr(out, "图片 photos:\n  类别 kind"));
    assert_null(strstr(out, "超时"));
    free(out);
}

static void test_put_text(void **state)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    cli_put_text(f, "a\tb\x7f" "c\xc2\x9b" "d", 0);
    fputc('|', f);
    cli_put_text(f, "疏通完毕", 7); /* 3-byte characters: cut after the 2nd */
    fputc('|', f);
    cli_put_text(f, "abc", 3);
    fputc('|', f);
    cli_put_text(f, "abcd", 3);
    fclose(f);
    assert_string_equal(out, "a b c d|疏通…|abc|abc…");
    free(out);
}

static void test_local_time(void **state)
{
    char buf[64];
    assert_string_equal(cli_local_time("2026-11-29T06:20:01.123Z", buf, sizeof buf),
                        "2026-11-29 06:20");
    assert_string_equal(cli_local_time(NULL, buf, sizeof buf), "-");
    assert_string_equal(cli_local_time("soon", buf, sizeof buf), "soon");
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    /* Without tzdata installed this zone reads as UTC; only check when known. */
    time_t probe = 0;
    struct tm tm;
    localtime_r(&probe, &tm);
    if (tm.tm_hour == 8)
        assert_string_equal(cli_local_time("2026-11-29T06:20:01.123Z", buf, sizeof buf),
                            "2026-11-29 14:20");
    setenv("TZ", "UTC", 1);
    tzset();
}

/* Every kind of event the store records reads in Chinese in status, the
 * export and the report: each transition's event and the ones the broker
 * records by itself. */
static void test_every_event_kind_has_a_chinese_label(void **state)
{
    (void)state;
    const char *kinds[BM_ACT_COUNT + 8];
    size_t n = 0;
    for (int a = 0; a < BM_ACT_COUNT; a++)
        kinds[n++] = bm_action_event((bm_action_t)a);
    const char *system_kinds[] = {"received", "rated", "overdue", "needs_escalation", "declined",
                                  "lease_expired"};
    for (size_t i = 0; i < sizeof system_kinds / sizeof system_kinds[0]; i++)
        kinds[n++] = system_kinds[i];
    for (size_t i = 0; i < n; i++) {
        const char *label = cli_event_label(kinds[i]);
        if (!label)
            fail_msg("event kind \"%s\" has no label", kinds[i]);
        assert_true((unsigned char)label[0] >= 0xE0); /* starts with a Chinese character */
    }
    assert_string_equal(cli_event_label("overdue"), "超时未接");
    assert_string_equal(cli_event_label("needs_escalation"), "需上报");
    assert_string_equal(cli_event_label("declined"), "谢绝接单");
    assert_null(cli_event_label("no_such_kind"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_sample),
        cmocka_unit_test(test_every_event_kind_has_a_chinese_label),
        cmocka_unit_test(test_format_open_unclaimed),
        cmocka_unit_test(test_format_garbage_reply),
        cmocka_unit_test(test_format_rating_photos),
        cmocka_unit_test(test_rating_text),
        cmocka_unit_test(test_format_reopened),
        cmocka_unit_test(test_put_text),
        cmocka_unit_test(test_local_time),
    };
    return cmocka_run_group_tests(tests, setup_utc, NULL);
}
