/* stats.c - `bianmin stats`: the office's monthly figures (lib/stats.h),
 * read from the database file opened read-only, as terminal tables, JSON,
 * CSV or one self-contained HTML page; and the argument parsing `bianmin
 * export` shares. */
#include "jsonx.h"
#include "report.h"
#include "stats.h"
#include "util.h"
#include "width.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_stats_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [--json] stats --month YYYY-MM [--tz ZONE] [--db PATH]\n"
          "          [--config FILE] [--json | --csv | --html FILE]\n"
          "\n"
          "办公室的月度统计：按渠道和类别收到的请求，完成、上报、取消数，月底未完成的\n"
          "按时长分布，接单和完成用时的中位数和90分位，期限内完成的比例，一次修好率、\n"
          "重开率、上报率，满意度（满意率、平均分、评价率），以及每位志愿者和每栋楼的\n"
          "表格。没有数据可算的数（如没有评价）显示为 \"—\"（JSON 里为 null），不是 0。\n"
          "定义见 docs/stats.md。它直接只读数据库文件（可与服务站同时运行，不会阻塞它），\n"
          "不经过服务站。\n"
          "The office's monthly figures: requests received by channel and category,\n"
          "done, escalated, cancelled, open at month end by age, median and 90th\n"
          "percentile time to claim and to done, share done within the service-level\n"
          "deadline, first-time fix, reopen and escalation rates, satisfaction (CSAT,\n"
          "mean score, response rate), and tables per volunteer and per building.\n"
          "A figure with nothing to compute it from (e.g. no ratings) is shown as \"—\"\n"
          "(null in JSON), never as 0. Definitions: docs/stats.md.\n"
          "It reads the database file directly, read-only (it may run beside the\n"
          "broker; it never blocks it), not through the broker.\n"
          "\n"
          "选项 / options:\n"
          "  --month YYYY-MM  月份，必填 / the month (required)\n"
          "  --tz ZONE        办公室的时区，决定月和日的界线 / the office's time zone\n"
          "                   for month and day boundaries: an IANA name\n"
          "                   (Asia/Shanghai) or an offset (+08:00 = UTC+8, east;\n"
          "                   \"UTC+8\" is refused: POSIX reads it as UTC-8). Default:\n"
          "                   the config's time_zone, else TZ, else the system's zone;\n"
          "                   a bad zone is an error, never UTC\n"
          "  --db PATH        数据库文件 / the database file (default: $" CLI_ENV_DB ",\n"
          "                   else the config's database, else " BM_DEFAULT_DATABASE ")\n"
          "  --config FILE    服务站配置（类别名称和期限）/ the broker's config, for\n"
          "                   categories' labels and deadlines (default: built-in)\n"
          "  --json           一行 JSON / one JSON object (stable keys) on one line\n"
          "  --csv            CSV / CSV on stdout (UTF-8 with BOM; section,key,value)\n"
          "  --html FILE      带图表的网页 / one self-contained HTML page with charts\n"
          "\n"
          "例子 / examples:\n"
          "  bianmin stats --month 2026-11 --tz Asia/Shanghai\n"
          "  bianmin stats --month 2026-11 --html 2026-11.html\n"
          "  bianmin stats --month 2026-11 --csv > 2026-11.csv\n",
          out);
}

