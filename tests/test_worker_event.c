/* test_worker_event.c - events as JSON lines and as bilingual text. */
#include "event.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

static const char *OFFER =
    "{\"ticket\":42,\"category\":\"pipe\",\"category_label\":\"管道疏通\",\"urgent\":false,"
    "\"building\":\"市政小区 3栋\",\"unit\":\"2-301\",\"text\":\"厨房下水道堵了\","
    "\"created_at\":\"2026-11-29T06:20:01.123Z\",\"attempts\":0}";

static char *fmt(const cJSON *ev, bool json)
{
    char *s = wk_event_format(ev, json);
    assert_non_null(s);
    return s;
}

static void assert_contains(const char *s, const char *part)
{
    if (!strstr(s, part))
        fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static void test_offer(void **state)
{
    (void)state;
    cJSON *body = cJSON_Parse(OFFER);
    cJSON *ev = wk_event_from(WK_EV_OFFER, body);
    char *json = fmt(ev, true);
    /* "event" comes first, every offer field follows, Chinese stays UTF-8. */
    assert_true(strncmp(json, "{\"event\":\"offer\",\"ticket\":42,", 29) == 0);
    assert_contains(json, "\"building\":\"市政小区 3栋\"");
    assert_contains(json, "\"attempts\":0");
    assert_null(strchr(json, '\n'));
    char *text = fmt(ev, false);
    assert_string_equal(text, "新订单 New job #42 [管道疏通 pipe] 市政小区 3栋 2-301: "
                              "厨房下水道堵了 — type: claim 42");
    free(json);
    free(text);
    cJSON_Delete(ev);

    /* Urgent, no unit, and an "event" field in the body is not copied. */
    cJSON_ReplaceItemInObject(body, "urgent", cJSON_CreateTrue());
    cJSON_DeleteItemFromObject(body, "unit");
    cJSON_AddStringToObject(body, "event", "spoof");
    ev = wk_event_from(WK_EV_OFFER, body);
    json = fmt(ev, true);
    assert_null(strstr(json, "spoof"));
    text = fmt(ev, false);
    assert_string_equal(text, "新订单 New job #42 【急 URGENT】 [管道疏通 pipe] 市政小区 3栋: "
                              "厨房下水道堵了 — type: claim 42");
    free(json);
    free(text);
    cJSON_Delete(ev);
    cJSON_Delete(body);
}

static void test_claimed(void **state)
{
    (void)state;
    cJSON *job = cJSON_Parse(OFFER);
    cJSON_AddStringToObject(job, "status", "claimed");
    cJSON_AddStringToObject(job, "contact", "罗女士 13800000000");
    cJSON_AddStringToObject(job, "lease_until", "2026-11-29T07:20:01.123Z");
    cJSON_AddStringToObject(job, "deadline_at", "2026-12-02T06:20:01.123Z");
    cJSON *ev = wk_event_from(WK_EV_CLAIMED, job);
    wk_event_set_id(ev, "b-1");
    char *json = fmt(ev, true);
    assert_contains(json, "\"event\":\"claimed\"");
    assert_contains(json, "\"contact\":\"罗女士 13800000000\"");
    assert_contains(json, "\"id\":\"b-1\"");
    char *text = fmt(ev, false);
    assert_contains(text, "接单成功 Claimed #42 [管道疏通 pipe]");
    assert_contains(text, "地址 Address: 市政小区 3栋 2-301");
    assert_contains(text, "联系 Call:    罗女士 13800000000");
    assert_contains(text, "需求 Need:    厨房下水道堵了");
    assert_contains(text, "接单保留至 Claim held until: 2026-11-29");
    assert_contains(text, "服务时限 Service deadline: 2026-12-0");
    assert_contains(text, "done 42");
    free(json);
    free(text);
    cJSON_Delete(ev);
    cJSON_Delete(job);
}

static void test_simple_events(void **state)
{
    (void)state;
    cJSON *ev = wk_event_new(WK_EV_TAKEN);
    cJSON_AddNumberToObject(ev, "ticket", 42);
    char *s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"taken\",\"ticket\":42}");
    free(s);
    s = fmt(ev, false);
    assert_string_equal(s, "#42 已被他人接单 taken by someone else");
    free(s);
    cJSON_Delete(ev);

    cJSON *body = cJSON_Parse("{\"ticket\":42,\"status\":\"done\"}");
    ev = wk_event_from(WK_EV_DONE, body);
    s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"done\",\"ticket\":42,\"status\":\"done\"}");
    free(s);
    s = fmt(ev, false);
    assert_contains(s, "已完成 Done #42");
    free(s);
    cJSON_Delete(ev);
    cJSON_Delete(body);

    /* An outage: never reached, reached but no answer, or lost. */
    ev = wk_event_new(WK_EV_DISCONNECTED);
    cJSON_AddStringToObject(ev, "reason", "no answer to hello within 6000 ms");
    cJSON_AddStringToObject(ev, "endpoint", "tcp://10.0.0.1:5571");
    cJSON_AddBoolToObject(ev, "connected_before", false);
    cJSON_AddBoolToObject(ev, "reached", false);
    s = fmt(ev, false);
    assert_string_equal(s, "无法连接服务站 tcp://10.0.0.1:5571 / cannot reach the station at "
                           "tcp://10.0.0.1:5571; 正在重试 retrying");
    free(s);
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "reached", cJSON_CreateTrue());
    s = fmt(ev, false);
    assert_string_equal(s, "服务站没有应答 the station at tcp://10.0.0.1:5571 does not answer; "
                           "正在重试 retrying");
    free(s);
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "connected_before", cJSON_CreateTrue());
    s = fmt(ev, false);
    assert_string_equal(s, "与服务站的连接断开，正在重连 lost the station, reconnecting");
    free(s);
    cJSON_Delete(ev);

    /* The hold of a claim running out. */
    ev = wk_event_new(WK_EV_LEASE_REMINDER);
    cJSON_AddNumberToObject(ev, "ticket", 42);
    cJSON_AddStringToObject(ev, "lease_until", "2026-11-29T08:20:01.123Z");
    cJSON_AddNumberToObject(ev, "seconds_left", 840);
    s = fmt(ev, false);
    assert_contains(s, "提醒 Reminder #42: 接单保留还剩 14 分钟 your claim is held for 14 more min");
    assert_contains(s, "(至 until 2026-11-29 ");
    assert_contains(s, "type: progress 42");
    free(s);
    cJSON_Delete(ev);

    /* A command added later without its own text still reads sensibly. */
    ev = wk_event_new("snooze");
    cJSON_AddNumberToObject(ev, "ticket", 5);
    s = fmt(ev, false);
    assert_string_equal(s, "snooze #5 OK");
    free(s);
    cJSON_Delete(ev);
}

