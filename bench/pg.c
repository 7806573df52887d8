/* pg.c - PostgreSQL 15 as a peer, the way people usually build such a
 * system: the same requests + events tables and indexes as bianmin's schema
 * (schema/NNN_*.sql, types translated), each submit one transaction (one
 * INSERT of the request row, what bianmin writes since 007_receipt.sql),
 * 32 in flight per connection with libpq's pipeline mode.
 *
 * The server is private to one run: initdb into a temp dir, postgres with its
 * unix socket there and no TCP at all, fsync and synchronous_commit on,
 * defaults otherwise. postgres refuses to run as root: when the bench runs as
 * root, initdb and postgres run as PG_RUN_AS (the temp dir is handed to that
 * user); otherwise as the bench's own user. Durability check as for the
 * others: SIGKILL the whole server (postmaster and backends), start it again
 * on the same data, and every acknowledged ticket must be there. */
#include "bench.h"
#include "config.h"
#include "util.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PG_BIN_DIR          "/usr/lib/postgresql/15/bin" /* Debian's postgresql-15 */
#define PG_RUN_AS           "nobody"  /* the server's user when the bench is root */
#define PG_DB_USER          "bench"   /* the cluster's superuser (trust, socket only) */
#define PG_MIN_CONNECTIONS  100       /* postgres' own default max_connections */
#define PG_START_TIMEOUT_MS 120000    /* crash recovery after the SIGKILL included */
#define PG_INITDB_TIMEOUT_MS 120000
#define PG_RECV_TICK_MS     1000
#define PG_STEPS            1         /* INSERT request (a transaction of its own) */

/* bianmin's requests and events as its migrations leave them (schema/
 * 001_init.sql, 004_dispatch.sql, 005_hotpath.sql: requests_queue dropped,
 * 006_queries.sql, 008_lifecycle.sql: one overdue index on an expression (PostgreSQL has
 * only stored generated columns), 009_ticket_order.sql: requests_created dropped,
 * 010_open_once.sql: requests_status_created without the open requests;
 * 007_receipt.sql's view is not needed here)
 * in PostgreSQL: INTEGER PRIMARY KEY -> bigint identity, times stay bigint
 * milliseconds, JSON detail -> jsonb, the append-only triggers -> one
 * plpgsql function. endpoints and volunteers exist only so the foreign keys
 * are the same (they are NULL on submit). */
static const char PG_SCHEMA[] =
    "CREATE TABLE endpoints (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n"
    "CREATE TABLE volunteers (id text PRIMARY KEY);\n"
    "CREATE TABLE requests (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  channel text NOT NULL, ref text, category text NOT NULL, priority integer NOT NULL,\n"
    "  building text NOT NULL, unit text NOT NULL DEFAULT '', contact text NOT NULL,\n"
    "  text text NOT NULL, endpoint_id bigint REFERENCES endpoints(id),\n"
    "  status text NOT NULL CHECK (status IN\n"
    "    ('open', 'claimed', 'done', 'escalated', 'resolved', 'cancelled')),\n"
    "  volunteer_id text REFERENCES volunteers(id), lease_until bigint,\n"
    "  attempts integer NOT NULL DEFAULT 0, department text, offer_due_at bigint,\n"
    "  deadline_at bigint NOT NULL, overdue integer NOT NULL DEFAULT 0,\n"
    "  rating integer CHECK (rating BETWEEN 1 AND 5), rated_at bigint,\n"
    "  created_at bigint NOT NULL, updated_at bigint NOT NULL, claimed_at bigint, done_at bigint);\n"
    "CREATE UNIQUE INDEX requests_channel_ref ON requests(channel, ref) WHERE ref IS NOT NULL;\n"
    "CREATE INDEX requests_volunteer ON requests(volunteer_id, status) WHERE volunteer_id IS NOT NULL;\n"
    "CREATE INDEX requests_lease ON requests(lease_until) WHERE status = 'claimed';\n"
    "CREATE INDEX requests_status_created ON requests(status, created_at) WHERE status <> 'open';\n"
    "CREATE INDEX requests_due ON requests((CASE\n"
    "  WHEN status = 'open' AND (overdue & 1) = 0 AND offer_due_at IS NOT NULL\n"
    "   AND ((overdue & 2) != 0 OR offer_due_at < deadline_at) THEN offer_due_at\n"
    "  WHEN (status = 'open' OR status = 'claimed') AND (overdue & 2) = 0 THEN deadline_at END))\n"
    "  WHERE status = 'open' OR status = 'claimed';\n"
    "CREATE INDEX requests_open_category ON requests(category, created_at, id) WHERE status = 'open';\n"
    "CREATE INDEX requests_building ON requests(building, created_at);\n"
    "CREATE TABLE events (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  request_id bigint NOT NULL REFERENCES requests(id), at bigint NOT NULL,\n"
    "  actor text NOT NULL, kind text NOT NULL, from_status text, to_status text, detail jsonb);\n"
    "CREATE INDEX events_request ON events(request_id, id);\n"
    "CREATE INDEX events_exclusion ON events(request_id, actor) WHERE kind IN ('declined', 'failed');\n"
    "CREATE INDEX events_month ON events(kind, at, request_id) WHERE kind IN\n"
    "  ('completed', 'resolved', 'escalated', 'cancelled', 'reopened');\n"
    "CREATE INDEX events_rated ON events(request_id, at) WHERE kind = 'rated';\n"
    "CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS\n"
    "  $$BEGIN RAISE EXCEPTION 'events are append-only'; END$$;\n"
    "CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events\n"
    "  FOR EACH ROW EXECUTE FUNCTION events_append_only();\n";

