/* command.h - the commands a volunteer (or a bridge) gives the worker, as one
 * table, and the two parsers for them: words typed by a person ("claim 42",
 * "done 42 疏通完毕 @after:/sdcard/a.jpg") and JSON lines
 * ({"cmd":"claim","ticket":42}).
 *
 * Adding a command is one line in the table in command.c. */
#ifndef WK_COMMAND_H
#define WK_COMMAND_H

#include "proto.h"
#include "protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WK_MAX_BRIDGE_ID 64   /* the optional "id" a bridge attaches */
#define WK_MAX_LINE      (64 * 1024)
#define WK_MAX_PATH      1024 /* a photo's file path */
#define WK_ERR_BAD_INPUT "bad_input" /* code of the error event for a malformed line */

typedef enum {
    WK_ARG_NONE,          /* jobs */
    WK_ARG_TICKET,        /* claim 42 */
    WK_ARG_TICKET_TEXT,   /* done 42 [note...], cantfix 42 reason... */
    WK_ARG_TICKET_DEPT    /* escalate 42 DEPARTMENT reason... */
} wk_arg_t;

typedef enum {
    WK_LOCAL_NONE = 0, /* sent to the broker */
    WK_LOCAL_JOBS,
    WK_LOCAL_OFFERS,
    WK_LOCAL_HELP,
    WK_LOCAL_QUIT
} wk_local_t;

/* What the session does with its lists when the broker says ok, and what
 * the arguments are. */
#define WK_ADDS_JOB       0x01 /* the reply is a JOB: remember it */
#define WK_DROPS_JOB      0x02 /* the job is no longer ours */
#define WK_DROPS_OFFER    0x04 /* the offer for this ticket is no longer open */
#define WK_RENEWS_JOB     0x08 /* the reply's lease_until replaces the job's */
#define WK_TEXT_REQUIRED  0x10 /* the text (reason) must be given */
#define WK_TAKES_PHOTOS   0x20 /* @photo words / "photos" are allowed */

typedef struct {
    const char *name;        /* as typed and as "cmd" in JSON */
    const char *aliases[3];  /* also accepted when typed (NULL-terminated early) */
    const char *wire;        /* broker command, or NULL for a local one */
    wk_local_t local;
    wk_arg_t args;
    const char *text_key;    /* "note" or "reason": the JSON and wire field of the text */
    size_t text_max;         /* its limit in bytes */
    const char *event;       /* event emitted on success */
    unsigned flags;          /* WK_ADDS_JOB ... */
    const char *usage;       /* "claim N" */
    const char *help;        /* one line, bilingual */
    const char *example;     /* a line to type, or NULL */
} wk_cmd_spec_t;

/* Kinds of photo the broker takes. */
#define WK_KIND_BEFORE "before"
#define WK_KIND_AFTER  "after"
#define WK_KIND_OTHER  "other"

typedef struct {
    char path[WK_MAX_PATH + 1];
    const char *kind; /* WK_KIND_* (static) */
} wk_photo_ref_t;

/* A parsed command. */
typedef struct {
    const wk_cmd_spec_t *spec;
    int64_t ticket;                          /* 0 when the command takes none */
    char text[BM_MAX_NOTE + 1];              /* the note or reason; empty when none */
    bool has_text;
    char department[BM_MAX_DEPARTMENT + 1];  /* escalate only */
    wk_photo_ref_t photos[BM_MAX_ATTACH];
    size_t n_photos;
    char bridge_id[WK_MAX_BRIDGE_ID + 1];    /* JSON "id", echoed in the resulting event */
    bool has_bridge_id;
} wk_cmd_t;

/* The table, terminated by an entry with name NULL. */
extern const wk_cmd_spec_t wk_commands[];
/* Lines shown after the table by help (about photos), NULL-terminated. */
extern const char *const wk_help_notes[];

/* Finds a command by name (and, if aliases, by alias). NULL if unknown. */
const wk_cmd_spec_t *wk_cmd_find(const char *name, bool aliases);

typedef enum { WK_PARSE_OK = 0, WK_PARSE_EMPTY = 1, WK_PARSE_ERROR = -1 } wk_parse_t;

/* Parses one line typed by a person (no trailing newline needed). Returns
 * WK_PARSE_OK, WK_PARSE_EMPTY for a blank line, or WK_PARSE_ERROR with err
 * (code WK_ERR_BAD_INPUT) saying what to type instead. Words starting with @
 * are photo files (@FILE, @before:FILE, @after:FILE), refused by commands
 * that take no photos; @@word is the word "@word" in the text. */
wk_parse_t wk_cmd_parse_text(const char *line, wk_cmd_t *cmd, bm_error_t *err);
/* Parses one JSON line of len bytes. Same results; on error cmd->bridge_id
 * is set if the line had a readable "id", so the error event can echo it.
 * "photos" is an array of paths or {"path","kind"} objects. */
wk_parse_t wk_cmd_parse_json(const char *line, size_t len, wk_cmd_t *cmd, bm_error_t *err);

#endif
