/* test_jsonx.c - unit tests for lib/jsonx.c: validated reads of a peer's JSON
 * fields and the small writers. */
#include "jsonx.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static cJSON *parse(const char *text)
{
    cJSON *obj = cJSON_Parse(text);
    assert_non_null(obj);
    return obj;
}

/* Checks err after a failed read: code, field and that the message names the key. */
static void assert_err(const bm_error_t *err, const char *code, const char *key)
{
    assert_non_null(err->code);
    assert_string_equal(err->code, code);
    assert_string_equal(err->field, key);
    assert_non_null(strstr(err->message, key));
}

/* ---- bm_json_str ---------------------------------------------------------- */

static void test_str_present(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"building\": \"市政小区 3栋\", \"unit\": \"2-301\"}");
    bm_error_t err = {0};
    const char *s = NULL;
    assert_int_equal(bm_json_str(obj, "building", true, BM_MAX_BUILDING, &s, &err), 0);
    assert_string_equal(s, "市政小区 3栋");
    /* Points into obj, not a copy. */
    assert_ptr_equal(s, cJSON_GetObjectItemCaseSensitive(obj, "building")->valuestring);
    assert_int_equal(bm_json_str(obj, "unit", false, BM_MAX_UNIT, &s, &err), 0);
    assert_string_equal(s, "2-301");
    assert_null(err.code);
    cJSON_Delete(obj);
}

static void test_str_absent_and_null(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"unit\": null, \"x\": \"y\"}");
    bm_error_t err = {0};
    const char *s = "sentinel";
    /* Optional: absent or null is fine and gives NULL. */
    assert_int_equal(bm_json_str(obj, "unit", false, 64, &s, &err), 0);
    assert_null(s);
    s = "sentinel";
    assert_int_equal(bm_json_str(obj, "ref", false, 64, &s, &err), 0);
    assert_null(s);
    assert_null(err.code);
    /* Required: both are errors naming the field. */
    assert_int_equal(bm_json_str(obj, "unit", true, 64, &s, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "unit");
    assert_null(s);
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_json_str(obj, "building", true, 64, &s, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "building");
    /* Keys are case-sensitive. */
    assert_int_equal(bm_json_str(obj, "X", true, 64, &s, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "X");
    cJSON_Delete(obj);
}

static void test_str_wrong_type(void **state)
{
    (void)state;
    const char *cases[] = {"{\"k\": 5}", "{\"k\": true}", "{\"k\": [\"a\"]}", "{\"k\": {}}",
                           "{\"k\": 1.5}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *obj = parse(cases[i]);
        bm_error_t err = {0};
        const char *s = "sentinel";
        assert_int_equal(bm_json_str(obj, "k", false, 64, &s, &err), -1);
        assert_err(&err, BM_ERR_INVALID, "k");
        assert_non_null(strstr(err.message, "string"));
        assert_null(s);
        cJSON_Delete(obj);
    }
}

static void test_str_too_long(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"a\": \"0123456789\", \"zh\": \"市政小区\"}");
    bm_error_t err = {0};
    const char *s = NULL;
    /* The limit is inclusive and counts bytes, not characters. */
    assert_int_equal(bm_json_str(obj, "a", true, 10, &s, &err), 0);
    assert_int_equal(bm_json_str(obj, "a", true, 9, &s, &err), -1);
    assert_err(&err, BM_ERR_TOO_LARGE, "a");
    assert_null(s);
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_json_str(obj, "zh", false, 12, &s, &err), 0);
    assert_int_equal(bm_json_str(obj, "zh", false, 11, &s, &err), -1);
    assert_err(&err, BM_ERR_TOO_LARGE, "zh");
    assert_non_null(strstr(err.message, "12"));
    assert_non_null(strstr(err.message, "11"));
    cJSON_Delete(obj);

    /* A text at the protocol limit and one byte over. */
    char *big = malloc(BM_MAX_TEXT + 2);
    assert_non_null(big);
    memset(big, 'x', BM_MAX_TEXT + 1);
    big[BM_MAX_TEXT + 1] = '\0';
    obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "over", big);
    big[BM_MAX_TEXT] = '\0';
    cJSON_AddStringToObject(obj, "at", big);
    free(big);
    assert_int_equal(bm_json_str(obj, "at", true, BM_MAX_TEXT, &s, &err), 0);
    assert_int_equal(strlen(s), BM_MAX_TEXT);
    assert_int_equal(bm_json_str(obj, "over", true, BM_MAX_TEXT, &s, &err), -1);
    assert_err(&err, BM_ERR_TOO_LARGE, "over");
    cJSON_Delete(obj);
}

