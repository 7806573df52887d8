/* admin.c - see admin.h. */
#include "admin.h"
#include "backup.h"
#include "config.h"
#include "report.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_backup_help(FILE *out)
{
    fprintf(out,
            "用法 / usage:\n"
            "  bianmin [--json] backup DIR [--db PATH] [--archive DIR] [--config FILE]\n"
            "          [--keep N]\n"
            "\n"
            "在线备份，服务站运行时也可以：数据库的一致副本（SQLite 在线备份，只读）、它\n"
            "引用的照片（只复制新的，其余硬链接到上一次备份）、带 SHA-256 校验和的清单，\n"
            "放在 DIR/bianmin-YYYYMMDDTHHMMSSZ（0700；文件 0600）。然后只保留最新的 N 份。\n"
            "它直接读文件：请在服务站的主机上用 root 或 bianmin 用户运行。\n"
            "Online backup, while the broker runs: a consistent copy of the database\n"
            "(SQLite's online backup API, read-only), the photos it refers to (only new\n"
            "ones are copied; the rest are hard links to the previous backup), and a\n"
            "manifest with SHA-256 checksums, in DIR/bianmin-YYYYMMDDTHHMMSSZ (0700;\n"
            "files 0600). Then only the newest N backups are kept. It reads the files\n"
            "directly: run it on the broker's host as root or the bianmin user.\n"
            "\n"
            "  --db PATH       数据库 / the database (default: $" CLI_ENV_DB ", else the\n"
            "                  config's, else " BM_DEFAULT_DATABASE ")\n"
            "  --archive DIR   照片存档 / the photo archive (default: the config's\n"
            "                  archive_dir, else \"archive\" beside the database)\n"
            "  --config FILE   服务站配置 / the broker's config (database, archive_dir)\n"
            "  --keep N        保留几份，0 为全部 / backups to keep, 0 = all (default %d)\n"
            "\n"
            "例子 / example (what bianmin-backup.timer runs every hour):\n"
            "  bianmin backup --db /var/lib/bianmin/bianmin.db --keep 48 \\\n"
            "      /var/lib/bianmin-backup\n"
            "退出码 / exit codes: 0 完成 done, 1 用法错误 usage error,\n"
            "  2 备份失败（不留半成品） the backup failed (nothing half-made is left)\n",
            BM_DEFAULT_BACKUP_KEEP);
}

void cli_restore_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [--json] restore BACKUP --db PATH [--archive DIR] [--force] [--check]\n"
          "  bianmin restore BACKUP --config FILE [--force] [--check]\n"
          "\n"
          "恢复 `bianmin backup` 做的备份。先检查一切：清单、数据库的校验和与 PRAGMA\n"
          "integrity_check、数据库版本、每张照片的 SHA-256。都通过后才把照片复制进存档、\n"
          "把数据库放到 PATH。正被进程打开的数据库（运行中的服务站）绝不替换；已有的\n"
          "只在 --force 时替换，并改名保留为 PATH.before-restore-TIME。它直接读写文件：\n"
          "先停服务站，在它的主机上用 root 或 bianmin 用户运行，再启动服务站。\n"
          "Restores a backup made by `bianmin backup`. Everything is checked first: the\n"
          "manifest, the database's checksum and PRAGMA integrity_check, its schema\n"
          "version, and every photo's SHA-256. Only then the photos are copied into the\n"
          "archive and the database is put at PATH. A database that a process holds\n"
          "open (a running broker) is never replaced; an existing one only with\n"
          "--force, and then it is kept, renamed PATH.before-restore-TIME.\n"
          "It reads and writes the files directly: stop the broker, run it on its host\n"
          "as root or the bianmin user, then start the broker.\n"
          "\n"
          "  --db PATH       数据库放哪里 / where the database goes\n"
          "  --archive DIR   照片放哪里 / where the photos go (default: \"archive\"\n"
          "                  beside PATH, or the config's archive_dir)\n"
          "  --config FILE   从服务站配置取路径 / take the database and archive paths\n"
          "                  from the broker's config\n"
          "  --force         替换已有的数据库 / replace an existing database (not one\n"
          "                  in use)\n"
          "  --check         只检查，不改动 / verify the backup only; change nothing\n"
          "\n"
          "例子 / example:\n"
          "  systemctl stop bianmin-broker\n"
          "  bianmin restore /var/lib/bianmin-backup/bianmin-20261203T100000Z \\\n"
          "      --db /var/lib/bianmin/bianmin.db --force\n"
          "  chown -R bianmin:bianmin /var/lib/bianmin && systemctl start bianmin-broker\n"
          "退出码 / exit codes: 0 完成 done, 1 用法错误 usage error,\n"
          "  2 被拒绝或失败（什么都没改） refused or failed (nothing was changed)\n",
          out);
}

