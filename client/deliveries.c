/* deliveries.c - `bianmin deliveries`: the office's view of the outbox (every
 * notice the broker owes a webhook receiver), one delivery with its attempt
 * log, and sending dead or delivered ones again (replay). */
#include "cli.h"
#include "util.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#define ID_MAX       9007199254740991L /* 2^53 - 1: exact as a JSON number */
#define MAX_ISO      32
#define MAX_CELL     512
#define DELIV_COLS   8
#define ATTEMPT_COLS 4
#define ERROR_COLS   30 /* columns of last error shown in the table */
#define TARGET_COLS  32 /* columns of endpoint name or url */

void cli_deliveries_help(FILE *out)
{
    fprintf(out,
            "用法 / usage:\n"
            "  bianmin [global options] deliveries [--state S] [--endpoint ID]\n"
            "          [--ticket N] [--since DATE] [--limit N] [--offset N]\n"
            "  bianmin [global options] deliveries show ID\n"
            "  bianmin [global options] deliveries replay ID\n"
            "  bianmin [global options] deliveries replay --dead-since DATE\n"
            "\n"
            "服务站发给接收方的通知：每个请求的回调和订阅（办公室、部门）。发不出去的通知\n"
            "按计划重试（最长约4天）；最后一次也失败就成为 \"dead\"（投递失败），等办公室\n"
            "处理。不带子命令时显示表格，新的在前：编号、工单、类型、接收方、状态、已试\n"
            "次数、最后的错误、下次尝试时间（本地时间）。\n"
            "The notices (通知) the broker sends to webhook receivers: each request's\n"
            "callback and the subscriptions (office, departments). A notice that cannot\n"
            "be delivered is retried on a schedule (up to about 4 days); after the last\n"
            "try it is \"dead\" and waits for the office.\n"
            "Without a subcommand: a table, newest first, of id, ticket, type, receiver\n"
            "(endpoint name or url), state, attempts so far, the last error and when the\n"
            "next attempt is due (local time).\n"
            "\n"
            "  --state S      状态 / pending 待发送, delivered 已送达 or dead 投递失败\n"
            "  --endpoint ID  只看该接收方的 / only this receiver's (bianmin endpoints)\n"
            "  --ticket N     只看工单 N 的 / only notices about request N\n"
            "  --since DATE   DATE 起产生的 / created on or after DATE\n"
            "  --limit N      每页条数 / deliveries per page, 1 to %d (default %d)\n"
            "  --offset N     跳过前 N 条 / skip the first N (for the next page)\n"
            "\n"
            "show ID             查看一条：接收方、每次尝试（时间、HTTP 状态、耗时、错误）\n"
            "                    和发出的原文 / one delivery: its receiver, every attempt\n"
            "                    (time, HTTP status, latency, error) and the exact body\n"
            "replay ID           重发一条失败或已送达的通知（webhook-id 不变，接收方可去重；\n"
            "                    重试计划从头开始） / send a dead or delivered notice again\n"
            "                    (same webhook-id, so receivers can drop duplicates; the\n"
            "                    retry schedule restarts)\n"
            "replay --dead-since DATE\n"
            "                    重发 DATE 起失败的所有通知，如接收方停了一个周末之后 /\n"
            "                    send again every notice that died on or after DATE, e.g.\n"
            "                    after a receiver was down for a weekend\n"
            "两者都输出 / both print \"N deliveries due again\".\n"
            "\n"
            "DATE 为 YYYY-MM-DD，指当天本地零点，或精确的 ISO 8601 UTC 时间。\n"
            "DATE is YYYY-MM-DD, meaning midnight at the start of that day in local time,\n"
            "or an exact ISO 8601 UTC time such as 2026-11-01T08:00:00Z.\n"
            "\n"
            "--json：服务站的回复为一行 JSON / prints the broker's reply as one JSON line.\n"
            "\n"
            "例子 / examples:\n"
            "  bianmin deliveries --state dead\n"
            "  bianmin deliveries --ticket 42\n"
            "  bianmin deliveries show 7\n"
            "  bianmin deliveries replay --dead-since 2026-11-28\n",
            BM_MAX_LIST, CLI_DELIVERIES_DEFAULT_LIMIT);
}

