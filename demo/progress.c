/* progress.c - formatting the progress line; drawing it is the caller's. */
#include "progress.h"

#include <stdio.h>
#include <string.h>

void demo_format_duration(double s, char *buf, size_t len)
{
    if (s < 0 || s != s) {
        snprintf(buf, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void demo_progress_format(const demo_progress_t *p, int bar_width, char *buf, size_t len)
{
    double frac = 0;
    if (p->total > 0)
        frac = ((double)p->submitted + (double)p->ended) / (2.0 * (double)p->total);
    if (frac > 1)
        frac = 1;
    char bar[128] = "";
    if (bar_width > 0) {
        if (bar_width > (int)sizeof bar - 3)
            bar_width = (int)sizeof bar - 3;
        int fill = (int)(frac * bar_width);
        size_t k = 0;
        bar[k++] = '[';
        for (int i = 0; i < bar_width; i++)
            bar[k++] = i < fill ? '#' : '-';
        bar[k++] = ']';
        bar[k] = '\0';
    }
    char el[16], eta[16];
    demo_format_duration(p->elapsed_s, el, sizeof el);
    demo_format_duration(p->eta_s, eta, sizeof eta);
    snprintf(buf, len, "%s%s%3d%%  submitted %zu/%zu  done %zu  working %zu  %.1f/s  elapsed %s  ETA %s",
             bar, bar[0] ? " " : "", (int)(frac * 100), p->submitted, p->total, p->done, p->working,
             p->rate, el, eta);
}
