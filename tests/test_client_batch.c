/* test_client_batch.c - `bianmin submit --stdin`: the line reader, the check
 * of one line, and the whole pipeline against a fake broker (a ROUTER on
 * ipc:// in a temp dir, answering out of order) and against no broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "batch.h"
#include "cli.h"
#include "clitest.h"
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

/* A temp file holding text, positioned at its start; returns its fd. */
static int input_fd(const char *text, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    int fd = dup(fileno(f));
    fclose(f);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

typedef struct {
    cli_line_result_t r;
    long lineno;
    char *text;
} got_t;

/* Reads everything from fd through a reader, as a test would see it. */
static size_t read_all(int fd, size_t max, got_t *got, size_t cap)
{
    cli_lines_t *lines = cli_lines_new(fd, max);
    assert_non_null(lines);
    size_t n = 0;
    for (;;) {
        const char *line;
        size_t len;
        long lineno = 0;
        cli_line_result_t r = cli_lines_next(lines, &line, &len, &lineno);
        if (r == CLI_LINE_EOF)
            break;
        if (r == CLI_LINE_AGAIN) {
            assert_true(cli_lines_fill(lines) >= 0);
            continue;
        }
        assert_true(n < cap);
        got[n].r = r;
        got[n].lineno = lineno;
        got[n].text = r == CLI_LINE_OK ? strndup(line, len) : NULL;
        if (r == CLI_LINE_OK)
            assert_int_equal(strlen(line), len); /* NUL-terminated at len */
        n++;
    }
    cli_lines_destroy(&lines);
    assert_null(lines);
    return n;
}

/* ---- the line reader ----------------------------------------------------- */

static void test_lines_file(void **state)
{
    size_t max = 65536;
    size_t cap = 300000;
    char *in = malloc(cap);
    size_t len = 0;
#define PUT(s) (memcpy(in + len, (s), strlen(s)), len += strlen(s))
#define FILL(c, n) (memset(in + len, (c), (n)), len += (n))
    PUT("{\"a\":1}\n");            /* 1 */
    PUT("\n");                     /* 2 blank */
    PUT("  \r\n");                 /* 3 blank, CRLF */
    PUT("{\"b\":\"栋\"}\r\n");     /* 4 CRLF stripped */
    FILL('x', 70000); PUT("\n");   /* 5 too long */
    PUT("{\"c\":3}\n");            /* 6 */
    FILL('y', max); PUT("\n");     /* 7 exactly max */
    FILL('z', max); PUT("\r\n");   /* 8 exactly max, CRLF */
    FILL('w', max + 1); PUT("\n"); /* 9 one over */
    PUT("tail");                   /* 10 no final newline */
    int fd = input_fd(in, len);
    got_t got[16];
    size_t n = read_all(fd, max, got, 16);
    close(fd);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i].lineno, (long)i + 1);
    assert_string_equal(got[0].text, "{\"a\":1}");
    assert_string_equal(got[1].text, "");
    assert_string_equal(got[2].text, "  ");
    assert_string_equal(got[3].text, "{\"b\":\"栋\"}");
    assert_int_equal(got[4].r, CLI_LINE_TOO_LONG);
    assert_string_equal(got[5].text, "{\"c\":3}");
    assert_int_equal(got[6].r, CLI_LINE_OK);
    assert_int_equal(strlen(got[6].text), max);
    assert_int_equal(got[7].r, CLI_LINE_OK);
    assert_int_equal(strlen(got[7].text), max);
    assert_int_equal(got[7].text[max - 1], 'z');
    assert_int_equal(got[8].r, CLI_LINE_TOO_LONG);
    assert_string_equal(got[9].text, "tail");
    for (size_t i = 0; i < n; i++)
        free(got[i].text);
    free(in);
#undef PUT
#undef FILL
}

static void test_lines_stream(void **state)
{
    /* A slow writer on a pipe: partial lines wait, a too-long line is
     * reported before its end arrives, and its rest is skipped. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    cli_lines_t *lines = cli_lines_new(p[0], 8);
    const char *line;
    size_t len;
    long no = 0;
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_AGAIN);
    assert_int_equal(write(p[1], "ab", 2), 2);
    assert_int_equal(cli_lines_fill(lines), 2);
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_AGAIN);
    assert_int_equal(write(p[1], "c\nde", 4), 4);
    assert_int_equal(cli_lines_fill(lines), 4);
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_OK);
    assert_string_equal(line, "abc");
    assert_int_equal(no, 1);
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_AGAIN);
    assert_int_equal(write(p[1], "fghijklmnop", 11), 11);
    assert_true(cli_lines_fill(lines) > 0);
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_TOO_LONG);
    assert_int_equal(no, 2);
    /* The rest of line 2 ("nop") is skipped across reads. */
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_AGAIN);
    assert_int_equal(cli_lines_fill(lines), 3);
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_AGAIN);
    assert_int_equal(write(p[1], "q\nr", 3), 3);
    close(p[1]);
    assert_int_equal(cli_lines_fill(lines), 3);
    /* "r" may still go on: only the end of input makes it a line. */
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_AGAIN);
    assert_int_equal(cli_lines_fill(lines), 0);
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_OK);
    assert_string_equal(line, "r");
    assert_int_equal(no, 3);
    assert_int_equal(cli_lines_next(lines, &line, &len, &no), CLI_LINE_EOF);
    cli_lines_destroy(&lines);
    cli_lines_destroy(&lines); /* NULL is fine */
    close(p[0]);
}

