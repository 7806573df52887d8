/* status.c - `bianmin status TICKET`: a request, its timeline and its
 * notices, for a building leader or a clerk to read. */
#include "cli.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

#define TICKET_MAX    9007199254740991L /* 2^53 - 1: exact as a JSON number */
#define DETAIL_MAX    160               /* bytes of an event's note shown per line */
#define MAX_TIME_TEXT 64
#define PHOTO_COLS    7
#define PHOTO_NAME    24 /* columns of a photo's name shown */

void cli_status_help(FILE *out)
{
    fputs("用法 / usage: bianmin [global options] status TICKET\n"
          "              bianmin [global options] show TICKET   (同上 the same)\n"
          "\n"
          "显示工单 TICKET（如 42 或 #42）：谁报的、要做什么、谁接的、期限（过了显示\n"
          "超时）、上报的部门、住户评分（★★★★☆ 4/5，或未评分）、时间线（每次变化，谁、\n"
          "何时，本地时间）、志愿者发的图片（种类、名字、类型、大小、随哪次报告、何时、\n"
          "存在服务站存档目录的哪里），以及为它发的通知（编号用于 deliveries show ID）。\n"
          "Shows request TICKET (a number such as 42, or #42): who asked, what for, who\n"
          "took it, its time limit (期限, and 超时 overdue when past it), the department\n"
          "it was escalated to, the resident's rating (★★★★☆ 4/5, or 未评分 not rated),\n"
          "its timeline (every change, with who and when, in local time), the photos\n"
          "the volunteer sent (图片: kind, name, type, size, with which report, when,\n"
          "and where it is stored, relative to the broker's archive folder) and the\n"
          "notices sent for it (with their ids for bianmin deliveries show ID).\n"
          "\n"
          "--json：把服务站的回复输出为一行 JSON / prints the broker's reply as one\n"
          "JSON line.\n",
          out);
}

int cli_parse_ticket(const char *s, long *out)
{
    if (!s)
        return -1;
    if (s[0] == '#')
        s++;
    if (s[0] < '0' || s[0] > '9') /* no sign, no space: what strtol would allow */
        return -1;
    return bm_parse_long(s, 1, TICKET_MAX, out);
}

void cli_put_text(FILE *out, const char *s, size_t max)
{
    size_t len = strlen(s);
    bool cut = false;
    if (max > 0 && len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--; /* do not split a character */
        cut = true;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) {
            fputc(' ', out); /* no newlines or escape sequences from peers' text */
        } else if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9F) {
            fputc(' ', out); /* a C1 control character, U+0080..U+009F */
            i++;
        } else {
            fputc(c, out);
        }
    }
    if (cut)
        fputs("…", out);
}

char *cli_local_time(const char *iso, char *buf, size_t len)
{
    int64_t ms = 0;
    if (!iso)
        bm_strlcpy(buf, "-", len);
    else if (bm_time_parse_iso(iso, &ms) == 0)
        bm_time_local(ms, buf, len);
    else
        bm_strlcpy(buf, iso, len);
    return buf;
}

/* Prints "  label: value" if value is there (or always, with "-"). */
static void field_line(FILE *out, const char *label, const char *value, bool always)
{
    if (!value && !always)
        return;
    fprintf(out, "  %s", label);
    cli_put_text(out, value ? value : "-", 0);
    fputc('\n', out);
}

static void time_line(FILE *out, const char *label, const cJSON *req, const char *key, bool always)
{
    const char *iso = cli_json_str(req, key);
    if (!iso && !always)
        return;
    char buf[MAX_TIME_TEXT];
    fprintf(out, "  %s%s\n", label, cli_local_time(iso, buf, sizeof buf));
}

/* Where the current attempt starts: after the last reopen. */
typedef struct {
    int reopens;            /* reopened events */
    const cJSON *reopened;  /* the last one, or NULL */
    const cJSON *claimed;   /* the last claim after it (or ever, without a reopen) */
    const cJSON *rated;     /* the last rating */
    const cJSON *rated_for; /* the completion (completed/resolved) that rating is about */
    bool rated_earlier;     /* that completion is before the last reopen */
} attempt_t;

static bool kind_is(const cJSON *ev, const char *kind)
{
    const char *k = cli_json_str(ev, "kind");
    return k && strcmp(k, kind) == 0;
}

