/* photo.h - the photos a volunteer attaches to progress and done (图文资料):
 * read from files and checked here - readable, a regular file, at most
 * BM_MAX_PHOTO bytes, a JPEG, PNG or WebP by its first bytes - so that a bad
 * one is refused with a clear message before anything is sent. */
#ifndef WK_PHOTO_H
#define WK_PHOTO_H

#include "command.h"
#include "proto.h"

#include <stddef.h>

#define WK_ERR_BAD_PHOTO  "bad_photo" /* code of the error event for a refused photo */
#define WK_MAX_PHOTO_NAME 200         /* the broker's limit for an attachment's name */

typedef struct {
    unsigned char *data; /* owned; freed by wk_photo_clear */
    size_t len;
    char name[WK_MAX_PHOTO_NAME + 1]; /* the file's base name, valid UTF-8 */
    const char *kind;                 /* WK_KIND_* */
    const char *mime;                 /* image/jpeg, image/png, image/webp */
} wk_photo_t;

/* Reads and checks the photo at path. Returns 0 with *out filled (the caller
 * frees it with wk_photo_clear), or -1 with err set (code WK_ERR_BAD_PHOTO,
 * field "photos", a bilingual message naming the file) and *out empty. */
int wk_photo_load(const char *path, const char *kind, wk_photo_t *out, bm_error_t *err);
/* Frees a photo's bytes; accepts an empty or cleared one. */
void wk_photo_clear(wk_photo_t *p);

/* Loads every photo of cmd into out[0..cmd->n_photos). Returns 0, or -1 with
 * err set and nothing left loaded; *bad is the index of the refused photo. */
int wk_photos_load(const wk_cmd_t *cmd, wk_photo_t *out, size_t *bad, bm_error_t *err);
void wk_photos_clear(wk_photo_t *photos, size_t n);

#endif
