/* test_demo_csv.c - unit tests for demo/csv.c: the 311 date format, the
 * category mapping, every rejection reason on rows like the dirty ones of
 * the real sample, loading a whole file with counts, sorting, and the
 * replay schedule with quiet stretches cut. */
#include "csv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- dates ----------------------------------------------------------------- */

static void test_date_valid(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_int_equal(demo_parse_date("01/01/1970 12:00:00 AM", &t), 0);
    assert_int_equal(t, 0); /* 12 AM is midnight */
    assert_int_equal(demo_parse_date("01/01/1970 12:00:00 PM", &t), 0);
    assert_int_equal(t, 12 * 3600); /* 12 PM is noon */
    assert_int_equal(demo_parse_date("01/01/1970 01:02:03 PM", &t), 0);
    assert_int_equal(t, 13 * 3600 + 2 * 60 + 3);
    /* 2020-01-01 00:00:00 UTC is 1577836800 */
    assert_int_equal(demo_parse_date("01/01/2020 12:00:00 AM", &t), 0);
    assert_int_equal(t, 1577836800);
    assert_int_equal(demo_parse_date("01/01/2020 10:18:47 AM", &t), 0);
    assert_int_equal(t, 1577836800 + 10 * 3600 + 18 * 60 + 47);
    /* leap day */
    assert_int_equal(demo_parse_date("02/29/2020 11:59:59 PM", &t), 0);
    assert_int_equal(t, 1577836800 + (31 + 28) * 86400 + 86399);
    assert_int_equal(demo_parse_date("03/01/2020 12:00:00 AM", &t), 0);
    assert_int_equal(t, 1577836800 + (31 + 29) * 86400);
}

