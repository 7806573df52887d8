/* tz.h - the office's time zone as people write it: an IANA name
 * ("Asia/Shanghai") or a UTC offset ("+08:00"), checked and turned into a
 * TZ value that glibc reads the way people mean it. glibc takes an unknown
 * name as UTC without a word, and reads "UTC+8" as eight hours WEST of
 * Greenwich (POSIX); both are refused here with a suggestion. */
#ifndef BM_TZ_H
#define BM_TZ_H

#include "proto.h"

#include <stdbool.h>
#include <stddef.h>

#define BM_TZ_MAX          64       /* longest zone name accepted, bytes */
#define BM_TZ_MAX_OFFSET_M (14 * 60) /* the widest offset in use (+14:00) */

/* Checks a zone as a person wrote it and writes the TZ value for it into out
 * (len >= BM_TZ_MAX + 16): an IANA name that tzdata has is passed on; "UTC",
 * "GMT" and "Z" are UTC; "+08:00", "+0800", "+08" and "+8" (or "-") are that
 * offset EAST (+) or west (-) of UTC. Returns 0, or -1 with err set (code
 * invalid, field "tz", a bilingual message with what to write instead). */
int bm_tz_resolve(const char *spec, char *out, size_t len, bm_error_t *err);

/* The zone in force for the office: spec if not NULL/"", else the TZ
 * environment variable if set and not "", resolved as above; else "" (the
 * system's zone, /etc/localtime). Returns 0, or -1 with err set (a bad TZ
 * is an error, never quietly UTC). name (may be NULL) gets the zone as
 * given, for showing ("localtime" for the system's). */
int bm_tz_office(const char *spec, char *out, size_t len, char *name, size_t namelen,
                 bm_error_t *err);

/* Holds the previous TZ while another one is in force. */
typedef struct {
    char *old;
    bool had, pushed;
} bm_tz_saved_t;

/* Puts the TZ value tzval (from bm_tz_resolve; "" leaves TZ as it is) in
 * force with setenv + tzset, saving the old one in saved. Not thread-safe.
 * Returns 0 or -1 (out of memory). */
int bm_tz_push(const char *tzval, bm_tz_saved_t *saved);
/* Restores what bm_tz_push saved. */
void bm_tz_pop(bm_tz_saved_t *saved);

#endif
