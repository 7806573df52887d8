/* offers.h - targeted offers: how many volunteers each open job is on offer
 * to right now, since when, and whether one more may get it. A job goes
 * first to `fanout` volunteers; every `step` it has stayed unclaimed, to
 * `fanout` more; fanout 0 means everyone at once. Kept in memory only: after
 * a restart every job starts again from its first step. */
#ifndef BM_OFFERS_H
#define BM_OFFERS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct offers offers_t;

/* Returns an empty table, or NULL when out of memory. */
offers_t *offers_new(void);
void offers_destroy(offers_t **self_p);

/* Starts a recount: every job's live count goes to zero. */
void offers_begin(offers_t *self);
/* Counts one outstanding offer of ticket (a job first seen now starts its
 * first step at mono). Returns 0, or -1 when out of memory. */
int offers_count(offers_t *self, int64_t ticket, int64_t mono);
/* True if the job may be offered to one more volunteer now. If not, and
 * widen_at is not NULL, *widen_at is lowered to when its next step opens. */
bool offers_room(const offers_t *self, int64_t ticket, int fanout, int64_t step_ms, int64_t mono,
                 int64_t *widen_at);
/* Ends a recount: jobs on offer to nobody any more are forgotten. */
void offers_end(offers_t *self);

#endif
