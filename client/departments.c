/* departments.c - `bianmin departments`: the higher-level departments (上级
 * 职能部门) requests can be escalated to, as the broker is configured, for
 * the office choosing one for `bianmin escalate`. */
#include "cli.h"

#include <string.h>

void cli_departments_help(FILE *out)
{
    fputs("用法 / usage: bianmin [global options] departments\n"
          "\n"
          "列出服务站配置的部门（配置项 \"departments\"）：编号（escalate --department\n"
          "用的）、中文名称、通知它的订阅（无：由办公室自己通知）。--json：服务站的\n"
          "回复为一行 JSON。\n"
          "Lists the departments the broker is configured with (config key\n"
          "\"departments\"): id (what escalate --department takes), Chinese name, and\n"
          "the webhook subscription that tells it (无 none: the office tells it\n"
          "itself). With --json prints the broker's reply as one JSON line.\n",
          out);
}

static const cli_column_t dep_cols[3] = {
    {"编号 id", 0, false}, {"名称 name", 24, false}, {"通知 subscription", 0, false}};

void cli_format_departments(FILE *out, const cJSON *reply)
{
    cli_table_t *t = cli_table_new(dep_cols, 3);
    if (!t)
        return;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(reply, "departments"))
    {
        const char *sub = cli_json_str(d, "subscription");
        const char *cells[3] = {cli_json_str(d, "id"), cli_json_str(d, "name"),
                                sub ? sub : "无 none"};
        cli_table_add(t, cells);
    }
    if (cli_table_rows(t) == 0)
        fputs("没有配置部门 / no departments configured\n", out);
    else
        cli_table_print(t, out);
    cli_table_destroy(&t);
}

static void print_departments(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)cmd, (void)sent;
    cli_format_departments(out, reply);
}

int cli_departments_run(cli_ctx_t *ctx, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_departments_help(stdout);
            return CLI_EXIT_OK;
        }
        char err[160];
        snprintf(err, sizeof err, "多余的参数 / unexpected argument \"%.40s\"", argv[i]);
        return cli_usage_error("departments", err);
    }
    cJSON *body = cJSON_CreateObject();
    int rc = cli_call_print(ctx, BM_CMD_DEPARTMENTS, body, print_departments);
    cJSON_Delete(body);
    return rc;
}
