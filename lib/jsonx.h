/* jsonx.h - reading fields out of a peer's JSON body with validation, so each
 * handler states its rules in one line and every failure reads the same. */
#ifndef BM_JSONX_H
#define BM_JSONX_H

#include "proto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Reads obj[key] as a string of valid UTF-8 of at most max bytes. Absent or
 * null gives *out = NULL (an error if required; a required string must also
 * not be blank). Returns 0, or -1 with err set (invalid / too_large). *out
 * points into obj. */
int bm_json_str(const cJSON *obj, const char *key, bool required, size_t max, const char **out,
                bm_error_t *err);
/* bm_json_str for a field of a message body that bm_proto_decode accepted
 * (the broker's handlers): the body was checked whole there, valid UTF-8
 * with no NUL and no \u0000, and what cJSON decodes from such a body is
 * valid too (an escape gives a character, never a lone surrogate), so the
 * field's bytes are not checked a second time. Everything else as
 * bm_json_str. */
int bm_body_str(const cJSON *obj, const char *key, bool required, size_t max, const char **out,
                bm_error_t *err);
/* Reads obj[key] as an integer in [min, max]. Absent leaves *out unchanged
 * (an error if required). Returns 0 or -1 with err set. */
int bm_json_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
                int64_t *out, bm_error_t *err);
/* Returns the item at a dotted path of object keys ("a.b.c": obj.a.b.c), or
 * NULL if any step is missing or a key is 64 bytes or longer. Points into
 * obj. */
const cJSON *bm_json_path(const cJSON *obj, const char *path);
/* Adds a string, or null if s is NULL. */
void bm_json_add_str(cJSON *obj, const char *key, const char *s);
/* Adds an ISO 8601 UTC time, or null if ms is 0. */
void bm_json_add_time(cJSON *obj, const char *key, int64_t ms);

#endif
