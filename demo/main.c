/* main.c - bianmin-demo: flags, loading the trace, the loader's report; the
 * replay itself is in run.c. */
#include "config.h"
#include "csv.h"
#include "demo.h"
#include "log.h"
#include "retime.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "用法 / usage: bianmin-demo [options]\n"
            "按纽约 311 样本的到达规律（时间压缩）向运行中的服务站重放请求：模拟的志愿者\n"
            "接单、干活（按该行真实的处理时长压缩）、有时修不了或上报，模拟的报事人评价。\n"
            "进度写到标准错误，汇总写到标准输出。\n"
            "Replays the arrival pattern of the NYC 311 sample against a running\n"
            "bianmin-broker, time-compressed, with simulated volunteers who claim, work\n"
            "(for the row's real resolution time, compressed), sometimes cannot fix or\n"
            "escalate, and requesters who rate the service. Progress goes to stderr, the\n"
            "summary to stdout.\n\n"
            "  --data FILE            数据 / the CSV\n"
            "                         (default %s)\n"
            "  --client EP            客户端口 / broker client socket\n"
            "                         (default %s)\n"
            "  --worker EP            志愿者端口 / broker worker socket\n"
            "                         (default %s)\n"
            "  --limit N              重放行数 / replay N accepted rows (default %d;\n"
            "                         0: all)\n"
            "  --speed X              倍速 / trace seconds per real second (default: fit\n"
            "                         the arrivals into --target-seconds)\n"
            "  --target-seconds S     目标时长 / (default %.0f)\n"
            "  --max-gap-seconds S    空闲段最长 / cut quiet stretches of the trace to S\n"
            "                         (default %d)\n"
            "  --volunteers N         志愿者人数 / simulated volunteers (default %d, at\n"
            "                         most 200)\n"
            "  --max-jobs N           每人同时接单数 / jobs each holds at once, 1-20\n"
            "                         (default %d)\n"
            "  --max-job-seconds S    单个活的上限 / cap on one compressed job (default %.0f)\n"
            "  --cantfix-pct P        修不了的比例 / jobs a volunteer gives back (default %d)\n"
            "  --escalate-pct P       上报的比例 / jobs escalated to a department\n"
            "                         (default %d)\n"
            "  --rate-pct P           评价的比例 / requesters who rate (default %d)\n"
            "  --other                非服务站类的投诉算作 \"other\" / route non-station\n"
            "                         complaint types as \"other\" instead of skipping them\n"
            "  --seed N               随机种子 / random seed (default %d)\n"
            "  --max-seconds S        整次运行的上限 / hard cap on the whole run\n"
            "                         (default %.0f)\n"
            "  --progress MODE        进度显示 / auto, tty, plain or off (default auto)\n"
            "  --log-level LEVEL      日志级别 / error, warn (default), info, debug\n"
            "  --version              版本 / the version and the database schema version\n"
            "  --earliest             重放最早的 --limit 行 / replay the earliest --limit\n"
            "                         rows (default: --limit rows spread evenly over the\n"
            "                         whole trace, so its days show)\n"
            "  --timemap FILE         写出时间映射 / write the run's time map (run time\n"
            "                         -> trace time) to FILE\n"
            "  --retime DB            运行后（服务站已停）把 DB 里的时间按 --timemap FILE\n"
            "                         改到样本的时钟上，并输出多数请求所在的月份 / after a\n"
            "                         run, with the broker stopped: rewrite every time in DB\n"
            "                         onto the trace's clock with --timemap FILE, and print\n"
            "                         the month most requests fall in (YYYY-MM)\n"
            "  -h, --help             本说明 / this help\n",
            DEMO_DEFAULT_DATA, BM_DEFAULT_CLIENT_ENDPOINT, BM_DEFAULT_WORKER_ENDPOINT,
            DEMO_DEFAULT_LIMIT, DEMO_DEFAULT_TARGET_S, DEMO_DEFAULT_MAX_GAP_S,
            DEMO_DEFAULT_VOLUNTEERS, DEMO_DEFAULT_MAX_JOBS, DEMO_DEFAULT_MAX_JOB_S,
            DEMO_DEFAULT_CANTFIX_PCT, DEMO_DEFAULT_ESCALATE_PCT, DEMO_DEFAULT_RATE_PCT,
            DEMO_DEFAULT_SEED, DEMO_DEFAULT_MAX_SECONDS);
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void print_loader_report(const char *path, const demo_rows_t *r, bool other)
{
    printf("Loaded %s: %zu lines\n", path, r->lines);
    size_t per[5] = {0};
    static const char *const cats[] = {"repair", "pipe", "leak", "lock", "other"};
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < 5; k++) {
            if (strcmp(r->rows[i].category, cats[k]) == 0)
                per[k]++;
        }
    }
    printf("  %-34s %6zu  (repair %zu, pipe %zu, leak %zu, lock %zu", "accepted", r->n, per[0],
           per[1], per[2], per[3]);
    if (other)
        printf(", other %zu", per[4]);
    printf(")\n");
    if (!other)
        printf("  %-34s %6zu  (skipped; --other routes them as \"other\")\n",
               demo_reason_name(DEMO_ROW_NOT_STATION), r->count[DEMO_ROW_NOT_STATION]);
    for (int k = DEMO_ROW_COLUMNS; k < DEMO_ROW__COUNT; k++) {
        char label[64];
        snprintf(label, sizeof label, "rejected: %s", demo_reason_name((demo_reason_t)k));
        printf("  %-34s %6zu\n", label, r->count[k]);
    }
}

