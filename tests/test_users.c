/* test_users.c - the broker's gateway users through the real protocol:
 * user_add / user_passwd / user_disable / users and login (argon2id), the
 * same bad_login for an unknown user and a wrong password, the lockout after
 * repeated failures, and a failed commit that records no user. */
#include "testutil.h"
#include "users.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

typedef tu_fixture_t fx_t;

static int setup(void **state)
{
    return tu_fixture_setup(state, NULL);
}

static int teardown(void **state)
{
    return tu_fixture_teardown(state);
}

/* Sends cmd with body; returns the reply with its command in *cmd. */
static cJSON *call(fx_t *fx, const char *cmd, const char *body, char *out)
{
    cJSON *r = tu_call(fx->client, cmd, body, out, 16);
    assert_non_null(r);
    return r;
}

static void expect(fx_t *fx, const char *cmd, const char *body, const char *code, const char *field)
{
    char c[16];
    cJSON *r = call(fx, cmd, body, c);
    if (!code) {
        assert_string_equal(c, BM_REPLY_OK);
    } else {
        assert_string_equal(c, BM_REPLY_ERROR);
        assert_string_equal(tu_str(r, "code"), code);
        if (field)
            assert_string_equal(tu_str(r, "field"), field);
    }
    cJSON_Delete(r);
}

static char *login_message(fx_t *fx, const char *body, char *buf, size_t len)
{
    char c[16];
    cJSON *r = call(fx, BM_CMD_LOGIN, body, c);
    assert_string_equal(c, BM_REPLY_ERROR);
    assert_string_equal(tu_str(r, "code"), BM_ERR_BAD_LOGIN);
    strncpy(buf, tu_str(r, "message"), len - 1);
    buf[len - 1] = '\0';
    cJSON_Delete(r);
    return buf;
}

static void test_add_and_login(void **state)
{
    fx_t *fx = *state;
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"wang\",\"role\":\"office\",\"name\":\"王主任\",\"password\":\"pass-1234\"}",
           NULL, NULL);
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"wang\",\"role\":\"office\",\"password\":\"pass-1234\"}",
           BM_ERR_INVALID, "user");
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"x\",\"role\":\"channel:nowhere\",\"password\":\"pass-1234\"}",
           BM_ERR_INVALID, "role");
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"x\",\"role\":\"volunteer:v1\",\"password\":\"pass-1234\"}",
           BM_ERR_INVALID, "role");
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"x\",\"role\":\"office\",\"password\":\"short\"}",
           BM_ERR_INVALID, "password");
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"a b\",\"role\":\"office\",\"password\":\"pass-1234\"}",
           BM_ERR_INVALID, "user");
    expect(fx, BM_CMD_USER_ADD,
           "{\"user\":\"ld3\",\"role\":\"channel:building_leader\",\"password\":\"leader-1234\"}", NULL, NULL);
    const char *db = tu_db_path(fx->broker);
    assert_int_equal(tu_sql_int(db, "SELECT count(*) FROM users"), 2);
    assert_int_equal(tu_sql_int(db, "SELECT count(*) FROM users WHERE hash LIKE '$argon2id$%'"), 2);
    assert_int_equal(tu_sql_int(db, "SELECT count(*) FROM users WHERE hash LIKE '%pass-1234%'"), 0);
    assert_int_equal(tu_sql_int(db, "SELECT count(*) FROM audit WHERE action = 'user_added'"), 2);
    char c[16];
    cJSON *r = call(fx, BM_CMD_LOGIN, "{\"user\":\"ld3\",\"password\":\"leader-1234\"}", c);
    assert_string_equal(c, BM_REPLY_OK);
    assert_string_equal(tu_str(r, "role"), "channel:building_leader");
    cJSON_Delete(r);
    char wrong[256], unknown[256];
    login_message(fx, "{\"user\":\"wang\",\"password\":\"nope-nope\"}", wrong, sizeof wrong);
    login_message(fx, "{\"user\":\"nobody\",\"password\":\"nope-nope\"}", unknown, sizeof unknown);
    assert_string_equal(wrong, unknown);
    r = call(fx, BM_CMD_USERS, "{}", c);
    assert_string_equal(c, BM_REPLY_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "users")), 2);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "users"), 0), "hash"));
    cJSON_Delete(r);
}

