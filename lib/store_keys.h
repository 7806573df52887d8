/* store_keys.h - the key registry and the system audit trail in the broker's
 * database (schema/002_keys.sql). Writes join the current batch transaction,
 * like every other write of the broker: they are acknowledged only after the
 * pass commits. */
#ifndef BM_STORE_KEYS_H
#define BM_STORE_KEYS_H

#include "auth.h"
#include "store.h"

typedef struct {
    char public_key[BM_Z85_KEY_LEN + 1];
    char role[BM_MAX_ROLE + 1];
    char name[128];
    char skills[400];   /* volunteer: comma separated categories */
    int max_jobs;       /* volunteer */
    char acts_for[512]; /* gateway: comma separated roles */
    int64_t created_at;
} store_key_t;

/* Calls fn for every key that is not revoked; stops early if fn returns
 * non-zero. Returns 0 or -1. */
int store_keys_load(store_t *self, int (*fn)(const store_key_t *key, void *arg), void *arg);

/* Registers a key, with an audit row. Errors: invalid (already registered, or
 * revoked before: a revoked key never comes back), storage_error. */
int store_key_add(store_t *self, const store_key_t *key, const char *actor, int64_t now,
                  bm_error_t *err);

/* Revokes a key, with an audit row. Errors: not_found (unknown or already
 * revoked), storage_error. */
int store_key_revoke(store_t *self, const char *public_key, const char *actor, int64_t now,
                     bm_error_t *err);

/* Every key (revoked ones too if all), newest first, as a JSON array of
 * {"public", "role", "name", "skills", "max_jobs", "acts_for", "created_at",
 * "created_by", "revoked_at"}; caller owns it. NULL on error. */
cJSON *store_keys_list(store_t *self, bool all);

/* Appends a row to the system audit trail (inside the batch). detail is a
 * JSON object text or NULL. Returns 0 or -1. */
int store_audit(store_t *self, const char *actor, const char *action, const char *subject,
                const char *detail, int64_t now);

#endif
