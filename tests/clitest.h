/* clitest.h - shared helpers for the client tests (test_client_*.c): parsing
 * a command line into a cli_op_args_t, a formatter's output as a string, a
 * temp dir, and a fake broker (a ROUTER on ipc:// in a temp dir, answered in
 * a thread by the test's own function). Failures are cmocka failures. */
#ifndef BM_CLITEST_H
#define BM_CLITEST_H

#include "cli.h"
#include "proto.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Sets TZ and applies it. */
void ct_set_tz(const char *tz);

/* ---- parsing (cli_op_args_t: act, rate, deliveries, endpoints) ----------- */

typedef int (*ct_parse_fn)(int, char **, cli_op_args_t *, char *, size_t);
/* Parses argv (must succeed, not --help); returns the body as compact JSON
 * (caller frees with cJSON_free) and the command in *cmd. */
char *ct_parse_ok(ct_parse_fn fn, int argc, char **argv, const char **cmd);
/* Parses argv (must fail, with no body) and checks err contains want. */
void ct_parse_fails(ct_parse_fn fn, int argc, char **argv, const char *want);

/* ---- formatting ---------------------------------------------------------- */

/* Parses json (must be valid), calls fn on it and returns what it wrote
 * (caller frees with free). */
char *ct_format_with(void (*fn)(FILE *, const cJSON *), const char *json);
/* Fails the test, showing both, unless got is want. */
void ct_expect_text(const char *got, const char *want);

/* ---- a temp dir and a fake broker ---------------------------------------- */

/* Makes a fresh dir "<$BM_TEST_TMP or /tmp>/<prefix>XXXXXX" into dir. */
void ct_temp_dir(char *dir, size_t len, const char *prefix);

/* Answers one request (the test's own rules). user is what ct_fake_start got. */
typedef void (*ct_answer_fn)(void *user, void *sock, const bm_envelope_t *env,
                             const bm_msg_t *msg);

typedef struct {
    void *ctx;
    void *sock;
    atomic_int stop;
    atomic_int received; /* requests read */
    pthread_t thread;
    ct_answer_fn answer;
    void *user;
    char dir[256];
    char endpoint[300]; /* ipc://DIR/broker.sock */
} ct_fake_t;

/* Starts a fake broker at a new temp dir's ipc endpoint. It takes what is
 * queued (up to 16 requests) and answers it in reverse order, so replies to a
 * pipeline come out of order. With answer NULL nobody listens there. */
void ct_fake_start(ct_fake_t *f, const char *prefix, ct_answer_fn answer, void *user);
/* Stops it and removes its temp dir (and the files the tests leave there). */
void ct_fake_stop(ct_fake_t *f);

#endif