static const cli_label_t states[] = {
    {"pending", "待发送", NULL},
    {"delivered", "已送达", NULL},
    {"dead", "投递失败", NULL},
    {NULL, NULL, NULL},
};

const char *cli_delivery_state_label(const char *state)
{
    if (!state)
        return NULL;
    for (const cli_label_t *l = states; l->name; l++) {
        if (strcmp(l->name, state) == 0)
            return l->label;
    }
    return NULL;
}

/* ---- parsing ------------------------------------------------------------- */

/* Parses a number flag's value into body[field]. Returns 0 or -1 with err set. */
static int number_into(cJSON *body, const char *flag, const char *field, const char *v, long min,
                       long max, char *err, size_t errlen)
{
    long n = 0;
    if (cJSON_GetObjectItemCaseSensitive(body, field)) {
        snprintf(err, errlen, "%s 重复给出 / %s given twice", flag, flag);
        return -1;
    }
    if (v[0] == '#')
        v++;
    if (v[0] < '0' || v[0] > '9' || bm_parse_long(v, min, max, &n) != 0) {
        snprintf(err, errlen, "须为 %ld 到 %ld 的整数 / %s must be a number from %ld to %ld, not \"%.40s\"",
                 min, max, flag, min, max, v);
        return -1;
    }
    cJSON_AddNumberToObject(body, field, (double)n);
    return 0;
}

/* Parses a date flag's value into body[field] as ISO 8601 UTC. */
static int date_into(cJSON *body, const char *flag, const char *field, const char *v, char *err,
                     size_t errlen)
{
    char iso[MAX_ISO];
    if (cJSON_GetObjectItemCaseSensitive(body, field)) {
        snprintf(err, errlen, "%s 重复给出 / %s given twice", flag, flag);
        return -1;
    }
    if (cli_parse_date(v, iso, sizeof iso) != 0) {
        snprintf(err, errlen,
                 "需要日期 / %s needs a date such as 2026-11-01 (local time) or "
                 "2026-11-01T08:00:00Z (UTC), not \"%.40s\"",
                 flag, v);
        return -1;
    }
    cJSON_AddStringToObject(body, field, iso);
    return 0;
}

static int parse_list(int argc, char **argv, int i, cJSON *body, char *err, size_t errlen)
{
    for (; i < argc; i++) {
        const char *arg = argv[i];
        const char *v = NULL;
        int m = 0;
        if ((m = cli_opt_value(argc, argv, &i, "--state", &v, err, errlen)) != 0) {
            if (m < 0)
                return -1;
            if (cJSON_GetObjectItemCaseSensitive(body, "state")) {
                snprintf(err, errlen, "--state 重复给出 / --state given twice");
                return -1;
            }
            if (!cli_delivery_state_label(v)) {
                snprintf(err, errlen,
                         "须为 / --state must be pending (待发送), delivered (已送达) or dead "
                         "(投递失败), not \"%.40s\"",
                         v);
                return -1;
            }
            cJSON_AddStringToObject(body, "state", v);
        } else if ((m = cli_opt_value(argc, argv, &i, "--endpoint", &v, err, errlen)) != 0) {
            if (m < 0 || number_into(body, "--endpoint", "endpoint", v, 1, ID_MAX, err, errlen))
                return -1;
        } else if ((m = cli_opt_value(argc, argv, &i, "--ticket", &v, err, errlen)) != 0) {
            if (m < 0 || number_into(body, "--ticket", "ticket", v, 1, ID_MAX, err, errlen))
                return -1;
        } else if ((m = cli_opt_value(argc, argv, &i, "--since", &v, err, errlen)) != 0) {
            if (m < 0 || date_into(body, "--since", "since", v, err, errlen) != 0)
                return -1;
        } else if ((m = cli_opt_value(argc, argv, &i, "--limit", &v, err, errlen)) != 0) {
            if (m < 0 || number_into(body, "--limit", "limit", v, 1, BM_MAX_LIST, err, errlen))
                return -1;
        } else if ((m = cli_opt_value(argc, argv, &i, "--offset", &v, err, errlen)) != 0) {
            if (m < 0 || number_into(body, "--offset", "offset", v, 0, INT32_MAX, err, errlen))
                return -1;
        } else if (arg[0] == '-') {
            snprintf(err, errlen, "未知选项 / unknown option %.60s", arg);
            return -1;
        } else {
            snprintf(err, errlen,
                     "多余的参数 / unexpected argument \"%.60s\" (subcommands: show ID, replay ID, "
                     "replay --dead-since DATE)",
                     arg);
            return -1;
        }
    }
    return 0;
}

