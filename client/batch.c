/* batch.c - see batch.h. */
#include "batch.h"
#include "cli.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define DRAIN_EVERY 32 /* sends between looks at the replies while filling the window */

/* ---- line reader --------------------------------------------------------- */

struct cli_lines {
    int fd;
    size_t max;
    char *buf;
    size_t cap;    /* max + 3: a line, a "\r", one byte to see past them, the NUL */
    size_t start;  /* first unread byte */
    size_t end;    /* one past the last buffered byte */
    long lineno;
    bool eof;
    bool skipping; /* inside a line already reported as too long */
};

cli_lines_t *cli_lines_new(int fd, size_t max)
{
    cli_lines_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = fd;
    self->max = max;
    self->cap = max + 3;
    self->buf = malloc(self->cap);
    if (!self->buf) {
        free(self);
        return NULL;
    }
    return self;
}

void cli_lines_destroy(cli_lines_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

/* Hands out buf[start, stop) as a line (stop is its newline, or end). */
static cli_line_result_t take_line(cli_lines_t *self, size_t stop, const char **line,
                                   size_t *len, long *lineno)
{
    size_t n = stop - self->start;
    char *p = self->buf + self->start;
    self->start = stop < self->end ? stop + 1 : stop;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *lineno = ++self->lineno;
    if (n > self->max)
        return CLI_LINE_TOO_LONG;
    p[n] = '\0'; /* overwrites the "\r", the "\n", or the spare byte at the end */
    *line = p;
    *len = n;
    return CLI_LINE_OK;
}

cli_line_result_t cli_lines_next(cli_lines_t *self, const char **line, size_t *len, long *lineno)
{
    *line = NULL;
    *len = 0;
    if (self->skipping) {
        char *nl = memchr(self->buf + self->start, '\n', self->end - self->start);
        self->start = nl ? (size_t)(nl - self->buf) + 1 : self->end;
        if (!nl && !self->eof)
            return CLI_LINE_AGAIN;
        self->skipping = false;
    }
    char *nl = memchr(self->buf + self->start, '\n', self->end - self->start);
    if (nl)
        return take_line(self, (size_t)(nl - self->buf), line, len, lineno);
    size_t have = self->end - self->start;
    if (have > self->max + 1) {
        /* Even without a "\r" this line is too long: report it now, skip the rest. */
        *lineno = ++self->lineno;
        self->start = self->end;
        self->skipping = true;
        return CLI_LINE_TOO_LONG;
    }
    if (self->eof)
        return have > 0 ? take_line(self, self->end, line, len, lineno) : CLI_LINE_EOF;
    return CLI_LINE_AGAIN;
}

long cli_lines_fill(cli_lines_t *self)
{
    if (self->eof)
        return 0;
    if (self->start > 0) {
        memmove(self->buf, self->buf + self->start, self->end - self->start);
        self->end -= self->start;
        self->start = 0;
    }
    size_t room = self->cap - 1 - self->end; /* keep one byte for the NUL */
    if (room == 0) {
        errno = ENOBUFS; /* cli_lines_next was not called until CLI_LINE_AGAIN */
        return -1;
    }
    for (;;) {
        ssize_t got = read(self->fd, self->buf + self->end, room);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            self->eof = true;
        self->end += (size_t)got;
        return (long)got;
    }
}

/* ---- one line ------------------------------------------------------------ */

cli_batch_check_t cli_batch_check_line(const char *line, size_t len, const cJSON *defaults,
                                       cJSON **body, const char **code, char *msg,
                                       size_t msglen)
{
    *body = NULL;
    *code = NULL;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\f' ||
                       line[i] == '\v'))
        i++;
    if (i == len)
        return CLI_BATCH_BLANK;
    if (!bm_utf8_valid(line, len)) {
        *code = BM_ERR_BAD_JSON;
        snprintf(msg, msglen, "这一行不是有效的 UTF-8（或含有 NUL 字节） / line is not valid UTF-8 (or holds a NUL byte)");
        return CLI_BATCH_REJECT;
    }
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, false);
    if (!obj) {
        size_t at = (end && end >= line && end <= line + len) ? (size_t)(end - line) : 0;
        *code = BM_ERR_BAD_JSON;
        snprintf(msg, msglen, "这一行不是有效的 JSON（第 %zu 字节） / line is not valid JSON (at byte %zu)", at + 1,
                 at + 1);
        return CLI_BATCH_REJECT;
    }
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        *code = BM_ERR_BAD_JSON;
        snprintf(msg, msglen, "每行应为一个 JSON 对象 {...}，即一件提交 / line must be one JSON object {...}, one submit body per line");
        return CLI_BATCH_REJECT;
    }
    for (const char *p = end; p && p < line + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(obj);
            *code = BM_ERR_BAD_JSON;
            snprintf(msg, msglen, "JSON 对象后面还有多余内容（第 %zu 字节） / trailing data after the JSON object (at "
                     "byte %zu)",
                     (size_t)(p - line) + 1, (size_t)(p - line) + 1);
            return CLI_BATCH_REJECT;
        }
    }
    const cJSON *d = NULL;
    cJSON_ArrayForEach(d, defaults)
    {
        if (d->string && !cJSON_HasObjectItem(obj, d->string))
            cJSON_AddItemToObject(obj, d->string, cJSON_Duplicate(d, true));
    }
    *body = obj;
    return CLI_BATCH_SEND;
}