static void test_str_invalid_utf8(void **state)
{
    (void)state;
    /* cJSON does not check raw bytes, so build the values directly. */
    const char *bad[] = {"\xC0\x80", "ab\xFF", "\xED\xA0\x80", "市\xE5\xB8", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "text", bad[i]);
        bm_error_t err = {0};
        const char *s = "sentinel";
        assert_int_equal(bm_json_str(obj, "text", false, 100, &s, &err), -1);
        assert_err(&err, BM_ERR_INVALID, "text");
        assert_non_null(strstr(err.message, "UTF-8"));
        assert_null(s);
        cJSON_Delete(obj);
    }
    /* A 4-byte character is fine. */
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "text", "漏水了 \xF0\x9F\x92\xA7");
    bm_error_t err = {0};
    const char *s = NULL;
    assert_int_equal(bm_json_str(obj, "text", true, 100, &s, &err), 0);
    cJSON_Delete(obj);
}

static void test_str_blank(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"e\": \"\", \"w\": \" \\t\\n \", \"ok\": \" a \"}");
    bm_error_t err = {0};
    const char *s = NULL;
    /* Required strings must not be blank... */
    assert_int_equal(bm_json_str(obj, "e", true, 64, &s, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "e");
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_json_str(obj, "w", true, 64, &s, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "w");
    assert_null(s);
    /* ...optional ones may be. */
    assert_int_equal(bm_json_str(obj, "e", false, 64, &s, &err), 0);
    assert_string_equal(s, "");
    assert_int_equal(bm_json_str(obj, "ok", true, 64, &s, &err), 0);
    assert_string_equal(s, " a ");
    cJSON_Delete(obj);
}

static void test_str_null_err_is_allowed(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"k\": 5}");
    const char *s = NULL;
    assert_int_equal(bm_json_str(obj, "k", true, 64, &s, NULL), -1);
    assert_int_equal(bm_json_str(obj, "missing", true, 64, &s, NULL), -1);
    cJSON_Delete(obj);
}

/* ---- bm_json_int ---------------------------------------------------------- */

