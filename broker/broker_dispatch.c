/* broker_dispatch.c - offers and what follows a commit: which open jobs go
 * to which online volunteers (fairly, widening by category step), the
 * taken/revoked notices for changes noted during a pass, and the sweep that
 * ends expired leases and flags overdue requests. */
#include "broker_int.h"
#include "log.h"
#include "offers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* ---- changes noted in a pass, announced after its commit ------------------ */

/* Returns the change noted, or NULL if there was no memory for it. */
change_t *note_change(broker_t *b, int64_t ticket, const char *volunteer, bool revoked,
                             const char *reason)
{
    if (b->n_changes == b->cap_changes) {
        size_t cap = b->cap_changes ? b->cap_changes * 2 : 64;
        change_t *grown = realloc(b->changes, cap * sizeof *grown);
        if (!grown)
            return NULL; /* the offer lists heal at the next dispatch */
        b->changes = grown;
        b->cap_changes = cap;
    }
    change_t *c = &b->changes[b->n_changes++];
    c->ticket = ticket;
    bm_strlcpy(c->volunteer, volunteer ? volunteer : "", sizeof c->volunteer);
    c->revoked = revoked;
    bm_strlcpy(c->reason, reason ? reason : "", sizeof c->reason);
    c->note[0] = '\0';
    return c;
}

/* Tells those who were offered a ticket that is no longer on offer that it
 * is taken, and a volunteer who lost a job that it is revoked. */
void announce_changes(broker_t *b)
{
    for (size_t k = 0; k < b->n_changes; k++) {
        const change_t *c = &b->changes[k];
        for (int i = 0; i < b->session_top; i++) {
            session_t *s = &b->sessions[i];
            if (!s->used)
                continue;
            if (c->revoked) {
                if (strcmp(s->volunteer, c->volunteer) != 0)
                    continue;
                cJSON *body = cJSON_CreateObject();
                cJSON_AddNumberToObject(body, "ticket", (double)c->ticket);
                cJSON_AddStringToObject(body, "reason", c->reason);
                if (c->note[0])
                    cJSON_AddStringToObject(body, "note", c->note);
                send_now(b, SOCK_WORKER, &s->env, BM_CMD_REVOKED, body);
                continue;
            }
            if (!session_was_offered(s, c->ticket))
                continue;
            session_forget_offer(s, c->ticket);
            if (strcmp(s->volunteer, c->volunteer) == 0)
                continue;
            cJSON *body = cJSON_CreateObject();
            cJSON_AddNumberToObject(body, "ticket", (double)c->ticket);
            send_now(b, SOCK_WORKER, &s->env, BM_CMD_TAKEN, body);
        }
    }
    b->n_changes = 0;
}

/* ---- leases and overdue -------------------------------------------------- */

/* Returns claims whose lease ran out to open, noting the revoked notices. */
void expire_leases(broker_t *b)
{
    store_expired_t expired[64];
    int n = store_expire_leases(b->store, bm_now_ms(), expired, 64);
    for (int i = 0; i < n; i++) {
        log_info("工单 %lld：%s 的接单期限已过，重新派出 / ticket %lld: lease of %s expired; offered again",
                 (long long)expired[i].ticket, expired[i].volunteer, (long long)expired[i].ticket,
                 expired[i].volunteer);
        note_change(b, expired[i].ticket, expired[i].volunteer, true, "lease_expired");
        b->dispatch_dirty = true;
    }
}

/* Lease expiry and overdue flags, at most every SWEEP_EVERY_MS. */
void sweep(broker_t *b)
{
    int64_t mono = bm_mono_ms();
    if (mono - b->last_sweep < SWEEP_EVERY_MS)
        return;
    b->last_sweep = mono;
    expire_leases(b);
    if (store_batch_failed(b->store))
        return;
    int marked = store_mark_overdue(b->store, bm_now_ms());
    if (marked > 0)
        log_info("%d 件工单已超时，已通知办公室 / %d request(s) flagged overdue; the office is told", marked,
                 marked);
}

/* ---- offers -------------------------------------------------------------- */

/* Offer bodies built during one dispatch, each once, by ticket: an open
 * addressing table, allocated once for the broker's lifetime; only the slots
 * a dispatch filled are emptied after it. */
