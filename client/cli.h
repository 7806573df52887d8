/* cli.h - the `bianmin` command-line client: shared context, the table of
 * subcommands, exit codes, and the pure helpers the subcommands are built
 * from (argument parsing, labels, formatting), kept apart from I/O so the
 * unit tests can call them. */
#ifndef BM_CLI_H
#define BM_CLI_H

#include "auth.h"
#include "exitcodes.h"
#include "proto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes: the shared table in lib/exitcodes.h (docs/cli.md). */
#define CLI_EXIT_OK          BM_EXIT_OK
#define CLI_EXIT_USAGE       BM_EXIT_USAGE
#define CLI_EXIT_REFUSED     BM_EXIT_REFUSED
#define CLI_EXIT_UNREACHABLE BM_EXIT_UNREACHABLE
#define CLI_EXIT_CONFIG      BM_EXIT_CONFIG
#define CLI_EXIT_IO          BM_EXIT_IO

/* Named defaults and limits. */
#define CLI_DEFAULT_TIMEOUT_MS 5000
#define CLI_MAX_TIMEOUT_MS     600000
#define CLI_DEFAULT_WINDOW     64
/* Replies beyond ZeroMQ's default high-water mark (1000 per peer) can be
 * dropped by the broker's ROUTER; stay well below it. */
#define CLI_MAX_WINDOW         500
#define CLI_MAX_LINE           BM_MAX_BODY /* longest accepted --stdin line */
#define CLI_ENV_BROKER         "BIANMIN_BROKER"
#define CLI_ENV_CONFIG         "BIANMIN_CONFIG" /* the broker's config: choices to check against */

/* What the global options set, shared by every subcommand. */
typedef struct {
    const char *endpoint; /* not owned */
    int timeout_ms;
    bool json;            /* machine output */
    bm_rpc_t *rpc;        /* created on first call; freed by main */
    const bm_key_t *key;  /* the caller's key (NULL: development mode); not owned */
} cli_ctx_t;

/* The key file used when neither --key nor $BIANMIN_KEY says: the office key
 * that `make run` makes. */
#define CLI_DEFAULT_KEY "var/keys/office.key"

/* `bianmin keys`: list, new, revoke. */
int cli_keys_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_keys_help(FILE *out);
/* `bianmin users`: list, add, passwd, disable (gateway logins). */
int cli_users_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_users_help(FILE *out);

/* A subcommand: run gets argv after the subcommand name (argv[0] is the name)
 * and returns a CLI_EXIT_* code. */
typedef struct {
    const char *name;
    const char *summary; /* one line for `bianmin --help` */
    int (*run)(cli_ctx_t *ctx, int argc, char **argv);
    void (*help)(FILE *out);
} cli_command_t;

/* The subcommand table, terminated by an entry with name NULL. */
extern const cli_command_t cli_commands[];
const cli_command_t *cli_command_find(const char *name);

int cli_submit_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_submit_help(FILE *out);
int cli_status_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_status_help(FILE *out);
int cli_list_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_list_help(FILE *out);
int cli_volunteers_run(cli_ctx_t *ctx, int argc, char **argv);
int cli_departments_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_departments_help(FILE *out);
/* Writes a departments reply as a table. */
void cli_format_departments(FILE *out, const cJSON *reply);
void cli_volunteers_help(FILE *out);
/* cancel, reopen, escalate and resolve share one run (argv[0] says which). */
int cli_act_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_cancel_help(FILE *out);
void cli_reopen_help(FILE *out);
void cli_escalate_help(FILE *out);
void cli_resolve_help(FILE *out);
int cli_rate_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_rate_help(FILE *out);
int cli_deliveries_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_deliveries_help(FILE *out);
int cli_endpoints_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_endpoints_help(FILE *out);

/* ---- option parsing ------------------------------------------------------ */

/* Matches argv[*i] against a long option taking a value, as "--name value" or
 * "--name=value". Returns 1 and sets *value (advancing *i past a separate
 * value) on a match, 0 if argv[*i] is another option, -1 if the value is
 * missing (a message for people is written to err). */
int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **value, char *err,
                  size_t errlen);
/* Stores the value v of the text flag named flag in *slot, unless *slot is
 * set already (given twice) or v is not valid UTF-8. Returns 0, or -1 with a
 * message for people in err. */
int cli_take_text(const char *flag, const char *v, const char **slot, char *err, size_t errlen);
/* Appends flag to the message "missing --a, --b" being built in err; *used
 * (0 at first) counts the bytes in it. */
