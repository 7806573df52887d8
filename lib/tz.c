/* tz.c - checking and converting the office's time zone (see tz.h). */
#include "tz.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "+08:00", "+0800", "+08", "+8", "-03:30": minutes east of UTC. Returns 0
 * or -1 if s is not such an offset. */
static int parse_offset(const char *s, int *minutes)
{
    if (*s != '+' && *s != '-')
        return -1;
    int sign = *s == '-' ? -1 : 1;
    const char *p = s + 1;
    int d[4], nd = 0;
    bool colon = false;
    for (; *p; p++) {
        if (*p == ':' && nd == 2 && !colon) {
            colon = true;
            continue;
        }
        if (!isdigit((unsigned char)*p) || nd == 4)
            return -1;
        d[nd++] = *p - '0';
    }
    int h, m = 0;
    if (nd == 1 && !colon)
        h = d[0];
    else if (nd == 2 && !colon)
        h = d[0] * 10 + d[1];
    else if (nd == 4)
        h = d[0] * 10 + d[1], m = d[2] * 10 + d[3];
    else
        return -1;
    if (m >= 60 || h * 60 + m > BM_TZ_MAX_OFFSET_M)
        return -1;
    *minutes = sign * (h * 60 + m);
    return 0;
}

/* tzdata has a zone file for name (starting "TZif"). */
static bool iana_known(const char *name)
{
    if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > BM_TZ_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("/_-+", *p))
            return false;
    }
    const char *dir = getenv("TZDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[4] = {0};
    bool ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    fclose(f);
    return ok;
}

int bm_tz_resolve(const char *spec, char *out, size_t len, bm_error_t *err)
{
    const char *s = spec && spec[0] == ':' ? spec + 1 : spec;
    int minutes = 0;
    if (!s || !*s) {
        bm_error_set(err, BM_ERR_INVALID, "tz",
                     "时区为空 / empty time zone (e.g. Asia/Shanghai or +08:00)");
        return -1;
    }
    if (strcmp(s, "UTC") == 0 || strcmp(s, "GMT") == 0 || strcmp(s, "Z") == 0) {
        bm_strlcpy(out, "UTC0", len);
        return 0;
    }
    if (parse_offset(s, &minutes) == 0) {
        /* POSIX counts west as positive: +08:00 is "<+0800>-08:00". */
        int a = minutes < 0 ? -minutes : minutes;
        snprintf(out, len, "<%c%02d%02d>%c%02d:%02d", minutes < 0 ? '-' : '+', a / 60, a % 60,
                 minutes < 0 ? '+' : '-', a / 60, a % 60);
        return 0;
    }
    if ((strncmp(s, "UTC", 3) == 0 || strncmp(s, "GMT", 3) == 0) &&
        parse_offset(s + 3, &minutes) == 0) {
        int a = minutes < 0 ? -minutes : minutes;
        bm_error_set(err, BM_ERR_INVALID, "tz",
                     "时区 %.16s 有歧义，请写 %c%02d:%02d / time zone %.16s is ambiguous (POSIX "
                     "reads it as the opposite direction): write %c%02d:%02d",
                     s, minutes < 0 ? '-' : '+', a / 60, a % 60, s, minutes < 0 ? '-' : '+',
                     a / 60, a % 60);
        return -1;
    }
    if (iana_known(s)) {
        bm_strlcpy(out, s, len);
        return 0;
    }
    bm_error_set(err, BM_ERR_INVALID, "tz",
                 "未知时区 %.40s（例：Asia/Shanghai 或 +08:00） / unknown time zone %.40s "
                 "(e.g. Asia/Shanghai or +08:00)",
                 s, s);
    return -1;
}

int bm_tz_office(const char *spec, char *out, size_t len, char *name, size_t namelen,
                 bm_error_t *err)
{
    const char *use = spec && *spec ? spec : getenv("TZ");
    if (!use || !*use) {
        bm_strlcpy(out, "", len);
        if (name)
            bm_strlcpy(name, "localtime", namelen);
        return 0;
    }
    if (bm_tz_resolve(use, out, len, err) != 0) {
        if (use != spec) {
            /* Say where it came from: the environment, not a flag. */
            char msg[sizeof err->message];
            bm_strlcpy(msg, err->message, sizeof msg);
            bm_error_set(err, BM_ERR_INVALID, "tz", "环境变量 TZ / the TZ environment variable: %s",
                         msg);
        }
        return -1;
    }
    if (name)
        bm_strlcpy(name, use, namelen);
    return 0;
}

int bm_tz_push(const char *tzval, bm_tz_saved_t *saved)
{
    saved->old = NULL;
    saved->had = false;
    saved->pushed = false;
    if (!tzval || !*tzval) {
        tzset();
        return 0;
    }
    const char *old = getenv("TZ");
    if (old) {
        saved->old = strdup(old);
        if (!saved->old)
            return -1;
        saved->had = true;
    }
    setenv("TZ", tzval, 1);
    tzset();
    saved->pushed = true;
    return 0;
}

void bm_tz_pop(bm_tz_saved_t *saved)
{
    if (!saved->pushed)
        return;
    if (saved->had)
        setenv("TZ", saved->old, 1);
    else
        unsetenv("TZ");
    free(saved->old);
    saved->old = NULL;
    saved->pushed = false;
    tzset();
}