int cli_admin_parse(int argc, char **argv, bool is_restore, cli_admin_args_t *args, char *err,
                    size_t errlen)
{
    memset(args, 0, sizeof *args);
    args->keep = BM_DEFAULT_BACKUP_KEEP;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            args->help = true;
            return 0;
        }
        if (is_restore && strcmp(argv[i], "--force") == 0) {
            args->force = true;
            continue;
        }
        if (is_restore && strcmp(argv[i], "--check") == 0) {
            args->check_only = true;
            continue;
        }
        const char **slot = NULL;
        const char *names[] = {"--db", "--archive", "--config", "--keep"};
        const char **slots[] = {&args->db, &args->archive, &args->config, NULL};
        for (int k = 0; k < 4 && !slot; k++) {
            if (k == 3 && is_restore)
                break;
            if ((m = cli_opt_value(argc, argv, &i, names[k], &v, err, errlen)) < 0)
                return -1;
            if (m == 0)
                continue;
            if (k == 3) {
                long keep = 0;
                if (bm_parse_long(v, 0, 100000, &keep) != 0) {
                    snprintf(err, errlen, "--keep 后面要跟保留的备份数，0 到 100000 / --keep needs a number of backups, 0 to 100000");
                    return -1;
                }
                args->keep = (int)keep;
                slot = &v;
            } else {
                if (!*v) {
                    snprintf(err, errlen, "%s 后面要跟路径 / %s needs a path", names[k], names[k]);
                    return -1;
                }
                *slots[k] = v;
                slot = slots[k];
            }
        }
        if (slot)
            continue;
        if (argv[i][0] == '-') {
            snprintf(err, errlen, "未知选项 / unknown option %s", argv[i]);
            return -1;
        }
        if (args->target) {
            snprintf(err, errlen, "多余的参数 / unexpected argument \"%s\"", argv[i]);
            return -1;
        }
        args->target = argv[i];
    }
    if (!args->target) {
        snprintf(err, errlen, is_restore ? "恢复哪个备份？（一个 DIR/bianmin-... 目录） / which backup? (a folder DIR/bianmin-...)"
                                         : "备份到哪里？（备份目录 DIR） / where to? (the backups folder DIR)");
        return -1;
    }
    if (is_restore && !args->db && !args->config && !args->check_only) {
        snprintf(err, errlen, "恢复到哪里？需要 --db PATH（或 --config FILE） / where to? --db PATH (or --config FILE) is required");
        return -1;
    }
    return 0;
}

/* The database and archive paths from the flags, the environment, the config. */
static int resolve_paths(const cli_admin_args_t *a, bool is_restore, bm_config_t *cfg,
                         char *archive, size_t len)
{
    bm_config_defaults(cfg);
    if (a->config) {
        bm_error_t err = {0};
        if (bm_config_load(cfg, a->config, &err) != 0) {
            fprintf(stderr, "bianmin: %s\n", err.message);
            return -1;
        }
    }
    const char *env = getenv(CLI_ENV_DB);
    const char *db = a->db ? a->db : (!is_restore && env && *env && !a->config) ? env : NULL;
    if (db) {
        bm_strlcpy(cfg->database, db, sizeof cfg->database);
        if (!a->config)
            cfg->archive_dir[0] = '\0';
    }
    if (a->archive)
        bm_strlcpy(archive, a->archive, len);
    else
        bm_config_archive_dir(cfg, archive, len);
    return 0;
}

