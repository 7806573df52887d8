/* proc.c - the bench's children (broker, notifier, peers), ports, temp dirs,
 * the broker's config and readiness, and small measuring helpers. */
#include "bench.h"
#include "auth.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <ftw.h>

#define MAX_CHILDREN 32

static volatile pid_t children[MAX_CHILDREN];
/* The child leads its own process group (a server with workers of its own:
 * postgres, RabbitMQ's script and its Erlang VM): signals go to the group. */
static volatile sig_atomic_t child_group[MAX_CHILDREN];

static void child_add(pid_t pid, bool group)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == 0) {
            child_group[i] = group;
            children[i] = pid;
            return;
        }
    }
}

static void child_forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == pid)
            children[i] = 0;
    }
}

/* Sends sig to pid, or to its whole group if it leads one we made. */
static void child_signal(pid_t pid, int sig)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == pid && child_group[i]) {
            kill(-pid, sig);
            return;
        }
    }
    kill(pid, sig);
}

void proc_kill_all(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        pid_t p = children[i];
        if (p > 0) {
            kill(child_group[i] ? -p : p, SIGKILL);
            waitpid(p, NULL, 0);
            children[i] = 0;
        }
    }
}

/* The temp dirs in use, removed also when a signal ends the bench. */
#define MAX_TEMP_DIRS 8
static char temp_dirs[MAX_TEMP_DIRS][512];
static volatile sig_atomic_t temp_used[MAX_TEMP_DIRS];

static void temp_add(const char *dir)
{
    for (int i = 0; i < MAX_TEMP_DIRS; i++) {
        if (!temp_used[i] && bm_strlcpy(temp_dirs[i], dir, sizeof temp_dirs[i]) == 0) {
            temp_used[i] = 1;
            return;
        }
    }
}

static void temp_forget(const char *dir)
{
    for (int i = 0; i < MAX_TEMP_DIRS; i++) {
        if (temp_used[i] && strcmp(temp_dirs[i], dir) == 0)
            temp_used[i] = 0;
    }
}

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0)
            kill(child_group[i] ? -children[i] : children[i], SIGKILL);
    }
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0)
            waitpid(children[i], NULL, 0);
    }
    /* rm -rf through fork and exec: both are async-signal-safe, nftw is not. */
    for (int i = 0; i < MAX_TEMP_DIRS; i++) {
        if (!temp_used[i])
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            char *const argv[] = {"rm", "-rf", "--", temp_dirs[i], NULL};
            char *const envp[] = {NULL};
            execve("/bin/rm", argv, envp);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    _exit(128 + sig);
}

void proc_install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    atexit(proc_kill_all);
}

pid_t proc_start(char *const argv[], const char *log_path, char *const env[])
{
    return proc_start_ex(argv, log_path, env, NULL);
}

pid_t proc_start_ex(char *const argv[], const char *log_path, char *const env[],
                    const proc_opts_t *po)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (po && po->own_group)
            setpgid(0, 0);
        int fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (po && po->as_user) {
            /* Dropped before the death signal is set: a change of
             * credentials clears it. The log stays open across. */
            if (setgroups(0, NULL) != 0 || setgid(po->gid) != 0 || setuid(po->uid) != 0) {
                if (fd >= 0)
                    dprintf(fd, "bench: 不能切换到用户 %d / cannot become uid %d: %s\n", (int)po->uid,
                            (int)po->uid, strerror(errno));
                _exit(126);
            }
        }
        /* The child must not outlive the bench, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (po && po->cwd && chdir(po->cwd) != 0)
            _exit(126);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) {
            dup2(in, 0);
            close(in);
        }
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        fprintf(stderr, "bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (po && po->own_group)
        setpgid(pid, pid); /* also here: no race with a signal sent right away */
    child_add(pid, po && po->own_group);
    return pid;
}

/* Waits for pid up to ms; returns the status or -1 if still running. */
static int wait_ms(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 5) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return 0;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

