/* backup.c - see backup.h: making a backup and retention. Restore is in
 * restore.c; both share the manifest format described in backup.h. */
#include "backup.h"
#include "archive.h"
#include "fileops.h"
#include "util.h"
#include "version.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000
#define MAX_BACKUPS     100000 /* folders looked at by retention */
#define PARTIAL_PREFIX  ".partial-"

typedef struct {
    char **v;
    int n, cap;
} names_t;

static void names_free(names_t *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int names_add(names_t *s, const char *name)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **grown = realloc(s->v, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        s->v = grown;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(name)))
        return -1;
    s->n++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The complete backups in dir (those with a manifest), oldest first, and the
 * leftovers of interrupted runs. */
static int scan_dir(const char *dir, names_t *backups, names_t *partial)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    size_t plen = strlen(BM_BACKUP_PREFIX);
    while (rc == 0 && (e = readdir(d)) != NULL && backups->n < MAX_BACKUPS) {
        if (strncmp(e->d_name, PARTIAL_PREFIX, strlen(PARTIAL_PREFIX)) == 0) {
            rc = names_add(partial, e->d_name);
            continue;
        }
        if (strncmp(e->d_name, BM_BACKUP_PREFIX, plen) != 0 || strlen(e->d_name) < plen + 16)
            continue;
        char manifest[4096];
        bm_pathf(manifest, sizeof manifest, "%s/%s/%s", dir, e->d_name, BM_BACKUP_MANIFEST);
        if (access(manifest, F_OK) == 0)
            rc = names_add(backups, e->d_name);
    }
    closedir(d);
    if (backups->n > 1)
        qsort(backups->v, (size_t)backups->n, sizeof *backups->v, cmp_name);
    return rc;
}

static int64_t query_i64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Takes the snapshot: src (read-only) copied page by page into dst in one
 * read transaction, so it is one consistent state even while the broker
 * commits; then made a plain single-file database and checked. */
static int snapshot(const char *src_path, const char *dst_path, bm_backup_result_t *res,
                    bm_error_t *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *bk = NULL;
    int rc = -1;
    if (access(src_path, R_OK) != 0) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "db", "找不到数据库 / cannot read the database %s: %s",
                     src_path, strerror(errno));
        return -1;
    }
    if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "无法打开数据库 / cannot open %s: %s", src_path,
                     src ? sqlite3_errmsg(src) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(src, BUSY_TIMEOUT_MS);
    if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, "dir", "无法写入备份 / cannot create %s: %s", dst_path,
                     dst ? sqlite3_errmsg(dst) : "out of memory");
        goto out;
    }
    bk = sqlite3_backup_init(dst, "main", src, "main");
    int step = bk ? sqlite3_backup_step(bk, -1) : SQLITE_ERROR;
    int fin = bk ? sqlite3_backup_finish(bk) : SQLITE_ERROR;
    bk = NULL;
    if (step != SQLITE_DONE || fin != SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "数据库备份失败 / the database copy failed: %s",
                     sqlite3_errmsg(dst));
        goto out;
    }
    /* The copy carries the live database's WAL flag: make it one plain file. */
    sqlite3_stmt *s = NULL;
    bool plain = sqlite3_prepare_v2(dst, "PRAGMA journal_mode=DELETE", -1, &s, NULL) == SQLITE_OK &&
                 sqlite3_step(s) == SQLITE_ROW &&
                 strcmp((const char *)sqlite3_column_text(s, 0), "delete") == 0;
    sqlite3_finalize(s);
    s = NULL;
    bool intact = sqlite3_prepare_v2(dst, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
                  sqlite3_step(s) == SQLITE_ROW &&
                  strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    sqlite3_finalize(s);
    if (!plain || !intact) {
        bm_error_set(err, BM_ERR_STORAGE, "db",
                     "数据库副本未通过检查 / the copy of %s fails %s: the live database may be "
                     "damaged; see docs/operations.md",
                     src_path, plain ? "PRAGMA integrity_check" : "journal_mode=DELETE");
        goto out;
    }
    res->schema_version = (int)query_i64(dst, "PRAGMA user_version");
    res->requests = query_i64(dst, "SELECT count(*) FROM requests");
    res->events = query_i64(dst, "SELECT count(*) FROM events");
    res->deliveries = query_i64(dst, "SELECT count(*) FROM deliveries");
    res->max_ticket = query_i64(dst, "SELECT coalesce(max(id), 0) FROM requests");
    if (res->requests < 0 || res->events < 0 || res->deliveries < 0) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "这不是 bianmin 数据库 / %s is not a bianmin database",
                     src_path);
        goto out;
    }
    rc = 0;
