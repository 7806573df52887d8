/* common.c - what every `bianmin` subcommand shares: the subcommand table,
 * option matching, labels for people, and calling the broker. */
#include "cli.h"
#include "admin.h"
#include "report.h"
#include "util.h"

#include <string.h>

const cli_command_t cli_commands[] = {
    {"submit", "提交住户请求 / submit a request (one, or JSON lines with --stdin)",
     cli_submit_run, cli_submit_help},
    {"status", "查看请求、时间线和通知 / a request, its timeline and notices", cli_status_run,
     cli_status_help},
    {"show", "同 status / the same as status", cli_status_run, cli_status_help},
    {"list", "工单列表：按状态、楼栋、日期筛选 / the queue: filters, overdue", cli_list_run,
     cli_list_help},
    {"volunteers", "志愿者：技能、在线、手上的单 / skills, online, jobs held",
     cli_volunteers_run, cli_volunteers_help},
    {"departments", "可上报的部门 / the departments to escalate to (id, name)",
     cli_departments_run, cli_departments_help},
    {"cancel", "取消请求 / cancel a request (its own channel or office)", cli_act_run,
     cli_cancel_help},
    {"reopen", "重开没修好的请求 / reopen a done request that is not fixed", cli_act_run,
     cli_reopen_help},
    {"escalate", "上报给部门 / escalate a request to a department (office)", cli_act_run,
     cli_escalate_help},
    {"resolve", "记录部门答复 / record a department's answer (office)", cli_act_run,
     cli_resolve_help},
    {"rate", "记录满意度 / record the resident's satisfaction (1-5)", cli_rate_run,
     cli_rate_help},
    {"deliveries", "通知投递：列出、查看、重发 / notices to receivers; show; replay",
     cli_deliveries_run, cli_deliveries_help},
    {"endpoints", "接收方：统计、停用、启用、换密钥 / receivers; disable, rotate",
     cli_endpoints_run, cli_endpoints_help},
    {"stats", "月度统计和图表 / the month's figures and charts (reads the db)",
     cli_stats_run, cli_stats_help},
    {"export", "月度案卷 / the month's case archive: CSV, JSON, HTML, photos",
     cli_export_run, cli_export_help},
    {"keys", "钥匙：列出、新建、吊销 / keys: list, new, revoke", cli_keys_run, cli_keys_help},
    {"backup", "在线备份 / online backup of the database and photos",
     cli_backup_run, cli_backup_help},
    {"restore", "恢复备份 / check and restore a backup (broker stopped)",
     cli_restore_run, cli_restore_help},
    {"users", "网页登录用户 / gateway logins: list, add, passwd, disable",
     cli_users_run, cli_users_help},
    {NULL, NULL, NULL, NULL},
};

