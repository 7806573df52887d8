/* test_proto.c - unit tests for lib/proto.c: decoding BM1 frames (every
 * malformed input yields an error code, never a crash), and bm_send /
 * bm_recv over a real inproc ROUTER/DEALER pair made with bm_socket,
 * including raw malformed multiparts sent with zmq_send. */
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- frame arrays ------------------------------------------------------------ */

#define MAX_TEST_FRAMES 8

/* Each frame is an exact-size heap copy, so ASan catches any read past a
 * frame (ZeroMQ frames are not NUL-terminated either). */
typedef struct {
    bm_frame_t f[MAX_TEST_FRAMES];
    size_t n;
} frames_t;

static void fr_add(frames_t *fs, const void *data, size_t len)
{
    assert_true(fs->n < MAX_TEST_FRAMES);
    void *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    fs->f[fs->n].data = copy;
    fs->f[fs->n].len = len;
    fs->n++;
}

static void fr_str(frames_t *fs, const char *s)
{
    fr_add(fs, s, strlen(s));
}

static void fr_free(frames_t *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free((void *)fs->f[i].data);
    fs->n = 0;
}

/* A message of four string frames. */
static frames_t four(const char *ver, const char *cmd, const char *cid, const char *body)
{
    frames_t fs = {0};
    fr_str(&fs, ver);
    fr_str(&fs, cmd);
    fr_str(&fs, cid);
    fr_str(&fs, body);
    return fs;
}

/* Decodes fs expecting failure with code; the message is freed either way. */
static void expect_decode_error(frames_t *fs, const char *code, const char *what)
{
    bm_msg_t msg;
    bm_error_t err = {0};
    int rc = bm_proto_decode(fs->f, fs->n, &msg, &err);
    if (rc != -1) {
        bm_msg_clear(&msg);
        fail_msg("%s was accepted", what);
    }
    assert_null(msg.body);
    assert_non_null(err.code);
    if (strcmp(err.code, code) != 0)
        fail_msg("%s: code %s (%s), expected %s", what, err.code, err.message, code);
    assert_true(err.message[0] != '\0');
    bm_msg_clear(&msg);
}

static void decode_body_error(const char *body, size_t len, const char *code, const char *what)
{
    frames_t fs = {0};
    fr_str(&fs, "BM1");
    fr_str(&fs, "submit");
    fr_str(&fs, "c-1");
    fr_add(&fs, body, len);
    expect_decode_error(&fs, code, what);
    fr_free(&fs);
}

/* Decodes a submit with body, expecting code and the field at fault. */
static void expect_field_error(const char *body, const char *code, const char *field)
{
    frames_t fs = four("BM1", "submit", "c-1", body);
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), -1);
    assert_string_equal(err.code, code);
    assert_string_equal(err.field, field);
    assert_non_null(strstr(err.message, field));
    bm_msg_clear(&msg);
    fr_free(&fs);
}

/* A submit whose body decodes, with this text in "text". */
static void expect_text(const char *body, const char *want)
{
    frames_t f = four("BM1", "submit", "c-1", body);
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_proto_decode(f.f, f.n, &msg, &err), 0);
    assert_string_equal(cJSON_GetObjectItem(msg.body, "text")->valuestring, want);
    bm_msg_clear(&msg);
    fr_free(&f);
}

/* ---- decode ---------------------------------------------------------------------- */

static void test_decode_valid(void **state)
{
    (void)state;
    frames_t fs = four("BM1", "submit", "c-42",
                       "{\"building\": \"市政小区 3栋\", \"text\": \"厨房下水道堵了\", \"n\": 1}");
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), 0);
    assert_null(err.code);
    assert_string_equal(msg.cmd, "submit");
    assert_string_equal(msg.cid, "c-42");
    assert_int_equal(msg.cid_len, 4);
    assert_non_null(msg.body);
    assert_true(cJSON_IsObject(msg.body));
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(msg.body, "building");
    assert_true(cJSON_IsString(b));
    assert_string_equal(b->valuestring, "市政小区 3栋");
    bm_msg_clear(&msg);
    assert_null(msg.body);
    assert_int_equal(msg.cid_len, 0);
    bm_msg_clear(&msg); /* clearing twice is harmless */
    fr_free(&fs);
}

