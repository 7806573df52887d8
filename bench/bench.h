/* bench.h - bianmin-bench: how fast the durable path is, against the
 * physical floor (SQLite alone) and against peers (Redis, beanstalkd,
 * PostgreSQL, RabbitMQ).
 *
 * Sections (each runnable alone): submit, curve, floor, peers, dispatch,
 * notifier, scale. Every process the bench starts is registered here and killed on any
 * exit; every loop is bounded in count and in time. Only 127.0.0.1 is used. */
#ifndef BM_BENCH_H
#define BM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_LIST 8

struct bm_key; /* auth.h */

/* Counters shared with the LD_PRELOAD shim (shim.c) through an mmap'd file:
 * commits seen by SQLite's commit hook and the fsyncs behind them. */
typedef struct {
    uint64_t commits;
    uint64_t wal_syncs;   /* fsync/fdatasync on a *-wal file */
    uint64_t db_syncs;    /* on anything else (the database, a checkpoint) */
    uint64_t sync_ns;     /* time spent inside those calls */
} bench_counters_t;

#define BENCH_COUNTERS_ENV "BM_BENCH_COUNTERS"

/* Command-line settings. */
typedef struct {
    const char *bin_dir;   /* bianmin-broker, bianmin-notifier, bianmin, the shim */
    const char *data;      /* nyc311-sample.csv */
    const char *tmp_root;  /* where temp dirs go (must be a real disk) */
    bool keep;             /* keep the temp dir */
    long requests;         /* per client configuration */
    int clients[BENCH_MAX_LIST];
    int n_clients;
    int window;
    double max_seconds;    /* cap of one load run (slow peers) */
    int groups[BENCH_MAX_LIST * 2];
    int n_groups;
    double floor_seconds;
    int volunteers[BENCH_MAX_LIST];
    int n_volunteers;
    long dispatch_tickets;
    long webhooks, slow_webhooks, dead_webhooks;
    int slow_ms;
    long open_requests;
    long scale_requests;
    int curve_rounds;      /* curve: runs per mode and client count */
    long insns_requests;   /* insns: submits in the larger run (the smaller has a fifth) */
    unsigned peers;        /* peers: which ones (PEER_* bits) */
} bench_opts_t;

/* The peers the peers section can run (--peers). */
#define PEER_REDIS     1u
#define PEER_BEANSTALK 2u
#define PEER_POSTGRES  4u
#define PEER_RABBITMQ  8u
#define PEER_ALL       (PEER_REDIS | PEER_BEANSTALK | PEER_POSTGRES | PEER_RABBITMQ)

#define BENCH_MAX_ROUNDS 9

/* ---- payloads (payload.c) ---------------------------------------------- */

/* One station job from the 311 sample. */
typedef struct {
    char key[16];
    const char *category;
    char building[96];
    char unit[16];
    char contact[64];
    char text[512];
    const char *channel;
} bench_row_t;

typedef struct {
    bench_row_t *rows;
    size_t n;
    size_t skipped_other, rejected; /* not a station job; malformed */
} bench_rows_t;

/* Loads and maps the CSV. Returns 0 or -1 (message printed). */
int rows_load(const char *path, bench_rows_t *out);
void rows_free(bench_rows_t *r);

/* A submit body, pre-encoded once so every system gets the same bytes. */
typedef struct {
    char *json; /* cJSON_PrintUnformatted of the submit body */
    size_t len;
    char ref[48];
    const bench_row_t *row;
} bench_payload_t;

/* n bodies built from rows (cycled); ref "nyc311-KEY-SEQ". callback_base, if
 * not NULL, gets "/" and seq mod 8 appended (8 endpoints); dead_every > 0
 * sends every dead_every-th request's callback to dead_url instead.
 * Caller frees with payloads_free. */
bench_payload_t *payloads_make(const bench_rows_t *rows, long n, const char *callback_base,
                               const char *dead_url, long dead_every);