out:
    sqlite3_close(src);
    sqlite3_close(dst);
    return rc;
}

/* Copies (or hard-links from the previous backup) every photo the snapshot
 * refers to, and lists each in photos (manifest entries). */
static int copy_photos(const char *snap, const char *archive, const char *tmp, const char *prev,
                       cJSON *photos, bm_backup_result_t *res, bm_error_t *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_open_v2(snap, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT DISTINCT sha256, mime FROM attachments ORDER BY sha256", -1,
                           &s, NULL) != SQLITE_OK) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "无法读取照片列表 / cannot list the photos: %s",
                     sqlite3_errmsg(db));
        goto out;
    }
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(s, 0);
        const char *mime = (const char *)sqlite3_column_text(s, 1);
        if (!sha || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64) {
            bm_error_set(err, BM_ERR_STORAGE, "db", "数据库中有无效的照片记录 / a photo row has a bad sha256");
            goto out;
        }
        char rel[160], from[4096], to[4096], sub[4096], hex[65];
        bm_archive_relpath(sha, bm_archive_ext(mime), rel, sizeof rel);
        bm_pathf(to, sizeof to, "%s/photos/%s", tmp, rel);
        bm_pathf(sub, sizeof sub, "%s/photos/%.2s", tmp, sha);
        if (bm_file_mkdirs(sub, 0700) != 0) {
            bm_error_set(err, BM_ERR_STORAGE, "dir", "无法创建目录 / cannot create %s: %s", sub,
                         strerror(errno));
            goto out;
        }
        int64_t size = 0;
        bool linked = false;
        if (prev) {
            char old[4096];
            bm_pathf(old, sizeof old, "%s/photos/%s", prev, rel);
            struct stat st;
            if (stat(old, &st) == 0 && S_ISREG(st.st_mode) && link(old, to) == 0) {
                linked = true;
                size = st.st_size;
            }
        }
        if (!linked) {
            bm_pathf(from, sizeof from, "%s/%s", archive, rel);
            if (bm_file_copy(from, to, 0600, hex, &size) != 0) {
                bm_error_set(err, BM_ERR_STORAGE, "archive",
                             "照片无法复制 / cannot copy the photo %s: %s", from, strerror(errno));
                goto out;
            }
            if (strcmp(hex, sha) != 0) {
                bm_error_set(err, BM_ERR_STORAGE, "archive",
                             "照片已损坏 / the photo %s does not match its checksum; put back a good "
                             "copy (an older backup has it under photos/%s)",
                             from, rel);
                goto out;
            }
            res->photos_copied++;
        } else {
            res->photos_linked++;
        }
        if (bm_file_fsync_dir(sub) != 0) {
            bm_error_set(err, BM_ERR_STORAGE, "dir", "无法写入 / cannot sync %s: %s", sub, strerror(errno));
            goto out;
        }
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToArray(photos, p);
        char path[200];
        bm_pathf(path, sizeof path, "photos/%s", rel);
        cJSON_AddStringToObject(p, "path", path);
        cJSON_AddStringToObject(p, "sha256", sha);
        cJSON_AddNumberToObject(p, "size", (double)size);
        res->photos++;
    }
    if (step != SQLITE_DONE) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "无法读取照片列表 / cannot list the photos: %s",
                     sqlite3_errmsg(db));
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

