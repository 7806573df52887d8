/* export.c - `bianmin export`: the month's case archive (案卷) as an
 * inspection reads it: requests.csv and events.csv (RFC 4180, UTF-8 with a
 * BOM), requests.json (each request with its timeline and photos),
 * cases-NNNN.html (each case's timeline, notes and photos, a page per
 * BM_DEFAULT_EXPORT_PAGE cases) and index.html (their contents), with the
 * photos copied from the archive folder into DIR/photos/. Read-only on the
 * database file; one case at a time is in memory. */
#define _POSIX_C_SOURCE 200809L
#include "archive.h"
#include "jsonx.h"
#include "lifecycle.h"
#include "report.h"
#include "stats.h"
#include "tz.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void cli_export_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin export --month YYYY-MM DIR [--tz ZONE] [--db PATH] [--archive PATH]\n"
          "          [--config FILE]\n"
          "\n"
          "把当月的案卷写进文件夹 DIR（没有就新建），供检查用：当月（办公室时区）收到的\n"
          "每个请求，连同完整时间线、备注和照片。CSV 和网页里是所给时区的本地时间\n"
          "（requests.json 为 ISO 8601 UTC）。只读数据库文件。\n"
          "Writes the month's case archive for an inspection into the folder DIR\n"
          "(created if missing): every request received in the month (in the office's\n"
          "time zone) with its whole timeline, notes and photos. Times in the CSV files\n"
          "and the pages are local times in the time zone given (requests.json has ISO\n"
          "8601 UTC). It reads the database file read-only.\n"
          "  requests.csv   每个请求一行 / one row per request (UTF-8 with BOM, RFC 4180\n"
          "                 quoting: Excel opens Chinese correctly)\n"
          "  events.csv     每个事件一行 / one row per event (the timelines)\n"
          "  requests.json  同上的 JSON / the same as JSON, with \"timeline\", \"photos\"\n"
          "  index.html     目录 / the contents: one line per page of cases\n"
          "  cases-0001.html ...  案卷，每页200件 / the cases, 200 per page: each\n"
          "                 case's timeline, notes and photos\n"
          "  photos/        照片 / the photos, copied from the archive folder\n"
          "\n"
          "选项 / options:\n"
          "  --month YYYY-MM  月份，必填 / the month (required)\n"
          "  --tz ZONE        时区 / Asia/Shanghai or +08:00 (default: the config's\n"
          "                   time_zone, else TZ, else the system's zone; \"UTC+8\" is\n"
          "                   refused)\n"
          "  --db PATH        数据库文件 / the database file (default: $" CLI_ENV_DB ",\n"
          "                   else " BM_DEFAULT_DATABASE ")\n"
          "  --archive PATH   照片存档 / the photo archive (default: \"archive\" beside\n"
          "                   the database)\n"
          "  --config FILE    服务站配置 / the broker's config (database, archive_dir)\n"
          "\n"
          "例子 / example:\n"
          "  bianmin export --month 2026-11 --tz Asia/Shanghai 案卷-2026-11\n",
          out);
}

typedef struct {
    const char *dir, *archive;
    int photos, missing;
    cJSON *names; /* volunteer id -> name; owned */
    /* Prepared once for the whole export (a prepare of the timeline view
     * costs more than reading one request's timeline); owned. */
    sqlite3_stmt *photos_q, *timeline_q;
} export_t;

/* Volunteers' names by id, for showing actors as people. Caller owns. */
static cJSON *volunteer_names(sqlite3 *db)
{
    cJSON *o = cJSON_CreateObject();
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, name FROM volunteers", -1, &s, NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW) {
            const unsigned char *id = sqlite3_column_text(s, 0), *name = sqlite3_column_text(s, 1);
            if (id && name && *name)
                cJSON_AddStringToObject(o, (const char *)id, (const char *)name);
        }
    }
    sqlite3_finalize(s);
    return o;
}

static void local_time(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0) {
        bm_strlcpy(buf, "", len);
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&s, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        bm_strlcpy(buf, "", len);
}

static const char *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : NULL;
}

