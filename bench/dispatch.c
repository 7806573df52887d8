/* dispatch.c - from a resident's submit to an offer on a volunteer's phone,
 * and from 接单 (claim) to its confirmation, with 10 and 100 volunteers
 * online. The volunteers are DEALER sockets in this thread speaking the
 * worker protocol: hello, heartbeat, claim, done. Every idle volunteer who
 * is offered a job claims it at once (they race), and says done right after
 * winning. Each size runs twice in the same run: offers to everyone at once
 * (offer_fanout 0, the behaviour before targeted offers) and targeted offers
 * (the defaults: 3 volunteers first, 6 for urgent categories). */
#include "bench.h"
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEARTBEAT_EVERY_MS 1000
#define MAX_REMEMBERED     16
#define RUN_LIMIT_S        120

typedef struct {
    void *sock;
    bool hello_ok;
    bool busy; /* holds a job or has a claim in flight */
    int64_t offers[MAX_REMEMBERED];
    int n_offers;
} vol_t;

typedef struct {
    int64_t submit_sent, offer_at;
    int claims; /* claims sent */
    bool won, done;
} tix_t;

typedef struct {
    long n, lost_cap;
    int64_t *offer_lat, *claim_ok, *claim_lost, *done_lat, *submit_ack, *to_claim;
    long n_to_claim;
    long n_claim_ok, n_lost, n_done, n_other_err, offers, taken_msgs;
    char other_code[32];
} dstats_t;

static int send_json(void *sock, const char *cmd, const char *cid, cJSON *body)
{
    int rc = bm_send(sock, NULL, cmd, cid, strlen(cid), body);
    cJSON_Delete(body);
    return rc;
}

static void send_ticket_cmd(vol_t *v, const char *cmd, char tag, int64_t ticket)
{
    char cid[64];
    snprintf(cid, sizeof cid, "%c%lld:%lld", tag, (long long)ticket, (long long)now_ns());
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "ticket", (double)ticket);
    send_json(v->sock, cmd, cid, b);
}

static void remember_offer(vol_t *v, int64_t t)
{
    for (int i = 0; i < v->n_offers; i++) {
        if (v->offers[i] == t)
            return;
    }
    if (v->n_offers < MAX_REMEMBERED)
        v->offers[v->n_offers++] = t;
}

static void forget_offer(vol_t *v, int64_t t)
{
    for (int i = 0; i < v->n_offers; i++) {
        if (v->offers[i] == t) {
            v->offers[i] = v->offers[--v->n_offers];
            return;
        }
    }
}

/* An idle volunteer claims the oldest remembered offer nobody has won yet. */
static void maybe_claim(vol_t *v, tix_t *tix, long n, int claimers)
{
    if (v->busy)
        return;
    for (int i = 0; i < v->n_offers; i++) {
        int64_t t = v->offers[i];
        if (t < 1 || t > n || tix[t].won || tix[t].claims >= claimers)
            continue;
        tix[t].claims++;
        v->busy = true;
        forget_offer(v, t);
        send_ticket_cmd(v, BM_CMD_CLAIM, 'c', t);
        return;
    }
}

/* Parses "<tag><ticket>:<sent_ns>". */
static bool parse_cid(const char *cid, char tag, int64_t *ticket, int64_t *sent)
{
    if (cid[0] != tag)
        return false;
    char buf[BM_MAX_CID + 1];
    bm_strlcpy(buf, cid + 1, sizeof buf);
    char *colon = strchr(buf, ':');
    if (!colon)
        return false;
    *colon = '\0';
    long t, s;
    if (bm_parse_long(buf, 1, 1L << 50, &t) != 0 || bm_parse_long(colon + 1, 0, INT64_MAX, &s) != 0)
        return false;
    *ticket = t;
    *sent = s;
    return true;
}

