/* submit.c - the durable submit path (through the real broker, verified in
 * the database afterwards) and the floor (the same rows straight into SQLite
 * at the same group sizes). The peers under the same clients: peers.c. */
#include "bench.h"
#include "config.h"
#include "migrations.h"
#include "store.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int schema_apply(sqlite3 *db)
{
    for (int i = 0; i < bm_migration_count; i++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", i + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, bm_migrations[i].sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "bench: migration %s: %s\n", bm_migrations[i].name, sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}

/* Every acknowledged ticket must be in the database with the ref and text
 * that were sent. Returns how many were. */
static long verify_db(const char *path, const load_t *L, long *rows)
{
    sqlite3 *db = NULL;
    long ok = 0;
    *rows = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: cannot open %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 0;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM requests", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        *rows = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (sqlite3_prepare_v2(db, "SELECT ref, text FROM requests WHERE id = ?1", -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return 0;
    }
    for (long i = 0; i < L->total; i++) {
        if (L->lat_ns[i] <= 0)
            continue;
        sqlite3_bind_int64(s, 1, L->ticket[i]);
        if (sqlite3_step(s) == SQLITE_ROW) {
            const char *ref = (const char *)sqlite3_column_text(s, 0);
            const char *text = (const char *)sqlite3_column_text(s, 1);
            if (ref && text && strcmp(ref, L->payloads[i].ref) == 0 &&
                strcmp(text, L->payloads[i].row->text) == 0)
                ok++;
        }
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return ok;
}

/* CPU time of this whole process in ns, threads that have ended included
 * (the load threads are gone when it is read), or -1. */
static int64_t own_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int submit_measure(const bench_opts_t *o, const bench_payload_t *pl, int clients, bool curve,
                   const char *extra_json, submit_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->clients = clients;
    r->fsync_ms = -1;
    char *dir = temp_dir(o, curve ? "curve" : "submit");
    if (!dir)
        return -1;
    check_real_disk(dir);
    broker_proc_t b;
    if (broker_start_mode(o, dir, extra_json, curve, &b) != 0) {
        bm_strlcpy(r->first_error, "the broker did not start", sizeof r->first_error);
        temp_dir_remove(o, dir);
        return -1;
    }
    bench_counters_t before = broker_counters(&b);
    int64_t cpu0 = proc_cpu_ns(b.pid), own0 = own_cpu_ns();
    load_t L = {.kind = LOAD_BROKER, .endpoint = b.client_ep, .key = b.office, .payloads = pl,
                .total = o->requests, .conns = clients, .window = o->window,
                .max_seconds = o->max_seconds};
    int rc = load_run(&L);
    bench_counters_t after = broker_counters(&b);
    r->counted = b.counters != NULL;
    long hwm = proc_kib(b.pid, "VmHWM");
    int64_t cpu1 = proc_cpu_ns(b.pid), own1 = own_cpu_ns();
    r->cpu_us = L.acked > 0 && cpu0 >= 0 ? (double)(cpu1 - cpu0) / 1e3 / (double)L.acked : 0;
    r->client_cpu_us = L.acked > 0 && own0 >= 0 ? (double)(own1 - own0) / 1e3 / (double)L.acked : 0;
    /* SIGKILL: whatever was acknowledged must already be on disk. */
    broker_stop(&b, true);
    r->verified = verify_db(b.db, &L, &r->db_rows);

    r->commits = after.commits - before.commits;
    uint64_t syncs = after.wal_syncs - before.wal_syncs + after.db_syncs - before.db_syncs;
    r->acked = L.acked;
    r->errors = L.errors;
    r->secs = L.secs;
    r->rate = L.secs > 0 ? (double)L.acked / L.secs : 0;
    r->avg_group = r->commits > 0 ? (double)L.acked / (double)r->commits : 0;
    r->lat = lat_stats(L.lat_ns, L.total);
    r->rss_mb = hwm / 1024;
    if (syncs > 0)
        r->fsync_ms = (double)(after.sync_ns - before.sync_ns) / (double)syncs / 1e6;
    if (L.first_error[0])
        bm_strlcpy(r->first_error, L.first_error, sizeof r->first_error);
    else if (rc != 0)
        bm_strlcpy(r->first_error, "?", sizeof r->first_error);
    load_free(&L);
    temp_dir_remove(o, dir);
    return (rc == 0 && r->verified == r->acked && r->errors == 0) ? 0 : -1;
}

/* One row of the submit table. */
static void submit_print(const bench_opts_t *o, const submit_result_t *r)
{
    char group[32] = "n/a", sync_ms[32] = "n/a";
    if (r->counted || r->commits > 0) {
        snprintf(group, sizeof group, "%.1f", r->avg_group);
        if (r->fsync_ms >= 0)
            snprintf(sync_ms, sizeof sync_ms, "%.2f", r->fsync_ms);
    }
    printf("%7d %6d %8ld %7.2f %9.0f %8.2f %8.2f %8.2f %8llu %7s %9s %7.1f %7ld  verified %ld/%ld%s\n",
           r->clients, o->window, r->acked, r->secs, r->rate, r->lat.p50_ms, r->lat.p99_ms,
           r->lat.max_ms, (unsigned long long)r->commits, group, sync_ms, r->cpu_us, r->rss_mb,
           r->verified, r->acked, r->verified == r->acked && r->db_rows == r->acked ? "" : "  MISMATCH");
    if (r->errors > 0 || r->first_error[0])
        printf("        %ld errors; first: %s\n", r->errors, r->first_error[0] ? r->first_error : "?");
    if (r->db_rows != r->acked)
        printf("        the database holds %ld requests, %ld were acknowledged\n", r->db_rows, r->acked);
}

int section_submit(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    banner("submit", "durable submit through the real bianmin-broker (SIGKILLed, then checked)");
    printf("  %ld requests per configuration from %zu station jobs of the 311 sample "
           "(%zu other complaint types skipped, %zu malformed rows rejected)\n",
           o->requests, rows->n, rows->skipped_other, rows->rejected);
    bench_payload_t *pl = payloads_make(rows, o->requests, NULL, NULL, 0);
    if (!pl)
        return -1;
    size_t total_len = 0;
    for (long i = 0; i < o->requests; i++)
        total_len += pl[i].len;
    printf("  body: %zu bytes on average (UTF-8 JSON; text %zu bytes)\n",
           total_len / (size_t)(o->requests > 0 ? o->requests : 1), strlen(pl[0].row->text));
    printf("%7s %6s %8s %7s %9s %8s %8s %8s %8s %7s %9s %7s %7s\n", "clients", "window", "acked",
           "secs", "req/s", "p50 ms", "p99 ms", "max ms", "commits", "group", "fsync ms", "cpu us",
           "RSS MB");
    int rc = 0;
    ctx->n_submit = 0;
    for (int i = 0; i < o->n_clients; i++) {
        submit_result_t r;
        if (submit_measure(o, pl, o->clients[i], false, "", &r) != 0)
            rc = -1;
        submit_print(o, &r);
        ctx->submit[ctx->n_submit++] = r;
    }
    printf("  (group = requests per commit, counted by the commit hook; fsync ms = average time of\n"
           "   one fsync inside the broker; cpu us = broker CPU time per request, all threads;\n"
           "   every reply came after its commit, synchronous=FULL)\n");
    payloads_free(pl, o->requests);
    return rc;
}

/* ---- the floor ----------------------------------------------------------- */

typedef struct {
    double rate;
    double ms_per_commit;
} floor_result_t;

/* The same rows, inserted with plain SQL (the request row, as the store
 * writes it since schema/007_receipt.sql), g per transaction. */
static floor_result_t floor_raw(const bench_opts_t *o, const bench_payload_t *pl, long n,
                                const char *path, int g)
{
    floor_result_t res = {0};
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    sqlite3 *db = NULL;
    sqlite3_stmt *req = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK ||
        schema_apply(db) != 0 ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO requests(channel, ref, category, priority, building, unit, "
                           "contact, text, status, offer_due_at, deadline_at, created_at, updated_at) "
                           "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,'open',?9,?10,?11,?11)",
                           -1, &req, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: floor: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    int64_t t0 = now_ns();
    int64_t limit = t0 + (int64_t)(o->floor_seconds * 1e9);
    long i = 0, commits = 0;
    while (i < n && now_ns() < limit) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (int k = 0; k < g && i < n; k++, i++) {
            const bench_row_t *r = pl[i].row;
            const bm_category_t *cat = bm_config_category(&cfg, r->category);
            int64_t now = bm_now_ms();
            sqlite3_bind_text(req, 1, r->channel, -1, SQLITE_STATIC);
            sqlite3_bind_text(req, 2, pl[i].ref, -1, SQLITE_STATIC);
            sqlite3_bind_text(req, 3, r->category, -1, SQLITE_STATIC);
            sqlite3_bind_int(req, 4, cat ? cat->priority : 1);
            sqlite3_bind_text(req, 5, r->building, -1, SQLITE_STATIC);
            sqlite3_bind_text(req, 6, r->unit, -1, SQLITE_STATIC);
            sqlite3_bind_text(req, 7, r->contact, -1, SQLITE_STATIC);
            sqlite3_bind_text(req, 8, r->text, -1, SQLITE_STATIC);
            sqlite3_bind_int64(req, 9, now + (cat ? cat->offer_timeout_s : 3600) * INT64_C(1000));
            sqlite3_bind_int64(req, 10, now + (cat ? cat->deadline_s : 86400) * INT64_C(1000));
            sqlite3_bind_int64(req, 11, now);
            if (sqlite3_step(req) != SQLITE_DONE)
                fprintf(stderr, "bench: floor insert: %s\n", sqlite3_errmsg(db));
            sqlite3_reset(req);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "bench: floor commit: %s\n", sqlite3_errmsg(db));
            break;
        }
        commits++;
    }
    double secs = secs_since(t0);
    res.rate = secs > 0 ? (double)i / secs : 0;
    res.ms_per_commit = commits > 0 ? secs * 1000.0 / (double)commits : 0;
out:
    sqlite3_finalize(req);
    sqlite3_close(db);
    return res;
}

/* The same rows through the broker's own store (store_submit), g per batch
 * commit - the broker minus ZeroMQ and JSON. */
static floor_result_t floor_store(const bench_opts_t *o, const bench_payload_t *pl, long n,
                                  const char *path, int g)
{
    floor_result_t res = {0};
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_strlcpy(cfg.database, path, sizeof cfg.database);
    bm_error_t err = {0};
    store_t *st = store_open(path, &cfg, &err);
    if (!st) {
        fprintf(stderr, "bench: floor store: %s\n", err.message);
        return res;
    }
    int64_t t0 = now_ns();
    int64_t limit = t0 + (int64_t)(o->floor_seconds * 1e9);
    long i = 0, commits = 0;
    while (i < n && now_ns() < limit) {
        if (store_batch_begin(st, &err) != 0)
            break;
        for (int k = 0; k < g && i < n; k++, i++) {
            const bench_row_t *r = pl[i].row;
            store_submit_t in = {.channel = r->channel, .category = r->category,
                                 .building = r->building, .unit = r->unit, .contact = r->contact,
                                 .text = r->text, .ref = pl[i].ref};
            int64_t ticket = 0;
            bool dup = false;
            store_submit(st, &in, bm_now_ms(), &ticket, &dup, &err);
        }
        if (store_batch_commit(st, &err) != 0) {
            fprintf(stderr, "bench: floor store commit: %s\n", err.message);
            break;
        }
        commits++;
    }
    double secs = secs_since(t0);
    res.rate = secs > 0 ? (double)i / secs : 0;
    res.ms_per_commit = commits > 0 ? secs * 1000.0 / (double)commits : 0;
    store_destroy(&st);
    return res;
}

int section_floor(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    banner("floor", "the same rows straight into SQLite (WAL, synchronous=FULL, same schema)");
    int groups[BENCH_MAX_LIST * 3];
    int ng = 0;
    for (int i = 0; i < o->n_groups; i++)
        groups[ng++] = o->groups[i];
    /* The group sizes the broker actually achieved, when submit ran first. */
    for (int i = 0; i < ctx->n_submit; i++) {
        int g = (int)(ctx->submit[i].avg_group + 0.5);
        bool seen = g < 1;
        for (int k = 0; k < ng; k++)
            seen = seen || groups[k] == g;
        if (!seen)
            groups[ng++] = g;
    }
    long n = o->requests;
    bench_payload_t *pl = payloads_make(rows, n, NULL, NULL, 0);
    char *dir = temp_dir(o, "floor");
    if (!pl || !dir) {
        payloads_free(pl, n);
        temp_dir_remove(o, dir);
        return -1;
    }
    check_real_disk(dir);
    ctx->fsync_ms = measure_fsync_ms(dir, 100);
    printf("  one fdatasync of a 4 KiB overwrite on this disk: %.2f ms (so at most %.0f commits/s)\n",
           ctx->fsync_ms, ctx->fsync_ms > 0 ? 1000.0 / ctx->fsync_ms : 0);
    printf("  each group size runs for up to %.1f s or %ld rows\n", o->floor_seconds, n);
    printf("%7s %12s %14s %14s %14s\n", "group", "raw rows/s", "raw ms/commit", "store rows/s",
           "store ms/cmt");
    floor_result_t raw[BENCH_MAX_LIST * 3], sto[BENCH_MAX_LIST * 3];
    for (int i = 0; i < ng; i++) {
        char p1[700], p2[700];
        snprintf(p1, sizeof p1, "%s/raw-%d.db", dir, groups[i]);
        snprintf(p2, sizeof p2, "%s/store-%d.db", dir, groups[i]);
        raw[i] = floor_raw(o, pl, n, p1, groups[i]);
        sto[i] = floor_store(o, pl, n, p2, groups[i]);
        printf("%7d %12.0f %14.2f %14.0f %14.2f\n", groups[i], raw[i].rate, raw[i].ms_per_commit,
               sto[i].rate, sto[i].ms_per_commit);
    }
    printf("  (raw = a prepared INSERT of the request row; store = store_submit, the\n"
           "   broker's own code path without ZeroMQ and JSON)\n");
    for (int i = 0; i < ctx->n_submit; i++) {
        const submit_result_t *s = &ctx->submit[i];
        /* The closest group size measured above. */
        int best = 0;
        for (int k = 1; k < ng; k++) {
            double d1 = (double)groups[k] - s->avg_group, d0 = (double)groups[best] - s->avg_group;
            if (d1 * d1 < d0 * d0)
                best = k;
        }
        if (s->rate <= 0 || raw[best].rate <= 0)
            continue;
        printf("  broker with %2d clients: %.0f req/s at group %.1f = %.0f%% of the raw floor "
               "(%.0f rows/s at group %d), %.0f%% of the store floor (%.0f)\n",
               s->clients, s->rate, s->avg_group, 100.0 * s->rate / raw[best].rate, raw[best].rate,
               groups[best], sto[best].rate > 0 ? 100.0 * s->rate / sto[best].rate : 0,
               sto[best].rate);
    }
    payloads_free(pl, n);
    temp_dir_remove(o, dir);
    return 0;
}