int cli_batch_exit_code(const cli_batch_stats_t *stats)
{
    if (stats->timed_out > 0)
        return CLI_EXIT_UNREACHABLE;
    if (stats->rejected > 0)
        return CLI_EXIT_REFUSED;
    return CLI_EXIT_OK;
}

/* ---- the pipeline -------------------------------------------------------- */

/* One input line on its way: a ring of `window` slots indexed by sequence
 * number (the correlation id), flushed to the output in order. */
typedef struct {
    long line;
    bool done;
    int64_t deadline;
    long replies_at_send; /* batch_t.replies when this was sent */
    char *ref;     /* the line's "ref", echoed in the result; owned */
    cJSON *result; /* owned */
} slot_t;

typedef struct {
    const cli_batch_opts_t *opts;
    cli_batch_stats_t *stats;
    FILE *out;
    void *sock;
    slot_t *ring;
    long head;      /* oldest sequence number not yet written out */
    long next;      /* next sequence number to hand out */
    long replies;   /* replies received so far */
    bool gave_up;   /* the broker stopped answering: send nothing more */
} batch_t;

static slot_t *slot_of(batch_t *b, long seq)
{
    return &b->ring[seq % b->opts->window];
}

static slot_t *slot_push(batch_t *b, long line)
{
    slot_t *s = slot_of(b, b->next++);
    memset(s, 0, sizeof *s);
    s->line = line;
    s->result = cJSON_CreateObject();
    cJSON_AddNumberToObject(s->result, "line", (double)line);
    b->stats->lines++;
    return s;
}

static void slot_fail(batch_t *b, slot_t *s, const char *code, const char *field,
                      const char *message)
{
    cJSON_AddBoolToObject(s->result, "ok", false);
    cJSON_AddStringToObject(s->result, "code", code);
    cJSON_AddStringToObject(s->result, "message", message);
    if (field && *field)
        cJSON_AddStringToObject(s->result, "field", field);
    if (s->ref)
        cJSON_AddStringToObject(s->result, "ref", s->ref);
    s->done = true;
    if (strcmp(code, "timeout") == 0)
        b->stats->timed_out++;
    else
        b->stats->rejected++;
}

static void slot_ok(batch_t *b, slot_t *s, const cJSON *reply)
{
    const cJSON *ticket = cJSON_GetObjectItemCaseSensitive(reply, "ticket");
    if (!cJSON_IsNumber(ticket)) {
        slot_fail(b, s, "bad_reply", NULL, "服务站的回复里没有工单编号 / the broker's reply has no ticket");
        return;
    }
    bool dup = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "duplicate"));
    cJSON_AddBoolToObject(s->result, "ok", true);
    cJSON_AddNumberToObject(s->result, "ticket", ticket->valuedouble);
    cJSON_AddBoolToObject(s->result, "duplicate", dup);
    if (s->ref)
        cJSON_AddStringToObject(s->result, "ref", s->ref);
    s->done = true;
    b->stats->accepted++;
    if (dup)
        b->stats->duplicates++;
}

/* Writes the finished slots at the head, in input order. */
static void flush_done(batch_t *b)
{
    bool wrote = false;
    while (b->head < b->next) {
        slot_t *s = slot_of(b, b->head);
        if (!s->done)
            break;
        cli_print_json_line(b->out, s->result);
        cJSON_Delete(s->result);
        free(s->ref);
        memset(s, 0, sizeof *s);
        b->head++;
        wrote = true;
    }
    if (wrote)
        fflush(b->out);
}

