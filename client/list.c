/* list.c - `bianmin list`: the queue as a table for the office clerk,
 * filtered and paged, or every page with --all. */
#include "cli.h"
#include "util.h"

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ISO    32
#define MAX_CELL   512 /* bytes of one table cell we build */
#define LIST_COLS  7


/* Flags that become string fields of the list body as they are. */
static const struct {
    const char *flag;
    const char *field;
} text_filters[] = {
    {"--status", "status"},     {"--category", "category"},   {"--channel", "channel"},
    {"--building", "building"}, {"--volunteer", "volunteer"},
};
#define TEXT_FILTER_COUNT (sizeof text_filters / sizeof text_filters[0])

void cli_list_help(FILE *out)
{
    fprintf(out,
            "用法 / usage:\n"
            "  bianmin [global options] list [--status S] [--category C] [--channel CH]\n"
            "          [--building TEXT] [--volunteer ID] [--overdue]\n"
            "          [--since DATE] [--until DATE] [--limit N] [--offset N] [--all]\n"
            "\n"
            "列出请求，新的在前：工单号、状态、类别、楼栋和门牌、志愿者、收到时间（本地\n"
            "时间），过了期限的标\"超时\"。表尾说明显示的是哪些。\n"
            "Lists requests, newest first, as a table: ticket, status, category,\n"
            "building and unit, volunteer, when it was received (local time), and\n"
            "\"超时 overdue\" for requests past their time limit. A footer says which\n"
            "ones are shown, e.g. \"showing 1-50 of 123 (next page: --offset 50)\".\n"
            "\n"
            "  --status S       状态 / one of: open 待接单, claimed 处理中, done 已完成,\n"
            "                   escalated 已上报, resolved 已解决, cancelled 已取消\n"
            "  --category C     类别 / lock, pipe, leak, repair, other\n"
            "                   (see bianmin submit --help)\n"
            "  --channel CH     渠道 / building_leader, council, forum, office\n"
            "  --building TEXT  楼栋或地址含 TEXT / building or address containing\n"
            "                   TEXT, e.g. \"3栋\"\n"
            "  --volunteer ID   该志愿者手上的 / requests held by this volunteer\n"
            "                   (see bianmin volunteers)\n"
            "  --overdue        只看超时的 / only requests flagged overdue\n"
            "  --since DATE     从 DATE 起收到的 / received on or after DATE\n"
            "  --until DATE     DATE 之前收到的 / received before DATE (so --since\n"
            "                   2026-11-01 --until 2026-12-01 is November)\n"
            "  --limit N        每页条数 / requests per page, 1 to %d (default %d)\n"
            "  --offset N       跳过前 N 条 / skip the first N (for the next page)\n"
            "  --all            取全部页 / fetch every page (from --offset, %d per call\n"
            "                   unless --limit says otherwise); requests that change\n"
            "                   while it runs may be missed or left out\n"
            "\n"
            "DATE 为 YYYY-MM-DD，指当天本地零点（环境变量 TZ；以 UTC 发给服务站），或\n"
            "精确的 ISO 8601 UTC 时间，如 2026-11-01T08:00:00Z。\n"
            "DATE is YYYY-MM-DD, meaning midnight at the start of that day in local time\n"
            "(the TZ environment variable; it is sent to the broker in UTC), or an exact\n"
            "ISO 8601 UTC time such as 2026-11-01T08:00:00Z.\n"
            "\n"
            "--json：服务站的回复为一行 JSON；加 --all 时一个 JSON 对象含所有页。\n"
            "With --json prints the broker's reply as one JSON line; with --all one JSON\n"
            "object holding every page: {\"requests\": [...], \"total\": T, \"offset\": O,\n"
            "\"limit\": n} where limit is how many requests it holds.\n"
            "\n"
            "例子 / examples:\n"
            "  bianmin list --status open --overdue\n"
            "  bianmin list --building 3栋 --since 2026-11-01 --until 2026-12-01 --all\n"
            "  bianmin --json list --all --status escalated > escalated.json\n",
            BM_MAX_LIST, CLI_LIST_DEFAULT_LIMIT, BM_MAX_LIST);
}

/* Parses the digits s[0..n) into *out; returns 0 or -1. */
static int digits(const char *s, size_t n, long min, long max, long *out)
{
    char buf[8];
    if (n >= sizeof buf)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return bm_parse_long(buf, min, max, out);
}

