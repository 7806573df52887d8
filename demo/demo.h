/* demo.h - bianmin-demo: replays the NYC 311 sample against a running broker
 * with simulated volunteers and residents who rate the service. */
#ifndef DEMO_DEMO_H
#define DEMO_DEMO_H

#include "csv.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Named defaults. */
#define DEMO_DEFAULT_DATA        "/work/shared/data/nyc311-sample.csv"
#define DEMO_DEFAULT_LIMIT       3000  /* rows replayed (the earliest ones) */
#define DEMO_DEFAULT_TARGET_S    75.0  /* the arrivals take this long unless --speed */
#define DEMO_DEFAULT_MAX_GAP_S   21600 /* quiet stretches in the trace are cut to 6 h */
#define DEMO_DEFAULT_VOLUNTEERS  12
#define DEMO_DEFAULT_MAX_JOBS    20    /* jobs one simulated volunteer holds at once */
#define DEMO_DEFAULT_MAX_JOB_S   6.0   /* a compressed job never takes longer */
#define DEMO_DEFAULT_MIN_JOB_S   0.3
#define DEMO_DEFAULT_CANTFIX_PCT 5
#define DEMO_DEFAULT_ESCALATE_PCT 1
#define DEMO_DEFAULT_PROGRESS_PCT 40   /* of the jobs long enough for a progress note */
#define DEMO_DEFAULT_RATE_PCT    70    /* requesters who rate */
#define DEMO_DEFAULT_SEED        311
#define DEMO_DEFAULT_MAX_SECONDS 300.0 /* hard cap on the whole run */
#define DEMO_HELLO_TIMEOUT_MS    5000
#define DEMO_SUBMIT_WINDOW       256   /* submits in flight */

typedef enum { DEMO_PROGRESS_AUTO, DEMO_PROGRESS_TTY, DEMO_PROGRESS_PLAIN, DEMO_PROGRESS_OFF } demo_progress_mode_t;

typedef struct {
    const char *data;
    const char *client_ep, *worker_ep;
    long limit; /* 0: every accepted row */
    double speed; /* trace seconds per real second; 0: fit into target_s */
    double target_s;
    long max_gap_s;
    int volunteers, max_jobs;
    double max_job_s, min_job_s;
    int cantfix_pct, escalate_pct, progress_pct, rate_pct;
    uint64_t seed;
    bool other;
    double max_seconds;
    demo_progress_mode_t progress;
    bool earliest;       /* --earliest: the first rows, not a sample spread over the trace */
    const char *timemap; /* --timemap FILE: where to write the run's time map (retime.h) */
} demo_opts_t;

/* Runs the replay: rows[0..n) arrive at offsets[i] / speed seconds after the
 * start. Prints the summary on stdout. Returns 0 when every request ended,
 * 2 if stopped early (signal or max_seconds), 1 on an error (printed). */
int demo_run(const demo_opts_t *o, const demo_row_t *rows, size_t n, const int64_t *offsets,
             double speed, volatile sig_atomic_t *stop, int64_t *wall_start_ms);

#endif