const cli_command_t *cli_command_find(const char *name)
{
    for (const cli_command_t *c = cli_commands; c->name; c++) {
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **value, char *err,
                  size_t errlen)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        snprintf(err, errlen, "%s 缺少值 / %s needs a value", name, name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_take_text(const char *flag, const char *v, const char **slot, char *err, size_t errlen)
{
    if (*slot) {
        snprintf(err, errlen, "%s 重复给出 / %s given twice", flag, flag);
        return -1;
    }
    if (!bm_utf8_valid(v, strlen(v))) {
        snprintf(err, errlen,
                 "%s 不是 UTF-8 文字（终端编码？）/ %s is not valid UTF-8 text (is the terminal "
                 "set to another encoding?)",
                 flag, flag);
        return -1;
    }
    *slot = v;
    return 0;
}

void cli_add_missing(char *err, size_t errlen, size_t *used, const char *flag)
{
    if (*used + 1 >= errlen)
        return; /* full: what is there says enough */
    int n = snprintf(err + *used, errlen - *used, "%s%s", *used ? ", " : "缺少 / missing ", flag);
    if (n > 0)
        *used = (size_t)n < errlen - *used ? *used + (size_t)n : errlen - 1;
}

/* ---- labels -------------------------------------------------------------- */

const cli_label_t cli_channels[] = {
    {"building_leader", "楼栋长", "building leader on duty"},
    {"council", "四方议事", "four-party council"},
    {"forum", "小区论坛", "neighbourhood forum"},
    {"office", "社区办公室", "community office"},
    {NULL, NULL, NULL},
};

const cli_label_t cli_categories[] = {
    {"lock", "开锁修锁", NULL},
    {"pipe", "管道疏通", NULL},
    {"leak", "漏水抢修", "urgent"},
    {"repair", "水电维修", NULL},
    {"other", "其他", NULL},
    {NULL, NULL, NULL},
};

static const cli_label_t statuses[] = {
    {"open", "待接单", NULL},       {"claimed", "处理中", NULL},  {"done", "已完成", NULL},
    {"failed", "未修好", NULL},     {"requeued", "重新派单", NULL}, {"escalated", "已上报", NULL},
    {"resolved", "已解决", NULL},   {"cancelled", "已取消", NULL}, {"reopened", "已重开", NULL},
    {NULL, NULL, NULL},
};

static const cli_label_t events[] = {
    {"received", "受理", NULL},     {"claimed", "接单", NULL},     {"progress", "进展", NULL},
    {"done", "完成", NULL},         {"completed", "完成", NULL},   {"failed", "未修好", NULL},
    {"requeued", "重新派单", NULL},
    {"escalated", "上报", NULL},    {"resolved", "解决", NULL},    {"cancelled", "取消", NULL},
    {"reopened", "重开", NULL},     {"rated", "评价", NULL},       {"lease_expired", "超时退回", NULL},
    {"overdue", "超时未接", NULL},  {"needs_escalation", "需上报", NULL},
    {"declined", "谢绝接单", NULL},
    {NULL, NULL, NULL},
};

static const char *label_of(const cli_label_t *table, const char *name)
{
    if (!name)
        return NULL;
    for (const cli_label_t *l = table; l->name; l++) {
        if (strcmp(l->name, name) == 0)
            return l->label;
    }
    return NULL;
}

const char *cli_category_label(const char *name)
{
    return label_of(cli_categories, name);
}

const char *cli_status_label(const char *name)
{
    return label_of(statuses, name);
}

const char *cli_event_label(const char *name)
{
    return label_of(events, name);
}

const char *cli_channel_label(const char *name)
{
    return label_of(cli_channels, name);
}

char *cli_actor_text(const char *actor, const cJSON *names, char *buf, size_t len)
{
    if (!actor) {
        bm_strlcpy(buf, "", len);
        return buf;
    }
    if (strncmp(actor, "volunteer:", 10) == 0) {
        const char *name = cli_json_str(names, actor + 10);
        if (name)
            snprintf(buf, len, "%s（志愿者 %s）", name, actor + 10);
        else
            snprintf(buf, len, "志愿者 %s", actor + 10);
    } else if (strncmp(actor, "channel:", 8) == 0) {
        const char *label = cli_channel_label(actor + 8);
        bm_strlcpy(buf, label ? label : actor + 8, len);
    } else if (strcmp(actor, "system") == 0) {
        bm_strlcpy(buf, "系统", len);
    } else {
        bm_strlcpy(buf, actor, len);
    }
    return buf;
}

/* ---- calls --------------------------------------------------------------- */

void cli_print_json_line(FILE *out, const cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    if (text) {
        fputs(text, out);
        fputc('\n', out);
        cJSON_free(text);
    }
}

void cli_print_error(FILE *out, const char *code, const char *field, const char *message)
{
    fprintf(out, "error (%s", code ? code : "error");
    if (field && *field)
        fprintf(out, ", field %s", field);
    fputs("): ", out);
    cli_put_text(out, message ? message : "", 0);
    fputc('\n', out);
}

int cli_call(cli_ctx_t *ctx, const char *cmd, const cJSON *body, cJSON **reply)
{
    *reply = NULL;
    bm_error_t err = {0};
    bm_rpc_result_t r;
    if (!ctx->rpc)
        ctx->rpc = bm_rpc_new_auth(ctx->endpoint, ctx->key);
    if (!ctx->rpc) {
        r = BM_RPC_FAIL;
        bm_error_set(&err, "local", NULL, "内存不足 / out of memory");
    } else {
        r = bm_rpc_call(ctx->rpc, cmd, body, ctx->timeout_ms, reply, &err);
    }
    if (r == BM_RPC_OK)
        return CLI_EXIT_OK;
    /* A local failure or a timeout is not the broker's word: give it our own code. */
    const char *code = r == BM_RPC_ERROR ? err.code : r == BM_RPC_TIMEOUT ? "timeout" : "unreachable";
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "code", code);
        cJSON_AddStringToObject(j, "message", err.message);
        if (err.field[0])
            cJSON_AddStringToObject(j, "field", err.field);
        cli_print_json_line(stdout, j);
        cJSON_Delete(j);
    } else {
        cli_print_error(stderr, code, err.field, err.message);
    }
    return r == BM_RPC_ERROR ? CLI_EXIT_REFUSED : CLI_EXIT_UNREACHABLE;
}