static void test_int_ok_and_bounds(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"t\": 42, \"lo\": 1, \"hi\": 20, \"neg\": -5, \"zero\": 0, "
                       "\"e\": 1e3, \"f\": 7.0, \"big\": 4102444799999}");
    bm_error_t err = {0};
    int64_t v = -1;
    assert_int_equal(bm_json_int(obj, "t", true, 1, 100, &v, &err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(bm_json_int(obj, "lo", true, 1, 20, &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(bm_json_int(obj, "hi", true, 1, 20, &v, &err), 0);
    assert_int_equal(v, 20);
    assert_int_equal(bm_json_int(obj, "neg", true, -10, 10, &v, &err), 0);
    assert_int_equal(v, -5);
    assert_int_equal(bm_json_int(obj, "zero", true, 0, 0, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(bm_json_int(obj, "e", true, 0, 5000, &v, &err), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(bm_json_int(obj, "f", true, 0, 10, &v, &err), 0);
    assert_int_equal(v, 7);
    /* Millisecond timestamps need more than 32 bits. */
    assert_int_equal(bm_json_int(obj, "big", true, 0, INT64_MAX, &v, &err), 0);
    assert_true(v == 4102444799999LL);
    assert_null(err.code);

    /* Just outside either end. */
    v = 555;
    assert_int_equal(bm_json_int(obj, "lo", true, 2, 20, &v, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "lo");
    assert_non_null(strstr(err.message, "2 to 20"));
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_json_int(obj, "hi", true, 1, 19, &v, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "hi");
    assert_int_equal(bm_json_int(obj, "neg", true, 0, 10, &v, &err), -1);
    /* A failed read leaves *out alone. */
    assert_int_equal(v, 555);
    cJSON_Delete(obj);
}

static void test_int_wrong_type(void **state)
{
    (void)state;
    const char *cases[] = {"{\"k\": 1.5}", "{\"k\": -0.25}", "{\"k\": \"5\"}", "{\"k\": true}",
                           "{\"k\": [1]}", "{\"k\": {}}", "{\"k\": 1e300}", "{\"k\": -1e300}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *obj = parse(cases[i]);
        bm_error_t err = {0};
        int64_t v = 99;
        if (bm_json_int(obj, "k", false, -1000, 1000, &v, &err) != -1)
            fail_msg("%s was accepted as %lld", cases[i], (long long)v);
        assert_err(&err, BM_ERR_INVALID, "k");
        assert_non_null(strstr(err.message, "integer"));
        assert_int_equal(v, 99);
        cJSON_Delete(obj);
    }
    /* Not-a-number and infinities cannot come from the wire but must not pass either. */
    const double odd[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddNumberToObject(obj, "k", odd[i]);
        int64_t v = 99;
        assert_int_equal(bm_json_int(obj, "k", true, INT64_MIN, INT64_MAX, &v, NULL), -1);
        assert_int_equal(v, 99);
        cJSON_Delete(obj);
    }
}

static void test_int_beyond_int64(void **state)
{
    (void)state;
    /* With the widest range, numbers that do not fit in int64_t must be
     * refused, not converted (that conversion is undefined behaviour and on
     * x86 yields INT64_MIN). cJSON reads 9223372036854775807 as the double
     * 2^63, so it is out of range too. */
    const char *cases[] = {"{\"k\": 9223372036854775808}", "{\"k\": 9223372036854775807}",
                           "{\"k\": 1e19}", "{\"k\": -1e19}", "{\"k\": 1e300}"};
    int accepted = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *obj = parse(cases[i]);
        bm_error_t err = {0};
        int64_t v = 99;
        int rc = bm_json_int(obj, "k", true, INT64_MIN, INT64_MAX, &v, &err);
        if (rc != -1 || v != 99) {
            print_error("%s with range [INT64_MIN, INT64_MAX]: rc %d, value %lld\n", cases[i], rc,
                        (long long)v);
            accepted++;
        }
        cJSON_Delete(obj);
    }
    assert_int_equal(accepted, 0);
    /* The largest double below 2^63 is fine. */
    cJSON *obj = parse("{\"k\": 9223372036854774784}");
    int64_t v = 0;
    assert_int_equal(bm_json_int(obj, "k", true, INT64_MIN, INT64_MAX, &v, NULL), 0);
    assert_true(v == 9223372036854774784LL);
    cJSON_Delete(obj);
}

static void test_int_absent_and_null(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"n\": null}");
    bm_error_t err = {0};
    int64_t v = 7;
    assert_int_equal(bm_json_int(obj, "max_jobs", false, 1, 20, &v, &err), 0);
    assert_int_equal(v, 7);
    assert_int_equal(bm_json_int(obj, "n", false, 1, 20, &v, &err), 0);
    assert_int_equal(v, 7);
    assert_null(err.code);
    assert_int_equal(bm_json_int(obj, "ticket", true, 1, 100, &v, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "ticket");
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_json_int(obj, "n", true, 1, 100, &v, &err), -1);
    assert_err(&err, BM_ERR_INVALID, "n");
    assert_int_equal(v, 7);
    cJSON_Delete(obj);
}

/* ---- writers --------------------------------------------------------------- */

static void test_add_str_and_time(void **state)
{
    (void)state;
    cJSON *obj = cJSON_CreateObject();
    bm_json_add_str(obj, "name", "袁建成");
    bm_json_add_str(obj, "unit", NULL);
    bm_json_add_time(obj, "at", 1795933201123LL);
    bm_json_add_time(obj, "done_at", 0);
    char *text = cJSON_PrintUnformatted(obj);
    assert_non_null(text);
    assert_string_equal(text, "{\"name\":\"袁建成\",\"unit\":null,"
                              "\"at\":\"2026-11-29T06:20:01.123Z\",\"done_at\":null}");
    free(text);
    cJSON_Delete(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_present),
        cmocka_unit_test(test_str_absent_and_null),
        cmocka_unit_test(test_str_wrong_type),
        cmocka_unit_test(test_str_too_long),
        cmocka_unit_test(test_str_invalid_utf8),
        cmocka_unit_test(test_str_blank),
        cmocka_unit_test(test_str_null_err_is_allowed),
        cmocka_unit_test(test_int_ok_and_bounds),
        cmocka_unit_test(test_int_wrong_type),
        cmocka_unit_test(test_int_beyond_int64),
        cmocka_unit_test(test_int_absent_and_null),
        cmocka_unit_test(test_add_str_and_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
