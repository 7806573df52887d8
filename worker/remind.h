/* remind.h - the lease reminder: which held jobs' claims run out within the
 * reminder window, each told once per lease (a lease renewed by progress is
 * a new one). Pure: no I/O, the caller gives the time. */
#ifndef WK_REMIND_H
#define WK_REMIND_H

#include <cjson/cJSON.h>
#include <stdint.h>

#define WK_REMIND_MAX 40 /* leases remembered (2 x the most jobs one may hold) */

typedef struct wk_remind wk_remind_t;

/* Returns an empty reminder, or NULL if out of memory. */
wk_remind_t *wk_remind_new(void);
void wk_remind_destroy(wk_remind_t **self_p);

/* Looks at jobs (an array of JOB objects with "ticket" and "lease_until")
 * at now_ms and returns, for each lease that runs out within before_s
 * seconds and was not told yet, a "lease_reminder" event {ticket,
 * lease_until, seconds_left}, in an array the caller owns (cJSON_Delete);
 * NULL if out of memory. Leases already over are not told. */
cJSON *wk_remind_due(wk_remind_t *self, const cJSON *jobs, int64_t now_ms, int before_s);

#endif
