/* act.c - `bianmin cancel | reopen | escalate | resolve TICKET`: a channel or
 * the office acting on a request. The broker judges who may do what
 * (forbidden, bad_transition, too_late); locally we only catch what is
 * plainly missing, so the message names the flag. */
#include "cli.h"
#include "util.h"

#include <string.h>

#define OFFICE "office"

typedef struct {
    const char *name;
    const char *cmd;
    const char *default_channel; /* NULL: --channel is required */
    const char *text_flag;       /* --reason or --answer */
    const char *text_field;
    bool text_required;
    bool department;             /* --department NAME is required */
} act_spec_t;

static const act_spec_t specs[] = {
    {"cancel", BM_CMD_CANCEL, NULL, "--reason", "reason", false, false},
    {"reopen", BM_CMD_REOPEN, NULL, "--reason", "reason", true, false},
    {"escalate", BM_CMD_ESCALATE, OFFICE, "--reason", "reason", true, true},
    {"resolve", BM_CMD_RESOLVE, OFFICE, "--answer", "answer", true, false},
};
#define SPEC_COUNT (sizeof specs / sizeof specs[0])

static const act_spec_t *spec_find(const char *name)
{
    for (size_t i = 0; i < SPEC_COUNT; i++) {
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    }
    return NULL;
}

static void channels_help(FILE *out)
{
    fputs("\n渠道 / channels:\n", out);
    for (const cli_label_t *l = cli_channels; l->name; l++)
        fprintf(out, "  %-16s %s (%s)\n", l->name, l->label, l->note);
}

/* The length limit of --reason and --answer, in characters as people count. */
static void text_limit_help(FILE *out, int indent)
{
    fprintf(out, "%*s最多约%d个汉字 / %d bytes, ~%d Chinese characters\n", indent, "",
            BM_MAX_NOTE / 3, BM_MAX_NOTE, BM_MAX_NOTE / 3);
}

void cli_cancel_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [global options] cancel TICKET --channel CH [--reason TEXT]\n"
          "\n"
          "取消待接单或处理中的请求（通知接单的志愿者）。只有请求来自的渠道或办公室\n"
          "可以取消。\n"
          "Cancels an open or claimed request (the volunteer holding it is told). Only\n"
          "the channel the request came from, or office, may cancel it.\n"
          "\n"
          "  --channel CH   谁在取消，必填 / who is cancelling (required)\n"
          "  --reason TEXT  原因 / why, e.g. \"住户已自行修好\"\n",
          out);
    text_limit_help(out, 17);
    fputs("\n"
          "例子 / example:\n"
          "  bianmin cancel 42 --channel building_leader --reason \"住户已自行修好\"\n"
          "输出 / prints:  ticket 42: cancelled 已取消\n",
          out);
    channels_help(out);
}

void cli_reopen_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [global options] reopen TICKET --channel CH --reason TEXT\n"
          "\n"
          "重开标为已完成但没真正修好的请求，重新派给志愿者。只有请求来自的渠道或办公室，\n"
          "且在服务站的重开期限内（默认完成后7天；过了报 too_late：请新提交一条）。\n"
          "Reopens a request marked done that is not really fixed; it is offered to\n"
          "volunteers again. Only the channel the request came from, or office, and\n"
          "only within the broker's reopen window (default 7 days after done; later\n"
          "gives too_late: submit a new request instead).\n"
          "\n"
          "  --channel CH   谁在重开，必填 / who is reopening (required)\n"
          "  --reason TEXT  哪里还不行，必填 / what is still wrong (required),\n"
          "                 e.g. \"还是漏水\"\n",
          out);
    text_limit_help(out, 17);
    fputs("\n"
          "例子 / example:\n"
          "  bianmin reopen 42 --channel building_leader --reason \"还是漏水\"\n",
          out);
    channels_help(out);
}

void cli_escalate_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [global options] escalate TICKET --department NAME --reason TEXT\n"
          "          [--channel office]\n"
          "\n"
          "把待接单或处理中的请求上报给上级职能部门，通知该部门的订阅。只有办公室能做。\n"
          "Escalates an open or claimed request to a higher-level department (上级职能\n"
          "部门); the department's subscription is notified. Only office may do this.\n"
          "\n"
          "  --department ID  部门，必填 / one of `bianmin departments` (required),\n"
          "                   e.g. water_company, power_company, housing_bureau,\n"
          "                   street_office (as configured for the broker)\n"
          "  --reason TEXT    社区为何解决不了，必填 / why the community cannot\n"
          "                   solve it (required)\n",
          out);
    text_limit_help(out, 19);
    fputs("  --channel CH     谁在操作 / who is acting (default office)\n"
          "\n"
          "例子 / example:\n"
          "  bianmin escalate 42 --department water_company --reason \"小区主管道破裂\"\n"
          "输出 / prints:  ticket 42: escalated 已上报\n",
          out);
}

