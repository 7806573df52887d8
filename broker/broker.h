/* broker.h - bianmin-broker: routes requests from channels to volunteers and
 * owns the database.
 *
 * One thread, one event loop. Each pass reads everything that is waiting on
 * both sockets (up to batch_max messages), handles it inside one SQLite
 * transaction, commits once (synchronous=FULL), and only then sends the
 * replies, offers and notices that pass produced. If the commit fails, every
 * reply of the pass becomes a storage_error and nothing else is sent. */
#ifndef BM_BROKER_H
#define BM_BROKER_H

#include "config.h"

#include <signal.h>

typedef struct broker broker_t;

/* Opens the database and binds both sockets. Returns NULL with err set. The
 * config is copied. */
broker_t *broker_new(const bm_config_t *cfg, bm_error_t *err);
void broker_destroy(broker_t **self_p);

/* Runs the loop until *stop becomes non-zero (set from a signal handler), then
 * finishes the pass in progress (committed and answered) and returns 0; -1 on
 * a fatal socket error. */
int broker_run(broker_t *self, volatile sig_atomic_t *stop);

typedef struct metrics metrics_t;
/* Reports to metrics (metrics.h; not owned, must outlive the loop) after
 * every pass. */
void broker_set_metrics(broker_t *self, metrics_t *metrics);

/* Testing seam: the next n commits fail (see store_fail_commits). */
void broker_fail_commits(broker_t *self, int n);

#endif