int cli_report_parse(int argc, char **argv, bool is_export, bool json, cli_report_args_t *args,
                     char *err, size_t errlen)
{
    memset(args, 0, sizeof *args);
    args->fmt = json ? CLI_REPORT_JSON : CLI_REPORT_TEXT;
    bool have_month = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            args->help = true;
            return 0;
        }
        if (!is_export && strcmp(argv[i], "--json") == 0) {
            args->fmt = CLI_REPORT_JSON;
            continue;
        }
        if (!is_export && strcmp(argv[i], "--csv") == 0) {
            args->fmt = CLI_REPORT_CSV;
            continue;
        }
        if (!is_export && (m = cli_opt_value(argc, argv, &i, "--html", &v, err, errlen)) != 0) {
            if (m < 0 || !*v) {
                snprintf(err, errlen, "需要文件名 / --html needs a file name");
                return -1;
            }
            args->fmt = CLI_REPORT_HTML;
            args->out = v;
            continue;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--month", &v, err, errlen)) != 0) {
            if (m < 0 || bm_stats_parse_month(v, &args->year, &args->month) != 0) {
                snprintf(err, errlen, "--month 需要年月 YYYY-MM，如 2026-11 / --month needs a month as YYYY-MM, e.g. 2026-11");
                return -1;
            }
            have_month = true;
            continue;
        }
        const char **slot = NULL;
        const char *name = NULL;
        if ((m = cli_opt_value(argc, argv, &i, "--tz", &v, err, errlen)) != 0) {
            slot = &args->tz;
            name = "--tz";
        } else if ((m = cli_opt_value(argc, argv, &i, "--db", &v, err, errlen)) != 0) {
            slot = &args->db;
            name = "--db";
        } else if ((m = cli_opt_value(argc, argv, &i, "--config", &v, err, errlen)) != 0) {
            slot = &args->config;
            name = "--config";
        } else if (is_export &&
                   (m = cli_opt_value(argc, argv, &i, "--archive", &v, err, errlen)) != 0) {
            slot = &args->archive;
            name = "--archive";
        }
        if (slot) {
            if (m < 0 || !*v) {
                snprintf(err, errlen, "%s 缺少值 / %s needs a value", name, name);
                return -1;
            }
            *slot = v;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            snprintf(err, errlen, "未知选项 / unknown option %s", argv[i]);
            return -1;
        }
        if (is_export && !args->out) {
            args->out = argv[i];
            continue;
        }
        snprintf(err, errlen, "多余的参数 / unexpected argument %s", argv[i]);
        return -1;
    }
    if (!have_month) {
        snprintf(err, errlen, "缺少 --month YYYY-MM / --month YYYY-MM is required");
        return -1;
    }
    if (is_export && !args->out) {
        snprintf(err, errlen, "缺少输出文件夹 DIR / export needs the folder to write to (DIR)");
        return -1;
    }
    if (!args->db) {
        const char *env = getenv(CLI_ENV_DB);
        args->db = env && *env ? env : NULL; /* else: the config's, or the default */
    }
    return 0;
}

int cli_report_config(const cli_report_args_t *args, bm_config_t *cfg)
{
    bm_config_defaults(cfg);
    if (args->config) {
        bm_error_t err = {0};
        if (bm_config_load(cfg, args->config, &err) != 0) {
            cli_fail(NULL, CLI_EXIT_CONFIG, err.code, err.field, err.message);
            return -1;
        }
    }
    if (args->db)
        bm_strlcpy(cfg->database, args->db, sizeof cfg->database);
    return 0;
}

int cli_report_start(cli_ctx_t *ctx, int argc, char **argv, bool is_export,
                     cli_report_args_t *args, bm_config_t **cfg)
{
    const char *name = is_export ? "export" : "stats";
    char err[256];
    *cfg = NULL;
    if (cli_report_parse(argc, argv, is_export, ctx->json, args, err, sizeof err) != 0) {
        return cli_usage_error(name, err);
    }
    if (args->help) {
        if (is_export)
            cli_export_help(stdout);
        else
            cli_stats_help(stdout);
        return CLI_EXIT_OK;
    }
    *cfg = malloc(sizeof **cfg);
    if (!*cfg || cli_report_config(args, *cfg) != 0) {
        int rc = *cfg ? CLI_EXIT_CONFIG : BM_EXIT_INTERNAL;
        free(*cfg);
        *cfg = NULL;
        return rc;
    }
    return CLI_EXIT_OK;
}

/* ---- terminal tables ----------------------------------------------------- */

/* "a.b.c": the report's figures are read by path (short: the tables use it a lot). */
static const cJSON *at(const cJSON *o, const char *path)
{
    return bm_json_path(o, path);
}

static const char *label(const cJSON *report, const char *kind, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(at(at(report, "labels"), kind), name);
    return cJSON_IsString(v) ? v->valuestring : name;
}

static void kv_row(cli_table_t *t, const char *name, const cJSON *v, bm_fmt_t how, const char *of)
{
    char buf[64], extra[96] = "";
    bm_stats_fmt(v, how, buf, sizeof buf);
    if (of)
        snprintf(extra, sizeof extra, "%s", of);
    const char *cells[3] = {name, buf, extra};
    cli_table_add(t, cells);
}

