/* restore.c - see backup.h: verifying a backup completely, then putting it
 * in place (photos first, then the database), each file durably. */
#include "backup.h"
#include "archive.h"
#include "fileops.h"
#include "util.h"
#include "version.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Reads the whole manifest (bounded) and parses it; caller frees. */
static cJSON *read_manifest(const char *backup, bm_error_t *err)
{
    char path[4096];
    bm_pathf(path, sizeof path, "%s/%s", backup, BM_BACKUP_MANIFEST);
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    cJSON *m = NULL;
    if (!f) {
        bm_error_set(err, BM_ERR_NOT_FOUND, "backup",
                     "这不是完整的备份 / %s has no manifest.json (not a backup, or an unfinished one): %s",
                     backup, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > BM_BACKUP_MAX_MANIFEST ||
        !(text = malloc((size_t)st.st_size + 1)) ||
        fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        bm_error_set(err, BM_ERR_INVALID, "backup", "无法读取清单 / cannot read %s", path);
        goto out;
    }
    text[st.st_size] = '\0';
    m = cJSON_Parse(text);
    const cJSON *fmt = cJSON_GetObjectItem(m, "format");
    if (!m || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, BM_BACKUP_FORMAT) != 0) {
        bm_error_set(err, BM_ERR_INVALID, "backup", "清单格式不对 / %s is not a %s manifest", path,
                     BM_BACKUP_FORMAT);
        cJSON_Delete(m);
        m = NULL;
    }
out:
    free(text);
    fclose(f);
    return m;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

/* A manifest path must stay inside the backup: "photos/ab/<sha>.<ext>". */
static bool photo_path_ok(const char *path, const char *sha)
{
    char want[3][200];
    static const char *const exts[] = {"jpg", "png", "webp"};
    for (int i = 0; i < 3; i++) {
        char rel[160];
        bm_archive_relpath(sha, exts[i], rel, sizeof rel);
        snprintf(want[i], sizeof want[i], "photos/%s", rel);
        if (strcmp(path, want[i]) == 0)
            return true;
    }
    return false;
}

/* Checks the database copy: checksum, integrity, schema, counts, and that
 * every photo it refers to is in the manifest. */
static int check_db(const char *backup, const cJSON *m, const cJSON *photos,
                    bm_backup_result_t *res, bm_error_t *err)
{
    const cJSON *dbm = cJSON_GetObjectItem(m, "database");
    const char *want = str_of(dbm, "sha256");
    char path[4096], hex[65];
    int64_t size = 0;
    bm_pathf(path, sizeof path, "%s/%s", backup, BM_BACKUP_DB);
    if (!want || bm_file_sha256(path, hex, &size) != 0 || strcmp(hex, want) != 0 ||
        size != num_of(dbm, "size")) {
        bm_error_set(err, BM_ERR_INVALID, "backup",
                     "数据库副本与清单不符 / %s is missing or does not match its checksum in the "
                     "manifest: this backup is damaged, use another",
                     path);
        return -1;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = -1;
    /* immutable: reading leaves no -wal/-shm behind in the backup folder. */
    char *uri = sqlite3_mprintf("file:%s?immutable=1", path);
    if (!uri || strpbrk(path, "?#%") ||
        sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        bm_error_set(err, BM_ERR_INVALID, "backup", "无法打开数据库副本 / cannot open %s", path);
        goto out;
    }
    bool intact = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
                  sqlite3_step(s) == SQLITE_ROW &&
                  strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    sqlite3_finalize(s);
    s = NULL;
    if (!intact) {
        bm_error_set(err, BM_ERR_INVALID, "backup",
                     "数据库副本未通过完整性检查 / %s fails PRAGMA integrity_check", path);
        goto out;
    }
    struct {
        const char *sql;
        int64_t *out;
    } q[] = {
        {"SELECT count(*) FROM requests", &res->requests},
        {"SELECT count(*) FROM events", &res->events},
        {"SELECT count(*) FROM deliveries", &res->deliveries},
        {"SELECT coalesce(max(id), 0) FROM requests", &res->max_ticket},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        *q[i].out = -1;
        if (sqlite3_prepare_v2(db, q[i].sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            *q[i].out = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        s = NULL;
    }
    int64_t version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    res->schema_version = (int)version;
    const cJSON *counts = cJSON_GetObjectItem(m, "counts");
    if (res->requests != num_of(counts, "requests") || res->events != num_of(counts, "events") ||
        res->deliveries != num_of(counts, "deliveries") || version != num_of(m, "schema_version")) {
        bm_error_set(err, BM_ERR_INVALID, "backup",
                     "数据库副本与清单的计数不符 / the database in %s does not hold what its manifest says",
                     backup);
        goto out;
    }
    if (version > bm_schema_version()) {
        bm_error_set(err, BM_ERR_INVALID, "backup",
                     "备份来自更新的版本 / the backup has schema %lld; this bianmin %s reads up to %d: "
                     "restore with the newer bianmin",
                     (long long)version, bm_version(), bm_schema_version());
        goto out;
    }
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT sha256, mime FROM attachments", -1, &s, NULL) != SQLITE_OK) {
        bm_error_set(err, BM_ERR_INVALID, "backup", "无法读取照片列表 / cannot list the photos in %s", path);
        goto out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(s, 0);
        char rel[160], want_path[200];
        bm_archive_relpath(sha ? sha : "", bm_archive_ext((const char *)sqlite3_column_text(s, 1)), rel,
                           sizeof rel);
        snprintf(want_path, sizeof want_path, "photos/%s", rel);
        bool found = false;
        const cJSON *p;
        cJSON_ArrayForEach(p, photos) {
            const char *pp = str_of(p, "path");
            if (pp && strcmp(pp, want_path) == 0) {
                found = true;
                break;
            }
        }
        if (!found) {
            bm_error_set(err, BM_ERR_INVALID, "backup",
                         "备份缺少照片 / the database refers to %s, which the backup does not hold",
                         want_path);
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    sqlite3_free(uri);
    return rc;
}

/* Every photo in the manifest: a safe path, and bytes matching its name. */
static int check_photos(const char *backup, const cJSON *photos, bm_backup_result_t *res,
                        bm_error_t *err)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, photos) {
        const char *path = str_of(p, "path"), *sha = str_of(p, "sha256");
        char full[4096], hex[65];
        int64_t size = 0;
        if (!path || !sha || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 ||
            !photo_path_ok(path, sha)) {
            bm_error_set(err, BM_ERR_INVALID, "backup", "清单中有无效的照片条目 / a photo entry in the "
                                                        "manifest is malformed");
            return -1;
        }
        bm_pathf(full, sizeof full, "%s/%s", backup, path);
        if (bm_file_sha256(full, hex, &size) != 0 || strcmp(hex, sha) != 0 ||
            size != num_of(p, "size")) {
            bm_error_set(err, BM_ERR_INVALID, "backup",
                         "照片缺失或已损坏 / the photo %s is missing or does not match its checksum: "
                         "this backup is damaged, use another",
                         full);
            return -1;
        }
        res->photos++;
    }
    return 0;
}

/* Puts one photo into the archive unless an intact copy is there already. */
static int place_photo(const char *backup, const char *archive, const cJSON *p,
                       bm_backup_result_t *res, bm_error_t *err)
{
    const char *path = str_of(p, "path"), *sha = str_of(p, "sha256");
    const char *rel = path + strlen("photos/");
    char from[4096], to[4096], sub[4096], tmp[4200], hex[65];
    bm_pathf(from, sizeof from, "%s/%s", backup, path);
    bm_pathf(to, sizeof to, "%s/%s", archive, rel);
    bm_pathf(sub, sizeof sub, "%s/%.2s", archive, sha);
    if (bm_file_sha256(to, hex, NULL) == 0 && strcmp(hex, sha) == 0)
        return 0;
    bm_pathf(tmp, sizeof tmp, "%s.restore%ld", to, (long)getpid());
    unlink(tmp);
    if (bm_file_mkdirs(sub, 0700) != 0 || bm_file_copy(from, tmp, 0600, hex, NULL) != 0 ||
        strcmp(hex, sha) != 0 || rename(tmp, to) != 0 || bm_file_fsync_dir(sub) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "archive", "无法写入照片 / cannot write %s: %s", to,
                     strerror(errno));
        unlink(tmp);
        return -1;
    }
    res->photos_copied++;
    return 0;
}

/* The folder part of path ("." if none). */
static void parent_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        bm_strlcpy(buf, ".", len);
    else if (slash == path)
        bm_strlcpy(buf, "/", len);
    else
        snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* With --force: the database being replaced (and its -wal/-shm, which would
 * otherwise be applied to the restored file) are renamed, not deleted. */
static int move_aside(const char *db, bm_backup_result_t *res, bm_error_t *err)
{
    char stamp[32], from[4200], to[4300];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        bm_pathf(from, sizeof from, "%s%s", db, sfx[i]);
        bm_pathf(to, sizeof to, "%s.before-restore-%s%s", db, stamp, sfx[i]);
        if (access(from, F_OK) != 0)
            continue;
        if (rename(from, to) != 0) {
            bm_error_set(err, BM_ERR_STORAGE, "db", "无法移开旧数据库 / cannot move %s aside: %s", from,
                         strerror(errno));
            return -1;
        }
        if (i == 0)
            bm_strlcpy(res->moved_aside, to, sizeof res->moved_aside);
    }
    return 0;
}

int bm_restore_run(const bm_restore_opts_t *o, bm_backup_result_t *res, bm_error_t *err)
{
    memset(res, 0, sizeof *res);
    bm_strlcpy(res->path, o->backup, sizeof res->path);
    int rc = -1;
    char tmp[4200] = "", dir[4096];
    cJSON *m = read_manifest(o->backup, err);
    if (!m)
        return -1;
    const cJSON *photos = cJSON_GetObjectItem(m, "photos");
    if (!cJSON_IsArray(photos)) {
        bm_error_set(err, BM_ERR_INVALID, "backup", "清单缺少照片列表 / the manifest has no photo list");
        goto out;
    }
    bm_strlcpy(res->created_at, str_of(m, "created_at") ? str_of(m, "created_at") : "?",
               sizeof res->created_at);
    /* 1. Everything is checked before anything is touched. */
    if (check_db(o->backup, m, photos, res, err) != 0 || check_photos(o->backup, photos, res, err) != 0)
        goto out;
    if (o->check_only) {
        rc = 0;
        goto out;
    }
    pid_t holder = bm_file_sqlite_holder(o->db);
    if (holder != 0) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "db",
                     "数据库正在使用 / %s is open in process %ld (a running broker?): stop it first "
                     "(systemctl stop bianmin-broker)",
                     o->db, (long)holder);
        goto out;
    }
    if (access(o->db, F_OK) == 0 && !o->force) {
        bm_error_set(err, BM_ERR_FORBIDDEN, "db",
                     "已有数据库 / %s exists; add --force to replace it (it is kept, renamed "
                     "*.before-restore-TIME)",
                     o->db);
        goto out;
    }
    /* 2. Photos first: a database never refers to a photo not yet there. */
    parent_of(o->db, dir, sizeof dir);
    if (bm_file_mkdirs(dir, 0700) != 0 || bm_file_mkdirs(o->archive, 0700) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "无法创建目录 / cannot create %s or %s: %s", dir,
                     o->archive, strerror(errno));
        goto out;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, photos) {
        if (place_photo(o->backup, o->archive, p, res, err) != 0)
            goto out;
    }
    /* 3. The database: a verified copy beside the target, then one rename. */
    char from[4096], hex[65];
    bm_pathf(from, sizeof from, "%s/%s", o->backup, BM_BACKUP_DB);
    bm_pathf(tmp, sizeof tmp, "%s.restoring", o->db);
    unlink(tmp);
    if (bm_file_copy(from, tmp, 0600, hex, NULL) != 0 ||
        strcmp(hex, str_of(cJSON_GetObjectItem(m, "database"), "sha256")) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "无法写入数据库 / cannot write %s: %s", tmp,
                     strerror(errno));
        goto out;
    }
    if (bm_file_sqlite_holder(o->db) != 0) { /* started meanwhile? */
        bm_error_set(err, BM_ERR_FORBIDDEN, "db", "数据库正在使用 / %s was opened meanwhile; nothing "
                                                  "was replaced",
                     o->db);
        goto out;
    }
    if (move_aside(o->db, res, err) != 0)
        goto out;
    if (rename(tmp, o->db) != 0 || bm_file_fsync_dir(dir) != 0) {
        bm_error_set(err, BM_ERR_STORAGE, "db", "无法放置数据库 / cannot put %s in place: %s", o->db,
                     strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    rc = 0;
out:
    if (tmp[0])
        unlink(tmp);
    cJSON_Delete(m);
    return rc;
}
