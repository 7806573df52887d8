/* store_users.h - the people who log in through the gateway (schema/003_users.sql):
 * login name, display name, role, argon2id hash, disabled flag and the
 * failed-login counters behind the backoff. Writes join the broker's batch
 * transaction like every other write; each change also leaves an audit row.
 * Hashing and checking passwords is the caller's (broker/users.c). */
#ifndef BM_STORE_USERS_H
#define BM_STORE_USERS_H

#include "auth.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

#define BM_MAX_LOGIN     64  /* bytes of a login name */
#define BM_MAX_USER_NAME 100 /* bytes of a display name */
#define BM_MAX_HASH      256 /* an encoded argon2id hash */

typedef struct {
    char login[BM_MAX_LOGIN + 1];
    char name[BM_MAX_USER_NAME + 1];
    char role[BM_MAX_ROLE + 1];
    char hash[BM_MAX_HASH + 1];
    bool disabled;
    int failed;
    int64_t locked_until; /* ms */
} store_user_t;

/* Reads a user. Returns 0 (found), 1 (no such user) or -1 (database error). */
int store_user_get(store_t *self, const char *login, store_user_t *out);

/* Adds a user with an audit row. Errors: invalid (the login exists),
 * storage_error. */
int store_user_add(store_t *self, const store_user_t *u, const char *actor, int64_t now,
                   bm_error_t *err);

/* Replaces a user's hash and clears the failure counters (audit row).
 * Errors: not_found, storage_error. */
int store_user_set_hash(store_t *self, const char *login, const char *hash, const char *actor,
                        int64_t now, bm_error_t *err);

/* Disables (or enables again) a user (audit row). Errors: not_found,
 * storage_error. */
int store_user_set_disabled(store_t *self, const char *login, bool disabled, const char *actor,
                            int64_t now, bm_error_t *err);

/* Records a login attempt's outcome: a good one clears the counters and sets
 * last_login_at; a bad one stores the new failed count and locked_until.
 * Returns 0 or -1 (err set). */
int store_user_login_result(store_t *self, const char *login, bool ok, int failed,
                            int64_t locked_until, int64_t now, bm_error_t *err);

/* Every user as a JSON array of {"user", "name", "role", "disabled",
 * "failed", "last_login_at", "created_at"} (never the hash); caller owns it.
 * NULL on error. */
cJSON *store_users_list(store_t *self);

#endif