static int64_t col_ms(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, i);
}

static const char *ext_of(const char *mime)
{
    if (!mime)
        return NULL;
    if (strcmp(mime, "image/jpeg") == 0)
        return "jpg";
    if (strcmp(mime, "image/png") == 0)
        return "png";
    if (strcmp(mime, "image/webp") == 0)
        return "webp";
    return NULL;
}

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return true;
}

/* Copies src to dst (through a temp name, so a partial copy never looks
 * whole). Returns 0 or -1. */
static int copy_file(const char *src, const char *dst)
{
    char tmp[2048 + 8];
    snprintf(tmp, sizeof tmp, "%s.part", dst);
    FILE *in = fopen(src, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            rc = -1;
            break;
        }
    }
    if (ferror(in))
        rc = -1;
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -1;
    if (rc != 0)
        remove(tmp);
    return rc;
}

/* The photos of one request, copied into dir/photos; returns the array. */
static cJSON *photos_of(sqlite3 *db, int64_t ticket, export_t *x)
{
    cJSON *arr = cJSON_CreateArray();
    if (!x->photos_q &&
        sqlite3_prepare_v2(db,
                           "SELECT a.sha256, a.mime, a.size, a.kind, a.name, a.created_at, e.kind,"
                           " a.event_id FROM attachments a JOIN events e ON e.id = a.event_id"
                           " WHERE a.request_id = ?1 ORDER BY a.id",
                           -1, &x->photos_q, NULL) != SQLITE_OK)
        return arr;
    sqlite3_stmt *s = x->photos_q;
    sqlite3_bind_int64(s, 1, ticket);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *sha = col_str(s, 0), *mime = col_str(s, 1), *ext = ext_of(mime);
        cJSON *p = cJSON_CreateObject();
        bm_json_add_str(p, "sha256", sha);
        bm_json_add_str(p, "mime", mime);
        cJSON_AddNumberToObject(p, "size", (double)sqlite3_column_int64(s, 2));
        bm_json_add_str(p, "kind", col_str(s, 3));
        bm_json_add_str(p, "name", col_str(s, 4));
        bm_json_add_time(p, "at", col_ms(s, 5));
        bm_json_add_str(p, "event", col_str(s, 6));
        cJSON_AddNumberToObject(p, "event_id", (double)sqlite3_column_int64(s, 7));
        bool ok = false;
        if (hex64(sha) && ext) {
            char rel[128], src[2048], dst[2048];
            bm_archive_relpath(sha, ext, rel, sizeof rel);
            snprintf(src, sizeof src, "%s/%s", x->archive, rel);
            snprintf(dst, sizeof dst, "%s/photos/%s.%s", x->dir, sha, ext);
            struct stat st;
            ok = stat(dst, &st) == 0 || copy_file(src, dst) == 0;
            char file[128];
            snprintf(file, sizeof file, "photos/%s.%s", sha, ext);
            cJSON_AddStringToObject(p, "file", file);
            if (!ok)
                fprintf(stderr, "bianmin export: 照片缺失 / photo %s of ticket %lld is missing from %s\n",
                        rel, (long long)ticket, x->archive);
        } else {
            cJSON_AddNullToObject(p, "file");
            fprintf(stderr, "bianmin export: 照片记录有误 / ticket %lld has a photo record with a bad hash or type\n",
                    (long long)ticket);
        }
        cJSON_AddBoolToObject(p, "missing", !ok);
        x->photos += ok;
        x->missing += !ok;
        cJSON_AddItemToArray(arr, p);
    }
    sqlite3_reset(s);
    return arr;
}

