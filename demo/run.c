/* run.c - the replay loop of bianmin-demo.
 *
 * One thread, one zmq_poll over a client DEALER (submits, ratings, the
 * office's resolves) and one worker DEALER per simulated volunteer. Every
 * action waits for the broker's answer before the next one on that request,
 * so what the demo shows is what the broker acknowledged. Everything is
 * bounded: submits in flight, offers remembered, and the whole run by
 * --max-seconds. */
#include "demo.h"
#include "progress.h"
#include "text.h"

#include "jsonx.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_OFFERS   32   /* offers a volunteer remembers */
#define POLL_MS      10
#define TTY_EVERY_MS 250
#define PLAIN_EVERY_MS 5000
#define SILENCE_MS   15000 /* heartbeats are answered every ~2 s: the broker is gone */

typedef enum {
    J_PENDING = 0, /* not yet submitted */
    J_SUBMITTING,  /* submit sent */
    J_OPEN,        /* in the queue, waiting for a claim */
    J_WORKING,     /* a volunteer holds it */
    J_FINISHING,   /* done / cantfix / escalate sent */
    J_ESCALATED,   /* waiting for the office */
    J_RESOLVING,   /* resolve sent */
    J_RATE_WAIT,   /* done; the requester rates soon */
    J_RATING,      /* rate sent */
    J_END
} job_state_t;

typedef enum { FIN_DONE, FIN_CANTFIX, FIN_ESCALATE } finish_t;

typedef struct {
    const demo_row_t *row;
    const char *channel;
    int64_t ticket;
    job_state_t state;
    int vol;              /* holder, -1 if none */
    finish_t finish;
    int64_t progress_at;  /* mono ms; 0: no progress note planned */
    int64_t due_at;       /* mono ms of the next timed step; 0: none */
    int64_t submitted_at; /* mono ms of the submit's answer */
    int64_t finish_at;    /* mono ms the volunteer finishes (while working) */
    int64_t done_at;      /* mono ms the request was completed; 0: not (yet) */
    int cantfixes;
    bool escalated;
} job_t;

typedef struct {
    void *sock;
    char id[24];
    char name[64];
    bool ready;       /* hello answered */
    int held, claiming;
    int64_t next_hb;
    int64_t offers[MAX_OFFERS];
    int n_offers;
} vol_t;

typedef struct {
    size_t submitted, duplicates, submit_errors;
    size_t claims_won, claims_lost, progress, cantfix, escalated, resolved, done;
    size_t rated, rate_errors, unrated, act_errors, revoked;
    size_t scores[6];
} counts_t;

typedef struct {
    const demo_opts_t *o;
    const demo_row_t *rows;
    const int64_t *offsets;
    size_t n;
    double speed;
    void *ctx, *client;
    vol_t *vols;
    int n_vols;
    job_t *jobs;
    int64_t *table; /* ticket -> job index + 1, open addressing */
    size_t table_cap;
    uint64_t rng;
    int heartbeat_ms;
    size_t next_row, inflight, ended, working;
    int64_t start, next_due;
    counts_t c;
    bool tty;
    int64_t last_draw;
    bool drew;
    int turn; /* rotates the order volunteers are served in */
    int64_t last_rx; /* mono ms of the last message from the broker */
    int64_t rate_at;  /* when ema_rate was last updated */
    size_t rate_ended;
    double ema_rate;  /* requests ended per second, smoothed */
} demo_t;

/* ---- small helpers --------------------------------------------------------- */