void cli_resolve_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [global options] resolve TICKET --answer TEXT [--channel office]\n"
          "\n"
          "记录部门对已上报请求的答复并结案，答复告知报事人。只有办公室能做。\n"
          "Records the department's answer to an escalated request and closes it; the\n"
          "requester is told the answer. Only office may do this.\n"
          "\n"
          "  --answer TEXT  部门的答复，必填 / the department's answer (required)\n",
          out);
    text_limit_help(out, 17);
    fputs("  --channel CH   谁在操作 / who is acting (default office)\n"
          "\n"
          "例子 / example:\n"
          "  bianmin resolve 42 --answer \"自来水公司已于周三更换主管道\"\n"
          "输出 / prints:  ticket 42: resolved 已解决\n",
          out);
}

int cli_act_parse(int argc, char **argv, cli_act_args_t *args, char *err, size_t errlen)
{
    memset(args, 0, sizeof *args);
    const act_spec_t *spec = spec_find(argv[0]);
    if (!spec) {
        snprintf(err, errlen, "未知命令 / unknown command %s", argv[0]);
        return -1;
    }
    const char *ticket_arg = NULL, *channel = NULL, *text = NULL, *department = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v = NULL;
        const char **slot = NULL;
        const char *flag = NULL;
        int m = 0;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            args->help = true;
            return 0;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--channel", &v, err, errlen)) != 0) {
            slot = &channel, flag = "--channel";
        } else if ((m = cli_opt_value(argc, argv, &i, spec->text_flag, &v, err, errlen)) != 0) {
            slot = &text, flag = spec->text_flag;
        } else if (spec->department &&
                   (m = cli_opt_value(argc, argv, &i, "--department", &v, err, errlen)) != 0) {
            slot = &department, flag = "--department";
        } else if (arg[0] == '-' && arg[1] != '\0') {
            snprintf(err, errlen, "未知选项 / unknown option %s", arg);
            return -1;
        } else if (ticket_arg) {
            snprintf(err, errlen,
                     "多余的参数 / unexpected argument \"%s\" (text with spaces goes in quotes after a "
                     "flag, e.g. %s \"住户已自行修好\")",
                     arg, spec->text_flag);
            return -1;
        } else {
            ticket_arg = arg;
            continue;
        }
        if (m < 0 || cli_take_text(flag, v, slot, err, errlen) != 0)
            return -1;
    }
    long ticket = 0;
    if (!ticket_arg) {
        snprintf(err, errlen, "哪张工单？/ which ticket? e.g. bianmin %s 42 ...", spec->name);
        return -1;
    }
    if (cli_parse_ticket(ticket_arg, &ticket) != 0) {
        snprintf(err, errlen, "不是工单号 / \"%.40s\" is not a ticket number (a whole number such as 42)",
                 ticket_arg);
        return -1;
    }
    if (!channel || bm_blank(channel))
        channel = spec->default_channel;
    else if (!(channel = cli_check_choice(CLI_CHOICE_CHANNEL, "--channel", channel, err, errlen)))
        return -1;
    /* Everything missing in one message, so one retry is enough. */
    size_t used = 0;
    if (!channel)
        cli_add_missing(err, errlen, &used, "--channel");
    if (spec->department && (!department || bm_blank(department)))
        cli_add_missing(err, errlen, &used, "--department");
    if (spec->text_required && (!text || bm_blank(text)))
        cli_add_missing(err, errlen, &used, spec->text_flag);
    if (used > 0)
        return -1;
    args->cmd = spec->cmd;
    args->body = cJSON_CreateObject();
    if (!args->body) {
        snprintf(err, errlen, "内存不足 / out of memory");
        return -1;
    }
    cJSON_AddNumberToObject(args->body, "ticket", (double)ticket);
    cJSON_AddStringToObject(args->body, "channel", channel);
    if (department) {
        /* A department's Chinese name (自来水公司) becomes its id; anything else
         * goes to the broker, which holds the configured list and refuses an
         * unknown one with "did you mean". */
        char scratch[8];
        const char *id = cli_check_choice(CLI_CHOICE_DEPARTMENT, "--department", department,
                                          scratch, sizeof scratch);
        cJSON_AddStringToObject(args->body, "department", id ? id : department);
    }
    if (text && !bm_blank(text))
        cJSON_AddStringToObject(args->body, spec->text_field, text);
    return 0;
}

/* "工单 ticket 42: cancelled 已取消". */
static void print_acted(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)cmd;
    const char *s = cli_json_str(reply, "status");
    if (!s)
        s = "?";
    const char *label = cli_status_label(s);
    fprintf(out, "工单 ticket %ld: ", cli_json_long(reply, "ticket", cli_json_long(sent, "ticket", 0)));
    cli_put_text(out, s, 0);
    if (label)
        fprintf(out, " %s", label);
    fputc('\n', out);
}

int cli_act_run(cli_ctx_t *ctx, int argc, char **argv)
{
    /* The help is that of argv[0]: cancel, reopen, escalate or resolve. */
    static const cli_op_t op = {cli_act_parse, NULL, print_acted};
    return cli_run_op(ctx, argc, argv, &op);
}
