/* test_json_arena.c - unit tests for lib/json_arena.c: bodies parsed into a
 * thread's arena read the same as with malloc, the block is used again only
 * when everything taken from it is freed, what does not fit goes to malloc,
 * and (under AddressSanitizer) a use after the last free is caught. */
#include "json_arena.h"
#include "proto.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char BODY[] = "{\"channel\": \"forum\", \"building\": \"市政小区 3栋\", \"unit\": \"2-301\","
                           " \"text\": \"厨房漏水 \\u6f0f water\", \"n\": [1, 2.5, true, null]}";

static cJSON *parse(const char *text)
{
    const char *end = NULL;
    cJSON *o = bm_json_arena_parse(text, strlen(text), &end);
    assert_non_null(o);
    return o;
}

static void assert_body(const cJSON *o)
{
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "channel")->valuestring, "forum");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "building")->valuestring, "市政小区 3栋");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "text")->valuestring, "厨房漏水 漏 water");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "n");
    assert_int_equal(cJSON_GetArraySize(n), 4);
    assert_true(cJSON_GetArrayItem(n, 1)->valuedouble == 2.5);
}

static int teardown(void **state)
{
    (void)state;
    bm_json_arena_close();
    return 0;
}

static void test_without_arena_is_malloc(void **state)
{
    (void)state;
    cJSON *o = parse(BODY);
    assert_body(o);
    assert_int_equal(bm_json_arena_used(), 0);
    cJSON_Delete(o);
}

static void test_parse_uses_and_reuses_the_block(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(0), 0);
    cJSON *a = parse(BODY);
    assert_body(a);
    size_t one = bm_json_arena_used();
    assert_true(one > 0);
    /* Everything freed: the block starts again from the beginning. */
    cJSON_Delete(a);
    assert_int_equal(bm_json_arena_used(), 0);
    cJSON *b = parse(BODY);
    assert_ptr_equal(a, b);
    assert_int_equal(bm_json_arena_used(), one);
    cJSON_Delete(b);
    assert_int_equal(bm_json_arena_used(), 0);
}

static void test_two_bodies_alive(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(0), 0);
    cJSON *a = parse(BODY);
    size_t one = bm_json_arena_used();
    cJSON *b = parse("{\"x\": \"second\"}");
    assert_true(bm_json_arena_used() > one);
    /* Freeing one does not free the block while the other lives. */
    cJSON_Delete(a);
    assert_true(bm_json_arena_used() > 0);
    cJSON *c = parse(BODY); /* after b, not over a */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(b, "x")->valuestring, "second");
    assert_body(c);
    cJSON_Delete(b);
    assert_true(bm_json_arena_used() > 0);
    cJSON_Delete(c);
    assert_int_equal(bm_json_arena_used(), 0);
}

static void test_detached_item_outlives_its_body(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(0), 0);
    cJSON *a = parse(BODY);
    cJSON *text = cJSON_DetachItemFromObjectCaseSensitive(a, "text");
    cJSON_Delete(a);
    assert_true(bm_json_arena_used() > 0); /* text still lives in the block */
    cJSON *b = parse("{\"y\": \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"}");
    assert_string_equal(text->valuestring, "厨房漏水 漏 water");
    /* Items made outside a parse come from malloc and mix freely. */
    cJSON *reply = cJSON_CreateObject();
    size_t before = bm_json_arena_used();
    cJSON_AddItemToObject(reply, "text", text);
    cJSON_AddStringToObject(reply, "extra", "malloc");
    assert_int_equal(bm_json_arena_used(), before);
    cJSON_Delete(b);
    assert_true(bm_json_arena_used() > 0);
    cJSON_Delete(reply);
    assert_int_equal(bm_json_arena_used(), 0);
}

static void test_too_big_falls_back_to_malloc(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(512), 0);
    char big[8192];
    size_t n = 0;
    n += (size_t)snprintf(big + n, sizeof big - n, "{\"a\": [");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"item %d\"", i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "]}");
    cJSON *o = parse(big);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "a");
    assert_int_equal(cJSON_GetArraySize(arr), 200);
    assert_string_equal(cJSON_GetArrayItem(arr, 199)->valuestring, "item 199");
    assert_true(bm_json_arena_used() <= 512);
    cJSON_Delete(o);
    assert_int_equal(bm_json_arena_used(), 0);
}