static uint64_t rnd(demo_t *d)
{
    /* splitmix64: deterministic for a given --seed */
    uint64_t z = (d->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rnd01(demo_t *d)
{
    return (double)(rnd(d) >> 11) / 9007199254740992.0;
}

static bool chance(demo_t *d, int pct)
{
    return rnd01(d) * 100.0 < pct;
}

static int64_t between(demo_t *d, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd01(d) * (double)(hi - lo));
}

static size_t slot_of(const demo_t *d, int64_t ticket)
{
    return (size_t)((uint64_t)ticket * 0x9E3779B97F4A7C15ULL >> 20) & (d->table_cap - 1);
}

static void table_put(demo_t *d, int64_t ticket, size_t job)
{
    size_t i = slot_of(d, ticket);
    while (d->table[2 * i] != 0 && d->table[2 * i] != ticket)
        i = (i + 1) & (d->table_cap - 1);
    d->table[2 * i] = ticket;
    d->table[2 * i + 1] = (int64_t)job + 1;
}

static job_t *job_of(demo_t *d, int64_t ticket)
{
    if (ticket <= 0)
        return NULL;
    size_t i = slot_of(d, ticket);
    while (d->table[2 * i] != 0) {
        if (d->table[2 * i] == ticket)
            return &d->jobs[d->table[2 * i + 1] - 1];
        i = (i + 1) & (d->table_cap - 1);
    }
    return NULL;
}

static void due(demo_t *d, job_t *j, int64_t at)
{
    j->due_at = at;
    if (at > 0 && (d->next_due == 0 || at < d->next_due))
        d->next_due = at;
}

static void end_job(demo_t *d, job_t *j)
{
    if (j->state == J_END)
        return;
    j->state = J_END;
    j->due_at = 0;
    d->ended++;
}

static int64_t cid_number(const bm_msg_t *m)
{
    long v = 0;
    if (m->cid_len < 2 || bm_parse_long(m->cid + 1, 0, LONG_MAX, &v) != 0)
        return -1;
    return v;
}

static int64_t body_ticket(const bm_msg_t *m)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m->body, "ticket");
    return cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
}

static const char *error_code(const bm_msg_t *m)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m->body, "code");
    return cJSON_IsString(c) ? c->valuestring : "?";
}

/* Sends cmd with a cid "<kind><number>"; the body is freed. */
static int send_cmd(void *sock, const char *cmd, char kind, int64_t number, cJSON *body)
{
    char cid[32];
    int len = snprintf(cid, sizeof cid, "%c%lld", kind, (long long)number);
    int rc = bm_send(sock, NULL, cmd, cid, (size_t)len, body);
    if (rc != 0)
        log_warn("cannot send %s: %s", cmd, zmq_strerror(errno));
    cJSON_Delete(body);
    return rc;
}

static cJSON *ticket_body(int64_t ticket)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "ticket", (double)ticket);
    return b;
}

/* ---- residents and the office (client socket) ----------------------------- */

static void submit_row(demo_t *d, size_t i)
{
    const demo_row_t *r = &d->rows[i];
    job_t *j = &d->jobs[i];
    char building[128], unit[32], contact[64], text[512], ref[48];
    demo_building(r->borough, r->key, building, sizeof building);
    demo_unit(r->key, unit, sizeof unit);
    demo_contact(r->key, contact, sizeof contact);
    demo_request_text(r->category, r->key, text, sizeof text);
    snprintf(ref, sizeof ref, "nyc311-%lld", (long long)r->key);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "channel", j->channel);
    cJSON_AddStringToObject(b, "category", r->category);
    cJSON_AddStringToObject(b, "building", building);
    cJSON_AddStringToObject(b, "unit", unit);
    cJSON_AddStringToObject(b, "contact", contact);
    cJSON_AddStringToObject(b, "text", text);
    cJSON_AddStringToObject(b, "ref", ref);
    j->state = J_SUBMITTING;
    d->inflight++;
    if (send_cmd(d->client, BM_CMD_SUBMIT, 's', (int64_t)i, b) != 0) {
        d->inflight--;
        d->c.submit_errors++;
        end_job(d, j);
    }
}

/* The requester's score: mostly 4-5, some 3, few 1-2; a job that needed a
 * second volunteer or a department is remembered a little less kindly. */
static int draw_score(demo_t *d, const job_t *j)
{
    double u = rnd01(d);
    int s = u < 0.55 ? 5 : u < 0.82 ? 4 : u < 0.92 ? 3 : u < 0.97 ? 2 : 1;
    if ((j->cantfixes > 0 || j->escalated) && s > 1 && chance(d, 50))
        s--;
    return s;
}

static void send_rate(demo_t *d, job_t *j)
{
    int score = draw_score(d, j);
    cJSON *b = ticket_body(j->ticket);
    cJSON_AddStringToObject(b, "channel", j->channel);
    cJSON_AddNumberToObject(b, "score", score);
    const char *comment = demo_rating_comment(score, rnd(d));
    if (comment[0])
        cJSON_AddStringToObject(b, "comment", comment);
    j->state = J_RATING;
    j->due_at = 0;
    if (send_cmd(d->client, BM_CMD_RATE, 'r', j - d->jobs, b) != 0) {
        d->c.rate_errors++;
        end_job(d, j);
    }
}

