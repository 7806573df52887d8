/* archive.c - see archive.h. SHA-256 from OpenSSL. */
#include "archive.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bm_archive_sniff(const void *data, size_t len, const char **mime, const char **ext)
{
    const unsigned char *p = data;
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
        *mime = "image/jpeg";
        *ext = "jpg";
        return 0;
    }
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (len >= 8 && memcmp(p, png, 8) == 0) {
        *mime = "image/png";
        *ext = "png";
        return 0;
    }
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
        *mime = "image/webp";
        *ext = "webp";
        return 0;
    }
    return -1;
}

int bm_archive_check(const void *data, size_t len, bm_blob_t *out, bm_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > BM_MAX_PHOTO) {
        bm_error_set(err, BM_ERR_TOO_LARGE, "attachments",
                     "照片应为 1 字节到 %d MiB，这张有 %zu 字节 / a photo must be 1 byte to %d MiB; this "
                     "one is %zu bytes",
                     BM_MAX_PHOTO / (1024 * 1024), len, BM_MAX_PHOTO / (1024 * 1024), len);
        return -1;
    }
    if (bm_archive_sniff(data, len, &out->mime, &out->ext) != 0) {
        bm_error_set(err, BM_ERR_INVALID, "attachments",
                     "附件应为 JPEG、PNG 或 WebP 照片 / attachments must be JPEG, PNG or WebP photos");
        return -1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        bm_error_set(err, BM_ERR_STORAGE, "attachments", "无法计算照片的校验值 / cannot hash the photo");
        return -1;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out->sha256 + 2 * i, 3, "%02x", md[i]);
    out->size = len;
    return 0;
}

const char *bm_archive_ext(const char *mime)
{
    if (mime && strcmp(mime, "image/png") == 0)
        return "png";
    if (mime && strcmp(mime, "image/webp") == 0)
        return "webp";
    return "jpg";
}

void bm_archive_relpath(const char *sha256, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%.2s/%s.%s", sha256, sha256, ext);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int bm_archive_put(const char *dir, const void *data, size_t len, const bm_blob_t *blob,
                   bm_error_t *err)
{
    char sub[1200], path[1400], tmp[1500], rel[128];
    bm_archive_relpath(blob->sha256, blob->ext, rel, sizeof rel);
    snprintf(sub, sizeof sub, "%s/%.2s", dir, blob->sha256);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct stat st;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len)
        return 0; /* the same bytes are already there */
    if ((mkdir(dir, 0750) != 0 && errno != EEXIST) || (mkdir(sub, 0750) != 0 && errno != EEXIST)) {
        bm_error_set(err, BM_ERR_STORAGE, "attachments", "不能建立归档目录 %s（%s） / cannot create the archive folder %s: %s",
                     sub, strerror(errno), sub, strerror(errno));
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0)
        goto fail;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0 || fsync_dir(sub) != 0)
        goto fail;
    return 0;
fail:
    bm_error_set(err, BM_ERR_STORAGE, "attachments", "照片存不进 %s（%s） / cannot store the photo in %s: %s",
                 sub, strerror(errno), sub, strerror(errno));
    unlink(tmp);
    return -1;
}