static cJSON *timeline_of(sqlite3 *db, int64_t ticket, export_t *x)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *names = x->names;
    if (!x->timeline_q &&
        sqlite3_prepare_v2(db,
                           "SELECT id, at, actor, kind, from_status, to_status, detail FROM timeline"
                           " WHERE request_id = ?1 ORDER BY at, id",
                           -1, &x->timeline_q, NULL) != SQLITE_OK)
        return arr;
    sqlite3_stmt *s = x->timeline_q;
    sqlite3_bind_int64(s, 1, ticket);
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        if (sqlite3_column_type(s, 0) == SQLITE_NULL)
            cJSON_AddNullToObject(e, "id"); /* the receipt, read from the request row */
        else
            cJSON_AddNumberToObject(e, "id", (double)sqlite3_column_int64(s, 0));
        bm_json_add_time(e, "at", col_ms(s, 1));
        bm_json_add_str(e, "actor", col_str(s, 2));
        char who[256];
        cJSON_AddStringToObject(e, "actor_name", cli_actor_text(col_str(s, 2), names, who, sizeof who));
        bm_json_add_str(e, "kind", col_str(s, 3));
        bm_json_add_str(e, "from", col_str(s, 4));
        bm_json_add_str(e, "to", col_str(s, 5));
        cJSON *detail = col_str(s, 6) ? cJSON_Parse(col_str(s, 6)) : NULL;
        if (!cJSON_IsObject(detail)) {
            cJSON_Delete(detail);
            detail = cJSON_CreateObject();
        }
        cJSON_AddItemToObject(e, "detail", detail);
        /* for the CSV and the page: local time */
        char lt[32];
        local_time(col_ms(s, 1), lt, sizeof lt);
        cJSON_AddStringToObject(e, "at_local", lt);
        cJSON_AddItemToArray(arr, e);
    }
    sqlite3_reset(s);
    return arr;
}

typedef struct writer writer_t;
static int emit_case(writer_t *w, cJSON *r);

/* Reads the month's requests one by one, each with its timeline and photos,
 * and hands each to the writer (only one case is in memory at a time).
 * Returns the number of cases, or -1. */
static long read_cases(sqlite3 *db, int64_t from, int64_t until, export_t *x,
                       const bm_config_t *cfg, writer_t *w)
{
    sqlite3_stmt *s = NULL;
    long n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, channel, ref, category, priority, building, unit, contact,"
                           " text, status, volunteer_id, department, rating, rated_at, created_at,"
                           " claimed_at, done_at, deadline_at, attempts FROM requests"
                           " WHERE id IN (" BM_SQL_IDS_CREATED("created_at >= ?1 AND created_at < ?2")
                           ") ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, until);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "ticket", (double)id);
        bm_json_add_str(r, "channel", col_str(s, 1));
        bm_json_add_str(r, "ref", col_str(s, 2));
        bm_json_add_str(r, "category", col_str(s, 3));
        cJSON_AddNumberToObject(r, "priority", sqlite3_column_int(s, 4));
        bm_json_add_str(r, "building", col_str(s, 5));
        bm_json_add_str(r, "unit", col_str(s, 6));
        bm_json_add_str(r, "contact", col_str(s, 7));
        bm_json_add_str(r, "text", col_str(s, 8));
        bm_json_add_str(r, "status", col_str(s, 9));
        bm_json_add_str(r, "volunteer", col_str(s, 10));
        bm_json_add_str(r, "volunteer_name", cli_json_str(x->names, col_str(s, 10) ? col_str(s, 10) : ""));
        bm_json_add_str(r, "department", col_str(s, 11));
        if (sqlite3_column_type(s, 12) == SQLITE_NULL)
            cJSON_AddNullToObject(r, "rating");
        else
            cJSON_AddNumberToObject(r, "rating", sqlite3_column_int(s, 12));
        bm_json_add_time(r, "rated_at", col_ms(s, 13));
        bm_json_add_time(r, "received_at", col_ms(s, 14));
        bm_json_add_time(r, "claimed_at", col_ms(s, 15));
        bm_json_add_time(r, "done_at", col_ms(s, 16));
        bm_json_add_time(r, "deadline_at", col_ms(s, 17));
        cJSON_AddNumberToObject(r, "attempts", sqlite3_column_int(s, 18));
        char lt[32];
        local_time(col_ms(s, 14), lt, sizeof lt);
        cJSON_AddStringToObject(r, "received_local", lt);
        local_time(col_ms(s, 16), lt, sizeof lt);
        cJSON_AddStringToObject(r, "done_local", lt);
        cJSON_AddItemToObject(r, "timeline", timeline_of(db, id, x));
        cJSON_AddItemToObject(r, "photos", photos_of(db, id, x));
        const bm_department_t *dep = bm_config_department(cfg, cli_json_str(r, "department"));
        if (dep)
            cJSON_AddStringToObject(r, "department_name", dep->name);
        int e = emit_case(w, r);
        cJSON_Delete(r);
        if (e != 0) {
            sqlite3_finalize(s);
            return -1;
        }
        n++;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "bianmin export: 读取数据库失败 / reading the database: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    return n;
}