static void send_resolve(demo_t *d, job_t *j)
{
    cJSON *b = ticket_body(j->ticket);
    cJSON_AddStringToObject(b, "channel", "office");
    cJSON_AddStringToObject(b, "answer", demo_resolve_answer(j->row->category));
    j->state = J_RESOLVING;
    j->due_at = 0;
    if (send_cmd(d->client, BM_CMD_RESOLVE, 'v', j - d->jobs, b) != 0) {
        d->c.act_errors++;
        end_job(d, j);
    }
}

/* After done or resolved: ~rate_pct of requesters rate a moment later. */
static void finished(demo_t *d, job_t *j, int64_t now)
{
    d->c.done++;
    j->done_at = now;
    if (chance(d, d->o->rate_pct)) {
        j->state = J_RATE_WAIT;
        due(d, j, now + between(d, 300, 1500));
    } else {
        d->c.unrated++;
        end_job(d, j);
    }
}

static void on_client_reply(demo_t *d, const bm_msg_t *m, int64_t now)
{
    int64_t idx = cid_number(m);
    if (idx < 0 || (size_t)idx >= d->n)
        return;
    job_t *j = &d->jobs[idx];
    bool ok = strcmp(m->cmd, BM_REPLY_OK) == 0;
    switch (m->cid[0]) {
    case 's':
        if (j->state != J_SUBMITTING)
            return;
        d->inflight--;
        if (!ok) {
            d->c.submit_errors++;
            log_warn("submit of row %lld refused: %s", (long long)j->row->key, error_code(m));
            end_job(d, j);
            return;
        }
        d->c.submitted++;
        j->ticket = body_ticket(m);
        j->submitted_at = now;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m->body, "duplicate")) ||
            j->ticket <= 0 || job_of(d, j->ticket)) {
            d->c.duplicates++; /* the same unique_key twice: the broker kept one */
            end_job(d, j);
            return;
        }
        table_put(d, j->ticket, (size_t)idx);
        j->state = J_OPEN;
        break;
    case 'r':
        if (j->state != J_RATING)
            return;
        if (ok) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(m->body, "rating");
            int score = cJSON_IsNumber(s) ? s->valueint : 0;
            d->c.rated++;
            if (score >= 1 && score <= 5)
                d->c.scores[score]++;
        } else {
            d->c.rate_errors++;
            log_warn("rating ticket %lld refused: %s", (long long)j->ticket, error_code(m));
        }
        end_job(d, j);
        break;
    case 'v':
        if (j->state != J_RESOLVING)
            return;
        if (!ok) {
            d->c.act_errors++;
            log_warn("resolve of ticket %lld refused: %s", (long long)j->ticket, error_code(m));
            end_job(d, j);
            return;
        }
        d->c.resolved++;
        finished(d, j, now);
        break;
    default:
        break;
    }
}

/* ---- volunteers (worker sockets) ------------------------------------------- */

static void send_hello(demo_t *d, vol_t *v)
{
    static const char *const skills[] = {"lock", "pipe", "leak", "repair", "other"};
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "volunteer", v->id);
    cJSON_AddStringToObject(b, "name", v->name);
    cJSON *arr = cJSON_AddArrayToObject(b, "skills");
    for (size_t i = 0; i < sizeof skills / sizeof skills[0]; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(skills[i]));
    cJSON_AddNumberToObject(b, "max_jobs", d->o->max_jobs);
    v->ready = false;
    send_cmd(v->sock, BM_CMD_HELLO, 'h', 0, b);
}

static void forget_offer(vol_t *v, int k)
{
    memmove(&v->offers[k], &v->offers[k + 1], (size_t)(v->n_offers - k - 1) * sizeof v->offers[0]);
    v->n_offers--;
}

/* Claims remembered offers while there is room: only requests the demo
 * knows to be open (a submit answer or a cantfix answer may still be on
 * its way; the offer then waits). */
static void try_claims(demo_t *d, vol_t *v)
{
    int k = 0;
    while (v->ready && k < v->n_offers && v->held + v->claiming < d->o->max_jobs) {
        int64_t ticket = v->offers[k];
        job_t *j = job_of(d, ticket);
        if (!j) {
            if (ticket <= 0)
                forget_offer(v, k);
            else
                k++; /* the submit's answer is not read yet */
            continue;
        }
        if (j->state == J_FINISHING || j->state == J_SUBMITTING) {
            k++;
            continue;
        }
        forget_offer(v, k);
        if (j->state != J_OPEN)
            continue;
        v->claiming++;
        if (send_cmd(v->sock, BM_CMD_CLAIM, 'c', ticket, ticket_body(ticket)) != 0)
            v->claiming--;
    }
}