_Static_assert((OFFER_CACHE & (OFFER_CACHE - 1)) == 0 && OFFER_CACHE <= 65536,
               "OFFER_CACHE: a power of two that fits the uint16_t slot list");
struct offer_cache {
    int64_t tickets[OFFER_CACHE];
    cJSON *bodies[OFFER_CACHE];
    uint16_t used[OFFER_CACHE]; /* the filled slots, in order */
    size_t n_used;
};
typedef struct offer_cache offer_cache_t;

/* The offer body for ticket; *owned is set when the caller must free it
 * (the cache is missing or full). */
static cJSON *offer_body(broker_t *b, offer_cache_t *c, int64_t ticket, bool *owned)
{
    *owned = false;
    if (c) {
        size_t i = (size_t)ticket * 0x9E3779B97F4A7C15ull & (OFFER_CACHE - 1);
        for (size_t probes = 0; probes < OFFER_CACHE; probes++, i = (i + 1) & (OFFER_CACHE - 1)) {
            if (c->tickets[i] == ticket)
                return c->bodies[i];
            if (c->tickets[i] == 0) {
                c->bodies[i] = store_offer(b->store, ticket);
                if (c->bodies[i]) {
                    c->tickets[i] = ticket;
                    c->used[c->n_used++] = (uint16_t)i;
                }
                return c->bodies[i];
            }
        }
    }
    *owned = true;
    return store_offer(b->store, ticket);
}

/* Empties the slots the last dispatch filled. */
static void offer_cache_clear(offer_cache_t *c)
{
    for (size_t k = 0; c && k < c->n_used; k++) {
        cJSON_Delete(c->bodies[c->used[k]]);
        c->bodies[c->used[k]] = NULL;
        c->tickets[c->used[k]] = 0;
    }
    if (c)
        c->n_used = 0;
}

void offer_cache_free(offer_cache_t **c)
{
    if (c && *c) {
        offer_cache_clear(*c);
        free(*c);
        *c = NULL;
    }
}

static int by_urgency(const void *pa, const void *pb)
{
    const store_open_t *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    if (a->created_at != b->created_at)
        return a->created_at < b->created_at ? -1 : 1;
    return a->ticket < b->ticket ? -1 : a->ticket > b->ticket;
}

/* Fills a volunteer's free offer slots: for each of its skills the oldest
 * open requests it has not declined or failed (one indexed query per skill,
 * whatever waits in other categories or was declined by others) that are
 * not yet on offer to as many volunteers as their current step allows, then
 * the most urgent, oldest of those across its skills. */
static void dispatch_one(broker_t *b, session_t *s, offer_cache_t *cache, int64_t mono)
{
    int window = b->cfg.offer_window < MAX_OFFERED ? b->cfg.offer_window : MAX_OFFERED;
    int room = window - s->n_offered;
    if (room <= 0)
        return;
    int held = store_volunteer_held(b->store, s->volunteer);
    if (held < 0 || held >= s->max_jobs)
        return;
    store_open_t cand[BM_MAX_CATEGORIES * MAX_OFFERED];
    store_open_t page[MAX_OFFERED];
    int n = 0;
    for (int c = 0; c < b->cfg.category_count && c < 32; c++) {
        if (!(s->skills & (1u << c)))
            continue;
        const bm_category_t *cat = &b->cfg.categories[c];
        int kept = 0;
        store_open_t after = {.created_at = INT64_MIN, .ticket = INT64_MIN};
        for (int p = 0; p < OFFER_PAGES && kept < room; p++) {
            int got = store_open_for(b->store, c, s->volunteer, p ? &after : NULL, page, window);
            for (int i = 0; i < got && kept < room; i++) {
                if (session_was_offered(s, page[i].ticket) ||
                    !offers_room(b->offers, page[i].ticket, cat->offer_fanout,
                                 (int64_t)cat->offer_step_s * 1000, mono, &b->next_widen))
                    continue;
                cand[n + kept++] = page[i];
            }
            if (got < window)
                break;
            after = page[got - 1];
        }
        n += kept;
    }
    qsort(cand, (size_t)n, sizeof cand[0], by_urgency);
    for (int q = 0; q < n && s->n_offered < window; q++) {
        bool owned = false;
        cJSON *body = offer_body(b, cache, cand[q].ticket, &owned);
        if (!body)
            continue;
        s->offered[s->n_offered++] = cand[q].ticket;
        s->last_offered = mono;
        if (offers_count(b->offers, cand[q].ticket, mono) != 0)
            log_warn("内存不足，无法计数 / out of memory counting offers; ticket %lld may go to more volunteers",
                     (long long)cand[q].ticket);
        log_debug("offer ticket %lld to %s", (long long)cand[q].ticket, s->volunteer);
        if (bm_send(b->sock[SOCK_WORKER], &s->env, BM_CMD_OFFER, "", 0, body) != 0)
            log_debug("offer to %s dropped: %s", s->volunteer, zmq_strerror(errno));
        if (owned)
            cJSON_Delete(body);
    }
}

