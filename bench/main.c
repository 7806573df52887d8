/* main.c - bianmin-bench: flags and the sections. See docs/benchmarks.md. */
#include "bench.h"
#include "log.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bianmin-bench [options] submit|curve|floor|peers|dispatch|notifier|scale|insns|all\n"
            "\n"
            "How fast bianmin's durable path is, against SQLite alone and against Redis,\n"
            "beanstalkd, PostgreSQL 15 and RabbitMQ, on this machine. Starts the real programs\n"
            "(on 127.0.0.1 or a unix socket) in temp dirs and stops them afterwards. `curve`\n"
            "runs submit with CURVE keys and in development mode (\"auth\": \"none\") side by\n"
            "side. Sizes (defaults finish `all` in a few minutes):\n"
            "\n"
            "  --requests N          submits per client configuration (20000)\n"
            "  --clients LIST        concurrent connections, e.g. 1,8,64 (1,8,64)\n"
            "  --window N            requests in flight per connection (32)\n"
            "  --max-seconds S       stop issuing after S seconds in one run (20)\n"
            "  --groups LIST         floor group sizes (1,8,64,256)\n"
            "  --floor-seconds S     per floor group size (3)\n"
            "  --volunteers LIST     volunteers online in dispatch (10,100)\n"
            "  --tickets N           requests per dispatch run (1000)\n"
            "  --webhooks N          webhooks for the fast receiver runs (5000)\n"
            "  --slow-webhooks N     webhooks for the 100 ms receiver (2000)\n"
            "  --slow-ms MS          the slow receiver's time per request (100)\n"
            "  --dead N              of those, sent to a dead endpoint in the third run (500)\n"
            "  --open-requests N     open requests for the memory figure (100000)\n"
            "  --scale-requests N    requests in the generated database (1000000)\n"
            "  --curve-rounds N      curve: runs per mode and client count, medians shown (3)\n"
            "  --insns-requests N    insns: submits in the larger callgrind run (2500)\n"
            "  --peers LIST          peers to run: redis,beanstalkd,postgres,rabbitmq (all)\n"
            "  --data PATH           the 311 sample (../shared/data/nyc311-sample.csv)\n"
            "  --bin DIR             where the bianmin programs are (this program's dir)\n"
            "  --tmp DIR             where temp dirs go, on a real disk ($TMPDIR or /tmp)\n"
            "  --keep                keep the temp dirs\n"
            "  --version             the version and the database schema version\n"
            "  --help\n");
}

static int parse_list(const char *s, int *out, int max, long lo, long hi)
{
    char buf[256];
    if (bm_strlcpy(buf, s, sizeof buf) != 0)
        return -1;
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (n >= max || bm_parse_long(tok, lo, hi, &v) != 0)
            return -1;
        out[n++] = (int)v;
    }
    return n > 0 ? n : -1;
}

static int parse_secs(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (!end || *end || v <= 0 || v > 3600)
        return -1;
    *out = v;
    return 0;
}

/* The directory this executable is in (where the other programs are). */
static char *exe_dir(void)
{
    static char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return ".";
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return dir;
}

static const char *default_data(const char *bin)
{
    static char path[PATH_MAX + 64];
    const char *env = getenv("BIANMIN_BENCH_DATA");
    if (env)
        return env;
    const char *tries[] = {"../shared/data/nyc311-sample.csv", "../../shared/data/nyc311-sample.csv"};
    for (size_t i = 0; i < 2; i++) {
        if (access(tries[i], R_OK) == 0)
            return tries[i];
    }
    /* build/bin -> repo -> ../shared */
    snprintf(path, sizeof path, "%s/../../../shared/data/nyc311-sample.csv", bin);
    return path;
}

static void machine(const bench_opts_t *o)
{
    char model[256] = "?", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                bm_strlcpy(model, c + 2, sizeof model);
                model[strcspn(model, "\n")] = '\0';
            }
            break;
        }
    }
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    printf("bianmin-bench: %ld CPUs (%s), Linux %s, temp dir %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           model, u.release, o->tmp_root);
}