/* show ID and replay ID | --dead-since DATE. */
static int parse_one(int argc, char **argv, int i, bool replay, cJSON *body, char *err,
                     size_t errlen)
{
    const char *id_arg = NULL;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        const char *v = NULL;
        int m = 0;
        if (replay && (m = cli_opt_value(argc, argv, &i, "--dead-since", &v, err, errlen)) != 0) {
            if (m < 0 || date_into(body, "--dead-since", "dead_since", v, err, errlen) != 0)
                return -1;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            snprintf(err, errlen, "未知选项 / unknown option %.60s", arg);
            return -1;
        } else if (id_arg) {
            snprintf(err, errlen, "多余的参数 / unexpected argument \"%.60s\" (one delivery id)", arg);
            return -1;
        } else {
            id_arg = arg;
        }
    }
    bool since = cJSON_GetObjectItemCaseSensitive(body, "dead_since") != NULL;
    if (id_arg && since) {
        snprintf(err, errlen, "请给投递编号或 --dead-since 日期，不能都给 / give either a delivery id or --dead-since DATE, not both");
        return -1;
    }
    if (!id_arg && !since) {
        if (replay)
            snprintf(err, errlen, "哪些投递？/ which deliveries? e.g. bianmin deliveries replay 7, or "
                                  "bianmin deliveries replay --dead-since 2026-11-28");
        else
            snprintf(err, errlen, "哪条投递？/ which delivery? e.g. bianmin deliveries show 7");
        return -1;
    }
    if (id_arg) {
        if (number_into(body, "the delivery id", "id", id_arg, 1, ID_MAX, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int cli_deliveries_parse(int argc, char **argv, cli_op_args_t *args, char *err, size_t errlen)
{
    memset(args, 0, sizeof *args);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            args->help = true;
            return 0;
        }
    }
    args->body = cJSON_CreateObject();
    if (!args->body) {
        snprintf(err, errlen, "内存不足 / out of memory");
        return -1;
    }
    const char *sub = argc > 1 ? argv[1] : "";
    int rc;
    if (strcmp(sub, "show") == 0) {
        args->cmd = BM_CMD_DELIVERY;
        rc = parse_one(argc, argv, 2, false, args->body, err, errlen);
    } else if (strcmp(sub, "replay") == 0) {
        args->cmd = BM_CMD_REPLAY;
        rc = parse_one(argc, argv, 2, true, args->body, err, errlen);
    } else {
        args->cmd = BM_CMD_DELIVERIES;
        rc = parse_list(argc, argv, strcmp(sub, "list") == 0 ? 2 : 1, args->body, err, errlen);
    }
    if (rc != 0) {
        cJSON_Delete(args->body);
        args->body = NULL;
        args->cmd = NULL;
        return -1;
    }
    return 0;
}

/* ---- formatting ---------------------------------------------------------- */

/* "dead 投递失败" into buf. */
static const char *state_text(const char *state, char *buf, size_t len)
{
    const char *label = cli_delivery_state_label(state);
    snprintf(buf, len, "%s%s%s", state ? state : "?", label ? " " : "", label ? label : "");
    return buf;
}

/* The receiver: its name if it has one, else its url. */
static const char *target_of(const cJSON *d)
{
    const char *name = cli_json_str(d, "endpoint_name");
    if (name && *name)
        return name;
    const char *url = cli_json_str(d, "url");
    return url && *url ? url : "-";
}

static const cli_column_t deliv_cols[DELIV_COLS] = {
    {"编号 id", 0, true},
    {"工单 ticket", 0, true},
    {"类型 type", 0, false},
    {"接收方 endpoint", TARGET_COLS, false},
    {"状态 state", 0, false},
    {"次数 attempts", 0, true},
    {"最近错误 last error", ERROR_COLS, false},
    {"下次 next attempt", 0, false},
};

static void delivery_row(cli_table_t *t, const cJSON *d)
{
    char id[32], ticket[32], state[MAX_CELL], attempts[32], next[64];
    snprintf(id, sizeof id, "%ld", cli_json_long(d, "id", 0));
    long tk = cli_json_long(d, "ticket", 0);
    if (tk > 0)
        snprintf(ticket, sizeof ticket, "%ld", tk);
    else
        bm_strlcpy(ticket, "-", sizeof ticket);
    snprintf(attempts, sizeof attempts, "%ld", cli_json_long(d, "attempts", 0));
    const char *err = cli_json_str(d, "last_error");
    const char *cells[DELIV_COLS] = {
        id,
        ticket,
        cli_json_str(d, "type") ? cli_json_str(d, "type") : "?",
        target_of(d),
        state_text(cli_json_str(d, "state"), state, sizeof state),
        attempts,
        err && *err ? err : "-",
        cli_local_time(cli_json_str(d, "next_at"), next, sizeof next),
    };
    cli_table_add(t, cells);
}

void cli_format_deliveries(FILE *out, const cJSON *reply, bool next_hint)
{
    cli_page_t page;
    if (!cli_page_read(out, reply, "deliveries", "deliveries", &page))
        return;
    cli_table_t *t = cli_table_new(deliv_cols, DELIV_COLS);
    if (!t)
        return;
    int dead = 0;
    long first_dead = 0;
    const cJSON *d = NULL;
    cJSON_ArrayForEach(d, page.items)
    {
        delivery_row(t, d);
        const char *s = cli_json_str(d, "state");
        if (s && strcmp(s, "dead") == 0 && dead++ == 0)
            first_dead = cli_json_long(d, "id", 0);
    }
    cli_table_print(t, out);
    cli_table_destroy(&t);
    cli_page_footer(out, &page, next_hint);
    if (dead > 0)
        fprintf(out,
                "%d dead 投递失败: see why with bianmin deliveries show %ld; send again with\n"
                "bianmin deliveries replay ID (or --dead-since DATE for all since then)\n",
                dead, first_dead);
}

/* "  工单 ticket:      value": a two-character Chinese label and an English
 * one, padded so the values line up. */
static void put_label(FILE *out, const char *zh, const char *en)
{
    fprintf(out, "  %s %-13s", zh, en);
}

static void text_line(FILE *out, const char *zh, const char *en, const char *value)
{
    put_label(out, zh, en);
    cli_put_text(out, value && *value ? value : "-", 0);
    fputc('\n', out);
}

static void time_line(FILE *out, const char *zh, const char *en, const char *iso)
{
    char buf[64];
    put_label(out, zh, en);
    fprintf(out, "%s\n", cli_local_time(iso, buf, sizeof buf));
}

/* Local time with seconds ("2026-11-29 14:20:07"): the first retries come
 * seconds apart. Falls back to cli_local_time's text. */
static char *local_time_s(const char *iso, char *buf, size_t len)
{
    int64_t ms = 0;
    struct tm tm;
    if (!iso || bm_time_parse_iso(iso, &ms) != 0)
        return cli_local_time(iso, buf, len);
    time_t t = (time_t)(ms / 1000);
    if (!localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        return cli_local_time(iso, buf, len);
    return buf;
}

static const cli_column_t attempt_cols[ATTEMPT_COLS] = {
    {"时间 time", 0, false},
    {"HTTP", 0, true},
    {"耗时 latency", 0, true},
    {"错误 error", 60, false},
};

static void format_attempts(FILE *out, const cJSON *log)
{
    fputs("\n尝试记录 attempt log:\n", out);
    if (!cJSON_IsArray(log) || cJSON_GetArraySize(log) == 0) {
        fputs("  （暂无 none yet）\n", out);
        return;
    }
    cli_table_t *t = cli_table_new(attempt_cols, ATTEMPT_COLS);
    if (!t)
        return;
    const cJSON *a = NULL;
    cJSON_ArrayForEach(a, log)
    {
        char when[64], status[32], latency[32];
        long st = cli_json_long(a, "status", 0);
        if (st > 0)
            snprintf(status, sizeof status, "%ld", st);
        else
            bm_strlcpy(status, "-", sizeof status); /* no HTTP answer at all */
        snprintf(latency, sizeof latency, "%ld ms", cli_json_long(a, "latency_ms", 0));
        const char *e = cli_json_str(a, "error");
        const char *cells[ATTEMPT_COLS] = {
            local_time_s(cli_json_str(a, "at"), when, sizeof when),
            status,
            latency,
            e && *e ? e : "ok",
        };
        cli_table_add(t, cells);
    }
    cli_table_print_indented(t, out, "  ");
    cli_table_destroy(&t);
}

/* Writes the body as indented JSON if it is JSON, else as text. */
static void format_body(FILE *out, const char *body)
{
    fputs("\n内容 body:\n", out);
    if (!body) {
        fputs("  -\n", out);
        return;
    }
    cJSON *j = cJSON_Parse(body);
    char *pretty = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!pretty) {
        fputs("  ", out);
        cli_put_text(out, body, 0);
        fputc('\n', out);
        return;
    }
    char *line = pretty;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        fputs("  ", out);
        while (*line == '\t') { /* cJSON indents with tabs: two spaces read better */
            fputs("  ", out);
            line++;
        }
        cli_put_text(out, line, 0);
        fputc('\n', out);
        line = nl ? nl + 1 : NULL;
    }
    cJSON_free(pretty);
}

