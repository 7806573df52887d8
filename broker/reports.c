/* reports.c - see reports.h. */
#include "reports.h"
#include "jsonx.h"
#include "stats.h"

#include <sqlite3.h>
#include <string.h>

int reports_month(const bm_config_t *cfg, const cJSON *body, cJSON **reply, bm_error_t *err)
{
    const char *month = NULL, *tz = NULL;
    int year = 0, mon = 0;
    if (bm_body_str(body, "month", true, 7, &month, err) ||
        bm_body_str(body, "tz", false, 64, &tz, err))
        return -1;
    if (bm_stats_parse_month(month, &year, &mon) != 0) {
        bm_error_set(err, BM_ERR_INVALID, "month", "月份应为 YYYY-MM / month must be YYYY-MM");
        return -1;
    }
    if (tz && (strstr(tz, "..") || tz[0] == '/')) {
        bm_error_set(err, BM_ERR_INVALID, "tz", "时区应如 Asia/Shanghai / tz must look like Asia/Shanghai");
        return -1;
    }
    sqlite3 *db = bm_stats_open(cfg->database, err);
    if (!db)
        return -1;
    int rc = bm_stats_compute(db, cfg, year, mon, tz, reply, err);
    sqlite3_close(db);
    return rc;
}
