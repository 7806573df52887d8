/* users.h - the broker's user commands: user_add, user_passwd, user_disable
 * (the office) and login (the gateway). Passwords are hashed and checked here
 * with argon2id; the gateway only ever sees whether a login was good. Each
 * function reads the request body, does the work in the store (inside the
 * broker's batch) and returns the reply body, so broker.c only routes. */
#ifndef BM_USERS_H
#define BM_USERS_H

#include "config.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* argon2id cost (OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane). */
#define BM_DEFAULT_ARGON2_T_COST   2
#define BM_DEFAULT_ARGON2_M_KIB    19456
#define BM_DEFAULT_ARGON2_LANES    1
#define BM_MIN_PASSWORD            8    /* bytes */
#define BM_MAX_PASSWORD            256  /* bytes */
/* Backoff: after this many wrong passwords in a row, each further one locks
 * the login for 2^(n - free) seconds, at most BM_DEFAULT_LOGIN_LOCK_MAX_S. */
#define BM_DEFAULT_LOGIN_FREE_FAILS 5
#define BM_DEFAULT_LOGIN_LOCK_MAX_S 900

#define BM_ERR_BAD_LOGIN "bad_login" /* unknown user, wrong password, disabled or locked */

/* Each returns 0 with *reply set (caller owns), or -1 with err set; actor is
 * who is doing it ("office"), for the audit trail. */
int users_add(store_t *st, const bm_config_t *cfg, const cJSON *body, const char *actor,
              int64_t now, cJSON **reply, bm_error_t *err);
int users_passwd(store_t *st, const cJSON *body, const char *actor, int64_t now, cJSON **reply,
                 bm_error_t *err);
int users_disable(store_t *st, const cJSON *body, const char *actor, int64_t now, cJSON **reply,
                  bm_error_t *err);
int users_list(store_t *st, cJSON **reply, bm_error_t *err);

/* Checks {user, password}: on success *reply is {user, name, role}. Every
 * failure is code bad_login with the same message for an unknown user and a
 * wrong password; after BM_DEFAULT_LOGIN_FREE_FAILS wrong ones the user is
 * locked for a growing time and told how long (retry_after_s in *reply is
 * not used: the message says it). Counters are written even on failure. */
int users_login(store_t *st, const cJSON *body, int64_t now, cJSON **reply, bm_error_t *err);

/* Reads {user}: *reply = {user, name, role, disabled} (never the hash), so
 * that the gateway can end the sessions of a disabled or changed user at
 * once. Errors: not_found. */
int users_check(store_t *st, const cJSON *body, cJSON **reply, bm_error_t *err);

/* Seconds a user with n failures in a row is locked for (0: not locked). */
int users_lock_seconds(int failed);

#endif
