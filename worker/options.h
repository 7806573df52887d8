/* options.h - the command line of bianmin-worker: who the volunteer is, what
 * they can fix, where the broker is. Pure parsing, no I/O except usage text. */
#ifndef WK_OPTIONS_H
#define WK_OPTIONS_H

#include "auth.h"
#include "log.h"
#include "protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define WK_MAX_SKILLS     16
#define WK_MAX_SKILL_LEN  31
#define WK_MAX_JOBS_LIMIT 20 /* the protocol's upper bound for max_jobs */
#define WK_HELP_COLS      60 /* --help fits a phone-sized terminal */
#define WK_MAX_ENDPOINT   255
/* Used for the hello timeout until the broker tells its heartbeat_ms. */
#define WK_DEFAULT_HEARTBEAT_MS 2000
#define WK_DEFAULT_BROKER "tcp://127.0.0.1:5571"
/* A claim's lease is recalled this long before it runs out, once per lease. */
#define WK_DEFAULT_REMIND_BEFORE_S (15 * 60)
#define WK_MAX_REMIND_BEFORE_S     (24 * 3600)

typedef struct {
    char id[BM_MAX_VOL_ID + 1];
    char name[BM_MAX_VOL_NAME + 1];
    char skills[WK_MAX_SKILLS][WK_MAX_SKILL_LEN + 1];
    int skill_count;
    int max_jobs;
    char broker[WK_MAX_ENDPOINT + 1];
    bool broker_given;        /* --broker was given (else the key file's, else the default) */
    bool max_jobs_given;
    char key_path[1024];      /* --key FILE ("" = none: development mode) */
    bm_key_t key;             /* loaded by wk_options_load_key */
    bool has_key;
    bool json;
    bool verbose;          /* logs on the interactive screen too */
    int remind_before_s;   /* 0: no lease reminder */
    bm_log_level_t log_level;
    int initial_heartbeat_ms; /* hello timeout is 3x this; not a flag, tests shorten it */
} wk_options_t;

typedef enum { WK_ARGS_OK = 0, WK_ARGS_HELP = 1, WK_ARGS_ERROR = -1 } wk_args_t;

/* Fills o with the defaults (no id, name or skills). */
void wk_options_defaults(wk_options_t *o);
/* Parses argv (argv[0] is the program). Returns WK_ARGS_OK with o filled,
 * WK_ARGS_HELP for --help, or WK_ARGS_ERROR with a message for people in err. */
wk_args_t wk_options_parse(int argc, char **argv, wk_options_t *o, char *err, size_t errlen);
/* Loads the --key file (if any) and takes from it what the flags left out:
 * the volunteer id and name, and where the station is. Returns 0, or -1 with
 * a message for people in err. */
int wk_options_load_key(wk_options_t *o, char *err, size_t errlen);
/* Checks a volunteer id: 1-64 bytes of [A-Za-z0-9_.-]. */
bool wk_valid_id(const char *s);
/* Prints the --help text, Chinese first, within WK_HELP_COLS columns. */
void wk_usage(FILE *f);

#endif
