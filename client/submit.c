/* submit.c - `bianmin submit`: one request from flags, or JSON lines from
 * stdin for bridges (see batch.h). The broker judges validity; locally we
 * only catch what is plainly missing, so the message names the flag. */
#include "batch.h"
#include "cli.h"
#include "util.h"

#include <string.h>
#include <unistd.h>

/* The flags that become fields of the submit body. */
static const struct {
    const char *flag;
    const char *field;
    bool required;
    const char *help;
} fields[] = {
    {"--channel", "channel", true, "渠道，必填 / where it came from (required; list below)"},
    {"--category", "category", true, "类别，必填 / what kind of job (required; list below)"},
    {"--building", "building", true, "楼栋，必填 / building (required), e.g. \"市政小区 3栋\""},
    {"--unit", "unit", false, "门牌 / flat, e.g. 2-301"},
    {"--contact", "contact", true, "姓名电话，必填 / (required) e.g. \"罗女士 13800000000\""},
    {"--text", "text", true, "需求，必填 / what is needed (required), e.g. \"厨房下水道堵了\""},
    {"--callback", "callback", false, "回调网址 / http(s) URL to POST this request's notices to"},
    {"--ref", "ref", false, "你自己的编号 / your own id: the same ref again makes no double"},
};
#define FIELD_COUNT (sizeof fields / sizeof fields[0])

void cli_submit_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [global options] submit --channel C --category K --building B\n"
          "          --contact P --text T [--unit U] [--callback URL] [--ref REF]\n"
          "  bianmin [global options] submit --stdin [--window N] [field flags as defaults]\n"
          "\n"
          "提交一条住户请求，成功时显示工单号。\n"
          "Submits a resident's request. On success prints the ticket number.\n"
          "\n",
          out);
    for (size_t i = 0; i < FIELD_COUNT; i++)
        fprintf(out, "  %-11s %s\n", fields[i].flag, fields[i].help);
    /* Limits in characters: a Chinese character is 3 bytes of UTF-8. */
    fprintf(out,
            "\n长度上限 / limits (UTF-8: a Chinese character is 3 bytes):\n"
            "  --text      约%d个汉字 / %d bytes, about %d Chinese characters\n"
            "  --building  约%d个汉字 / %d bytes, about %d Chinese characters\n"
            "  --contact   约%d个汉字 / %d bytes, about %d Chinese characters\n"
            "  --unit      %d 个字母或数字 / %d bytes (letters and digits)\n",
            BM_MAX_TEXT / 3, BM_MAX_TEXT, BM_MAX_TEXT / 3, BM_MAX_BUILDING / 3, BM_MAX_BUILDING,
            BM_MAX_BUILDING / 3, BM_MAX_CONTACT / 3, BM_MAX_CONTACT, BM_MAX_CONTACT / 3,
            BM_MAX_UNIT, BM_MAX_UNIT);
    fputs("\n渠道 / channels (name or Chinese label):\n", out);
    for (const cli_label_t *l = cli_channels; l->name; l++)
        fprintf(out, "  %-16s %s (%s)\n", l->name, l->label, l->note);
    fputs("\n类别 / categories (name or Chinese label):\n", out);
    for (const cli_label_t *l = cli_categories; l->name; l++)
        fprintf(out, "  %-16s %s%s%s\n", l->name, l->label, l->note ? " " : "",
                l->note ? l->note : "");
    fputs("服务站可能配置了别的类别：设 BIANMIN_CONFIG 为它的配置文件即按它检查。\n"
          "The broker may be configured with others: set BIANMIN_CONFIG to its config\n"
          "file to check against those.\n",
          out);
    fprintf(out,
            "\n"
            "--stdin：给桥接程序的批量模式。标准输入每行一个 JSON 提交内容；同时给的字段\n"
            "选项补到缺这些字段的行里。最多同时发 --window N 条（默认 %d）。每个非空行按\n"
            "输入顺序输出一行 JSON。不是 JSON 对象 (bad_json) 或超过 %d 字节 (too_large)\n"
            "的行不发送；--timeout 内没回复的行报 \"timeout\"：用同一个 ref 重发。汇总写到\n"
            "标准错误。退出码：0 全部受理，2 有被拒的，3 有没回复的。\n"
            "--stdin: batch mode for bridges. Each line of stdin is one JSON submit body,\n"
            "  e.g. {\"channel\":\"forum\",\"category\":\"pipe\",\"building\":\"3栋\",...}.\n"
            "  Field flags given with --stdin are added to lines that lack those fields.\n"
            "  Up to --window N requests (default %d) are in flight at once. For each\n"
            "  non-blank line one JSON line is printed, in input order:\n"
            "    {\"line\":3,\"ok\":true,\"ticket\":42,\"duplicate\":false}\n"
            "    {\"line\":4,\"ok\":false,\"code\":\"bad_json\",\"message\":\"...\"}\n"
            "  Lines that are not JSON objects (bad_json) or longer than %d bytes\n"
            "  (too_large) are not sent. A line without an answer within --timeout is\n"
            "  reported with code \"timeout\": resend it with the same ref. A summary goes\n"
            "  to stderr. Exit 0 if all were accepted, 2 if some were refused, 3 if some\n"
            "  got no answer (broker unreachable or too slow).\n",
            CLI_DEFAULT_WINDOW, CLI_MAX_LINE, CLI_DEFAULT_WINDOW, CLI_MAX_LINE);
}