const char *cli_json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long cli_json_long(const cJSON *obj, const char *key, long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

static bool json_errors; /* --json: errors are JSON lines on stdout too */

void cli_errors_json(bool on)
{
    json_errors = on;
}

bool cli_errors_are_json(void)
{
    return json_errors;
}

int cli_fail(const char *name, int exit_code, const char *code, const char *field,
             const char *message)
{
    if (json_errors) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "code", code ? code : "error");
        cJSON_AddStringToObject(j, "message", message ? message : "");
        if (field && *field)
            cJSON_AddStringToObject(j, "field", field);
        if (name)
            cJSON_AddStringToObject(j, "command", name);
        cJSON_AddNumberToObject(j, "exit", exit_code);
        cli_print_json_line(stdout, j);
        cJSON_Delete(j);
        return exit_code;
    }
    fprintf(stderr, "bianmin%s%s: ", name ? " " : "", name ? name : "");
    cli_put_text(stderr, message ? message : "", 0);
    fputc('\n', stderr);
    return exit_code;
}

int cli_usage_error(const char *name, const char *err)
{
    if (json_errors)
        return cli_fail(name, CLI_EXIT_USAGE, "usage", NULL, err);
    fprintf(stderr, "bianmin %s: ", name);
    cli_put_text(stderr, err, 0);
    fprintf(stderr, "\n见 / see: bianmin %s --help\n", name);
    return CLI_EXIT_USAGE;
}

int cli_call_print(cli_ctx_t *ctx, const char *cmd, const cJSON *body, cli_print_fn print)
{
    cJSON *reply = NULL;
    int rc = cli_call(ctx, cmd, body, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (ctx->json)
        cli_print_json_line(stdout, reply);
    else
        print(stdout, cmd, body, reply);
    cJSON_Delete(reply);
    return CLI_EXIT_OK;
}

int cli_run_op(cli_ctx_t *ctx, int argc, char **argv, const cli_op_t *op)
{
    cli_op_args_t args;
    char err[512];
    if (op->parse(argc, argv, &args, err, sizeof err) != 0)
        return cli_usage_error(argv[0], err);
    if (args.help) {
        const cli_command_t *c = cli_command_find(argv[0]);
        void (*help)(FILE *) = op->help ? op->help : c ? c->help : NULL;
        if (help)
            help(stdout);
        return CLI_EXIT_OK;
    }
    int rc = cli_call_print(ctx, args.cmd, args.body, op->print);
    cJSON_Delete(args.body);
    return rc;
}
