/* main.c - bianmin-broker: flags, config, signals; the work is in broker.c. */
#include "broker.h"
#include "exitcodes.h"
#include "log.h"
#include "metrics.h"
#include "service.h"
#include "store.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <errno.h>

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "用法 / usage: bianmin-broker [options]\n"
            "服务站：把住户的请求派给志愿者，独自管理便民数据库。\n"
            "Routes residents' requests to volunteers and owns the bianmin database.\n\n"
            "  -c, --config FILE      JSON 配置文件 / JSON config file (categories,\n"
            "                         channels, secrets, retry schedule)\n"
            "      --client EP        客户端口 / client socket\n"
            "                         (default %s)\n"
            "      --worker EP        志愿者端口 / worker socket\n"
            "                         (default %s)\n"
            "  -d, --db PATH          SQLite 数据库 / SQLite database (default\n"
            "                         %s; created if missing)\n"
            "      --log-level LEVEL  日志级别 / error, warn, info (default) or debug\n"
            "      --log-format FMT   日志格式 / text (default) or json (one JSON object\n"
            "                         per line)\n"
            "      --metrics ADDR     提供 Prometheus 指标 / serve metrics at\n"
            "                         http://ADDR/metrics, e.g. 127.0.0.1:9570 (a bare\n"
            "                         port means 127.0.0.1; default off)\n"
            "      --gen-secret       生成一个 whsec_ 密钥后退出 / print a new random\n"
            "                         whsec_ secret and exit\n"
            "      --allow-new-database\n"
            "                         旧数据库留有痕迹（WAL、照片存档）时仍用新的空库启动，\n"
            "                         工单号从头开始 / start even on a new, empty database\n"
            "                         beside traces of an old one (WAL, photo archive):\n"
            "                         ticket numbers start again\n"
            "      --version          版本 / the version and the database schema version\n"
            "  -h, --help             本说明 / this help\n\n"
            "选项优先于配置文件，配置文件优先于默认值。\n"
            "Flags override the config file; the config file overrides the defaults.\n"
            "SIGINT 或 SIGTERM：提交并回复已读到的请求后停止。\n"
            "SIGINT or SIGTERM stop it after committing and answering what it has read.\n",
            BM_DEFAULT_CLIENT_ENDPOINT, BM_DEFAULT_WORKER_ENDPOINT, BM_DEFAULT_DATABASE);
}

static int gen_secret(void)
{
    unsigned char key[32];
    char b64[64];
    if (bm_random_bytes(key, sizeof key) != 0 || bm_base64_encode(key, sizeof key, b64, sizeof b64) < 0) {
        fprintf(stderr, "bianmin-broker: 不能生成密钥 / cannot generate a secret\n");
        return BM_EXIT_INTERNAL;
    }
    printf("whsec_%s\n", b64);
    return 0;
}

/* Raises the open-file limit towards want (at most the hard limit): every
 * connection is a descriptor. */
static void raise_fd_limit(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t target = (rlim_t)want;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
        target = rl.rlim_max;
    if (rl.rlim_cur == target)
        return;
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("不能调整文件描述符上限 / cannot set the open-file limit to %d: %s", want, strerror(errno));
    else
        log_info("文件描述符上限 / open-file limit %llu", (unsigned long long)target);
}

/* Creates the database's folder if it is missing (one level, like var/). */
static void ensure_parent_dir(const char *path)
{
    char dir[1024];
    if (bm_strlcpy(dir, path, sizeof dir) != 0)
        return;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = '\0';
    mkdir(dir, 0700);
}

/* The exit code (lib/exitcodes.h) for a broker that could not start: the
 * database → 5; a setting that cannot work (development mode on a network
 * address, an endpoint that cannot be bound, the key folder) → 4; anything
 * else, such as the authentication self-test failing, is the program's own
 * fault → 6. */
static int start_failure(const bm_error_t *err)
{
    if (strcmp(err->code, BM_ERR_STORAGE) == 0)
        return BM_EXIT_IO;
    if (strcmp(err->code, "key_file") == 0)
        return BM_EXIT_CONFIG; /* a key file that cannot be read or written */
    if (err->field[0])
        return BM_EXIT_CONFIG;
    return BM_EXIT_INTERNAL;
}

