/* metrics.h - the broker's Prometheus metrics on a small HTTP listener of its
 * own (libmicrohttpd), off unless configured ("metrics_listen", --metrics).
 *
 * The listener runs in its own thread and never touches the broker's SQLite
 * connection or its state: the broker thread reports what it did through the
 * hooks below (counters and histograms kept under a mutex), and the gauges
 * that live in the database (requests by status, overdue, deliveries) are
 * read at scrape time through a separate read-only connection. Every hook
 * accepts NULL (metrics off) and does nothing. Names: docs/operations.md. */
#ifndef BM_METRICS_H
#define BM_METRICS_H

#include "config.h"

#include <stdbool.h>
#include <stdint.h>

#define BM_DEFAULT_METRICS_HOST  "127.0.0.1" /* when only a port is given */
#define BM_METRICS_MAX_CONNS     8           /* scrapers served at once */
#define BM_METRICS_TIMEOUT_S     10          /* an idle scrape connection is closed */

typedef struct metrics metrics_t;

/* Parses "HOST:PORT", "[V6]:PORT" or "PORT" (then on 127.0.0.1) into a
 * socket address written to addr (a struct sockaddr_storage) and *addrlen.
 * Returns 0, or -1 with a message for people in err. */
int metrics_parse_listen(const char *spec, void *addr, unsigned *addrlen, bm_error_t *err);

/* Starts listening on listen (see metrics_parse_listen) and serving
 * GET /metrics; reads gauges from the database at db_path read-only.
 * Returns NULL with err set. */
metrics_t *metrics_new(const char *listen, const bm_config_t *cfg, bm_error_t *err);
/* Stops the listener and frees everything. */
void metrics_destroy(metrics_t **self_p);
/* The port actually bound (useful with port 0). */
int metrics_port(const metrics_t *self);
/* Whether the listener is bound to a loopback address only. */
bool metrics_loopback(const metrics_t *self);

/* A monotonic clock in microseconds, for timing commits. */
int64_t metrics_now_us(void);
/* After a pass: whether it wrote (and so committed), whether the commit
 * succeeded and how long it took, how many messages it handled, how many
 * submits it accepted, and how many volunteers are online. */
void metrics_pass(metrics_t *self, bool wrote, bool committed, int64_t commit_us, int handled,
                  int submits, int online);
/* One webhook attempt the notifier reported: success and latency. */
void metrics_webhook(metrics_t *self, bool ok, int64_t latency_ms);

#endif