/* The note of an event for people: note / reason / answer / department /
 * score and comment, joined. */
static void event_note(const cJSON *ev, char *buf, size_t len)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "detail");
    buf[0] = '\0';
    size_t used = 0;
    static const char *const keys[] = {"note", "reason", "answer", "department", "comment"};
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(d, "score");
    if (cJSON_IsNumber(score))
        used += (size_t)snprintf(buf, len, "%d分", score->valueint);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && used < len; i++) {
        const char *v = cli_json_str(d, keys[i]);
        if (!v)
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? "；" : "", v);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used >= len && len > 0) {
        /* cut at a character boundary */
        size_t n = len - 1;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
            n--;
        buf[n] = '\0';
    }
}

static const char *channel_label(const char *name)
{
    const char *label = cli_channel_label(name);
    return label ? label : name;
}

/* A volunteer for people: "袁建成 (v01)", or the id if the name is unknown. */
static const char *volunteer_text(const cJSON *r, char *buf, size_t len)
{
    const char *id = cli_json_str(r, "volunteer"), *name = cli_json_str(r, "volunteer_name");
    if (!id)
        return NULL;
    if (name)
        snprintf(buf, len, "%s (%s)", name, id);
    else
        bm_strlcpy(buf, id, len);
    return buf;
}

static FILE *open_in(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "bianmin export: 无法写入 / cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int close_checked(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "bianmin export: 写入失败 / writing %s failed\n", path);
        return -1;
    }
    return 0;
}

/* One page of the case pages: which cases it holds, for the contents. */
typedef struct {
    long first, last, count;
    char from_local[32], to_local[32];
} page_t;

struct writer {
    const char *dir, *month, *tz;
    FILE *req_csv, *ev_csv, *json, *page;
    char req_path[2048], ev_path[2048], json_path[2048], page_path[2048];
    long cases;
    page_t *pages;
    size_t npages, cap;
    int page_size;
};

static void csv_request(FILE *f, const cJSON *r)
{
    char n[32];
    const cJSON *rating = cJSON_GetObjectItemCaseSensitive(r, "rating");
    snprintf(n, sizeof n, "%d", cJSON_GetObjectItemCaseSensitive(r, "ticket")->valueint);
    const char *cells[] = {n,
                           cli_json_str(r, "received_local"),
                           cli_json_str(r, "channel"),
                           cli_json_str(r, "category"),
                           cli_category_label(cli_json_str(r, "category")),
                           cli_json_str(r, "building"),
                           cli_json_str(r, "unit"),
                           cli_json_str(r, "contact"),
                           cli_json_str(r, "text"),
                           cli_json_str(r, "status"),
                           cli_status_label(cli_json_str(r, "status")),
                           cli_json_str(r, "volunteer"),
                           cli_json_str(r, "volunteer_name"),
                           cli_json_str(r, "department"),
                           cli_json_str(r, "department_name"),
                           cli_json_str(r, "done_local")};
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        bm_csv_field(f, cells[i]);
        fputc(',', f);
    }
    if (cJSON_IsNumber(rating))
        fprintf(f, "%d", rating->valueint);
    fprintf(f, ",%d,%d\r\n", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "timeline")),
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "photos")));
}

