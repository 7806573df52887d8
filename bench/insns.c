/* insns.c - the broker's work per request, counted in instructions by
 * callgrind (valgrind): deterministic, so the figure means the same on any
 * machine and does not move with the noise that wall-clock rates do.
 *
 * Each figure is the difference of two runs of the real broker under
 * callgrind, one with five times the requests of the other, divided by the
 * difference in requests. Counting starts once the broker answers
 * (callgrind_control -z), so start-up and the readiness polls are left out;
 * shutdown cancels out in the difference.
 *   submit: one connection keeping 32 submits in flight (group commit as
 *           under load), development mode and with CURVE keys;
 *   job:    one at a time, submit -> offer -> claim -> done with one
 *           volunteer online (three commits per job), and, from the same
 *           runs, what each command's handler costs (callgrind_annotate's
 *           inclusive count of cmd_submit, cmd_claim and cmd_done). */
#include "bench.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANNOTATE "/usr/bin/callgrind_annotate"

typedef struct {
    unsigned long long total;              /* every instruction of the broker */
    unsigned long long submit, claim, done; /* inclusive in those handlers */
} count_t;

/* The "totals:" (or "summary:") line of a callgrind output file. */
static int read_total(const char *path, unsigned long long *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        const char *v = NULL;
        if (strncmp(line, "totals:", 7) == 0)
            v = line + 7;
        else if (strncmp(line, "summary:", 8) == 0)
            v = line + 8;
        if (v) {
            char *end = NULL;
            unsigned long long n = strtoull(v, &end, 10);
            if (end != v) {
                *out = n;
                rc = 0;
            }
        }
    }
    fclose(f);
    return rc;
}

/* A number printed with thousands separators, e.g. "1,234,567". */
static unsigned long long parse_grouped(const char *s)
{
    unsigned long long n = 0;
    for (; *s == ' '; s++) {
    }
    for (; (*s >= '0' && *s <= '9') || *s == ','; s++) {
        if (*s != ',')
            n = n * 10 + (unsigned long long)(*s - '0');
    }
    return n;
}

/* The handlers' inclusive counts, from callgrind_annotate. */
static void read_handlers(const char *path, count_t *c)
{
    if (access(ANNOTATE, X_OK) != 0)
        return;
    char cmd[800];
    snprintf(cmd, sizeof cmd, "%s --inclusive=yes --threshold=100 '%s' 2>/dev/null", ANNOTATE, path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        unsigned long long *slot = NULL;
        if (strstr(line, ":cmd_submit "))
            slot = &c->submit;
        else if (strstr(line, ":cmd_claim "))
            slot = &c->claim;
        else if (strstr(line, ":cmd_done "))
            slot = &c->done;
        if (slot && *slot == 0)
            *slot = parse_grouped(line);
    }
    pclose(p);
}

/* One broker under callgrind: n submits through one connection with 32 in
 * flight (curve: with the office key), or (job) n jobs one at a time with
 * one volunteer. Returns 0 with the counts, -1 on failure. */
static int counted_run(const bench_opts_t *o, const bench_rows_t *rows, long n, bool curve, bool job,
                       count_t *c)
{
    memset(c, 0, sizeof *c);
    char *dir = temp_dir(o, "insns");
    if (!dir)
        return -1;
    char out[700];
    snprintf(out, sizeof out, "%s/callgrind.out", dir);
    broker_set_callgrind(out);
    int rc = -1;
    if (job) {
        bench_opts_t jo = *o;
        jo.dispatch_tickets = n;
        double offer = 0, claim = 0;
        printf("  ");
        fflush(stdout);
        rc = dispatch_measure(&jo, rows, 1, 1, true, &offer, &claim);
    } else {
        broker_proc_t b;
        bench_payload_t *pl = payloads_make(rows, n, NULL, NULL, 0);
        if (pl && broker_start_mode(o, dir, "\"submit_per_min\": 0, \"submit_per_day\": 0", curve, &b) == 0) {
            load_t L = {.kind = LOAD_BROKER, .endpoint = b.client_ep, .key = curve ? b.office : NULL,
                        .payloads = pl, .total = n, .conns = 1, .window = 32,
                        .max_seconds = 600};
            rc = load_run(&L);
            if (rc == 0 && L.acked != n)
                rc = -1;
            if (rc != 0)
                fprintf(stderr, "bench: insns: %ld of %ld acknowledged (%s)\n", L.acked, n, L.first_error);
            load_free(&L);
            broker_stop(&b, false); /* SIGTERM: callgrind writes its file on the way out */
        }
        payloads_free(pl, n);
    }
    broker_set_callgrind(NULL);
    if (rc == 0 && read_total(out, &c->total) != 0) {
        fprintf(stderr, "bench: insns: no callgrind totals in %s\n", out);
        rc = -1;
    }
    if (rc == 0)
        read_handlers(out, c);
    temp_dir_remove(o, dir);
    return rc;
}

static double per(unsigned long long big, unsigned long long small, long n)
{
    return big > small && n > 0 ? (double)(big - small) / (double)n : 0;
}

int section_insns(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    (void)ctx;
    banner("insns", "instructions per request in the broker (callgrind)");
    if (access(BENCH_VALGRIND, X_OK) != 0) {
        printf("  跳过：没有 valgrind（apt-get install valgrind）/ skipped: %s is missing "
               "(apt-get install valgrind)\n",
               BENCH_VALGRIND);
        return 0;
    }
    long big = o->insns_requests, small = big / 5;
    long jobs_big = big / 5, jobs_small = jobs_big / 5;
    if (small < 1 || jobs_small < 1) {
        printf("  --insns-requests is too small (at least 25)\n");
        return -1;
    }
    printf("  each figure = (run with N2 - run with N1) / (N2 - N1), the broker under callgrind\n");
    printf("%-44s %9s %9s %14s\n", "what", "N1", "N2", "instr/request");
    int rc = 0;
    count_t a, b;
    static const struct {
        const char *name;
        bool curve;
    } modes[] = {{"submit, 1 conn x 32 in flight, no keys", false},
                 {"submit, 1 conn x 32 in flight, CURVE keys", true}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (counted_run(o, rows, small, modes[i].curve, false, &a) != 0 ||
            counted_run(o, rows, big, modes[i].curve, false, &b) != 0) {
            printf("%-44s failed\n", modes[i].name);
            rc = -1;
            continue;
        }
        printf("%-44s %9ld %9ld %14.0f\n", modes[i].name, small, big, per(b.total, a.total, big - small));
        fflush(stdout);
    }
    printf("  jobs one at a time (submit, offer, claim, done; 1 volunteer; the dispatch rows):\n");
    if (counted_run(o, rows, jobs_small, false, true, &a) != 0 ||
        counted_run(o, rows, jobs_big, false, true, &b) != 0) {
        printf("%-44s failed\n", "job");
        return -1;
    }
    long d = jobs_big - jobs_small;
    printf("%-44s %9ld %9ld %14.0f\n", "a whole job, 3 commits", jobs_small, jobs_big,
           per(b.total, a.total, d));
    printf("%-44s %9ld %9ld %14.0f\n", "  handler cmd_submit (one at a time)", jobs_small, jobs_big,
           per(b.submit, a.submit, d));
    printf("%-44s %9ld %9ld %14.0f\n", "  handler cmd_claim", jobs_small, jobs_big,
           per(b.claim, a.claim, d));
    printf("%-44s %9ld %9ld %14.0f\n", "  handler cmd_done", jobs_small, jobs_big, per(b.done, a.done, d));
    printf("  (handlers: inclusive of the store's work; not of receiving, commits, replies, dispatch)\n");
    return rc;
}
