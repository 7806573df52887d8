/* registry.h - the broker's in-memory view of the key registry: who each
 * registered public key is. Loaded from the database at start, changed with
 * it by `keys` commands; the ZAP handler and every message's identity read
 * it. A key that is not here does not get in. */
#ifndef BM_REGISTRY_H
#define BM_REGISTRY_H

#include "config.h"
#include "store_keys.h"

#include <stdint.h>

/* Role kinds, as bits so that a command's permission is a mask. */
enum {
    ROLE_OFFICE = 1u << 0,
    ROLE_CHANNEL = 1u << 1,
    ROLE_VOLUNTEER = 1u << 2,
    ROLE_NOTIFIER = 1u << 3,
    ROLE_GATEWAY = 1u << 4,
};

#define REG_MAX_FDS 8 /* connections remembered per key, to drop them on revoke */

typedef struct {
    char public_key[BM_Z85_KEY_LEN + 1];
    char role[BM_MAX_ROLE + 1];
    unsigned kind;              /* one ROLE_* bit */
    char principal[BM_MAX_VOL_ID + 1]; /* channel name or volunteer id; "" otherwise */
    char name[128];
    uint32_t skills;            /* volunteer: bit i = cfg categories[i] */
    char skills_text[400];
    int max_jobs;
    char acts_for[512];         /* gateway: comma separated roles */
    int fds[REG_MAX_FDS];
    int n_fds;
    /* limits, counted per key */
    double tokens;      /* submit bucket */
    int64_t refill_ms;  /* when the bucket was last filled; 0 = never */
    int64_t day;        /* UTC day number of the counters below */
    int day_submits;
    int day_photos;
} reg_key_t;

typedef struct registry registry_t;

registry_t *registry_new(const bm_config_t *cfg);
void registry_destroy(registry_t **self_p);

/* Adds (or replaces) a key. Returns 0, or -1 if its role or skills are not
 * valid under the config (err set). */
int registry_put(registry_t *self, const store_key_t *key, bm_error_t *err);
/* Checks a key as registry_put would, without adding it. */
int registry_check(const registry_t *self, const store_key_t *key, bm_error_t *err);
/* Calls fn for every key (stop when it returns non-zero). */
void registry_each(registry_t *self, int (*fn)(reg_key_t *key, void *arg), void *arg);
/* The key, or NULL. The pointer is valid until the registry changes. */
reg_key_t *registry_find(registry_t *self, const char *public_key);
/* Removes a key; returns 0, or -1 if it was not there. */
int registry_remove(registry_t *self, const char *public_key);
/* How many keys of a kind are registered. */
int registry_count(const registry_t *self, unsigned kind);
/* Remembers that a message of this key came over connection fd (and that
 * no other key's connection has that descriptor any more). */
void registry_note_fd(registry_t *self, reg_key_t *key, int fd);
/* True if a gateway key may act as role ("office", "channel:forum"). */
bool registry_acts_for(const reg_key_t *key, const char *role);

/* The kind bit of a role string ("channel:forum" -> ROLE_CHANNEL), 0 if
 * unknown; principal receives the part after the colon. */
unsigned registry_kind(const char *role, char *principal, size_t len);

#endif