static void csv_events(FILE *f, const cJSON *r)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "timeline"))
    {
        char n[32], note[2048];
        snprintf(n, sizeof n, "%d", cJSON_GetObjectItemCaseSensitive(r, "ticket")->valueint);
        event_note(e, note, sizeof note);
        const char *cells[] = {n,
                               cli_json_str(e, "at_local"),
                               cli_json_str(e, "actor"),
                               cli_json_str(e, "actor_name"),
                               cli_json_str(e, "kind"),
                               cli_event_label(cli_json_str(e, "kind")),
                               cli_json_str(e, "from"),
                               cli_json_str(e, "to"),
                               note};
        for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
            if (i)
                fputc(',', f);
            bm_csv_field(f, cells[i]);
        }
        fputs("\r\n", f);
    }
}

static void html_field(FILE *f, const char *name, const char *value)
{
    fputs("<tr><th>", f);
    bm_html_escape(f, name);
    fputs("</th><td>", f);
    bm_html_escape(f, value && *value ? value : "—");
    fputs("</td></tr>\n", f);
}

/* The Chinese label of a case's category / status, else its name. */
static const char *category_text(const cJSON *r)
{
    const char *name = cli_json_str(r, "category");
    const char *label = cli_category_label(name);
    return label ? label : name;
}

static const char *status_text(const cJSON *r)
{
    const char *name = cli_json_str(r, "status");
    const char *label = cli_status_label(name);
    return label ? label : name;
}

/* The top of a page: charset, title, the style every page shares. */
static void html_head(FILE *f, const char *month, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
          "便民服务案卷 ",
          f);
    bm_html_escape(f, month);
    if (title) {
        fputc(' ', f);
        bm_html_escape(f, title);
    }
    fputs("</title>\n<style>\nbody{font-family:\"Noto Sans CJK SC\",\"WenQuanYi Micro Hei\","
          "sans-serif;margin:24px;color:#222;max-width:980px}\n"
          "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px "
          "8px;text-align:left;vertical-align:top;white-space:pre-wrap}"
          "th{background:#f3f5f8;white-space:nowrap}\n"
          "section{border-top:2px solid #2f6db5;margin-top:28px;padding-top:6px}\n"
          "figure{display:inline-block;margin:6px}figure img{max-width:280px;max-height:280px;"
          "border:1px solid #ccc}figcaption{font-size:12px;color:#555}\n"
          ".missing{color:#c23b53}.sub{color:#666;font-size:13px}\n"
          "</style>\n</head>\n<body>\n<h1>便民服务案卷 ",
          f);
    bm_html_escape(f, month);
    if (title) {
        fputc(' ', f);
        bm_html_escape(f, title);
    }
    fputs("</h1>\n", f);
}