/* "n/of" for a ratio object. */
static const char *ratio_note(const cJSON *r, char *buf, size_t len)
{
    char n[32], of[32];
    snprintf(buf, len, "%s/%s", bm_stats_fmt(at(r, "n"), BM_FMT_COUNT, n, sizeof n),
             bm_stats_fmt(at(r, "of"), BM_FMT_COUNT, of, sizeof of));
    return buf;
}

static void print_table(FILE *out, const char *title, cli_table_t *t)
{
    fprintf(out, "\n%s\n", title);
    cli_table_print(t, out);
}

void cli_format_stats(FILE *out, const cJSON *report)
{
    const cJSON *month = at(report, "month"), *tz = at(report, "tz");
    fprintf(out, "便民服务月度统计 %s  (时区 %s)\n",
            cJSON_IsString(month) ? month->valuestring : "",
            cJSON_IsString(tz) ? tz->valuestring : "");
    fputs("“—” = 无数据（不是 0）；定义见 docs/stats.md\n", out);

    static const cli_column_t kv_cols[] = {
        {"指标 figure", 0, false}, {"值 value", 0, true}, {"", 0, true}};
    cli_table_t *t = cli_table_new(kv_cols, 3);
    if (!t)
        return;
    char note[96];
    kv_row(t, "受理 received", at(report, "received.total"), BM_FMT_COUNT, NULL);
    kv_row(t, "完成 done", at(report, "done.total"), BM_FMT_COUNT, NULL);
    kv_row(t, "  志愿者完成 completed", at(report, "done.completed"), BM_FMT_COUNT, NULL);
    kv_row(t, "  部门解决 resolved", at(report, "done.resolved"), BM_FMT_COUNT, NULL);
    kv_row(t, "上报 escalated", at(report, "escalated"), BM_FMT_COUNT, NULL);
    kv_row(t, "取消 cancelled", at(report, "cancelled"), BM_FMT_COUNT, NULL);
    kv_row(t, "重开 reopened", at(report, "reopened"), BM_FMT_COUNT, NULL);
    kv_row(t, "时限内完成 within deadline", at(report, "sla.rate"), BM_FMT_PERCENT,
           ratio_note(at(report, "sla"), note, sizeof note));
    kv_row(t, "一次修好 first-time fix", at(report, "first_time_fix.rate"), BM_FMT_PERCENT,
           ratio_note(at(report, "first_time_fix"), note, sizeof note));
    kv_row(t, "重开率 reopen rate", at(report, "reopen.rate"), BM_FMT_PERCENT,
           ratio_note(at(report, "reopen"), note, sizeof note));
    kv_row(t, "上报率 escalation rate", at(report, "escalation.rate"), BM_FMT_PERCENT,
           ratio_note(at(report, "escalation"), note, sizeof note));
    kv_row(t, "满意度 CSAT (4-5分)", at(report, "satisfaction.csat"), BM_FMT_PERCENT, NULL);
    kv_row(t, "平均评分 mean score", at(report, "satisfaction.mean"), BM_FMT_MEAN, NULL);
    char rated[32], done[32];
    snprintf(note, sizeof note, "%s/%s",
             bm_stats_fmt(at(report, "satisfaction.rated"), BM_FMT_COUNT, rated, sizeof rated),
             bm_stats_fmt(at(report, "satisfaction.done"), BM_FMT_COUNT, done, sizeof done));
    kv_row(t, "评价率 response rate", at(report, "satisfaction.response_rate"), BM_FMT_PERCENT,
           note);
    kv_row(t, "接单用时中位数 claim p50", at(report, "times.all.claim.p50_s"), BM_FMT_DURATION,
           NULL);
    kv_row(t, "接单用时 P90 claim p90", at(report, "times.all.claim.p90_s"), BM_FMT_DURATION, NULL);
    kv_row(t, "完成用时中位数 done p50", at(report, "times.all.done.p50_s"), BM_FMT_DURATION, NULL);
    kv_row(t, "完成用时 P90 done p90", at(report, "times.all.done.p90_s"), BM_FMT_DURATION, NULL);
    print_table(out, "概览 summary", t);
    cli_table_destroy(&t);

    static const cli_column_t open_cols[] = {{"<1天", 0, true},  {"1-3天", 0, true},
                                             {"3-7天", 0, true}, {">=7天", 0, true},
                                             {"合计 total", 0, true}};
    t = cli_table_new(open_cols, 5);
    if (t) {
        char b[5][32];
        const char *cells[5] = {
            bm_stats_fmt(at(report, "open_at_end.lt_1d"), BM_FMT_COUNT, b[0], 32),
            bm_stats_fmt(at(report, "open_at_end.d1_3"), BM_FMT_COUNT, b[1], 32),
            bm_stats_fmt(at(report, "open_at_end.d3_7"), BM_FMT_COUNT, b[2], 32),
            bm_stats_fmt(at(report, "open_at_end.ge_7d"), BM_FMT_COUNT, b[3], 32),
            bm_stats_fmt(at(report, "open_at_end.total"), BM_FMT_COUNT, b[4], 32)};
        cli_table_add(t, cells);
        /* The month still running: open requests are aged now, not at its end. */
        const cJSON *as_of = at(report, "as_of_local"), *until = at(report, "until_local");
        bool running = cJSON_IsString(as_of) && cJSON_IsString(until) &&
                       strcmp(as_of->valuestring, until->valuestring) != 0;
        char title[160];
        if (running)
            snprintf(title, sizeof title, "截至 %s 未完成（已等待）open now (%s), by age",
                     as_of->valuestring, as_of->valuestring);
        else
            snprintf(title, sizeof title, "月末未完成（已等待）open at month end, by age");
        print_table(out, title, t);
        cli_table_destroy(&t);
    }

    static const cli_column_t chan_cols[] = {{"渠道 channel", 0, false}, {"受理 received", 0, true}};
    t = cli_table_new(chan_cols, 2);
    const cJSON *c;
    if (t) {
        cJSON_ArrayForEach(c, at(report, "received.by_channel"))
        {
            char b[32];
            const char *cells[2] = {label(report, "channels", c->string),
                                    bm_stats_fmt(c, BM_FMT_COUNT, b, sizeof b)};
            cli_table_add(t, cells);
        }
        print_table(out, "按渠道 by channel", t);
        cli_table_destroy(&t);
    }

    static const cli_column_t cat_cols[] = {
        {"类别 category", 0, false}, {"受理", 0, true},       {"完成", 0, true},
        {"接单p50", 0, true},        {"接单p90", 0, true},    {"完成p50", 0, true},
        {"完成p90", 0, true},        {"时限内 in time", 0, true}};
    t = cli_table_new(cat_cols, 8);
    if (t) {
        cJSON_ArrayForEach(c, at(report, "received.by_category"))
        {
            const cJSON *tm = cJSON_GetObjectItemCaseSensitive(at(report, "times.by_category"),
                                                               c->string);
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(at(report, "sla.by_category"),
                                                              c->string);
            char b[7][32];
            const char *cells[8] = {
                label(report, "categories", c->string),
                bm_stats_fmt(c, BM_FMT_COUNT, b[0], 32),
                bm_stats_fmt(cJSON_GetObjectItemCaseSensitive(at(report, "done.by_category"),
                                                              c->string),
                             BM_FMT_COUNT, b[1], 32),
                bm_stats_fmt(at(tm, "claim.p50_s"), BM_FMT_DURATION, b[2], 32),
                bm_stats_fmt(at(tm, "claim.p90_s"), BM_FMT_DURATION, b[3], 32),
                bm_stats_fmt(at(tm, "done.p50_s"), BM_FMT_DURATION, b[4], 32),
                bm_stats_fmt(at(tm, "done.p90_s"), BM_FMT_DURATION, b[5], 32),
                bm_stats_fmt(at(s, "rate"), BM_FMT_PERCENT, b[6], 32)};
            cli_table_add(t, cells);
        }
        print_table(out, "按类别 by category", t);
        cli_table_destroy(&t);
    }

    static const cli_column_t vol_cols[] = {
        {"编号 id", 0, false},        {"姓名 name", CLI_LIST_MAX_NAME, false},
        {"完成 done", 0, true},       {"接单到完成 p50", 0, true},
        {"评价数 rated", 0, true},    {"平均评分 mean", 0, true}};
    t = cli_table_new(vol_cols, 6);
    if (t) {
        cJSON_ArrayForEach(c, at(report, "volunteers"))
        {
            const cJSON *name = at(c, "name");
            char b[4][32];
            const char *cells[6] = {
                cJSON_IsString(at(c, "id")) ? at(c, "id")->valuestring : "",
                cJSON_IsString(name) ? name->valuestring : "—",
                bm_stats_fmt(at(c, "completed"), BM_FMT_COUNT, b[0], 32),
                bm_stats_fmt(at(c, "median_claim_to_done_s"), BM_FMT_DURATION, b[1], 32),
                bm_stats_fmt(at(c, "rated"), BM_FMT_COUNT, b[2], 32),
                bm_stats_fmt(at(c, "mean_rating"), BM_FMT_MEAN, b[3], 32)};
            cli_table_add(t, cells);
        }
        print_table(out, "志愿者 volunteers", t);
        cli_table_destroy(&t);
    }

    static const cli_column_t bld_cols[] = {{"楼栋 building", CLI_LIST_MAX_BUILDING, false},
                                            {"受理", 0, true},
                                            {"完成", 0, true},
                                            {"评价数", 0, true},
                                            {"平均评分", 0, true}};
    t = cli_table_new(bld_cols, 5);
    if (t) {
        cJSON_ArrayForEach(c, at(report, "buildings"))
        {
            char b[4][32];
            const char *cells[5] = {
                cJSON_IsString(at(c, "building")) ? at(c, "building")->valuestring : "",
                bm_stats_fmt(at(c, "received"), BM_FMT_COUNT, b[0], 32),
                bm_stats_fmt(at(c, "done"), BM_FMT_COUNT, b[1], 32),
                bm_stats_fmt(at(c, "rated"), BM_FMT_COUNT, b[2], 32),
                bm_stats_fmt(at(c, "mean_rating"), BM_FMT_MEAN, b[3], 32)};
            cli_table_add(t, cells);
        }
        print_table(out, "楼栋 buildings", t);
        cli_table_destroy(&t);
    }
}