int cli_submit_parse(int argc, char **argv, cli_submit_args_t *args, char *err, size_t errlen)
{
    const char *values[FIELD_COUNT] = {0};
    memset(args, 0, sizeof *args);
    args->window = CLI_DEFAULT_WINDOW;
    bool window_given = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v = NULL;
        int m = 0;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            args->help = true;
            return 0;
        }
        if (strcmp(arg, "--stdin") == 0) {
            args->from_stdin = true;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--window", &v, err, errlen)) != 0) {
            long n = 0;
            if (m < 0)
                return -1;
            if (bm_parse_long(v, 1, CLI_MAX_WINDOW, &n) != 0) {
                snprintf(err, errlen, "须为 1 到 %d / --window must be a number from 1 to %d, not \"%s\"",
                         CLI_MAX_WINDOW, CLI_MAX_WINDOW, v);
                return -1;
            }
            args->window = (int)n;
            window_given = true;
            continue;
        }
        size_t f = 0;
        for (; f < FIELD_COUNT; f++) {
            m = cli_opt_value(argc, argv, &i, fields[f].flag, &v, err, errlen);
            if (m != 0)
                break;
        }
        if (m < 0)
            return -1;
        if (f == FIELD_COUNT) {
            if (arg[0] == '-')
                snprintf(err, errlen, "未知选项 / unknown option %s", arg);
            else
                snprintf(err, errlen,
                         "多余的参数 / unexpected argument \"%s\" (带空格的文字请加引号放在选项后 / "
                         "text with spaces goes in quotes after a flag, e.g. --text \"厨房下水道堵了\")",
                         arg);
            return -1;
        }
        if (cli_take_text(fields[f].flag, v, &values[f], err, errlen) != 0)
            return -1;
        /* Enumerated fields: a Chinese label becomes the name; a typo is caught. */
        if (strcmp(fields[f].field, "category") == 0 || strcmp(fields[f].field, "channel") == 0) {
            values[f] = cli_check_choice(fields[f].field[1] == 'a' ? CLI_CHOICE_CATEGORY
                                                                   : CLI_CHOICE_CHANNEL,
                                         fields[f].flag, v, err, errlen);
            if (!values[f])
                return -1;
        }
    }
    if (window_given && !args->from_stdin) {
        snprintf(err, errlen, "--window 只用于 --stdin / --window only applies with --stdin");
        return -1;
    }
    if (!args->from_stdin) {
        size_t used = 0;
        err[0] = '\0';
        for (size_t f = 0; f < FIELD_COUNT; f++) {
            if (fields[f].required && (!values[f] || bm_blank(values[f])))
                cli_add_missing(err, errlen, &used, fields[f].flag);
        }
        if (used > 0)
            return -1;
    }
    args->body = cJSON_CreateObject();
    if (!args->body) {
        snprintf(err, errlen, "内存不足 / out of memory");
        return -1;
    }
    for (size_t f = 0; f < FIELD_COUNT; f++) {
        if (values[f])
            cJSON_AddStringToObject(args->body, fields[f].field, values[f]);
    }
    return 0;
}

static int run_batch(cli_ctx_t *ctx, const cli_submit_args_t *args)
{
    cli_batch_opts_t opts = {
        .endpoint = ctx->endpoint,
        .key = ctx->key,
        .window = args->window,
        .timeout_ms = ctx->timeout_ms,
        .defaults = cJSON_GetArraySize(args->body) > 0 ? args->body : NULL,
    };
    cli_batch_stats_t st;
    char err[256];
    int rc = cli_batch_run(&opts, STDIN_FILENO, stdout, &st, err, sizeof err);
    fflush(stdout);
    fprintf(stderr, "bianmin: 受理 %ld / %ld accepted", st.accepted, st.accepted);
    if (st.duplicates > 0)
        fprintf(stderr, "（重复 %ld / %ld duplicates）", st.duplicates, st.duplicates);
    fprintf(stderr, ", 拒绝 %ld / %ld rejected", st.rejected, st.rejected);
    if (st.timed_out > 0)
        fprintf(stderr, ", 无应答 %ld（用同一 ref 重发）/ %ld without answer (resend them with the same ref)",
                st.timed_out, st.timed_out);
    fputc('\n', stderr);
    if (rc != 0) {
        fprintf(stderr, "bianmin: submit --stdin 中止 / stopped: %s\n", err);
        return CLI_EXIT_UNREACHABLE;
    }
    return cli_batch_exit_code(&st);
}

static void print_submitted(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)cmd, (void)sent;
    long t = cli_json_long(reply, "ticket", 0);
    const char *status = cli_json_str(reply, "status");
    fprintf(out, "已受理 received: ticket %ld (status %s)\n", t, status ? status : "?");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "duplicate")))
        fputs("重复 duplicate: this ref was already submitted; no new request was made\n", out);
    fprintf(out, "查看进度 follow it: bianmin status %ld\n", t);
}

int cli_submit_run(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_submit_args_t args;
    char err[512];
    if (cli_submit_parse(argc, argv, &args, err, sizeof err) != 0) {
        return cli_usage_error("submit", err);
    }
    if (args.help) {
        cli_submit_help(stdout);
        return CLI_EXIT_OK;
    }
    if (args.from_stdin) {
        int rc = run_batch(ctx, &args);
        cJSON_Delete(args.body);
        return rc;
    }
    int rc = cli_call_print(ctx, BM_CMD_SUBMIT, args.body, print_submitted);
    cJSON_Delete(args.body);
    return rc;
}
