/* scale.c - the broker's memory with 100,000 open requests; its start time
 * on a database of 1,000,000 requests (a year of a busy station, generated
 * with direct inserts); queries on that database; and `bianmin stats` for a
 * month, if the CLI has it; `bianmin export` of a month (time, peak memory). */
#include "bench.h"
#include "proto.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS (INT64_C(86400000))

static void rss_row(const char *stage, const broker_proc_t *b)
{
    char wal[700];
    snprintf(wal, sizeof wal, "%s-wal", b->db);
    printf("  %-34s %9.1f %9.1f %9.1f\n", stage, (double)proc_kib(b->pid, "VmRSS") / 1024.0,
           (double)proc_kib(b->pid, "VmHWM") / 1024.0,
           (double)(file_size(b->db) + file_size(wal)) / 1048576.0);
}

/* p50 / max of n calls of cmd with body, in ms; -1 if one failed. */
static void time_calls(const char *endpoint, const char *label, const char *cmd, const char *json,
                       int n)
{
    bm_rpc_t *rpc = bm_rpc_new(endpoint);
    cJSON *body = cJSON_Parse(json);
    int64_t *lat = calloc((size_t)n, sizeof *lat);
    long total = -1;
    int ok = 0;
    for (int i = 0; rpc && body && lat && i < n; i++) {
        cJSON *reply = NULL;
        bm_error_t err = {0};
        int64_t t0 = now_ns();
        bm_rpc_result_t r = bm_rpc_call(rpc, cmd, body, 30000, &reply, &err);
        lat[i] = now_ns() - t0;
        if (r != BM_RPC_OK) {
            printf("  %-34s failed: %s\n", label, err.message);
            break;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(reply, "total");
        if (cJSON_IsNumber(t))
            total = (long)t->valuedouble;
        cJSON_Delete(reply);
        ok++;
    }
    if (ok == n) {
        lat_stats_t s = lat_stats(lat, n);
        printf("  %-34s p50 %8.2f ms  max %8.2f ms", label, s.p50_ms, s.max_ms);
        if (total >= 0)
            printf("  (total %ld)", total);
        printf("\n");
    }
    free(lat);
    cJSON_Delete(body);
    bm_rpc_destroy(&rpc);
}

/* Puts volunteers online on the worker socket (hello), so that the broker's
 * dispatcher works over the open queue. Returns the context (sockets inside). */
static void *volunteers_online(const char *endpoint, int n, void **socks)
{
    void *ctx = zmq_ctx_new();
    static const char *const skills[] = {"leak", "lock", "pipe", "repair", "other"};
    for (int i = 0; ctx && i < n; i++) {
        socks[i] = bm_socket(ctx, ZMQ_DEALER, endpoint, false);
        if (!socks[i])
            continue;
        char id[32];
        snprintf(id, sizeof id, "sv%02d", i);
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "volunteer", id);
        cJSON_AddStringToObject(h, "name", "测试志愿者");
        cJSON_AddItemToObject(h, "skills", cJSON_CreateStringArray(skills, 5));
        bm_send(socks[i], NULL, BM_CMD_HELLO, "hello", 5, h);
        cJSON_Delete(h);
    }
    return ctx;
}

static void volunteers_offline(void *ctx, void **socks, int n)
{
    for (int i = 0; i < n; i++) {
        if (socks[i]) {
            /* Count the offers that arrived, then close. */
            zmq_close(socks[i]);
        }
    }
    if (ctx)
        zmq_ctx_term(ctx);
}