void payloads_free(bench_payload_t *p, long n);

/* ---- measuring ----------------------------------------------------------- */

int64_t now_ns(void);
double secs_since(int64_t t0_ns);

typedef struct {
    long n;
    double p50_ms, p99_ms, max_ms, mean_ms;
} lat_stats_t;

/* Percentiles of the positive values in lat_ns[0..n) (zeros are skipped). */
lat_stats_t lat_stats(const int64_t *lat_ns, long n);

/* VmRSS / VmHWM of a process in KiB, or -1. */
long proc_kib(pid_t pid, const char *field);
/* Size of a file in bytes (0 if missing). */
long long file_size(const char *path);
/* CPU time all threads of a process have run, in ns (schedstat), or -1. */
int64_t proc_cpu_ns(pid_t pid);

/* ---- processes, ports, temp dirs (proc.c) ------------------------------- */

/* Starts argv[0] with argv, stdout+stderr to log_path, extra environment
 * entries env (NULL-terminated, may be NULL). The child dies with us
 * (PR_SET_PDEATHSIG) and is registered for cleanup. Returns its pid or -1. */
pid_t proc_start(char *const argv[], const char *log_path, char *const env[]);

/* How proc_start_ex runs a child. */
typedef struct {
    bool as_user;   /* switch to uid/gid first (postgres refuses to run as root) */
    uid_t uid;
    gid_t gid;
    bool own_group; /* lead a new process group: stop and kill reach all of it */
    const char *cwd; /* working directory, NULL: ours */
} proc_opts_t;

/* proc_start with options (po may be NULL). Returns the pid or -1. */
pid_t proc_start_ex(char *const argv[], const char *log_path, char *const env[],
                    const proc_opts_t *po);
/* SIGTERM, wait up to grace_ms, then SIGKILL. Returns the exit status or -1. */
int proc_stop(pid_t pid, int grace_ms);
void proc_kill(pid_t pid); /* SIGKILL and reap */
/* Waits for it to exit by itself (SIGKILL after timeout_ms); its status. */
int proc_wait(pid_t pid, int timeout_ms);
/* True (and forgotten) if it has exited by itself. */
bool proc_exited(pid_t pid);
/* Kills every registered child (atexit and signal handler). */
void proc_kill_all(void);
/* Installs SIGINT/SIGTERM handlers that kill the children, then exit. */
void proc_install_handlers(void);

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
int free_port(void);
/* Waits until 127.0.0.1:port accepts a connection (tried at least once);
 * 0 or -1 after timeout_ms. */
int wait_port(int port, int timeout_ms);
/* Makes a fresh directory under the temp root; returns a malloc'd path. */
char *temp_dir(const bench_opts_t *o, const char *tag);
/* rm -rf of a temp dir made above (unless --keep). */
void temp_dir_remove(const bench_opts_t *o, char *dir);
/* Warns when dir is on tmpfs (where fsync costs nothing). */
void check_real_disk(const char *dir);

/* ---- the broker ---------------------------------------------------------- */

typedef struct {
    pid_t pid;
    char dir[512];
    char db[640];
    char client_ep[64];
    char worker_ep[64];
    char counters_path[640];
    bench_counters_t *counters; /* mmap'd, NULL if the shim is not available */
    char secret[80];
    bool curve;      /* authentication on (CURVE + ZAP) */
    struct bm_key *office; /* curve: the office key the broker made in dir/keys (owned) */
} broker_proc_t;

/* Writes a config and starts bianmin-broker on dir/bianmin.db (which may
 * exist) in development mode ("auth": "none"). extra_json is inserted into
 * the config object (may be ""). Waits until it answers. Returns 0 or -1. */
int broker_start(const bench_opts_t *o, const char *dir, const char *extra_json,
                 broker_proc_t *b);
