/* photo.c - see photo.h. */
#include "photo.h"
#include "archive.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1024.0 * 1024.0)

static int refuse(bm_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How much of a path to show in a message: at most 100 bytes, not cutting
 * a UTF-8 character in two. */
static int shown(const char *path)
{
    size_t n = strlen(path);
    if (n <= 100)
        return (int)n;
    n = 100;
    while (n > 0 && ((unsigned char)path[n] & 0xc0) == 0x80)
        n--;
    return (int)n;
}

/* Sets a bad_photo error for people and returns -1. */
static int refuse(bm_error_t *err, const char *fmt, ...)
{
    err->code = WK_ERR_BAD_PHOTO;
    bm_strlcpy(err->field, "photos", sizeof err->field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* The last path component, made safe for the broker: valid UTF-8, at most
 * WK_MAX_PHOTO_NAME bytes (cut on a character boundary), else "photo.EXT". */
static void base_name(const char *path, const char *ext, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    size_t n = strlen(b);
    if (n > WK_MAX_PHOTO_NAME)
        n = WK_MAX_PHOTO_NAME;
    while (n > 0 && ((unsigned char)b[n] & 0xc0) == 0x80)
        n--; /* do not cut a character in two */
    if (n == 0 || n >= len || !bm_utf8_valid(b, n)) {
        snprintf(buf, len, "photo.%s", ext);
        return;
    }
    memcpy(buf, b, n);
    buf[n] = '\0';
}

int wk_photo_load(const char *path, const char *kind, wk_photo_t *out, bm_error_t *err)
{
    memset(out, 0, sizeof *out);
    char size_text[128];
    /* O_NONBLOCK: a FIFO given by mistake must not hang the worker. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return refuse(err, "读不到照片 cannot read photo %.*s: %s", shown(path), path, strerror(errno));
    struct stat st;
    unsigned char *data = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        refuse(err, "读不到照片 cannot read photo %.*s: %s", shown(path), path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse(err, "照片 photo %.*s is not a file%s", shown(path), path,
               S_ISDIR(st.st_mode) ? " (it is a folder 文件夹)" : "");
        goto out;
    }
    if (st.st_size > (off_t)BM_MAX_PHOTO) {
        snprintf(size_text, sizeof size_text, "%.1f MB，上限 %d MB / %.1f MB; the limit is %d MB",
                 (double)st.st_size / MiB, BM_MAX_PHOTO / (1024 * 1024), (double)st.st_size / MiB,
                 BM_MAX_PHOTO / (1024 * 1024));
        refuse(err, "照片太大 photo %.*s is too big: %s", shown(path), path, size_text);
        goto out;
    }
    if (st.st_size == 0) {
        refuse(err, "照片 photo %.*s is empty (0 bytes)%s", shown(path), path, "");
        goto out;
    }
    /* Read until EOF, allowing for a file that changed since fstat. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    data = malloc(cap);
    if (!data) {
        refuse(err, "照片 photo %.*s: %s", shown(path), path, "out of memory");
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap > BM_MAX_PHOTO) {
                snprintf(size_text, sizeof size_text, "over %d MB",
                         BM_MAX_PHOTO / (1024 * 1024));
                refuse(err, "照片太大 photo %.*s is too big: %s", shown(path), path, size_text);
                goto out;
            }
            size_t ncap = cap * 2 > (size_t)BM_MAX_PHOTO + 1 ? (size_t)BM_MAX_PHOTO + 1 : cap * 2;
            unsigned char *bigger = realloc(data, ncap);
            if (!bigger) {
                refuse(err, "照片 photo %.*s: %s", shown(path), path, "out of memory");
                goto out;
            }
            data = bigger;
            cap = ncap;
        }
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            refuse(err, "读不到照片 cannot read photo %.*s: %s", shown(path), path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > BM_MAX_PHOTO) {
        snprintf(size_text, sizeof size_text, "over %d MB",
                 BM_MAX_PHOTO / (1024 * 1024));
        refuse(err, "照片太大 photo %.*s is too big: %s", shown(path), path, size_text);
        goto out;
    }
    const char *mime = NULL, *ext = NULL;
    if (bm_archive_sniff(data, len, &mime, &ext) != 0) {
        refuse(err, "不是照片 %.*s is not a photo: %s", shown(path), path,
               "只收 JPEG、PNG 或 WebP 图片（按内容判断，不看文件名） / only JPEG, PNG or WebP images are taken (checked by content, not name)");
        goto out;
    }
    out->data = data;
    out->len = len;
    out->kind = kind ? kind : WK_KIND_OTHER;
    out->mime = mime;
    base_name(path, ext, out->name, sizeof out->name);
    data = NULL;
    rc = 0;
out:
    free(data);
    close(fd);
    return rc;
}

void wk_photo_clear(wk_photo_t *p)
{
    if (!p)
        return;
    free(p->data);
    memset(p, 0, sizeof *p);
}

int wk_photos_load(const wk_cmd_t *cmd, wk_photo_t *out, size_t *bad, bm_error_t *err)
{
    for (size_t i = 0; i < cmd->n_photos; i++) {
        if (wk_photo_load(cmd->photos[i].path, cmd->photos[i].kind, &out[i], err) != 0) {
            wk_photos_clear(out, i);
            if (bad)
                *bad = i;
            return -1;
        }
    }
    return 0;
}

void wk_photos_clear(wk_photo_t *photos, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wk_photo_clear(&photos[i]);
}