static void test_lockout_passwd_disable(void **state)
{
    fx_t *fx = *state;
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"wang\",\"role\":\"office\",\"password\":\"pass-1234\"}", NULL, NULL);
    char msg[256];
    for (int i = 0; i < BM_DEFAULT_LOGIN_FREE_FAILS + 1; i++)
        login_message(fx, "{\"user\":\"wang\",\"password\":\"wrong-pass\"}", msg, sizeof msg);
    /* locked: even the right password is refused, with how long to wait */
    char c[16];
    cJSON *r = call(fx, BM_CMD_LOGIN, "{\"user\":\"wang\",\"password\":\"pass-1234\"}", c);
    assert_string_equal(c, BM_REPLY_ERROR);
    assert_string_equal(tu_str(r, "code"), BM_ERR_BAD_LOGIN);
    assert_string_equal(tu_str(r, "field"), "retry_after");
    cJSON_Delete(r);
    const char *db = tu_db_path(fx->broker);
    assert_int_equal(tu_sql_int(db, "SELECT failed FROM users"), BM_DEFAULT_LOGIN_FREE_FAILS + 1);
    expect(fx, BM_CMD_USER_PASSWD, "{\"user\":\"wang\",\"password\":\"other-5678\"}", NULL, NULL);
    assert_int_equal(tu_sql_int(db, "SELECT failed + locked_until FROM users"), 0);
    expect(fx, BM_CMD_LOGIN, "{\"user\":\"wang\",\"password\":\"other-5678\"}", NULL, NULL);
    expect(fx, BM_CMD_USER_PASSWD, "{\"user\":\"ghost\",\"password\":\"other-5678\"}", BM_ERR_NOT_FOUND, "user");
    expect(fx, BM_CMD_USER_DISABLE, "{\"user\":\"wang\"}", NULL, NULL);
    expect(fx, BM_CMD_LOGIN, "{\"user\":\"wang\",\"password\":\"other-5678\"}", BM_ERR_BAD_LOGIN, NULL);
    cJSON *chk = call(fx, BM_CMD_USER_CHECK, "{\"user\":\"wang\"}", c);
    assert_string_equal(c, BM_REPLY_OK);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(chk, "disabled")));
    assert_null(cJSON_GetObjectItem(chk, "hash"));
    cJSON_Delete(chk);
    expect(fx, BM_CMD_USER_CHECK, "{\"user\":\"ghost\"}", BM_ERR_NOT_FOUND, "user");
    expect(fx, BM_CMD_USER_DISABLE, "{\"user\":\"wang\",\"enable\":true}", NULL, NULL);
    expect(fx, BM_CMD_LOGIN, "{\"user\":\"wang\",\"password\":\"other-5678\"}", NULL, NULL);
    expect(fx, BM_CMD_USER_DISABLE, "{\"user\":\"wang\",\"enable\":\"yes\"}", BM_ERR_INVALID, "enable");
    expect(fx, BM_CMD_LOGIN, "{\"user\":\"wang\"}", BM_ERR_INVALID, "password");
}

static void test_failed_commit_adds_nobody(void **state)
{
    fx_t *fx = *state;
    tu_broker_fail_commits(fx->broker, 1);
    expect(fx, BM_CMD_USER_ADD, "{\"user\":\"wang\",\"role\":\"office\",\"password\":\"pass-1234\"}",
           BM_ERR_STORAGE, NULL);
    assert_int_equal(tu_sql_int(tu_db_path(fx->broker), "SELECT count(*) FROM users"), 0);
    expect(fx, BM_CMD_LOGIN, "{\"user\":\"wang\",\"password\":\"pass-1234\"}", BM_ERR_BAD_LOGIN, NULL);
}

static void test_lock_seconds(void **state)
{
    (void)state;
    assert_int_equal(users_lock_seconds(0), 0);
    assert_int_equal(users_lock_seconds(BM_DEFAULT_LOGIN_FREE_FAILS), 0);
    assert_int_equal(users_lock_seconds(BM_DEFAULT_LOGIN_FREE_FAILS + 1), 2);
    assert_int_equal(users_lock_seconds(BM_DEFAULT_LOGIN_FREE_FAILS + 3), 8);
    assert_int_equal(users_lock_seconds(1000), BM_DEFAULT_LOGIN_LOCK_MAX_S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_and_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_passwd_disable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_adds_nobody, setup, teardown),
        cmocka_unit_test(test_lock_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
