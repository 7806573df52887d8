/* admin.h - `bianmin backup` and `bianmin restore`: local admin commands
 * that read and write the files directly (lib/backup.h), not through the
 * broker. They run on the broker's host as a user who may read its state
 * directory (root, or the bianmin user). */
#ifndef BM_CLI_ADMIN_H
#define BM_CLI_ADMIN_H

#include "cli.h"

#include <stdbool.h>

typedef struct {
    const char *target; /* backup: the backups folder; restore: the backup */
    const char *db;
    const char *archive;
    const char *config;
    int keep;
    bool force, check_only, help;
} cli_admin_args_t;

/* Parses backup's (is_restore false) or restore's arguments (argv[0] is the
 * command). Returns 0, or -1 with a message for people in err. */
int cli_admin_parse(int argc, char **argv, bool is_restore, cli_admin_args_t *args, char *err,
                    size_t errlen);

int cli_backup_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_backup_help(FILE *out);
int cli_restore_run(cli_ctx_t *ctx, int argc, char **argv);
void cli_restore_help(FILE *out);

#endif