static int memory_part(const bench_opts_t *o, const bench_rows_t *rows, double *empty_start)
{
    char *dir = temp_dir(o, "scale-mem");
    if (!dir)
        return -1;
    broker_proc_t b;
    int64_t t0 = now_ns();
    if (broker_start(o, dir, "", &b) != 0) {
        temp_dir_remove(o, dir);
        return -1;
    }
    *empty_start = secs_since(t0);
    printf("  %-34s %9s %9s %9s\n", "broker, after", "VmRSS MB", "VmHWM MB", "DB MB");
    rss_row("start (empty database)", &b);
    long n = o->open_requests;
    bench_payload_t *pl = payloads_make(rows, n, NULL, NULL, 0);
    int rc = -1;
    if (pl) {
        load_t L = {.kind = LOAD_BROKER, .endpoint = b.client_ep, .payloads = pl, .total = n,
                    .conns = 8, .window = 64, .max_seconds = 300};
        int lrc = load_run(&L);
        char stage[64];
        snprintf(stage, sizeof stage, "%ld open requests submitted", L.acked);
        rss_row(stage, &b);
        rc = (lrc == 0 && L.acked == n) ? 0 : -1;
        if (rc != 0)
            printf("  only %ld of %ld submits acknowledged: %s\n", L.acked, n, L.first_error);
        printf("  (submitted at %.0f req/s, 8 connections x 64 in flight)\n",
               L.secs > 0 ? (double)L.acked / L.secs : 0);
        load_free(&L);
        payloads_free(pl, n);
    }
    /* An idle broker should cost nothing, however many requests are open. */
    int64_t c0 = proc_cpu_ns(b.pid), w0 = now_ns();
    struct timespec idle = {3, 0};
    nanosleep(&idle, NULL);
    double idle_pct = 100.0 * (double)(proc_cpu_ns(b.pid) - c0) / (double)(now_ns() - w0);
    printf("  idle for 3 s with %ld open requests: the broker used %.1f%% of one CPU\n", n, idle_pct);
    void *socks[10] = {0};
    void *vctx = volunteers_online(b.worker_ep, 10, socks);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    rss_row("10 volunteers online, offers made", &b);
    time_calls(b.client_ep, "list open (limit 50)", BM_CMD_LIST, "{\"status\": \"open\", \"limit\": 50}", 20);
    time_calls(b.client_ep, "list open (limit 200)", BM_CMD_LIST, "{\"status\": \"open\", \"limit\": 200}", 20);
    time_calls(b.client_ep, "get", BM_CMD_GET, "{\"ticket\": 4242}", 20);
    rss_row("after those queries", &b);
    volunteers_offline(vctx, socks, 10);
    broker_stop(&b, false);
    temp_dir_remove(o, dir);
    return rc;
}

/* ---- a year of a busy station -------------------------------------------------- */

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "bench: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Generates n requests over the past year with their events and, for three in
 * ten, their delivered webhooks. Fast: no journal, no fsync, big transactions. */
