/* test_demo_text.c - unit tests for demo/text.c and demo/progress.c: the
 * deterministic channel and building of a row, valid UTF-8 within the
 * protocol's limits, and the progress line. */
#include "progress.h"
#include "protocol.h"
#include "text.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_channel_by_key(void **state)
{
    (void)state;
    assert_string_equal(demo_channel_for(0), "building_leader");
    assert_string_equal(demo_channel_for(45284853), "council"); /* mod 4 == 1 */
    assert_string_equal(demo_channel_for(45285262), "forum");   /* mod 4 == 2 */
    assert_string_equal(demo_channel_for(45285263), "office");  /* mod 4 == 3 */
    assert_string_equal(demo_channel_for(45285264), "building_leader");
}

static void test_building_and_contact(void **state)
{
    (void)state;
    char a[128], b[128];
    demo_building("BROOKLYN", 45284853, a, sizeof a);
    demo_building("BROOKLYN", 45284853, b, sizeof b);
    assert_string_equal(a, b); /* deterministic */
    assert_non_null(strstr(a, "朝阳小区 "));
    assert_non_null(strstr(a, "栋"));
    demo_building("", 45284853, a, sizeof a);
    assert_non_null(strstr(a, "新村小区 "));
    demo_building(NULL, 1, a, sizeof a);
    assert_string_equal(a, "新村小区 2栋");
    /* every output is valid UTF-8 within the submit limits, even when cut short */
    char small[8];
    demo_building("QUEENS", 99, small, sizeof small);
    int64_t keys[] = {1, 7, 45284853, 47406489, 999999999999LL};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char unit[32], contact[64], text[512];
        demo_building("MANHATTAN", keys[i], a, sizeof a);
        demo_unit(keys[i], unit, sizeof unit);
        demo_contact(keys[i], contact, sizeof contact);
        assert_true(bm_utf8_valid(a, strlen(a)) && strlen(a) <= BM_MAX_BUILDING);
        assert_true(bm_utf8_valid(unit, strlen(unit)) && strlen(unit) <= BM_MAX_UNIT);
        assert_true(bm_utf8_valid(contact, strlen(contact)) && strlen(contact) <= BM_MAX_CONTACT);
        assert_non_null(strstr(contact, " 138"));
        static const char *const cats[] = {"pipe", "leak", "lock", "repair", "other"};
        for (size_t k = 0; k < 5; k++) {
            demo_request_text(cats[k], keys[i], text, sizeof text);
            assert_true(strlen(text) > 10 && strlen(text) <= BM_MAX_TEXT);
            assert_true(bm_utf8_valid(text, strlen(text)));
            assert_true(strlen(demo_department_for(cats[k])) <= BM_MAX_DEPARTMENT);
        }
    }
    assert_string_equal(demo_department_for("leak"), "water_company");
    assert_string_equal(demo_department_for("repair"), "power_company");
}

static void test_ratings_comments(void **state)
{
    (void)state;
    for (int s = 1; s <= 5; s++) {
        for (uint64_t p = 0; p < 7; p++) {
            const char *c = demo_rating_comment(s, p);
            assert_non_null(c);
            assert_true(bm_utf8_valid(c, strlen(c)) && strlen(c) <= BM_MAX_COMMENT);
        }
    }
    char name[64];
    demo_volunteer_name(0, name, sizeof name);
    assert_string_equal(name, "袁建成");
    demo_volunteer_name(12, name, sizeof name);
    assert_string_equal(name, "袁建成2");
}

static void test_duration_format(void **state)
{
    (void)state;
    char buf[16];
    demo_format_duration(0, buf, sizeof buf);
    assert_string_equal(buf, "0:00");
    demo_format_duration(65.4, buf, sizeof buf);
    assert_string_equal(buf, "1:05");
    demo_format_duration(3600 * 12 + 3, buf, sizeof buf);
    assert_string_equal(buf, "12:00:03");
    demo_format_duration(-1, buf, sizeof buf);
    assert_string_equal(buf, "--:--");
}

static void test_progress_line(void **state)
{
    (void)state;
    char line[256];
    demo_progress_t p = {.total = 100, .submitted = 50, .done = 10, .ended = 0, .working = 7,
                         .elapsed_s = 30, .rate = 0.3, .eta_s = 90};
    demo_progress_format(&p, 10, line, sizeof line);
    /* half submitted, nothing ended: a quarter of the way */
    assert_string_equal(line, "[##--------]  25%  submitted 50/100  done 10  working 7  0.3/s  "
                              "elapsed 0:30  ETA 1:30");
    p.submitted = 100;
    p.ended = 100;
    p.eta_s = -1;
    demo_progress_format(&p, 0, line, sizeof line);
    assert_true(strncmp(line, "100%", 4) == 0);
    assert_non_null(strstr(line, "ETA --:--"));
    /* nothing to do is not a division by zero */
    demo_progress_t z = {0};
    demo_progress_format(&z, 4, line, sizeof line);
    assert_true(strncmp(line, "[----]   0%", 11) == 0);
    /* a short buffer is cut, not overrun */
    char tiny[8];
    demo_progress_format(&p, 40, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_by_key),
        cmocka_unit_test(test_building_and_contact),
        cmocka_unit_test(test_ratings_comments),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_progress_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
