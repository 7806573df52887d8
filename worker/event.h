/* event.h - what the worker tells its user: every happening (an offer, a
 * claim's result, an error...) is one JSON object {"event": NAME, ...}, which
 * is written either as a JSON line for a bridge or as short bilingual text for
 * a person in a terminal. Pure: no I/O. */
#ifndef WK_EVENT_H
#define WK_EVENT_H

#include "proto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Event names. */
#define WK_EV_CONNECTED    "connected"
#define WK_EV_DISCONNECTED "disconnected"
#define WK_EV_OFFER        "offer"
#define WK_EV_TAKEN        "taken"
#define WK_EV_CLAIMED      "claimed"
#define WK_EV_DONE         "done"
#define WK_EV_PROGRESS     "progress"
#define WK_EV_DECLINED     "declined"
#define WK_EV_CANTFIX      "cantfix"
#define WK_EV_ESCALATED    "escalated"
#define WK_EV_REVOKED      "revoked"
#define WK_EV_JOBS         "jobs"
#define WK_EV_OFFERS       "offers"
#define WK_EV_HELP         "help"
#define WK_EV_ERROR        "error"
#define WK_EV_LEASE_REMINDER "lease_reminder"

/* Returns {"event": name}; caller owns it (cJSON_Delete). NULL if out of memory. */
cJSON *wk_event_new(const char *name);
/* Returns {"event": name} followed by a copy of every field of body (a broker
 * message's body; an "event" field in it is dropped). Caller owns it. */
cJSON *wk_event_from(const char *name, const cJSON *body);
/* Returns {"event":"error","cmd":..,"ticket":..,"code":..,"message":..[,"field"]}
 * where cmd may be NULL and ticket 0 (both left out). Caller owns it. */
cJSON *wk_event_error(const char *cmd, int64_t ticket, const bm_error_t *err);
/* Adds "id": bridge_id when bridge_id is not NULL. */
void wk_event_set_id(cJSON *ev, const char *bridge_id);

/* Formats an event: one JSON line without newline (json true), or text for
 * people, possibly several lines, without the final newline. Text from the
 * network is cleaned of control characters. Caller frees the result with
 * free(); NULL if out of memory. */
char *wk_event_format(const cJSON *ev, bool json);

#endif