static void on_worker_msg(vol_t *v, bm_msg_t *m, tix_t *tix, long n, int claimers, dstats_t *st,
                          int64_t now)
{
    int64_t t = 0, sent = 0;
    if (strcmp(m->cmd, BM_CMD_OFFER) == 0) {
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(m->body, "ticket");
        t = cJSON_IsNumber(jt) ? (int64_t)jt->valuedouble : 0;
        st->offers++;
        if (t >= 1 && t <= n) {
            if (!tix[t].offer_at)
                tix[t].offer_at = now;
            remember_offer(v, t);
            maybe_claim(v, tix, n, claimers);
        }
    } else if (strcmp(m->cmd, BM_CMD_TAKEN) == 0 || strcmp(m->cmd, BM_CMD_REVOKED) == 0) {
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(m->body, "ticket");
        if (cJSON_IsNumber(jt))
            forget_offer(v, (int64_t)jt->valuedouble);
        st->taken_msgs++;
    } else if (strcmp(m->cmd, BM_REPLY_OK) == 0 && parse_cid(m->cid, 'c', &t, &sent)) {
        st->claim_ok[st->n_claim_ok++ % st->n] = now - sent;
        if (t <= n) {
            tix[t].won = true;
            if (tix[t].submit_sent && st->n_to_claim < st->n)
                st->to_claim[st->n_to_claim++] = now - tix[t].submit_sent;
        }
        send_ticket_cmd(v, BM_CMD_DONE, 'd', t);
    } else if (strcmp(m->cmd, BM_REPLY_ERROR) == 0 && parse_cid(m->cid, 'c', &t, &sent)) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(m->body, "code");
        /* taken: someone was first; bad_transition: it is even done already. */
        if (cJSON_IsString(code) && (strcmp(code->valuestring, BM_ERR_TAKEN) == 0 ||
                                     strcmp(code->valuestring, BM_ERR_BAD_TRANSITION) == 0)) {
            st->claim_lost[st->n_lost++ % st->lost_cap] = now - sent;
        } else {
            st->n_other_err++;
            if (!st->other_code[0] && cJSON_IsString(code))
                bm_strlcpy(st->other_code, code->valuestring, sizeof st->other_code);
            if (t <= n && !tix[t].won && tix[t].claims > 0)
                tix[t].claims--; /* it may be claimed again */
        }
        v->busy = false;
        maybe_claim(v, tix, n, claimers);
    } else if (strcmp(m->cmd, BM_REPLY_OK) == 0 && parse_cid(m->cid, 'd', &t, &sent)) {
        st->done_lat[st->n_done++ % st->n] = now - sent;
        if (t <= n)
            tix[t].done = true;
        v->busy = false;
        maybe_claim(v, tix, n, claimers);
    } else if (strcmp(m->cmd, BM_REPLY_ERROR) == 0 && m->cid[0] == 'd') {
        st->n_other_err++;
        v->busy = false;
    }
}

/* One run; prints its row. Returns 0 if every ticket was claimed and done. */
/* The config that offers every job to everyone at once (the old behaviour). */
#define FANOUT_ALL                                                                          \
    "\"categories\": [{\"name\": \"leak\", \"offer_fanout\": 0},"                            \
    " {\"name\": \"lock\", \"offer_fanout\": 0}, {\"name\": \"pipe\", \"offer_fanout\": 0},"  \
    " {\"name\": \"repair\", \"offer_fanout\": 0}, {\"name\": \"other\", \"offer_fanout\": 0}]"