static void read_attempt(const cJSON *events, attempt_t *a)
{
    memset(a, 0, sizeof *a);
    const cJSON *ev, *last_done = NULL;
    cJSON_ArrayForEach(ev, events)
    {
        if (kind_is(ev, "reopened")) {
            a->reopens++;
            a->reopened = ev;
            a->claimed = NULL;
            if (a->rated_for)
                a->rated_earlier = true;
        } else if (kind_is(ev, "claimed")) {
            a->claimed = ev;
        } else if (kind_is(ev, "completed") || kind_is(ev, "resolved")) {
            last_done = ev;
        } else if (kind_is(ev, "rated")) {
            a->rated = ev;
            a->rated_for = last_done;
            a->rated_earlier = false;
        }
    }
}

static void format_request(FILE *out, const cJSON *req, const cJSON *events)
{
    attempt_t att;
    read_attempt(events, &att);
    const cJSON *ticket = cJSON_GetObjectItemCaseSensitive(req, "ticket");
    const char *category = cli_json_str(req, "category");
    const char *label = cli_json_str(req, "category_label");
    const char *status = cli_json_str(req, "status");
    const char *slabel = cli_status_label(status);
    if (!label)
        label = cli_category_label(category);

    fprintf(out, "工单 ticket %ld", cJSON_IsNumber(ticket) ? (long)ticket->valuedouble : 0L);
    fputs("  ", out);
    if (label) {
        cli_put_text(out, label, 0);
        fputc(' ', out);
    }
    cli_put_text(out, category ? category : "?", 0);
    fputs("  [", out);
    if (slabel)
        fprintf(out, "%s ", slabel);
    cli_put_text(out, status ? status : "?", 0);
    fputc(']', out);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "urgent")))
        fputs("  紧急 urgent", out);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "overdue")))
        fputs("  超时 overdue", out);
    fputc('\n', out);

    field_line(out, "渠道 channel:   ", cli_json_str(req, "channel"), true);
    fputs("  楼栋 building:  ", out);
    cli_put_text(out, cli_json_str(req, "building") ? cli_json_str(req, "building") : "-", 0);
    if (cli_json_str(req, "unit") && *cli_json_str(req, "unit")) {
        fputc(' ', out);
        cli_put_text(out, cli_json_str(req, "unit"), 0);
    }
    fputc('\n', out);
    field_line(out, "联系 contact:   ", cli_json_str(req, "contact"), true);
    field_line(out, "内容 text:      ", cli_json_str(req, "text"), true);
    field_line(out, "编号 ref:       ", cli_json_str(req, "ref"), false);

    const cJSON *vol = cJSON_GetObjectItemCaseSensitive(req, "volunteer");
    if (cJSON_IsObject(vol)) {
        const char *name = cli_json_str(vol, "name");
        const char *id = cli_json_str(vol, "id");
        fputs("  志愿者 volunteer: ", out);
        cli_put_text(out, name ? name : "?", 0);
        if (id) {
            fputs(" (", out);
            cli_put_text(out, id, 0);
            fputc(')', out);
        }
        fputc('\n', out);
    }
    time_line(out, "受理 created:   ", req, "created_at", true);
    if (att.reopened) {
        /* The row's times are the current attempt's; say which one it is. */
        char when[MAX_TIME_TEXT];
        fprintf(out, "  本次 attempt:   第 %d 次处理，重开于 %s / attempt %d, reopened %s\n",
                att.reopens + 1, cli_local_time(cli_json_str(att.reopened, "at"), when, sizeof when),
                att.reopens + 1, when);
    }
    time_line(out, "期限 deadline:  ", req, "deadline_at", false);
    if (att.reopened && !att.claimed)
        fputs("  接单 claimed:   本次尚未接单 / not claimed in this attempt\n", out);
    else
        time_line(out, "接单 claimed:   ", req, "claimed_at", false);
    time_line(out, "完成 done:      ", req, "done_at", false);
    time_line(out, "上报 escalated: ", req, "escalated_at", false);
    field_line(out, "部门 department: ", cli_json_str(req, "department"), false);
    time_line(out, "解决 resolved:  ", req, "resolved_at", false);
    time_line(out, "取消 cancelled: ", req, "cancelled_at", false);
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(req, "attempts");
    if (cJSON_IsNumber(attempts) && attempts->valuedouble > 0)
        fprintf(out, "  重派 attempts:  %ld\n", (long)attempts->valuedouble);
    /* A broker that knows ratings always sends the field (null: not rated);
     * "not rated" is news only once the request can be rated. */
    const cJSON *rating = cJSON_GetObjectItemCaseSensitive(req, "rating");
    bool finished = status && (strcmp(status, "done") == 0 || strcmp(status, "resolved") == 0);
    if (att.rated && att.rated_earlier) {
        /* The rating is about an earlier completion, not this attempt. */
        char stars[64], when[MAX_TIME_TEXT];
        const cJSON *score = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(att.rated, "detail"), "score");
        if (finished)
            fputs("  评分 rating:    本次未评分 / this attempt not rated\n", out);
        fprintf(out, "  上次评分 earlier rating: %s，", cli_rating_text(score ? score : rating, stars,
                                                                        sizeof stars));
        fprintf(out, "评的是 %s ",
                cli_local_time(att.rated_for ? cli_json_str(att.rated_for, "at") : NULL, when,
                               sizeof when));
        cli_put_text(out, att.rated_for && cli_json_str(att.rated_for, "actor")
                              ? cli_json_str(att.rated_for, "actor")
                              : "?",
                     0);
        fprintf(out, " 的完成 / for the completion at %s\n", when);
        return;
    }
    if (rating && (finished || cJSON_IsNumber(rating))) {
        char stars[64];
        fprintf(out, "  评分 rating:    %s\n", cli_rating_text(rating, stars, sizeof stars));
    }
}

