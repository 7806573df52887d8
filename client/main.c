/* main.c - `bianmin`, the client for building leaders, the forum bridge and
 * the office: global options, then one subcommand from the table in
 * common.c. */
#include "cli.h"
#include "config.h"
#include "util.h"
#include "version.h"
#include "width.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bianmin [--broker ENDPOINT] [--timeout MS] [--json] COMMAND [ARGS]\n"
            "\n"
            "便民 bianmin: submit and follow residents' requests and record the residents'\n"
            "ratings; for the office, the queue, the volunteers, acting on requests\n"
            "(cancel, escalate, resolve), and the notices to webhook receivers.\n"
            "\n"
            "commands:\n");
    for (const cli_command_t *c = cli_commands; c->name; c++)
        fprintf(out, "  %-11s %s\n", c->name, c->summary);
    fprintf(out,
            "  (bianmin COMMAND --help for each command's options)\n"
            "\n"
            "global options (before the command):\n"
            "  --broker ENDPOINT  the broker's client socket (default %s,\n"
            "                     or the environment variable %s)\n"
            "  --key FILE         钥匙文件 / your key file (default: $BIANMIN_KEY, else\n"
            "                     " CLI_DEFAULT_KEY " if present; it also says where the station is)\n"
            "  --timeout MS       how long to wait for an answer (default %d)\n"
            "  --json             machine output: replies and errors as one JSON line on stdout\n"
            "  --version          版本 the version and the database schema version\n"
            "  --help             this text\n"
            "\n"
            "examples:\n"
            "  bianmin submit --channel building_leader --category pipe --building \"市政小区 3栋\" \\\n"
            "      --unit 2-301 --contact \"罗女士 13800000000\" --text \"厨房下水道堵了\"\n"
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
            "Times are shown in local time (the TZ environment variable); dates given to\n"
            "list --since/--until and deliveries --since as YYYY-MM-DD mean local midnight.\n"
            "\n"
            "exit codes:\n"
            "  0  success\n"
            "  1  usage error (bad command line)\n"
            "  2  the broker refused (an error reply, printed as \"error (code, field f): ...\",\n"
            "     e.g. not_found, bad_transition, forbidden, too_late)\n"
            "  3  the broker is unreachable or did not answer in time\n"
            "  submit --stdin: 0 all lines accepted, 2 some refused, 3 some got no answer\n",
            BM_DEFAULT_CLIENT_ENDPOINT, CLI_ENV_BROKER, CLI_DEFAULT_TIMEOUT_MS);
}

int main(int argc, char **argv)
{
    bm_width_init(); /* Chinese text in tables: columns from the terminal's locale */
    cli_ctx_t ctx = {.endpoint = BM_DEFAULT_CLIENT_ENDPOINT, .timeout_ms = CLI_DEFAULT_TIMEOUT_MS};
    const char *env = getenv(CLI_ENV_BROKER);
    if (env && *env)
        ctx.endpoint = env;

    const char *key_path = NULL;
    bool endpoint_given = env && *env;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *v = NULL;
        char err[128];
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            bm_version_print(stdout, "bianmin");
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0) {
            ctx.json = true;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--broker", &v, err, sizeof err)) != 0) {
            if (m < 0 || !*v) {
                fprintf(stderr, "bianmin: --broker needs an endpoint, e.g. %s\n",
                        BM_DEFAULT_CLIENT_ENDPOINT);
                return CLI_EXIT_USAGE;
            }
            ctx.endpoint = v;
            endpoint_given = true;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--key", &v, err, sizeof err)) != 0) {
            if (m < 0 || !*v) {
                fprintf(stderr, "bianmin: --key 需要钥匙文件 / --key needs a key file\n");
                return CLI_EXIT_USAGE;
            }
            key_path = v;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--timeout", &v, err, sizeof err)) != 0) {
            long ms = 0;
            if (m < 0 || bm_parse_long(v, 1, CLI_MAX_TIMEOUT_MS, &ms) != 0) {
                fprintf(stderr, "bianmin: --timeout needs milliseconds from 1 to %d\n",
                        CLI_MAX_TIMEOUT_MS);
                return CLI_EXIT_USAGE;
            }
            ctx.timeout_ms = (int)ms;
            continue;
        }
        fprintf(stderr, "bianmin: unknown option %s (global options go before the command)\n"
                        "see: bianmin --help\n",
                argv[i]);
        return CLI_EXIT_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    /* The key: --key, else $BIANMIN_KEY, else the office key of `make run`
     * if it is there; none means development mode (a broker with "auth":
     * "none"). A key file also says where the station is. */
    bm_key_t key;
    if (!key_path)
        key_path = bm_key_default_path(CLI_DEFAULT_KEY);
    if (key_path) {
        bm_error_t kerr = {0};
        if (bm_key_load(key_path, &key, &kerr) != 0) {
            fprintf(stderr, "bianmin: %s\n", kerr.message);
            return CLI_EXIT_USAGE;
        }
        if (!key.broker_key[0]) {
            fprintf(stderr, "bianmin: 钥匙文件 %s 里没有服务站公钥 / key file %s has no station key "
                            "(\"broker\")\n",
                    key_path, key_path);
            return CLI_EXIT_USAGE;
        }
        ctx.key = &key;
        if (!endpoint_given && key.client_endpoint[0])
            ctx.endpoint = key.client_endpoint;
    }
    const cli_command_t *cmd = cli_command_find(argv[i]);
    if (!cmd) {
        fprintf(stderr, "bianmin: unknown command \"%s\"\nsee: bianmin --help\n", argv[i]);
        return CLI_EXIT_USAGE;
    }
    int rc = cmd->run(&ctx, argc - i, argv + i);
    bm_rpc_destroy(&ctx.rpc);
    if (ctx.key)
        memset(&key, 0, sizeof key);
    return rc;
}
