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

/* a / b as "0.93x", or "n/a" when b is 0. */
static const char *ratio(char *buf, size_t len, double a, double b)
{
    if (b > 0 && a > 0)
        snprintf(buf, len, "%.2fx", a / b);
    else
        snprintf(buf, len, "n/a");
    return buf;
}

int section_curve(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    (void)ctx;
    banner("curve", "durable submit with CURVE keys vs. development mode (\"auth\": \"none\")");
    printf("  %ld requests per configuration, %d in flight per connection, the same bodies for both;\n"
           "  both brokers: %s (no rate limit); curve: CURVE + ZAP on, every load\n"
           "  connection uses the office key the broker made on its first start (keys/office.key)\n",
           o->requests, o->window, CURVE_EXTRA_CONFIG);
    bench_payload_t *pl = payloads_make(rows, o->requests, NULL, NULL, 0);
    if (!pl)
        return -1;
    printf("%7s %-6s %8s %7s %9s %8s %8s %8s %7s %7s %9s\n", "clients", "auth", "acked", "secs",
           "req/s", "p50 ms", "p99 ms", "max ms", "group", "cpu us", "client us");
    int rc = 0;
    submit_result_t none[BENCH_MAX_LIST], curve[BENCH_MAX_LIST];
    for (int i = 0; i < o->n_clients; i++) {
        /* The order alternates, so that a machine getting busier or quieter
         * during the run does not always favour the same mode. */
        for (int k = 0; k < 2; k++) {
            bool with_keys = (k == 1) != (i % 2 == 1);
            submit_result_t *r = with_keys ? &curve[i] : &none[i];
            int one = submit_measure(o, pl, o->clients[i], with_keys, CURVE_EXTRA_CONFIG, r);
            /* Every request must be acknowledged: a refused key or a rate
             * limit would otherwise look like a slow run. */
            if (one != 0 || r->acked != o->requests || r->db_rows != r->acked)
                rc = -1;
            curve_row(o, with_keys ? "curve" : "none", r);
        }
    }
    printf("  (cpu us = broker CPU time per request, all threads; client us = the bench's own CPU per\n"
           "   request, its load threads and their ZeroMQ I/O thread; after each run the broker was\n"
           "   SIGKILLed and every acknowledged ticket found in its database)\n");
    printf("  curve / none:\n%7s %9s %8s %8s %8s %9s\n", "clients", "req/s", "p50", "p99",
           "cpu us", "client us");
    for (int i = 0; i < o->n_clients; i++) {
        char a[16], b[16], c[16], d[16], e[16];
        printf("%7d %9s %8s %8s %8s %9s\n", o->clients[i],
               ratio(a, sizeof a, curve[i].rate, none[i].rate),
               ratio(b, sizeof b, curve[i].lat.p50_ms, none[i].lat.p50_ms),
               ratio(c, sizeof c, curve[i].lat.p99_ms, none[i].lat.p99_ms),
               ratio(d, sizeof d, curve[i].cpu_us, none[i].cpu_us),
               ratio(e, sizeof e, curve[i].client_cpu_us, none[i].client_cpu_us));
    }
    printf("  (instructions per submit are not counted: the bench has no callgrind run)\n");
    payloads_free(pl, o->requests);
    return rc;
}