static void test_lists(void **state)
{
    (void)state;
    cJSON *ev = wk_event_new(WK_EV_JOBS);
    cJSON *jobs = cJSON_AddArrayToObject(ev, "jobs");
    char *s = fmt(ev, false);
    assert_string_equal(s, "我的订单 My jobs: 无 none");
    free(s);
    cJSON *job = cJSON_Parse(OFFER);
    cJSON_AddStringToObject(job, "contact", "罗女士 13800000000");
    cJSON_AddItemToArray(jobs, job);
    s = fmt(ev, false);
    assert_string_equal(s, "我的订单 My jobs (1):\n  #42 [管道疏通 pipe] 市政小区 3栋 2-301 — "
                           "联系 罗女士 13800000000 — 厨房下水道堵了");
    free(s);
    s = fmt(ev, true);
    assert_contains(s, "{\"event\":\"jobs\",\"jobs\":[{\"ticket\":42,");
    free(s);
    cJSON_Delete(ev);

    ev = wk_event_new(WK_EV_OFFERS);
    cJSON *offers = cJSON_AddArrayToObject(ev, "offers");
    s = fmt(ev, false);
    assert_contains(s, "No open offers");
    free(s);
    cJSON_AddItemToArray(offers, cJSON_Parse(OFFER));
    s = fmt(ev, false);
    assert_contains(s, "新订单 Open offers (1):\n  #42 [管道疏通 pipe]");
    assert_contains(s, "— claim 42");
    free(s);
    cJSON_Delete(ev);

    ev = wk_event_new(WK_EV_CONNECTED);
    cJSON_AddStringToObject(ev, "volunteer", "v01");
    cJSON_AddArrayToObject(ev, "jobs");
    s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"connected\",\"volunteer\":\"v01\",\"jobs\":[]}");
    free(s);
    s = fmt(ev, false);
    assert_contains(s, "Connected as v01");
    assert_contains(s, "waiting for jobs");
    free(s);
    cJSON_Delete(ev);
}