int cli_parse_date(const char *s, char *iso, size_t len)
{
    long y = 0, m = 0, d = 0;
    if (!s || strlen(s) < 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, 1970, 9999, &y) ||
        digits(s + 5, 2, 1, 12, &m) || digits(s + 8, 2, 1, 31, &d))
        return -1;
    if (s[10] == '\0') {
        struct tm tm = {0};
        tm.tm_year = (int)y - 1900;
        tm.tm_mon = (int)m - 1;
        tm.tm_mday = (int)d;
        tm.tm_isdst = -1; /* let mktime say whether summer time applies */
        time_t t = mktime(&tm);
        if (t == (time_t)-1 || tm.tm_year != (int)y - 1900 || tm.tm_mon != (int)m - 1 ||
            tm.tm_mday != (int)d)
            return -1; /* e.g. 2026-02-30, which mktime would roll over */
        bm_time_iso((int64_t)t * 1000, iso, len);
        return 0;
    }
    /* A full time must say it is UTC: "T" ... "Z". */
    int64_t ms = 0;
    size_t n = strlen(s);
    if (s[10] != 'T' || s[n - 1] != 'Z' || bm_time_parse_iso(s, &ms) != 0)
        return -1;
    bm_time_iso(ms, iso, len);
    return 0;
}

/* Parses one --limit / --offset value into body. Returns 0 or -1. */
static int number_flag(cJSON *body, const char *flag, const char *field, const char *v, long min,
                       long max, bool *given, char *err, size_t errlen)
{
    long n = 0;
    if (*given) {
        snprintf(err, errlen, "%s 重复给出 / %s given twice", flag, flag);
        return -1;
    }
    if (bm_parse_long(v, min, max, &n) != 0) {
        snprintf(err, errlen, "须为 %ld 到 %ld 的整数 / %s must be a number from %ld to %ld, not \"%.40s\"",
                 min, max, flag, min, max, v);
        return -1;
    }
    cJSON_AddNumberToObject(body, field, (double)n);
    *given = true;
    return 0;
}

static int parse_into(int argc, char **argv, cli_list_args_t *args, char *err, size_t errlen)
{
    cJSON *body = args->body;
    bool limit_given = false, offset_given = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v = NULL;
        int m = 0;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            args->help = true;
            return 0;
        }
        if (strcmp(arg, "--all") == 0) {
            args->all = true;
            continue;
        }
        if (strcmp(arg, "--overdue") == 0) {
            if (!cJSON_GetObjectItemCaseSensitive(body, "overdue"))
                cJSON_AddTrueToObject(body, "overdue");
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--limit", &v, err, errlen)) != 0) {
            if (m < 0 || number_flag(body, "--limit", "limit", v, 1, BM_MAX_LIST, &limit_given,
                                     err, errlen) != 0)
                return -1;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--offset", &v, err, errlen)) != 0) {
            if (m < 0 || number_flag(body, "--offset", "offset", v, 0, INT32_MAX, &offset_given,
                                     err, errlen) != 0)
                return -1;
            continue;
        }
        const char *date_flags[] = {"--since", "--until"};
        bool done = false;
        for (size_t k = 0; k < 2 && !done; k++) {
            if ((m = cli_opt_value(argc, argv, &i, date_flags[k], &v, err, errlen)) == 0)
                continue;
            char iso[MAX_ISO];
            if (m < 0)
                return -1;
            if (cJSON_GetObjectItemCaseSensitive(body, date_flags[k] + 2)) {
                snprintf(err, errlen, "%s 重复给出 / %s given twice", date_flags[k], date_flags[k]);
                return -1;
            }
            if (cli_parse_date(v, iso, sizeof iso) != 0) {
                snprintf(err, errlen,
                         "需要日期 / %s needs a date such as 2026-11-01 (local time) or "
                         "2026-11-01T08:00:00Z (UTC), not \"%.40s\"",
                         date_flags[k], v);
                return -1;
            }
            cJSON_AddStringToObject(body, date_flags[k] + 2, iso);
            done = true;
        }
        if (done)
            continue;
        size_t f = 0;
        for (; f < TEXT_FILTER_COUNT; f++) {
            if ((m = cli_opt_value(argc, argv, &i, text_filters[f].flag, &v, err, errlen)) != 0)
                break;
        }
        if (m < 0)
            return -1;
        if (f == TEXT_FILTER_COUNT) {
            if (arg[0] == '-')
                snprintf(err, errlen, "未知选项 / unknown option %.60s", arg);
            else
                snprintf(err, errlen, "多余的参数 / unexpected argument \"%.60s\"", arg);
            return -1;
        }
        if (cJSON_GetObjectItemCaseSensitive(body, text_filters[f].field)) {
            snprintf(err, errlen, "%s 重复给出 / %s given twice", text_filters[f].flag, text_filters[f].flag);
            return -1;
        }
        if (!bm_utf8_valid(v, strlen(v)) || bm_blank(v)) {
            snprintf(err, errlen, "缺少值 / %s needs a value (UTF-8 text)", text_filters[f].flag);
            return -1;
        }
        /* Enumerated filters: a typo would only match nothing ("no requests"). */
        const char *field = text_filters[f].field;
        cli_choice_t kind = strcmp(field, "status") == 0     ? CLI_CHOICE_STATUS
                            : strcmp(field, "category") == 0 ? CLI_CHOICE_CATEGORY
                            : strcmp(field, "channel") == 0  ? CLI_CHOICE_CHANNEL
                                                             : (cli_choice_t)-1;
        if (kind != (cli_choice_t)-1 &&
            !(v = cli_check_choice(kind, text_filters[f].flag, v, err, errlen)))
            return -1;
        cJSON_AddStringToObject(body, text_filters[f].field, v);
    }
    if (args->all && !limit_given)
        cJSON_AddNumberToObject(body, "limit", BM_MAX_LIST); /* fewest calls */
    return 0;
}