/* Appends "key=value" for the scalar fields of detail (note first, bare). */
static void detail_summary(const cJSON *event, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(event, "detail");
    const char *note = cli_json_str(detail, "note");
    if (!note)
        note = cli_json_str(event, "note");
    if (note) {
        int n = snprintf(buf, len, "%s", note);
        used = n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
    }
    const cJSON *item = NULL;
    const cJSON *fields = cJSON_IsObject(detail) ? detail : NULL;
    cJSON_ArrayForEach(item, fields)
    {
        if (!item->string || strcmp(item->string, "note") == 0 || used + 1 >= len)
            continue;
        const char *sep = used ? "; " : "";
        int n = -1;
        if (cJSON_IsString(item))
            n = snprintf(buf + used, len - used, "%s%s=%s", sep, item->string, item->valuestring);
        else if (cJSON_IsNumber(item))
            n = snprintf(buf + used, len - used, "%s%s=%g", sep, item->string, item->valuedouble);
        else if (cJSON_IsBool(item))
            n = snprintf(buf + used, len - used, "%s%s=%s", sep, item->string,
                         cJSON_IsTrue(item) ? "true" : "false");
        if (n > 0)
            used += (size_t)n < len - used ? (size_t)n : len - used - 1;
    }
}

static void format_events(FILE *out, const cJSON *events)
{
    fputs("\n时间线 timeline:\n", out);
    if (cJSON_GetArraySize(events) == 0) {
        fputs("  (none)\n", out);
        return;
    }
    const cJSON *ev = NULL;
    cJSON_ArrayForEach(ev, events)
    {
        char when[MAX_TIME_TEXT];
        char detail[1024];
        const char *kind = cli_json_str(ev, "kind");
        const char *klabel = cli_event_label(kind);
        const char *from = cli_json_str(ev, "from");
        const char *to = cli_json_str(ev, "to");
        fprintf(out, "  %s  ", cli_local_time(cli_json_str(ev, "at"), when, sizeof when));
        cli_put_text(out, cli_json_str(ev, "actor") ? cli_json_str(ev, "actor") : "?", 0);
        fputs("  ", out);
        cli_put_text(out, kind ? kind : "?", 0);
        if (klabel)
            fprintf(out, " %s", klabel);
        if (from || to) {
            fputs("  ", out);
            if (from) {
                cli_put_text(out, from, 0);
                fputc(' ', out);
            }
            fputs("→ ", out);
            cli_put_text(out, to ? to : "-", 0);
        }
        detail_summary(ev, detail, sizeof detail);
        if (detail[0]) {
            fputs("  ", out);
            cli_put_text(out, detail, DETAIL_MAX);
        }
        fputc('\n', out);
    }
}

static const cli_column_t photo_cols[PHOTO_COLS] = {
    {"类别 kind", 0, false},   {"文件 name", PHOTO_NAME, false}, {"类型 type", 0, false},
    {"大小 size", 0, true},    {"事件 event", 0, false},         {"时间 time", 0, false},
    {"归档 archive path", 0, false},
};

static const char *photo_kind(const char *kind)
{
    if (!kind)
        return "?";
    if (strcmp(kind, "before") == 0)
        return "before 修前";
    if (strcmp(kind, "after") == 0)
        return "after 修后";
    if (strcmp(kind, "other") == 0)
        return "other 其他";
    return kind;
}

