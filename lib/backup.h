/* backup.h - online backup and verified restore of a bianmin installation:
 * the database (a consistent snapshot through SQLite's online backup API,
 * from a read-only connection, while the broker runs) and the photos it
 * refers to, with a manifest of SHA-256 checksums.
 *
 * A backup is a folder DIR/bianmin-YYYYMMDDTHHMMSSZ holding bianmin.db,
 * photos/ab/<sha256>.<ext>, manifest.json and SHA256SUMS (for sha256sum -c).
 * It is written under a temporary name and renamed when complete, so a
 * folder with that name is always whole. Photos are content-addressed: one
 * already in the previous backup is hard-linked, not copied again. Files are
 * 0600, folders 0700. These functions read and write files directly: they
 * run on the broker's host, as a user who may read its state directory. */
#ifndef BM_BACKUP_H
#define BM_BACKUP_H

#include "proto.h"

#include <stdbool.h>
#include <stdint.h>

#define BM_DEFAULT_BACKUP_KEEP 14   /* backups kept by retention */
#define BM_BACKUP_PREFIX       "bianmin-"
#define BM_BACKUP_MANIFEST     "manifest.json"
#define BM_BACKUP_DB           "bianmin.db"
#define BM_BACKUP_FORMAT       "bianmin-backup/1"
#define BM_BACKUP_MAX_MANIFEST (256L * 1024 * 1024) /* refuse larger manifests */

typedef struct {
    const char *db;      /* the live database */
    const char *archive; /* its photo archive folder */
    const char *dir;     /* where backups go (created 0700 if missing) */
    int keep;            /* backups to keep after this one (0: keep all) */
} bm_backup_opts_t;

/* What a backup or restore saw. */
typedef struct {
    char path[1024];       /* the backup folder made, or restored from */
    char created_at[32];   /* when the snapshot was taken (ISO 8601 UTC) */
    int schema_version;
    int64_t requests, events, deliveries, max_ticket;
    int64_t photos;        /* photos in the backup */
    int64_t photos_copied; /* copied (backup: new ones; restore: missing in the archive) */
    int64_t photos_linked; /* backup: hard-linked from the previous backup */
    int removed;           /* backup: old backups removed by retention */
    char moved_aside[1100]; /* restore --force: where the replaced database went */
} bm_backup_result_t;

/* Makes one backup in o->dir, then removes the oldest beyond o->keep.
 * Returns 0 with res filled, or -1 with err set (nothing half-made is left
 * under a backup's name). */
int bm_backup_run(const bm_backup_opts_t *o, bm_backup_result_t *res, bm_error_t *err);

typedef struct {
    const char *backup;  /* a backup folder */
    const char *db;      /* where the database goes */
    const char *archive; /* where the photos go */
    bool force;          /* replace an existing database (moved aside, never deleted) */
    bool check_only;     /* verify the backup, change nothing */
} bm_restore_opts_t;

/* Verifies a backup completely (manifest, database checksum, PRAGMA
 * integrity_check, schema version, every photo's hash, every photo the
 * database refers to present) and only then puts it in place: photos first,
 * then the database, each durably (temp file, fsync, rename). Refuses a
 * target database that a process holds open (a running broker), and one that
 * exists unless o->force. Returns 0 with res filled, or -1 with err set and
 * the database untouched (if it failed after the photos were copied, those
 * stay: content-addressed, they change nothing). */
int bm_restore_run(const bm_restore_opts_t *o, bm_backup_result_t *res, bm_error_t *err);

#endif