/* The submit, as a prepared statement committed on its own (autocommit). */
static const char PG_INSERT_REQUEST[] =
    "INSERT INTO requests(channel, ref, category, priority, building, unit, contact, text, "
    "status, offer_due_at, deadline_at, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $11) RETURNING id";

/* One private server. */
typedef struct {
    char dir[600];       /* temp dir: the socket, logs; data/ inside */
    char data[700];
    char log[700];
    char conninfo[800];
    pid_t pid;
    int max_conns;
    proc_opts_t as;      /* who runs it */
} pg_server_t;

/* Where libpq connections of a load go. */
typedef struct {
    const char *conninfo;
} pg_target_t;

int pg_available(char *why, size_t cap)
{
    const char *need[] = {PG_BIN_DIR "/initdb", PG_BIN_DIR "/postgres"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (access(need[i], X_OK) != 0) {
            snprintf(why, cap, "%s", need[i]);
            return -1;
        }
    }
    if (geteuid() == 0 && !getpwnam(PG_RUN_AS)) {
        snprintf(why, cap, "user %s", PG_RUN_AS);
        return -1;
    }
    return 0;
}

/* The last line of a log, for a one-line failure message. */
static void log_tail(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0])
            bm_strlcpy(out, line, cap);
    }
    if (f)
        fclose(f);
}

/* Runs initdb as the server's user; 0 or -1 (message printed). */
static int pg_initdb(pg_server_t *s)
{
    char exe[] = PG_BIN_DIR "/initdb";
    char *argv[] = {exe, "-D", s->data, "-U", PG_DB_USER, "--auth=trust", "--encoding=UTF8",
                    "--no-locale", NULL};
    char initlog[700], tail[512];
    snprintf(initlog, sizeof initlog, "%s/initdb.log", s->dir);
    char *env[] = {"LC_ALL=C", NULL};
    pid_t pid = proc_start_ex(argv, initlog, env, &s->as);
    int st = pid > 0 ? proc_wait(pid, PG_INITDB_TIMEOUT_MS) : -1;
    if (st != 0) {
        log_tail(initlog, tail, sizeof tail);
        fprintf(stderr, "bench: postgres: initdb 失败 / initdb failed (%s): %s\n", initlog, tail);
        return -1;
    }
    return 0;
}

/* Starts postgres on s->data and waits until it accepts connections (after
 * crash recovery, on a restart). 0 or -1 (message printed). */