/* Writes manifest.json and SHA256SUMS into tmp. */
static int write_manifest(const char *tmp, const char *db_sha, int64_t db_size, cJSON *photos,
                          const bm_backup_result_t *res, bm_error_t *err)
{
    cJSON *m = cJSON_CreateObject();
    char path[4096];
    char *text = NULL, *sums = NULL;
    int rc = -1;
    cJSON_AddStringToObject(m, "format", BM_BACKUP_FORMAT);
    cJSON_AddStringToObject(m, "created_at", res->created_at);
    cJSON_AddStringToObject(m, "bianmin_version", bm_version());
    cJSON_AddNumberToObject(m, "schema_version", res->schema_version);
    cJSON *db = cJSON_AddObjectToObject(m, "database");
    cJSON_AddStringToObject(db, "path", BM_BACKUP_DB);
    cJSON_AddStringToObject(db, "sha256", db_sha);
    cJSON_AddNumberToObject(db, "size", (double)db_size);
    cJSON *counts = cJSON_AddObjectToObject(m, "counts");
    cJSON_AddNumberToObject(counts, "requests", (double)res->requests);
    cJSON_AddNumberToObject(counts, "events", (double)res->events);
    cJSON_AddNumberToObject(counts, "deliveries", (double)res->deliveries);
    cJSON_AddNumberToObject(counts, "photos", (double)res->photos);
    cJSON_AddNumberToObject(counts, "max_ticket", (double)res->max_ticket);
    cJSON_AddItemReferenceToObject(m, "photos", photos);
    text = cJSON_Print(m);
    /* SHA256SUMS: the same checksums for `sha256sum -c SHA256SUMS`. */
    size_t cap = 128 + (size_t)cJSON_GetArraySize(photos) * 240;
    sums = malloc(cap);
    if (!text || !sums)
        goto fail;
    size_t used = (size_t)snprintf(sums, cap, "%s  %s\n", db_sha, BM_BACKUP_DB);
    const cJSON *p;
    cJSON_ArrayForEach(p, photos) {
        used += (size_t)snprintf(sums + used, cap - used, "%s  %s\n",
                                 cJSON_GetObjectItem(p, "sha256")->valuestring,
                                 cJSON_GetObjectItem(p, "path")->valuestring);
    }
    bm_pathf(path, sizeof path, "%s/SHA256SUMS", tmp);
    if (bm_file_write(path, sums, used, 0600) != 0)
        goto fail;
    bm_pathf(path, sizeof path, "%s/%s", tmp, BM_BACKUP_MANIFEST);
    if (bm_file_write(path, text, strlen(text), 0600) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    bm_error_set(err, BM_ERR_STORAGE, "dir", "无法写入清单 / cannot write %s: %s", path, strerror(errno));
out:
    free(sums);
    free(text);
    cJSON_Delete(m);
    return rc;
}

/* Removes the oldest complete backups beyond keep, and leftovers of
 * interrupted runs (safe: the caller holds the folder's lock). */
static int retain(const char *dir, int keep, bm_backup_result_t *res)
{
    names_t backups = {0}, partial = {0};
    if (scan_dir(dir, &backups, &partial) != 0) {
        names_free(&backups);
        names_free(&partial);
        return -1;
    }
    char path[4096];
    for (int i = 0; i < partial.n; i++) {
        bm_pathf(path, sizeof path, "%s/%s", dir, partial.v[i]);
        bm_file_rmtree(path);
    }
    for (int i = 0; keep > 0 && i < backups.n - keep; i++) {
        bm_pathf(path, sizeof path, "%s/%s", dir, backups.v[i]);
        if (bm_file_rmtree(path) == 0)
            res->removed++;
    }
    names_free(&backups);
    names_free(&partial);
    return 0;
}

int bm_backup_run(const bm_backup_opts_t *o, bm_backup_result_t *res, bm_error_t *err)
{
    memset(res, 0, sizeof *res);
    int rc = -1, lock = -1;
    bool made_tmp = false;
    char tmp[4096], final[4096], path[4096], prev[4096], stamp[32], db_sha[65];
    cJSON *photos = cJSON_CreateArray();
    names_t backups = {0}, partial = {0};
    if (!photos) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
        goto out;
    }
    if (bm_file_mkdirs(o->dir, 0700) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "dir", "无法创建备份目录 / cannot create %s: %s", o->dir,
                     strerror(errno));
        goto out;
    }
    /* One backup at a time per folder. */
    bm_pathf(path, sizeof path, "%s/.lock", o->dir);
    lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "dir",
                     "另一个备份正在进行 / another backup into %s is running (or the folder is not "
                     "writable: %s)",
                     o->dir, strerror(errno));
        goto out;
    }
    if (scan_dir(o->dir, &backups, &partial) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "dir", "无法读取备份目录 / cannot read %s: %s", o->dir,
                     strerror(errno));
        goto out;
    }
    prev[0] = '\0';
    if (backups.n > 0)
        bm_pathf(prev, sizeof prev, "%s/%s", o->dir, backups.v[backups.n - 1]);

    int64_t now = bm_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    bm_time_iso(now, res->created_at, sizeof res->created_at);
    if (bm_pathf(final, sizeof final, "%s/%s%s", o->dir, BM_BACKUP_PREFIX, stamp) != 0 ||
        bm_pathf(tmp, sizeof tmp, "%s/%s%s%s", o->dir, PARTIAL_PREFIX, BM_BACKUP_PREFIX, stamp) != 0) {
        bm_error_set(err, BM_ERR_INVALID, "dir", "路径太长 / the folder name %s is too long", o->dir);
        goto out;
    }
    for (int i = 2; access(final, F_OK) == 0 && i < 100; i++)
        bm_pathf(final, sizeof final, "%s/%s%s-%02d", o->dir, BM_BACKUP_PREFIX, stamp, i);
    bm_file_rmtree(tmp); /* a leftover of an interrupted run at the same second */
    if (mkdir(tmp, 0700) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "dir", "无法创建目录 / cannot create %s: %s", tmp,
                     strerror(errno));
        goto out;
    }
    made_tmp = true;

    char snap[4096];
    bm_pathf(snap, sizeof snap, "%s/%s", tmp, BM_BACKUP_DB);
    if (snapshot(o->db, snap, res, err) != 0)
        goto out;
    int64_t db_size = 0;
    int fd = open(snap, O_RDONLY | O_CLOEXEC);
    bool synced = fd >= 0 && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!synced || bm_file_sha256(snap, db_sha, &db_size) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "dir", "无法写入备份 / cannot write %s: %s", snap,
                     strerror(errno));
        goto out;
    }
    if (copy_photos(snap, o->archive, tmp, prev[0] ? prev : NULL, photos, res, err) != 0 ||
        write_manifest(tmp, db_sha, db_size, photos, res, err) != 0)
        goto out;
    /* Durable, then visible under its name in one rename. */
    bm_pathf(path, sizeof path, "%s/photos", tmp);
    if ((access(path, F_OK) == 0 && bm_file_fsync_dir(path) != 0) || bm_file_fsync_dir(tmp) != 0 ||
        rename(tmp, final) != 0 || bm_file_fsync_dir(o->dir) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "dir", "无法完成备份 / cannot finish the backup in %s: %s",
                     o->dir, strerror(errno));
        goto out;
    }
    made_tmp = false;
    bm_strlcpy(res->path, final, sizeof res->path);
    retain(o->dir, o->keep, res);
    rc = 0;
out:
    if (made_tmp)
        bm_file_rmtree(tmp);
    names_free(&backups);
    names_free(&partial);
    cJSON_Delete(photos);
    if (lock >= 0)
        close(lock);
    return rc;
}