/* One case's section: its fields, its timeline with notes, its photos. */
static void html_case(FILE *f, const cJSON *r)
{
    int t = cJSON_GetObjectItemCaseSensitive(r, "ticket")->valueint;
    fprintf(f, "<section id=\"t%d\">\n<h2>#%d</h2>\n<table>\n", t, t);
    char rating[16] = "";
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(r, "rating");
    if (cJSON_IsNumber(rv))
        snprintf(rating, sizeof rating, "%d分", rv->valueint);
    html_field(f, "受理时间", cli_json_str(r, "received_local"));
    html_field(f, "渠道", channel_label(cli_json_str(r, "channel")));
    html_field(f, "类别", category_text(r));
    html_field(f, "楼栋", cli_json_str(r, "building"));
    html_field(f, "单元/房号", cli_json_str(r, "unit"));
    html_field(f, "联系人", cli_json_str(r, "contact"));
    html_field(f, "内容", cli_json_str(r, "text"));
    html_field(f, "状态", status_text(r));
    char vol[256];
    html_field(f, "志愿者", volunteer_text(r, vol, sizeof vol));
    html_field(f, "上报部门", cli_json_str(r, "department_name") ? cli_json_str(r, "department_name")
                                                               : cli_json_str(r, "department"));
    html_field(f, "完成时间", cli_json_str(r, "done_local"));
    html_field(f, "评价", rating);
    fputs("</table>\n<h3>经过</h3>\n<table><tr><th>时间</th><th>事件</th><th>操作者</th>"
          "<th>备注</th></tr>\n",
          f);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "timeline"))
    {
        char note[2048];
        event_note(e, note, sizeof note);
        const char *kind = cli_json_str(e, "kind");
        fputs("<tr><td>", f);
        bm_html_escape(f, cli_json_str(e, "at_local"));
        fputs("</td><td>", f);
        bm_html_escape(f, cli_event_label(kind) ? cli_event_label(kind) : kind);
        fputs("</td><td>", f);
        bm_html_escape(f, cli_json_str(e, "actor_name"));
        fputs("</td><td>", f);
        bm_html_escape(f, note);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    const cJSON *photos = cJSON_GetObjectItemCaseSensitive(r, "photos");
    if (cJSON_GetArraySize(photos) > 0) {
        fputs("<h3>照片</h3>\n", f);
        const cJSON *p;
        cJSON_ArrayForEach(p, photos)
        {
            const char *file = cli_json_str(p, "file");
            bool missing = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "missing"));
            fputs("<figure>", f);
            if (file && !missing) {
                fputs("<a href=\"", f);
                bm_html_escape(f, file);
                fputs("\"><img src=\"", f);
                bm_html_escape(f, file);
                fputs("\" alt=\"", f);
                bm_html_escape(f, cli_json_str(p, "name") ? cli_json_str(p, "name") : "照片");
                fputs("\"></a>", f);
            } else {
                fputs("<div class=\"missing\">照片缺失（归档中找不到）</div>", f);
            }
            fputs("<figcaption>", f);
            const char *k = cli_json_str(p, "kind");
            bm_html_escape(f, k && strcmp(k, "before") == 0  ? "处理前"
                              : k && strcmp(k, "after") == 0 ? "处理后"
                                                             : "照片");
            if (cli_json_str(p, "name")) {
                fputc(' ', f);
                bm_html_escape(f, cli_json_str(p, "name"));
            }
            fputs("</figcaption></figure>\n", f);
        }
    }
    fputs("</section>\n", f);
}

static void page_name(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "cases-%04zu.html", i + 1);
}

static int grow_pages(writer_t *w)
{
    if (w->npages == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 32;
        page_t *p = realloc(w->pages, ncap * sizeof *p);
        if (!p)
            return -1;
        w->pages = p;
        w->cap = ncap;
    }
    memset(&w->pages[w->npages++], 0, sizeof *w->pages);
    return 0;
}

/* Ends the case page being written, if any, with links to the contents and
 * the pages before and after it. */
static int page_close(writer_t *w, bool has_next)
{
    if (!w->page)
        return 0;
    fputs("<p><a href=\"index.html\">目录 / contents</a>", w->page);
    char name[32];
    if (w->npages > 1) {
        page_name(w->npages - 2, name, sizeof name);
        fprintf(w->page, " · <a href=\"%s\">上一页 / previous</a>", name);
    }
    if (has_next) {
        page_name(w->npages, name, sizeof name);
        fprintf(w->page, " · <a href=\"%s\">下一页 / next</a>", name);
    }
    fputs("</p>\n</body>\n</html>\n", w->page);
    FILE *f = w->page;
    w->page = NULL;
    return close_checked(f, w->page_path);
}

/* Writes one case to every file: a row of requests.csv, its rows of
 * events.csv, an element of requests.json and a section of the case page
 * (a new page every page_size cases). */
