/* log.h - one logging module for every bianmin program.
 *
 * Lines go to stderr as "2026-11-29T14:20:01.123Z LEVEL prog: message", one
 * line per event, or with bm_log_set_json(true) as one JSON object per line:
 * {"ts":"2026-11-29T14:20:01.123Z","level":"info","prog":"bianmin-broker",
 *  "msg":"...","src":"broker.c:123"}. Messages never carry residents'
 * personal data (contact, unit, text): tests/integration/test_logs.py.
 * Below the threshold the arguments are not even formatted. */
#ifndef BM_LOG_H
#define BM_LOG_H

#include <stdbool.h>

typedef enum { BM_LOG_ERROR = 0, BM_LOG_WARN, BM_LOG_INFO, BM_LOG_DEBUG } bm_log_level_t;

extern bm_log_level_t bm_log_threshold;

/* Sets the program name printed on every line (not copied: pass a literal). */
void bm_log_init(const char *prog, bm_log_level_t level);
/* Parses "error|warn|info|debug"; returns 0, or -1 if the name is unknown. */
int bm_log_level_parse(const char *name, bm_log_level_t *out);
/* JSON lines (true) or text (false, the default). */
void bm_log_set_json(bool json);
/* Parses "text|json"; returns 0, or -1 if the name is unknown. */
int bm_log_format_parse(const char *name, bool *json);
void bm_log_write(bm_log_level_t level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define BM_LOG(lvl, ...) \
    do { if ((lvl) <= bm_log_threshold) bm_log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define log_error(...) BM_LOG(BM_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  BM_LOG(BM_LOG_WARN, __VA_ARGS__)
#define log_info(...)  BM_LOG(BM_LOG_INFO, __VA_ARGS__)
#define log_debug(...) BM_LOG(BM_LOG_DEBUG, __VA_ARGS__)
/* For a failed system call: appends strerror(errno). */
#define log_syserr(...) bm_log_syserr(__FILE__, __LINE__, __VA_ARGS__)
void bm_log_syserr(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
