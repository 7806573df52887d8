/* curve.c - what authentication costs: the same durable submit run (bodies,
 * clients, window) against a broker with CURVE + ZAP on, whose load clients
 * connect with the office key it made on its first start, and against one in
 * development mode ("auth": "none"), in the same run, one pair per client
 * count. Both brokers get the same config apart from "auth", with the submit
 * rate limit and daily quota off so that the keyed run is not throttled. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The per-key limits are off in both brokers (0 = no limit): 20,000
 * submits a run from one office key would hit the defaults at once. */
#define CURVE_EXTRA_CONFIG "\"submit_per_min\": 0, \"submit_per_day\": 0"

static void curve_row(const bench_opts_t *o, const char *mode, const submit_result_t *r)
{
    char group[32] = "n/a";
    if (r->counted || r->commits > 0)
        snprintf(group, sizeof group, "%.1f", r->avg_group);
    printf("%7d %-6s %8ld %7.2f %9.0f %8.2f %8.2f %8.2f %7s %7.1f %9.1f  verified %ld/%ld%s\n",
           r->clients, mode, r->acked, r->secs, r->rate, r->lat.p50_ms, r->lat.p99_ms, r->lat.max_ms,
           group, r->cpu_us, r->client_cpu_us, r->verified, r->acked,
           r->verified == r->acked && r->db_rows == r->acked ? "" : "  MISMATCH");
    if (r->acked + r->errors < o->requests)
        printf("        only %ld of %ld requests were answered (--max-seconds %.0f)\n",
               r->acked + r->errors, o->requests, o->max_seconds);
    if (r->errors > 0 || r->first_error[0])
        printf("        %ld errors; first: %s\n", r->errors, r->first_error[0] ? r->first_error : "?");
    if (r->db_rows != r->acked)
        printf("        the database holds %ld requests, %ld were acknowledged\n", r->db_rows, r->acked);
}

/* a / b as "0.93x", or "n/a" when either is 0. */
static const char *ratio(char *buf, size_t len, double a, double b)
{
    if (b > 0 && a > 0)
        snprintf(buf, len, "%.2fx", a / b);
    else
        snprintf(buf, len, "n/a");
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The medians over n runs of each figure the summary shows. */
typedef struct {
    double rate, p50, p99, cpu_us, client_us;
} curve_median_t;

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static curve_median_t medians(const submit_result_t *r, int n)
{
    double a[BENCH_MAX_ROUNDS], b[BENCH_MAX_ROUNDS], c[BENCH_MAX_ROUNDS], d[BENCH_MAX_ROUNDS],
        e[BENCH_MAX_ROUNDS];
    for (int k = 0; k < n; k++) {
        a[k] = r[k].rate;
        b[k] = r[k].lat.p50_ms;
        c[k] = r[k].lat.p99_ms;
        d[k] = r[k].cpu_us;
        e[k] = r[k].client_cpu_us;
    }
    curve_median_t m = {median(a, n), median(b, n), median(c, n), median(d, n), median(e, n)};
    return m;
}

int section_curve(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    (void)ctx;
    int rounds = o->curve_rounds < 1 ? 1 : o->curve_rounds > BENCH_MAX_ROUNDS ? BENCH_MAX_ROUNDS
                                                                            : o->curve_rounds;
    banner("curve", "durable submit with CURVE keys vs. development mode (\"auth\": \"none\")");
    printf("  %ld requests per run, %d in flight per connection, the same bodies for both modes,\n"
           "  %d run(s) per mode and client count in alternating order, each on a fresh broker;\n"
           "  both brokers: %s (no rate limit); curve: CURVE + ZAP on, every\n"
           "  load connection uses the office key the broker made on its first start (keys/office.key)\n",
           o->requests, o->window, rounds, CURVE_EXTRA_CONFIG);
    bench_payload_t *pl = payloads_make(rows, o->requests, NULL, NULL, 0);
    submit_result_t(*none)[BENCH_MAX_ROUNDS] = calloc(BENCH_MAX_LIST, sizeof *none);
    submit_result_t(*curve)[BENCH_MAX_ROUNDS] = calloc(BENCH_MAX_LIST, sizeof *curve);
    int rc = -1;
    if (!pl || !none || !curve)
        goto out;
    rc = 0;
    printf("%7s %-6s %8s %7s %9s %8s %8s %8s %7s %7s %9s\n", "clients", "auth", "acked", "secs",
           "req/s", "p50 ms", "p99 ms", "max ms", "group", "cpu us", "client us");
    for (int i = 0; i < o->n_clients; i++) {
        for (int round = 0; round < rounds; round++) {
            /* The order alternates, so that a machine getting busier or
             * quieter during the run does not always favour one mode. */
            for (int k = 0; k < 2; k++) {
                bool with_keys = (k == 1) != ((i + round) % 2 == 1);
                submit_result_t *r = with_keys ? &curve[i][round] : &none[i][round];
                int one = submit_measure(o, pl, o->clients[i], with_keys, CURVE_EXTRA_CONFIG, r);
                /* Every request must be acknowledged: a refused key or a
                 * rate limit would otherwise pass for a slow run. */
                if (one != 0 || r->acked != o->requests || r->db_rows != r->acked)
                    rc = -1;
                curve_row(o, with_keys ? "curve" : "none", r);
            }
        }
    }
    printf("  (cpu us = broker CPU time per request, all threads; client us = the bench's own CPU\n"
           "   per request: its load threads and their ZeroMQ I/O thread; after each run the broker\n"
           "   was SIGKILLed and every acknowledged ticket looked up in its database)\n");
    printf("  median of %d run(s), and curve / none:\n", rounds);
    printf("%7s %-6s %9s %8s %8s %7s %9s\n", "clients", "auth", "req/s", "p50 ms", "p99 ms",
           "cpu us", "client us");
    for (int i = 0; i < o->n_clients; i++) {
        curve_median_t n = medians(none[i], rounds), c = medians(curve[i], rounds);
        char a[16], b[16], d[16], e[16], f[16];
        printf("%7d %-6s %9.0f %8.2f %8.2f %7.1f %9.1f\n", o->clients[i], "none", n.rate, n.p50,
               n.p99, n.cpu_us, n.client_us);
        printf("%7d %-6s %9.0f %8.2f %8.2f %7.1f %9.1f\n", o->clients[i], "curve", c.rate, c.p50,
               c.p99, c.cpu_us, c.client_us);
        printf("%7d %-6s %9s %8s %8s %7s %9s\n", o->clients[i], "ratio",
               ratio(a, sizeof a, c.rate, n.rate), ratio(b, sizeof b, c.p50, n.p50),
               ratio(d, sizeof d, c.p99, n.p99), ratio(e, sizeof e, c.cpu_us, n.cpu_us),
               ratio(f, sizeof f, c.client_us, n.client_us));
    }
    printf("  (instructions per submit, with keys and without: bianmin-bench insns)\n");
out:
    free(none);
    free(curve);
    payloads_free(pl, o->requests);
    return rc;
}
