/* photos.h - the broker's `photo` command: one archived photo of a request,
 * base64 in the JSON reply, so that the gateway (which never opens the
 * database or the archive) can show it. */
#ifndef BM_PHOTOS_H
#define BM_PHOTOS_H

#include "config.h"
#include "store.h"

#include <cjson/cJSON.h>

/* Reads {ticket, sha256}: the photo must belong to that request. channel,
 * if not NULL, must be the request's channel (a channel sees its own only).
 * Returns 0 with *reply = {"ticket", "sha256", "type", "size", "name",
 * "data": base64} (caller owns), or -1 with err set (not_found, forbidden,
 * invalid, storage_error when the file is missing from the archive). */
int photos_get(store_t *st, const bm_config_t *cfg, const cJSON *body, const char *channel,
               cJSON **reply, bm_error_t *err);

#endif