static void test_decode_valid_edges(void **state)
{
    (void)state;
    bm_msg_t msg;
    bm_error_t err = {0};

    /* Empty cid and "{}" with whitespace around it. */
    frames_t fs = four("BM1", "heartbeat", "", " \t{}\r\n ");
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), 0);
    assert_int_equal(msg.cid_len, 0);
    assert_string_equal(msg.cid, "");
    assert_int_equal(cJSON_GetArraySize(msg.body), 0);
    bm_msg_clear(&msg);
    fr_free(&fs);

    /* Command of exactly 32 characters of [a-z0-9_.]. */
    fs = four("BM1", "abcdefghijklmnopqrstuvwxyz_.0129", "x", "{}");
    assert_int_equal(fs.f[1].len, BM_MAX_CMD);
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), 0);
    assert_string_equal(msg.cmd, "abcdefghijklmnopqrstuvwxyz_.0129");
    bm_msg_clear(&msg);
    fr_free(&fs);

    /* A 64-byte binary cid with NUL and high bytes is kept byte for byte. */
    unsigned char cid[BM_MAX_CID];
    for (size_t i = 0; i < sizeof cid; i++)
        cid[i] = (unsigned char)(i * 37);
    fr_str(&fs, "BM1");
    fr_str(&fs, "get");
    fr_add(&fs, cid, sizeof cid);
    fr_str(&fs, "{\"ticket\": 42}");
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), 0);
    assert_int_equal(msg.cid_len, BM_MAX_CID);
    assert_memory_equal(msg.cid, cid, sizeof cid);
    assert_int_equal(msg.cid[BM_MAX_CID], '\0');
    bm_msg_clear(&msg);
    fr_free(&fs);

    /* A body of exactly 64 KiB. */
    char *body = malloc(BM_MAX_BODY);
    assert_non_null(body);
    memset(body, 'x', BM_MAX_BODY);
    memcpy(body, "{\"text\":\"", 9);
    memcpy(body + BM_MAX_BODY - 2, "\"}", 2);
    fr_str(&fs, "BM1");
    fr_str(&fs, "submit");
    fr_str(&fs, "big");
    fr_add(&fs, body, BM_MAX_BODY);
    free(body);
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), 0);
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(msg.body, "text")->valuestring),
                     BM_MAX_BODY - 11);
    bm_msg_clear(&msg);
    fr_free(&fs);
}

static void test_decode_frame_count(void **state)
{
    (void)state;
    const char *parts[] = {"BM1", "get", "c-7", "{}", "{}", "extra", "more", "x"};
    const size_t counts[] = {0, 1, 2, 3, 5, 6, 7, 8};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        frames_t fs = {0};
        for (size_t i = 0; i < counts[k]; i++)
            fr_str(&fs, parts[i]);
        bm_msg_t msg;
        bm_error_t err = {0};
        assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), -1);
        assert_string_equal(err.code, BM_ERR_BAD_FRAME);
        assert_null(msg.body);
        char want[16];
        snprintf(want, sizeof want, "got %zu", counts[k]);
        assert_non_null(strstr(err.message, want));
        /* From three frames on, the cid is there to echo. */
        if (counts[k] >= 3) {
            assert_int_equal(msg.cid_len, 3);
            assert_string_equal(msg.cid, "c-7");
        } else {
            assert_int_equal(msg.cid_len, 0);
        }
        bm_msg_clear(&msg);
        fr_free(&fs);
    }
    /* No frames at all, and no err to fill. */
    bm_msg_t msg;
    assert_int_equal(bm_proto_decode(NULL, 0, &msg, NULL), -1);
    assert_null(msg.body);
}

static void test_decode_bad_version(void **state)
{
    (void)state;
    const char *versions[] = {"BM2", "BM", "BM1 ", "bm1", "", "BM10", "HTTP/1.1"};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        frames_t fs = four(versions[i], "submit", "v-1", "{}");
        bm_msg_t msg;
        bm_error_t err = {0};
        assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), -1);
        assert_string_equal(err.code, BM_ERR_BAD_VERSION);
        assert_non_null(strstr(err.message, "BM1"));
        assert_string_equal(msg.cid, "v-1"); /* echoed even so */
        assert_null(msg.body);
        fr_free(&fs);
    }
    /* The error body tells the peer which versions are supported. */
    bm_error_t err = {0};
    bm_error_set(&err, BM_ERR_BAD_VERSION, NULL, "unsupported");
    cJSON *body = bm_error_json(&err);
    const cJSON *sup = cJSON_GetObjectItemCaseSensitive(body, "supported");
    assert_true(cJSON_IsArray(sup));
    assert_string_equal(cJSON_GetArrayItem(sup, 0)->valuestring, "BM1");
    assert_null(cJSON_GetObjectItemCaseSensitive(body, "field"));
    cJSON_Delete(body);
}