static void test_errors(void **state)
{
    (void)state;
    bm_error_t err = {0};
    bm_error_set(&err, "taken", NULL, "request 42 was claimed by someone else");
    cJSON *ev = wk_event_error("claim", 42, &err);
    wk_event_set_id(ev, "r7");
    char *s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"error\",\"cmd\":\"claim\",\"ticket\":42,\"code\":"
                           "\"taken\",\"message\":\"request 42 was claimed by someone else\","
                           "\"id\":\"r7\"}");
    free(s);
    s = fmt(ev, false);
    assert_string_equal(s, "#42 已被他人接单 taken by someone else");
    free(s);
    cJSON_Delete(ev);

    bm_error_set(&err, "too_many_jobs", NULL, "you already hold 1 job");
    ev = wk_event_error("claim", 43, &err);
    s = fmt(ev, false);
    assert_string_equal(s, "出错 Error (claim #43): you already hold 1 job [too_many_jobs]");
    free(s);
    cJSON_Delete(ev);

    bm_error_set(&err, "bad_input", "ticket", "which job? type: claim N");
    ev = wk_event_error(NULL, 0, &err);
    s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"error\",\"code\":\"bad_input\",\"message\":"
                           "\"which job? type: claim N\",\"field\":\"ticket\"}");
    free(s);
    s = fmt(ev, false);
    assert_string_equal(s, "看不懂 Not understood: which job? type: claim N");
    free(s);
    cJSON_Delete(ev);
}

static void test_control_chars_cleaned(void **state)
{
    (void)state;
    /* A resident's text must not be able to drive the volunteer's terminal. */
    cJSON *body = cJSON_Parse(OFFER);
    cJSON_ReplaceItemInObject(body, "text", cJSON_CreateString("漏\x1b[2J水\n\xc2\x9b" "5m!"));
    cJSON *ev = wk_event_from(WK_EV_OFFER, body);
    char *s = fmt(ev, false);
    assert_null(strchr(s, '\x1b'));
    assert_null(strchr(s, '\n'));
    assert_null(strstr(s, "\xc2\x9b"));
    assert_contains(s, "漏 [2J水  5m!");
    free(s);
    s = fmt(ev, true);
    assert_contains(s, "\\u001b[2J"); /* JSON escapes it */
    free(s);
    cJSON_Delete(ev);
    cJSON_Delete(body);
}

static void test_help(void **state)
{
    (void)state;
    cJSON *ev = wk_event_new(WK_EV_HELP);
    cJSON *list = cJSON_AddArrayToObject(ev, "commands");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "usage", "claim N");
    cJSON *aliases = cJSON_AddArrayToObject(c, "aliases");
    cJSON_AddItemToArray(aliases, cJSON_CreateString("c"));
    cJSON_AddItemToArray(aliases, cJSON_CreateString("接单"));
    cJSON_AddStringToObject(c, "help", "接单 take job N");
    cJSON_AddStringToObject(c, "example", "接单 42");
    cJSON_AddItemToArray(list, c);
    c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "usage", "jobs");
    cJSON_AddStringToObject(c, "help", "我的订单");
    cJSON_AddItemToArray(list, c);
    cJSON *notes = cJSON_AddArrayToObject(ev, "notes");
    cJSON_AddItemToArray(notes, cJSON_CreateString("照片 Photos: @FILE"));
    char *s = fmt(ev, false);
    assert_string_equal(s, "命令 Commands:\n  claim N  (c, 接单)\n      接单 take job N\n"
                           "      例 e.g. 接单 42\n  jobs\n      我的订单\n照片 Photos: @FILE");
    free(s);
    cJSON_Delete(ev);
}

