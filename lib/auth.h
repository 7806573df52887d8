/* auth.h - key files and CURVE socket setup: who a peer is comes from its key.
 *
 * A key file is a small JSON object, mode 0600, holding one CURVE key pair
 * (Z85), the role it was registered with, and what a client needs to reach
 * the station: the broker's public key and its two endpoints. The broker's
 * own key file has the same shape with role "broker". The secret half never
 * leaves the file it was written to: `bianmin keys new` generates the pair
 * locally and sends only the public half to the broker to register.
 * docs/security.md describes roles, files and the key lifecycle. */
#ifndef BM_AUTH_H
#define BM_AUTH_H

#include "proto.h"

#include <stdbool.h>
#include <stddef.h>

#define BM_Z85_KEY_LEN 40 /* a 32-byte CURVE key in Z85 */
#define BM_MAX_ROLE    80 /* "volunteer:<id>", "channel:<name>", ... */

/* The ZAP domains of the broker's two sockets: a key is accepted only on the
 * socket its role speaks on. */
#define BM_ZAP_DOMAIN_CLIENT "bianmin.client"
#define BM_ZAP_DOMAIN_WORKER "bianmin.worker"

typedef struct bm_key {
    char public_key[BM_Z85_KEY_LEN + 1];
    char secret_key[BM_Z85_KEY_LEN + 1];
    char broker_key[BM_Z85_KEY_LEN + 1]; /* the station's public key ("" in the broker's own file) */
    char role[BM_MAX_ROLE + 1];          /* office, channel:<name>, volunteer:<id>, notifier, gateway, broker */
    char name[128];                      /* who holds it, for people: 袁建成, 3栋楼栋长 */
    char client_endpoint[256];           /* where to reach the station ("" = program default) */
    char worker_endpoint[256];
} bm_key_t;

/* Makes a new key pair into key (other fields untouched). Returns 0 or -1. */
int bm_key_generate(bm_key_t *key);

/* Reads a key file. Refuses a file that others may read (like ssh), a
 * malformed one, or a key that is not 40 Z85 characters. Returns 0 or -1
 * with err set (code "key_file", message for people). */
int bm_key_load(const char *path, bm_key_t *key, bm_error_t *err);

/* Writes a key file, mode 0600, refusing to replace an existing file unless
 * overwrite. The secret is written only if with_secret. Returns 0 or -1. */
int bm_key_save(const char *path, const bm_key_t *key, bool overwrite, bm_error_t *err);

/* True if s is a well-formed Z85 CURVE key (40 characters that decode). */
bool bm_key_z85_ok(const char *s);

/* Sets the CURVE client options on a socket before it connects (server key,
 * own pair). Returns 0 or -1 (errno). */
int bm_curve_client(void *sock, const bm_key_t *key);
/* Sets the CURVE server options (own secret key, ZAP domain) on a socket
 * before it binds. Returns 0 or -1 (errno). */
int bm_curve_server(void *sock, const bm_key_t *key, const char *zap_domain);

/* Splits "volunteer:v01" into kind "volunteer" and principal "v01"
 * (principal "" for office, notifier, gateway). Returns 0, or -1 if role is
 * not one of the known kinds or its principal is malformed. */
int bm_role_parse(const char *role, char *kind, size_t kind_len, char *principal,
                  size_t principal_len);

/* The key file a program uses when no --key is given: $BIANMIN_KEY, else
 * dflt if it exists. Returns a pointer to a static buffer, or NULL. */
const char *bm_key_default_path(const char *dflt);
/* The key file to use: given (from --key) if set, else the default above;
 * "none", given or in $BIANMIN_KEY, means no key (development mode, for a
 * broker with "auth": "none") even where a default key file exists. */
const char *bm_key_choose(const char *given, const char *dflt);

/* Fills buf with a message for people when the station refused a key or the
 * handshake failed; event is a ZMQ_EVENT_HANDSHAKE_FAILED_* value. */
void bm_key_refusal_message(int event, int value, char *buf, size_t len);

#endif