static void test_decode_bad_command(void **state)
{
    (void)state;
    static const struct {
        const char *cmd;
        size_t len;
        const char *what;
    } bad[] = {
        {"", 0, "empty"},
        {"Submit", 6, "capital"},
        {"SUBMIT", 6, "upper case"},
        {"abcdefghijklmnopqrstuvwxyz_.01234", 33, "33 characters"},
        {"sub\0mit", 7, "NUL inside"},
        {"\xff\xfe\x00\x01", 4, "binary"},
        {"sub mit", 7, "space"},
        {"submit\n", 7, "newline"},
        {"提交", 6, "Chinese"},
        {"sub-mit", 7, "dash"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        frames_t fs = {0};
        fr_str(&fs, "BM1");
        fr_add(&fs, bad[i].cmd, bad[i].len);
        fr_str(&fs, "cmd-cid");
        fr_str(&fs, "{}");
        bm_msg_t msg;
        bm_error_t err = {0};
        if (bm_proto_decode(fs.f, fs.n, &msg, &err) != -1)
            fail_msg("command (%s) was accepted", bad[i].what);
        assert_string_equal(err.code, BM_ERR_BAD_FRAME);
        assert_string_equal(msg.cid, "cmd-cid");
        assert_null(msg.body);
        fr_free(&fs);
    }
}

static void test_decode_cid_too_long(void **state)
{
    (void)state;
    char cid[BM_MAX_CID + 1];
    memset(cid, 'c', sizeof cid);
    frames_t fs = {0};
    fr_str(&fs, "BM1");
    fr_str(&fs, "get");
    fr_add(&fs, cid, sizeof cid);
    fr_str(&fs, "{}");
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), -1);
    assert_string_equal(err.code, BM_ERR_BAD_FRAME);
    assert_non_null(strstr(err.message, "correlation id"));
    /* Too long to echo: the reply goes out with an empty cid. */
    assert_int_equal(msg.cid_len, 0);
    assert_null(msg.body);
    fr_free(&fs);

    /* A huge cid must not overflow the fixed buffer either. */
    char *huge = malloc(100000);
    assert_non_null(huge);
    memset(huge, 'h', 100000);
    fr_str(&fs, "BM1");
    fr_str(&fs, "get");
    fr_add(&fs, huge, 100000);
    fr_str(&fs, "{}");
    free(huge);
    expect_decode_error(&fs, BM_ERR_BAD_FRAME, "100000-byte cid");
    fr_free(&fs);
}

static void test_decode_body_too_large(void **state)
{
    (void)state;
    /* Valid JSON of 64 KiB + 1 bytes. */
    size_t n = BM_MAX_BODY + 1;
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'x', n);
    memcpy(body, "{\"text\":\"", 9);
    memcpy(body + n - 2, "\"}", 2);
    decode_body_error(body, n, BM_ERR_TOO_LARGE, "64 KiB + 1 body");
    free(body);
    /* And far more than that, not even JSON. */
    n = 1024 * 1024;
    body = calloc(1, n);
    assert_non_null(body);
    decode_body_error(body, n, BM_ERR_TOO_LARGE, "1 MiB of NUL");
    free(body);
}

static void test_decode_body_not_utf8(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"text\": \"\xC0\x80\"}",      "{\"text\": \"\xff\"}",
        "{\"text\": \"\xED\xA0\x80\"}",  "{\"text\": \"市\xE5\xB8\"}",
        "{\"\xF4\x90\x80\x80\": 1}",
    };
    /* Inside a string: invalid, naming the field (the key itself: no name). */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        decode_body_error(bad[i], strlen(bad[i]), BM_ERR_INVALID, bad[i]);
    expect_field_error("{\"text\": \"\xff\"}", BM_ERR_INVALID, "text");
    expect_field_error("{\"building\":\"ok\",\"ex\":{\"deep\":[\"\xC0\x80\"]}}", BM_ERR_INVALID, "ex");
    /* Outside strings: not JSON at all. */
    decode_body_error("{\"a\":1 \xff}", 9, BM_ERR_BAD_JSON, "a stray byte between tokens");
    /* A NUL inside the frame, after or inside the object. */
    decode_body_error("{}\0", 3, BM_ERR_BAD_JSON, "NUL after the object");
    decode_body_error("{\"a\":\"b\0c\"}", 11, BM_ERR_INVALID, "NUL in a string");
    /* The escape \u0000 would cut the stored text short after an ok: refused. */
    expect_field_error("{\"text\": \"漏水\\u0000后面的字\"}", BM_ERR_INVALID, "text");
    expect_field_error("{\"ref\": \"a\", \"contact\": \"\\u0000\"}", BM_ERR_INVALID, "contact");
    /* So would a \u without four hex digits: cJSON 1.7 reads it as \u0000. */
    expect_field_error("{\"text\": \"abc\\uZZZZdef\"}", BM_ERR_INVALID, "text");
    expect_field_error("{\"building\": \"3\\u00G1栋\"}", BM_ERR_INVALID, "building");
    /* A real escape is kept: \u6f0f is 漏. */
    expect_text("{\"text\": \"\\u6f0F水\"}", "漏水");
    /* An escaped backslash followed by "u0000" is text, not a NUL. */
    expect_text("{\"text\": \"C:\\\\u0000\"}", "C:\\u0000");
}

/* Every key and string in the tree is valid UTF-8 (the broker's handlers
 * rely on it: bm_body_str does not check a field again). */
static void expect_tree_utf8(const cJSON *item)
{
    for (; item; item = item->next) {
        if (item->string)
            assert_true(bm_utf8_valid(item->string, strlen(item->string)));
        if (cJSON_IsString(item))
            assert_true(bm_utf8_valid(item->valuestring, strlen(item->valuestring)));
        expect_tree_utf8(item->child);
    }
}

/* What cJSON decodes from a body bm_proto_decode accepted is valid UTF-8,
 * escapes included: a lone or reversed surrogate is refused, never decoded
 * into text (so bm_body_str need not check a field's bytes again). */