/* ---- one line ------------------------------------------------------------ */

static void check_reject(const char *line, const char *code, const char *msg_part)
{
    cJSON *body = (cJSON *)1;
    const char *c = NULL;
    char msg[160];
    assert_int_equal(cli_batch_check_line(line, strlen(line), NULL, &body, &c, msg, sizeof msg),
                     CLI_BATCH_REJECT);
    assert_null(body);
    assert_string_equal(c, code);
    if (!strstr(msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", msg, msg_part);
}

static void test_check_line(void **state)
{
    cJSON *body = NULL;
    const char *code = NULL;
    char msg[160];
    assert_int_equal(cli_batch_check_line("", 0, NULL, &body, &code, msg, sizeof msg),
                     CLI_BATCH_BLANK);
    assert_int_equal(cli_batch_check_line(" \t \r", 4, NULL, &body, &code, msg, sizeof msg),
                     CLI_BATCH_BLANK);
    check_reject("not json", BM_ERR_BAD_JSON, "not valid JSON (at byte 1)");
    check_reject("{\"a\":", BM_ERR_BAD_JSON, "not valid JSON");
    check_reject("[1,2]", BM_ERR_BAD_JSON, "one JSON object");
    check_reject("\"text\"", BM_ERR_BAD_JSON, "one JSON object");
    check_reject("{\"a\":1} {\"b\":2}", BM_ERR_BAD_JSON, "JSON 对象后面还有多余内容（第 9 字节） / trailing data after the JSON object (at byte 9)");
    check_reject("{\"a\":\"\xff\"}", BM_ERR_BAD_JSON, "not valid UTF-8");

    /* A NUL inside the line: the length counts, not the terminator. */
    const char nul[] = "{\"a\":1}\0x";
    assert_int_equal(cli_batch_check_line(nul, sizeof nul - 1, NULL, &body, &code, msg, sizeof msg),
                     CLI_BATCH_REJECT);

    const char *line = "  {\"category\":\"leak\",\"building\":\"市政小区 3栋\"}  ";
    cJSON *defaults = cJSON_Parse("{\"channel\":\"forum\",\"category\":\"pipe\"}");
    assert_int_equal(cli_batch_check_line(line, strlen(line), defaults, &body, &code, msg,
                                          sizeof msg),
                     CLI_BATCH_SEND);
    assert_non_null(body);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(body, "channel")->valuestring, "forum");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(body, "category")->valuestring, "leak");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(body, "building")->valuestring,
                        "市政小区 3栋");
    assert_int_equal(cJSON_GetArraySize(body), 3);
    cJSON_Delete(body);
    cJSON_Delete(defaults);
}

static void test_exit_code(void **state)
{
    cli_batch_stats_t st = {.accepted = 3};
    assert_int_equal(cli_batch_exit_code(&st), CLI_EXIT_OK);
    st.rejected = 1;
    assert_int_equal(cli_batch_exit_code(&st), CLI_EXIT_REFUSED);
    st.timed_out = 1;
    assert_int_equal(cli_batch_exit_code(&st), CLI_EXIT_UNREACHABLE);
}

/* ---- the pipeline against a fake broker ---------------------------------- */

/* Answers one submit the way the broker would, as far as the test needs:
 * text "drop" gets no answer; ticket = 1000 + the number in text "tN". The
 * fake answers what is queued in reverse: replies come out of order. */
