/* main.c - bianmin-gateway: flags, config, signals; the HTTP door itself is
 * server.c and the pages behind it. */
#include "auth.h"
#include "config.h"
#include "gwconfig.h"
#include "log.h"
#include "server.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "用法 / usage: bianmin-gateway [options]\n"
            "便民的网页入口：Open311、办公室控制台、楼栋长手机表单。\n"
            "The HTTP door: Open311 GeoReport v2, the office console and the building\n"
            "leaders' phone form.\n\n"
            "  -c, --config FILE      JSON 配置 / config file (docs/gateway.md)\n"
            "      --broker EP        服务站客户端口 / the broker's client endpoint\n"
            "                         (default %s)\n"
            "      --listen HOST:PORT 监听地址 / where to listen (default %s)\n"
            "      --key FILE         网关钥匙（角色 gateway）/ the gateway's key file\n"
            "                         (role gateway)\n"
            "      --secret-file FILE 会话密钥（0600，没有就新建）/ session secret\n"
            "                         (0600; made if missing)\n"
            "      --tls-cert FILE, --tls-key FILE\n"
            "                         直接提供 HTTPS / serve HTTPS directly\n"
            "      --log-level LEVEL  日志级别 / error, warn, info (default), debug\n"
            "      --hash-api-key KEY 打印 api_key 的 sha256（写进配置）后退出 / print\n"
            "                         the sha256 for the config, and exit\n"
            "  -h, --help             本说明 / this help\n",
            BM_DEFAULT_CLIENT_ENDPOINT, GW_DEFAULT_LISTEN);
}

int main(int argc, char **argv)
{
    gw_config_t cfg;
    gw_config_defaults(&cfg);
    bm_error_t err = {0};
    const char *level = "info";
    enum { O_BROKER = 256, O_LISTEN, O_KEY, O_SECRET, O_CERT, O_TLSKEY, O_LEVEL, O_HASH };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},      {"broker", required_argument, NULL, O_BROKER},
        {"listen", required_argument, NULL, O_LISTEN}, {"key", required_argument, NULL, O_KEY},
        {"secret-file", required_argument, NULL, O_SECRET},
        {"tls-cert", required_argument, NULL, O_CERT}, {"tls-key", required_argument, NULL, O_TLSKEY},
        {"log-level", required_argument, NULL, O_LEVEL},
        {"hash-api-key", required_argument, NULL, O_HASH}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    /* The config file first, so that flags override it wherever they are. */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        if (path && gw_config_load(&cfg, path, &err) != 0) {
            fprintf(stderr, "bianmin-gateway: %s\n", err.message);
            return 1;
        }
    }
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': break;
        case O_BROKER: bm_strlcpy(cfg.broker, optarg, sizeof cfg.broker); break;
        case O_LISTEN: bm_strlcpy(cfg.listen, optarg, sizeof cfg.listen); break;
        case O_KEY: bm_strlcpy(cfg.key_file, optarg, sizeof cfg.key_file); break;
        case O_SECRET: bm_strlcpy(cfg.secret_file, optarg, sizeof cfg.secret_file); break;
        case O_CERT: bm_strlcpy(cfg.tls_cert, optarg, sizeof cfg.tls_cert); break;
        case O_TLSKEY: bm_strlcpy(cfg.tls_key, optarg, sizeof cfg.tls_key); break;
        case O_LEVEL: level = optarg; break;
        case O_HASH: {
            char hex[65];
            gw_sha256_hex(optarg, hex);
            printf("%s\n", hex);
            return 0;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 1;
    }
    bm_log_level_t lvl;
    if (bm_log_level_parse(level, &lvl) != 0) {
        fprintf(stderr, "bianmin-gateway: 未知日志级别 %s / unknown log level %s\n", level, level);
        return 1;
    }
    bm_log_init("bianmin-gateway", lvl);
    if (!cfg.key_file[0]) {
        const char *k = bm_key_default_path("var/keys/gateway.key");
        if (k)
            bm_strlcpy(cfg.key_file, k, sizeof cfg.key_file);
    }
    if (gw_secret_load(&cfg, true, &err) != 0) {
        log_error("%s", err.message);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    gw_t *gw = gw_new(&cfg, &err);
    explicit_bzero(cfg.secret, sizeof cfg.secret);
    if (!gw) {
        log_error("%s", err.message);
        return 1;
    }
    log_info("开始监听 / listening on %s%s (broker %s%s)", cfg.tls_cert[0] ? "https://" : "http://", cfg.listen,
             cfg.broker[0] ? cfg.broker : "(from key)", cfg.key_file[0] ? ", with key" : ", no key: development mode");
    while (!stop_flag)
        pause();
    log_info("stopping");
    gw_destroy(&gw);
    return 0;
}