static void test_decoded_strings_are_valid_utf8(void **state)
{
    (void)state;
    static const char *bodies[] = {
        "{\"text\": \"\\ud800\"}",          "{\"text\": \"\\udc00\"}",
        "{\"text\": \"x\\ud800\"}",         "{\"text\": \"\\ud800\\u0041\"}",
        "{\"text\": \"\\ud800\\\\udc00\"}", "{\"text\": \"\\ud800\\udc0\"}",
        "{\"text\": \"\\uD800\\uDBFF\"}",  "{\"text\": \"\\udc00\\ud800\"}",
        "{\"text\": \"\\ud83d\\ude00\"}",  "{\"text\": \"\\udbff\\udfff\"}",
        "{\"text\": \"\\uFFFF\\uFFFE\"}",   "{\"\\ud83d\\ude00\": \"key\"}",
        "{\"\\ud800\": \"key\"}",            "{\"a\": [\"\\ud800\", 1]}",
        "{\"a\": {\"b\": \"\\udfff\"}}",   "{\"a\": [{\"b\": [\"\\u00e9\\u6f0f\"]}]}",
    };
    int accepted = 0;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        frames_t f = four("BM1", "submit", "c-1", bodies[i]);
        bm_msg_t msg;
        bm_error_t err = {0};
        if (bm_proto_decode(f.f, f.n, &msg, &err) == 0) {
            expect_tree_utf8(msg.body);
            accepted++;
        } else {
            assert_true(strcmp(err.code, BM_ERR_BAD_JSON) == 0 || strcmp(err.code, BM_ERR_INVALID) == 0);
        }
        bm_msg_clear(&msg);
        fr_free(&f);
    }
    assert_int_equal(accepted, 5); /* the two pairs, U+FFFF U+FFFE, the emoji key, the nested é漏 */
    expect_text("{\"text\": \"\\ud83d\\ude00\"}", "\xF0\x9F\x98\x80");
}

static void test_decode_body_not_json(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",        "   ",          "nope",            "{",           "}",
        "{\"a\":}", "{'a': 1}",    "{\"a\": 1,}",     "{\"a\" 1}",   "{\"a\": tru}",
        "{\"a\":\"unterminated}",  "\xEF\xBB\xBF",    "{\"a\": NaN}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        decode_body_error(bad[i], strlen(bad[i]), BM_ERR_BAD_JSON, bad[i]);
    /* A number cut at the frame's end (no NUL after it in memory). */
    decode_body_error("{\"a\": 12", 8, BM_ERR_BAD_JSON, "cut number");
    decode_body_error("{\"a\": 1.5e", 10, BM_ERR_BAD_JSON, "cut exponent");
}

static void test_decode_body_not_object(void **state)
{
    (void)state;
    static const char *bad[] = {"[]", "[{\"a\": 1}]", "\"text\"", "42", "null", "true", "-1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        decode_body_error(bad[i], strlen(bad[i]), BM_ERR_BAD_JSON, bad[i]);
}

static void test_decode_trailing_garbage(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{}x", "{} {}", "{}}", "{\"a\": 1}garbage", "{}\n\n,", "{} []", "{}\x7f", "{} 市",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        decode_body_error(bad[i], strlen(bad[i]), BM_ERR_BAD_JSON, bad[i]);
}

/* Builds {"a":[[[...]]]} with depth nested arrays; *len is its length. */
static char *nested_arrays(size_t depth, size_t *len)
{
    size_t n = 5 + 2 * depth + 1;
    char *s = malloc(n);
    assert_non_null(s);
    memcpy(s, "{\"a\":", 5);
    memset(s + 5, '[', depth);
    memset(s + 5 + depth, ']', depth);
    s[n - 1] = '}';
    *len = n;
    return s;
}

static void test_decode_deep_nesting(void **state)
{
    (void)state;
    size_t len = 0;
    bm_msg_t msg;
    bm_error_t err = {0};

    /* Moderately deep arrays are a valid body. */
    char *s = nested_arrays(200, &len);
    frames_t fs = {0};
    fr_str(&fs, "BM1");
    fr_str(&fs, "submit");
    fr_str(&fs, "deep");
    fr_add(&fs, s, len);
    free(s);
    assert_int_equal(bm_proto_decode(fs.f, fs.n, &msg, &err), 0);
    bm_msg_clear(&msg);
    fr_free(&fs);

    /* 30000 levels of arrays within 64 KiB: refused (cJSON's nesting limit),
     * and above all no stack overflow. */
    s = nested_arrays(30000, &len);
    assert_true(len <= BM_MAX_BODY);
    decode_body_error(s, len, BM_ERR_BAD_JSON, "30000 nested arrays");
    free(s);

    /* Deep objects: {"a":{"a":...{"a":1}...}} */
    size_t depth = 9000;
    char *o = malloc(depth * 6 + 16);
    assert_non_null(o);
    size_t p = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(o + p, "{\"a\":", 5);
        p += 5;
    }
    o[p++] = '1';
    for (size_t i = 0; i < depth; i++)
        o[p++] = '}';
    assert_true(p <= BM_MAX_BODY);
    decode_body_error(o, p, BM_ERR_BAD_JSON, "9000 nested objects");
    free(o);

    /* An unclosed opening run of the whole 64 KiB. */
    o = malloc(BM_MAX_BODY);
    assert_non_null(o);
    memset(o, '[', BM_MAX_BODY);
    o[0] = '{';
    decode_body_error(o, BM_MAX_BODY, BM_ERR_BAD_JSON, "64 KiB of [");
    free(o);
}

