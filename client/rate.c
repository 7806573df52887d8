/* rate.c - `bianmin rate TICKET SCORE`: a building leader or the office
 * records the resident's satisfaction (1-5) with a done or resolved request.
 * The broker judges who may rate and until when (forbidden, too_late). */
#include "cli.h"
#include "util.h"

#include <string.h>

#define SCORE_MIN 1
#define SCORE_MAX 5

void cli_rate_help(FILE *out)
{
    fprintf(out,
            "用法 / usage:\n"
            "  bianmin [global options] rate TICKET SCORE --channel CH [--comment TEXT]\n"
            "\n"
            "记录住户对工单 TICKET 的满意度评分，SCORE 从 %d（很不满意）到 %d（很满意）。\n"
            "只有已完成或已解决的请求能评，只能由请求来自的渠道或办公室，且在服务站的\n"
            "评价期限内（默认完成后30天；过了报 too_late）。再评一次替换之前的分数，两次\n"
            "都留在时间线里。\n"
            "Records how satisfied the resident is with request TICKET (满意度评分), as a\n"
            "SCORE from %d (very unhappy) to %d (very satisfied). Only a done or resolved\n"
            "request can be rated, only by the channel it came from or office, and only\n"
            "within the broker's rating window (default 30 days after completion; later\n"
            "gives too_late). Rating again replaces the earlier score; both stay in the\n"
            "timeline.\n"
            "\n"
            "  --channel CH    谁在记录，必填 / who is recording the rating (required):\n"
            "                  building_leader, council, forum, office\n"
            "  --comment TEXT  住户的原话 / what the resident said, e.g. \"师傅很快\"\n"
            "                  最多约%d个汉字 / at most %d bytes, about %d Chinese\n"
            "                  characters\n"
            "\n"
            "例子 / example:\n"
            "  bianmin rate 42 5 --channel building_leader --comment \"师傅很快\"\n"
            "输出 / prints:  ticket 42: rated 5/5 评分已记录\n"
            "\n"
            "--json：服务站的回复为一行 JSON / prints the broker's reply as one JSON line.\n",
            SCORE_MIN, SCORE_MAX, SCORE_MIN, SCORE_MAX, BM_MAX_COMMENT / 3, BM_MAX_COMMENT,
            BM_MAX_COMMENT / 3);
}

char *cli_rating_text(const cJSON *rating, char *buf, size_t len)
{
    if (!cJSON_IsNumber(rating) || rating->valuedouble < SCORE_MIN ||
        rating->valuedouble > SCORE_MAX || rating->valuedouble != (int)rating->valuedouble) {
        bm_strlcpy(buf, "未评分 not rated", len);
        return buf;
    }
    int score = (int)rating->valuedouble;
    char stars[SCORE_MAX * 3 + 1] = "";
    size_t used = 0;
    for (int i = 1; i <= SCORE_MAX; i++) {
        memcpy(stars + used, i <= score ? "★" : "☆", 3); /* each is 3 bytes of UTF-8 */
        used += 3;
    }
    stars[used] = '\0';
    snprintf(buf, len, "%s %d/%d", stars, score, SCORE_MAX);
    return buf;
}

int cli_rate_parse(int argc, char **argv, cli_op_args_t *args, char *err, size_t errlen)
{
    memset(args, 0, sizeof *args);
    const char *ticket_arg = NULL, *score_arg = NULL, *channel = NULL, *comment = NULL;
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
        } else if ((m = cli_opt_value(argc, argv, &i, "--comment", &v, err, errlen)) != 0) {
            slot = &comment, flag = "--comment";
        } else if (arg[0] == '-' && arg[1] != '\0') {
            snprintf(err, errlen, "未知选项 / unknown option %.60s", arg);
            return -1;
        } else if (!ticket_arg) {
            ticket_arg = arg;
            continue;
        } else if (!score_arg) {
            score_arg = arg;
            continue;
        } else {
            snprintf(err, errlen,
                     "多余的参数 / unexpected argument \"%.60s\" (a comment with spaces goes in quotes "
                     "after --comment, e.g. --comment \"师傅很快\")",
                     arg);
            return -1;
        }
        if (m < 0 || cli_take_text(flag, v, slot, err, errlen) != 0)
            return -1;
    }
    long ticket = 0, score = 0;
    if (!ticket_arg || !score_arg) {
        snprintf(err, errlen, "哪张工单、几分？/ which ticket and what score? e.g. bianmin rate 42 5 --channel "
                              "building_leader");
        return -1;
    }
    if (cli_parse_ticket(ticket_arg, &ticket) != 0) {
        snprintf(err, errlen, "不是工单号 / \"%.40s\" is not a ticket number (a whole number such as 42)",
                 ticket_arg);
        return -1;
    }
    if (bm_parse_long(score_arg, SCORE_MIN, SCORE_MAX, &score) != 0) {
        snprintf(err, errlen, "评分须为 %d 到 %d 的整数 / the score must be a whole number from %d to %d, not "
                 "\"%.40s\"",
                 SCORE_MIN, SCORE_MAX, SCORE_MIN, SCORE_MAX, score_arg);
        return -1;
    }
    if (!channel || bm_blank(channel)) {
        snprintf(err, errlen, "缺少 --channel（谁记录评价）/ missing --channel (who is recording the rating, e.g. "
                              "--channel building_leader)");
        return -1;
    }
    if (!(channel = cli_check_choice(CLI_CHOICE_CHANNEL, "--channel", channel, err, errlen)))
        return -1;
    if (comment && strlen(comment) > BM_MAX_COMMENT) {
        snprintf(err, errlen, "--comment 超过 %d 字节（约%d个汉字）/ --comment is longer than %d bytes (about %d "
                 "Chinese characters)",
                 BM_MAX_COMMENT, BM_MAX_COMMENT / 3, BM_MAX_COMMENT, BM_MAX_COMMENT / 3);
        return -1;
    }
    args->cmd = BM_CMD_RATE;
    args->body = cJSON_CreateObject();
    if (!args->body) {
        snprintf(err, errlen, "内存不足 / out of memory");
        return -1;
    }
    cJSON_AddNumberToObject(args->body, "ticket", (double)ticket);
    cJSON_AddStringToObject(args->body, "channel", channel);
    cJSON_AddNumberToObject(args->body, "score", (double)score);
    if (comment && !bm_blank(comment))
        cJSON_AddStringToObject(args->body, "comment", comment);
    return 0;
}

/* "ticket 42: rated 5/5": the broker's word, else what was sent. */
static void print_rated(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)cmd;
    fprintf(out, "ticket %ld: rated %ld/%d 评分已记录\n",
            cli_json_long(reply, "ticket", cli_json_long(sent, "ticket", 0)),
            cli_json_long(reply, "rating", cli_json_long(sent, "score", 0)), SCORE_MAX);
}

int cli_rate_run(cli_ctx_t *ctx, int argc, char **argv)
{
    static const cli_op_t op = {cli_rate_parse, cli_rate_help, print_rated};
    return cli_run_op(ctx, argc, argv, &op);
}