int cli_list_parse(int argc, char **argv, cli_list_args_t *args, char *err, size_t errlen)
{
    memset(args, 0, sizeof *args);
    args->body = cJSON_CreateObject();
    if (!args->body) {
        snprintf(err, errlen, "内存不足 / out of memory");
        return -1;
    }
    if (parse_into(argc, argv, args, err, errlen) != 0) {
        cJSON_Delete(args->body);
        args->body = NULL;
        return -1;
    }
    return 0;
}

/* ---- paging -------------------------------------------------------------- */

/* The broker lists newest first: by ticket, descending (tickets are
 * numbered in the order requests come in). A request submitted while we page
 * pushes the rest down one place, so the next page starts with one already
 * taken: one whose ticket is not below the last one taken. Returns true if
 * item comes after that ticket. */
static bool comes_after(const cJSON *item, long ticket)
{
    long t = cli_json_long(item, "ticket", 0);
    return t < ticket;
}

int cli_list_fetch_all(cli_ctx_t *ctx, const cJSON *body, cJSON **merged, FILE *progress)
{
    *merged = NULL;
    int rc = CLI_EXIT_OK;
    long start = cli_json_long(body, "offset", 0);
    long offset = start, total = 0;
    long last_ticket = 0;
    bool have_last = false;
    int pages = 0;
    cJSON *page = cJSON_Duplicate(body, 1);
    cJSON *out = cJSON_CreateObject();
    cJSON *all = out ? cJSON_AddArrayToObject(out, "requests") : NULL;
    if (!page || !all) {
        fputs("bianmin: 内存不足 / out of memory\n", stderr);
        rc = CLI_EXIT_UNREACHABLE;
        goto out;
    }
    for (;;) {
        cJSON *reply = NULL;
        cJSON_DeleteItemFromObjectCaseSensitive(page, "offset");
        cJSON_AddNumberToObject(page, "offset", (double)offset);
        rc = cli_call(ctx, BM_CMD_LIST, page, &reply);
        if (rc != CLI_EXIT_OK)
            goto out;
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(reply, "requests");
        int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
        total = cli_json_long(reply, "total", 0);
        for (int k = 0; k < n; k++) {
            cJSON *item = cJSON_DetachItemFromArray(arr, 0);
            if (have_last && !comes_after(item, last_ticket)) {
                cJSON_Delete(item); /* seen on the page before */
                continue;
            }
            last_ticket = cli_json_long(item, "ticket", 0);
            have_last = true;
            cJSON_AddItemToArray(all, item);
        }
        cJSON_Delete(reply);
        offset += n;
        pages++;
        if (progress && (pages > 1 || offset < total))
            fprintf(progress, "\rbianmin list: 已取 %d / %ld 件 / %d of %ld requests fetched",
                    cJSON_GetArraySize(all), total > start ? total - start : 0,
                    cJSON_GetArraySize(all), total > start ? total - start : 0);
        if (n == 0 || offset >= total)
            break;
    }
    if (progress && pages > 1)
        fputc('\n', progress);
    cJSON_AddNumberToObject(out, "total", (double)total);
    cJSON_AddNumberToObject(out, "offset", (double)start);
    cJSON_AddNumberToObject(out, "limit", (double)cJSON_GetArraySize(all));
    *merged = out;
    out = NULL;
out:
    cJSON_Delete(out);
    cJSON_Delete(page);
    return rc;
}