/* ---- sockets --------------------------------------------------------------------- */

typedef struct {
    void *ctx;
    void *router;
    void *dealer;
    char endpoint[64];
} pair_t;

static int pair_setup(void **state)
{
    static int counter;
    pair_t *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    snprintf(p->endpoint, sizeof p->endpoint, "inproc://test-proto-%d", ++counter);
    p->ctx = zmq_ctx_new();
    if (!p->ctx)
        return -1;
    p->router = bm_socket(p->ctx, ZMQ_ROUTER, p->endpoint, true);
    p->dealer = bm_socket(p->ctx, ZMQ_DEALER, p->endpoint, false);
    if (!p->router || !p->dealer)
        return -1;
    /* A missing message fails the test instead of hanging it. */
    int timeout = 5000;
    zmq_setsockopt(p->router, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(p->dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    pair_t *p = *state;
    if (!p)
        return 0;
    if (p->router)
        zmq_close(p->router);
    if (p->dealer)
        zmq_close(p->dealer);
    if (p->ctx)
        zmq_ctx_term(p->ctx);
    free(p);
    *state = NULL;
    return 0;
}

/* Sends the given frames as one raw multipart message. */
static void raw_send(void *sock, const char *const *parts, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(parts[i]);
        int rc = zmq_send(sock, parts[i], len, i + 1 < n ? ZMQ_SNDMORE : 0);
        assert_int_equal(rc, (int)len);
    }
}

/* Receives on the dealer, expecting an error reply with code and cid. */
static void expect_error_reply(void *dealer, const char *code, const char *cid, size_t cid_len)
{
    bm_msg_t reply;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(dealer, false, false, NULL, &reply, &err), BM_RECV_OK);
    assert_string_equal(reply.cmd, BM_REPLY_ERROR);
    assert_int_equal(reply.cid_len, cid_len);
    assert_memory_equal(reply.cid, cid, cid_len);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(reply.body, "code");
    assert_true(cJSON_IsString(c));
    assert_string_equal(c->valuestring, code);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(reply.body, "message");
    assert_true(cJSON_IsString(m));
    assert_true(m->valuestring[0] != '\0');
    bm_msg_clear(&reply);
}

/* Router reads a message expecting BM_RECV_INVALID with code, then answers
 * it with bm_send_error (as the broker does) and the dealer checks the reply. */
static void expect_invalid_and_reply(pair_t *p, const char *code, const char *got_text,
                                     const char *want_cid)
{
    bm_envelope_t env;
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(p->router, true, false, &env, &msg, &err), BM_RECV_INVALID);
    assert_non_null(err.code);
    if (strcmp(err.code, code) != 0)
        fail_msg("code %s (%s), expected %s", err.code, err.message, code);
    if (got_text && !strstr(err.message, got_text))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, got_text);
    assert_null(msg.body);
    assert_true(env.id_len > 0);
    /* The cid is echoed whenever it could be read. */
    if (want_cid) {
        assert_int_equal(msg.cid_len, strlen(want_cid));
        assert_string_equal(msg.cid, want_cid);
    }
    char cid[BM_MAX_CID + 1];
    size_t cid_len = msg.cid_len;
    memcpy(cid, msg.cid, cid_len + 1);
    assert_int_equal(bm_send_error(p->router, &env, msg.cid, msg.cid_len, &err), 0);
    bm_msg_clear(&msg);
    expect_error_reply(p->dealer, code, cid, cid_len);
}

/* A valid request still gets through after garbage: framing is not lost. */
static void expect_still_in_sync(pair_t *p)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "ticket", 7);
    assert_int_equal(bm_send(p->dealer, NULL, BM_CMD_GET, "sync", 4, body), 0);
    cJSON_Delete(body);
    bm_envelope_t env;
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(p->router, true, false, &env, &msg, &err), BM_RECV_OK);
    assert_string_equal(msg.cmd, BM_CMD_GET);
    assert_string_equal(msg.cid, "sync");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(msg.body, "ticket")->valueint, 7);
    bm_msg_clear(&msg);
}

