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
static const char *const level_keys[] = {"error", "warn", "info", "debug"};
static bool json_lines = false;

void bm_log_set_json(bool json)
{
    json_lines = json;
}

int bm_log_format_parse(const char *name, bool *json)
{
    if (strcmp(name, "text") == 0 || strcmp(name, "json") == 0) {
        *json = strcmp(name, "json") == 0;
        return 0;
    }
    return -1;
}

/* Writes s as the inside of a JSON string: quotes, backslashes and control
 * characters escaped; UTF-8 passes through. */
static void put_json_text(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
}

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
    if (json_lines) {
        /* One object per line, written with one lock on stderr. */
        flockfile(stderr);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"", ts, level_keys[level]);
        put_json_text(stderr, prog_name);
        fputs("\",\"msg\":\"", stderr);
        put_json_text(stderr, msg);
        put_json_text(stderr, suffix);
        const char *base = strrchr(file, '/');
        fprintf(stderr, "\",\"src\":\"%s:%d\"}\n", base ? base + 1 : file, line);
        funlockfile(stderr);
        return;
    }
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