/* Wall ms of the latest local midnight. */
static int64_t local_midnight(int64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return now_ms - now_ms % 86400000;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

/* Today's local midnight, worked out again only when the day changes or the
 * clock steps back (localtime_r and mktime cost more than a dispatch's
 * bookkeeping). */
static int64_t today_midnight(broker_t *b, int64_t now_ms)
{
    if (now_ms < b->midnight || now_ms >= b->next_midnight) {
        b->midnight = local_midnight(now_ms);
        /* 26 hours on is the next day whatever its length (23 to 25 hours). */
        b->next_midnight = local_midnight(b->midnight + 26 * INT64_C(3600000));
        if (b->next_midnight <= now_ms)
            b->next_midnight = 0; /* no sense to be made of it: every time */
    }
    return b->midnight;
}

/* Fairness: fewest jobs given today first, then the one offered to longest
 * ago (never offered first), then by id, so that equal volunteers take turns. */
static int by_fairness(const void *pa, const void *pb)
{
    const session_t *a = *(session_t *const *)pa, *b = *(session_t *const *)pb;
    if (a->claims_today != b->claims_today)
        return a->claims_today < b->claims_today ? -1 : 1;
    if (a->last_offered != b->last_offered)
        return a->last_offered < b->last_offered ? -1 : 1;
    return strcmp(a->volunteer, b->volunteer);
}

/* Offers open requests to online volunteers with the skill and room for a
 * job, at most offer_window outstanding per volunteer; each job first to its
 * category's offer_fanout volunteers, chosen fairly, and to that many more
 * every offer_step_s until someone claims it. */
void dispatch(broker_t *b)
{
    int64_t mono = bm_mono_ms();
    bool widen = b->next_widen && mono >= b->next_widen;
    if (!b->dispatch_dirty && !widen && mono - b->last_dispatch < DISPATCH_EVERY_MS)
        return;
    b->dispatch_dirty = false;
    b->last_dispatch = mono;
    b->next_widen = 0;
    /* Who holds which offer now: claims and declines have taken some away. */
    offers_begin(b->offers);
    session_t *online[MAX_SESSIONS];
    int n = 0;
    for (int i = 0; i < b->session_top; i++) {
        session_t *s = &b->sessions[i];
        if (!session_online(b, s, mono))
            continue; /* an offer to someone gone offline does not hold a job back */
        for (int k = 0; k < s->n_offered; k++)
            offers_count(b->offers, s->offered[k], mono);
        online[n++] = s;
    }
    if (n > 0) { /* nobody online: nothing to read */
        int64_t midnight = today_midnight(b, bm_now_ms());
        store_read_begin(b->store);
        for (int i = 0; i < n; i++) {
            session_t *s = online[i];
            if (s->claims_day != midnight) {
                int got = store_volunteer_claimed_since(b->store, s->volunteer, midnight);
                s->claims_today = got > 0 ? got : 0;
                s->claims_day = midnight;
            }
        }
        if (!b->offer_cache)
            b->offer_cache = calloc(1, sizeof *b->offer_cache); /* NULL: bodies made per offer */
        qsort(online, (size_t)n, sizeof online[0], by_fairness);
        for (int i = 0; i < n; i++)
            dispatch_one(b, online[i], b->offer_cache, mono);
        store_read_end(b->store);
    }
    offers_end(b->offers);
    offer_cache_clear(b->offer_cache);
}