/* The same; with curve, authentication stays on: the broker makes its keys
 * in dir/keys on this first start and b->office is loaded from there (the
 * key every load client of this broker then uses). Returns 0 or -1. */
int broker_start_mode(const bench_opts_t *o, const char *dir, const char *extra_json, bool curve,
                      broker_proc_t *b);
/* Sends get for a ticket on a fresh socket every few ms until any answer,
 * as key (NULL: development mode): returns the time waited in seconds, or
 * -1 after timeout_ms. */
double broker_wait_ready(const char *endpoint, const struct bm_key *key, int timeout_ms);
/* Where valgrind is (the insns section). */
#define BENCH_VALGRIND "/usr/bin/valgrind"
#define BENCH_CALLGRIND_CONTROL "/usr/bin/callgrind_control"
/* With a path, the brokers started from now on run under callgrind and
 * write their instruction counts there when they stop (SIGTERM); NULL or ""
 * turns it off. */
void broker_set_callgrind(const char *out_path);
/* Stops it (SIGTERM, or SIGKILL if kill9) and unmaps the counters. */
void broker_stop(broker_proc_t *b, bool kill9);
/* A snapshot of the shim's counters (zeros if no shim). */
bench_counters_t broker_counters(const broker_proc_t *b);

/* ---- load generator (load.c) -------------------------------------------- */

typedef enum { LOAD_BROKER, LOAD_REDIS, LOAD_BEANSTALK, LOAD_DRIVER } load_kind_t;

typedef struct load load_t;
/* One client connection of a load run (load.c), for a driver's callbacks. */
typedef struct load_conn load_conn_t;

/* A peer spoken through its own client library (libpq, librabbitmq):
 * load_run keeps `window` requests in flight on each connection it opens. */
typedef struct {
    /* Opens one connection that will send requests first..first+count-1;
     * its state, or NULL with a message in err. */
    void *(*open)(const load_t *L, long first, long count, char *err, size_t cap);
    /* Sends request seq, calls load_sent; 0, or -1 after load_fail. */
    int (*send)(void *conn, load_conn_t *c, long seq);
    /* Waits up to about a second and reports every answer with load_ack or
     * load_refused; returns how many came (0 on timeout), -1 after load_fail. */
    int (*recv)(void *conn, load_conn_t *c);
    void (*close)(void *conn);
} load_driver_t;

struct load {
    load_kind_t kind;
    const char *endpoint; /* broker: zmq endpoint */
    const struct bm_key *key; /* broker: CURVE client key (NULL: development mode) */
    int port;             /* peers: 127.0.0.1 port */
    const load_driver_t *driver; /* LOAD_DRIVER: the client library */
    const void *driver_arg;      /* LOAD_DRIVER: where to connect (the driver's own type) */
    const bench_payload_t *payloads;
    long total;
    int conns, window;
    double max_seconds; /* stop issuing new requests after this */
    /* results */
    double secs;
    long acked, errors;
    int64_t *lat_ns;  /* [total], 0 = not acknowledged */
    int64_t *ticket;  /* [total], broker ticket or peer id */
    int64_t *sent_ns; /* [total], when each was sent */
    char first_error[256];
};