/* A claim won: how long the job takes (the row's real resolution time
 * compressed like the arrivals, capped), and how it ends. */
static void start_job(demo_t *d, job_t *j, int vi, int64_t now)
{
    const demo_opts_t *o = d->o;
    double work_s = (double)(j->row->closed - j->row->created) / d->speed;
    if (j->cantfixes > 0)
        work_s *= 0.6; /* the second volunteer knows what they are in for */
    /* A soft cap: short jobs keep their compressed time, long ones approach
     * max_job_s, and the order of the real times is kept. */
    work_s = o->max_job_s * (1.0 - exp(-work_s / o->max_job_s));
    if (work_s < o->min_job_s)
        work_s = o->min_job_s;
    int64_t work_ms = (int64_t)(work_s * 1000.0);
    j->state = J_WORKING;
    j->vol = vi;
    d->working++;
    j->finish = FIN_DONE;
    if (j->cantfixes == 0 && chance(d, o->cantfix_pct))
        j->finish = FIN_CANTFIX;
    else if (!j->escalated && chance(d, o->escalate_pct))
        j->finish = FIN_ESCALATE;
    if (j->finish != FIN_DONE)
        work_ms = work_ms * 2 / 5; /* found out part-way */
    j->progress_at = 0;
    if (j->finish == FIN_DONE && work_ms >= 1500 && chance(d, o->progress_pct))
        j->progress_at = now + work_ms * 2 / 5;
    j->finish_at = now + work_ms;
    due(d, j, j->progress_at ? j->progress_at : j->finish_at);
}

static void finish_job(demo_t *d, job_t *j)
{
    vol_t *v = &d->vols[j->vol];
    cJSON *b = ticket_body(j->ticket);
    const char *cmd;
    char kind;
    switch (j->finish) {
    case FIN_CANTFIX:
        cmd = BM_CMD_CANTFIX;
        kind = 'x';
        cJSON_AddStringToObject(b, "reason", demo_cantfix_reason(rnd(d)));
        break;
    case FIN_ESCALATE:
        cmd = BM_CMD_ESCALATE;
        kind = 'e';
        cJSON_AddStringToObject(b, "department", demo_department_for(j->row->category));
        cJSON_AddStringToObject(b, "reason", demo_escalate_reason(j->row->category));
        break;
    default:
        cmd = BM_CMD_DONE;
        kind = 'd';
        cJSON_AddStringToObject(b, "note", demo_done_note(j->row->category, rnd(d)));
        break;
    }
    j->state = J_FINISHING;
    j->due_at = 0;
    if (send_cmd(v->sock, cmd, kind, j->ticket, b) != 0) {
        d->c.act_errors++;
        v->held--;
        d->working--;
        end_job(d, j);
    }
}

static void release(demo_t *d, job_t *j)
{
    if (j->vol >= 0) {
        d->vols[j->vol].held--;
        d->working--;
    }
    j->vol = -1;
}

