/* testutil.h - shared helpers for the C tests: temp dirs, a broker running in
 * a thread, and raw BM1 calls over a DEALER socket. */
#ifndef BM_TESTUTIL_H
#define BM_TESTUTIL_H

#include "config.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

/* Makes a fresh temp dir under $BM_TEST_TMP (or /tmp); returns a static path. */
const char *tu_tmpdir(char *buf, size_t len);
/* Removes a temp dir made by tu_tmpdir and everything in it. */
void tu_rmtree(const char *path);

typedef struct tu_broker tu_broker_t;
/* Starts a broker on ipc:// endpoints in dir with a test config (fast retry
 * schedule, callback secret); cfg_edit may adjust the config first. */
tu_broker_t *tu_broker_start(const char *dir, void (*cfg_edit)(bm_config_t *));
void tu_broker_stop(tu_broker_t **self_p);
const char *tu_client_ep(const tu_broker_t *b);
const char *tu_worker_ep(const tu_broker_t *b);
const char *tu_db_path(const tu_broker_t *b);
void tu_broker_fail_commits(tu_broker_t *b, int n);

/* The usual fixture: a temp dir, a broker in it, a client DEALER. */
typedef struct {
    char dir[512];
    tu_broker_t *broker;
    void *client;
} tu_fixture_t;

/* Makes a fixture into *state (cfg_edit as for tu_broker_start); 0 or -1. */
int tu_fixture_setup(void **state, void (*cfg_edit)(bm_config_t *));
/* Stops and removes everything tu_fixture_setup made. */
int tu_fixture_teardown(void **state);

/* A DEALER connected to ep (own context per test). */
void *tu_dealer(const char *ep);
/* The same with a CURVE key (NULL: none); with mon, also a monitor of its
 * handshakes (read with bm_monitor_read; closed by tu_close). */
struct bm_key;
void *tu_dealer_key(const char *ep, const struct bm_key *key, void **mon);
/* tu_call with a timeout of its own. */
cJSON *tu_call_ms(void *sock, const char *cmd, const char *body, char *cmd_out, size_t cmd_len,
                  int timeout_ms);

/* The real bianmin-broker program, started on ipc:// endpoints in dir with a
 * config of the usual test settings plus extra_json (",\"key\": value..." or
 * ""), and extra arguments (NULL-terminated, may be NULL). Waits until it
 * answers on its client socket (with the office key it made, when auth is
 * on). Returns its pid, or -1 if it exited (its exit status in *status). */
int tu_spawn_broker(const char *dir, const char *extra_json, const char *const *extra_args,
                    int *status);
/* SIGTERM (or SIGKILL after 10 s) and reaps it. */
void tu_kill_broker(int pid);
void tu_close(void *sock);

/* Sends BM1 cmd with a JSON body text (sent as-is, may be invalid) and
 * waits up to 5 s for the reply with the same cid. Returns the reply command
 * ("ok"/"error") in cmd_out and the parsed body (caller owns), or NULL on
 * timeout. Unsolicited messages arriving meanwhile are stored for tu_next. */
cJSON *tu_call(void *sock, const char *cmd, const char *body, char *cmd_out, size_t cmd_len);
/* Waits up to timeout_ms for an unsolicited message with command cmd; returns
 * its body (caller owns) or NULL. */
cJSON *tu_next(void *sock, const char *cmd, int timeout_ms);
/* Sends raw frames (n of them) and returns the reply body or NULL. */
cJSON *tu_raw(void *sock, const char *const *frames, const size_t *lens, size_t n,
              char *cmd_out, size_t cmd_len);

/* Runs one SQL query returning a single integer against the db (read-only). */
long long tu_sql_int(const char *db, const char *sql);
/* Runs one SQL statement read-write against the db; returns 0 or -1. */
int tu_sql_exec(const char *db, const char *sql);
/* The database path tu_broker_start uses in dir (static buffer). */
const char *tu_path_db(const char *dir);
/* Returns the string field of an object, or "". */
const char *tu_str(const cJSON *obj, const char *key);
/* Returns the number field of an object, or -1. */
double tu_num(const cJSON *obj, const char *key);

#endif