/* Handles one checked input line: sends it, or records why not. */
static void handle_line(batch_t *b, long line, const char *text, size_t len)
{
    cJSON *body = NULL;
    const char *code = NULL;
    char msg[400];
    cli_batch_check_t c =
        cli_batch_check_line(text, len, b->opts->defaults, &body, &code, msg, sizeof msg);
    if (c == CLI_BATCH_BLANK)
        return;
    slot_t *s = slot_push(b, line);
    if (c == CLI_BATCH_REJECT) {
        slot_fail(b, s, code, NULL, msg);
        return;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(body, "ref");
    if (cJSON_IsString(ref))
        s->ref = strdup(ref->valuestring);
    if (b->gave_up) {
        snprintf(msg, sizeof msg,
                 "未发送：服务站 %s 在 %d 毫秒内没有回答前面的行 / not sent: the broker at %s did not "
                 "answer earlier lines within %d ms",
                 b->opts->endpoint, b->opts->timeout_ms, b->opts->endpoint, b->opts->timeout_ms);
        slot_fail(b, s, "timeout", NULL, msg);
    } else {
        char cid[24];
        snprintf(cid, sizeof cid, "%ld", b->next - 1);
        if (bm_send(b->sock, NULL, BM_CMD_SUBMIT, cid, strlen(cid), body) != 0) {
            snprintf(msg, sizeof msg, "未发送 / not sent: %s", zmq_strerror(errno));
            slot_fail(b, s, "timeout", NULL, msg);
        } else {
            s->deadline = bm_mono_ms() + b->opts->timeout_ms;
            s->replies_at_send = b->replies;
        }
    }
    cJSON_Delete(body);
}

/* Reads every reply already queued. Returns 0, or -1 on a socket error. */
static int drain_replies(batch_t *b)
{
    for (;;) {
        bm_msg_t msg;
        bm_error_t perr = {0};
        bm_recv_t r = bm_recv(b->sock, false, true, NULL, &msg, &perr);
        if (r == BM_RECV_NONE)
            return 0;
        if (r == BM_RECV_FAIL)
            return errno == EINTR ? 0 : -1;
        long seq = 0;
        slot_t *s = NULL;
        if (bm_parse_long(msg.cid, 0, LONG_MAX, &seq) == 0 && seq >= b->head && seq < b->next)
            s = slot_of(b, seq);
        if (s && !s->done) {
            b->replies++;
            if (r == BM_RECV_INVALID) {
                slot_fail(b, s, perr.code ? perr.code : BM_ERR_BAD_FRAME, perr.field,
                          perr.message);
            } else if (strcmp(msg.cmd, BM_REPLY_OK) == 0) {
                slot_ok(b, s, msg.body);
            } else {
                const cJSON *code = cJSON_GetObjectItemCaseSensitive(msg.body, "code");
                const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg.body, "message");
                const cJSON *field = cJSON_GetObjectItemCaseSensitive(msg.body, "field");
                slot_fail(b, s, cJSON_IsString(code) ? code->valuestring : "error",
                          cJSON_IsString(field) ? field->valuestring : NULL,
                          cJSON_IsString(text) ? text->valuestring : "(no message)");
            }
        }
        /* Anything else is a late reply to a line already reported: ignored. */
        bm_msg_clear(&msg);
    }
}

/* The deadline of the oldest request still waiting, or -1 if none waits.
 * Requests are sent in order with one timeout, so that is the earliest. */
static int64_t first_deadline(batch_t *b)
{
    for (long seq = b->head; seq < b->next; seq++) {
        slot_t *s = slot_of(b, seq);
        if (!s->done)
            return s->deadline;
    }
    return -1;
}

static void expire(batch_t *b, int64_t now)
{
    for (long seq = b->head; seq < b->next; seq++) {
        slot_t *s = slot_of(b, seq);
        if (s->done)
            continue;
        if (s->deadline > now)
            break;
        char msg[400];
        snprintf(msg, sizeof msg,
                 "服务站 %s 在 %d 毫秒内没有回答，请用同一个 ref 重发 / no answer from the broker at %s "
                 "within %d ms; resend with the same ref",
                 b->opts->endpoint, b->opts->timeout_ms, b->opts->endpoint, b->opts->timeout_ms);
        slot_fail(b, s, "timeout", NULL, msg);
        /* Not one reply since this was sent: the broker is gone, stop feeding it. */
        if (b->replies == s->replies_at_send)
            b->gave_up = true;
    }
}