static void test_failed_parse_frees_its_part(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(0), 0);
    const char *bad = "{\"a\": \"b\", \"c\": [1, 2, }";
    const char *end = NULL;
    assert_null(bm_json_arena_parse(bad, strlen(bad), &end));
    assert_int_equal(bm_json_arena_used(), 0);
}

static void test_close_with_a_body_alive(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(0), 0);
    cJSON *a = parse(BODY);
    bm_json_arena_close();
    assert_body(a); /* still readable: the block goes with the last free */
    cJSON *b = parse(BODY); /* closed: malloc */
    assert_body(b);
    cJSON_Delete(b);
    cJSON_Delete(a);
    assert_int_equal(bm_json_arena_used(), 0);
    /* (a leak of the block would fail the sanitizer build's leak check) */
}

static void *other_thread(void *arg)
{
    (void)arg;
    cJSON *o = parse(BODY);
    size_t used = bm_json_arena_used();
    cJSON_Delete(o);
    return (void *)(uintptr_t)used;
}

static void test_arena_is_per_thread(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(0), 0);
    cJSON *mine = parse(BODY);
    pthread_t t;
    void *used = NULL;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &used), 0);
    assert_int_equal((uintptr_t)used, 0); /* the other thread parsed with malloc */
    assert_body(mine);
    cJSON_Delete(mine);
}

static void test_decode_clear_empties_the_block(void **state)
{
    (void)state;
    assert_int_equal(bm_json_arena_open(0), 0);
    bm_frame_t frames[4] = {{BM_PROTO_VERSION, strlen(BM_PROTO_VERSION)},
                            {"submit", 6},
                            {"c1", 2},
                            {BODY, strlen(BODY)}};
    for (int i = 0; i < 3; i++) {
        bm_msg_t msg;
        bm_error_t err = {0};
        assert_int_equal(bm_proto_decode(frames, 4, &msg, &err), 0);
        assert_true(bm_json_arena_used() > 0);
        assert_body(msg.body);
        bm_msg_clear(&msg);
        assert_int_equal(bm_json_arena_used(), 0);
    }
    /* A refused body leaves nothing behind either. */
    frames[3] = (bm_frame_t){"{\"a\": 1} x", 10};
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_proto_decode(frames, 4, &msg, &err), -1);
    assert_string_equal(err.code, BM_ERR_BAD_JSON);
    bm_msg_clear(&msg);
    assert_int_equal(bm_json_arena_used(), 0);
}

#if defined(__SANITIZE_ADDRESS__)
/* A string read after its body was deleted is reported by ASan, as it
 * would be with malloc: the block is poisoned when it empties. */
static void test_use_after_reset_is_caught(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bm_json_arena_open(0);
        cJSON *o = parse(BODY);
        volatile char *s = cJSON_GetObjectItemCaseSensitive(o, "channel")->valuestring;
        cJSON_Delete(o);
        fprintf(stderr, "(an ASan report of a use after poison is expected below)\n");
        char c = s[0]; /* must not get past this */
        _exit(c == 'f' ? 0 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_without_arena_is_malloc, teardown),
        cmocka_unit_test_teardown(test_parse_uses_and_reuses_the_block, teardown),
        cmocka_unit_test_teardown(test_two_bodies_alive, teardown),
        cmocka_unit_test_teardown(test_detached_item_outlives_its_body, teardown),
        cmocka_unit_test_teardown(test_too_big_falls_back_to_malloc, teardown),
        cmocka_unit_test_teardown(test_failed_parse_frees_its_part, teardown),
        cmocka_unit_test_teardown(test_close_with_a_body_alive, teardown),
        cmocka_unit_test_teardown(test_arena_is_per_thread, teardown),
        cmocka_unit_test_teardown(test_decode_clear_empties_the_block, teardown),
#if defined(__SANITIZE_ADDRESS__)
        cmocka_unit_test_teardown(test_use_after_reset_is_caught, teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