int proc_stop(pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return -1;
    child_signal(pid, SIGTERM);
    int st = wait_ms(pid, grace_ms);
    if (st < 0) {
        fprintf(stderr, "bench: pid %d did not stop in %d ms; killing it\n", (int)pid, grace_ms);
        child_signal(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    child_forget(pid);
    return st;
}

void proc_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    child_signal(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    child_forget(pid);
}

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int wait_port(int port, int timeout_ms)
{
    int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;
    do { /* at least one try, also with timeout_ms 0 */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
        close(fd);
        if (rc == 0)
            return 0;
        if (now_ns() >= end)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    } while (now_ns() < end);
    return -1;
}

char *temp_dir(const bench_opts_t *o, const char *tag)
{
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/bianmin-bench-%s-XXXXXX", o->tmp_root, tag);
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "bench: cannot make a temp dir in %s: %s\n", o->tmp_root, strerror(errno));
        return NULL;
    }
    if (!o->keep)
        temp_add(tmpl);
    return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void temp_dir_remove(const bench_opts_t *o, char *dir)
{
    if (!dir)
        return;
    temp_forget(dir);
    if (o->keep)
        printf("  (kept %s)\n", dir);
    else
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

void check_real_disk(const char *dir)
{
    struct statfs sf;
    if (statfs(dir, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC))
        printf("  WARNING: %s is on tmpfs: fsync costs nothing there and every figure is "
               "meaningless (use --tmp DIR on a real disk)\n", dir);
}

/* ---- measuring ----------------------------------------------------------- */

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double secs_since(int64_t t0_ns)
{
    return (double)(now_ns() - t0_ns) / 1e9;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

lat_stats_t lat_stats(const int64_t *lat_ns, long n)
{
    lat_stats_t s = {0};
    int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v)
        return s;
    long k = 0;
    double sum = 0;
    for (long i = 0; i < n; i++) {
        if (lat_ns[i] > 0) {
            v[k++] = lat_ns[i];
            sum += (double)lat_ns[i];
        }
    }
    if (k > 0) {
        qsort(v, (size_t)k, sizeof *v, cmp_i64);
        s.n = k;
        s.p50_ms = (double)v[(k - 1) / 2] / 1e6;
        s.p99_ms = (double)v[(long)((double)(k - 1) * 0.99)] / 1e6;
        s.max_ms = (double)v[k - 1] / 1e6;
        s.mean_ms = sum / (double)k / 1e6;
    }
    free(v);
    return s;
}

long proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            char *p = line + flen + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            char *end = p;
            while (*end >= '0' && *end <= '9')
                end++;
            *end = '\0';
            if (bm_parse_long(p, 0, 1L << 40, &v) != 0)
                v = -1;
            break;
        }
    }
    fclose(f);
    return v;
}

long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

double measure_fsync_ms(const char *dir, int n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/fsync-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    char block[4096];
    memset(block, 'x', sizeof block);
    /* Like a WAL after its first checkpoint: overwrites in a file that is
     * already allocated, so fdatasync has only the data to flush. */
    for (int i = 0; i < n; i++) {
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            break;
    }
    fdatasync(fd);
    int64_t t0 = now_ns();
    int done = 0;
    for (; done < n; done++) {
        if (pwrite(fd, block, sizeof block, (off_t)done * (off_t)sizeof block) != (ssize_t)sizeof block ||
            fdatasync(fd) != 0)
            break;
    }
    double ms = done > 0 ? secs_since(t0) * 1000.0 / done : -1;
    close(fd);
    unlink(path);
    return ms;
}

void banner(const char *title, const char *what)
{
    char load[64] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(load, sizeof load, f))
            bm_strlcpy(load, "?", sizeof load);
        fclose(f);
        load[strcspn(load, "\n")] = '\0';
    }
    printf("\n== %s: %s ==\n  (load average before: %s)\n", title, what, load);
}

/* ---- the broker ---------------------------------------------------------- */