int main(int argc, char **argv)
{
    if (bm_version_asked(argc, argv)) {
        bm_version_print(stdout, "bianmin-demo");
        return 0;
    }
    enum {
        OPT_DATA = 256, OPT_CLIENT, OPT_WORKER, OPT_LIMIT, OPT_SPEED, OPT_TARGET, OPT_GAP,
        OPT_VOLS, OPT_MAXJOBS, OPT_MAXJOB_S, OPT_CANTFIX, OPT_ESCALATE, OPT_RATE, OPT_OTHER,
        OPT_SEED, OPT_MAXSEC, OPT_PROGRESS, OPT_LOG, OPT_EARLIEST, OPT_TIMEMAP, OPT_RETIME
    };
    static const struct option opts[] = {
        {"data", required_argument, NULL, OPT_DATA},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"worker", required_argument, NULL, OPT_WORKER},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"speed", required_argument, NULL, OPT_SPEED},
        {"target-seconds", required_argument, NULL, OPT_TARGET},
        {"max-gap-seconds", required_argument, NULL, OPT_GAP},
        {"volunteers", required_argument, NULL, OPT_VOLS},
        {"max-jobs", required_argument, NULL, OPT_MAXJOBS},
        {"max-job-seconds", required_argument, NULL, OPT_MAXJOB_S},
        {"cantfix-pct", required_argument, NULL, OPT_CANTFIX},
        {"escalate-pct", required_argument, NULL, OPT_ESCALATE},
        {"rate-pct", required_argument, NULL, OPT_RATE},
        {"other", no_argument, NULL, OPT_OTHER},
        {"seed", required_argument, NULL, OPT_SEED},
        {"max-seconds", required_argument, NULL, OPT_MAXSEC},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"earliest", no_argument, NULL, OPT_EARLIEST},
        {"timemap", required_argument, NULL, OPT_TIMEMAP},
        {"retime", required_argument, NULL, OPT_RETIME},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    demo_opts_t o = {
        .data = DEMO_DEFAULT_DATA, .client_ep = BM_DEFAULT_CLIENT_ENDPOINT,
        .worker_ep = BM_DEFAULT_WORKER_ENDPOINT, .limit = DEMO_DEFAULT_LIMIT,
        .target_s = DEMO_DEFAULT_TARGET_S, .max_gap_s = DEMO_DEFAULT_MAX_GAP_S,
        .volunteers = DEMO_DEFAULT_VOLUNTEERS, .max_jobs = DEMO_DEFAULT_MAX_JOBS,
        .max_job_s = DEMO_DEFAULT_MAX_JOB_S, .min_job_s = DEMO_DEFAULT_MIN_JOB_S,
        .cantfix_pct = DEMO_DEFAULT_CANTFIX_PCT, .escalate_pct = DEMO_DEFAULT_ESCALATE_PCT,
        .progress_pct = DEMO_DEFAULT_PROGRESS_PCT, .rate_pct = DEMO_DEFAULT_RATE_PCT,
        .seed = DEMO_DEFAULT_SEED, .max_seconds = DEMO_DEFAULT_MAX_SECONDS,
        .progress = DEMO_PROGRESS_AUTO,
    };
    bm_log_level_t level = BM_LOG_WARN;
    const char *retime_db = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long v = 0;
        int bad = 0;
        switch (c) {
        case OPT_DATA: o.data = optarg; break;
        case OPT_CLIENT: o.client_ep = optarg; break;
        case OPT_WORKER: o.worker_ep = optarg; break;
        case OPT_LIMIT: bad = bm_parse_long(optarg, 0, 10000000, &o.limit); break;
        case OPT_SPEED: bad = parse_double(optarg, 0.001, 1e9, &o.speed); break;
        case OPT_TARGET: bad = parse_double(optarg, 1, 86400, &o.target_s); break;
        case OPT_GAP: bad = bm_parse_long(optarg, 1, 100000000, &o.max_gap_s); break;
        case OPT_VOLS:
            bad = bm_parse_long(optarg, 1, 200, &v);
            o.volunteers = (int)v;
            break;
        case OPT_MAXJOBS:
            bad = bm_parse_long(optarg, 1, 20, &v);
            o.max_jobs = (int)v;
            break;
        case OPT_MAXJOB_S: bad = parse_double(optarg, 0.05, 3600, &o.max_job_s); break;
        case OPT_CANTFIX:
            bad = bm_parse_long(optarg, 0, 100, &v);
            o.cantfix_pct = (int)v;
            break;
        case OPT_ESCALATE:
            bad = bm_parse_long(optarg, 0, 100, &v);
            o.escalate_pct = (int)v;
            break;
        case OPT_RATE:
            bad = bm_parse_long(optarg, 0, 100, &v);
            o.rate_pct = (int)v;
            break;
        case OPT_OTHER: o.other = true; break;
        case OPT_SEED:
            bad = bm_parse_long(optarg, 0, LONG_MAX, &v);
            o.seed = (uint64_t)v;
            break;
        case OPT_MAXSEC: bad = parse_double(optarg, 1, 86400, &o.max_seconds); break;
        case OPT_PROGRESS:
            if (strcmp(optarg, "auto") == 0)
                o.progress = DEMO_PROGRESS_AUTO;
            else if (strcmp(optarg, "tty") == 0)
                o.progress = DEMO_PROGRESS_TTY;
            else if (strcmp(optarg, "plain") == 0)
                o.progress = DEMO_PROGRESS_PLAIN;
            else if (strcmp(optarg, "off") == 0)
                o.progress = DEMO_PROGRESS_OFF;
            else
                bad = 1;
            break;
        case OPT_LOG: bad = bm_log_level_parse(optarg, &level); break;
        case OPT_EARLIEST: o.earliest = true; break;
        case OPT_TIMEMAP: o.timemap = optarg; break;
        case OPT_RETIME: retime_db = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
        if (bad) {
            fprintf(stderr, "bianmin-demo: bad value \"%s\" for --%s (see --help)\n", optarg,
                    opts[c - OPT_DATA].name);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bianmin-demo: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    bm_log_init("bianmin-demo", level);
    if (retime_db) {
        /* After a run, with the broker stopped: the trace's clock. */
        char month[16], err[512];
        if (!o.timemap) {
            fprintf(stderr, "bianmin-demo: --retime needs --timemap FILE (written by the run)\n");
            return 1;
        }
        if (demo_retime(retime_db, o.timemap, month, sizeof month, err, sizeof err) != 0) {
            fprintf(stderr, "bianmin-demo: %s\n", err);
            return 1;
        }
        printf("%s\n", month);
        return 0;
    }
    if (o.min_job_s > o.max_job_s)
        o.min_job_s = o.max_job_s;

    FILE *in = fopen(o.data, "r");
    if (!in) {
        fprintf(stderr, "bianmin-demo: cannot open %s: %s\n", o.data, strerror(errno));
        return 1;
    }
    demo_rows_t rows;
    int rc = demo_rows_load(in, o.other, &rows);
    fclose(in);
    if (rc != 0) {
        fprintf(stderr, "bianmin-demo: cannot read %s: %s\n", o.data, strerror(errno));
        return 1;
    }
    print_loader_report(o.data, &rows, o.other);
    if (rows.n == 0) {
        fprintf(stderr, "bianmin-demo: no usable rows in %s\n", o.data);
        demo_rows_free(&rows);
        return 1;
    }
    demo_rows_sort(&rows);
    if (!o.earliest && o.limit > 0)
        demo_rows_spread(&rows, (size_t)o.limit);
    size_t n = rows.n;
    if (o.limit > 0 && (size_t)o.limit < n)
        n = (size_t)o.limit;
    int64_t *offsets = malloc(n * sizeof *offsets);
    if (!offsets) {
        demo_rows_free(&rows);
        return 1;
    }
    int64_t span = demo_schedule(rows.rows, n, o.max_gap_s, offsets);
    double speed = o.speed;
    if (speed <= 0)
        speed = span > 0 ? (double)span / o.target_s : 1.0;

    char from[32], to[32];
    int64_t first = rows.rows[0].created, last = rows.rows[n - 1].created;
    bm_time_iso(first * 1000, from, sizeof from);
    bm_time_iso(last * 1000, to, sizeof to);
    from[16] = to[16] = '\0'; /* minutes are enough */
    from[10] = to[10] = ' ';
    printf("Replaying %zu rows %s (created %s .. %s, %.1f h of trace, quiet\n"
           "stretches over %ld s cut) in about %.0f s: speed %.0fx. A volunteer takes the row's\n"
           "real resolution time / %.0f, softly capped at %.0f s.\n",
           n, o.earliest || o.limit <= 0 ? "(the earliest)" : "spread evenly over the trace", from,
           to, (double)span / 3600.0, o.max_gap_s, (double)span / speed, speed, speed,
           o.max_job_s);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int64_t wall_start = 0;
    rc = demo_run(&o, rows.rows, n, offsets, speed, &stop_flag, &wall_start);
    if (o.timemap && wall_start > 0) {
        int64_t *created = malloc(n * sizeof *created);
        for (size_t i = 0; created && i < n; i++)
            created[i] = rows.rows[i].created;
        if (!created || demo_timemap_write(o.timemap, wall_start, speed, offsets, created, n) != 0) {
            fprintf(stderr, "bianmin-demo: cannot write the time map %s\n", o.timemap);
            rc = rc ? rc : 1;
        }
        free(created);
    }
    free(offsets);
    demo_rows_free(&rows);
    return rc;
}