int cli_batch_run(const cli_batch_opts_t *opts, int in_fd, FILE *out, cli_batch_stats_t *stats,
                  char *err, size_t errlen)
{
    int rc = -1;
    void *ctx = NULL;
    cli_lines_t *lines = NULL;
    batch_t b = {.opts = opts, .stats = stats, .out = out};
    memset(stats, 0, sizeof *stats);
    if (opts->window < 1 || opts->timeout_ms < 1) {
        snprintf(err, errlen, "窗口和超时都应为正数 / window and timeout must be positive");
        return -1;
    }
    b.ring = calloc((size_t)opts->window, sizeof *b.ring);
    lines = cli_lines_new(in_fd, CLI_MAX_LINE);
    ctx = zmq_ctx_new();
    if (!b.ring || !lines || !ctx) {
        snprintf(err, errlen, "内存不足 / out of memory");
        goto out;
    }
    b.sock = bm_socket_auth(ctx, ZMQ_DEALER, opts->endpoint, false, opts->key, NULL);
    if (!b.sock) {
        snprintf(err, errlen, "连不上 / cannot connect to %s: %s", opts->endpoint, zmq_strerror(errno));
        goto out;
    }
    /* A send that cannot be queued within the timeout is reported, never a hang. */
    zmq_setsockopt(b.sock, ZMQ_SNDTIMEO, &opts->timeout_ms, sizeof opts->timeout_ms);
    b.head = b.next = 1;

    bool input_done = false;
    for (;;) {
        bool need_input = false;
        flush_done(&b); /* frees slots for the lines read next */
        while (!input_done && b.next - b.head < opts->window) {
            const char *text;
            size_t len;
            long lineno;
            cli_line_result_t r = cli_lines_next(lines, &text, &len, &lineno);
            if (r == CLI_LINE_OK) {
                handle_line(&b, lineno, text, len);
                /* Take replies while sending, so they do not pile up at the broker. */
                if (b.next % DRAIN_EVERY == 0 && drain_replies(&b) != 0) {
                    snprintf(err, errlen, "接收失败 / receive failed: %s", zmq_strerror(errno));
                    goto out;
                }
            } else if (r == CLI_LINE_TOO_LONG) {
                char msg[400];
                snprintf(msg, sizeof msg, "这一行超过 %d 字节，未发送 / line is longer than %d bytes; not sent",
                         CLI_MAX_LINE, CLI_MAX_LINE);
                slot_fail(&b, slot_push(&b, lineno), BM_ERR_TOO_LARGE, NULL, msg);
            } else if (r == CLI_LINE_EOF) {
                input_done = true;
            } else {
                need_input = true;
                break;
            }
        }
        flush_done(&b);
        if (input_done && b.head == b.next)
            break;

        int64_t deadline = first_deadline(&b);
        long wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - bm_mono_ms();
            wait = left > 0 ? (long)left : 0;
        } else if (!need_input) {
            wait = 0;
        }
        zmq_pollitem_t items[2] = {{b.sock, 0, ZMQ_POLLIN, 0}, {NULL, in_fd, ZMQ_POLLIN, 0}};
        int n = zmq_poll(items, need_input ? 2 : 1, wait);
        if (n < 0 && errno != EINTR) {
            snprintf(err, errlen, "等待回复失败 / poll failed: %s", zmq_strerror(errno));
            goto out;
        }
        if (need_input && n > 0 && (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            if (cli_lines_fill(lines) < 0) {
                snprintf(err, errlen, "读取输入失败 / reading the input failed: %s", strerror(errno));
                goto out;
            }
        }
        if (drain_replies(&b) != 0) {
            snprintf(err, errlen, "接收失败 / receive failed: %s", zmq_strerror(errno));
            goto out;
        }
        expire(&b, bm_mono_ms());
    }
    rc = 0;
out:
    /* Anything still in flight after an error is written as not answered. */
    for (long seq = b.head; b.ring && seq < b.next; seq++) {
        slot_t *s = slot_of(&b, seq);
        if (!s->done)
            slot_fail(&b, s, "timeout", NULL, "未得到回答：客户端已停止 / not answered: the client stopped");
    }
    if (b.ring)
        flush_done(&b);
    free(b.ring);
    if (b.sock)
        zmq_close(b.sock);
    if (ctx)
        zmq_ctx_term(ctx);
    cli_lines_destroy(&lines);
    return rc;
}
