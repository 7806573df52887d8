/* store_keys.c - see store_keys.h. Keys change rarely: statements are
 * prepared per call rather than kept. */
#include "store_keys.h"
#include "jsonx.h"
#include "store_int.h"
#include "util.h"

#include <sqlite3.h>
#include <string.h>

int store_keys_load(store_t *self, int (*fn)(const store_key_t *key, void *arg), void *arg)
{
    sqlite3_stmt *s = st_prepare(self, "SELECT public_key, role, name, skills, max_jobs, acts_for, created_at "
                                 "FROM keys WHERE revoked_at IS NULL");
    if (!s)
        return -1;
    int rc = 0, step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        store_key_t k = {0};
        bm_strlcpy(k.public_key, st_col_str(s, 0), sizeof k.public_key);
        bm_strlcpy(k.role, st_col_str(s, 1), sizeof k.role);
        bm_strlcpy(k.name, st_col_str(s, 2), sizeof k.name);
        bm_strlcpy(k.skills, st_col_str(s, 3), sizeof k.skills);
        k.max_jobs = sqlite3_column_int(s, 4);
        bm_strlcpy(k.acts_for, st_col_str(s, 5), sizeof k.acts_for);
        k.created_at = sqlite3_column_int64(s, 6);
        if (fn(&k, arg) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = -1;
    sqlite3_finalize(s);
    return rc;
}

int store_audit(store_t *self, const char *actor, const char *action, const char *subject,
                const char *detail, int64_t now)
{
    sqlite3_stmt *s = st_prepare(self, "INSERT INTO audit (at, actor, action, subject, detail) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_text(s, 2, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, subject, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, detail ? detail : "{}", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

int store_key_add(store_t *self, const store_key_t *key, const char *actor, int64_t now,
                  bm_error_t *err)
{
    sqlite3_stmt *q = st_prepare(self, "SELECT revoked_at IS NOT NULL FROM keys WHERE public_key = ?1");
    if (!q) {
        bm_error_set(err, BM_ERR_STORAGE, NULL, "数据库读取失败 / the database could not be read");
        return -1;
    }
    sqlite3_bind_text(q, 1, key->public_key, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(q);
    bool revoked = step == SQLITE_ROW && sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (step == SQLITE_ROW) {
        bm_error_set(err, BM_ERR_INVALID, "public",
                     revoked ? "这把钥匙已被吊销，不能再登记 / this key was revoked and cannot be registered again"
                             : "这把钥匙已经登记过 / this key is registered already");
        return -1;
    }
    if (store_op_begin(self, err) != 0)
        return -1;
    bool ok = false;
    sqlite3_stmt *s = st_prepare(self, "INSERT INTO keys (public_key, role, name, skills, max_jobs, acts_for, "
                                 "created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (s) {
        sqlite3_bind_text(s, 1, key->public_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, key->role, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, key->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, key->skills, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 5, key->max_jobs > 0 ? key->max_jobs : 1);
        sqlite3_bind_text(s, 6, key->acts_for, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 7, now);
        sqlite3_bind_text(s, 8, actor, -1, SQLITE_TRANSIENT);
        ok = sqlite3_step(s) == SQLITE_DONE;
        sqlite3_finalize(s);
    }
    if (ok) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", key->role);
        cJSON_AddStringToObject(d, "name", key->name);
        if (key->skills[0])
            cJSON_AddStringToObject(d, "skills", key->skills);
        if (key->acts_for[0])
            cJSON_AddStringToObject(d, "acts_for", key->acts_for);
        char *text = cJSON_PrintUnformatted(d);
        cJSON_Delete(d);
        ok = text && store_audit(self, actor, "key_registered", key->public_key, text, now) == 0;
        cJSON_free(text);
    }
    return store_op_end(self, ok, err);
}

int store_key_revoke(store_t *self, const char *public_key, const char *actor, int64_t now,
                     bm_error_t *err)
{
    if (store_op_begin(self, err) != 0)
        return -1;
    bool ok = false;
    sqlite3_stmt *s = st_prepare(self, "UPDATE keys SET revoked_at = ?2, revoked_by = ?3 "
                                 "WHERE public_key = ?1 AND revoked_at IS NULL");
    if (s) {
        sqlite3_bind_text(s, 1, public_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_text(s, 3, actor, -1, SQLITE_TRANSIENT);
        ok = sqlite3_step(s) == SQLITE_DONE;
        if (ok && sqlite3_changes(store_sqlite(self)) == 0) {
            ok = false;
            bm_error_set(err, BM_ERR_NOT_FOUND, "public",
                         "没有这把有效的钥匙 / no such key, or it was revoked already");
        }
        sqlite3_finalize(s);
    }
    ok = ok && store_audit(self, actor, "key_revoked", public_key, NULL, now) == 0;
    return store_op_end(self, ok, err);
}

cJSON *store_keys_list(store_t *self, bool all)
{
    sqlite3_stmt *s = st_prepare(self, all ? "SELECT public_key, role, name, skills, max_jobs, acts_for, created_at, "
                                       "created_by, revoked_at FROM keys ORDER BY created_at DESC, rowid DESC"
                                     : "SELECT public_key, role, name, skills, max_jobs, acts_for, created_at, "
                                       "created_by, revoked_at FROM keys WHERE revoked_at IS NULL "
                                       "ORDER BY created_at DESC, rowid DESC");
    if (!s)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "public", st_col_str(s, 0));
        cJSON_AddStringToObject(k, "role", st_col_str(s, 1));
        cJSON_AddStringToObject(k, "name", st_col_str(s, 2));
        if (*st_col_str(s, 3))
            cJSON_AddStringToObject(k, "skills", st_col_str(s, 3));
        if (strncmp(st_col_str(s, 1), "volunteer:", 10) == 0)
            cJSON_AddNumberToObject(k, "max_jobs", sqlite3_column_int(s, 4));
        if (*st_col_str(s, 5))
            cJSON_AddStringToObject(k, "acts_for", st_col_str(s, 5));
        bm_json_add_time(k, "created_at", sqlite3_column_int64(s, 6));
        cJSON_AddStringToObject(k, "created_by", st_col_str(s, 7));
        if (sqlite3_column_type(s, 8) == SQLITE_NULL)
            cJSON_AddNullToObject(k, "revoked_at");
        else
            bm_json_add_time(k, "revoked_at", sqlite3_column_int64(s, 8));
        cJSON_AddItemToArray(arr, k);
    }
    sqlite3_finalize(s);
    return arr;
}
