/* main.c - `bianmin`, the client for building leaders, the forum bridge and
 * the office: global options, then one subcommand from the table in
 * common.c. */
#include "cli.h"
#include "version.h"
#include "config.h"
#include "suggest.h"
#include "util.h"
#include "width.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "用法 / usage: bianmin [--broker ENDPOINT] [--timeout MS] [--json] COMMAND [ARGS]\n"
            "全局选项可写在命令前或命令后 / global options go before or after the command\n"
            "\n"
            "便民 bianmin：提交和跟进住户的请求，记录住户的评价；办公室用它看工单、\n"
            "志愿者，处理请求（取消、上报、答复），管理发给接收方的通知。\n"
            "Submit and follow residents' requests and record the residents' ratings;\n"
            "for the office, the queue, the volunteers, acting on requests (cancel,\n"
            "escalate, resolve), and the notices to webhook receivers.\n"
            "\n"
            "命令 / commands:\n");
    for (const cli_command_t *c = cli_commands; c->name; c++)
        fprintf(out, "  %-11s %s\n", c->name, c->summary);
    fprintf(out,
            "  (每个命令的选项 / each command's options: bianmin COMMAND --help)\n"
            "\n"
            "全局选项 / global options (before or after the command):\n"
            "  --broker ENDPOINT  服务站地址 / the broker's client socket (default\n"
            "                     %s, or the environment variable\n"
            "                     %s)\n"
            "  --key FILE         钥匙文件 / your key file (default: $BIANMIN_KEY, else\n"
            "                     " CLI_DEFAULT_KEY " if present; it also says where\n"
            "                     the station is; 不用钥匙 none: development mode)\n"
            "  --timeout MS       等回复的毫秒数 / how long to wait for an answer\n"
            "                     (default %d)\n"
            "  --json             机器读的输出 / machine output: one JSON line on stdout\n"
            "                     per result and per error (usage errors too:\n"
            "                     {\"code\", \"message\", \"exit\"})\n"
            "  --version          版本 / the version and the database schema version\n"
            "  --help             本说明 / this text\n"
            "\n"
            "例子 / examples:\n"
            "  bianmin submit --channel building_leader --category pipe \\\n"
            "      --building \"市政小区 3栋\" --unit 2-301 \\\n"
            "      --contact \"罗女士 13800000000\" --text \"厨房下水道堵了\"\n"
            "  bianmin status 42\n"
            "  bianmin list --status open --overdue\n"
            "  bianmin list --building 3栋 --since 2026-11-01 --all\n"
            "  bianmin volunteers\n"
            "  bianmin cancel 42 --channel building_leader --reason \"住户已自行修好\"\n"
            "  bianmin escalate 42 --department water_company --reason \"小区主管道破裂\"\n"
            "  bianmin resolve 42 --answer \"自来水公司已更换主管道\"\n"
            "  bianmin rate 42 5 --channel building_leader --comment \"师傅很快\"\n"
            "  bianmin deliveries --state dead\n"
            "  bianmin deliveries replay --dead-since 2026-11-28\n"
            "  bianmin endpoints rotate 3\n"
            "  bianmin keys new --role volunteer:v01 --name 袁建成 --skills pipe,repair\n"
            "  bianmin keys revoke volunteer:v01\n"
            "  forum-bridge | bianmin submit --stdin --channel forum > results.jsonl\n"
            "\n"
            "时间按本地时间显示（环境变量 TZ）；list --since/--until 和 deliveries --since\n"
            "的日期 YYYY-MM-DD 指当天本地零点。\n"
            "Times are shown in local time (the TZ environment variable); dates given to\n"
            "list --since/--until and deliveries --since as YYYY-MM-DD mean local midnight.\n"
            "\n"
            "退出码 / exit codes (the same for every bianmin program; docs/cli.md):\n"
            "  0  成功 success\n"
            "  1  用法错误 usage error (bad command line)\n"
            "  2  被拒绝 refused (an error reply, printed as \"error (code, field f): ...\",\n"
            "     e.g. not_found, bad_transition, forbidden, too_late)\n"
            "  3  连不上 the broker is unreachable or did not answer in time\n"
            "  4  配置错误 the config file is missing or invalid\n"
            "  5  文件错误 a local file or the database could not be read or written\n"
            "  6  内部错误 internal error (out of memory)\n"
            "  submit --stdin: 0 全部受理 all lines accepted, 2 有被拒的 some refused,\n"
            "                  3 有没回复的 some got no answer\n",
            BM_DEFAULT_CLIENT_ENDPOINT, CLI_ENV_BROKER, CLI_DEFAULT_TIMEOUT_MS);
}

/* The global options, also accepted after the command. */
static const char *const global_options[] = {"--broker", "--key", "--timeout", "--json",
                                             "--help"};

/* Reports a usage error of the global options or the command name. */
static int global_error(const char *zh, const char *en, const char *what, const char *near)
{
    char msg[512];
    if (near)
        snprintf(msg, sizeof msg, "%s \"%.60s\" / %s \"%.60s\"；您是不是要 / did you mean: %s?", zh,
                 what, en, what, near);
    else
        snprintf(msg, sizeof msg, "%s \"%.60s\" / %s \"%.60s\"", zh, what, en, what);
    int rc = cli_fail(NULL, CLI_EXIT_USAGE, "usage", NULL, msg);
    if (rc == CLI_EXIT_USAGE && !cli_errors_are_json())
        fputs("见 / see: bianmin --help\n", stderr);
    return rc;
}

