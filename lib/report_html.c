/* report_html.c - the monthly report as one self-contained HTML page: inline
 * CSS, inline SVG charts (requests per day by category, time to done,
 * twelve-month volume and satisfaction), no scripts and no external
 * resources, so it can be mailed or archived as one file. All text from the
 * database (building names, volunteer names) is escaped. */
#include "jsonx.h"
#include "stats.h"

#include <string.h>

#define CHART_W 760
#define CHART_H 240
#define PAD_L   44
#define PAD_R   44
#define PAD_T   14
#define PAD_B   36

static const char *const palette[] = {"#2f6db5", "#e0703a", "#3a9d5d", "#c23b53", "#8a5cc2",
                                      "#b48a1e", "#3aa3b4", "#7a7a7a"};
#define NPALETTE (sizeof palette / sizeof palette[0])

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    if (n == 0)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, or a surrogate */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return n;
}

void bm_html_escape(FILE *out, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        switch (*p) {
        case '&': fputs("&amp;", out); p++; continue;
        case '<': fputs("&lt;", out); p++; continue;
        case '>': fputs("&gt;", out); p++; continue;
        case '"': fputs("&quot;", out); p++; continue;
        case '\'': fputs("&#39;", out); p++; continue;
        default: break;
        }
        if (*p < 0x20 && *p != '\t' && *p != '\n') {
            fputs("\xEF\xBF\xBD", out);
            p++;
            continue;
        }
        if (*p == 0x7F) {
            fputs("\xEF\xBF\xBD", out);
            p++;
            continue;
        }
        size_t n = utf8_seq(p);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", out);
            p++;
            continue;
        }
        fwrite(p, 1, n, out);
        p += n;
    }
}

/* "a.b.c": the report's figures are read by path (short: the tables use it a lot). */
static const cJSON *at(const cJSON *o, const char *path)
{
    return bm_json_path(o, path);
}

static double num(const cJSON *o, const char *path)
{
    const cJSON *v = at(o, path);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *label_of(const cJSON *report, const char *kind, const char *name)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(at(report, "labels"), kind);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, name);
    return cJSON_IsString(v) ? v->valuestring : name;
}

static void td(FILE *out, const cJSON *v, bm_fmt_t how)
{
    char buf[64];
    fputs("<td class=\"n\">", out);
    bm_html_escape(out, bm_stats_fmt(v, how, buf, sizeof buf));
    fputs("</td>", out);
}

/* Starts a table row with its first cell, the text escaped. */
static void row_head(FILE *out, const char *text)
{
    fputs("<tr><td>", out);
    bm_html_escape(out, text);
    fputs("</td>", out);
}

static void card(FILE *out, const char *label, const cJSON *v, bm_fmt_t how, const char *note)
{
    char buf[64];
    fputs("<div class=\"card\"><div class=\"v\">", out);
    bm_html_escape(out, bm_stats_fmt(v, how, buf, sizeof buf));
    fputs("</div><div class=\"l\">", out);
    bm_html_escape(out, label);
    fputs("</div>", out);
    if (note) {
        fputs("<div class=\"s\">", out);
        bm_html_escape(out, note);
        fputs("</div>", out);
    }
    fputs("</div>\n", out);
}

/* An axis maximum >= v for counts: four grid steps of 1, 2 or 5 times a
 * power of ten, so every grid line is a whole number. */
static double nice_max(double v)
{
    double step = 1;
    for (;;) {
        if (4 * step >= v)
            return 4 * step;
        if (8 * step >= v)
            return 8 * step;
        if (20 * step >= v)
            return 20 * step;
        step *= 10;
    }
}

static void svg_open(FILE *out, const char *id, const char *title)
{
    fprintf(out,
            "<svg id=\"%s\" class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" "
            "height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\"><title>",
            id, CHART_W, CHART_H, CHART_W, CHART_H);
    bm_html_escape(out, title);
    fputs("</title>\n", out);
}

