/* log.c - see log.h. */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bm_log_level_t bm_log_threshold = BM_LOG_INFO;
static const char *prog_name = "bianmin";
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void bm_log_init(const char *prog, bm_log_level_t level)
{
    prog_name = prog;
    bm_log_threshold = level;
}

int bm_log_level_parse(const char *name, bm_log_level_t *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (bm_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

static void vlog(bm_log_level_t level, const char *file, int line, const char *suffix,
                 const char *fmt, va_list ap)
{
    char ts[32];
    char msg[2048];
    bm_time_iso(bm_now_ms(), ts, sizeof ts);
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (level == BM_LOG_DEBUG || level == BM_LOG_ERROR)
        fprintf(stderr, "%s %s %s: %s%s (%s:%d)\n", ts, level_names[level], prog_name, msg,
                suffix, file, line);
    else
        fprintf(stderr, "%s %s %s: %s%s\n", ts, level_names[level], prog_name, msg, suffix);
}

void bm_log_write(bm_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, file, line, "", fmt, ap);
    va_end(ap);
}

void bm_log_syserr(const char *file, int line, const char *fmt, ...)
{
    char suffix[256];
    int saved = errno;
    snprintf(suffix, sizeof suffix, ": %s", strerror(saved));
    va_list ap;
    va_start(ap, fmt);
    vlog(BM_LOG_ERROR, file, line, suffix, fmt, ap);
    va_end(ap);
    errno = saved;
}