static void test_new_events(void **state)
{
    (void)state;
    /* progress: the reply's fields plus the photo count. */
    cJSON *body = cJSON_Parse("{\"ticket\":42,\"status\":\"claimed\","
                              "\"lease_until\":\"2026-11-29T08:20:01.123Z\"}");
    cJSON *ev = wk_event_from(WK_EV_PROGRESS, body);
    cJSON_AddNumberToObject(ev, "photos", 2);
    char *s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"progress\",\"ticket\":42,\"status\":\"claimed\","
                           "\"lease_until\":\"2026-11-29T08:20:01.123Z\",\"photos\":2}");
    free(s);
    s = fmt(ev, false);
    assert_contains(s, "已记录进展 Progress noted #42 — 接单保留延至 claim held until 2026-11-29 ");
    assert_contains(s, " — 2 张照片已存档 photo(s) archived");
    free(s);
    cJSON_Delete(ev);
    cJSON_Delete(body);

    ev = wk_event_new(WK_EV_DONE);
    cJSON_AddNumberToObject(ev, "ticket", 42);
    cJSON_AddNumberToObject(ev, "photos", 1);
    s = fmt(ev, false);
    assert_string_equal(s, "已完成 Done #42 — 谢谢 thank you! — 1 张照片已存档 photo(s) archived");
    free(s);
    cJSON_Delete(ev);

    ev = wk_event_new(WK_EV_DECLINED);
    cJSON_AddNumberToObject(ev, "ticket", 43);
    s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"declined\",\"ticket\":43}");
    free(s);
    s = fmt(ev, false);
    assert_contains(s, "已放弃 Declined #43");
    free(s);
    cJSON_Delete(ev);

    body = cJSON_Parse("{\"ticket\":42,\"status\":\"open\",\"attempts\":2}");
    ev = wk_event_from(WK_EV_CANTFIX, body);
    s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"cantfix\",\"ticket\":42,\"status\":\"open\",\"attempts\":2}");
    free(s);
    s = fmt(ev, false);
    assert_contains(s, "已退回 Handed back #42");
    assert_contains(s, "(attempts 2)");
    free(s);
    cJSON_Delete(ev);
    cJSON_Delete(body);

    ev = wk_event_new(WK_EV_ESCALATED);
    cJSON_AddNumberToObject(ev, "ticket", 42);
    cJSON_AddStringToObject(ev, "status", "escalated");
    cJSON_AddStringToObject(ev, "department", "water_company");
    s = fmt(ev, false);
    assert_contains(s, "已上报 Escalated #42 to water_company");
    free(s);
    cJSON_Delete(ev);

    /* revoked: each reason in words; an unknown one is shown as it came. */
    const char *reasons[][2] = {{"lease_expired", "接单保留已到期 your claim's hold ran out"},
                                {"cancelled", "办公室已取消 cancelled by the office"},
                                {"escalated", "办公室已上报 escalated by the office"},
                                {"new\x1bthing", "new thing"}};
    for (size_t i = 0; i < 4; i++) {
        ev = wk_event_new(WK_EV_REVOKED);
        cJSON_AddNumberToObject(ev, "ticket", 42);
        cJSON_AddStringToObject(ev, "reason", reasons[i][0]);
        s = fmt(ev, false);
        assert_contains(s, "任务已收回 Job #42 taken back: ");
        assert_contains(s, reasons[i][1]);
        free(s);
        cJSON_Delete(ev);
    }
    ev = wk_event_new(WK_EV_REVOKED);
    cJSON_AddNumberToObject(ev, "ticket", 42);
    cJSON_AddStringToObject(ev, "reason", "cancelled");
    s = fmt(ev, true);
    assert_string_equal(s, "{\"event\":\"revoked\",\"ticket\":42,\"reason\":\"cancelled\"}");
    free(s);
    cJSON_AddStringToObject(ev, "note", "居民已自行解决");
    s = fmt(ev, false);
    assert_string_equal(s, "任务已收回 Job #42 taken back: 办公室已取消 cancelled by the office — "
                           "原因 reason: 居民已自行解决");
    free(s);
    cJSON_Delete(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offer),  cmocka_unit_test(test_claimed),
        cmocka_unit_test(test_simple_events), cmocka_unit_test(test_lists),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_control_chars_cleaned),
        cmocka_unit_test(test_help), cmocka_unit_test(test_new_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