/* For drivers: request seq was sent now. */
void load_sent(load_conn_t *c, long seq);
/* For drivers: request seq is acknowledged durably, as id (ticket, row id). */
void load_ack(load_conn_t *c, long seq, int64_t id);
/* For drivers: request seq was answered with a refusal (why). */
void load_refused(load_conn_t *c, long seq, const char *why);
/* For drivers: the connection failed; the first message is kept. */
void load_fail(load_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs the load; fills the results. Returns 0 if every issued request was
 * answered, -1 otherwise (results still filled as far as they got). */
int load_run(load_t *L);
void load_free(load_t *L);
/* Sends cmd to 127.0.0.1:port on a fresh connection and reads the answer
 * (until the peer is quiet for 300 ms) into out. Returns 0 or -1. */
int tcp_query(int port, const char *cmd, char *out, size_t cap);

/* ---- sections ------------------------------------------------------------ */

/* What one durable submit run measured (for the submit table, the floor
 * and peers comparisons and the curve section). */
typedef struct {
    int clients;
    double rate;
    double avg_group; /* submits per commit, 0 if unknown */
    double cpu_us;    /* broker CPU per request */
    double client_cpu_us; /* the load clients' CPU per request (this process) */
    lat_stats_t lat;
    long acked, errors, verified, db_rows;
    double secs;
    uint64_t commits;
    bool counted;     /* the shim counted commits and fsyncs */
    double fsync_ms;  /* average fsync inside the broker, < 0 if unknown */
    long rss_mb;      /* broker VmHWM */
    char first_error[256];
} submit_result_t;

typedef struct {
    submit_result_t submit[BENCH_MAX_LIST];
    int n_submit;
    double fsync_ms; /* one fdatasync on this disk */
} bench_ctx_t;

int section_submit(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
int section_curve(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
/* One durable submit run of pl (o->requests bodies) from `clients`
 * connections against a fresh broker (curve: authenticated with the office
 * key; extra_json: more config), SIGKILLed afterwards and checked: every
 * acknowledged ticket must be in its database. Fills r; returns 0 if every
 * request was acknowledged and verified, -1 otherwise. */
int submit_measure(const bench_opts_t *o, const bench_payload_t *pl, int clients, bool curve,
                   const char *extra_json, submit_result_t *r);
int section_floor(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
int section_peers(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
/* Parses --peers (comma separated names, or "all") into PEER_* bits; 0 or -1. */
int peers_parse(const char *list, unsigned *out);

/* What one peer run measured: the load, then SIGKILL, restart on the same
 * data and count (peers.c prints it). */
typedef struct {
    long acked, errors;
    long recovered;   /* acknowledged items found after the restart, -1 unknown */
    long stored;      /* items the restarted server holds in all, -1 unknown */
    double secs, rate;
    lat_stats_t lat;
    char first_error[256];
} peer_result_t;

/* Fills r's load figures (acked, errors, time, rate, latencies, first error)
 * from a finished load run (peers.c); the restart's counts are the caller's. */
void peer_result_from_load(peer_result_t *r, const load_t *L);

/* PostgreSQL 15 (pg.c): 0 if its server programs are installed, else -1
 * with what is missing in why. */
int pg_available(char *why, size_t cap);
/* One run against a private server (initdb in a temp dir); fills r.
 * Returns 0 if every request was acknowledged and found after the restart. */
int pg_measure(const bench_opts_t *o, const bench_payload_t *pl, int clients, peer_result_t *r);
/* RabbitMQ (amqp.c): 0 if rabbitmq-server is installed, else -1 and why. */
int amqp_available(char *why, size_t cap);
/* One run against a private node (own dirs, ports, epmd); fills r.
 * Returns 0 if every message was confirmed and found after the restart. */
int amqp_measure(const bench_opts_t *o, const bench_payload_t *pl, int clients, peer_result_t *r);
int section_dispatch(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
int section_notifier(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
int section_scale(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
int section_insns(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx);
/* One dispatch run (dispatch.c): o->dispatch_tickets submitted one at a time,
 * nvol volunteers claiming and finishing them; prints its row. Returns 0 if
 * every ticket was claimed and done. */
int dispatch_measure(const bench_opts_t *o, const bench_rows_t *rows, int nvol, int claimers,
                     bool targeted, double *offer_p50, double *claim_p50);

/* Applies the embedded migrations (bm_schema) to an open database. */
struct sqlite3;
int schema_apply(struct sqlite3 *db);
/* Average fdatasync latency of 4 KiB appends in dir, in ms. */
double measure_fsync_ms(const char *dir, int n);

/* Section banner and a rule under table headers. */
void banner(const char *title, const char *what);

#endif
