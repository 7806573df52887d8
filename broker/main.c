/* main.c - bianmin-broker: flags, config, signals; the work is in broker.c. */
#include "broker.h"
#include "log.h"
#include "util.h"

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
            "Usage: bianmin-broker [options]\n"
            "Routes residents' requests to volunteers and owns the bianmin database.\n\n"
            "  -c, --config FILE      JSON config file (categories, channels, secrets, retry schedule)\n"
            "      --client EP        client socket (default %s)\n"
            "      --worker EP        worker socket (default %s)\n"
            "  -d, --db PATH          SQLite database (default %s; created if missing)\n"
            "      --log-level LEVEL  error, warn, info (default) or debug\n"
            "      --gen-secret       print a new random whsec_ secret and exit\n"
            "  -h, --help             this help\n\n"
            "Flags override the config file; the config file overrides the defaults.\n"
            "SIGINT or SIGTERM stop it after committing and answering what it has read.\n",
            BM_DEFAULT_CLIENT_ENDPOINT, BM_DEFAULT_WORKER_ENDPOINT, BM_DEFAULT_DATABASE);
}

static int gen_secret(void)
{
    unsigned char key[32];
    char b64[64];
    if (bm_random_bytes(key, sizeof key) != 0 || bm_base64_encode(key, sizeof key, b64, sizeof b64) < 0) {
        fprintf(stderr, "bianmin-broker: cannot generate a secret\n");
        return 1;
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
        log_info("open-file limit %llu", (unsigned long long)target);
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

int main(int argc, char **argv)
{
    enum { OPT_CLIENT = 256, OPT_WORKER, OPT_LOG, OPT_GEN, OPT_FAULT };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"worker", required_argument, NULL, OPT_WORKER},
        {"db", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"gen-secret", no_argument, NULL, OPT_GEN},
        {"fault-fail-commits", required_argument, NULL, OPT_FAULT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *client = NULL, *worker = NULL, *db = NULL, *level = NULL;
    long fault = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': db = optarg; break;
        case OPT_CLIENT: client = optarg; break;
        case OPT_WORKER: worker = optarg; break;
        case OPT_LOG: level = optarg; break;
        case OPT_GEN: return gen_secret();
        case OPT_FAULT:
            if (bm_parse_long(optarg, 0, 1000000, &fault) != 0) {
                fprintf(stderr, "bianmin-broker: --fault-fail-commits needs a number\n");
                return 1;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bianmin-broker: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 1;
    }

    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    if (config && bm_config_load(&cfg, config, &err) != 0) {
        fprintf(stderr, "bianmin-broker: bad config: %s\n", err.message);
        return 1;
    }
    if (client)
        bm_strlcpy(cfg.client_endpoint, client, sizeof cfg.client_endpoint);
    if (worker)
        bm_strlcpy(cfg.worker_endpoint, worker, sizeof cfg.worker_endpoint);
    if (db)
        bm_strlcpy(cfg.database, db, sizeof cfg.database);
    if (level)
        bm_strlcpy(cfg.log_level, level, sizeof cfg.log_level);
    bm_log_level_t lvl;
    if (bm_log_level_parse(cfg.log_level, &lvl) != 0) {
        fprintf(stderr, "bianmin-broker: unknown log level \"%s\" (error, warn, info, debug)\n",
                cfg.log_level);
        return 1;
    }
    bm_log_init("bianmin-broker", lvl);
    if (!cfg.callback_secret[0])
        log_warn("no callback_secret in the config: submits with a callback URL will be refused "
                 "(bianmin-broker --gen-secret makes one)");

    /* Everything the broker creates (database, WAL, archive, keys) is the
     * owner's alone: residents' contacts and signing secrets live there. */
    umask(077);
    raise_fd_limit(cfg.max_open_files);
    ensure_parent_dir(cfg.database);
    broker_t *broker = broker_new(&cfg, &err);
    if (!broker) {
        log_error("cannot start: %s", err.message);
        return 1;
    }
    if (fault > 0)
        broker_fail_commits(broker, (int)fault);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("database %s ready", cfg.database);
    int rc = broker_run(broker, &stop_flag);
    broker_destroy(&broker);
    return rc == 0 ? 0 : 1;
}