/* ---- run ----------------------------------------------------------------- */

int cli_stats_run(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_report_args_t args;
    bm_config_t *cfg = NULL;
    int rc = cli_report_start(ctx, argc, argv, false, &args, &cfg);
    if (!cfg)
        return rc;
    rc = CLI_EXIT_REFUSED;
    bm_error_t e = {0};
    cJSON *report = NULL;
    sqlite3 *db = bm_stats_open(cfg->database, &e);
    if (!db || bm_stats_compute(db, cfg, args.year, args.month,
                                 args.tz && *args.tz ? args.tz : cfg->time_zone, &report,
                                 &e) != 0) {
        rc = e.code && strcmp(e.code, BM_ERR_INVALID) == 0 && strcmp(e.field, "tz") == 0
                 ? CLI_EXIT_USAGE
                 : CLI_EXIT_REFUSED;
        cli_fail("stats", rc, e.code, e.field, e.message);
        goto out;
    }
    switch (args.fmt) {
    case CLI_REPORT_JSON: /* one JSON line, like every --json result */
        cli_print_json_line(stdout, report);
        rc = CLI_EXIT_OK;
        break;
    case CLI_REPORT_CSV:
        rc = bm_stats_write_csv(stdout, report) == 0 ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
        break;
    case CLI_REPORT_HTML: {
        FILE *f = fopen(args.out, "w");
        if (!f) {
            char msg[1200];
            snprintf(msg, sizeof msg, "无法写入 / cannot write %s: %s", args.out, strerror(errno));
            rc = cli_fail("stats", CLI_EXIT_IO, "io", NULL, msg);
            break;
        }
        int w = bm_stats_write_html(f, report);
        if (fclose(f) != 0 || w != 0) {
            char msg[1200];
            snprintf(msg, sizeof msg, "写入失败 / writing %s failed", args.out);
            rc = cli_fail("stats", CLI_EXIT_IO, "io", NULL, msg);
            break;
        }
        if (ctx->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddBoolToObject(j, "ok", true);
            cJSON_AddStringToObject(j, "html", args.out);
            cli_print_json_line(stdout, j);
            cJSON_Delete(j);
        } else {
            fprintf(stderr, "bianmin stats: 已写入 / wrote %s\n", args.out);
        }
        rc = CLI_EXIT_OK;
        break;
    }
    case CLI_REPORT_TEXT:
        cli_format_stats(stdout, report);
        rc = CLI_EXIT_OK;
        break;
    }
out:
    cJSON_Delete(report);
    sqlite3_close(db);
    free(cfg);
    return rc;
}