static void fake_answer(void *user, void *sock, const bm_envelope_t *env, const bm_msg_t *msg)
{
    (void)user;
    const cJSON *b = msg->body;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
    const cJSON *channel = cJSON_GetObjectItemCaseSensitive(b, "channel");
    const cJSON *building = cJSON_GetObjectItemCaseSensitive(b, "building");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(b, "ref");
    bm_error_t err = {0};
    if (cJSON_IsString(text) && strcmp(text->valuestring, "drop") == 0)
        return;
    if (strcmp(msg->cmd, BM_CMD_SUBMIT) != 0) {
        bm_error_set(&err, BM_ERR_UNKNOWN_COMMAND, NULL, "unknown command");
    } else if (!cJSON_IsString(channel) || strcmp(channel->valuestring, "forum") != 0) {
        bm_error_set(&err, BM_ERR_UNKNOWN_CHANNEL, "channel", "unknown channel");
    } else if (!cJSON_IsString(building)) {
        bm_error_set(&err, BM_ERR_INVALID, "building", "field \"building\" is required");
    }
    if (err.code) {
        assert_int_equal(bm_send_error(sock, env, msg->cid, msg->cid_len, &err), 0);
        return;
    }
    long n = 0;
    if (cJSON_IsString(text) && text->valuestring[0] == 't')
        n = strtol(text->valuestring + 1, NULL, 10);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddNumberToObject(reply, "ticket", 1000 + (double)n);
    cJSON_AddStringToObject(reply, "status", "open");
    cJSON_AddBoolToObject(reply, "duplicate",
                          cJSON_IsString(ref) && strcmp(ref->valuestring, "dup") == 0);
    assert_int_equal(bm_send(sock, env, BM_REPLY_OK, msg->cid, msg->cid_len, reply), 0);
    cJSON_Delete(reply);
}

/* A fake broker that answers (serve) or an endpoint nobody listens at. */
static void fake_start(ct_fake_t *f, bool serve)
{
    ct_fake_start(f, "client", serve ? fake_answer : NULL, NULL);
}