void cli_add_missing(char *err, size_t errlen, size_t *used, const char *flag);

/* ---- labels -------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *label; /* Chinese, for people */
    const char *note;  /* e.g. "urgent"; may be NULL */
} cli_label_t;

/* Default channels and categories (the broker may be configured otherwise),
 * terminated by an entry with name NULL. */
extern const cli_label_t cli_channels[];
extern const cli_label_t cli_categories[];
/* Returns the Chinese label of a category / request status / event kind, or
 * NULL if unknown. */
const char *cli_category_label(const char *name);
const char *cli_status_label(const char *name);
const char *cli_event_label(const char *name);
const char *cli_channel_label(const char *name);
/* Writes who an event's actor is, for people, into buf: "袁建成（志愿者 v01）"
 * for volunteer:v01 if names (volunteer id -> name; may be NULL) has it,
 * a channel's label ("楼栋长") for channel:NAME, "系统" for system.
 * Returns buf. */
char *cli_actor_text(const char *actor, const cJSON *names, char *buf, size_t len);

/* ---- enumerated inputs (choice.c) ---------------------------------------- */

typedef enum {
    CLI_CHOICE_CATEGORY,
    CLI_CHOICE_CHANNEL,
    CLI_CHOICE_STATUS,
    CLI_CHOICE_SKILL,
    CLI_CHOICE_DEPARTMENT
} cli_choice_t;

/* Checks a value typed for flag: returns the wire name of the choice of
 * kind it names (a Chinese label, e.g. 管道疏通, is accepted for it), or
 * NULL with a bilingual message in err: "unknown category", "did you mean"
 * the closest choice if it is a likely typo, and the valid choices. The
 * choices are the defaults, or those of the config in $BIANMIN_CONFIG; without
 * it, a value that is not a default is checked against the station's lists,
 * asked once from the broker set with cli_choices_ask. */
const char *cli_check_choice(cli_choice_t kind, const char *flag, const char *value, char *err,
                             size_t errlen);
/* Sets whom cli_check_choice asks for the station's choices (ctx must
 * outlive the checks; NULL: nobody, check against the defaults). */
void cli_choices_ask(cli_ctx_t *ctx);

/* ---- calls --------------------------------------------------------------- */

/* Sends cmd with body to the broker and waits ctx->timeout_ms. Returns
 * CLI_EXIT_OK with *reply owned by the caller, or prints the failure (to
 * stderr, or as one JSON line on stdout with --json) and returns
 * CLI_EXIT_REFUSED or CLI_EXIT_UNREACHABLE. */
int cli_call(cli_ctx_t *ctx, const char *cmd, const cJSON *body, cJSON **reply);
/* Writes `error (code, field f): message` for people. */
void cli_print_error(FILE *out, const char *code, const char *field, const char *message);
/* Writes j as one line of compact JSON. */
void cli_print_json_line(FILE *out, const cJSON *j);
/* --json given: errors (usage errors too) are written as one JSON line on
 * stdout, {"code", "message", "field"?, "command"?, "exit"}. */
void cli_errors_json(bool on);
bool cli_errors_are_json(void);
/* Reports a failure that is not the broker's: one JSON line on stdout with
 * --json, else "bianmin NAME: MESSAGE" on stderr. name may be NULL. Returns
 * exit_code. */
int cli_fail(const char *name, int exit_code, const char *code, const char *field,
             const char *message);
/* Writes "bianmin NAME: ERR" and where its help is to stderr, err as text for
 * a terminal (cli_put_text). Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *name, const char *err);

/* Writes a reply for people; cmd and sent are what was sent for it. */
typedef void (*cli_print_fn)(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply);
/* Sends cmd with body (not freed) and writes the reply on stdout: one JSON
 * line with --json, else with print. Returns a CLI_EXIT_* code (a failure is
 * printed by cli_call). */
int cli_call_print(cli_ctx_t *ctx, const char *cmd, const cJSON *body, cli_print_fn print);

/* Reading replies: obj[key] as a string (NULL if absent or not a string), or
 * as a whole number (dflt if absent or not a number). */
const char *cli_json_str(const cJSON *obj, const char *key);
long cli_json_long(const cJSON *obj, const char *key, long dflt);

/* ---- submit -------------------------------------------------------------- */

typedef struct {
    cJSON *body;      /* the submit body built from the flags; owned */
    bool from_stdin;  /* --stdin: batch mode; body holds defaults for each line */
    bool help;        /* --help was given */
    int window;       /* --window */
} cli_submit_args_t;

