/* test_garbage.c - the broker never crashes on what a peer sends: thousands of
 * random and mutated messages on both sockets (a fixed seed, so a failure
 * repeats), then a valid request must still be answered correctly and the
 * database must hold only what was acknowledged. */
#include "proto.h"
#include "testutil.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ROUNDS 3000

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static const char *const commands[] = {
    "submit", "get", "take", "report", "cancel", "reopen", "escalate", "resolve", "list",
    "volunteers", "deliveries", "delivery", "replay", "endpoints", "endpoint", "rate",
    "hello", "heartbeat", "claim", "done", "progress", "decline", "cantfix", "x", ""};

static const char *const bodies[] = {
    "{\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"b\",\"contact\":\"c\",\"text\":\"t\"}",
    "{\"ticket\":1}", "{\"ticket\":1,\"note\":\"n\"}", "{\"volunteer\":\"v\",\"name\":\"n\",\"skills\":[\"pipe\"]}",
    "{\"results\":[{\"id\":1,\"ok\":true}]}", "{\"max\":5,\"wait_ms\":0}", "{\"id\":1,\"action\":\"rotate\"}",
    "{\"ticket\":1,\"channel\":\"office\",\"score\":5}", "{\"limit\":3,\"since\":\"2020-01-01\"}",
    "{\"ticket\":1e300}", "{\"ticket\":-1}", "{\"skills\":[1,2,{}]}", "{\"results\":[null,[],{}]}",
    "{\"ticket\":1,\"channel\":\"office\",\"department\":\"d\",\"reason\":\"r\",\"answer\":\"a\"}", "{}", "[]",
    "null", "{\"a\":{\"b\":{\"c\":[[[[[[]]]]]]}}}"};

/* Copies a body and flips, drops or inserts a few bytes. */
static size_t mutate(const char *src, char *dst, size_t cap)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    int edits = (int)(next_rand() % 4);
    for (int e = 0; e < edits && n > 0; e++) {
        size_t at = next_rand() % n;
        switch (next_rand() % 3) {
        case 0: dst[at] = (char)(next_rand() & 0xFF); break;
        case 1: memmove(dst + at, dst + at + 1, n - at - 1); n--; break;
        default:
            if (n + 1 < cap) {
                memmove(dst + at + 1, dst + at, n - at);
                dst[at] = "{}[]\",:\\0\xe5\xff"[next_rand() % 12];
                n++;
            }
        }
    }
    return n;
}

static void send_garbage(void *sock)
{
    char frames[8][512];
    size_t lens[8];
    int nframes = (int)(next_rand() % 9);
    for (int i = 0; i < nframes; i++) {
        if (i == 0 && next_rand() % 4) {
            memcpy(frames[i], "BM1", 3);
            lens[i] = 3;
        } else if (i == 1 && next_rand() % 4) {
            const char *c = commands[next_rand() % (sizeof commands / sizeof commands[0])];
            lens[i] = strlen(c);
            memcpy(frames[i], c, lens[i]);
        } else if (i == 3 && next_rand() % 4) {
            lens[i] = mutate(bodies[next_rand() % (sizeof bodies / sizeof bodies[0])], frames[i],
                             sizeof frames[i]);
        } else {
            lens[i] = next_rand() % 80;
            for (size_t k = 0; k < lens[i]; k++)
                frames[i][k] = (char)(next_rand() & 0xFF);
        }
    }
    for (int i = 0; i < nframes; i++)
        zmq_send(sock, frames[i], lens[i], i + 1 < nframes ? ZMQ_SNDMORE : 0);
}

static void drain(void *sock)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0)
        ;
    zmq_msg_close(&m);
}

/* Reads until nothing has come for 500 ms (at most 30 s). The garbage is sent
 * without waiting for its answers, as no real client does; the broker keeps
 * at most peer_queue answers for a peer that does not read and drops the
 * rest (docs/security.md), so a later request's answer could be dropped too
 * if the garbage's answers were still unread when it is sent. */
static void drain_until_quiet(void *a, void *b)
{
    int64_t end = bm_mono_ms() + 30000, quiet_since = bm_mono_ms();
    while (bm_mono_ms() < end && bm_mono_ms() - quiet_since < 500) {
        zmq_pollitem_t it[2] = {{a, 0, ZMQ_POLLIN, 0}, {b, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, 50) > 0) {
            drain(a);
            drain(b);
            quiet_since = bm_mono_ms();
        }
    }
}

static void test_garbage_does_not_hurt(void **state)
{
    (void)state;
    char dir[512];
    assert_non_null(tu_tmpdir(dir, sizeof dir));
    tu_broker_t *b = tu_broker_start(dir, NULL);
    assert_non_null(b);
    void *client = tu_dealer(tu_client_ep(b));
    void *worker = tu_dealer(tu_worker_ep(b));
    /* Half the worker rounds come from a connection that said hello. */
    char cmd[16];
    cJSON_Delete(tu_call(worker, "hello", "{\"volunteer\":\"fz\",\"name\":\"F\",\"skills\":[\"pipe\"]}",
                         cmd, sizeof cmd));
    for (int i = 0; i < ROUNDS; i++) {
        send_garbage(i % 2 ? client : worker);
        if (i % 100 == 99) {
            drain(client);
            drain(worker);
        }
    }
    drain_until_quiet(client, worker);
    /* Still alive and correct. */
    long long before = tu_sql_int(tu_db_path(b), "SELECT count(*) FROM requests");
    cJSON *r = tu_call(client, "submit",
                       "{\"channel\":\"forum\",\"category\":\"leak\",\"building\":\"7栋\","
                       "\"contact\":\"c\",\"text\":\"漏水\"}",
                       cmd, sizeof cmd);
    assert_non_null(r);
    assert_string_equal(cmd, "ok");
    long long ticket = (long long)tu_num(r, "ticket");
    cJSON_Delete(r);
    assert_int_equal(tu_sql_int(tu_db_path(b), "SELECT count(*) FROM requests"), before + 1);
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM timeline WHERE request_id = %lld", ticket);
    assert_int_equal(tu_sql_int(tu_db_path(b), q), 1);
    /* Every event belongs to a request (the foreign key), no garbage wrote an
     * event, and every request's timeline starts with exactly one receipt. */
    assert_int_equal(tu_sql_int(tu_db_path(b), "SELECT count(*) FROM events"), 0);
    assert_int_equal(tu_sql_int(tu_db_path(b),
                                "SELECT count(*) FROM requests r WHERE (SELECT count(*) FROM timeline t"
                                " WHERE t.request_id = r.id AND t.kind = 'received') <> 1"),
                     0);
    print_message("after %d garbage messages: %lld requests were validly submitted\n", ROUNDS, before);
    tu_close(client);
    tu_close(worker);
    tu_broker_stop(&b);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_garbage_does_not_hurt)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
