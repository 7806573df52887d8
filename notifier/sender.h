/* sender.h - the notifier's transfer engine: POSTs deliveries in parallel
 * with the libcurl multi interface and hands back one result per finished
 * transfer. It knows nothing of the broker.
 *
 * One multi handle lives as long as the sender, so connections to a receiver
 * are kept and reused. The caller must have called curl_global_init. */
#ifndef NT_SENDER_H
#define NT_SENDER_H

#include "delivery.h"
#include "guard.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct nt_sender nt_sender_t;

typedef struct {
    long parallel;           /* connections in total */
    long per_host;           /* connections to one host */
    long connect_timeout_ms;
    long timeout_ms;         /* a whole attempt */
    nt_guard_t guard;        /* destinations refused and allowed (guard.h) */
} nt_sender_opts_t;

/* Called for each finished transfer; host is the receiver's host name (for
 * logs: the full URL may carry a token). Both are valid during the call only. */
typedef void (*nt_done_fn)(const nt_result_t *result, const char *host, void *arg);

/* Returns a new sender, or NULL if out of memory. */
nt_sender_t *nt_sender_new(const nt_sender_opts_t *opts);
/* Cancels whatever is in flight (no results) and frees the sender; accepts
 * NULL and nulls the caller's pointer. */
void nt_sender_destroy(nt_sender_t **self_p);

/* Starts one attempt of d (copied; d may go away). Every address curl is
 * about to connect to passes the guard first; a refused one ends the attempt
 * with the guard's "refused: ..." error and no HTTP status. Proxies from the
 * environment are not used: through one the guard could not see where the
 * request really goes. Returns 0, or -1 with
 * *fail filled in as a failed result to report (the attempt never left, e.g.
 * an invalid signing secret). */
int nt_sender_start(nt_sender_t *self, const nt_delivery_t *d, nt_result_t *fail);

/* Transfers in flight (including ones curl queues for a free connection). */
size_t nt_sender_inflight(const nt_sender_t *self);

/* Drives the transfers: waits up to timeout_ms for network activity or for
 * extra_fd (if >= 0) to become readable, and calls done for every transfer
 * that finished. Returns the number finished, or -1 if curl failed. */
int nt_sender_run(nt_sender_t *self, int timeout_ms, int extra_fd, nt_done_fn done, void *arg);

/* Cancels every transfer in flight without a result; returns how many. */
size_t nt_sender_abort_all(nt_sender_t *self);

#endif