/* ---- formatting ---------------------------------------------------------- */

static const cli_column_t list_cols[LIST_COLS] = {
    {"工单", 0, true},
    {"状态", 0, false},
    {"类别", 0, false},
    {"楼栋/单元", CLI_LIST_MAX_BUILDING, false},
    {"志愿者", CLI_LIST_MAX_NAME, false},
    {"受理时间", 0, false},
    {"", 0, false},
};

static void request_row(cli_table_t *t, const cJSON *r)
{
    char ticket[32], status[MAX_CELL], category[MAX_CELL], place[MAX_CELL], when[64];
    const char *s = cli_json_str(r, "status");
    const char *slabel = cli_status_label(s);
    snprintf(ticket, sizeof ticket, "%ld", cli_json_long(r, "ticket", 0));
    snprintf(status, sizeof status, "%s%s%s", s ? s : "?", slabel ? " " : "",
             slabel ? slabel : "");

    const char *cat = cli_json_str(r, "category");
    const char *clabel = cli_json_str(r, "category_label");
    if (!clabel)
        clabel = cli_category_label(cat);
    snprintf(category, sizeof category, "%s%s", clabel ? clabel : cat ? cat : "?",
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "urgent")) ? " 急" : "");

    const char *building = cli_json_str(r, "building");
    const char *unit = cli_json_str(r, "unit");
    snprintf(place, sizeof place, "%s%s%s", building ? building : "-",
             unit && *unit ? " " : "", unit && *unit ? unit : "");

    const cJSON *vol = cJSON_GetObjectItemCaseSensitive(r, "volunteer");
    const char *name = cli_json_str(vol, "name");
    if (!name)
        name = cli_json_str(vol, "id");

    const char *cells[LIST_COLS] = {
        ticket, status, category, place, name ? name : "-",
        cli_local_time(cli_json_str(r, "created_at"), when, sizeof when),
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "overdue")) ? "超时 overdue" : "",
    };
    cli_table_add(t, cells);
}

bool cli_page_read(FILE *out, const cJSON *reply, const char *key, const char *noun,
                   cli_page_t *page)
{
    page->items = cJSON_GetObjectItemCaseSensitive(reply, key);
    page->n = cJSON_IsArray(page->items) ? cJSON_GetArraySize(page->items) : 0;
    page->total = cli_json_long(reply, "total", page->n);
    page->offset = cli_json_long(reply, "offset", 0);
    if (page->n > 0)
        return true;
    if (page->total == 0)
        fprintf(out, "没有符合条件的记录 / no %s match (showing 0 of 0)\n", noun);
    else
        fprintf(out, "超出范围 / showing none of %ld (--offset %ld is past the end)\n", page->total,
                page->offset);
    return false;
}

void cli_page_footer(FILE *out, const cli_page_t *page, bool next_hint)
{
    long end = page->offset + page->n;
    fprintf(out, "第 %ld-%ld 条，共 %ld 条 / showing %ld-%ld of %ld", page->offset + 1, end,
            page->total, page->offset + 1, end, page->total);
    if (next_hint && end < page->total)
        fprintf(out, " (下一页 next page: --offset %ld)", end);
    fputc('\n', out);
}

void cli_format_list(FILE *out, const cJSON *reply, bool next_hint)
{
    cli_page_t page;
    if (!cli_page_read(out, reply, "requests", "requests", &page))
        return;
    cli_table_t *t = cli_table_new(list_cols, LIST_COLS);
    if (!t)
        return;
    const cJSON *r = NULL;
    cJSON_ArrayForEach(r, page.items)
    {
        request_row(t, r);
    }
    cli_table_print(t, out);
    cli_table_destroy(&t);
    cli_page_footer(out, &page, next_hint);
}

int cli_list_run(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_list_args_t args;
    char err[512];
    if (cli_list_parse(argc, argv, &args, err, sizeof err) != 0)
        return cli_usage_error(argv[0], err);
    if (args.help) {
        cJSON_Delete(args.body);
        cli_list_help(stdout);
        return CLI_EXIT_OK;
    }
    cJSON *reply = NULL;
    int rc;
    if (args.all)
        rc = cli_list_fetch_all(ctx, args.body, &reply, isatty(STDERR_FILENO) ? stderr : NULL);
    else
        rc = cli_call(ctx, BM_CMD_LIST, args.body, &reply);
    cJSON_Delete(args.body);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (ctx->json)
        cli_print_json_line(stdout, reply);
    else
        cli_format_list(stdout, reply, !args.all);
    cJSON_Delete(reply);
    return CLI_EXIT_OK;
}