/* Splits out into lines (in place); returns how many. */
static size_t split_lines(char *out, char **lines, size_t cap)
{
    size_t n = 0;
    for (char *p = out; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_true(n < cap);
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

static void run_batch(const char *endpoint, const char *input, size_t len, int window,
                      int timeout_ms, char **out, cli_batch_stats_t *st, int *rc)
{
    cJSON *defaults = cJSON_Parse("{\"channel\":\"forum\",\"category\":\"pipe\",\"contact\":\"罗女士\"}");
    cli_batch_opts_t opts = {.endpoint = endpoint, .window = window, .timeout_ms = timeout_ms,
                             .defaults = defaults};
    size_t outlen = 0;
    FILE *f = open_memstream(out, &outlen);
    int fd = input_fd(input, len);
    char err[256] = "";
    *rc = cli_batch_run(&opts, fd, f, st, err, sizeof err);
    if (*rc != 0)
        fail_msg("cli_batch_run: %s", err);
    close(fd);
    fclose(f);
    cJSON_Delete(defaults);
}

static void test_pipeline_fake_broker(void **state)
{
    ct_fake_t fake;
    fake_start(&fake, true);

    /* Lines 1..8 are special; 9..60 are ordinary submits "t<line>". */
    size_t cap = 200000, len = 0;
    char *in = calloc(1, cap);
    len += (size_t)snprintf(in + len, cap - len,
                            "{\"building\":\"市政小区 3栋\",\"text\":\"t1\",\"ref\":\"r1\"}\n"
                            "\n"
                            "not json\n"
                            "{\"text\":\"t4\"}\n"
                            "{\"building\":\"5栋\",\"text\":\"drop\",\"ref\":\"r5\"}\n"
                            "{\"building\":\"6栋\",\"text\":\"t6\",\"ref\":\"dup\"}\n");
    memset(in + len, 'x', 70000);
    len += 70000;
    in[len++] = '\n';
    len += (size_t)snprintf(in + len, cap - len,
                            "{\"building\":\"8栋\",\"text\":\"t8\",\"channel\":\"wechat\"}\n");
    for (int i = 9; i <= 60; i++)
        len += (size_t)snprintf(in + len, cap - len, "{\"building\":\"%d栋\",\"text\":\"t%d\"}\n",
                                i, i);

    char *out = NULL;
    cli_batch_stats_t st;
    int rc = 0;
    run_batch(fake.endpoint, in, len, 4, 500, &out, &st, &rc);
    ct_fake_stop(&fake);

    char *lines[80];
    size_t n = split_lines(out, lines, 80);
    assert_int_equal(n, 59); /* every line but the blank one, in input order */
    assert_string_equal(lines[0], "{\"line\":1,\"ok\":true,\"ticket\":1001,\"duplicate\":false,\"ref\":\"r1\"}");
    assert_non_null(strstr(lines[1], "{\"line\":3,\"ok\":false,\"code\":\"bad_json\",\"message\":\"这一行不是有效的 JSON（第 "));
    assert_string_equal(lines[2], "{\"line\":4,\"ok\":false,\"code\":\"invalid\",\"message\":\"field \\\"building\\\" is required\",\"field\":\"building\"}");
    assert_non_null(strstr(lines[3], "{\"line\":5,\"ok\":false,\"code\":\"timeout\",\"message\":\"服务站 "));
    assert_non_null(strstr(lines[3], " / no answer from the broker at "));
    assert_non_null(strstr(lines[3], "\"ref\":\"r5\""));
    assert_string_equal(lines[4], "{\"line\":6,\"ok\":true,\"ticket\":1006,\"duplicate\":true,\"ref\":\"dup\"}");
    assert_string_equal(lines[5], "{\"line\":7,\"ok\":false,\"code\":\"too_large\",\"message\":\"这一行超过 65536 字节，未发送 / line is longer than 65536 bytes; not sent\"}");
    assert_string_equal(lines[6], "{\"line\":8,\"ok\":false,\"code\":\"unknown_channel\",\"message\":\"unknown channel\",\"field\":\"channel\"}");
    for (int i = 9; i <= 60; i++) {
        char want[96];
        snprintf(want, sizeof want, "{\"line\":%d,\"ok\":true,\"ticket\":%d,\"duplicate\":false}",
                 i, 1000 + i);
        assert_string_equal(lines[i - 2], want);
    }
    assert_int_equal(st.lines, 59);
    assert_int_equal(st.accepted, 54);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.rejected, 4);
    assert_int_equal(st.timed_out, 1);
    assert_int_equal(cli_batch_exit_code(&st), CLI_EXIT_UNREACHABLE);
    /* Sent: all but the blank, the bad JSON and the oversized line. */
    assert_int_equal(atomic_load(&fake.received), 57);
    free(out);
    free(in);
}

static void test_pipeline_all_accepted(void **state)
{
    ct_fake_t fake;
    fake_start(&fake, true);
    const char *in = "{\"building\":\"1栋\",\"text\":\"t1\"}\r\n\r\n{\"building\":\"2栋\",\"text\":\"t2\"}";
    char *out = NULL;
    cli_batch_stats_t st;
    int rc = 0;
    run_batch(fake.endpoint, in, strlen(in), 64, 5000, &out, &st, &rc);
    ct_fake_stop(&fake);
    assert_string_equal(out, "{\"line\":1,\"ok\":true,\"ticket\":1001,\"duplicate\":false}\n"
                             "{\"line\":3,\"ok\":true,\"ticket\":1002,\"duplicate\":false}\n");
    assert_int_equal(cli_batch_exit_code(&st), CLI_EXIT_OK);
    free(out);
}

static void test_pipeline_no_broker(void **state)
{
    ct_fake_t fake;
    fake_start(&fake, false);
    char in[2048];
    size_t len = 0;
    for (int i = 1; i <= 10; i++)
        len += (size_t)snprintf(in + len, sizeof in - len, "{\"building\":\"%d栋\",\"text\":\"t%d\"}\n",
                                i, i);
    len += (size_t)snprintf(in + len, sizeof in - len, "{oops\n");
    char *out = NULL;
    cli_batch_stats_t st;
    int rc = 0;
    run_batch(fake.endpoint, in, len, 2, 200, &out, &st, &rc);
    ct_fake_stop(&fake);
    char *lines[16];
    size_t n = split_lines(out, lines, 16);
    assert_int_equal(n, 11);
    /* The first window waits its timeout; after that nothing more is sent. */
    assert_non_null(strstr(lines[0], "\"code\":\"timeout\",\"message\":\"服务站 "));
    assert_non_null(strstr(lines[0], " / no answer from the broker at "));
    assert_non_null(strstr(lines[1], "\"code\":\"timeout\",\"message\":\"服务站 "));
    assert_non_null(strstr(lines[1], " / no answer from the broker at "));
    for (size_t i = 2; i < 10; i++) {
        assert_non_null(strstr(lines[i], "\"code\":\"timeout\",\"message\":\"未发送：服务站 "));
        assert_non_null(strstr(lines[i], " / not sent: the broker at "));
    }
    assert_non_null(strstr(lines[10], "{\"line\":11,\"ok\":false,\"code\":\"bad_json\""));
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.timed_out, 10);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(cli_batch_exit_code(&st), CLI_EXIT_UNREACHABLE);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_file),
        cmocka_unit_test(test_lines_stream),
        cmocka_unit_test(test_check_line),
        cmocka_unit_test(test_exit_code),
        cmocka_unit_test(test_pipeline_fake_broker),
        cmocka_unit_test(test_pipeline_all_accepted),
        cmocka_unit_test(test_pipeline_no_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