static void test_date_invalid(void **state)
{
    (void)state;
    int64_t t = 42;
    const char *bad[] = {
        "",
        "01/01/2020",                 /* no time */
        "01/01/2020 10:18:47",        /* no AM/PM */
        "01/01/2020 10:18:47 XM",
        "01/01/2020 10:18:47 AM ",    /* trailing blank */
        "1/01/2020 10:18:47 AM",      /* one-digit month */
        "13/01/2020 10:18:47 AM",     /* month 13 */
        "00/10/2020 10:18:47 AM",
        "02/30/2020 10:18:47 AM",     /* 30 February */
        "02/29/2019 10:18:47 AM",     /* not a leap year */
        "04/31/2020 10:18:47 AM",
        "01/01/2020 00:18:47 AM",     /* hour 0 on a 12-hour clock */
        "01/01/2020 13:18:47 PM",
        "01/01/2020 10:60:47 AM",
        "01/01/2020 10:18:60 AM",
        "01/01/20x0 10:18:47 AM",
        "Queens and Brooklyn",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (demo_parse_date(bad[i], &t) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(t, 42); /* untouched on failure */
}

/* ---- one line ---------------------------------------------------------------- */

static void test_category_map(void **state)
{
    (void)state;
    assert_string_equal(demo_category_for("PLUMBING"), "pipe");
    assert_string_equal(demo_category_for("General Construction/Plumbing"), "pipe");
    assert_string_equal(demo_category_for("Sewer"), "pipe");
    assert_string_equal(demo_category_for("WATER LEAK"), "leak");
    assert_string_equal(demo_category_for("Water System"), "leak");
    assert_string_equal(demo_category_for("DOOR/WINDOW"), "lock");
    assert_string_equal(demo_category_for("ELECTRIC"), "repair");
    assert_string_equal(demo_category_for("HEAT/HOT WATER"), "repair");
    assert_null(demo_category_for("Noise - Residential"));
    assert_null(demo_category_for("plumbing")); /* exact, as in the data */
    assert_null(demo_category_for(""));
}

static void test_line_accepted(void **state)
{
    (void)state;
    demo_row_t r;
    assert_int_equal(demo_parse_line("45284853,01/01/2020 08:15:20 PM,01/02/2020 01:24:28 PM,"
                                     "PLUMBING,BRONX",
                                     false, &r),
                     DEMO_ROW_OK);
    assert_int_equal(r.key, 45284853);
    assert_string_equal(r.category, "pipe");
    assert_string_equal(r.borough, "BRONX");
    /* 20:15:20 to 13:24:28 the next day */
    assert_int_equal(r.closed - r.created, 86400 - (20 * 3600 + 15 * 60 + 20) + 13 * 3600 + 24 * 60 + 28);

    /* a trailing CR (a file saved on Windows) is ignored */
    assert_int_equal(demo_parse_line("1,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,"
                                     "DOOR/WINDOW,STATEN ISLAND\r\n",
                                     false, &r),
                     DEMO_ROW_OK);
    assert_string_equal(r.borough, "STATEN ISLAND");
    assert_string_equal(r.category, "lock");

    /* quoted fields, with "" inside */
    assert_int_equal(demo_parse_line("2,\"01/01/2020 08:00:00 AM\",01/01/2020 09:00:00 AM,"
                                     "\"WATER LEAK\",\"QUEENS\"",
                                     false, &r),
                     DEMO_ROW_OK);
    assert_string_equal(r.category, "leak");
    assert_string_equal(r.borough, "QUEENS");
}

static void test_line_borough_forms(void **state)
{
    (void)state;
    demo_row_t r;
    const char *head = "3,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,ELECTRIC,";
    char line[256];
    static const struct {
        const char *field, *borough;
    } cases[] = {
        {"12 BROOKLYN", "BROOKLYN"},        /* community board */
        {"Unspecified QUEENS", "QUEENS"},
        {"1015840017", "MANHATTAN"},        /* a BBL: 1 Manhattan */
        {"2045500021", "BRONX"},
        {"3012180009", "BROOKLYN"},
        {"4033220156", "QUEENS"},
        {"5005630140", "STATEN ISLAND"},
        {"0000000000", ""},                 /* no borough, still a good row */
        {"Unspecified", ""},
        {"0 Unspecified", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, "%s%s", head, cases[i].field);
        assert_int_equal(demo_parse_line(line, false, &r), DEMO_ROW_OK);
        assert_string_equal(r.borough, cases[i].borough);
    }
}

static void test_line_rejected(void **state)
{
    (void)state;
    demo_row_t r;
    static const struct {
        const char *line;
        demo_reason_t why;
    } cases[] = {
        /* from the sample: a sentence split by a comma moves the columns */
        {"47362273,08/25/2020 11:15:00 AM,08/27/2020 12:00:00 PM,\" Queens and Brooklyn\"\"\","
         "08/27/2020 12:00:00 PM",
         DEMO_ROW_SHIFTED},
        {"46607380,06/23/2020 08:46:15 AM,08/03/2020 02:35:35 PM,Street Sign - Missing,"
         "08/03/2020 06:35:51 PM",
         DEMO_ROW_SHIFTED},
        {"45310338,01/04/2020 04:04:00 PM,01/04/2020 09:55:00 PM,Sewer, or another issue.\"",
         DEMO_ROW_COLUMNS}, /* a stray quote in an unquoted field */
        {"45310338,01/04/2020 04:04:00 PM,01/04/2020 09:55:00 PM,Sewer,\" or another issue.\"",
         DEMO_ROW_SHIFTED},
        {"45300278,01/03/2020 11:27:00 AM,01/06/2020 04:00:00 PM,PLUMBING,\"please call "
         "(212) NEW-YORK.\"",
         DEMO_ROW_SHIFTED},
        {"1,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,01/01/2020 09:00:00 AM,BRONX",
         DEMO_ROW_SHIFTED},
        {"1,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,,BRONX", DEMO_ROW_SHIFTED},
        /* zero and negative durations */
        {"45285427,01/01/2020 04:48:00 PM,01/01/2020 04:48:00 PM,Water System,BROOKLYN",
         DEMO_ROW_DURATION},
        {"9,01/02/2020 04:48:00 PM,01/01/2020 04:48:00 PM,PLUMBING,BROOKLYN", DEMO_ROW_DURATION},
        /* wrong field counts */
        {"1,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING", DEMO_ROW_COLUMNS},
        {"1,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX,extra",
         DEMO_ROW_COLUMNS},
        {"1,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX,,,,,,,,,",
         DEMO_ROW_COLUMNS},
        {"just some text", DEMO_ROW_COLUMNS},
        {"1,\"01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX", DEMO_ROW_COLUMNS},
        {"1,\"01/01/2020 08:00:00 AM\"x,01/01/2020 09:00:00 AM,PLUMBING,BRONX",
         DEMO_ROW_COLUMNS},
        /* keys */
        {"abc,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX", DEMO_ROW_KEY},
        {"-5,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX", DEMO_ROW_KEY},
        {"0,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX", DEMO_ROW_KEY},
        {",01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX", DEMO_ROW_KEY},
        {"99999999999999999999,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,PLUMBING,BRONX",
         DEMO_ROW_KEY},
        /* dates */
        {"1,2020-01-01 08:00,01/01/2020 09:00:00 AM,PLUMBING,BRONX", DEMO_ROW_DATE},
        {"1,01/01/2020 08:00:00 AM,,PLUMBING,BRONX", DEMO_ROW_DATE},
        {"1,01/01/2020 08:00:00 AM,02/30/2020 09:00:00 AM,PLUMBING,BRONX", DEMO_ROW_DATE},
        /* not a station job */
        {"1,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,Noise - Residential,BRONX",
         DEMO_ROW_NOT_STATION},
        {"", DEMO_ROW_BLANK},
        {"\r\n", DEMO_ROW_BLANK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        demo_reason_t got = demo_parse_line(cases[i].line, false, &r);
        if (got != cases[i].why)
            fail_msg("line %zu \"%s\": got %s, want %s", i, cases[i].line, demo_reason_name(got),
                     demo_reason_name(cases[i].why));
    }
}

static void test_line_too_long(void **state)
{
    (void)state;
    char *line = malloc(DEMO_MAX_LINE + 100);
    assert_non_null(line);
    memset(line, 'x', DEMO_MAX_LINE + 99);
    line[DEMO_MAX_LINE + 99] = '\0';
    demo_row_t r;
    assert_int_equal(demo_parse_line(line, false, &r), DEMO_ROW_TOO_LONG);
    /* a field longer than any real one, in a line under the limit */
    memcpy(line, "1,", 2);
    line[1000] = '\0';
    assert_int_equal(demo_parse_line(line, false, &r), DEMO_ROW_COLUMNS);
    free(line);
}

static void test_line_other_flag(void **state)
{
    (void)state;
    demo_row_t r;
    const char *noise = "7,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,Noise - Residential,BRONX";
    assert_int_equal(demo_parse_line(noise, false, &r), DEMO_ROW_NOT_STATION);
    assert_int_equal(demo_parse_line(noise, true, &r), DEMO_ROW_OK);
    assert_string_equal(r.category, "other");
    /* parentheses are normal in a complaint type */
    assert_int_equal(demo_parse_line("8,01/01/2020 08:00:00 AM,01/01/2020 09:00:00 AM,"
                                     "Missed Collection (All Materials),QUEENS",
                                     true, &r),
                     DEMO_ROW_OK);
    /* --other does not let dirty rows through */
    assert_int_equal(demo_parse_line("7,01/01/2020 08:00:00 AM,01/01/2020 08:00:00 AM,Noise,BRONX",
                                     true, &r),
                     DEMO_ROW_DURATION);
}

/* ---- a whole file --------------------------------------------------------------- */

static const char sample[] =
    "45285260,01/01/2020 12:09:39 AM,01/06/2020 05:06:32 PM,PLUMBING,1022150326\n"
    "45284853,01/01/2020 08:15:20 PM,01/02/2020 01:24:28 PM,PLUMBING,BRONX\n"
    "45285427,01/01/2020 04:48:00 PM,01/01/2020 04:48:00 PM,Water System,BROOKLYN\n"
    "46920293,07/20/2020 10:51:12 AM,09/05/2020 12:32:48 PM,Damaged Tree,BROOKLYN\n"
    "47362273,08/25/2020 11:15:00 AM,08/27/2020 12:00:00 PM,\" Queens and Brooklyn\"\"\","
    "08/27/2020 12:00:00 PM\n"
    "45285418,01/01/2020 11:26:00 AM,01/01/2020 01:15:00 PM,Sewer,4066380043\n"
    "\n"
    "oops\n"
    "45285902,01/01/2020 11:35:00 AM,01/05/2020 08:55:00 AM,Water System,4054160049"; /* no final newline */

static FILE *open_text(const char *text, size_t len)
{
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    return f;
}

static void test_load_counts(void **state)
{
    (void)state;
    FILE *f = open_text(sample, sizeof sample - 1);
    demo_rows_t rows;
    assert_int_equal(demo_rows_load(f, false, &rows), 0);
    fclose(f);
    assert_int_equal(rows.lines, 9);
    assert_int_equal(rows.n, 4);
    assert_int_equal(rows.count[DEMO_ROW_OK], 4);
    assert_int_equal(rows.count[DEMO_ROW_DURATION], 1);
    assert_int_equal(rows.count[DEMO_ROW_NOT_STATION], 1);
    assert_int_equal(rows.count[DEMO_ROW_SHIFTED], 1);
    assert_int_equal(rows.count[DEMO_ROW_BLANK], 1);
    assert_int_equal(rows.count[DEMO_ROW_COLUMNS], 1);
    size_t sum = 0;
    for (int k = 0; k < DEMO_ROW__COUNT; k++)
        sum += rows.count[k];
    assert_int_equal(sum, rows.lines); /* every line is counted exactly once */
    /* file order until sorted */
    assert_int_equal(rows.rows[0].key, 45285260);
    assert_int_equal(rows.rows[3].key, 45285902);
    assert_string_equal(rows.rows[3].borough, "QUEENS");

    demo_rows_sort(&rows);
    assert_int_equal(rows.rows[0].key, 45285260); /* 00:09 */
    assert_int_equal(rows.rows[1].key, 45285418); /* 11:26 */
    assert_int_equal(rows.rows[2].key, 45285902); /* 11:35 */
    assert_int_equal(rows.rows[3].key, 45284853); /* 20:15 */
    for (size_t i = 1; i < rows.n; i++)
        assert_true(rows.rows[i - 1].created <= rows.rows[i].created);
    demo_rows_free(&rows);
    assert_null(rows.rows);
    assert_int_equal(rows.n, 0);
}

static void test_load_other(void **state)
{
    (void)state;
    FILE *f = open_text(sample, sizeof sample - 1);
    demo_rows_t rows;
    assert_int_equal(demo_rows_load(f, true, &rows), 0);
    fclose(f);
    assert_int_equal(rows.n, 5);
    assert_int_equal(rows.count[DEMO_ROW_NOT_STATION], 0);
    demo_rows_free(&rows);
}

static void test_load_garbage(void **state)
{
    (void)state;
    /* binary junk, NUL bytes, lone quotes, huge lines: counted, never fatal */
    size_t len = 3 * DEMO_MAX_LINE;
    char *junk = malloc(len);
    assert_non_null(junk);
    for (size_t i = 0; i < len; i++)
        junk[i] = (char)((i * 7919u + 13u) % 256u);
    junk[100] = '\n';
    junk[200] = '"';
    junk[300] = '\0';
    junk[400] = '\n';
    FILE *f = open_text(junk, len);
    demo_rows_t rows;
    assert_int_equal(demo_rows_load(f, true, &rows), 0);
    fclose(f);
    assert_int_equal(rows.n, 0);
    size_t sum = 0;
    for (int k = 0; k < DEMO_ROW__COUNT; k++)
        sum += rows.count[k];
    assert_int_equal(sum, rows.lines);
    assert_true(rows.lines >= 3);
    demo_rows_free(&rows);
    free(junk);
}

static void test_load_empty(void **state)
{
    (void)state;
    FILE *f = open_text("\n", 1);
    demo_rows_t rows;
    assert_int_equal(demo_rows_load(f, false, &rows), 0);
    fclose(f);
    assert_int_equal(rows.n, 0);
    assert_int_equal(rows.lines, 1);
    demo_rows_free(&rows);
    demo_rows_free(NULL);
}

/* ---- the schedule --------------------------------------------------------------- */

static void test_schedule(void **state)
{
    (void)state;
    demo_row_t rows[5] = {
        {.created = 1000}, {.created = 1010}, {.created = 1010}, {.created = 100000},
        {.created = 100060},
    };
    int64_t off[5];
    /* the 98990 s gap is cut to 3600 */
    assert_int_equal(demo_schedule(rows, 5, 3600, off), 10 + 0 + 3600 + 60);
    assert_int_equal(off[0], 0);
    assert_int_equal(off[1], 10);
    assert_int_equal(off[2], 10);
    assert_int_equal(off[3], 3610);
    assert_int_equal(off[4], 3670);
    /* no cap */
    assert_int_equal(demo_schedule(rows, 5, 0, off), 99060);
    assert_int_equal(demo_schedule(rows, 0, 3600, off), 0);
    assert_int_equal(demo_schedule(rows, 1, 3600, off), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_valid),
        cmocka_unit_test(test_date_invalid),
        cmocka_unit_test(test_category_map),
        cmocka_unit_test(test_line_accepted),
        cmocka_unit_test(test_line_borough_forms),
        cmocka_unit_test(test_line_rejected),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_line_other_flag),
        cmocka_unit_test(test_load_counts),
        cmocka_unit_test(test_load_other),
        cmocka_unit_test(test_load_garbage),
        cmocka_unit_test(test_load_empty),
        cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
