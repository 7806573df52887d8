/* progress.h - the demo's one-line progress report (stderr): a bar, counts,
 * rate, elapsed time and an estimate of what is left. */
#ifndef DEMO_PROGRESS_H
#define DEMO_PROGRESS_H

#include <stddef.h>

typedef struct {
    size_t total;     /* rows to replay */
    size_t submitted; /* acknowledged by the broker */
    size_t done;      /* finished by a volunteer (done or resolved) */
    size_t ended;     /* nothing more will happen to them (rated or not) */
    size_t working;   /* held by a volunteer now */
    double elapsed_s;
    double rate;      /* jobs done per second */
    double eta_s;     /* < 0: unknown */
} demo_progress_t;

/* Writes the line (no newline) into buf; the bar is bar_width cells wide
 * (0: no bar). Progress counts a row half when submitted, whole when ended. */
void demo_progress_format(const demo_progress_t *p, int bar_width, char *buf, size_t len);

/* "1:05", "12:00:03"; "--:--" for a negative time. */
void demo_format_duration(double s, char *buf, size_t len);

#endif