int dispatch_measure(const bench_opts_t *o, const bench_rows_t *rows, int nvol, int claimers,
                     bool targeted, double *offer_p50, double *claim_p50)
{
    char *dir = temp_dir(o, "dispatch");
    if (!dir)
        return -1;
    broker_proc_t b;
    if (broker_start(o, dir, targeted ? "" : FANOUT_ALL, &b) != 0) {
        temp_dir_remove(o, dir);
        return -1;
    }
    long n = o->dispatch_tickets;
    bench_payload_t *pl = payloads_make(rows, n, NULL, NULL, 0);
    tix_t *tix = calloc((size_t)n + 1, sizeof *tix);
    int64_t *seq_sent = calloc((size_t)n, sizeof *seq_sent);
    vol_t *vols = calloc((size_t)nvol, sizeof *vols);
    zmq_pollitem_t *items = calloc((size_t)nvol + 1, sizeof *items);
    dstats_t st = {.n = n, .lost_cap = n * nvol};
    st.offer_lat = calloc((size_t)n, sizeof(int64_t));
    st.claim_ok = calloc((size_t)n, sizeof(int64_t));
    st.claim_lost = calloc((size_t)n * (size_t)nvol, sizeof(int64_t));
    st.done_lat = calloc((size_t)n, sizeof(int64_t));
    st.submit_ack = calloc((size_t)n, sizeof(int64_t));
    st.to_claim = calloc((size_t)n, sizeof(int64_t));
    void *ctx = zmq_ctx_new();
    void *client = ctx ? bm_socket(ctx, ZMQ_DEALER, b.client_ep, false) : NULL;
    int rc = -1;
    long done = 0, acked = 0, sent = 0;
    double secs = 0;
    if (!pl || !tix || !seq_sent || !vols || !items || !st.offer_lat || !st.claim_ok ||
        !st.claim_lost || !st.done_lat || !st.submit_ack || !st.to_claim || !client)
        goto out;
    st.n = n;

    /* Everyone says hello. */
    static const char *const skills[] = {"leak", "lock", "pipe", "repair", "other"};
    for (int i = 0; i < nvol; i++) {
        vols[i].sock = bm_socket(ctx, ZMQ_DEALER, b.worker_ep, false);
        if (!vols[i].sock)
            goto out;
        char id[32], name[64];
        snprintf(id, sizeof id, "bv%03d", i);
        snprintf(name, sizeof name, "志愿者%d号", i);
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "volunteer", id);
        cJSON_AddStringToObject(h, "name", name);
        cJSON_AddItemToObject(h, "skills", cJSON_CreateStringArray(skills, 5));
        cJSON_AddNumberToObject(h, "max_jobs", 1);
        send_json(vols[i].sock, BM_CMD_HELLO, "hello", h);
        items[i].socket = vols[i].sock;
        items[i].events = ZMQ_POLLIN;
    }
    items[nvol].socket = client;
    items[nvol].events = ZMQ_POLLIN;
    int hellos = 0;
    int64_t until = now_ns() + INT64_C(10000000000);
    while (hellos < nvol && now_ns() < until) {
        if (zmq_poll(items, nvol, 100) <= 0)
            continue;
        for (int i = 0; i < nvol; i++) {
            bm_msg_t m;
            bm_error_t err = {0};
            while (bm_recv(vols[i].sock, false, true, NULL, &m, &err) == BM_RECV_OK) {
                if (strcmp(m.cid, "hello") == 0 && strcmp(m.cmd, BM_REPLY_OK) == 0 && !vols[i].hello_ok) {
                    vols[i].hello_ok = true;
                    hellos++;
                }
                bm_msg_clear(&m);
            }
        }
    }
    if (hellos < nvol) {
        fprintf(stderr, "bench: only %d of %d volunteers got through hello\n", hellos, nvol);
        goto out;
    }

    /* Submits one at a time: the latencies are the system's, not a queue's. */
    int64_t t0 = now_ns(), last_hb = t0;
    int64_t limit = t0 + (int64_t)RUN_LIMIT_S * 1000000000;
    long outstanding = 0;
    while (done < n && now_ns() < limit) {
        int64_t now = now_ns();
        if (outstanding == 0 && sent < n) {
            const bench_payload_t *p = &pl[sent];
            char cid[24];
            int len = snprintf(cid, sizeof cid, "%ld", sent);
            seq_sent[sent] = now;
            if (zmq_send(client, BM_PROTO_VERSION, 3, ZMQ_SNDMORE) < 0 ||
                zmq_send(client, BM_CMD_SUBMIT, strlen(BM_CMD_SUBMIT), ZMQ_SNDMORE) < 0 ||
                zmq_send(client, cid, (size_t)len, ZMQ_SNDMORE) < 0 ||
                zmq_send(client, p->json, p->len, 0) < 0)
                goto out;
            sent++;
            outstanding++;
        }
        if (now - last_hb >= (int64_t)HEARTBEAT_EVERY_MS * 1000000) {
            for (int i = 0; i < nvol; i++)
                send_json(vols[i].sock, BM_CMD_HEARTBEAT, "h", NULL);
            last_hb = now;
        }
        if (zmq_poll(items, nvol + 1, 50) < 0)
            continue;
        now = now_ns();
        bm_msg_t m;
        bm_error_t err = {0};
        while (bm_recv(client, false, true, NULL, &m, &err) == BM_RECV_OK) {
            long seq;
            const cJSON *jt = cJSON_GetObjectItemCaseSensitive(m.body, "ticket");
            if (strcmp(m.cmd, BM_REPLY_OK) == 0 && bm_parse_long(m.cid, 0, n - 1, &seq) == 0 &&
                cJSON_IsNumber(jt) && jt->valuedouble >= 1 && jt->valuedouble <= (double)n) {
                int64_t t = (int64_t)jt->valuedouble;
                tix[t].submit_sent = seq_sent[seq];
                st.submit_ack[acked++] = now - seq_sent[seq];
            } else {
                fprintf(stderr, "bench: submit refused: %s\n", m.cmd);
            }
            outstanding--;
            bm_msg_clear(&m);
        }
        for (int i = 0; i < nvol; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            for (int k = 0; k < 1000 && bm_recv(vols[i].sock, false, true, NULL, &m, &err) == BM_RECV_OK; k++) {
                on_worker_msg(&vols[i], &m, tix, n, claimers, &st, now);
                bm_msg_clear(&m);
            }
        }
        done = st.n_done;
    }
    secs = secs_since(t0);
    long k = 0;
    for (long t = 1; t <= n; t++) {
        if (tix[t].offer_at && tix[t].submit_sent)
            st.offer_lat[k++] = tix[t].offer_at - tix[t].submit_sent;
    }
    lat_stats_t so = lat_stats(st.offer_lat, k), sc = lat_stats(st.claim_ok, n),
                sa = lat_stats(st.submit_ack, n), stc = lat_stats(st.to_claim, st.n_to_claim);
    printf("%5d %8s %6ld %6.2f %7.2f %7.2f %7.2f %8.2f %8.2f %6ld %8.2f %8.2f %8.2f\n", nvol,
           targeted ? "targeted" : "all", done, secs, sa.p50_ms, so.p50_ms, so.p99_ms, sc.p50_ms,
           sc.p99_ms, st.n_lost, done ? (double)st.n_lost / (double)done : 0.0, stc.p50_ms,
           stc.p99_ms);
    if (st.n_other_err)
        printf("        %ld unexpected error replies (first: %s)\n", st.n_other_err,
               st.other_code[0] ? st.other_code : "?");
    *offer_p50 = so.p50_ms;
    *claim_p50 = sc.p50_ms;
    rc = done == n ? 0 : -1;
    if (rc != 0)
        printf("        only %ld of %ld tickets were claimed and done within %d s\n", done, n, RUN_LIMIT_S);
