/* stats_int.h - private to the monthly figures: the requests and events one
 * month's report is computed from (stats_load.c reads them, stats.c counts
 * them). Not for other modules: use stats.h. */
#ifndef BM_STATS_INT_H
#define BM_STATS_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Event kinds the figures use; others are not loaded. */
enum { K_RECEIVED, K_CLAIMED, K_COMPLETED, K_FAILED, K_LEASE_EXPIRED, K_ESCALATED, K_RESOLVED,
       K_CANCELLED, K_REOPENED, K_RATED, K_COUNT };

/* Statuses as of a time (reconstructed from events' to_status). */
enum { S_NONE = -1, S_OPEN, S_CLAIMED, S_DONE, S_ESCALATED, S_RESOLVED, S_CANCELLED, S_COUNT };

typedef struct {
    int64_t at;
    int kind;
    int to;       /* S_* or S_NONE */
    int score;    /* rated: 1..5; else 0 */
    int64_t id;
    const char *vol; /* claimed / completed by a volunteer: their id (in the set's strings) */
} ev_t;

typedef struct {
    int64_t id, created_at, deadline_at;
    const char *channel, *category, *building; /* in the set's strings */
    size_t ev0, nev;                     /* its events: evs[ev0 .. ev0 + nev), in (at, id) order */
} req_t;

/* The requests one month's figures need, ordered by id, with all their
 * events. It may hold more requests than needed: those count for nothing. */
typedef struct {
    req_t *reqs;
    size_t nreq;
    ev_t *evs;
    size_t nev;
    /* Each distinct text once (buildings, categories, channels, volunteers). */
    char **strs;
    size_t nstr, strcap;
    size_t *slots; /* open addressing: index + 1 into strs, 0 = empty */
    size_t nslots;
} stats_set_t;

/* FNV-1a hash of a string (the set's strings and stats.c's tables). */
uint64_t stats_hash(const char *s);

/* One month of the trend. */
typedef struct {
    long received, done, rated, good, score_sum; /* good: ratings of 4 or 5 */
} stats_trend_t;

/* Loads into set every request that can count in the month [from, until)
 * with month end as_of (docs/stats.md): received in it, with a counted event
 * in it, or possibly unfinished at as_of. Returns 0, or -1 (set emptied). */
int stats_set_load(sqlite3 *db, int64_t from, int64_t until, int64_t as_of, stats_set_t *set);
void stats_set_free(stats_set_t *set);

/* The trend figures of the n months bounds[i] .. bounds[i + 1] (n + 1
 * ascending bounds, n <= 32) into out[0 .. n). Returns 0 or -1. */
int stats_trend_load(sqlite3 *db, const int64_t *bounds, int n, stats_trend_t *out);

/* Grows *arr (of elem-sized items, *cap of them) to hold n + 1 (stats.c).
 * Returns 0, or -1 out of memory (*arr unchanged). */
int stats_grow(void **arr, size_t *cap, size_t n, size_t elem);

/* The score (1..5) in a rated event's detail, or 0 if it has none. */
int stats_score_of(const unsigned char *detail);

#endif
