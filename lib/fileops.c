/* fileops.c - see fileops.h. */
#include "fileops.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK 65536
/* SQLite's lock bytes (os_unix.c): PENDING_BYTE, RESERVED_BYTE, SHARED_FIRST
 * and SHARED_SIZE 510 bytes after it. */
#define SQLITE_LOCK_START 0x40000000L
#define SQLITE_LOCK_LEN   512

static void to_hex(const unsigned char *md, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads fd to the end, hashing, and copying to out if out >= 0. */
static int pump(int fd, int out, char *hex, int64_t *size)
{
    unsigned char buf[COPY_CHUNK], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int64_t total = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        errno = ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        if (!EVP_DigestUpdate(ctx, buf, (size_t)n) || (out >= 0 && write_all(out, buf, (size_t)n) != 0))
            goto out;
        total += n;
    }
    if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
        errno = EIO;
        goto out;
    }
    if (hex)
        to_hex(md, hex);
    if (size)
        *size = total;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int bm_file_sha256(const char *path, char *hex, int64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = pump(fd, -1, hex, size);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int bm_file_copy(const char *src, const char *dst, mode_t mode, char *hex, int64_t *size)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) {
        int saved = errno;
        close(in);
        errno = saved;
        return -1;
    }
    int rc = pump(in, out, hex, size);
    if (rc == 0 && (fchmod(out, mode) != 0 || fsync(out) != 0))
        rc = -1;
    int saved = errno;
    close(in);
    if (close(out) != 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    if (rc != 0)
        unlink(dst);
    errno = saved;
    return rc;
}

int bm_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, data, len) == 0 && fchmod(fd, mode) == 0 && fsync(fd) == 0 ? 0 : -1;
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    if (rc != 0)
        unlink(path);
    errno = saved;
    return rc;
}

int bm_file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int bm_file_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(buf, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int bm_file_rmtree(const char *path)
{
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

pid_t bm_file_sqlite_holder(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SQLITE_LOCK_START,
                       .l_len = SQLITE_LOCK_LEN};
    int rc = fcntl(fd, F_GETLK, &fl);
    int saved = errno;
    close(fd);
    errno = saved;
    if (rc != 0)
        return -1;
    return fl.l_type == F_UNLCK ? 0 : (fl.l_pid > 0 ? fl.l_pid : 1);
}

int bm_pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}