/* Parses submit's arguments (argv[0] is "submit"). Returns 0, or -1 with a
 * message for people in err (a usage error). On success the caller frees
 * args->body with cJSON_Delete. Required flags are checked only outside
 * --stdin mode; argument text must be valid UTF-8. */
int cli_submit_parse(int argc, char **argv, cli_submit_args_t *args, char *err, size_t errlen);

/* ---- status -------------------------------------------------------------- */

/* Parses a ticket as typed by a person: "42" or "#42". Returns 0 or -1. */
int cli_parse_ticket(const char *s, long *out);

/* Writes a `get` reply (request, events, deliveries) for people. */
void cli_format_get(FILE *out, const cJSON *reply);

/* Writes s for a terminal: control characters become spaces, and if s is
 * longer than max bytes it is cut at a character boundary and "…" appended.
 * max 0 means no limit. */
void cli_put_text(FILE *out, const char *s, size_t max);

/* Formats an ISO 8601 UTC time as local "2026-11-29 14:20" into buf; a NULL
 * or unparseable time gives "-" or the raw text. Returns buf. */
char *cli_local_time(const char *iso, char *buf, size_t len);

/* ---- tables -------------------------------------------------------------- */

typedef struct {
    const char *header;
    size_t max;  /* widest a cell may be, in terminal columns (0: no limit) */
    bool right;  /* right-aligned (numbers) */
} cli_column_t;

/* A table of text cells, printed with columns sized in terminal columns so
 * Chinese text lines up (width.h). */
typedef struct cli_table cli_table_t;
/* Returns a new table with ncols columns described by cols (not copied: it
 * must outlive the table), or NULL. */
cli_table_t *cli_table_new(const cli_column_t *cols, size_t ncols);
void cli_table_destroy(cli_table_t **self_p);
/* Adds a row of ncols cells (copied; NULL is empty). Returns 0 or -1. */
int cli_table_add(cli_table_t *self, const char *const *cells);
size_t cli_table_rows(const cli_table_t *self);
/* Writes the header line and the rows, columns two spaces apart. */
void cli_table_print(const cli_table_t *self, FILE *out);
/* The same with prefix (e.g. two spaces) before every line. */
void cli_table_print_indented(const cli_table_t *self, FILE *out, const char *prefix);

/* One page of a paged reply (list, deliveries): the array reply[key], how
 * many it holds, the total and the offset of its first item. */
typedef struct {
    const cJSON *items;
    int n;
    long total, offset;
} cli_page_t;
/* Reads the page in reply[key]. Returns true if it holds any; else writes
 * "no NOUN match (showing 0 of 0)", or that the offset is past the end, and
 * returns false. */
bool cli_page_read(FILE *out, const cJSON *reply, const char *key, const char *noun,
                   cli_page_t *page);
/* Writes the footer "showing 1-50 of 123"; with next_hint, adds how to get
 * the next page if there is one. */
void cli_page_footer(FILE *out, const cli_page_t *page, bool next_hint);

/* ---- list ---------------------------------------------------------------- */

#define CLI_LIST_DEFAULT_LIMIT 50
#define CLI_LIST_MAX_BUILDING  24 /* columns of building/unit shown in the table */
#define CLI_LIST_MAX_NAME      12 /* columns of a volunteer's name */

typedef struct {
    cJSON *body; /* the list body built from the flags; owned */
    bool all;    /* --all: page through everything */
    bool help;
} cli_list_args_t;

/* Parses list's arguments (argv[0] is "list"). Returns 0, or -1 with a
 * message for people in err. On success the caller frees args->body. */
int cli_list_parse(int argc, char **argv, cli_list_args_t *args, char *err, size_t errlen);

/* Converts a date typed by a person for the wire: "YYYY-MM-DD" is midnight
 * local time, written as ISO 8601 UTC ("2026-10-31T16:00:00.000Z" for
 * 2026-11-01 in China); a full ISO 8601 UTC time is passed on normalized.
 * iso needs 25 bytes. Returns 0 or -1. */
int cli_parse_date(const char *s, char *iso, size_t len);

/* Fetches every page of the list selected by body (its offset is the start,
 * its limit the page size asked for), calling cli_call repeatedly and
 * advancing by what each reply held, until total is reached. Writes progress
 * to progress if not NULL. Returns CLI_EXIT_OK with *merged =
 * {"requests": [...], "total": T, "offset": O, "limit": n} (caller owns;
 * limit is how many it holds), or the failing call's exit code. */