static void on_worker_reply(demo_t *d, int vi, const bm_msg_t *m, int64_t now)
{
    vol_t *v = &d->vols[vi];
    bool ok = strcmp(m->cmd, BM_REPLY_OK) == 0;
    if (m->cid[0] == 'h') {
        if (!ok) {
            log_error("%s: hello refused: %s", v->id, error_code(m));
            return;
        }
        int64_t hb = d->heartbeat_ms;
        bm_error_t err = {0};
        bm_json_int(m->body, "heartbeat_ms", false, 100, 600000, &hb, &err);
        d->heartbeat_ms = (int)hb;
        v->ready = true;
        v->next_hb = now + hb;
        return;
    }
    if (m->cid[0] == 'b') {
        if (!ok && strcmp(error_code(m), BM_ERR_HELLO_REQUIRED) == 0)
            send_hello(d, v); /* the broker restarted or forgot us */
        return;
    }
    int64_t ticket = cid_number(m);
    job_t *j = job_of(d, ticket);
    if (m->cid[0] == 'c') {
        v->claiming--;
        if (!ok) {
            d->c.claims_lost++; /* taken: someone was faster (first claim wins) */
            return;
        }
        d->c.claims_won++;
        v->held++;
        if (!j || j->state != J_OPEN) {
            log_warn("%s won ticket %lld the demo did not expect", v->id, (long long)ticket);
            d->c.act_errors++;
            return; /* held stays counted: the broker thinks we hold it */
        }
        start_job(d, j, vi, now);
        return;
    }
    if (!j || j->vol != vi)
        return;
    if (m->cid[0] == 'p') {
        if (ok)
            d->c.progress++;
        return;
    }
    if (j->state != J_FINISHING)
        return;
    release(d, j);
    if (!ok) {
        d->c.act_errors++;
        log_warn("%s: %s on ticket %lld refused: %s", v->id,
                 m->cid[0] == 'd' ? "done" : m->cid[0] == 'x' ? "cantfix" : "escalate",
                 (long long)ticket, error_code(m));
        end_job(d, j);
        return;
    }
    switch (m->cid[0]) {
    case 'd':
        finished(d, j, now);
        break;
    case 'x':
        d->c.cantfix++;
        j->cantfixes++;
        j->state = J_OPEN; /* back in the queue, offered to the others */
        break;
    case 'e':
        d->c.escalated++;
        j->escalated = true;
        j->state = J_ESCALATED;
        due(d, j, now + between(d, 1000, 3000)); /* the department answers the office */
        break;
    default:
        break;
    }
}

static void on_worker_push(demo_t *d, int vi, const bm_msg_t *m)
{
    vol_t *v = &d->vols[vi];
    int64_t ticket = body_ticket(m);
    if (strcmp(m->cmd, BM_CMD_OFFER) == 0) {
        for (int k = 0; k < v->n_offers; k++) {
            if (v->offers[k] == ticket)
                return;
        }
        if (v->n_offers == MAX_OFFERS)
            forget_offer(v, 0);
        v->offers[v->n_offers++] = ticket;
    } else if (strcmp(m->cmd, BM_CMD_TAKEN) == 0) {
        for (int k = 0; k < v->n_offers; k++) {
            if (v->offers[k] == ticket) {
                forget_offer(v, k);
                break;
            }
        }
    } else if (strcmp(m->cmd, BM_CMD_REVOKED) == 0) {
        job_t *j = job_of(d, ticket);
        if (j && j->vol == vi && (j->state == J_WORKING || j->state == J_FINISHING)) {
            d->c.revoked++;
            release(d, j);
            j->state = J_OPEN;
            j->due_at = 0;
        }
    }
}

/* ---- timers ---------------------------------------------------------------- */

static void run_timers(demo_t *d, int64_t now)
{
    if (d->next_due == 0 || now < d->next_due)
        return;
    d->next_due = 0;
    for (size_t i = 0; i < d->n; i++) {
        job_t *j = &d->jobs[i];
        if (j->due_at == 0)
            continue;
        if (j->due_at > now) {
            if (d->next_due == 0 || j->due_at < d->next_due)
                d->next_due = j->due_at;
            continue;
        }
        switch (j->state) {
        case J_WORKING:
            if (j->progress_at && now >= j->progress_at) {
                cJSON *b = ticket_body(j->ticket);
                cJSON_AddStringToObject(b, "note", demo_progress_note(rnd(d)));
                send_cmd(d->vols[j->vol].sock, BM_CMD_PROGRESS, 'p', j->ticket, b);
                j->progress_at = 0;
                due(d, j, j->finish_at);
            } else {
                finish_job(d, j);
            }
            break;
        case J_ESCALATED:
            send_resolve(d, j);
            break;
        case J_RATE_WAIT:
            send_rate(d, j);
            break;
        default:
            j->due_at = 0;
            break;
        }
    }
}

static void heartbeats(demo_t *d, int64_t now)
{
    for (int i = 0; i < d->n_vols; i++) {
        vol_t *v = &d->vols[i];
        if (v->ready && now >= v->next_hb) {
            send_cmd(v->sock, BM_CMD_HEARTBEAT, 'b', 0, cJSON_CreateObject());
            v->next_hb = now + d->heartbeat_ms;
        }
    }
}

/* ---- progress -------------------------------------------------------------- */