static int pg_start(pg_server_t *s)
{
    char exe[] = PG_BIN_DIR "/postgres";
    char maxc[64];
    snprintf(maxc, sizeof maxc, "max_connections=%d", s->max_conns);
    /* listen_addresses empty: no TCP; the socket is in the temp dir. */
    char *argv[] = {exe, "-D", s->data, "-k", s->dir, "-c", "listen_addresses=",
                    "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", maxc, NULL};
    char *env[] = {"LC_ALL=C", NULL};
    proc_opts_t po = s->as;
    po.own_group = true; /* the postmaster and its backends die together */
    s->pid = proc_start_ex(argv, s->log, env, &po);
    if (s->pid < 0)
        return -1;
    int64_t end = now_ns() + (int64_t)PG_START_TIMEOUT_MS * 1000000;
    while (now_ns() < end) {
        if (PQping(s->conninfo) == PQPING_OK)
            return 0;
        if (proc_exited(s->pid)) {
            s->pid = 0;
            break;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    char tail[512];
    log_tail(s->log, tail, sizeof tail);
    fprintf(stderr, "bench: postgres 没有启动 / did not start (%s): %s\n", s->log, tail);
    if (s->pid > 0)
        proc_kill(s->pid);
    s->pid = 0;
    return -1;
}

/* Prepares the server's user and the dirs in dir; 0 or -1. */
static int pg_server_init(pg_server_t *s, const char *dir, int clients)
{
    memset(s, 0, sizeof *s);
    bm_strlcpy(s->dir, dir, sizeof s->dir);
    snprintf(s->data, sizeof s->data, "%s/data", dir);
    snprintf(s->log, sizeof s->log, "%s/postgres.log", dir);
    snprintf(s->conninfo, sizeof s->conninfo, "host=%s dbname=postgres user=%s", dir, PG_DB_USER);
    s->max_conns = clients + 8 > PG_MIN_CONNECTIONS ? clients + 8 : PG_MIN_CONNECTIONS;
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam(PG_RUN_AS);
        if (!pw)
            return -1;
        s->as.as_user = true;
        s->as.uid = pw->pw_uid;
        s->as.gid = pw->pw_gid;
        /* The temp dir (0700) becomes the server user's; root reads it all
         * the same and removes it afterwards. */
        if (chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "bench: postgres: chown %s: %s\n", dir, strerror(errno));
            return -1;
        }
    }
    s->as.cwd = dir;
    return 0;
}

