/* test_stats_fixture.c - the fixed database of the stats and export tests.
 *
 * Volunteers v01 袁建成, v02 李芳. Default categories (deadlines: leak 4 h,
 * lock 24 h, pipe 48 h, repair 72 h, other 7 d). Times are UTC; Asia/Shanghai
 * is UTC+8, so November there is [2026-10-31T16:00Z, 2026-11-30T16:00Z).
 *
 *  #  channel          category building     received (UTC)     what happened
 *  1  building_leader  pipe     市政小区 3栋  11-02 00:00  claim v01 +10 min, done 02:00, rated 5
 *  2  forum            leak     市政小区 3栋  11-05 00:00  claim v02 00:05, failed 01:00, claim v01
 *                                                          02:00, done 06:00, rated 3 then 4
 *  3  council          repair   幸福里 1栋    11-10 00:00  claim v01 00:30, done 05:00, reopened
 *                                                          11-11 00:00, claim v02 01:00, done 03:00
 *  4  office           other    幸福里 1栋    11-12 00:00  escalated 01:00, resolved 11-14 00:00,
 *                                                          rated 1
 *  5  building_leader  pipe     市政小区 3栋  11-20 00:00  cancelled 02:00
 *  6  forum            lock     幸福里 1栋    11-30 15:00  claim v02 15:30, done 12-01 01:00 (that
 *                                                          is December in Shanghai)
 *  7  building_leader  leak     市政小区 3栋  10-25 00:00  claim v01 01:00, lease expired 05:00
 *  8  forum            pipe     市政小区 3栋  11-27 00:00  never claimed
 *  9  council          repair   和平路 5号    11-29 00:00  claim v01 01:00, still held
 * 10  office           other    和平路 5号    10-31 16:30  never touched (November in Shanghai,
 *                                                          October in UTC)
 * Request 2's text holds a comma, quotes and <script>; request 1 has two
 * photos on its done event (one of them missing from the archive). */
#define _POSIX_C_SOURCE 200809L
#include "test_stats_fixture.h"

#include "config.h"
#include "store.h"
#include "util.h"

#include <ftw.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fx_tmpdir(char *buf, size_t len)
{
    const char *base = getenv("BM_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    char mk[600];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", base);
    if (system(mk) != 0)
        base = "/tmp";
    snprintf(buf, len, "%s/bmstats-XXXXXX", base);
    return mkdtemp(buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fx_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int64_t fx_ms(const char *iso)
{
    int64_t ms = 0;
    if (bm_time_parse_iso(iso, &ms) != 0) {
        fprintf(stderr, "bad time literal %s\n", iso);
        abort();
    }
    return ms;
}

int fx_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        char *msg = NULL;
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK ? 0 : -1;
        if (rc != 0)
            fprintf(stderr, "fixture SQL failed: %s\n", msg ? msg : "?");
        sqlite3_free(msg);
    }
    sqlite3_close(db);
    return rc;
}

int fx_create_empty(const char *path)
{
    bm_config_t cfg;
    bm_config_defaults(&cfg);
    bm_error_t err = {0};
    store_t *st = store_open(path, &cfg, &err);
    if (!st) {
        fprintf(stderr, "store_open: %s\n", err.message);
        return -1;
    }
    store_destroy(&st);
    return 0;
}

/* SQL builders: one request row, one event row. */
static void add(char **sql, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *piece = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    size_t n = strlen(piece);
    char *p = realloc(*sql, *len + n + 1);
    if (!p)
        abort();
    memcpy(p + *len, piece, n + 1);
    *sql = p;
    *len += n;
    sqlite3_free(piece);
}

static void req(char **sql, size_t *len, int id, const char *channel, const char *category,
                const char *building, const char *created, const char *status, const char *text,
                int deadline_h)
{
    int64_t c = fx_ms(created);
    add(sql, len,
        "INSERT INTO requests(id, channel, category, priority, building, unit, contact, text,"
        " status, deadline_at, created_at, updated_at) VALUES (%d, %Q, %Q, 3, %Q, '2-301',"
        " '罗女士 13800000000', %Q, %Q, %lld, %lld, %lld);\n",
        id, channel, category, building, text, status, (long long)(c + deadline_h * 3600000LL),
        (long long)c, (long long)c);
}

static void ev(char **sql, size_t *len, int id, const char *at, const char *actor,
               const char *kind, const char *from, const char *to, const char *detail)
{
    add(sql, len,
        "INSERT INTO events(request_id, at, actor, kind, from_status, to_status, detail)"
        " VALUES (%d, %lld, %Q, %Q, %Q, %Q, %Q);\n",
        id, (long long)fx_ms(at), actor, kind, from, to, detail ? detail : "{}");
}