void cli_format_delivery(FILE *out, const cJSON *d)
{
    char buf[MAX_CELL];
    long id = cli_json_long(d, "id", 0);
    const char *state = cli_json_str(d, "state");
    fprintf(out, "通知 delivery %ld  ", id);
    cli_put_text(out, cli_json_str(d, "type") ? cli_json_str(d, "type") : "?", 0);
    fputs("  [", out);
    cli_put_text(out, state_text(state, buf, sizeof buf), 0);
    fputs("]\n", out);

    long tk = cli_json_long(d, "ticket", 0);
    put_label(out, "工单", "ticket:");
    if (tk > 0)
        fprintf(out, "%ld\n", tk);
    else
        fputs("-\n", out);
    put_label(out, "接收", "endpoint:");
    fprintf(out, "%ld", cli_json_long(d, "endpoint", 0));
    const char *name = cli_json_str(d, "endpoint_name");
    if (name && *name) {
        fputc(' ', out);
        cli_put_text(out, name, 0);
    }
    fputc('\n', out);
    text_line(out, "地址", "url:", cli_json_str(d, "url"));
    text_line(out, "编号", "webhook-id:", cli_json_str(d, "msg_id"));
    put_label(out, "次数", "attempts:");
    fprintf(out, "%ld\n", cli_json_long(d, "attempts", 0));
    text_line(out, "错误", "last error:", cli_json_str(d, "last_error"));
    time_line(out, "创建", "created:", cli_json_str(d, "created_at"));
    if (cli_json_str(d, "next_at"))
        time_line(out, "下次", "next:", cli_json_str(d, "next_at"));
    if (cli_json_str(d, "done_at"))
        time_line(out, "结束", "finished:", cli_json_str(d, "done_at"));

    format_attempts(out, cJSON_GetObjectItemCaseSensitive(d, "attempt_log"));
    format_body(out, cli_json_str(d, "body"));
    if (state && (strcmp(state, "dead") == 0 || strcmp(state, "delivered") == 0))
        fprintf(out, "\n重新发送 / send it again: bianmin deliveries replay %ld\n", id);
}

void cli_format_replayed(FILE *out, const cJSON *reply)
{
    long n = cli_json_long(reply, "replayed", 0);
    fprintf(out, "%ld deliver%s due again 已重新排队发送\n", n, n == 1 ? "y" : "ies");
}

/* ---- run ----------------------------------------------------------------- */

static void print_reply(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)sent;
    if (strcmp(cmd, BM_CMD_DELIVERY) == 0)
        cli_format_delivery(out, reply);
    else if (strcmp(cmd, BM_CMD_REPLAY) == 0)
        cli_format_replayed(out, reply);
    else
        cli_format_deliveries(out, reply, true);
}

int cli_deliveries_run(cli_ctx_t *ctx, int argc, char **argv)
{
    static const cli_op_t op = {cli_deliveries_parse, cli_deliveries_help, print_reply};
    return cli_run_op(ctx, argc, argv, &op);
}
