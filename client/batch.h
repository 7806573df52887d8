/* batch.h - `bianmin submit --stdin`: JSON lines in, one submit per line,
 * pipelined on one DEALER socket, one JSON result line out per input line,
 * in input order.
 *
 * The line reader and the line check are pure so they can be tested alone;
 * cli_batch_run ties them to the socket. Reading stdin and the socket are
 * polled together, so a bridge may stream lines slowly and still get each
 * result as soon as it is known. */
#ifndef BM_CLI_BATCH_H
#define BM_CLI_BATCH_H

#include "auth.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- line reader --------------------------------------------------------- */

typedef struct cli_lines cli_lines_t;

/* Returns a reader of fd for lines of at most max bytes (not counting the
 * newline), or NULL. The fd is not closed by destroy. */
cli_lines_t *cli_lines_new(int fd, size_t max);
void cli_lines_destroy(cli_lines_t **self_p);

typedef enum {
    CLI_LINE_OK = 0,     /* line and len: one line without its "\n" (and "\r") */
    CLI_LINE_TOO_LONG,   /* a line over max bytes; its bytes are skipped */
    CLI_LINE_AGAIN,      /* no whole line buffered: call cli_lines_fill */
    CLI_LINE_EOF         /* input ended and everything was returned */
} cli_line_result_t;

/* Returns the next buffered line without reading. *lineno is its 1-based
 * number in the input (blank and oversized lines are counted too). *line
 * stays valid until the next call; it is NUL-terminated. */
cli_line_result_t cli_lines_next(cli_lines_t *self, const char **line, size_t *len, long *lineno);
/* Reads once from the fd (blocking if the fd blocks). Returns the bytes read,
 * 0 at end of input, or -1 on a read error (errno). */
long cli_lines_fill(cli_lines_t *self);

/* ---- one line ------------------------------------------------------------ */

typedef enum {
    CLI_BATCH_SEND = 0, /* *body is a JSON object to send; caller owns it */
    CLI_BATCH_BLANK,    /* nothing but whitespace: skipped */
    CLI_BATCH_REJECT    /* *code / msg say why; not sent */
} cli_batch_check_t;

/* Checks one input line: valid UTF-8, one JSON object and nothing after it.
 * Fields of defaults (may be NULL) that the line lacks are added. */
cli_batch_check_t cli_batch_check_line(const char *line, size_t len, const cJSON *defaults,
                                       cJSON **body, const char **code, char *msg,
                                       size_t msglen);

/* ---- the pipeline -------------------------------------------------------- */

typedef struct {
    const char *endpoint;
    const bm_key_t *key; /* NULL: development mode */
    int window;           /* requests in flight */
    int timeout_ms;       /* per request, from when it was sent */
    const cJSON *defaults;/* fields added to lines lacking them; may be NULL */
} cli_batch_opts_t;

typedef struct {
    long lines;      /* non-blank lines handled */
    long accepted;   /* ok replies (including duplicates) */
    long duplicates;
    long rejected;   /* error replies and lines refused locally */
    long timed_out;  /* no reply in time, or not sent because the broker was gone */
} cli_batch_stats_t;

/* Reads JSON lines from in_fd until its end, submits them and writes one
 * result line per non-blank input line to out, in input order. Returns 0, or
 * -1 with a message in err if it could not run at all (socket, read error). */
int cli_batch_run(const cli_batch_opts_t *opts, int in_fd, FILE *out, cli_batch_stats_t *stats,
                  char *err, size_t errlen);

/* The exit code for a finished run: 0 all accepted, 3 some got no answer,
 * else 2 if some were refused. */
int cli_batch_exit_code(const cli_batch_stats_t *stats);

#endif