/* Creates the schema; 0 or -1 (message printed). */
static int pg_schema(const pg_server_t *s)
{
    PGconn *c = PQconnectdb(s->conninfo);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, PG_SCHEMA);
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            rc = 0;
        else
            fprintf(stderr, "bench: postgres schema: %s", PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "bench: postgres: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* ---- the load driver: one libpq connection in pipeline mode --------------- */

typedef struct {
    const load_t *L;
    PGconn *conn;
    bm_config_t cfg;
    long *fifo;        /* seqs whose transaction is in flight, in order */
    long head, tail;
    int step;          /* results seen of the head's transaction */
    int64_t id;        /* the head's request id (RETURNING) */
    bool failed;       /* the head's transaction failed */
    char why[200];
} pg_conn_t;

static void pg_close(void *p)
{
    pg_conn_t *pc = p;
    if (!pc)
        return;
    PQfinish(pc->conn);
    free(pc->fifo);
    free(pc);
}

static void *pg_open(const load_t *L, long first, long count, char *err, size_t cap)
{
    (void)first;
    (void)count;
    const pg_target_t *t = L->driver_arg;
    pg_conn_t *pc = calloc(1, sizeof *pc);
    if (!pc)
        return NULL;
    pc->L = L;
    bm_config_defaults(&pc->cfg);
    pc->fifo = calloc((size_t)L->window, sizeof *pc->fifo);
    pc->conn = PQconnectdb(t->conninfo);
    if (!pc->fifo || PQstatus(pc->conn) != CONNECTION_OK) {
        snprintf(err, cap, "%s", pc->conn ? PQerrorMessage(pc->conn) : "out of memory");
        goto fail;
    }
    PGresult *r1 = PQprepare(pc->conn, "req", PG_INSERT_REQUEST, 0, NULL);
    bool ok = PQresultStatus(r1) == PGRES_COMMAND_OK;
    PQclear(r1);
    if (!ok || PQenterPipelineMode(pc->conn) != 1) {
        snprintf(err, cap, "%s", PQerrorMessage(pc->conn));
        goto fail;
    }
    return pc;
fail:
    err[strcspn(err, "\n")] = '\0';
    pg_close(pc);
    return NULL;
}

static int pg_send(void *p, load_conn_t *c, long seq)
{
    pg_conn_t *pc = p;
    const bench_payload_t *pl = &pc->L->payloads[seq];
    const bench_row_t *r = pl->row;
    const bm_category_t *cat = bm_config_category(&pc->cfg, r->category);
    int64_t now = bm_now_ms();
    char prio[16], offer[24], deadline[24], at[24];
    snprintf(prio, sizeof prio, "%d", cat ? cat->priority : 1);
    snprintf(offer, sizeof offer, "%lld",
             (long long)(now + (cat ? cat->offer_timeout_s : 3600) * INT64_C(1000)));
    snprintf(deadline, sizeof deadline, "%lld",
             (long long)(now + (cat ? cat->deadline_s : 86400) * INT64_C(1000)));
    snprintf(at, sizeof at, "%lld", (long long)now);
    const char *req[] = {r->channel, pl->ref, r->category, prio, r->building, r->unit,
                         r->contact, r->text, offer, deadline, at};
    load_sent(c, seq);
    if (PQsendQueryPrepared(pc->conn, "req", 11, req, NULL, NULL, 0) != 1 ||
        PQpipelineSync(pc->conn) != 1 || PQflush(pc->conn) != 0) {
        load_fail(c, "postgres: %s", PQerrorMessage(pc->conn));
        return -1;
    }
    pc->fifo[pc->tail++ % pc->L->window] = seq;
    return 0;
}

/* Takes one result of the head transaction; 1 when the transaction ended
 * (its sync point arrived), else 0. */
static int pg_result(pg_conn_t *pc, load_conn_t *c, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
        long seq = pc->fifo[pc->head++ % pc->L->window];
        if (!pc->failed && pc->step == PG_STEPS && pc->id > 0)
            load_ack(c, seq, pc->id);
        else
            load_refused(c, seq, pc->why[0] ? pc->why : "transaction incomplete");
        pc->step = 0;
        pc->id = 0;
        pc->failed = false;
        pc->why[0] = '\0';
        return 1;
    }
    pc->step++;
    if (st == PGRES_TUPLES_OK && pc->step == 1 && PQntuples(res) == 1) {
        long id = 0;
        if (bm_parse_long(PQgetvalue(res, 0, 0), 1, 1L << 62, &id) == 0)
            pc->id = id;
    } else if (st != PGRES_COMMAND_OK) {
        if (!pc->failed)
            snprintf(pc->why, sizeof pc->why, "%s", PQresultErrorMessage(res));
        pc->why[strcspn(pc->why, "\n")] = '\0';
        pc->failed = true;
    }
    return 0;
}

static int pg_recv(void *p, load_conn_t *c)
{
    pg_conn_t *pc = p;
    int answered = 0;
    for (int round = 0; round < 2; round++) {
        if (PQconsumeInput(pc->conn) != 1) {
            load_fail(c, "postgres: %s", PQerrorMessage(pc->conn));
            return -1;
        }
        /* In pipeline mode each query's results end with a NULL, and
         * there is nothing to read past the last sync sent: stop there. */
        int nulls = 0;
        while (pc->head != pc->tail && !PQisBusy(pc->conn) && nulls < 2) {
            PGresult *res = PQgetResult(pc->conn);
            if (!res) {
                nulls++;
                continue;
            }
            nulls = 0;
            answered += pg_result(pc, c, res);
            PQclear(res);
        }
        if (answered > 0 || pc->head == pc->tail || round > 0)
            break;
        struct pollfd pfd = {.fd = PQsocket(pc->conn), .events = POLLIN};
        int n = poll(&pfd, 1, PG_RECV_TICK_MS);
        if (n < 0 && errno != EINTR) {
            load_fail(c, "postgres: poll: %s", strerror(errno));
            return -1;
        }
        if (n <= 0)
            break;
    }
    return answered;
}