static void print_result(cli_ctx_t *ctx, bool is_restore, const bm_backup_result_t *r,
                         const char *db)
{
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, is_restore ? "backup" : "path", r->path);
        if (is_restore)
            cJSON_AddStringToObject(j, "db", db);
        cJSON_AddStringToObject(j, "created_at", r->created_at);
        cJSON_AddNumberToObject(j, "schema_version", r->schema_version);
        cJSON_AddNumberToObject(j, "requests", (double)r->requests);
        cJSON_AddNumberToObject(j, "events", (double)r->events);
        cJSON_AddNumberToObject(j, "deliveries", (double)r->deliveries);
        cJSON_AddNumberToObject(j, "max_ticket", (double)r->max_ticket);
        cJSON_AddNumberToObject(j, "photos", (double)r->photos);
        cJSON_AddNumberToObject(j, "photos_copied", (double)r->photos_copied);
        if (!is_restore) {
            cJSON_AddNumberToObject(j, "photos_linked", (double)r->photos_linked);
            cJSON_AddNumberToObject(j, "removed", r->removed);
        } else if (r->moved_aside[0]) {
            cJSON_AddStringToObject(j, "moved_aside", r->moved_aside);
        }
        cli_print_json_line(stdout, j);
        cJSON_Delete(j);
        return;
    }
    if (!is_restore) {
        printf("备份完成 backup done: %s\n"
               "  %lld 工单 requests (last ticket %lld), %lld 事件 events, %lld 通知 deliveries, "
               "schema %d\n"
               "  %lld 照片 photos (%lld new, %lld linked from the previous backup)\n",
               r->path, (long long)r->requests, (long long)r->max_ticket, (long long)r->events,
               (long long)r->deliveries, r->schema_version, (long long)r->photos,
               (long long)r->photos_copied, (long long)r->photos_linked);
        if (r->removed)
            printf("  %d 个旧备份已删除 old backups removed (retention)\n", r->removed);
        return;
    }
    printf("%s %s (taken %s)\n"
           "  %lld 工单 requests (last ticket %lld), %lld 事件 events, %lld 通知 deliveries, "
           "%lld 照片 photos, schema %d: checksums and integrity_check ok\n",
           db ? "恢复完成 restored:" : "备份完好 the backup checks out:", r->path, r->created_at,
           (long long)r->requests, (long long)r->max_ticket, (long long)r->events,
           (long long)r->deliveries, (long long)r->photos, r->schema_version);
    if (db)
        printf("  数据库 database %s；%lld 张照片已复制到归档 photos copied into the archive\n", db,
               (long long)r->photos_copied);
    if (r->moved_aside[0])
        printf("  被替换的数据库另存为 the database it replaced is kept as %s\n", r->moved_aside);
}

static int run(cli_ctx_t *ctx, int argc, char **argv, bool is_restore)
{
    cli_admin_args_t a;
    char err[256];
    if (cli_admin_parse(argc, argv, is_restore, &a, err, sizeof err) != 0)
        return cli_usage_error(argv[0], err);
    if (a.help) {
        (is_restore ? cli_restore_help : cli_backup_help)(stdout);
        return CLI_EXIT_OK;
    }
    bm_config_t *cfg = calloc(1, sizeof *cfg);
    char archive[1024];
    if (!cfg || resolve_paths(&a, is_restore, cfg, archive, sizeof archive) != 0) {
        free(cfg);
        return CLI_EXIT_USAGE;
    }
    umask(077); /* whatever SQLite creates is the owner's only */
    bm_backup_result_t r;
    bm_error_t e = {0};
    int rc;
    if (is_restore) {
        bm_restore_opts_t o = {.backup = a.target, .db = cfg->database, .archive = archive,
                               .force = a.force, .check_only = a.check_only};
        rc = bm_restore_run(&o, &r, &e);
    } else {
        bm_backup_opts_t o = {.db = cfg->database, .archive = archive, .dir = a.target, .keep = a.keep};
        rc = bm_backup_run(&o, &r, &e);
    }
    if (rc != 0) {
        if (ctx->json) {
            cJSON *j = bm_error_json(&e);
            cli_print_json_line(stdout, j);
            cJSON_Delete(j);
        } else {
            cli_print_error(stderr, e.code, e.field, e.message);
        }
        free(cfg);
        return CLI_EXIT_REFUSED;
    }
    print_result(ctx, is_restore, &r, is_restore && !a.check_only ? cfg->database : NULL);
    free(cfg);
    return CLI_EXIT_OK;
}

int cli_backup_run(cli_ctx_t *ctx, int argc, char **argv)
{
    return run(ctx, argc, argv, false);
}

int cli_restore_run(cli_ctx_t *ctx, int argc, char **argv)
{
    return run(ctx, argc, argv, true);
}