static int generate(const char *path, const bench_rows_t *rows, long n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *rq = NULL, *ev = NULL, *dl = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        exec_sql(db, "PRAGMA journal_mode = OFF") != 0 || exec_sql(db, "PRAGMA synchronous = OFF") != 0 ||
        exec_sql(db, "PRAGMA cache_size = -262144") != 0 || schema_apply(db) != 0)
        goto out;
    int64_t now = bm_now_ms();
    int64_t start = now - 365 * DAY_MS;
    if (exec_sql(db, "BEGIN") != 0)
        goto out;
    for (int v = 0; v < 50; v++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO volunteers(id, name, skills, max_jobs, first_seen, last_seen) "
                 "VALUES ('v%02d', '志愿者%d', 'leak,lock,pipe,repair,other', 2, %lld, %lld)",
                 v, v, (long long)start, (long long)now);
        if (exec_sql(db, sql) != 0)
            goto out;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO endpoints(id, url, secret, kind, created_at) VALUES (1, "
             "'https://bridge.example.org/bianmin', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', "
             "'callback', %lld)", (long long)start);
    if (exec_sql(db, sql) != 0 || exec_sql(db, "COMMIT") != 0)
        goto out;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO requests(id, channel, ref, category, priority, building, unit, "
                           "contact, text, endpoint_id, status, volunteer_id, lease_until, attempts, "
                           "department, offer_due_at, deadline_at, overdue, created_at, updated_at, "
                           "claimed_at, done_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
                           "0,?14,?15,?16,?17,?18,?19,?20,?21)",
                           -1, &rq, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO events(request_id, at, actor, kind, from_status, to_status, "
                           "detail) VALUES (?1,?2,?3,?4,?5,?6,?7)", -1, &ev, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO deliveries(msg_id, endpoint_id, request_id, event_id, type, "
                           "body, state, attempts, next_at, created_at, done_at) "
                           "VALUES (?1, 1, ?2, ?3, ?4, ?5, 'delivered', 1, ?6, ?6, ?6)",
                           -1, &dl, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: generate: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    static const char *const prios[][2] = {{"leak", "10"}, {"lock", "5"}, {"pipe", "3"}, {"repair", "3"}};
    exec_sql(db, "BEGIN");
    for (long i = 1; i <= n; i++) {
        const bench_row_t *r = &rows->rows[(size_t)i % rows->n];
        int64_t created = start + (int64_t)((double)(i - 1) * (365.0 * (double)DAY_MS) / (double)n);
        long m = i % 1000;
        const char *status = m < 955 ? "done" : m < 975 ? "cancelled" : m < 985 ? "resolved"
                           : m < 996 ? "open" : "claimed";
        bool held = strcmp(status, "done") == 0 || strcmp(status, "claimed") == 0;
        char vol[8], ref[48], actor[48];
        snprintf(vol, sizeof vol, "v%02ld", i % 50);
        snprintf(ref, sizeof ref, "gen-%ld", i);
        snprintf(actor, sizeof actor, "channel:%s", r->channel);
        int prio = 1;
        for (size_t k = 0; k < 4; k++) {
            if (strcmp(prios[k][0], r->category) == 0)
                prio = (int)strtol(prios[k][1], NULL, 10);
        }
        bool hook = i % 10 < 3;
        int64_t claimed = created + 20 * 60000, done = created + 3 * 3600000;
        sqlite3_bind_int64(rq, 1, i);
        sqlite3_bind_text(rq, 2, r->channel, -1, SQLITE_STATIC);
        sqlite3_bind_text(rq, 3, ref, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(rq, 4, r->category, -1, SQLITE_STATIC);
        sqlite3_bind_int(rq, 5, prio);
        sqlite3_bind_text(rq, 6, r->building, -1, SQLITE_STATIC);
        sqlite3_bind_text(rq, 7, r->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(rq, 8, r->contact, -1, SQLITE_STATIC);
        sqlite3_bind_text(rq, 9, r->text, -1, SQLITE_STATIC);
        if (hook)
            sqlite3_bind_int64(rq, 10, 1);
        else
            sqlite3_bind_null(rq, 10);
        sqlite3_bind_text(rq, 11, status, -1, SQLITE_STATIC);
        if (held)
            sqlite3_bind_text(rq, 12, vol, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(rq, 12);
        if (strcmp(status, "claimed") == 0)
            sqlite3_bind_int64(rq, 13, now + 4 * 3600000); /* a live lease */
        else
            sqlite3_bind_null(rq, 13);
        if (strcmp(status, "resolved") == 0)
            sqlite3_bind_text(rq, 14, "water_company", -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(rq, 14);
        sqlite3_bind_int64(rq, 15, created + 3600000);
        sqlite3_bind_int64(rq, 16, created + 2 * DAY_MS);
        /* Old open and claimed ones were flagged overdue long ago. */
        sqlite3_bind_int(rq, 17, strcmp(status, "open") == 0 || strcmp(status, "claimed") == 0 ? 3 : 0);
        sqlite3_bind_int64(rq, 18, created);
        sqlite3_bind_int64(rq, 19, strcmp(status, "done") == 0 ? done : claimed);
        if (held)
            sqlite3_bind_int64(rq, 20, claimed);
        else
            sqlite3_bind_null(rq, 20);
        if (strcmp(status, "done") == 0)
            sqlite3_bind_int64(rq, 21, done);
        else
            sqlite3_bind_null(rq, 21);
        if (sqlite3_step(rq) != SQLITE_DONE) {
            fprintf(stderr, "bench: generate request: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(rq);
        /* Its timeline: received, then what happened. The received event is
         * written as a database from before 007_receipt.sql holds it (a year
         * of history); the timeline view then reads it instead of the row. */
        const char *kinds[3] = {"received", NULL, NULL};
        const char *tos[3] = {"open", NULL, NULL};
        if (held) {
            kinds[1] = "claimed";
            tos[1] = "claimed";
        } else if (strcmp(status, "cancelled") == 0) {
            kinds[1] = "cancelled";
            tos[1] = "cancelled";
        } else if (strcmp(status, "resolved") == 0) {
            kinds[1] = "escalated";
            tos[1] = "escalated";
            kinds[2] = "resolved";
            tos[2] = "resolved";
        }
        if (strcmp(status, "done") == 0) {
            kinds[2] = "completed";
            tos[2] = "done";
        }
        for (int k = 0; k < 3 && kinds[k]; k++) {
            int64_t at = k == 0 ? created : k == 1 ? claimed : done;
            sqlite3_bind_int64(ev, 1, i);
            sqlite3_bind_int64(ev, 2, at);
            sqlite3_bind_text(ev, 3, k == 0 ? actor : "volunteer:v01", -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ev, 4, kinds[k], -1, SQLITE_STATIC);
            if (k == 0)
                sqlite3_bind_null(ev, 5);
            else
                sqlite3_bind_text(ev, 5, tos[k - 1], -1, SQLITE_STATIC);
            sqlite3_bind_text(ev, 6, tos[k], -1, SQLITE_STATIC);
            sqlite3_bind_text(ev, 7, k == 2 ? "{\"note\":\"已处理，住户满意\"}" : "{}", -1, SQLITE_STATIC);
            if (sqlite3_step(ev) != SQLITE_DONE)
                goto out;
            sqlite3_reset(ev);
            if (!hook)
                continue;
            int64_t eid = sqlite3_last_insert_rowid(db);
            char msg_id[48], type[48], body[400];
            snprintf(msg_id, sizeof msg_id, "msg_gen_%ld_%d", i, k);
            snprintf(type, sizeof type, "request.%s", kinds[k]);
            snprintf(body, sizeof body,
                     "{\"type\":\"%s\",\"timestamp\":\"2026-01-01T00:00:00.000Z\",\"data\":{\"ticket\":%ld,"
                     "\"category\":\"%s\",\"building\":\"%s\",\"status\":\"%s\"}}",
                     type, i, r->category, r->building, tos[k]);
            sqlite3_bind_text(dl, 1, msg_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(dl, 2, i);
            sqlite3_bind_int64(dl, 3, eid);
            sqlite3_bind_text(dl, 4, type, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(dl, 5, body, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(dl, 6, at + 50);
            if (sqlite3_step(dl) != SQLITE_DONE)
                goto out;
            sqlite3_reset(dl);
        }
        if (i % 100000 == 0 && (exec_sql(db, "COMMIT") != 0 || exec_sql(db, "BEGIN") != 0))
            goto out;
    }
    if (exec_sql(db, "COMMIT") != 0 || exec_sql(db, "PRAGMA journal_mode = WAL") != 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(rq);
    sqlite3_finalize(ev);
    sqlite3_finalize(dl);
    sqlite3_close(db);
    return rc;
}

static bool cli_has_stats(const bench_opts_t *o, bool *has_month)
{
    char cmd[700], line[512];
    snprintf(cmd, sizeof cmd, "'%s/bianmin' --help 2>&1", o->bin_dir);
    FILE *p = popen(cmd, "r");
    bool found = false;
    for (int i = 0; p && i < 200 && fgets(line, sizeof line, p); i++) {
        const char *s = line;
        while (*s == ' ')
            s++;
        found = found || strncmp(s, "stats", 5) == 0;
    }
    if (p)
        pclose(p);
    *has_month = false;
    if (!found)
        return false;
    snprintf(cmd, sizeof cmd, "'%s/bianmin' stats --help 2>&1", o->bin_dir);
    p = popen(cmd, "r");
    for (int i = 0; p && i < 200 && fgets(line, sizeof line, p); i++)
        *has_month = *has_month || strstr(line, "--month") != NULL;
    if (p)
        pclose(p);
    return true;
}

static void stats_part(const bench_opts_t *o, const broker_proc_t *b)
{
    bool has_month = false;
    if (!cli_has_stats(o, &has_month)) {
        printf("  stats: not available yet (bianmin --help lists no stats command)\n");
        return;
    }
    /* Last month: a full month of the generated year. */
    time_t t = time(NULL) - 30 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    char month[32], exe[600], log[700];
    snprintf(month, sizeof month, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    snprintf(exe, sizeof exe, "%s/bianmin", o->bin_dir);
    snprintf(log, sizeof log, "%s/stats.out", b->dir);
    /* stats reads the database file read-only, beside the running broker. */
    char db[700];
    snprintf(db, sizeof db, "%s/bianmin.db", b->dir);
    char *argv_month[] = {exe, "stats", "--month", month, "--db", db, NULL};
    char *argv_plain[] = {exe, "stats", "--db", db, NULL};
    int64_t t0 = now_ns();
    pid_t pid = proc_start(has_month ? argv_month : argv_plain, log, NULL);
    int st = proc_wait(pid, 150000);
    double secs = secs_since(t0);
    FILE *f = fopen(log, "r");
    char first[256] = "";
    if (f) {
        if (!fgets(first, sizeof first, f))
            first[0] = '\0';
        fclose(f);
    }
    first[strcspn(first, "\n")] = '\0';
    printf("  bianmin stats%s%s: %.2f s, exit %d; first line: %s\n", has_month ? " --month " : "",
           has_month ? month : "", secs, WIFEXITED(st) ? WEXITSTATUS(st) : -1, first);
}

/* `bianmin export` of last month (about 82,000 cases): its time, its peak
 * memory (VmHWM, sampled every 10 ms until it exits) and the size of the
 * page a browser opens first. */
static void export_part(const bench_opts_t *o, const broker_proc_t *b)
{
    time_t t = time(NULL) - 30 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    char month[32], exe[600], log[700], db[700], out[700], idx[800];
    snprintf(month, sizeof month, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    snprintf(exe, sizeof exe, "%s/bianmin", o->bin_dir);
    snprintf(log, sizeof log, "%s/export.out", b->dir);
    snprintf(db, sizeof db, "%s/bianmin.db", b->dir);
    snprintf(out, sizeof out, "%s/export", b->dir);
    snprintf(idx, sizeof idx, "%s/index.html", out);
    char *argv[] = {exe, "export", "--month", month, "--tz", "UTC", "--db", db, out, NULL};
    int64_t t0 = now_ns();
    pid_t pid = proc_start(argv, log, NULL);
    long hwm = 0;
    struct timespec tick = {0, 10 * 1000 * 1000};
    while (pid > 0 && !proc_exited(pid)) {
        /* Only once it runs bianmin: before the exec the child is a copy of
         * the bench, with the bench's memory. */
        char comm_path[64], comm[32] = "";
        snprintf(comm_path, sizeof comm_path, "/proc/%d/comm", (int)pid);
        FILE *cf = fopen(comm_path, "r");
        if (cf) {
            if (!fgets(comm, sizeof comm, cf))
                comm[0] = '\0';
            fclose(cf);
        }
        if (strcmp(comm, "bianmin\n") == 0) {
            long k = proc_kib(pid, "VmHWM");
            hwm = k > hwm ? k : hwm;
        }
        if (secs_since(t0) > 600) {
            proc_kill(pid);
            printf("  bianmin export --month %s: still running after 600 s, killed\n", month);
            return;
        }
        nanosleep(&tick, NULL);
    }
    double secs = secs_since(t0);
    FILE *f = fopen(log, "r");
    char last[512] = "", line[512];
    while (f && fgets(line, sizeof line, f))
        bm_strlcpy(last, line, sizeof last);
    if (f)
        fclose(f);
    last[strcspn(last, "\n")] = '\0';
    printf("  bianmin export --month %s: %.1f s, peak RSS %.1f MB, index.html %.0f KB\n"
           "    (%s)\n",
           month, secs, (double)hwm / 1024.0, (double)file_size(idx) / 1024.0, last);
}

int section_scale(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    (void)ctx;
    banner("scale", "memory with many open requests; start and queries on a big database");
    double empty_start = 0;
    int rc = memory_part(o, rows, &empty_start);

    char *dir = temp_dir(o, "scale-big");
    if (!dir)
        return -1;
    char db[700];
    snprintf(db, sizeof db, "%s/bianmin.db", dir);
    int64_t t0 = now_ns();
    if (generate(db, rows, o->scale_requests) != 0) {
        temp_dir_remove(o, dir);
        return -1;
    }
    double gen = secs_since(t0);
    printf("  generated %ld requests (a year; 95.5%% done, 1.1%% open) with their events and, for 3 in\n"
           "  10, delivered webhooks, in %.1f s: %.0f MB\n",
           o->scale_requests, gen, (double)file_size(db) / 1048576.0);
    broker_proc_t b;
    t0 = now_ns();
    if (broker_start(o, dir, "", &b) != 0) {
        temp_dir_remove(o, dir);
        return -1;
    }
    double start = secs_since(t0);
    printf("  broker start -> first answer:   %.3f s on %ld requests, %.3f s on an empty database\n",
           start, o->scale_requests, empty_start);
    rss_row("broker on the big database", &b);
    char get[64];
    snprintf(get, sizeof get, "{\"ticket\": %ld}", o->scale_requests / 2);
    time_calls(b.client_ep, "get (one request of the middle)", BM_CMD_GET, get, 20);
    time_calls(b.client_ep, "list newest (limit 50)", BM_CMD_LIST, "{\"limit\": 50}", 10);
    time_calls(b.client_ep, "list open (limit 50)", BM_CMD_LIST, "{\"status\": \"open\", \"limit\": 50}", 10);
    time_calls(b.client_ep, "list, one building (limit 50)", BM_CMD_LIST,
               "{\"building\": \"曼哈顿小区 7栋\", \"limit\": 50}", 10);
    time_calls(b.client_ep, "list, substring of many buildings", BM_CMD_LIST,
               "{\"building\": \"7栋\", \"limit\": 50}", 5);
    time_calls(b.client_ep, "list done, one building", BM_CMD_LIST,
               "{\"status\": \"done\", \"building\": \"曼哈顿小区 7栋\", \"limit\": 50}", 5);
    time_calls(b.client_ep, "deliveries (limit 50)", BM_CMD_DELIVERIES, "{\"limit\": 50}", 10);
    stats_part(o, &b);
    export_part(o, &b);
    rss_row("after those queries", &b);
    broker_stop(&b, false);
    temp_dir_remove(o, dir);
    return rc;
}