static const load_driver_t pg_driver = {pg_open, pg_send, pg_recv, pg_close};

/* ---- the check after the SIGKILL ------------------------------------------ */

typedef struct {
    int64_t id;
    char *ref, *text;
} pg_row_t;

static int cmp_row(const void *a, const void *b)
{
    int64_t x = ((const pg_row_t *)a)->id, y = ((const pg_row_t *)b)->id;
    return (x > y) - (x < y);
}

/* Counts the acknowledged requests that are in the restarted server with
 * the ref and text that were sent. Sets
 * *stored to the rows it holds. Returns the count, or -1. */
static long pg_verify(const pg_server_t *s, const load_t *L, long *stored)
{
    PGconn *c = PQconnectdb(s->conninfo);
    PGresult *res = NULL;
    long found = -1;
    *stored = -1;
    if (PQstatus(c) != CONNECTION_OK)
        goto out;
    res = PQexec(c, "SELECT r.id, r.ref, r.text FROM requests r ORDER BY r.id");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto out;
    long n = PQntuples(res);
    *stored = n;
    pg_row_t *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (!rows)
        goto out;
    for (long i = 0; i < n; i++) {
        long id = 0;
        bm_parse_long(PQgetvalue(res, (int)i, 0), 0, 1L << 62, &id);
        rows[i] = (pg_row_t){id, PQgetvalue(res, (int)i, 1), PQgetvalue(res, (int)i, 2)};
    }
    found = 0;
    for (long i = 0; i < L->total; i++) {
        if (L->lat_ns[i] <= 0)
            continue;
        pg_row_t key = {.id = L->ticket[i]};
        const pg_row_t *r = bsearch(&key, rows, (size_t)n, sizeof *rows, cmp_row);
        if (r && strcmp(r->ref, L->payloads[i].ref) == 0 && strcmp(r->text, L->payloads[i].row->text) == 0)
            found++;
    }
    free(rows);
out:
    if (found < 0)
        fprintf(stderr, "bench: postgres check: %s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    return found;
}

int pg_measure(const bench_opts_t *o, const bench_payload_t *pl, int clients, peer_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->recovered = r->stored = -1;
    char *dir = temp_dir(o, "postgres");
    if (!dir)
        return -1;
    pg_server_t s;
    int rc = -1;
    if (pg_server_init(&s, dir, clients) != 0 || pg_initdb(&s) != 0 || pg_start(&s) != 0 ||
        pg_schema(&s) != 0) {
        bm_strlcpy(r->first_error, "postgres 没有启动 / did not start", sizeof r->first_error);
        goto out;
    }
    pg_target_t t = {.conninfo = s.conninfo};
    load_t L = {.kind = LOAD_DRIVER, .driver = &pg_driver, .driver_arg = &t, .payloads = pl,
                .total = o->requests, .conns = clients, .window = o->window,
                .max_seconds = o->max_seconds};
    int lrc = load_run(&L);
    /* A crash of the whole server: postmaster and every backend at once. */
    proc_kill(s.pid);
    s.pid = 0;
    if (pg_start(&s) == 0)
        r->recovered = pg_verify(&s, &L, &r->stored);
    peer_result_from_load(r, &L);
    rc = lrc == 0 && r->errors == 0 && r->recovered == r->acked ? 0 : -1;
    load_free(&L);
out:
    /* Its data is thrown away next: no need for a clean shutdown. */
    if (s.pid > 0)
        proc_kill(s.pid);
    temp_dir_remove(o, dir);
    return rc;
}