int cli_list_fetch_all(cli_ctx_t *ctx, const cJSON *body, cJSON **merged, FILE *progress);

/* Writes a list reply as a table with a footer "showing 1-50 of 123"; with
 * next_hint, says how to get the next page if there is one. */
void cli_format_list(FILE *out, const cJSON *reply, bool next_hint);

/* ---- volunteers ---------------------------------------------------------- */

/* Writes a volunteers reply as a table. */
void cli_format_volunteers(FILE *out, const cJSON *reply);

/* ---- commands that send one request: act, rate, deliveries, endpoints ---- */

/* What such a subcommand parsed into: the BM_CMD_* to send and its body. */
typedef struct {
    const char *cmd; /* BM_CMD_*; NULL with help */
    cJSON *body;     /* owned */
    bool help;
} cli_op_args_t;

/* Such a subcommand: how it parses, its help, how it prints the reply. */
typedef struct {
    int (*parse)(int argc, char **argv, cli_op_args_t *args, char *err, size_t errlen);
    void (*help)(FILE *out); /* NULL: the help of argv[0] in cli_commands */
    cli_print_fn print;
} cli_op_t;

/* Runs op on argv (argv[0] is the subcommand): a usage error, or --help, or
 * the call with its reply printed. Returns a CLI_EXIT_* code. */
int cli_run_op(cli_ctx_t *ctx, int argc, char **argv, const cli_op_t *op);

/* ---- cancel, reopen, escalate, resolve ----------------------------------- */

typedef cli_op_args_t cli_act_args_t;

/* Parses the arguments of cancel/reopen/escalate/resolve (argv[0] names
 * which). Returns 0, or -1 with a message for people in err. On success the
 * caller frees args->body. */
int cli_act_parse(int argc, char **argv, cli_act_args_t *args, char *err, size_t errlen);

/* ---- operator commands: rate, deliveries, endpoints ---------------------- */

/* Parses `rate TICKET SCORE --channel CH [--comment TEXT]` (argv[0] is
 * "rate"). Returns 0, or -1 with a message for people in err. On success the
 * caller frees args->body. */
int cli_rate_parse(int argc, char **argv, cli_op_args_t *args, char *err, size_t errlen);
/* Writes a rating for people into buf: "★★★★☆ 4/5" for a number 1-5, else
 * "未评分 not rated". Returns buf. */
char *cli_rating_text(const cJSON *rating, char *buf, size_t len);

#define CLI_DELIVERIES_DEFAULT_LIMIT 50

/* Parses `deliveries [filters]`, `deliveries show ID`, `deliveries replay ID`
 * and `deliveries replay --dead-since DATE` (argv[0] is "deliveries") into
 * BM_CMD_DELIVERIES / DELIVERY / REPLAY and a body. Returns 0, or -1 with a
 * message for people in err. On success the caller frees args->body. */
int cli_deliveries_parse(int argc, char **argv, cli_op_args_t *args, char *err, size_t errlen);
/* Returns the Chinese label of a delivery state, or NULL if unknown. */
const char *cli_delivery_state_label(const char *state);
/* Writes a `deliveries` reply as a table with a footer; with next_hint, says
 * how to get the next page if there is one. */
void cli_format_deliveries(FILE *out, const cJSON *reply, bool next_hint);
/* Writes a `delivery` reply: the delivery, its attempt log and its body. */
void cli_format_delivery(FILE *out, const cJSON *reply);
/* Writes a `replay` reply: "N deliveries due again". */
void cli_format_replayed(FILE *out, const cJSON *reply);

/* Parses `endpoints`, `endpoints disable|enable ID` and `endpoints rotate ID
 * [--secret whsec_...]` (argv[0] is "endpoints") into BM_CMD_ENDPOINTS /
 * ENDPOINT and a body. Returns 0, or -1 with a message for people in err. On
 * success the caller frees args->body. */
int cli_endpoints_parse(int argc, char **argv, cli_op_args_t *args, char *err, size_t errlen);
/* Writes an `endpoints` reply as a table. */
void cli_format_endpoints(FILE *out, const cJSON *reply);
/* Writes an `endpoint` reply: what was done; for rotate the new secret, until
 * when the old one is still signed with, and what to do with it. */
void cli_format_endpoint_action(FILE *out, const cJSON *reply);

#endif