int main(int argc, char **argv)
{
    if (bm_version_asked(argc, argv)) {
        bm_version_print(stdout, "bianmin");
        return CLI_EXIT_OK;
    }
    bm_width_init(); /* Chinese text in tables: columns from the terminal's locale */
    cli_ctx_t ctx = {.endpoint = BM_DEFAULT_CLIENT_ENDPOINT, .timeout_ms = CLI_DEFAULT_TIMEOUT_MS};
    const char *env = getenv(CLI_ENV_BROKER);
    if (env && *env)
        ctx.endpoint = env;

    /* --json anywhere: every error from here on is a JSON line too. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            ctx.json = true;
    }
    cli_errors_json(ctx.json);

    /* Global options may come before or after the command: they are taken
     * out, and the command gets the rest. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return cli_fail(NULL, BM_EXIT_INTERNAL, "internal", NULL, "内存不足 / out of memory");
    int n = 0, rc = CLI_EXIT_USAGE;
    const char *name = NULL, *key_path = NULL;
    bool help = false, endpoint_given = env && *env;
    bm_key_t key;
    memset(&key, 0, sizeof key);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        char err[128];
        int m;
        if (strcmp(argv[i], "--json") == 0)
            continue;
        if (!name && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
            help = true;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--broker", &v, err, sizeof err)) != 0) {
            if (m < 0 || !*v) {
                snprintf(err, sizeof err, "--broker 需要地址 / needs an endpoint, e.g. %s",
                         BM_DEFAULT_CLIENT_ENDPOINT);
                rc = cli_fail(NULL, CLI_EXIT_USAGE, "usage", "broker", err);
                goto out;
            }
            ctx.endpoint = v;
            endpoint_given = true;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--key", &v, err, sizeof err)) != 0) {
            if (m < 0 || !*v) {
                rc = cli_fail(NULL, CLI_EXIT_USAGE, "usage", "key",
                              "--key 需要钥匙文件 / --key needs a key file");
                goto out;
            }
            key_path = v;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--timeout", &v, err, sizeof err)) != 0) {
            long ms = 0;
            if (m < 0 || bm_parse_long(v, 1, CLI_MAX_TIMEOUT_MS, &ms) != 0) {
                snprintf(err, sizeof err, "--timeout 需要 1 到 %d 毫秒 / needs milliseconds from 1 to %d",
                         CLI_MAX_TIMEOUT_MS, CLI_MAX_TIMEOUT_MS);
                rc = cli_fail(NULL, CLI_EXIT_USAGE, "usage", "timeout", err);
                goto out;
            }
            ctx.timeout_ms = (int)ms;
            continue;
        }
        if (!name && argv[i][0] == '-') {
            rc = global_error("未知选项", "unknown option", argv[i],
                              bm_suggest(argv[i], global_options,
                                         sizeof global_options / sizeof global_options[0]));
            goto out;
        }
        if (!name)
            name = argv[i];
        rest[n++] = argv[i];
    }
    if (help) {
        usage(stdout);
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (!name) {
        if (ctx.json)
            rc = cli_fail(NULL, CLI_EXIT_USAGE, "usage", NULL, "缺少命令 / missing command");
        else
            usage(stderr);
        goto out;
    }
    /* The key: --key, else $BIANMIN_KEY, else the office key of `make run`
     * if it is there; none means development mode (a broker with "auth":
     * "none"). A key file also says where the station is. */
    key_path = bm_key_choose(key_path, CLI_DEFAULT_KEY);
    if (key_path) {
        bm_error_t kerr = {0};
        if (bm_key_load(key_path, &key, &kerr) != 0) {
            rc = cli_fail(NULL, CLI_EXIT_USAGE, kerr.code, "key", kerr.message);
            goto out;
        }
        if (!key.broker_key[0]) {
            char msg[1200];
            snprintf(msg, sizeof msg,
                     "钥匙文件 %s 里没有服务站公钥 / key file %s has no station key (\"broker\")",
                     key_path, key_path);
            rc = cli_fail(NULL, CLI_EXIT_USAGE, "usage", "key", msg);
            goto out;
        }
        ctx.key = &key;
        if (!endpoint_given && key.client_endpoint[0])
            ctx.endpoint = key.client_endpoint;
    }
    const cli_command_t *cmd = cli_command_find(name);
    if (!cmd) {
        const char *names[64];
        size_t k = 0;
        for (const cli_command_t *c = cli_commands; c->name && k < 64; c++)
            names[k++] = c->name;
        rc = global_error("未知命令", "unknown command", name, bm_suggest(name, names, k));
        goto out;
    }
    /* A category, channel or department that is not a default is checked
     * against the station's own lists, asked from this broker. */
    cli_choices_ask(&ctx);
    rc = cmd->run(&ctx, n, rest);
    cli_choices_ask(NULL);
out:
    bm_rpc_destroy(&ctx.rpc);
    memset(&key, 0, sizeof key);
    free(rest);
    return rc;
}
