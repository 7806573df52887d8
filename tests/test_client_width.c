/* test_client_width.c - the terminal-width helper (lib/width.c) and the
 * table built on it: Chinese characters take two columns, in both the
 * locale (wcwidth) mode and the fallback table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli.h"
#include "width.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

/* Switches to the wcwidth mode under C.UTF-8; returns false if the system
 * has no UTF-8 locale (the caller then skips). */
static bool locale_mode(void)
{
    if (!setlocale(LC_CTYPE, "C.UTF-8") && !setlocale(LC_CTYPE, "en_US.UTF-8"))
        return false;
    bm_width_set_mode(BM_WIDTH_LOCALE);
    return true;
}

static void fallback_mode(void)
{
    setlocale(LC_CTYPE, "C");
    bm_width_set_mode(BM_WIDTH_FALLBACK);
}

static char *cell(const char *s, size_t cols, int right)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    bm_put_cell(f, s, cols, right);
    fclose(f);
    return out;
}

/* The checks both modes must pass. */
static void check_widths(void)
{
    assert_int_equal(bm_width(""), 0);
    assert_int_equal(bm_width("abc"), 3);
    assert_int_equal(bm_width("袁建成"), 6);
    assert_int_equal(bm_width("市政小区 3栋 2-301"), 18);   /* 5 CJK + 8 ASCII */
    assert_int_equal(bm_width("疏通完毕，已试水"), 16);      /* fullwidth comma */
    assert_int_equal(bm_width("김"), 2);                     /* Hangul */
    assert_int_equal(bm_width("…"), 1);
    assert_int_equal(bm_width("a\tb\n"), 4);                 /* controls show as spaces */
    assert_int_equal(bm_width("\xc2\x85x"), 2);              /* C1 control: one space */
    assert_int_equal(bm_width("\xff\xfeok"), 4);             /* stray bytes: 1 each */
    assert_int_equal(bm_width("\xe5\xb8"), 2);               /* cut character: 1 a byte */
    assert_int_equal(bm_width_n("袁建成", 3), 2);            /* first character only */

    size_t used = 99;
    assert_int_equal(bm_width_fit("袁建成", 5, &used), 6);   /* two chars fit, not three */
    assert_int_equal(used, 4);
    assert_int_equal(bm_width_fit("袁建成", 1, &used), 0);
    assert_int_equal(used, 0);
    assert_int_equal(bm_width_fit("ab袁", 3, &used), 2);
    assert_int_equal(used, 2);
    assert_int_equal(bm_width_fit("ab袁", 10, NULL), strlen("ab袁"));

    char *c = cell("袁建成", 8, 0);
    assert_string_equal(c, "袁建成  ");
    free(c);
    c = cell("42", 5, 1);
    assert_string_equal(c, "   42");
    free(c);
    /* Too wide: cut at a character, "…" takes one column, padded to exactly 7. */
    c = cell("市政小区 3栋", 7, 0);
    assert_string_equal(c, "市政小…");
    assert_int_equal(bm_width(c), 7);
    free(c);
    c = cell("abcdefgh", 4, 0);
    assert_string_equal(c, "abc…");
    free(c);
    c = cell("a\nb", 3, 0);
    assert_string_equal(c, "a b");
    free(c);
    c = cell(NULL, 2, 0);
    assert_string_equal(c, "  ");
    free(c);
    c = cell("abc", 0, 0);
    assert_string_equal(c, "");
    free(c);
}

static void test_fallback(void **state)
{
    (void)state;
    fallback_mode();
    check_widths();
    /* The fallback's own choices: emoji wide, combining marks zero. */
    assert_int_equal(bm_width("\xf0\x9f\x98\x80"), 2);   /* U+1F600 */
    assert_int_equal(bm_width("e\xcc\x81"), 1);          /* e + U+0301 */
    assert_int_equal(bm_width("\xf0\xa0\x80\x80"), 2);   /* U+20000, CJK extension B */
}

static void test_locale(void **state)
{
    (void)state;
    if (!locale_mode())
        skip();
    check_widths();
    assert_int_equal(bm_width("e\xcc\x81"), 1); /* wcwidth: combining mark is 0 */
    fallback_mode();
}

static void test_init(void **state)
{
    (void)state;
    setenv("LC_ALL", "C", 1);
    assert_int_equal(bm_width_init(), BM_WIDTH_FALLBACK);
    assert_int_equal(bm_width("袁建成"), 6); /* still two columns a character */
    setenv("LC_ALL", "C.UTF-8", 1);
    if (setlocale(LC_CTYPE, "C.UTF-8")) {
        assert_int_equal(bm_width_init(), BM_WIDTH_LOCALE);
        assert_int_equal(bm_width("袁建成"), 6);
    }
    unsetenv("LC_ALL");
    fallback_mode();
}

static void test_table(void **state)
{
    (void)state;
    static const cli_column_t cols[] = {
        {"no", 0, true}, {"名字", 0, false}, {"地址", 6, false}, {"", 0, false}};
    cli_table_t *t = cli_table_new(cols, 4);
    assert_non_null(t);
    const char *r1[] = {"7", "袁建成", "3栋", "超时"};
    const char *r2[] = {"123", "Li", "市政小区 3栋", NULL};
    assert_int_equal(cli_table_add(t, r1), 0);
    assert_int_equal(cli_table_add(t, r2), 0);
    assert_int_equal(cli_table_rows(t), 2);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    cli_table_print(t, f);
    fclose(f);
    cli_table_destroy(&t);
    assert_null(t);
    assert_string_equal(out,
                        " no  名字    地址\n"
                        "  7  袁建成  3栋     超时\n"
                        "123  Li      市政…\n");
    free(out);
    cli_table_destroy(&t); /* NULL is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_locale),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
