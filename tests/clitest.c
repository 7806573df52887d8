/* clitest.c - see clitest.h. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "clitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FAKE_BATCH 16

void ct_set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

char *ct_parse_ok(ct_parse_fn fn, int argc, char **argv, const char **cmd)
{
    cli_op_args_t args;
    char err[512] = "";
    if (fn(argc, argv, &args, err, sizeof err) != 0)
        fail_msg("parse failed: %s", err);
    assert_false(args.help);
    assert_non_null(args.body);
    *cmd = args.cmd;
    char *text = cJSON_PrintUnformatted(args.body);
    cJSON_Delete(args.body);
    return text;
}

void ct_parse_fails(ct_parse_fn fn, int argc, char **argv, const char *want)
{
    cli_op_args_t args;
    char err[512] = "";
    assert_int_equal(fn(argc, argv, &args, err, sizeof err), -1);
    assert_null(args.body);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

char *ct_format_with(void (*fn)(FILE *, const cJSON *), const char *json)
{
    cJSON *reply = cJSON_Parse(json);
    assert_non_null(reply);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    fn(f, reply);
    fclose(f);
    cJSON_Delete(reply);
    return out;
}

void ct_expect_text(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", got, want);
}

void ct_temp_dir(char *dir, size_t len, const char *prefix)
{
    const char *base = getenv("BM_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700); /* may exist */
    snprintf(dir, len, "%s/%sXXXXXX", base, prefix);
    assert_non_null(mkdtemp(dir));
}

static void *fake_main(void *arg)
{
    ct_fake_t *f = arg;
    while (!atomic_load(&f->stop)) {
        zmq_pollitem_t item = {f->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) <= 0)
            continue;
        bm_envelope_t envs[FAKE_BATCH];
        bm_msg_t msgs[FAKE_BATCH];
        int n = 0;
        while (n < FAKE_BATCH) {
            bm_error_t err = {0};
            bm_recv_t r = bm_recv(f->sock, true, true, &envs[n], &msgs[n], &err);
            if (r == BM_RECV_NONE || r == BM_RECV_FAIL)
                break;
            if (r == BM_RECV_INVALID) {
                bm_msg_clear(&msgs[n]);
                continue;
            }
            atomic_fetch_add(&f->received, 1);
            n++;
        }
        for (int i = n - 1; i >= 0; i--) {
            f->answer(f->user, f->sock, &envs[i], &msgs[i]);
            bm_msg_clear(&msgs[i]);
        }
    }
    return NULL;
}

void ct_fake_start(ct_fake_t *f, const char *prefix, ct_answer_fn answer, void *user)
{
    memset(f, 0, sizeof *f);
    f->answer = answer;
    f->user = user;
    ct_temp_dir(f->dir, sizeof f->dir, prefix);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s/broker.sock", f->dir);
    if (!answer)
        return; /* nobody listens there */
    f->ctx = zmq_ctx_new();
    f->sock = bm_socket(f->ctx, ZMQ_ROUTER, f->endpoint, true);
    assert_non_null(f->sock);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

void ct_fake_stop(ct_fake_t *f)
{
    char path[400];
    if (f->sock) {
        atomic_store(&f->stop, 1);
        pthread_join(f->thread, NULL);
        zmq_close(f->sock);
        zmq_ctx_term(f->ctx);
        f->sock = NULL;
    }
    snprintf(path, sizeof path, "%s/broker.sock", f->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/out.txt", f->dir);
    unlink(path);
    rmdir(f->dir);
}
