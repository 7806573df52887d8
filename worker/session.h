/* session.h - one volunteer's connection to the broker: says hello, keeps
 * heartbeats going, reconnects when the broker goes silent, turns typed or
 * JSON commands into worker commands and the broker's replies and offers into
 * events. Single-threaded: one zmq_poll over the broker socket and stdin. */
#ifndef WK_SESSION_H
#define WK_SESSION_H

#include "options.h"

#include <signal.h>
#include <stdio.h>

typedef struct wk_session wk_session_t;

/* Returns a new session reading commands from in_fd and writing events to out
 * (neither is closed by the session), or NULL. No I/O happens yet. */
wk_session_t *wk_session_new(const wk_options_t *opts, int in_fd, FILE *out);
void wk_session_destroy(wk_session_t **self_p);

/* Runs until input ends (after waiting a bounded time for replies still due),
 * "quit", *stop becoming non-zero (may be NULL), or a fatal error such as the
 * broker refusing the hello. Returns 0 for a clean end, -1 for a fatal error
 * (already reported as an event). */
int wk_session_run(wk_session_t *self, volatile sig_atomic_t *stop);

#endif