int main(int argc, char **argv)
{
    if (bm_version_asked(argc, argv)) {
        bm_version_print(stdout, "bianmin-bench");
        return 0;
    }
    enum {
        O_REQ = 256, O_CLIENTS, O_WINDOW, O_MAXS, O_GROUPS, O_FLOORS, O_VOL, O_TICKETS, O_HOOKS,
        O_SLOW, O_SLOWMS, O_DEAD, O_OPEN, O_SCALE, O_ROUNDS, O_INSNS, O_PEERS, O_DATA, O_BIN, O_TMP,
        O_KEEP
    };
    static const struct option opts[] = {
        {"requests", required_argument, NULL, O_REQ},
        {"clients", required_argument, NULL, O_CLIENTS},
        {"window", required_argument, NULL, O_WINDOW},
        {"max-seconds", required_argument, NULL, O_MAXS},
        {"groups", required_argument, NULL, O_GROUPS},
        {"floor-seconds", required_argument, NULL, O_FLOORS},
        {"volunteers", required_argument, NULL, O_VOL},
        {"tickets", required_argument, NULL, O_TICKETS},
        {"webhooks", required_argument, NULL, O_HOOKS},
        {"slow-webhooks", required_argument, NULL, O_SLOW},
        {"slow-ms", required_argument, NULL, O_SLOWMS},
        {"dead", required_argument, NULL, O_DEAD},
        {"open-requests", required_argument, NULL, O_OPEN},
        {"scale-requests", required_argument, NULL, O_SCALE},
        {"curve-rounds", required_argument, NULL, O_ROUNDS},
        {"insns-requests", required_argument, NULL, O_INSNS},
        {"peers", required_argument, NULL, O_PEERS},
        {"data", required_argument, NULL, O_DATA},
        {"bin", required_argument, NULL, O_BIN},
        {"tmp", required_argument, NULL, O_TMP},
        {"keep", no_argument, NULL, O_KEEP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bench_opts_t o = {
        .requests = 20000, .clients = {1, 8, 64}, .n_clients = 3, .window = 32,
        .max_seconds = 20, .groups = {1, 8, 64, 256}, .n_groups = 4, .floor_seconds = 3,
        .volunteers = {10, 100}, .n_volunteers = 2, .dispatch_tickets = 1000, .webhooks = 5000,
        .slow_webhooks = 2000, .slow_ms = 100, .dead_webhooks = 500, .open_requests = 100000,
        .scale_requests = 1000000, .curve_rounds = 3, .insns_requests = 2500,
        .peers = PEER_ALL,
    };
    o.bin_dir = exe_dir();
    o.tmp_root = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    o.data = NULL;
    int c;
    long v;
    bool bad = false;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_REQ: bad = bm_parse_long(optarg, 1, 10000000, &o.requests) != 0; break;
        case O_CLIENTS: bad = (o.n_clients = parse_list(optarg, o.clients, BENCH_MAX_LIST, 1, 512)) < 0; break;
        case O_WINDOW: bad = bm_parse_long(optarg, 1, 4096, &v) != 0; o.window = (int)v; break;
        case O_MAXS: bad = parse_secs(optarg, &o.max_seconds) != 0; break;
        case O_GROUPS: bad = (o.n_groups = parse_list(optarg, o.groups, BENCH_MAX_LIST, 1, 100000)) < 0; break;
        case O_FLOORS: bad = parse_secs(optarg, &o.floor_seconds) != 0; break;
        case O_VOL: bad = (o.n_volunteers = parse_list(optarg, o.volunteers, BENCH_MAX_LIST, 1, 1000)) < 0; break;
        case O_TICKETS: bad = bm_parse_long(optarg, 1, 1000000, &o.dispatch_tickets) != 0; break;
        case O_HOOKS: bad = bm_parse_long(optarg, 1, 1000000, &o.webhooks) != 0; break;
        case O_SLOW: bad = bm_parse_long(optarg, 1, 1000000, &o.slow_webhooks) != 0; break;
        case O_SLOWMS: bad = bm_parse_long(optarg, 0, 10000, &v) != 0; o.slow_ms = (int)v; break;
        case O_DEAD: bad = bm_parse_long(optarg, 0, 1000000, &o.dead_webhooks) != 0; break;
        case O_OPEN: bad = bm_parse_long(optarg, 1, 10000000, &o.open_requests) != 0; break;
        case O_SCALE: bad = bm_parse_long(optarg, 1, 100000000, &o.scale_requests) != 0; break;
        case O_ROUNDS: bad = bm_parse_long(optarg, 1, BENCH_MAX_ROUNDS, &v) != 0; o.curve_rounds = (int)v; break;
        case O_INSNS: bad = bm_parse_long(optarg, 25, 1000000, &o.insns_requests) != 0; break;
        case O_PEERS: bad = peers_parse(optarg, &o.peers) != 0; break;
        case O_DATA: o.data = optarg; break;
        case O_BIN: o.bin_dir = optarg; break;
        case O_TMP: o.tmp_root = optarg; break;
        case O_KEEP: o.keep = true; break;
        case 'h': usage(stdout); return 0;
        default: bad = true; break;
        }
        if (bad && c != '?')
            fprintf(stderr, "bianmin-bench: bad value for --%s: %s\n", opts[c - O_REQ].name, optarg);
    }
    if (bad || optind != argc - 1) {
        usage(stderr);
        return 1;
    }
    const char *what = argv[optind];
    static const struct {
        const char *name;
        int (*fn)(const bench_opts_t *, const bench_rows_t *, bench_ctx_t *);
    } sections[] = {
        {"submit", section_submit},     {"curve", section_curve},
        {"floor", section_floor},       {"peers", section_peers},
        {"dispatch", section_dispatch}, {"notifier", section_notifier},
        {"scale", section_scale},       {"insns", section_insns},
    };
    bool all = strcmp(what, "all") == 0;
    int which = -1;
    const int n_sections = (int)(sizeof sections / sizeof sections[0]);
    for (int i = 0; i < n_sections; i++) {
        if (strcmp(what, sections[i].name) == 0)
            which = i;
    }
    if (!all && which < 0) {
        fprintf(stderr, "bianmin-bench: unknown section \"%s\"\n", what);
        usage(stderr);
        return 1;
    }
    if (!o.data)
        o.data = default_data(o.bin_dir);
    proc_install_handlers();
    bm_log_init("bianmin-bench", BM_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    bench_rows_t rows;
    if (rows_load(o.data, &rows) != 0)
        return 1;
    machine(&o);
    bench_ctx_t ctx = {0};
    int rc = 0;
    int64_t t0 = now_ns();
    for (int i = 0; i < n_sections; i++) {
        if (!all && i != which)
            continue;
        int64_t ts = now_ns();
        if (sections[i].fn(&o, &rows, &ctx) != 0) {
            printf("  !! %s: something failed (see above)\n", sections[i].name);
            rc = 1;
        }
        printf("  (%s took %.1f s)\n", sections[i].name, secs_since(ts));
    }
    printf("\nbianmin-bench: done in %.1f s%s\n", secs_since(t0), rc ? ", with failures" : "");
    rows_free(&rows);
    return rc;
}