/* Horizontal grid lines and left axis labels for [0, max]. */
static void y_grid(FILE *out, double max, const char *suffix)
{
    int plot_h = CHART_H - PAD_T - PAD_B;
    for (int i = 0; i <= 4; i++) {
        double y = PAD_T + plot_h - plot_h * i / 4.0;
        fprintf(out,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
                "<text x=\"%d\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%g%s</text>\n",
                PAD_L, y, CHART_W - PAD_R, y, PAD_L - 4, y + 4, max * i / 4.0, suffix);
    }
}

static void chart_daily(FILE *out, const cJSON *report)
{
    const cJSON *days = at(report, "daily.days");
    const cJSON *bycat = at(report, "daily.by_category");
    int ndays = cJSON_GetArraySize(days);
    if (ndays <= 0)
        return;
    double totals[32] = {0}, max = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, bycat)
    {
        for (int d = 0; d < ndays && d < 32; d++)
            totals[d] += num(cJSON_GetArrayItem(c, d), "");
    }
    for (int d = 0; d < ndays && d < 32; d++)
        max = totals[d] > max ? totals[d] : max;
    max = nice_max(max);
    svg_open(out, "chart-daily", "每日受理量（按类别）");
    y_grid(out, max, "");
    int plot_w = CHART_W - PAD_L - PAD_R, plot_h = CHART_H - PAD_T - PAD_B;
    double slot = (double)plot_w / ndays, bw = slot * 0.7;
    double base[32] = {0};
    size_t ci = 0;
    cJSON_ArrayForEach(c, bycat)
    {
        for (int d = 0; d < ndays && d < 32; d++) {
            double v = num(cJSON_GetArrayItem(c, d), "");
            if (v <= 0)
                continue;
            double h = plot_h * v / max, y = PAD_T + plot_h - plot_h * base[d] / max - h;
            fprintf(out,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>",
                    PAD_L + slot * d + (slot - bw) / 2, y, bw, h, palette[ci % NPALETTE]);
            bm_html_escape(out, cJSON_GetArrayItem(days, d)->valuestring);
            fputc(' ', out);
            bm_html_escape(out, label_of(report, "categories", c->string));
            fprintf(out, " %g</title></rect>\n", v);
            base[d] += v;
        }
        ci++;
    }
    for (int d = 0; d < ndays; d++) {
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">%d</text>",
                PAD_L + slot * d + slot / 2, CHART_H - PAD_B + 14, d + 1);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">日</text>\n",
            CHART_W / 2, CHART_H - 6);
    fputs("</svg>\n<div class=\"legend\">", out);
    ci = 0;
    cJSON_ArrayForEach(c, bycat)
    {
        fprintf(out, "<span><i style=\"background:%s\"></i>", palette[ci % NPALETTE]);
        bm_html_escape(out, label_of(report, "categories", c->string));
        fputs("</span>", out);
        ci++;
    }
    fputs("</div>\n", out);
}