static int emit_case(writer_t *w, cJSON *r)
{
    csv_request(w->req_csv, r);
    csv_events(w->ev_csv, r);
    char *js = cJSON_PrintUnformatted(r);
    if (!js)
        return -1;
    fputs(w->cases ? ",\n" : "\n", w->json);
    fputs(js, w->json);
    cJSON_free(js);
    if (w->cases % w->page_size == 0) {
        if (page_close(w, true) != 0 || grow_pages(w) != 0)
            return -1;
        char name[32];
        page_name(w->npages - 1, name, sizeof name);
        w->page = open_in(w->dir, name, w->page_path, sizeof w->page_path);
        if (!w->page)
            return -1;
        char title[64];
        snprintf(title, sizeof title, "第 %zu 页", w->npages);
        html_head(w->page, w->month, title);
        fputs("<p><a href=\"index.html\">目录 / contents</a></p>\n", w->page);
    }
    page_t *pg = &w->pages[w->npages - 1];
    long t = (long)cJSON_GetObjectItemCaseSensitive(r, "ticket")->valuedouble;
    if (pg->count == 0) {
        pg->first = t;
        bm_strlcpy(pg->from_local, cli_json_str(r, "received_local"), sizeof pg->from_local);
    }
    pg->last = t;
    bm_strlcpy(pg->to_local, cli_json_str(r, "received_local"), sizeof pg->to_local);
    pg->count++;
    html_case(w->page, r);
    w->cases++;
    return ferror(w->req_csv) || ferror(w->ev_csv) || ferror(w->json) || ferror(w->page) ? -1 : 0;
}

static int write_index(writer_t *w);

/* Opens requests.csv, events.csv and requests.json and writes their heads. */
static int writer_open(writer_t *w, int64_t from, int64_t until)
{
    w->req_csv = open_in(w->dir, "requests.csv", w->req_path, sizeof w->req_path);
    w->ev_csv = open_in(w->dir, "events.csv", w->ev_path, sizeof w->ev_path);
    w->json = open_in(w->dir, "requests.json", w->json_path, sizeof w->json_path);
    if (!w->req_csv || !w->ev_csv || !w->json)
        return -1;
    bm_csv_bom(w->req_csv);
    fputs("ticket,received_at,channel,category,category_label,building,unit,contact,text,status,"
          "status_label,volunteer,volunteer_name,department,department_name,done_at,rating,events,"
          "photos\r\n",
          w->req_csv);
    bm_csv_bom(w->ev_csv);
    fputs("ticket,at,actor,actor_name,kind,kind_label,from,to,note\r\n", w->ev_csv);
    /* The head of requests.json, then one request per line. */
    cJSON *head = cJSON_CreateObject();
    cJSON_AddStringToObject(head, "month", w->month);
    cJSON_AddStringToObject(head, "tz", w->tz);
    bm_json_add_time(head, "from", from);
    bm_json_add_time(head, "until", until);
    bm_json_add_time(head, "exported_at", bm_now_ms());
    cJSON_AddArrayToObject(head, "requests");
    char *text = cJSON_PrintUnformatted(head);
    cJSON_Delete(head);
    if (!text)
        return -1;
    /* everything but the empty array's closing "]}" */
    size_t n = strlen(text);
    fwrite(text, 1, n >= 2 ? n - 2 : n, w->json);
    cJSON_free(text);
    return 0;
}

/* Closes every file (all of them, also after a failure); then writes the
 * contents page. Returns 0 or -1. */
static int writer_finish(writer_t *w, bool ok)
{
    int rc = ok ? 0 : -1;
    if (w->json)
        fputs("\n]}\n", w->json);
    FILE *fs[] = {w->req_csv, w->ev_csv, w->json};
    const char *ps[] = {w->req_path, w->ev_path, w->json_path};
    for (int i = 0; i < 3; i++) {
        if (fs[i] && close_checked(fs[i], ps[i]) != 0)
            rc = -1;
    }
    if (page_close(w, false) != 0)
        rc = -1;
    if (rc == 0 && write_index(w) != 0)
        rc = -1;
    free(w->pages);
    return rc;
}

/* index.html: the contents, one line per case page (small whatever the
 * month's size, so a browser opens it at once). */
