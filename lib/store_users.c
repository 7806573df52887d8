/* store_users.c - see store_users.h. Users change rarely: statements are
 * prepared per call, like the key registry's. */
#include "store_users.h"
#include "jsonx.h"
#include "store_int.h"
#include "store_keys.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static void storage_failed(bm_error_t *err)
{
    if (!err->code)
        bm_error_set(err, BM_ERR_STORAGE, NULL,
                     "数据库写入失败，什么也没有记下 / the database refused the write; nothing was recorded");
}

int store_user_get(store_t *self, const char *login, store_user_t *out)
{
    sqlite3_stmt *s = st_prepare(self, "SELECT login, name, role, hash, disabled, failed, locked_until "
                                 "FROM users WHERE login = ?1");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, login, -1, SQLITE_TRANSIENT);
    int rc, step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        bm_strlcpy(out->login, st_col_str(s, 0), sizeof out->login);
        bm_strlcpy(out->name, st_col_str(s, 1), sizeof out->name);
        bm_strlcpy(out->role, st_col_str(s, 2), sizeof out->role);
        bm_strlcpy(out->hash, st_col_str(s, 3), sizeof out->hash);
        out->disabled = sqlite3_column_int(s, 4) != 0;
        out->failed = sqlite3_column_int(s, 5);
        out->locked_until = sqlite3_column_int64(s, 6);
        rc = 0;
    } else {
        rc = step == SQLITE_DONE ? 1 : -1;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Runs one UPDATE/INSERT already bound; returns the rows it changed or -1. */
static int step_changes(store_t *self, sqlite3_stmt *s)
{
    if (!s)
        return -1;
    int rc = sqlite3_step(s) == SQLITE_DONE ? sqlite3_changes(store_sqlite(self)) : -1;
    sqlite3_finalize(s);
    return rc;
}

static int audit(store_t *self, const char *actor, const char *action, const char *login,
                 int64_t now)
{
    char subject[BM_MAX_LOGIN + 8];
    snprintf(subject, sizeof subject, "user:%s", login);
    return store_audit(self, actor, action, subject, NULL, now);
}

int store_user_add(store_t *self, const store_user_t *u, const char *actor, int64_t now,
                   bm_error_t *err)
{
    store_user_t old;
    int found = store_user_get(self, u->login, &old);
    if (found == 0) {
        bm_error_set(err, BM_ERR_INVALID, "user", "已有这个登录名 / that login name is taken");
        return -1;
    }
    if (found < 0 || store_op_begin(self, err) != 0) {
        storage_failed(err);
        return -1;
    }
    sqlite3_stmt *s = st_prepare(self, "INSERT INTO users (login, name, role, hash, created_at, updated_at) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
    if (s) {
        sqlite3_bind_text(s, 1, u->login, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, u->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, u->role, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, u->hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 5, now);
    }
    bool ok = step_changes(self, s) == 1 && audit(self, actor, "user_added", u->login, now) == 0;
    return store_op_end(self, ok, err);
}

/* An UPDATE of one user's row plus its audit line; not_found if no row. */
static int update_one(store_t *self, sqlite3_stmt *s, const char *login, const char *actor,
                      const char *action, int64_t now, bm_error_t *err)
{
    if (store_op_begin(self, err) != 0) {
        sqlite3_finalize(s);
        return -1;
    }
    int n = step_changes(self, s);
    if (n == 0) {
        store_op_end(self, true, err);
        bm_error_set(err, BM_ERR_NOT_FOUND, "user", "没有这个用户 / no such user");
        return -1;
    }
    bool ok = n == 1 && (!action || audit(self, actor, action, login, now) == 0);
    return store_op_end(self, ok, err);
}

int store_user_set_hash(store_t *self, const char *login, const char *hash, const char *actor,
                        int64_t now, bm_error_t *err)
{
    sqlite3_stmt *s = st_prepare(self, "UPDATE users SET hash = ?2, failed = 0, locked_until = 0, "
                                 "updated_at = ?3 WHERE login = ?1");
    if (s) {
        sqlite3_bind_text(s, 1, login, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, now);
    }
    return update_one(self, s, login, actor, "user_password_set", now, err);
}

int store_user_set_disabled(store_t *self, const char *login, bool disabled, const char *actor,
                            int64_t now, bm_error_t *err)
{
    sqlite3_stmt *s = st_prepare(self, "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE login = ?1");
    if (s) {
        sqlite3_bind_text(s, 1, login, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 2, disabled ? 1 : 0);
        sqlite3_bind_int64(s, 3, now);
    }
    return update_one(self, s, login, actor, disabled ? "user_disabled" : "user_enabled", now, err);
}

int store_user_login_result(store_t *self, const char *login, bool ok, int failed,
                            int64_t locked_until, int64_t now, bm_error_t *err)
{
    sqlite3_stmt *s =
        ok ? st_prepare(self, "UPDATE users SET failed = 0, locked_until = 0, last_login_at = ?2 "
                        "WHERE login = ?1")
           : st_prepare(self, "UPDATE users SET failed = ?3, locked_until = ?4 WHERE login = ?1");
    if (s) {
        sqlite3_bind_text(s, 1, login, -1, SQLITE_TRANSIENT);
        if (ok) {
            sqlite3_bind_int64(s, 2, now);
        } else {
            sqlite3_bind_int(s, 3, failed);
            sqlite3_bind_int64(s, 4, locked_until);
        }
    }
    return update_one(self, s, login, NULL, NULL, now, err);
}

cJSON *store_users_list(store_t *self)
{
    sqlite3_stmt *s = st_prepare(self, "SELECT login, name, role, disabled, failed, last_login_at, "
                                 "created_at FROM users ORDER BY login");
    if (!s)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "user", st_col_str(s, 0));
        cJSON_AddStringToObject(o, "name", st_col_str(s, 1));
        cJSON_AddStringToObject(o, "role", st_col_str(s, 2));
        cJSON_AddBoolToObject(o, "disabled", sqlite3_column_int(s, 3) != 0);
        cJSON_AddNumberToObject(o, "failed", sqlite3_column_int(s, 4));
        bm_json_add_time(o, "last_login_at", sqlite3_column_int64(s, 5));
        bm_json_add_time(o, "created_at", sqlite3_column_int64(s, 6));
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}