/* v's text, or "" if it is not a string. */
static const char *str(const cJSON *v)
{
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void chart_hist(FILE *out, const cJSON *report)
{
    const cJSON *bins = at(report, "time_to_done_hist.labels");
    if (!cJSON_IsArray(bins))
        bins = at(report, "time_to_done_hist.bins");
    const cJSON *counts = at(report, "time_to_done_hist.counts");
    int n = cJSON_GetArraySize(bins);
    if (n <= 0)
        return;
    double max = 0;
    for (int i = 0; i < n; i++) {
        double v = num(cJSON_GetArrayItem(counts, i), "");
        max = v > max ? v : max;
    }
    max = nice_max(max);
    svg_open(out, "chart-hist", "完成用时分布");
    y_grid(out, max, "");
    int plot_w = CHART_W - PAD_L - PAD_R, plot_h = CHART_H - PAD_T - PAD_B;
    double slot = (double)plot_w / n, bw = slot * 0.8;
    for (int i = 0; i < n; i++) {
        double v = num(cJSON_GetArrayItem(counts, i), "");
        double h = plot_h * v / max;
        double x = PAD_L + slot * i + (slot - bw) / 2;
        fprintf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"middle\">%g</text>"
                "<text x=\"%.1f\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">",
                x, PAD_T + plot_h - h, bw, h, palette[0], x + bw / 2, PAD_T + plot_h - h - 3, v,
                x + bw / 2, CHART_H - PAD_B + 14);
        bm_html_escape(out, cJSON_GetArrayItem(bins, i)->valuestring);
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
}

static void chart_trend(FILE *out, const cJSON *report)
{
    const cJSON *trend = at(report, "trend");
    int n = cJSON_GetArraySize(trend);
    if (n <= 0)
        return;
    double max = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, trend)
    {
        double v = num(m, "received");
        max = v > max ? v : max;
    }
    max = nice_max(max);
    svg_open(out, "chart-trend", "近12个月受理量与满意度");
    y_grid(out, max, "");
    int plot_w = CHART_W - PAD_L - PAD_R, plot_h = CHART_H - PAD_T - PAD_B;
    double slot = (double)plot_w / n, bw = slot * 0.6;
    for (int i = 0; i <= 4; i++) {
        double y = PAD_T + plot_h - plot_h * i / 4.0;
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"ax csat\">%d%%</text>", CHART_W - PAD_R + 4,
                y + 4, 25 * i);
    }
    int i = 0;
    cJSON_ArrayForEach(m, trend)
    {
        double v = num(m, "received"), h = plot_h * v / max;
        double x = PAD_L + slot * i + (slot - bw) / 2;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "month");
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                x, PAD_T + plot_h - h, bw, h, "#9db8dc");
        bm_html_escape(out, cJSON_IsString(name) ? name->valuestring : "");
        fprintf(out, " 受理 %g</title></rect><text x=\"%.1f\" y=\"%d\" class=\"ax\" "
                     "text-anchor=\"middle\">",
                v, x + bw / 2, CHART_H - PAD_B + 14);
        bm_html_escape(out, cJSON_IsString(name) && strlen(name->valuestring) == 7
                                ? name->valuestring + 2
                                : "");
        fputs("</text>\n", out);
        i++;
    }
    /* CSAT line: broken where a month has no ratings (absent, not 0). */
    fputs("<path class=\"line\" d=\"", out);
    bool pen = false;
    i = 0;
    cJSON_ArrayForEach(m, trend)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "csat");
        if (cJSON_IsNumber(c)) {
            fprintf(out, "%c%.1f %.1f ", pen ? 'L' : 'M', PAD_L + slot * i + slot / 2,
                    PAD_T + plot_h - plot_h * c->valuedouble);
            pen = true;
        } else {
            pen = false;
        }
        i++;
    }
    fputs("\"/>\n", out);
    i = 0;
    cJSON_ArrayForEach(m, trend)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "csat");
        if (cJSON_IsNumber(c))
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" class=\"dot\"><title>满意度 %.1f%%</title></circle>\n",
                    PAD_L + slot * i + slot / 2, PAD_T + plot_h - plot_h * c->valuedouble,
                    c->valuedouble * 100);
        i++;
    }
    fputs("</svg>\n<div class=\"legend\"><span><i style=\"background:#9db8dc\"></i>受理量（左轴）"
          "</span><span><i style=\"background:#c23b53\"></i>满意度 CSAT（右轴，无评价的月份不画）"
          "</span></div>\n",
          out);
}

