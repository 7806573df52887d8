/* offers.c - see offers.h. A sorted array: at most a few thousand jobs are on
 * offer at once (sessions x offer window), and lookups are binary searches. */
#include "offers.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t ticket;
    int64_t first; /* monotonic ms of its first offer */
    int live;      /* volunteers it is on offer to now */
} job_t;

struct offers {
    job_t *jobs;
    size_t n, cap;
};

offers_t *offers_new(void)
{
    return calloc(1, sizeof(offers_t));
}

void offers_destroy(offers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->jobs);
    free(*self_p);
    *self_p = NULL;
}

/* Index of ticket, or of where it would go. */
static size_t find(const offers_t *self, int64_t ticket)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->jobs[mid].ticket < ticket)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void offers_begin(offers_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        self->jobs[i].live = 0;
}

int offers_count(offers_t *self, int64_t ticket, int64_t mono)
{
    size_t i = find(self, ticket);
    if (i < self->n && self->jobs[i].ticket == ticket) {
        self->jobs[i].live++;
        return 0;
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        job_t *grown = realloc(self->jobs, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->jobs = grown;
        self->cap = cap;
    }
    memmove(&self->jobs[i + 1], &self->jobs[i], (self->n - i) * sizeof *self->jobs);
    self->jobs[i] = (job_t){.ticket = ticket, .first = mono, .live = 1};
    self->n++;
    return 0;
}

bool offers_room(const offers_t *self, int64_t ticket, int fanout, int64_t step_ms, int64_t mono,
                 int64_t *widen_at)
{
    if (fanout <= 0)
        return true;
    size_t i = find(self, ticket);
    if (i >= self->n || self->jobs[i].ticket != ticket)
        return true; /* on offer to nobody yet */
    const job_t *j = &self->jobs[i];
    int64_t steps = step_ms > 0 && mono > j->first ? (mono - j->first) / step_ms : 0;
    int64_t cap = (int64_t)fanout * (steps + 1);
    if (j->live < cap)
        return true;
    int64_t next = j->first + (steps + 1) * (step_ms > 0 ? step_ms : 1);
    if (widen_at && (*widen_at == 0 || next < *widen_at))
        *widen_at = next;
    return false;
}

void offers_end(offers_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n; i++) {
        if (self->jobs[i].live > 0)
            self->jobs[kept++] = self->jobs[i];
    }
    self->n = kept;
}