static void draw(demo_t *d, int64_t now, bool last)
{
    if (d->o->progress == DEMO_PROGRESS_OFF)
        return;
    int every = d->tty ? TTY_EVERY_MS : PLAIN_EVERY_MS;
    if (!last && d->drew && now - d->last_draw < every)
        return;
    d->last_draw = now;
    d->drew = true;
    double el = (double)(now - d->start) / 1000.0;
    demo_progress_t p = {
        .total = d->n, .submitted = d->c.submitted + d->c.submit_errors, .done = d->c.done,
        .ended = d->ended, .working = d->working, .elapsed_s = el,
        .rate = el > 0 ? (double)d->c.done / el : 0, .eta_s = -1,
    };
    /* Arrivals follow the schedule; after that, the rest ends at the pace so far. */
    double arrivals_left = 0;
    if (d->n > 0)
        arrivals_left = (double)d->offsets[d->n - 1] / d->speed - el;
    /* The pace of requests ending, smoothed over ~5 s. While rows still
     * arrive, the schedule is known: what is left of it, one job, and the
     * queue at the current pace. After that, what is left at that pace. */
    double dt = (double)(now - d->rate_at) / 1000.0;
    if (dt >= 0.2) {
        double inst = (double)(d->ended - d->rate_ended) / dt;
        double alpha = 1.0 - exp(-dt / 5.0);
        d->ema_rate += alpha * (inst - d->ema_rate);
        d->rate_at = now;
        d->rate_ended = d->ended;
    }
    size_t queued = p.submitted > d->ended + d->working ? p.submitted - d->ended - d->working : 0;
    if (d->next_row < d->n) {
        p.eta_s = (arrivals_left > 0 ? arrivals_left : 0) + d->o->max_job_s;
        if (d->ema_rate > 0.1)
            p.eta_s += (double)queued / d->ema_rate;
    } else if (d->ema_rate > 0.1) {
        p.eta_s = (double)(d->n - d->ended) / d->ema_rate;
    }
    if (last)
        p.eta_s = d->ended == d->n ? 0 : -1;
    char line[512];
    demo_progress_format(&p, d->tty ? 24 : 0, line, sizeof line);
    if (d->tty)
        fprintf(stderr, "\r%s\033[K%s", line, last ? "\n" : "");
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* ---- the summary ------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void summary(demo_t *d, double elapsed)
{
    const counts_t *c = &d->c;
    printf("\nReplay %s in %.1f s (speed %.0fx: 1 s of demo = %.0f min of the trace)\n",
           d->ended == d->n ? "finished" : "stopped", elapsed, d->speed, d->speed / 60.0);
    printf("  submitted   %zu of %zu rows (duplicates %zu, refused %zu)\n", c->submitted, d->n,
           c->duplicates, c->submit_errors);
    printf("  claims      %zu won, %zu lost to a faster volunteer (first claim wins)\n",
           c->claims_won, c->claims_lost);
    printf("  progress    %zu notes sent while working\n", c->progress);
    printf("  can't fix   %zu (back to the queue, taken by someone else)\n", c->cantfix);
    printf("  escalated   %zu to a department, %zu resolved by the office\n", c->escalated,
           c->resolved);
    printf("  completed   %zu (done by a volunteer or resolved)\n", c->done);
    double sum = 0;
    for (int s = 1; s <= 5; s++)
        sum += (double)s * (double)c->scores[s];
    printf("  rated       %zu of %zu completed (%.0f%%): 5★ %zu  4★ %zu  3★ %zu  2★ %zu  1★ %zu"
           "  average %.2f\n",
           c->rated, c->done, c->done ? 100.0 * (double)c->rated / (double)c->done : 0.0,
           c->scores[5], c->scores[4], c->scores[3], c->scores[2], c->scores[1],
           c->rated ? sum / (double)c->rated : 0.0);
    if (c->rate_errors || c->act_errors || c->revoked)
        printf("  errors      %zu ratings refused, %zu actions refused, %zu jobs revoked\n",
               c->rate_errors, c->act_errors, c->revoked);
    if (d->ended < d->n)
        printf("  unfinished  %zu in progress when the run stopped, %zu never submitted\n",
               d->next_row - d->ended, d->n - d->next_row);

    /* Per category: how long requests took from submit to done, in trace time. */
    static const char *const cats[] = {"leak", "lock", "pipe", "repair", "other"};
    static const char *const labels[] = {"漏水抢修", "开锁修锁", "管道疏通", "水电维修",
                                         "其他    "};
    int64_t *spans = malloc((d->n ? d->n : 1) * sizeof *spans);
    if (!spans)
        return;
    printf("\n  %-16s %8s %8s   %s\n", "category", "received", "done", "median submit-to-done (trace time)");
    for (size_t k = 0; k < sizeof cats / sizeof cats[0]; k++) {
        size_t got = 0, nspan = 0;
        for (size_t i = 0; i < d->n; i++) {
            const job_t *j = &d->jobs[i];
            if (strcmp(j->row->category, cats[k]) != 0 || j->submitted_at == 0)
                continue;
            got++;
            if (j->done_at > j->submitted_at)
                spans[nspan++] = j->done_at - j->submitted_at;
        }
        if (got == 0)
            continue;
        char med[16] = "-";
        if (nspan > 0) {
            qsort(spans, nspan, sizeof *spans, cmp_i64);
            double trace_s = (double)spans[nspan / 2] / 1000.0 * d->speed;
            demo_format_duration(trace_s, med, sizeof med);
        }
        /* a label is 8 terminal columns wide */
        printf("  %-7s %s %8zu %8zu   %s\n", cats[k], labels[k], got, nspan, med);
    }
    free(spans);
}

/* ---- the loop ---------------------------------------------------------------- */

static int poll_once(demo_t *d, int timeout_ms)
{
    zmq_pollitem_t items[1 + 256];
    int n = 1 + d->n_vols;
    items[0] = (zmq_pollitem_t){.socket = d->client, .events = ZMQ_POLLIN};
    for (int i = 0; i < d->n_vols; i++)
        items[1 + i] = (zmq_pollitem_t){.socket = d->vols[i].sock, .events = ZMQ_POLLIN};
    int rc = zmq_poll(items, n, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    /* Volunteers are read in a rotating order so that the same one does not
     * always see (and win) the offers first. */
    d->turn = (d->turn + 1) % d->n_vols;
    for (int step = 0; step < n; step++) {
        int k = step == 0 ? 0 : 1 + (d->turn + step - 1) % d->n_vols;
        if (!(items[k].revents & ZMQ_POLLIN))
            continue;
        void *sock = items[k].socket;
        for (int burst = 0; burst < 1000; burst++) {
            bm_msg_t m;
            bm_error_t err = {0};
            bm_recv_t r = bm_recv(sock, false, true, NULL, &m, &err);
            if (r == BM_RECV_NONE || r == BM_RECV_FAIL)
                break;
            if (r == BM_RECV_INVALID) {
                log_warn("malformed message from the broker: %s", err.message);
                continue;
            }
            int64_t now = bm_mono_ms();
            d->last_rx = now;
            if (k == 0)
                on_client_reply(d, &m, now);
            else if (m.cid_len == 0)
                on_worker_push(d, k - 1, &m);
            else
                on_worker_reply(d, k - 1, &m, now);
            bm_msg_clear(&m);
        }
        if (k > 0)
            try_claims(d, &d->vols[k - 1]);
    }
    return 0;
}

static int setup(demo_t *d)
{
    const demo_opts_t *o = d->o;
    d->ctx = zmq_ctx_new();
    if (!d->ctx)
        return -1;
    d->client = bm_socket(d->ctx, ZMQ_DEALER, o->client_ep, false);
    if (!d->client) {
        fprintf(stderr, "bianmin-demo: cannot connect to %s: %s\n", o->client_ep,
                zmq_strerror(errno));
        return -1;
    }
    d->vols = calloc((size_t)o->volunteers, sizeof *d->vols);
    d->jobs = calloc(d->n ? d->n : 1, sizeof *d->jobs);
    d->table_cap = 16;
    while (d->table_cap < 4 * d->n)
        d->table_cap *= 2;
    d->table = calloc(2 * d->table_cap, sizeof *d->table);
    if (!d->vols || !d->jobs || !d->table)
        return -1;
    for (size_t i = 0; i < d->n; i++) {
        d->jobs[i].row = &d->rows[i];
        d->jobs[i].channel = demo_channel_for(d->rows[i].key);
        d->jobs[i].vol = -1;
    }
    for (int i = 0; i < o->volunteers; i++) {
        vol_t *v = &d->vols[i];
        snprintf(v->id, sizeof v->id, "demo-v%02d", i + 1);
        demo_volunteer_name(i, v->name, sizeof v->name);
        v->sock = bm_socket(d->ctx, ZMQ_DEALER, o->worker_ep, false);
        if (!v->sock) {
            fprintf(stderr, "bianmin-demo: cannot connect to %s: %s\n", o->worker_ep,
                    zmq_strerror(errno));
            return -1;
        }
        d->n_vols++;
    }
    return 0;
}

static void teardown(demo_t *d)
{
    for (int i = 0; i < d->n_vols; i++)
        zmq_close(d->vols[i].sock);
    if (d->client)
        zmq_close(d->client);
    if (d->ctx)
        zmq_ctx_term(d->ctx);
    free(d->vols);
    free(d->jobs);
    free(d->table);
}

/* Says hello for every volunteer and waits until all are answered. */
static int greet(demo_t *d, int64_t deadline, volatile sig_atomic_t *stop)
{
    for (int i = 0; i < d->n_vols; i++)
        send_hello(d, &d->vols[i]);
    int64_t until = bm_mono_ms() + DEMO_HELLO_TIMEOUT_MS;
    if (until > deadline)
        until = deadline;
    for (;;) {
        int ready = 0;
        for (int i = 0; i < d->n_vols; i++)
            ready += d->vols[i].ready;
        if (ready == d->n_vols)
            return 0;
        if (*stop || bm_mono_ms() >= until) {
            fprintf(stderr,
                    "bianmin-demo: the broker did not answer %d of %d volunteers' hello at %s "
                    "within %d ms; is bianmin-broker running there?\n",
                    d->n_vols - ready, d->n_vols, d->o->worker_ep, DEMO_HELLO_TIMEOUT_MS);
            return -1;
        }
        if (poll_once(d, 50) != 0)
            return -1;
    }
}

int demo_run(const demo_opts_t *o, const demo_row_t *rows, size_t n, const int64_t *offsets,
             double speed, volatile sig_atomic_t *stop, int64_t *wall_start_ms)
{
    demo_t d = {.o = o, .rows = rows, .offsets = offsets, .n = n, .speed = speed,
                .rng = o->seed, .heartbeat_ms = 2000};
    int rc = 1;
    int64_t t_begin = bm_mono_ms();
    int64_t deadline = t_begin + (int64_t)(o->max_seconds * 1000.0);
    d.tty = o->progress == DEMO_PROGRESS_TTY ||
            (o->progress == DEMO_PROGRESS_AUTO && isatty(STDERR_FILENO));
    if (setup(&d) != 0) {
        fprintf(stderr, "bianmin-demo: setup failed\n");
        goto out;
    }
    if (greet(&d, deadline, stop) != 0)
        goto out;
    printf("%d volunteers on duty (%s ... %s), heartbeat every %d ms\n", d.n_vols,
           d.vols[0].name, d.vols[d.n_vols - 1].name, d.heartbeat_ms);
    fflush(stdout);

    d.start = bm_mono_ms();
    *wall_start_ms = bm_now_ms(); /* the same instant on the wall clock, for the time map */
    d.last_rx = d.start;
    d.rate_at = d.start;
    int64_t now = d.start;
    bool silent = false;
    while (!*stop && now < deadline && d.ended < d.n) {
        while (d.next_row < d.n && d.inflight < DEMO_SUBMIT_WINDOW &&
               d.start + (int64_t)((double)offsets[d.next_row] * 1000.0 / speed) <= now)
            submit_row(&d, d.next_row++);
        heartbeats(&d, now);
        run_timers(&d, now);
        for (int i = 0; i < d.n_vols; i++)
            try_claims(&d, &d.vols[(i + d.turn) % d.n_vols]);
        draw(&d, now, false);
        if (poll_once(&d, POLL_MS) != 0) {
            fprintf(stderr, "bianmin-demo: poll failed: %s\n", zmq_strerror(errno));
            break;
        }
        now = bm_mono_ms();
        if (now - d.last_rx > SILENCE_MS) {
            draw(&d, now, true);
            fprintf(stderr, "bianmin-demo: the broker has not answered for %d s; giving up\n",
                    SILENCE_MS / 1000);
            silent = true;
            break;
        }
    }
    if (!silent)
        draw(&d, now, true);
    if (now >= deadline && d.ended < d.n)
        fprintf(stderr, "bianmin-demo: stopped at the --max-seconds cap (%.0f s)\n",
                o->max_seconds);
    summary(&d, (double)(now - d.start) / 1000.0);
    fflush(stdout);
    rc = silent ? 1 : d.ended == d.n ? 0 : 2;
out:
    teardown(&d);
    return rc;
}