static void test_socket_round_trip(void **state)
{
    pair_t *p = *state;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "text", "厨房下水道堵了");
    cJSON_AddStringToObject(body, "building", "市政小区 3栋");
    assert_int_equal(bm_send(p->dealer, NULL, BM_CMD_SUBMIT, "c-1", 3, body), 0);
    cJSON_Delete(body);

    bm_envelope_t env;
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(p->router, true, false, &env, &msg, &err), BM_RECV_OK);
    assert_null(err.code);
    assert_true(env.id_len > 0);
    assert_false(env.delimiter);
    assert_string_equal(msg.cmd, BM_CMD_SUBMIT);
    assert_int_equal(msg.cid_len, 3);
    assert_string_equal(msg.cid, "c-1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(msg.body, "text")->valuestring,
                        "厨房下水道堵了");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(msg.body, "building")->valuestring,
                        "市政小区 3栋");

    /* The ok reply echoes the cid and reaches the sender. */
    cJSON *reply_body = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply_body, "ticket", 42);
    cJSON_AddStringToObject(reply_body, "status", "open");
    assert_int_equal(bm_send(p->router, &env, BM_REPLY_OK, msg.cid, msg.cid_len, reply_body), 0);
    cJSON_Delete(reply_body);

    bm_msg_t reply;
    assert_int_equal(bm_recv(p->dealer, false, false, NULL, &reply, &err), BM_RECV_OK);
    assert_string_equal(reply.cmd, BM_REPLY_OK);
    assert_int_equal(reply.cid_len, 3);
    assert_string_equal(reply.cid, "c-1");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(reply.body, "ticket")->valueint, 42);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(reply.body, "status")->valuestring,
                        "open");
    bm_msg_clear(&reply);

    /* An error reply: code, message and field survive, cid echoed. */
    bm_error_t e = {0};
    bm_error_set(&e, BM_ERR_INVALID, "building", "field \"%s\" is required", "building");
    assert_int_equal(bm_send_error(p->router, &env, msg.cid, msg.cid_len, &e), 0);
    bm_msg_clear(&msg);
    assert_int_equal(bm_recv(p->dealer, false, false, NULL, &reply, &err), BM_RECV_OK);
    assert_string_equal(reply.cmd, BM_REPLY_ERROR);
    assert_string_equal(reply.cid, "c-1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(reply.body, "code")->valuestring,
                        BM_ERR_INVALID);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(reply.body, "field")->valuestring,
                        "building");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(reply.body, "message")->valuestring,
                        "field \"building\" is required");
    assert_null(cJSON_GetObjectItemCaseSensitive(reply.body, "supported"));
    bm_msg_clear(&reply);
}

static void test_socket_binary_cid_and_null_body(void **state)
{
    pair_t *p = *state;
    static const char cid[] = {'a', '\0', 'b', (char)0xff, '\n'};
    /* body NULL is sent as {} */
    assert_int_equal(bm_send(p->dealer, NULL, BM_CMD_HEARTBEAT, cid, sizeof cid, NULL), 0);
    bm_envelope_t env;
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(p->router, true, false, &env, &msg, &err), BM_RECV_OK);
    assert_int_equal(msg.cid_len, sizeof cid);
    assert_memory_equal(msg.cid, cid, sizeof cid);
    assert_true(cJSON_IsObject(msg.body));
    assert_int_equal(cJSON_GetArraySize(msg.body), 0);
    assert_int_equal(bm_send(p->router, &env, BM_REPLY_OK, msg.cid, msg.cid_len, NULL), 0);
    bm_msg_clear(&msg);
    bm_msg_t reply;
    assert_int_equal(bm_recv(p->dealer, false, false, NULL, &reply, &err), BM_RECV_OK);
    assert_int_equal(reply.cid_len, sizeof cid);
    assert_memory_equal(reply.cid, cid, sizeof cid);
    bm_msg_clear(&reply);

    /* An unsolicited message with a NULL cid goes out with an empty one. */
    assert_int_equal(bm_send(p->dealer, NULL, BM_CMD_HEARTBEAT, NULL, 0, NULL), 0);
    assert_int_equal(bm_recv(p->router, true, false, &env, &msg, &err), BM_RECV_OK);
    assert_int_equal(msg.cid_len, 0);
    bm_msg_clear(&msg);
}

static void test_socket_dontwait_and_unroutable(void **state)
{
    pair_t *p = *state;
    bm_envelope_t env;
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(p->router, true, true, &env, &msg, &err), BM_RECV_NONE);
    assert_int_equal(bm_recv(p->dealer, false, true, NULL, &msg, &err), BM_RECV_NONE);
    assert_null(msg.body);
    /* ROUTER_MANDATORY: a reply to a peer that does not exist fails loudly. */
    bm_envelope_t ghost = {.id = "nobody", .id_len = 6, .delimiter = false};
    assert_int_equal(bm_send(p->router, &ghost, BM_REPLY_OK, "x", 1, NULL), -1);
    assert_int_equal(zmq_errno(), EHOSTUNREACH);
}