static void format_photos(FILE *out, const cJSON *attachments)
{
    fputs("\n图片 photos:\n", out);
    if (!cJSON_IsArray(attachments) || cJSON_GetArraySize(attachments) == 0) {
        fputs("  (none)\n", out);
        return;
    }
    cli_table_t *t = cli_table_new(photo_cols, PHOTO_COLS);
    if (!t)
        return;
    const cJSON *a = NULL;
    cJSON_ArrayForEach(a, attachments)
    {
        char size[32] = "-", event[64], when[MAX_TIME_TEXT];
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(a, "size");
        if (cJSON_IsNumber(bytes) && bytes->valuedouble < 1024)
            snprintf(size, sizeof size, "%.0f B", bytes->valuedouble);
        else if (cJSON_IsNumber(bytes))
            snprintf(size, sizeof size, "%.1f KB", bytes->valuedouble / 1024.0);
        const char *kind = cli_json_str(a, "event");
        const char *klabel = cli_event_label(kind);
        snprintf(event, sizeof event, "%s%s%s", kind ? kind : "-", klabel ? " " : "",
                 klabel ? klabel : "");
        const char *name = cli_json_str(a, "name");
        const char *cells[PHOTO_COLS] = {
            photo_kind(cli_json_str(a, "kind")),
            name && *name ? name : "-",
            cli_json_str(a, "type") ? cli_json_str(a, "type") : "?",
            size,
            event,
            cli_local_time(cli_json_str(a, "at"), when, sizeof when),
            cli_json_str(a, "path") ? cli_json_str(a, "path") : "-",
        };
        cli_table_add(t, cells);
    }
    cli_table_print_indented(t, out, "  ");
    cli_table_destroy(&t);
}

static void format_deliveries(FILE *out, const cJSON *deliveries)
{
    fputs("\n通知 deliveries:\n", out);
    if (cJSON_GetArraySize(deliveries) == 0) {
        fputs("  (none)\n", out);
        return;
    }
    const cJSON *d = NULL;
    cJSON_ArrayForEach(d, deliveries)
    {
        const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(d, "attempts");
        const char *last = cli_json_str(d, "last_error");
        const char *state = cli_json_str(d, "state");
        const char *slabel = cli_delivery_state_label(state);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
        fputs("  ", out);
        if (cJSON_IsNumber(id))
            fprintf(out, "#%ld  ", (long)id->valuedouble);
        cli_put_text(out, cli_json_str(d, "type") ? cli_json_str(d, "type") : "?", 0);
        fputs("  ", out);
        cli_put_text(out, state ? state : "?", 0);
        if (slabel)
            fprintf(out, " %s", slabel);
        fprintf(out, "  attempts %ld",
                cJSON_IsNumber(attempts) ? (long)attempts->valuedouble : 0L);
        if (last) {
            fputs("  最近错误 last error: ", out);
            cli_put_text(out, last, DETAIL_MAX);
        }
        fputc('\n', out);
    }
}

void cli_format_get(FILE *out, const cJSON *reply)
{
    format_request(out, cJSON_GetObjectItemCaseSensitive(reply, "request"),
                   cJSON_GetObjectItemCaseSensitive(reply, "events"));
    format_events(out, cJSON_GetObjectItemCaseSensitive(reply, "events"));
    format_photos(out, cJSON_GetObjectItemCaseSensitive(reply, "attachments"));
    format_deliveries(out, cJSON_GetObjectItemCaseSensitive(reply, "deliveries"));
}

static void print_get(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)cmd, (void)sent;
    cli_format_get(out, reply);
}

int cli_status_run(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_status_help(stdout);
            return CLI_EXIT_OK;
        }
        if (arg || strncmp(argv[i], "--", 2) == 0) {
            char err[160];
            snprintf(err, sizeof err, "多余的参数 / unexpected argument \"%.40s\"", argv[i]);
            return cli_usage_error(argv[0], err);
        }
        arg = argv[i];
    }
    long ticket = 0;
    char err[200];
    if (!arg) {
        snprintf(err, sizeof err, "哪张工单？/ which ticket? e.g. bianmin %s 42", argv[0]);
        return cli_usage_error(argv[0], err);
    }
    if (cli_parse_ticket(arg, &ticket) != 0) {
        snprintf(err, sizeof err,
                 "不是工单号 / \"%.40s\" is not a ticket number (a whole number such as 42)",
                 arg);
        return cli_usage_error(argv[0], err);
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "ticket", (double)ticket);
    int rc = cli_call_print(ctx, BM_CMD_GET, body, print_get);
    cJSON_Delete(body);
    return rc;
}
