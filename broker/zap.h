/* zap.h - the broker's ZAP handler (ZeroMQ RFC 27): decides, during the CURVE
 * handshake, whether a client key may connect to a socket at all.
 *
 * It lives in the broker's own context and is bound before any server
 * socket. It fails closed: anything but a well-formed CURVE request for a
 * registered key whose role speaks on that socket is refused. Because
 * libzmq 4.3 lets a CURVE server accept any key when no handler answers,
 * zap_self_test proves at start that an unregistered key is refused. */
#ifndef BM_ZAP_H
#define BM_ZAP_H

#include "auth.h"
#include "registry.h"

typedef struct zap zap_t;

/* Binds the handler in ctx. Returns NULL with err set (e.g. another handler
 * is bound already). */
zap_t *zap_new(void *ctx, registry_t *reg, bm_error_t *err);
void zap_destroy(zap_t **self_p);

/* The socket to poll for ZMQ_POLLIN (NULL once unbound). */
void *zap_socket(zap_t *self);

/* Answers every request waiting; returns how many, or -1 on a socket error. */
int zap_handle(zap_t *self);

/* Testing seams: a handler that reads requests and never answers; one that
 * is not bound at all (libzmq then lets any key in, which the self-test
 * must catch). */
void zap_set_silent(zap_t *self, bool silent);
void zap_unbind(zap_t *self);

/* Counters for the self-test and for logs. */
unsigned long zap_refused(const zap_t *self);

/* Connects to endpoint with a fresh, unregistered key and checks that the
 * handshake is refused by this handler within timeout_ms. Returns 0, or -1
 * with err set: then the broker must not start. */
int zap_self_test(zap_t *self, void *ctx, const char *endpoint, const char *server_public,
                  int timeout_ms, bm_error_t *err);

#endif