static void test_socket_req_peer(void **state)
{
    pair_t *p = *state;
    /* A REQ client adds an empty delimiter; the router keeps it for the reply. */
    void *req = zmq_socket(p->ctx, ZMQ_REQ);
    assert_non_null(req);
    int timeout = 5000, linger = 0;
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(req, p->endpoint), 0);
    assert_int_equal(bm_send(req, NULL, BM_CMD_GET, "r-1", 3, NULL), 0);
    bm_envelope_t env;
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(p->router, true, false, &env, &msg, &err), BM_RECV_OK);
    assert_true(env.delimiter);
    assert_string_equal(msg.cmd, BM_CMD_GET);
    assert_string_equal(msg.cid, "r-1");
    assert_int_equal(bm_send(p->router, &env, BM_REPLY_OK, msg.cid, msg.cid_len, NULL), 0);
    bm_msg_clear(&msg);
    assert_int_equal(bm_recv(req, false, false, NULL, &msg, &err), BM_RECV_OK);
    assert_string_equal(msg.cmd, BM_REPLY_OK);
    assert_string_equal(msg.cid, "r-1");
    bm_msg_clear(&msg);
    zmq_close(req);
}

static void test_socket_bad_endpoint(void **state)
{
    pair_t *p = *state;
    assert_null(bm_socket(p->ctx, ZMQ_ROUTER, "nonsense://x", true));
    assert_true(errno != 0);
    /* Binding the same inproc endpoint twice fails. */
    assert_null(bm_socket(p->ctx, ZMQ_ROUTER, p->endpoint, true));
    assert_int_equal(errno, EADDRINUSE);
}

static void test_recv_malformed_frame_counts(void **state)
{
    pair_t *p = *state;
    const char *parts[] = {"BM1", "get", "cid-x", "{}", "{}", "six", "seven", "8", "9", "10",
                           "11", "12"};

    /* 2 frames: no cid to echo. */
    raw_send(p->dealer, parts, NULL, 2);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 2", "");
    /* 3 frames: the cid is echoed. */
    raw_send(p->dealer, parts, NULL, 3);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 3", "cid-x");
    /* 5 and 7 frames. */
    raw_send(p->dealer, parts, NULL, 5);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 5", "cid-x");
    raw_send(p->dealer, parts, NULL, 7);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 7", "cid-x");
    /* More frames than bm_recv keeps: counted, not stored. */
    raw_send(p->dealer, parts, NULL, 12);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 12", "cid-x");
    /* A single frame, and a single empty frame (read as the REQ delimiter). */
    raw_send(p->dealer, parts, NULL, 1);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 1", "");
    const char *empty[] = {""};
    raw_send(p->dealer, empty, NULL, 1);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 0", "");
    /* Delimiter then garbage. */
    const char *delim[] = {"", "BM1", "x"};
    raw_send(p->dealer, delim, NULL, 3);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 2", "");
    expect_still_in_sync(p);
}

static void test_recv_many_frames(void **state)
{
    pair_t *p = *state;
    /* 200 frames: bm_recv must drain the whole multipart and report it. */
    for (int i = 0; i < 200; i++)
        assert_true(zmq_send(p->dealer, "f", 1, i + 1 < 200 ? ZMQ_SNDMORE : 0) == 1);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "got 200", NULL);
    expect_still_in_sync(p);
}

static void test_recv_malformed_content(void **state)
{
    pair_t *p = *state;
    /* Wrong version: the cid is echoed and the reply lists BM1. */
    const char *v2[] = {"BM2", "submit", "v9", "{}"};
    raw_send(p->dealer, v2, NULL, 4);
    expect_invalid_and_reply(p, BM_ERR_BAD_VERSION, "BM1", "v9");

    const char *upper[] = {"BM1", "SUBMIT", "u1", "{}"};
    raw_send(p->dealer, upper, NULL, 4);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, NULL, "u1");

    const char *notjson[] = {"BM1", "submit", "j1", "{not json"};
    raw_send(p->dealer, notjson, NULL, 4);
    expect_invalid_and_reply(p, BM_ERR_BAD_JSON, NULL, "j1");

    const char *array[] = {"BM1", "submit", "j2", "[1, 2]"};
    raw_send(p->dealer, array, NULL, 4);
    expect_invalid_and_reply(p, BM_ERR_BAD_JSON, NULL, "j2");

    const char *badutf8[] = {"BM1", "submit", "u8", "{\"text\": \"\xC0\x80\"}"};
    raw_send(p->dealer, badutf8, NULL, 4);
    expect_invalid_and_reply(p, BM_ERR_INVALID, "UTF-8", "u8"); /* names the field: text */

    /* Binary body with NULs, sent with explicit lengths. */
    static const char bin[] = {'{', '\0', '}', (char)0xff};
    const char *binary[] = {"BM1", "submit", "b1", bin};
    const size_t binlens[] = {3, 6, 2, sizeof bin};
    raw_send(p->dealer, binary, binlens, 4);
    expect_invalid_and_reply(p, BM_ERR_BAD_JSON, NULL, "b1");

    /* Body over 64 KiB. */
    size_t n = BM_MAX_BODY + 100;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    const char *large[] = {"BM1", "submit", "big", big};
    const size_t largelens[] = {3, 6, 3, n};
    raw_send(p->dealer, large, largelens, 4);
    free(big);
    expect_invalid_and_reply(p, BM_ERR_TOO_LARGE, NULL, "big");

    /* cid over 64 bytes: the error goes back with an empty cid. */
    char longcid[BM_MAX_CID + 2];
    memset(longcid, 'c', sizeof longcid - 1);
    longcid[sizeof longcid - 1] = '\0';
    const char *cidparts[] = {"BM1", "get", longcid, "{}"};
    raw_send(p->dealer, cidparts, NULL, 4);
    expect_invalid_and_reply(p, BM_ERR_BAD_FRAME, "correlation id", "");

    expect_still_in_sync(p);
}

