/* remind.c - see remind.h. */
#include "remind.h"
#include "event.h"
#include "util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t ticket;
    int64_t lease_ms;
} told_t;

struct wk_remind {
    told_t told[WK_REMIND_MAX];
    int n;
};

wk_remind_t *wk_remind_new(void)
{
    return calloc(1, sizeof(wk_remind_t));
}

void wk_remind_destroy(wk_remind_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* True (and remembered) the first time this ticket's lease is told. */
static bool first_time(wk_remind_t *self, int64_t ticket, int64_t lease_ms)
{
    for (int i = 0; i < self->n; i++) {
        if (self->told[i].ticket == ticket) {
            if (self->told[i].lease_ms == lease_ms)
                return false;
            self->told[i].lease_ms = lease_ms; /* renewed by progress: a new lease */
            return true;
        }
    }
    if (self->n == WK_REMIND_MAX) { /* forget the oldest */
        memmove(self->told, self->told + 1, (WK_REMIND_MAX - 1) * sizeof *self->told);
        self->n--;
    }
    self->told[self->n++] = (told_t){ticket, lease_ms};
    return true;
}

static int64_t ticket_of(const cJSON *job)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(job, "ticket");
    if (!cJSON_IsNumber(t) || t->valuedouble < 1 || t->valuedouble > 9007199254740992.0)
        return 0;
    return (int64_t)t->valuedouble;
}

cJSON *wk_remind_due(wk_remind_t *self, const cJSON *jobs, int64_t now_ms, int before_s)
{
    cJSON *out = cJSON_CreateArray();
    if (!out || before_s <= 0 || !cJSON_IsArray(jobs))
        return out;
    for (const cJSON *job = jobs->child; job; job = job->next) {
        const cJSON *lease = cJSON_GetObjectItemCaseSensitive(job, "lease_until");
        int64_t lease_ms, ticket = ticket_of(job);
        if (ticket <= 0 || !cJSON_IsString(lease) ||
            bm_time_parse_iso(lease->valuestring, &lease_ms) != 0)
            continue;
        if (now_ms < lease_ms - (int64_t)before_s * 1000 || now_ms >= lease_ms)
            continue;
        if (!first_time(self, ticket, lease_ms))
            continue;
        cJSON *ev = wk_event_new(WK_EV_LEASE_REMINDER);
        if (!ev || !cJSON_AddItemToArray(out, ev)) {
            cJSON_Delete(ev);
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddNumberToObject(ev, "ticket", (double)ticket);
        cJSON_AddStringToObject(ev, "lease_until", lease->valuestring);
        cJSON_AddNumberToObject(ev, "seconds_left", (double)((lease_ms - now_ms) / 1000));
    }
    return out;
}
