/* test_width.c - wrapping text to a terminal's width (lib/width.c,
 * bm_width_wrap): no line wider than asked, breaks at spaces or beside
 * Chinese characters, never before closing punctuation, continuation lines
 * indented, existing lines kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "width.h"

#include <stdlib.h>
#include <string.h>

/* Every line of s is at most cols wide; returns the number of lines. */
static int check_lines(const char *s, size_t cols)
{
    int n = 0;
    for (const char *p = s;; n++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (bm_width_n(p, len) > cols)
            fail_msg("line \"%.*s\" is %zu columns; the limit is %zu", (int)len, p,
                     bm_width_n(p, len), cols);
        if (!nl)
            return n + 1;
        p = nl + 1;
    }
}

static void test_words(void **state)
{
    (void)state;
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    char *s = bm_width_wrap("lost the station, reconnecting now", 16, 2);
    assert_string_equal(s, "lost the\n  station,\n  reconnecting\n  now");
    assert_int_equal(check_lines(s, 16), 4);
    free(s);
    /* Short text and existing newlines are kept as they are. */
    s = bm_width_wrap("a b\n  c d", 16, 2);
    assert_string_equal(s, "a b\n  c d");
    free(s);
    /* A word longer than the line is cut inside. */
    s = bm_width_wrap("ipc:///tmp/a-very-long-socket-path.sock", 16, 2);
    assert_int_equal(check_lines(s, 16), 3);
    assert_string_equal(s, "ipc:///tmp/a-ver\n  y-long-socket-\n  path.sock");
    free(s);
}

static void test_chinese(void **state)
{
    (void)state;
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    /* Between two Chinese characters is a place to break. */
    char *s = bm_width_wrap("新订单 New job #42: 厨房下水道堵了，水漫到客厅", 20, 2);
    assert_int_equal(check_lines(s, 20), 3);
    assert_string_equal(s, "新订单 New job #42:\n  厨房下水道堵了，水\n  漫到客厅");
    free(s);
    /* Never at the start of a line: a closing mark stays with its word. */
    s = bm_width_wrap("上报 needs (e.g. 自来水公司): job N", 22, 2);
    assert_int_equal(check_lines(s, 22), 2);
    assert_null(strstr(s, "\n  )"));
    free(s);
    /* Continuation lines start with the line's own indent plus 2. */
    s = bm_width_wrap("    例 e.g. 完成 42 疏通完毕 @before:/sdcard/a.jpg", 30, 2);
    assert_int_equal(check_lines(s, 30), 2);
    assert_non_null(strstr(s, "\n      @before:"));
    free(s);
}

static void test_narrow_and_odd(void **state)
{
    (void)state;
    bm_width_set_mode(BM_WIDTH_FALLBACK);
    /* A width under 8 is taken as 8; an indent over half the width is capped. */
    char *s = bm_width_wrap("一二三四五六七八九十", 3, 20);
    assert_int_equal(check_lines(s, 8), 4);
    free(s);
    s = bm_width_wrap("", 40, 2);
    assert_string_equal(s, "");
    free(s);
    /* Bytes that are not UTF-8 and control characters take one column each. */
    s = bm_width_wrap("\xff\xfe abc\x1b[2J def", 8, 0);
    assert_int_equal(check_lines(s, 8), 3);
    assert_null(strchr(s, '\x1b'));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_chinese),
        cmocka_unit_test(test_narrow_and_odd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