int main(int argc, char **argv)
{
    store_library_init();
    if (bm_version_asked(argc, argv)) {
        bm_version_print(stdout, "bianmin-broker");
        return 0;
    }
    enum { OPT_CLIENT = 256, OPT_WORKER, OPT_LOG, OPT_GEN, OPT_FAULT, OPT_FAULT_ZAP, OPT_ALLOW_NEW,
           OPT_METRICS, OPT_LOGFMT };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"worker", required_argument, NULL, OPT_WORKER},
        {"db", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"log-format", required_argument, NULL, OPT_LOGFMT},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"gen-secret", no_argument, NULL, OPT_GEN},
        {"fault-fail-commits", required_argument, NULL, OPT_FAULT},
        {"fault-zap", required_argument, NULL, OPT_FAULT_ZAP},
        {"allow-new-database", no_argument, NULL, OPT_ALLOW_NEW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *client = NULL, *worker = NULL, *db = NULL, *level = NULL;
    const char *metrics_addr = NULL, *log_format = NULL;
    long fault = 0;
    int fault_zap = 0;
    bool allow_new = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': db = optarg; break;
        case OPT_CLIENT: client = optarg; break;
        case OPT_WORKER: worker = optarg; break;
        case OPT_LOG: level = optarg; break;
        case OPT_LOGFMT: log_format = optarg; break;
        case OPT_METRICS: metrics_addr = optarg; break;
        case OPT_GEN: return gen_secret();
        case OPT_ALLOW_NEW: allow_new = true; break;
        case OPT_FAULT:
            if (bm_parse_long(optarg, 0, 1000000, &fault) != 0) {
                fprintf(stderr, "bianmin-broker: --fault-fail-commits 后面要跟一个数 / --fault-fail-commits needs a number\n");
                return BM_EXIT_USAGE;
            }
            break;
        case OPT_FAULT_ZAP: /* testing only, not in --help: prove the self-test refuses to start */
            if (strcmp(optarg, "unbound") == 0)
                fault_zap = 1;
            else if (strcmp(optarg, "silent") == 0)
                fault_zap = 2;
            else {
                fprintf(stderr, "bianmin-broker: --fault-zap 应为 unbound 或 silent / --fault-zap unbound|silent\n");
                return BM_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return BM_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bianmin-broker: 多余的参数 \"%s\" / unexpected argument \"%s\"\n", argv[optind],
                argv[optind]);
        usage(stderr);
        return BM_EXIT_USAGE;
    }

    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    if (config && bm_config_load(&cfg, config, &err) != 0) {
        fprintf(stderr, "bianmin-broker: 配置有误 / bad config: %s\n", err.message);
        return BM_EXIT_CONFIG;
    }
    if (client)
        bm_strlcpy(cfg.client_endpoint, client, sizeof cfg.client_endpoint);
    if (worker)
        bm_strlcpy(cfg.worker_endpoint, worker, sizeof cfg.worker_endpoint);
    if (db)
        bm_strlcpy(cfg.database, db, sizeof cfg.database);
    if (level)
        bm_strlcpy(cfg.log_level, level, sizeof cfg.log_level);
    cfg.fault_zap = fault_zap;
    if (allow_new)
        cfg.allow_new_database = true;
    if (metrics_addr)
        bm_strlcpy(cfg.metrics_listen, metrics_addr, sizeof cfg.metrics_listen);
    if (log_format)
        bm_strlcpy(cfg.log_format, log_format, sizeof cfg.log_format);
    bm_log_level_t lvl;
    if (bm_log_level_parse(cfg.log_level, &lvl) != 0) {
        fprintf(stderr, "bianmin-broker: 未知日志级别 \"%s\"（error、warn、info、debug） / unknown log level "
                "\"%s\" (error, warn, info, debug)\n",
                cfg.log_level, cfg.log_level);
        return BM_EXIT_CONFIG;
    }
    bool json_logs = false;
    if (bm_log_format_parse(cfg.log_format, &json_logs) != 0) {
        fprintf(stderr, "bianmin-broker: 未知日志格式 \"%s\"（text、json） / unknown log format \"%s\" (text, json)\n",
                cfg.log_format, cfg.log_format);
        return BM_EXIT_CONFIG;
    }
    bm_log_init("bianmin-broker", lvl);
    bm_log_set_json(json_logs);
    if (!cfg.callback_secret[0])
        log_warn("配置里没有 callback_secret，带回调地址的提交会被拒绝 / no callback_secret in the config: submits with a callback URL will be refused "
                 "(bianmin-broker --gen-secret makes one)");

    /* Everything the broker creates (database, WAL, archive, keys) is the
     * owner's alone: residents' contacts and signing secrets live there. */
    umask(077);
    raise_fd_limit(cfg.max_open_files);
    ensure_parent_dir(cfg.database);
    broker_t *broker = broker_new(&cfg, &err);
    if (!broker) {
        log_error("无法启动 / cannot start: %s", err.message);
        return start_failure(&err);
    }
    if (fault > 0)
        broker_fail_commits(broker, (int)fault);
    metrics_t *metrics = NULL;
    if (cfg.metrics_listen[0]) {
        metrics = metrics_new(cfg.metrics_listen, &cfg, &err);
        if (!metrics) {
            log_error("无法启动 / cannot start: %s", err.message);
            broker_destroy(&broker);
            return BM_EXIT_CONFIG; /* the metrics address */
        }
        log_info("指标开始监听 / metrics listening on %s (port %d): GET /metrics", cfg.metrics_listen,
                 metrics_port(metrics));
        if (!metrics_loopback(metrics))
            log_warn("指标对外开放，请只允许监控服务器访问 / metrics are served beyond this host (%s): allow only the Prometheus server "
                     "in the firewall", cfg.metrics_listen);
        broker_set_metrics(broker, metrics);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("数据库已就绪 / database %s ready", cfg.database);
    /* broker_new has bound both sockets: clients can connect from now on. */
    if (bm_service_ready("serving clients and volunteers") != 0)
        log_warn("无法通知 systemd 服务已就绪 / could not tell systemd that the broker is ready (sd_notify)");
    int rc = broker_run(broker, &stop_flag);
    bm_service_stopping();
    broker_destroy(&broker);
    metrics_destroy(&metrics);
    return rc == 0 ? BM_EXIT_OK : BM_EXIT_INTERNAL;
}