static void test_recv_malformed_on_dealer(void **state)
{
    pair_t *p = *state;
    /* Learn the dealer's routing id from a real message. */
    assert_int_equal(bm_send(p->dealer, NULL, BM_CMD_HELLO, "h", 1, NULL), 0);
    bm_envelope_t env;
    bm_msg_t msg;
    bm_error_t err = {0};
    assert_int_equal(bm_recv(p->router, true, false, &env, &msg, &err), BM_RECV_OK);
    bm_msg_clear(&msg);

    /* The broker side sends garbage: the client sees INVALID, not a crash. */
    assert_int_equal(zmq_send(p->router, env.id, env.id_len, ZMQ_SNDMORE), (int)env.id_len);
    const char *two[] = {"BM1", "ok"};
    raw_send(p->router, two, NULL, 2);
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_recv(p->dealer, false, false, NULL, &msg, &err), BM_RECV_INVALID);
    assert_string_equal(err.code, BM_ERR_BAD_FRAME);
    assert_null(msg.body);
    bm_msg_clear(&msg);

    assert_int_equal(zmq_send(p->router, env.id, env.id_len, ZMQ_SNDMORE), (int)env.id_len);
    const char *trailing[] = {"BM1", "ok", "h", "{} {}"};
    raw_send(p->router, trailing, NULL, 4);
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_recv(p->dealer, false, false, NULL, &msg, &err), BM_RECV_INVALID);
    assert_string_equal(err.code, BM_ERR_BAD_JSON);
    assert_string_equal(msg.cid, "h");
    bm_msg_clear(&msg);

    /* A DEALER also accepts a leading empty frame (from a REP-style peer). */
    assert_int_equal(zmq_send(p->router, env.id, env.id_len, ZMQ_SNDMORE), (int)env.id_len);
    const char *delimited[] = {"", "BM1", "ok", "h", "{}"};
    raw_send(p->router, delimited, NULL, 5);
    assert_int_equal(bm_recv(p->dealer, false, false, NULL, &msg, &err), BM_RECV_OK);
    assert_string_equal(msg.cmd, BM_REPLY_OK);
    bm_msg_clear(&msg);
}

/* A bilingual message longer than err->message is cut between characters,
 * never inside one: what is sent stays valid UTF-8. */
static void test_error_message_cut_on_character(void **state)
{
    (void)state;
    char zh[3 * BM_MAX_ERROR_MESSAGE + 1];
    zh[0] = '\0';
    for (int i = 0; i < BM_MAX_ERROR_MESSAGE; i++)
        memcpy(zh + strlen(zh), "汉", 4); /* 3 bytes and the NUL */
    for (int shift = 0; shift < 3; shift++) {
        bm_error_t err = {0};
        bm_error_set(&err, BM_ERR_INVALID, "text", "%.*s%s / too long", shift, "ab", zh);
        size_t len = strlen(err.message);
        assert_true(len > BM_MAX_ERROR_MESSAGE - 4 && len < BM_MAX_ERROR_MESSAGE);
        assert_true(bm_utf8_valid(err.message, len));
        assert_int_equal((len - (size_t)shift) % 3, 0);
    }
    bm_error_t ok = {0};
    bm_error_set(&ok, BM_ERR_INVALID, NULL, "未知类别 \"%s\" / unknown category \"%s\"", "管道", "管道");
    assert_string_equal(ok.message, "未知类别 \"管道\" / unknown category \"管道\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message_cut_on_character),
        cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_valid_edges),
        cmocka_unit_test(test_decode_frame_count),
        cmocka_unit_test(test_decode_bad_version),
        cmocka_unit_test(test_decode_bad_command),
        cmocka_unit_test(test_decode_cid_too_long),
        cmocka_unit_test(test_decode_body_too_large),
        cmocka_unit_test(test_decode_body_not_utf8),
        cmocka_unit_test(test_decoded_strings_are_valid_utf8),
        cmocka_unit_test(test_decode_body_not_json),
        cmocka_unit_test(test_decode_body_not_object),
        cmocka_unit_test(test_decode_trailing_garbage),
        cmocka_unit_test(test_decode_deep_nesting),
        cmocka_unit_test_setup_teardown(test_socket_round_trip, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_socket_binary_cid_and_null_body, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_socket_dontwait_and_unroutable, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_socket_req_peer, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_socket_bad_endpoint, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_recv_malformed_frame_counts, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_recv_many_frames, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_recv_malformed_content, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_recv_malformed_on_dealer, pair_setup,
                                        pair_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
