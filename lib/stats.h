/* stats.h - the office's monthly figures (月度统计), computed read-only from
 * the database file: volumes, backlog, times to claim and to done, service
 * level, first-time fix, reopen and escalation rates, satisfaction, and per
 * volunteer and per building tables; plus the renderers (CSV, HTML) and the
 * quoting helpers the case archive export shares.
 *
 * Every figure is defined in docs/stats.md. The report is a cJSON object
 * with stable keys; a figure that cannot be computed (no ratings, nothing
 * completed) is JSON null, never 0. */
#ifndef BM_STATS_H
#define BM_STATS_H

#include "config.h"
#include "proto.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#define BM_STATS_TREND_MONTHS 12 /* months in the satisfaction/volume trend */

/* Opens the database file read-only (WAL: readers never block the broker).
 * Returns the handle (caller closes it with sqlite3_close), or NULL with err
 * set (missing file, not a bianmin database). */
sqlite3 *bm_stats_open(const char *path, bm_error_t *err);

/* Parses "YYYY-MM" (year 1970..9999). Returns 0 or -1. */
int bm_stats_parse_month(const char *s, int *year, int *month);

/* The month's bounds as UTC ms, [from, until): local midnight of its first
 * day to local midnight of the next month's first day in time zone tz (an
 * IANA name such as "Asia/Shanghai"; NULL or "" = the process's TZ). Uses
 * setenv("TZ") + tzset + mktime and restores TZ after: not thread-safe.
 * Returns 0 or -1. */
int bm_stats_month_range(const char *tz, int year, int month, int64_t *from, int64_t *until);

/* The source of the figures: the database handle (not owned) and the
 * volunteers' names. Each month's requests and events are read when that
 * month is asked for, only those that can count in it. */
typedef struct bm_stats_data bm_stats_data_t;

/* Reads the volunteers' names from db and keeps db for the months asked
 * later (db must outlive it). Returns it (caller frees with
 * bm_stats_data_destroy) or NULL with err set. */
bm_stats_data_t *bm_stats_load(sqlite3 *db, bm_error_t *err);
void bm_stats_data_destroy(bm_stats_data_t **self_p);

/* The report for one month in time zone tz (an IANA name or an offset such
 * as "+08:00", see tz.h; NULL or "": TZ, else the system's zone; a bad zone
 * is an error with field "tz"); cfg gives categories (labels, deadline_s). Caller owns the result and frees it
 * with cJSON_Delete; NULL with err set on failure. */
cJSON *bm_stats_month(const bm_stats_data_t *data, const bm_config_t *cfg, int year, int month,
                      const char *tz, bm_error_t *err);

/* The same as of the time now (UTC ms): in the month that holds now, open
 * requests are counted and aged at now, not at the month's end. */
cJSON *bm_stats_month_asof(const bm_stats_data_t *data, const bm_config_t *cfg, int year,
                           int month, const char *tz, int64_t now, bm_error_t *err);

/* Convenience: load + bm_stats_month. Returns 0 with *out owned by the
 * caller, or -1 with err set. */
int bm_stats_compute(sqlite3 *db, const bm_config_t *cfg, int year, int month, const char *tz,
                     cJSON **out, bm_error_t *err);

/* Nearest-rank percentile (p in 1..100) of n sorted values: the value at
 * rank ceil(p/100 * n). n must be > 0. */
int64_t bm_stats_percentile(const int64_t *sorted, size_t n, int p);

/* ---- formatting for people ----------------------------------------------- */

typedef enum {
    BM_FMT_COUNT,    /* 12 */
    BM_FMT_PERCENT,  /* a ratio 0..1 as "75.0%" */
    BM_FMT_MEAN,     /* "4.33" */
    BM_FMT_DURATION  /* seconds as "45分", "2小时5分", "3天4小时" */
} bm_fmt_t;

/* Writes a report value (a JSON number) for people into buf; absent (NULL,
 * null, not a number) is "—", never 0. Returns buf. */
char *bm_stats_fmt(const cJSON *v, bm_fmt_t how, char *buf, size_t len);

/* ---- renderers (report_csv.c, report_html.c) ----------------------------- */

/* Writes the UTF-8 byte order mark (so Excel reads Chinese correctly). */
void bm_csv_bom(FILE *out);
/* Writes one RFC 4180 field: quoted (with "" for ") if it holds a comma,
 * quote, CR or LF, or starts/ends with a space; NULL is an empty field. Text
 * starting with =, +, -, @, tab or CR is written after a single quote so a
 * spreadsheet shows it instead of running it as a formula (OWASP). */
void bm_csv_field(FILE *out, const char *s);
/* Writes the report as CSV sections (docs/stats.md): BOM, then blocks of
 * "section,key,value..." rows. Returns 0 or -1 on a write error. */
int bm_stats_write_csv(FILE *out, const cJSON *report);

/* Writes s with &, <, >, " and ' escaped for HTML text or attribute values;
 * bytes that are not valid UTF-8 and control characters other than tab and
 * newline become U+FFFD. NULL writes nothing. */
void bm_html_escape(FILE *out, const char *s);
/* Writes the report as one self-contained HTML page (inline CSS and SVG, no
 * external resources). Returns 0 or -1 on a write error. */
int bm_stats_write_html(FILE *out, const cJSON *report);

#endif