double broker_wait_ready(const char *endpoint, const struct bm_key *key, int timeout_ms)
{
    void *ctx = zmq_ctx_new();
    if (!ctx)
        return -1;
    int64_t t0 = now_ns();
    int64_t end = t0 + (int64_t)timeout_ms * 1000000;
    double waited = -1;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "ticket", 1);
    while (now_ns() < end && waited < 0) {
        /* A fresh socket each try: a queued request to an endpoint that was
         * not bound yet would wait for ZeroMQ's reconnect interval. */
        bm_sock_opts_t so = {.key = key};
        void *s = bm_socket_ex(ctx, ZMQ_DEALER, endpoint, false, &so);
        if (!s)
            break;
        int zero = 0, tmo = 10;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
        if (bm_send(s, NULL, BM_CMD_GET, "ready", 5, body) == 0) {
            bm_msg_t msg;
            bm_error_t err = {0};
            bm_recv_t r = bm_recv(s, false, false, NULL, &msg, &err);
            if (r == BM_RECV_OK || r == BM_RECV_INVALID) {
                waited = secs_since(t0);
                bm_msg_clear(&msg);
            }
        }
        zmq_close(s);
    }
    cJSON_Delete(body);
    zmq_ctx_term(ctx);
    return waited;
}

static const char BENCH_SECRET[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/* Loads the office key the broker writes on its first start (it appears
 * once the sockets are bound and the self-test passed). 0 or -1. */
static int office_key_wait(broker_proc_t *b, int timeout_ms)
{
    char path[700];
    snprintf(path, sizeof path, "%s/keys/office.key", b->dir);
    int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;
    bm_error_t err = {0};
    b->office = calloc(1, sizeof *b->office);
    while (b->office && now_ns() < end) {
        /* Retried: the file may exist before it is completely written. */
        if (access(path, F_OK) == 0 && bm_key_load(path, b->office, &err) == 0)
            return 0;
        if (proc_exited(b->pid)) {
            b->pid = 0;
            break;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "bench: no office key at %s%s%s\n", path, err.message[0] ? ": " : "", err.message);
    return -1;
}

int broker_start(const bench_opts_t *o, const char *dir, const char *extra_json,
                 broker_proc_t *b)
{
    return broker_start_mode(o, dir, extra_json, false, b);
}

/* Set by the insns section: the next brokers run under callgrind, writing here. */
static char callgrind_out[640];

void broker_set_callgrind(const char *out_path)
{
    bm_strlcpy(callgrind_out, out_path ? out_path : "", sizeof callgrind_out);
}

int broker_start_mode(const bench_opts_t *o, const char *dir, const char *extra_json, bool curve,
                      broker_proc_t *b)
{
    memset(b, 0, sizeof *b);
    b->curve = curve;
    bm_strlcpy(b->dir, dir, sizeof b->dir);
    snprintf(b->db, sizeof b->db, "%s/bianmin.db", dir);
    int p1 = free_port(), p2 = free_port();
    if (p1 < 0 || p2 < 0 || p1 == p2)
        return -1;
    snprintf(b->client_ep, sizeof b->client_ep, "tcp://127.0.0.1:%d", p1);
    snprintf(b->worker_ep, sizeof b->worker_ep, "tcp://127.0.0.1:%d", p2);
    bm_strlcpy(b->secret, BENCH_SECRET, sizeof b->secret);

    char cfg_path[640], log_path[640], shim[600], preload[700], counters_env[700];
    snprintf(cfg_path, sizeof cfg_path, "%s/bianmin.json", dir);
    snprintf(log_path, sizeof log_path, "%s/broker.log", dir);
    FILE *f = fopen(cfg_path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "{\"client_endpoint\": \"%s\", \"worker_endpoint\": \"%s\", \"database\": \"%s\",\n"
            " \"log_level\": \"warn\", \"callback_secret\": \"%s\"%s%s%s}\n",
            b->client_ep, b->worker_ep, b->db, b->secret, curve ? "" : ", \"auth\": \"none\"",
            extra_json[0] ? ", " : "", extra_json);
    fclose(f);

    /* The counting shim, if it was built (not in sanitizer builds). */
    snprintf(shim, sizeof shim, "%s/libbmbench_counters.so", o->bin_dir);
    char *env[3] = {NULL, NULL, NULL};
    if (access(shim, R_OK) == 0) {
        snprintf(b->counters_path, sizeof b->counters_path, "%s/counters.bin", dir);
        int fd = open(b->counters_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0 && ftruncate(fd, 4096) == 0) {
            void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (m != MAP_FAILED) {
                b->counters = m;
                /* BIANMIN_BENCH_PRELOAD: more libraries for experiments
                 * (e.g. one that changes a PRAGMA), see docs/benchmarks.md. */
                const char *extra = getenv("BIANMIN_BENCH_PRELOAD");
                snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", shim, extra ? ":" : "",
                         extra ? extra : "");
                snprintf(counters_env, sizeof counters_env, "%s=%s", BENCH_COUNTERS_ENV,
                         b->counters_path);
                env[0] = preload;
                env[1] = counters_env;
            }
        }
        if (fd >= 0)
            close(fd);
    }
    char exe[600];
    snprintf(exe, sizeof exe, "%s/bianmin-broker", o->bin_dir);
    char *argv[] = {exe, "-c", cfg_path, NULL};
    char cg_arg[700];
    char *cg_argv[] = {BENCH_VALGRIND, "--tool=callgrind", cg_arg, exe, "-c", cfg_path, NULL};
    if (callgrind_out[0]) {
        /* Instructions are counted, not timed: no preloaded counters. */
        snprintf(cg_arg, sizeof cg_arg, "--callgrind-out-file=%s", callgrind_out);
        env[0] = env[1] = NULL;
        b->pid = proc_start(cg_argv, log_path, env);
    } else {
        b->pid = proc_start(argv, log_path, env);
    }
    if (b->pid < 0)
        return -1;
    if ((curve && office_key_wait(b, 120000) != 0) ||
        broker_wait_ready(b->client_ep, curve ? b->office : NULL, 120000) < 0) {
        fprintf(stderr, "bench: the broker did not answer; see %s\n", log_path);
        broker_stop(b, true);
        return -1;
    }
    if (callgrind_out[0]) {
        /* Start counting now: how long start-up and the readiness polls took
         * (each poll a new connection, with CURVE a handshake) must not count. */
        char cmd[128];
        snprintf(cmd, sizeof cmd, "%s -z %d >/dev/null 2>&1", BENCH_CALLGRIND_CONTROL, (int)b->pid);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: %s -z failed; start-up is counted too\n", BENCH_CALLGRIND_CONTROL);
    }
    return 0;
}

void broker_stop(broker_proc_t *b, bool kill9)
{
    if (b->pid > 0) {
        if (kill9)
            proc_kill(b->pid);
        else
            proc_stop(b->pid, 15000);
    }
    b->pid = 0;
    if (b->counters)
        munmap(b->counters, 4096);
    b->counters = NULL;
    if (b->office) {
        /* The secret half does not linger in freed memory. */
        explicit_bzero(b->office, sizeof *b->office);
        free(b->office);
        b->office = NULL;
    }
}

bench_counters_t broker_counters(const broker_proc_t *b)
{
    bench_counters_t c = {0};
    if (b->counters) {
        c.commits = __atomic_load_n(&b->counters->commits, __ATOMIC_RELAXED);
        c.wal_syncs = __atomic_load_n(&b->counters->wal_syncs, __ATOMIC_RELAXED);
        c.db_syncs = __atomic_load_n(&b->counters->db_syncs, __ATOMIC_RELAXED);
        c.sync_ns = __atomic_load_n(&b->counters->sync_ns, __ATOMIC_RELAXED);
    }
    return c;
}

int proc_wait(pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    int st = wait_ms(pid, timeout_ms);
    if (st < 0) {
        fprintf(stderr, "bench: pid %d still running after %d ms; killing it\n", (int)pid, timeout_ms);
        child_signal(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    child_forget(pid);
    return st;
}

int64_t proc_cpu_ns(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int64_t total = 0;
    struct dirent *e;
    for (int guard = 0; guard < 4096 && (e = readdir(d)); guard++) {
        if (e->d_name[0] == '.')
            continue;
        char p[128];
        snprintf(p, sizeof p, "/proc/%d/task/%.20s/schedstat", (int)pid, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        long long run = 0;
        if (fscanf(f, "%lld", &run) == 1)
            total += run;
        fclose(f);
    }
    closedir(d);
    return total;
}

bool proc_exited(pid_t pid)
{
    if (pid <= 0 || waitpid(pid, NULL, WNOHANG) != pid)
        return false;
    child_forget(pid);
    return true;
}