static const char style[] =
    "body{font-family:\"Noto Sans CJK SC\",\"WenQuanYi Micro Hei\",sans-serif;margin:24px;"
    "color:#222;max-width:980px}\n"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid "
    "#ddd;padding-bottom:4px}\n"
    ".sub{color:#666;font-size:13px}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;"
    "padding:8px 12px;min-width:110px}\n"
    ".card .v{font-size:22px;font-weight:bold}.card .l{font-size:13px;color:#444}"
    ".card .s{font-size:11px;color:#888}\n"
    "table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #ddd;"
    "padding:3px 8px}th{background:#f3f5f8;text-align:left}td.n{text-align:right}\n"
    ".chart{max-width:100%;height:auto;display:block}.grid{stroke:#e5e5e5}"
    ".ax{font-size:11px;fill:#555}\n"
    ".line{fill:none;stroke:#c23b53;stroke-width:2}.dot{fill:#c23b53}.csat{fill:#c23b53}\n"
    ".legend{font-size:12px;margin:4px 0 8px}.legend span{margin-right:14px}"
    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
    ".note{font-size:12px;color:#666}\n";

int bm_stats_write_html(FILE *out, const cJSON *report)
{
    const cJSON *month = at(report, "month");
    const char *mname = cJSON_IsString(month) ? month->valuestring : "";
    fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          out);
    fputs("便民服务月度统计 ", out);
    bm_html_escape(out, mname);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>便民服务月度统计 ", style);
    bm_html_escape(out, mname);
    fputs("</h1>\n<div class=\"sub\">时区 ", out);
    bm_html_escape(out, cJSON_IsString(at(report, "tz")) ? at(report, "tz")->valuestring : "");
    fputs("，统计区间 ", out);
    bm_html_escape(out, str(at(report, "from_local")));
    fputs(" 至 ", out);
    bm_html_escape(out, str(at(report, "until_local")));
    fputs("（当地时间）", out);
    if (str(at(report, "as_of_local"))[0] && strcmp(str(at(report, "as_of_local")),
                                                      str(at(report, "until_local"))) != 0) {
        fputs("；本月尚未结束，未完成的请求按截至 ", out);
        bm_html_escape(out, str(at(report, "as_of_local")));
        fputs(" 计算", out);
    }
    fputs("。“—”表示无数据（例如本月没有评价），不是 0。</div>\n", out);

    fputs("<h2>概览</h2>\n<div class=\"cards\">\n", out);
    card(out, "受理", at(report, "received.total"), BM_FMT_COUNT, NULL);
    card(out, "完成", at(report, "done.total"), BM_FMT_COUNT, "含部门解决");
    card(out, "上报", at(report, "escalated"), BM_FMT_COUNT, NULL);
    card(out, "取消", at(report, "cancelled"), BM_FMT_COUNT, NULL);
    card(out, "月末未完成", at(report, "open_at_end.total"), BM_FMT_COUNT, NULL);
    card(out, "满意度 CSAT", at(report, "satisfaction.csat"), BM_FMT_PERCENT, "4-5分占比");
    card(out, "平均评分", at(report, "satisfaction.mean"), BM_FMT_MEAN, NULL);
    card(out, "评价率", at(report, "satisfaction.response_rate"), BM_FMT_PERCENT, NULL);
    card(out, "时限内完成", at(report, "sla.rate"), BM_FMT_PERCENT, NULL);
    card(out, "一次修好率", at(report, "first_time_fix.rate"), BM_FMT_PERCENT, NULL);
    card(out, "重开率", at(report, "reopen.rate"), BM_FMT_PERCENT, NULL);
    card(out, "上报率", at(report, "escalation.rate"), BM_FMT_PERCENT, NULL);
    card(out, "接单用时中位数", at(report, "times.all.claim.p50_s"), BM_FMT_DURATION, NULL);
    card(out, "完成用时中位数", at(report, "times.all.done.p50_s"), BM_FMT_DURATION, NULL);
    fputs("</div>\n", out);

    fputs("<h2>每日受理量</h2>\n", out);
    chart_daily(out, report);

    fputs("<h2>按类别</h2>\n<table><tr><th>类别</th><th>受理</th><th>完成</th>"
          "<th>接单用时 中位数</th><th>接单用时 P90</th><th>完成用时 中位数</th>"
          "<th>完成用时 P90</th><th>时限内完成</th></tr>\n",
          out);
    const cJSON *c;
    cJSON_ArrayForEach(c, at(report, "received.by_category"))
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(at(report, "times.by_category"), c->string);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(at(report, "sla.by_category"), c->string);
        row_head(out, label_of(report, "categories", c->string));
        td(out, c, BM_FMT_COUNT);
        td(out, cJSON_GetObjectItemCaseSensitive(at(report, "done.by_category"), c->string),
           BM_FMT_COUNT);
        td(out, at(t, "claim.p50_s"), BM_FMT_DURATION);
        td(out, at(t, "claim.p90_s"), BM_FMT_DURATION);
        td(out, at(t, "done.p50_s"), BM_FMT_DURATION);
        td(out, at(t, "done.p90_s"), BM_FMT_DURATION);
        td(out, at(s, "rate"), BM_FMT_PERCENT);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n<h2>按渠道</h2>\n<table><tr><th>渠道</th><th>受理</th></tr>\n", out);
    cJSON_ArrayForEach(c, at(report, "received.by_channel"))
    {
        row_head(out, label_of(report, "channels", c->string));
        td(out, c, BM_FMT_COUNT);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n<h2>月末未完成（按已等待时间）</h2>\n<table><tr><th>不到1天</th><th>1-3天"
          "</th><th>3-7天</th><th>7天及以上</th><th>合计</th></tr>\n<tr>",
          out);
    td(out, at(report, "open_at_end.lt_1d"), BM_FMT_COUNT);
    td(out, at(report, "open_at_end.d1_3"), BM_FMT_COUNT);
    td(out, at(report, "open_at_end.d3_7"), BM_FMT_COUNT);
    td(out, at(report, "open_at_end.ge_7d"), BM_FMT_COUNT);
    td(out, at(report, "open_at_end.total"), BM_FMT_COUNT);
    fputs("</tr></table>\n", out);

    fputs("<h2>完成用时分布</h2>\n<div class=\"note\">本月受理的请求，从受理到完成的用时。</div>\n", out);
    chart_hist(out, report);
    fputs("<h2>近12个月</h2>\n", out);
    chart_trend(out, report);

    fputs("<h2>志愿者</h2>\n<table><tr><th>志愿者</th><th>编号</th><th>完成</th>"
          "<th>接单到完成 中位数</th><th>评价数</th><th>平均评分</th></tr>\n",
          out);
    cJSON_ArrayForEach(c, at(report, "volunteers"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
        row_head(out, cJSON_IsString(name) ? name->valuestring : "—");
        fputs("<td>", out);
        bm_html_escape(out, cJSON_GetObjectItemCaseSensitive(c, "id")->valuestring);
        fputs("</td>", out);
        td(out, at(c, "completed"), BM_FMT_COUNT);
        td(out, at(c, "median_claim_to_done_s"), BM_FMT_DURATION);
        td(out, at(c, "rated"), BM_FMT_COUNT);
        td(out, at(c, "mean_rating"), BM_FMT_MEAN);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n<h2>楼栋</h2>\n<table><tr><th>楼栋</th><th>受理</th><th>完成</th>"
          "<th>评价数</th><th>平均评分</th></tr>\n",
          out);
    cJSON_ArrayForEach(c, at(report, "buildings"))
    {
        row_head(out, cJSON_GetObjectItemCaseSensitive(c, "building")->valuestring);
        td(out, at(c, "received"), BM_FMT_COUNT);
        td(out, at(c, "done"), BM_FMT_COUNT);
        td(out, at(c, "rated"), BM_FMT_COUNT);
        td(out, at(c, "mean_rating"), BM_FMT_MEAN);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n<p class=\"note\">各项指标的定义见 docs/stats.md。</p>\n</body>\n</html>\n",
          out);
    return ferror(out) ? -1 : 0;
}