static int write_index(writer_t *w)
{
    char path[2048];
    FILE *f = open_in(w->dir, "index.html", path, sizeof path);
    if (!f)
        return -1;
    html_head(f, w->month, NULL);
    fputs("<div class=\"sub\">时区 ", f);
    bm_html_escape(f, w->tz);
    fprintf(f, "；本月受理的请求共 %ld 件，及其完整经过、备注和照片，每页 %d 件。时间为当地时间。"
               "</div>\n<h2>目录</h2>\n<table><tr><th>页</th><th>工单</th><th>受理时间</th>"
               "<th>件数</th></tr>\n",
            w->cases, w->page_size);
    for (size_t i = 0; i < w->npages; i++) {
        const page_t *pg = &w->pages[i];
        char name[32];
        page_name(i, name, sizeof name);
        fprintf(f, "<tr><td><a href=\"%s\">第 %zu 页</a></td><td>#%ld – #%ld</td><td>", name,
                i + 1, pg->first, pg->last);
        bm_html_escape(f, pg->from_local);
        fputs(" – ", f);
        bm_html_escape(f, pg->to_local);
        fprintf(f, "</td><td>%ld</td></tr>\n", pg->count);
    }
    fputs("</table>\n", f);
    if (w->cases == 0)
        fputs("<p>本月没有受理的请求。</p>\n", f);
    fputs("</body>\n</html>\n", f);
    return close_checked(f, path);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "bianmin export: 无法创建 / cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_export_run(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_report_args_t args;
    bm_config_t *cfg = NULL;
    int rc = cli_report_start(ctx, argc, argv, true, &args, &cfg);
    if (!cfg)
        return rc;
    rc = CLI_EXIT_REFUSED;
    sqlite3 *db = NULL;
    char archive[1024], photos[2048];
    int64_t from = 0, until = 0;
    char tzval[BM_TZ_MAX + 16], tzname_used[BM_TZ_MAX + 1];
    bm_error_t tzerr = {0};
    /* Times are written in the office's zone: --tz, the config's
     * time_zone, else TZ; it is set for the whole run. */
    const char *zone = args.tz && *args.tz ? args.tz : cfg->time_zone;
    if (bm_tz_office(zone, tzval, sizeof tzval, tzname_used, sizeof tzname_used, &tzerr) != 0) {
        rc = cli_fail("export", CLI_EXIT_USAGE, tzerr.code, tzerr.field, tzerr.message);
        goto out;
    }
    bm_stats_month_range(zone, args.year, args.month, &from, &until);
    if (tzval[0])
        setenv("TZ", tzval, 1);
    tzset();
    if (args.archive)
        bm_strlcpy(archive, args.archive, sizeof archive);
    else
        bm_config_archive_dir(cfg, archive, sizeof archive);

    bm_error_t e = {0};
    db = bm_stats_open(cfg->database, &e);
    if (!db) {
        cli_fail("export", rc, e.code, e.field, e.message);
        goto out;
    }
    snprintf(photos, sizeof photos, "%s/photos", args.out);
    if (make_dir(args.out) != 0 || make_dir(photos) != 0)
        goto out;

    export_t x = {.dir = args.out, .archive = archive, .names = volunteer_names(db)};
    char month[16];
    snprintf(month, sizeof month, "%04d-%02d", args.year, args.month);
    writer_t w = {.dir = args.out, .month = month, .tz = tzname_used,
                  .page_size = BM_DEFAULT_EXPORT_PAGE};
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot for the whole export */
    long cases = writer_open(&w, from, until) == 0 ? read_cases(db, from, until, &x, cfg, &w) : -1;
    sqlite3_finalize(x.photos_q);
    sqlite3_finalize(x.timeline_q);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    cJSON_Delete(x.names);
    if (writer_finish(&w, cases >= 0) != 0)
        goto out;
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", true);
        cJSON_AddStringToObject(j, "dir", args.out);
        cJSON_AddNumberToObject(j, "requests", (double)cases);
        cJSON_AddNumberToObject(j, "photos", x.photos);
        cJSON_AddNumberToObject(j, "missing_photos", x.missing);
        cli_print_json_line(stdout, j);
        cJSON_Delete(j);
    }
    fprintf(stderr, "bianmin export: %ld 个请求、%d 张照片已写入 / %ld requests, %d photos written to %s",
            cases, x.photos, cases, x.photos, args.out);
    if (x.missing)
        fprintf(stderr, "；缺 %d 张照片 / %d photos MISSING from the archive %s", x.missing,
                x.missing, archive);
    fputc('\n', stderr);
    rc = CLI_EXIT_OK;
out:
    sqlite3_close(db);
    free(cfg);
    return rc;
}
