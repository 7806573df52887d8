/* report.h - the office's read-only commands, `bianmin stats` and
 * `bianmin export`: they open the database FILE read-only (not through the
 * broker) and compute monthly figures (lib/stats.h) or write the month's
 * case archive for an inspection. */
#ifndef BM_CLI_REPORT_H
#define BM_CLI_REPORT_H

#include "cli.h"
#include "config.h"

#include <stdbool.h>

#define CLI_ENV_DB "BIANMIN_DB" /* the database file, if --db is not given */
#define BM_DEFAULT_EXPORT_PAGE 200 /* cases per page of the exported archive (cases-NNNN.html) */

typedef enum { CLI_REPORT_TEXT, CLI_REPORT_JSON, CLI_REPORT_CSV, CLI_REPORT_HTML } cli_report_fmt_t;

/* What stats and export were asked for. */
typedef struct {
    int year, month;
    const char *tz;       /* NULL: the TZ environment variable / system zone */
    const char *db;       /* never NULL after a successful parse */
    const char *config;   /* NULL: built-in categories */
    const char *archive;  /* export: the photo archive; NULL: "archive" beside the db */
    const char *out;      /* stats --html FILE; export: DIR */
    cli_report_fmt_t fmt;
    bool help;
} cli_report_args_t;

/* Parses stats' (is_export = false) or export's (is_export = true) arguments;
 * argv[0] is the command name, json is the global --json. Returns 0, or -1
 * with a message for people in err. */
int cli_report_parse(int argc, char **argv, bool is_export, bool json, cli_report_args_t *args,
                     char *err, size_t errlen);

/* Loads the config (args->config, or the defaults). Returns 0 or -1 with a
 * message on stderr. */
int cli_report_config(const cli_report_args_t *args, bm_config_t *cfg);

/* The start of stats' and export's run: parses argv (a usage error or --help
 * is printed here) and loads the config. Returns CLI_EXIT_OK with *cfg set
 * (caller frees) to go on; otherwise *cfg is NULL and the result is the exit
 * code to return. */
int cli_report_start(cli_ctx_t *ctx, int argc, char **argv, bool is_export,
                     cli_report_args_t *args, bm_config_t **cfg);

/* Writes a stats report (lib/stats.h) as tables for a terminal. */
void cli_format_stats(FILE *out, const cJSON *report);

int cli_stats_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_stats_help(FILE *out);
int cli_export_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_export_help(FILE *out);

#endif
