/* archive.h - the case archive (图文资料归档): photos stored content-addressed
 * by SHA-256 in a folder beside the database, durable before the database
 * commit that refers to them. */
#ifndef BM_ARCHIVE_H
#define BM_ARCHIVE_H

#include "proto.h"

#include <stddef.h>

typedef struct {
    char sha256[65];  /* hex */
    const char *mime; /* image/jpeg, image/png, image/webp */
    const char *ext;  /* jpg, png, webp */
    size_t size;
} bm_blob_t;

/* Recognises the image types the archive takes by their first bytes (the
 * peer's word for the type is not trusted). Returns 0 and sets mime/ext, or
 * -1 if the bytes are not a JPEG, PNG or WebP image. */
int bm_archive_sniff(const void *data, size_t len, const char **mime, const char **ext);

/* Checks one photo (type, size) without storing anything; fills out. */
int bm_archive_check(const void *data, size_t len, bm_blob_t *out, bm_error_t *err);

/* Stores a checked photo as dir/ab/abcdef....ext (temp file, fsync, rename,
 * fsync of the folder); storing the same bytes twice is a no-op. Returns 0 or
 * -1 with err set. */
int bm_archive_put(const char *dir, const void *data, size_t len, const bm_blob_t *blob,
                   bm_error_t *err);

/* The file extension the archive uses for a stored MIME type (jpg, png,
 * webp; jpg for anything else, as the broker stores only those three). */
const char *bm_archive_ext(const char *mime);

/* Writes the path of a stored blob relative to the archive dir ("ab/abc….jpg"). */
void bm_archive_relpath(const char *sha256, const char *ext, char *buf, size_t len);

#endif