int fx_create(const char *path)
{
    if (fx_create_empty(path) != 0)
        return -1;
    char *s = NULL;
    size_t n = 0;
    add(&s, &n, "BEGIN;\n");
    add(&s, &n, "INSERT INTO volunteers VALUES ('v01', '袁建成', 'pipe,leak,repair,lock', 2, 0, 0);\n"
                "INSERT INTO volunteers VALUES ('v02', '李芳', 'pipe,leak,repair,lock', 1, 0, 0);\n");
    const char *bl = "channel:building_leader";
    /* 1 */
    req(&s, &n, 1, "building_leader", "pipe", "市政小区 3栋", "2026-11-02T00:00:00Z", "done",
        "厨房下水道堵了", 48);
    ev(&s, &n, 1, "2026-11-02T00:00:00Z", bl, "received", NULL, "open", NULL);
    ev(&s, &n, 1, "2026-11-02T00:10:00Z", "volunteer:v01", "claimed", "open", "claimed", NULL);
    ev(&s, &n, 1, "2026-11-02T02:00:00Z", "volunteer:v01", "completed", "claimed", "done",
       "{\"note\":\"已疏通，<b>换了</b>存水弯\"}");
    ev(&s, &n, 1, "2026-11-03T00:00:00Z", bl, "rated", NULL, NULL,
       "{\"score\":5,\"comment\":\"很及时\"}");
    /* 2 */
    req(&s, &n, 2, "forum", "leak", "市政小区 3栋", "2026-11-05T00:00:00Z", "done",
        "卫生间漏水, 楼下\"滴水\" <script>alert(1)</script>", 4);
    ev(&s, &n, 2, "2026-11-05T00:00:00Z", "channel:forum", "received", NULL, "open", NULL);
    ev(&s, &n, 2, "2026-11-05T00:05:00Z", "volunteer:v02", "claimed", "open", "claimed", NULL);
    ev(&s, &n, 2, "2026-11-05T01:00:00Z", "volunteer:v02", "failed", "claimed", "open",
       "{\"reason\":\"缺配件\",\"attempts\":1}");
    ev(&s, &n, 2, "2026-11-05T02:00:00Z", "volunteer:v01", "claimed", "open", "claimed", NULL);
    ev(&s, &n, 2, "2026-11-05T06:00:00Z", "volunteer:v01", "completed", "claimed", "done", NULL);
    ev(&s, &n, 2, "2026-11-06T00:00:00Z", "channel:forum", "rated", NULL, NULL, "{\"score\":3}");
    ev(&s, &n, 2, "2026-11-07T00:00:00Z", "channel:forum", "rated", NULL, NULL, "{\"score\":4}");
    /* 3 */
    req(&s, &n, 3, "council", "repair", "幸福里 1栋", "2026-11-10T00:00:00Z", "done", "楼道灯不亮",
        72);
    ev(&s, &n, 3, "2026-11-10T00:00:00Z", "channel:council", "received", NULL, "open", NULL);
    ev(&s, &n, 3, "2026-11-10T00:30:00Z", "volunteer:v01", "claimed", "open", "claimed", NULL);
    ev(&s, &n, 3, "2026-11-10T05:00:00Z", "volunteer:v01", "completed", "claimed", "done", NULL);
    ev(&s, &n, 3, "2026-11-11T00:00:00Z", "channel:council", "reopened", "done", "open",
       "{\"reason\":\"又不亮了\"}");
    ev(&s, &n, 3, "2026-11-11T01:00:00Z", "volunteer:v02", "claimed", "open", "claimed", NULL);
    ev(&s, &n, 3, "2026-11-11T03:00:00Z", "volunteer:v02", "completed", "claimed", "done", NULL);
    /* 4 */
    req(&s, &n, 4, "office", "other", "幸福里 1栋", "2026-11-12T00:00:00Z", "resolved",
        "小区主管道破裂", 168);
    ev(&s, &n, 4, "2026-11-12T00:00:00Z", "channel:office", "received", NULL, "open", NULL);
    ev(&s, &n, 4, "2026-11-12T01:00:00Z", "channel:office", "escalated", "open", "escalated",
       "{\"department\":\"water_company\"}");
    ev(&s, &n, 4, "2026-11-14T00:00:00Z", "channel:office", "resolved", "escalated", "resolved",
       "{\"answer\":\"自来水公司已更换主管道\"}");
    ev(&s, &n, 4, "2026-11-15T00:00:00Z", "channel:office", "rated", NULL, NULL, "{\"score\":1}");
    /* 5 */
    req(&s, &n, 5, "building_leader", "pipe", "市政小区 3栋", "2026-11-20T00:00:00Z", "cancelled",
        "阳台下水慢", 48);
    ev(&s, &n, 5, "2026-11-20T00:00:00Z", bl, "received", NULL, "open", NULL);
    ev(&s, &n, 5, "2026-11-20T02:00:00Z", bl, "cancelled", "open", "cancelled",
       "{\"reason\":\"住户已自行修好\"}");
    /* 6 */
    req(&s, &n, 6, "forum", "lock", "幸福里 1栋", "2026-11-30T15:00:00Z", "done", "门锁坏了", 24);
    ev(&s, &n, 6, "2026-11-30T15:00:00Z", "channel:forum", "received", NULL, "open", NULL);
    ev(&s, &n, 6, "2026-11-30T15:30:00Z", "volunteer:v02", "claimed", "open", "claimed", NULL);
    ev(&s, &n, 6, "2026-12-01T01:00:00Z", "volunteer:v02", "completed", "claimed", "done", NULL);
    /* 7 */
    req(&s, &n, 7, "building_leader", "leak", "市政小区 3栋", "2026-10-25T00:00:00Z", "open",
        "水管渗水", 4);
    ev(&s, &n, 7, "2026-10-25T00:00:00Z", bl, "received", NULL, "open", NULL);
    ev(&s, &n, 7, "2026-10-25T01:00:00Z", "volunteer:v01", "claimed", "open", "claimed", NULL);
    ev(&s, &n, 7, "2026-10-25T05:00:00Z", "system", "lease_expired", "claimed", "open",
       "{\"attempts\":1}");
    ev(&s, &n, 7, "2026-10-25T06:00:00Z", "system", "overdue", NULL, NULL, "{}");
    /* 8 */
    req(&s, &n, 8, "forum", "pipe", "市政小区 3栋", "2026-11-27T00:00:00Z", "open", "下水道返味",
        48);
    ev(&s, &n, 8, "2026-11-27T00:00:00Z", "channel:forum", "received", NULL, "open", NULL);
    /* 9 */
    req(&s, &n, 9, "council", "repair", "和平路 5号", "2026-11-29T00:00:00Z", "claimed",
        "插座冒火花", 72);
    ev(&s, &n, 9, "2026-11-29T00:00:00Z", "channel:council", "received", NULL, "open", NULL);
    ev(&s, &n, 9, "2026-11-29T01:00:00Z", "volunteer:v01", "claimed", "open", "claimed", NULL);
    /* 10 */
    req(&s, &n, 10, "office", "other", "和平路 5号", "2026-10-31T16:30:00Z", "open", "公告栏破损",
        168);
    ev(&s, &n, 10, "2026-10-31T16:30:00Z", "channel:office", "received", NULL, "open", NULL);
    /* photos on request 1's done event (id 3: the third event inserted) */
    add(&s, &n,
        "INSERT INTO attachments(request_id, event_id, sha256, mime, size, kind, name, created_at)"
        " VALUES (1, 3, '%s', 'image/jpeg', 4, 'after', '修好后.jpg', %lld),"
        " (1, 3, '%s', 'image/png', 4, 'before', NULL, %lld);\n",
        "ab00000000000000000000000000000000000000000000000000000000000001",
        (long long)fx_ms("2026-11-02T02:00:00Z"),
        "cd00000000000000000000000000000000000000000000000000000000000002",
        (long long)fx_ms("2026-11-02T02:00:00Z"));
    /* the requests' current columns, as the broker would have left them (the
     * figures are computed from the events; the export shows these) */
    add(&s, &n,
        "UPDATE requests SET volunteer_id = 'v01', done_at = %lld, rating = 5, rated_at = %lld"
        " WHERE id = 1;\n"
        "UPDATE requests SET volunteer_id = 'v01', done_at = %lld, rating = 4, rated_at = %lld"
        " WHERE id = 2;\n"
        "UPDATE requests SET volunteer_id = 'v02', done_at = %lld WHERE id = 3;\n"
        "UPDATE requests SET department = 'water_company', done_at = %lld, rating = 1,"
        " rated_at = %lld WHERE id = 4;\n"
        "UPDATE requests SET volunteer_id = 'v02', done_at = %lld WHERE id = 6;\n"
        "UPDATE requests SET volunteer_id = 'v01' WHERE id = 9;\n",
        (long long)fx_ms("2026-11-02T02:00:00Z"), (long long)fx_ms("2026-11-03T00:00:00Z"),
        (long long)fx_ms("2026-11-05T06:00:00Z"), (long long)fx_ms("2026-11-07T00:00:00Z"),
        (long long)fx_ms("2026-11-11T03:00:00Z"), (long long)fx_ms("2026-11-14T00:00:00Z"),
        (long long)fx_ms("2026-11-15T00:00:00Z"), (long long)fx_ms("2026-12-01T01:00:00Z"));
    add(&s, &n, "COMMIT;\n");
    int rc = fx_exec(path, s);
    free(s);
    return rc;
}