out:
    for (int i = 0; vols && i < nvol; i++) {
        if (vols[i].sock)
            zmq_close(vols[i].sock);
    }
    if (client)
        zmq_close(client);
    if (ctx)
        zmq_ctx_term(ctx);
    broker_stop(&b, false);
    free(st.offer_lat);
    free(st.claim_ok);
    free(st.claim_lost);
    free(st.done_lat);
    free(st.submit_ack);
    free(st.to_claim);
    free(items);
    free(vols);
    free(seq_sent);
    free(tix);
    payloads_free(pl, n);
    temp_dir_remove(o, dir);
    return rc;
}

int section_dispatch(const bench_opts_t *o, const bench_rows_t *rows, bench_ctx_t *ctx)
{
    banner("dispatch", "submit -> offer at a volunteer, claim -> confirmation");
    printf("  %ld requests submitted one at a time; volunteers hold 1 job (max_jobs 1), every idle\n"
           "  volunteer offered a job claims it at once, the winner says done right after;\n"
           "  offers = all (offer_fanout 0: everyone at once, as before) or targeted (defaults)\n",
           o->dispatch_tickets);
    printf("%5s %8s %6s %6s %7s %7s %7s %8s %8s %6s %8s %8s %8s\n", "vols", "offers", "done",
           "secs", "ack p50", "offer50", "offer99", "claim50", "claim99", "lost", "lost/job",
           "s->c p50", "s->c p99");
    int rc = 0;
    double offer[BENCH_MAX_LIST * 2] = {0}, claim[BENCH_MAX_LIST * 2] = {0};
    int runs = 0;
    for (int i = 0; i < o->n_volunteers; i++) {
        int v = o->volunteers[i];
        if (dispatch_measure(o, rows, v, v, false, &offer[runs], &claim[runs]) != 0)
            rc = -1;
        runs++;
        if (dispatch_measure(o, rows, v, v, true, &offer[runs], &claim[runs]) != 0)
            rc = -1;
        runs++;
    }
    printf("  (ms; offer = from sending the submit to the first offer arriving at any volunteer;\n"
           "   claim = claim sent -> its ok; lost = claims answered \"taken\" (someone was first),\n"
           "   lost/job = lost claims per job; s->c = submit sent -> the winning claim's ok)\n");
    if (ctx->fsync_ms <= 0) {
        char *dir = temp_dir(o, "fsync");
        if (dir) {
            ctx->fsync_ms = measure_fsync_ms(dir, 100);
            temp_dir_remove(o, dir);
        }
    }
    for (int i = 1; i < runs; i += 2) {
        printf("  %3d volunteers, targeted: submit->offer p50 %.2f ms, claim->ok p50 %.2f ms = %.1f and %.1f "
               "times one fdatasync on this disk (%.2f ms)\n",
               o->volunteers[i / 2], offer[i], claim[i], ctx->fsync_ms > 0 ? offer[i] / ctx->fsync_ms : 0,
               ctx->fsync_ms > 0 ? claim[i] / ctx->fsync_ms : 0, ctx->fsync_ms);
    }
    return rc;
}
