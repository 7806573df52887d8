/* test_auth.c - authentication and roles through the real bianmin-broker
 * program: CURVE keys, the ZAP handler that fails closed, the permission
 * table (every command x every role, against a table written here by hand),
 * personal data by role, revocation, takeover, the notifier's leases, files
 * owner-only, and the limits. */
#include "auth.h"
#include "exitcodes.h"
#include "proto.h"
#include "testutil.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

enum { OFF, CHA, CHB, V1, V2, NOT, GWA, UNREG, NONE, NROLES };
static const char *role_names[NROLES] = {"office",     "channel A", "channel B", "volunteer 1", "volunteer 2",
                                         "notifier",   "gateway as A", "unregistered", "no CURVE"};

typedef struct {
    char dir[512];
    int pid;
    bm_key_t keys[NROLES];
    bool has_key[NROLES];
    void *conn[NROLES][2]; /* [role][0 client, 1 worker] */
    void *mon[NROLES][2];
    char client_ep[600], worker_ep[600];
} sys_t;

static sys_t S;

/* ---- helpers --------------------------------------------------------------- */

static void *conn(int role, int sock)
{
    if (!S.conn[role][sock]) {
        S.conn[role][sock] = tu_dealer_key(sock ? S.worker_ep : S.client_ep,
                                           S.has_key[role] ? &S.keys[role] : NULL, &S.mon[role][sock]);
        assert_non_null(S.conn[role][sock]);
    }
    return S.conn[role][sock];
}

/* Calls and returns the reply (caller owns) or NULL; *code is "ok", the
 * error code, or "" without an answer. */
static cJSON *call(int role, int sock, const char *cmd, const char *body, int timeout_ms, char *code,
                   size_t len)
{
    char what[16] = "";
    cJSON *r = tu_call_ms(conn(role, sock), cmd, body, what, sizeof what, timeout_ms);
    if (!r)
        bm_strlcpy(code, "", len);
    else if (strcmp(what, "ok") == 0)
        bm_strlcpy(code, "ok", len);
    else
        bm_strlcpy(code, tu_str(r, "code") ? tu_str(r, "code") : "?", len);
    return r;
}

static cJSON *office(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cJSON *office(const char *cmd, const char *fmt, ...)
{
    char body[4096], code[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    cJSON *r = call(OFF, 0, cmd, body, 5000, code, sizeof code);
    if (strcmp(code, "ok") != 0)
        fail_msg("office %s %s: %s %s", cmd, body, code, r ? tu_str(r, "message") : "");
    return r;
}

/* Registers a new key pair for role through the office. */
static void make_key(bm_key_t *k, const char *role, const char *extra)
{
    memset(k, 0, sizeof *k);
    assert_int_equal(bm_key_generate(k), 0);
    bm_strlcpy(k->role, role, sizeof k->role);
    cJSON *r = office("key_add", "{\"public\": \"%s\", \"role\": \"%s\"%s}", k->public_key, role,
                      extra ? extra : "");
    bm_strlcpy(k->broker_key, tu_str(r, "broker"), sizeof k->broker_key);
    cJSON_Delete(r);
}

static int64_t submit_as(int role, const char *category)
{
    char body[512], code[32];
    /* The office names the channel it records for; a channel's key says its own. */
    snprintf(body, sizeof body,
             "{%s\"category\": \"%s\", \"building\": \"市政小区 3栋\","
             " \"unit\": \"2-301\", \"contact\": \"罗女士 13800000000\", \"text\": \"厨房下水道堵了\"}",
             role == OFF ? "\"channel\": \"building_leader\", " : "", category);
    cJSON *r = call(role, 0, "submit", body, 5000, code, sizeof code);
    if (strcmp(code, "ok") != 0)
        fail_msg("submit as %s: %s", role_names[role], code);
    int64_t t = (int64_t)cJSON_GetObjectItem(r, "ticket")->valuedouble;
    cJSON_Delete(r);
    return t;
}

static void hello(int role)
{
    char code[32];
    cJSON_Delete(call(role, 1, "hello", "{}", 5000, code, sizeof code));
    assert_string_equal(code, "ok");
}

static void claim(int role, int64_t ticket)
{
    char body[64], code[32];
    snprintf(body, sizeof body, "{\"ticket\": %lld}", (long long)ticket);
    cJSON *r = call(role, 1, "claim", body, 5000, code, sizeof code);
    if (strcmp(code, "ok") != 0)
        fail_msg("claim %lld: %s %s", (long long)ticket, code, r ? tu_str(r, "message") : "");
    cJSON_Delete(r);
}

static bool refused(const char *code)
{
    static const char *const no[] = {"", "forbidden", "not_yours", "key_revoked", "hello_required"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (strcmp(code, no[i]) == 0)
            return true;
    }
    return false;
}

static int start_system(const char *extra_json)
{
    memset(&S, 0, sizeof S);
    tu_tmpdir(S.dir, sizeof S.dir);
    snprintf(S.client_ep, sizeof S.client_ep, "ipc://%s/client.sock", S.dir);
    snprintf(S.worker_ep, sizeof S.worker_ep, "ipc://%s/worker.sock", S.dir);
    int status = 0;
    S.pid = tu_spawn_broker(S.dir, extra_json, NULL, &status);
    if (S.pid < 0)
        return -1;
    char path[700];
    snprintf(path, sizeof path, "%s/keys/office.key", S.dir);
    bm_error_t err = {0};
    if (bm_key_load(path, &S.keys[OFF], &err) != 0)
        return -1;
    S.has_key[OFF] = true;
    make_key(&S.keys[CHA], "channel:building_leader", NULL);
    make_key(&S.keys[CHB], "channel:forum", NULL);
    make_key(&S.keys[V1], "volunteer:v01", ", \"name\": \"袁建成\", \"skills\": \"pipe,repair\", \"max_jobs\": 10");
    make_key(&S.keys[V2], "volunteer:v02", ", \"name\": \"张师傅\", \"skills\": \"lock\"");
    make_key(&S.keys[NOT], "notifier", NULL);
    make_key(&S.keys[GWA], "gateway", ", \"acts_for\": \"channel:building_leader\"");
    memset(&S.keys[UNREG], 0, sizeof S.keys[UNREG]);
    bm_key_generate(&S.keys[UNREG]);
    bm_strlcpy(S.keys[UNREG].broker_key, S.keys[OFF].broker_key, sizeof S.keys[UNREG].broker_key);
    for (int r = CHA; r <= UNREG; r++)
        S.has_key[r] = true;
    return 0;
}

static void stop_system(void)
{
    for (int r = 0; r < NROLES; r++) {
        for (int k = 0; k < 2; k++) {
            if (S.conn[r][k])
                tu_close(S.conn[r][k]);
        }
    }
    tu_kill_broker(S.pid);
    tu_rmtree(S.dir);
}

static int setup(void **state)
{
    (void)state;
    return start_system(", \"submit_per_min\": 0, \"submit_per_day\": 0");
}

static int teardown(void **state)
{
    (void)state;
    stop_system();
    return 0;
}

/* ---- the matrix ------------------------------------------------------------- */

/* Who may send what, written out by hand from docs/security.md (not taken
 * from the broker's table). Columns: office, channel A (the request's own),
 * channel B (another channel), volunteer 1 (pipe, holds the job), volunteer
 * 2 (lock, does not), notifier, a gateway acting as channel A, an
 * unregistered key, no CURVE at all. Y: allowed past the permission check
 * (the reply may still say bad_transition or not_found); -: refused. */
static const struct {
    const char *cmd;
    int sock;
    const char *expect;
} matrix[] = {
    {"submit", 0, "YYY---Y--"},    {"get", 0, "YY----Y--"},        {"list", 0, "YYY---Y--"},
    {"cancel", 0, "YY----Y--"},    {"reopen", 0, "YY----Y--"},     {"rate", 0, "YY----Y--"},
    {"escalate", 0, "Y--------"},  {"resolve", 0, "Y--------"},    {"volunteers", 0, "Y--------"},
    {"deliveries", 0, "Y--------"}, {"delivery", 0, "Y--------"},  {"replay", 0, "Y--------"},
    {"endpoints", 0, "Y--------"}, {"endpoint", 0, "Y--------"},   {"keys", 0, "Y--------"},
    {"key_add", 0, "Y--------"},   {"key_revoke", 0, "Y--------"}, {"take", 0, "-----Y---"},
    {"report", 0, "-----Y---"},    {"departments", 0, "YYY---Y--"}, {"photo", 0, "YYY---Y--"},
    {"stats", 0, "Y--------"},     {"users", 0, "Y--------"},      {"user_add", 0, "Y--------"},
    {"user_passwd", 0, "Y--------"}, {"user_disable", 0, "Y--------"}, {"login", 0, "Y--------"},
    {"user_check", 0, "Y--------"}, {"hello", 1, "---YY----"},      {"heartbeat", 1, "---YY----"},
    {"claim", 1, "---Y-----"},     {"done", 1, "---Y-----"},       {"progress", 1, "---Y-----"},
    {"decline", 1, "---YY----"},   {"cantfix", 1, "---Y-----"},    {"escalate", 1, "---Y-----"},
};

/* The body of one cell; may set up what it needs first (a request of
 * channel A, a job held by volunteer 1, a key to revoke). */
static void body_for(const char *cmd, int sock, int role, char *body, size_t len)
{
    static int64_t held;
    if (sock == 1 && (!strcmp(cmd, "done") || !strcmp(cmd, "progress") || !strcmp(cmd, "cantfix") ||
                      !strcmp(cmd, "escalate"))) {
        if (role == NONE) { /* the first of the row (roles run backwards): a fresh job */
            held = submit_as(OFF, "pipe");
            claim(V1, held);
        }
        snprintf(body, len,
                 "{\"ticket\": %lld, \"note\": \"n\", \"reason\": \"r\", \"department\": \"water_company\"}",
                 (long long)held);
        return;
    }
    if (sock == 1) {
        int64_t open = !strcmp(cmd, "claim") || !strcmp(cmd, "decline") ? submit_as(OFF, "pipe") : 0;
        snprintf(body, len, open ? "{\"ticket\": %lld}" : "{}", (long long)open);
        return;
    }
    if (!strcmp(cmd, "submit")) {
        /* No "channel": a channel's key says which; the office records it as "office". */
        snprintf(body, len, "{\"category\": \"pipe\", \"building\": \"3栋\", \"contact\": \"c\", "
                            "\"text\": \"t\"%s}",
                 role == GWA ? ", \"act_as\": \"channel:building_leader\"" : "");
        return;
    }
    const char *as = role == GWA ? ", \"act_as\": \"channel:building_leader\"" : "";
    if (!strcmp(cmd, "key_add")) {
        bm_key_t k;
        bm_key_generate(&k);
        snprintf(body, len, "{\"public\": \"%s\", \"role\": \"channel:council\"%s}", k.public_key, as);
    } else if (!strcmp(cmd, "key_revoke")) {
        bm_key_t k;
        make_key(&k, "channel:council", NULL);
        snprintf(body, len, "{\"public\": \"%s\"%s}", k.public_key, as);
    } else if (!strcmp(cmd, "take")) {
        snprintf(body, len, "{\"max\": 1}");
    } else if (!strcmp(cmd, "report")) {
        snprintf(body, len, "{\"results\": []}");
    } else if (!strcmp(cmd, "delivery") || !strcmp(cmd, "replay") || !strcmp(cmd, "endpoint")) {
        snprintf(body, len, "{\"id\": 999, \"action\": \"disable\"%s}", as);
    } else if (!strcmp(cmd, "photo")) {
        snprintf(body, len, "{\"sha256\": \"%064d\"%s}", 0, as);
    } else if (!strcmp(cmd, "list") || !strcmp(cmd, "departments") || !strcmp(cmd, "volunteers") || !strcmp(cmd, "deliveries") ||
               !strcmp(cmd, "endpoints") || !strcmp(cmd, "keys")) {
        snprintf(body, len, "{%s}", as[0] ? as + 2 : "");
    } else {
        /* get, cancel, reopen, rate, escalate, resolve: a request of channel A */
        int64_t t = submit_as(CHA, "lock");
        snprintf(body, len,
                 "{\"ticket\": %lld, \"reason\": \"r\", \"score\": 5, \"department\": \"water_company\", "
                 "\"answer\": \"a\"%s}",
                 (long long)t, as);
    }
}

static void test_matrix(void **state)
{
    (void)state;
    hello(V1);
    hello(V2);
    /* Without a registered key, or without CURVE, nothing gets through the
     * handshake: the monitor says so, and no command is ever answered. */
    for (int r = UNREG; r <= NONE; r++) {
        for (int k = 0; k < 2; k++) {
            char code[32];
            cJSON_Delete(call(r, k, "probe", "{}", 2000, code, sizeof code));
            assert_string_equal(code, "");
            int ev = 0, val = 0, seen = 0;
            while (bm_monitor_read(S.mon[r][k], &ev, &val) == 1)
                seen |= bm_monitor_refused(ev) ? 1 : ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 2 : 0;
            if (seen != 1)
                fail_msg("%s on the %s socket: handshake %s", role_names[r], k ? "worker" : "client",
                         seen & 2 ? "SUCCEEDED" : "not refused");
        }
    }
    char mismatches[8192] = "";
    size_t used = 0;
    int cells = 0;
    for (size_t m = 0; m < sizeof matrix / sizeof matrix[0]; m++) {
        for (int r = NROLES - 1; r >= 0; r--) {
            char body[1024], code[32];
            body_for(matrix[m].cmd, matrix[m].sock, r, body, sizeof body);
            /* Who cannot pass the handshake is never answered: a short wait is enough. */
            bool blocked = r == UNREG || r == NONE || (matrix[m].sock == 1) != (r == V1 || r == V2);
            cJSON *reply = call(r, matrix[m].sock, matrix[m].cmd, body, blocked ? 150 : 5000, code, sizeof code);
            bool allowed = !refused(code);
            bool want = matrix[m].expect[r] == 'Y';
            cells++;
            if (allowed != want)
                used += (size_t)snprintf(mismatches + used, sizeof mismatches - used,
                                         "\n  %s (%s socket) by %s: %s, expected %s (reply %s: %s)",
                                         matrix[m].cmd, matrix[m].sock ? "worker" : "client", role_names[r],
                                         allowed ? "allowed" : "refused", want ? "allowed" : "refused",
                                         code[0] ? code : "none", reply && tu_str(reply, "message") ? tu_str(reply, "message") : "");
            cJSON_Delete(reply);
            if (used >= sizeof mismatches - 200)
                break;
        }
    }
    assert_int_equal(cells, (int)(sizeof matrix / sizeof matrix[0]) * NROLES);
    if (mismatches[0])
        fail_msg("the permission table is not as documented:%s", mismatches);
}

/* ---- identity from the key ------------------------------------------------------ */

static void test_channel_acts_only_for_itself(void **state)
{
    (void)state;
    char code[32];
    long long before = tu_sql_int(tu_path_db(S.dir), "SELECT count(*) FROM requests");
    cJSON *r = call(CHA, 0, "submit",
                    "{\"channel\": \"forum\", \"category\": \"pipe\", \"building\": \"b\", \"contact\": \"c\", "
                    "\"text\": \"t\"}",
                    5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    assert_string_equal(tu_str(r, "field"), "channel");
    cJSON_Delete(r);
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), "SELECT count(*) FROM requests"), before);
    /* Its own channel's name is fine, and is what the request records. */
    int64_t t = submit_as(CHA, "pipe");
    char q[128];
    snprintf(q, sizeof q, "SELECT channel = 'building_leader' FROM requests WHERE id = %lld", (long long)t);
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), q), 1);
    /* act_as is a gateway's alone, and only for what its key lists. */
    r = call(CHA, 0, "list", "{\"act_as\": \"office\"}", 5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    cJSON_Delete(r);
    r = call(GWA, 0, "volunteers", "{\"act_as\": \"office\"}", 5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    cJSON_Delete(r);
    r = call(GWA, 0, "list", "{}", 5000, code, sizeof code); /* as itself: only logins */
    assert_string_equal(code, "forbidden");
    cJSON_Delete(r);
    r = call(GWA, 0, "login", "{\"user\": \"nobody\", \"password\": \"x\"}", 5000, code, sizeof code);
    assert_string_equal(code, "bad_login");
    cJSON_Delete(r);
    r = call(CHA, 0, "login", "{\"user\": \"nobody\", \"password\": \"x\"}", 5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    cJSON_Delete(r);
}

static void test_personal_data_by_role(void **state)
{
    (void)state;
    /* A volunteer of its own, free to be offered the request. */
    bm_key_t v3;
    make_key(&v3, "volunteer:v03", ", \"name\": \"李师傅\", \"skills\": \"leak\"");
    void *w3 = tu_dealer_key(S.worker_ep, &v3, NULL);
    char what[16];
    cJSON_Delete(tu_call_ms(w3, "hello", "{}", what, sizeof what, 5000));
    assert_string_equal(what, "ok");
    int64_t t = submit_as(CHA, "leak");
    char body[64], code[32];
    snprintf(body, sizeof body, "{\"ticket\": %lld}", (long long)t);
    cJSON *r = call(OFF, 0, "get", body, 5000, code, sizeof code);
    assert_string_equal(code, "ok");
    assert_string_equal(tu_str(cJSON_GetObjectItem(r, "request"), "contact"), "罗女士 13800000000");
    cJSON_Delete(r);
    r = call(CHA, 0, "get", body, 5000, code, sizeof code);
    assert_string_equal(code, "ok");
    assert_string_equal(tu_str(cJSON_GetObjectItem(r, "request"), "unit"), "2-301");
    cJSON_Delete(r);
    r = call(CHB, 0, "get", body, 5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    assert_null(cJSON_GetObjectItem(r, "request"));
    cJSON_Delete(r);
    /* Another channel's list holds none of A's requests. */
    r = call(CHB, 0, "list", "{\"limit\": 200}", 5000, code, sizeof code);
    assert_string_equal(code, "ok");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "requests"))
        assert_string_equal(tu_str(it, "channel"), "forum");
    cJSON_Delete(r);
    /* The offer has neither contact nor unit; the claim gives both. */
    cJSON *offer = NULL;
    for (int i = 0; i < 50 && !offer; i++) {
        cJSON *o = tu_next(w3, "offer", 200);
        if (o && (int64_t)cJSON_GetObjectItem(o, "ticket")->valuedouble == t)
            offer = o;
        else
            cJSON_Delete(o);
    }
    assert_non_null(offer);
    assert_null(cJSON_GetObjectItem(offer, "contact"));
    assert_null(cJSON_GetObjectItem(offer, "unit"));
    cJSON_Delete(offer);
    r = tu_call_ms(w3, "claim", body, what, sizeof what, 5000);
    assert_string_equal(what, "ok");
    assert_string_equal(tu_str(r, "contact"), "罗女士 13800000000");
    assert_string_equal(tu_str(r, "unit"), "2-301");
    cJSON_Delete(r);
    tu_close(w3);
}

static void test_volunteer_takeover_refused(void **state)
{
    (void)state;
    hello(V1);
    char code[32];
    long long rows = tu_sql_int(tu_path_db(S.dir), "SELECT count(*) FROM volunteers");
    cJSON *r = call(V2, 1, "hello", "{\"volunteer\": \"v01\", \"name\": \"冒名\", \"skills\": [\"lock\"]}",
                    5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    assert_string_equal(tu_str(r, "field"), "volunteer");
    cJSON_Delete(r);
    /* More skills than the key was given: refused too. */
    r = call(V2, 1, "hello", "{\"skills\": [\"lock\", \"leak\"]}", 5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    cJSON_Delete(r);
    /* A storm of hellos under other names writes nothing and locks nobody out. */
    for (int i = 0; i < 300; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"volunteer\": \"x%d\", \"name\": \"x\", \"skills\": [\"lock\"]}", i);
        cJSON_Delete(call(V2, 1, "hello", body, 5000, code, sizeof code));
        assert_string_equal(code, "forbidden");
    }
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), "SELECT count(*) FROM volunteers"), rows);
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), "SELECT name = '袁建成' FROM volunteers WHERE id = 'v01'"), 1);
    cJSON_Delete(call(V1, 1, "heartbeat", "{}", 5000, code, sizeof code));
    assert_string_equal(code, "ok");
    hello(V2);
}

static void test_notifier_reports_only_its_leases(void **state)
{
    (void)state;
    bm_key_t other;
    make_key(&other, "notifier", NULL);
    char code[32];
    cJSON_Delete(call(OFF, 0, "submit",
                      "{\"channel\": \"forum\", \"category\": \"pipe\", \"building\": \"b\", \"contact\": \"c\","
                      " \"text\": \"t\", \"callback\": \"http://127.0.0.1:9/hook\"}",
                      5000, code, sizeof code));
    assert_string_equal(code, "ok");
    cJSON *r = call(NOT, 0, "take", "{\"max\": 500}", 5000, code, sizeof code);
    assert_string_equal(code, "ok");
    cJSON *arr = cJSON_GetObjectItem(r, "deliveries");
    assert_true(cJSON_GetArraySize(arr) > 0);
    long long id = (long long)cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuedouble;
    /* The secrets went to the notifier, and to nobody else (take is the notifier's). */
    assert_non_null(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "secrets"));
    cJSON_Delete(r);
    void *sock = tu_dealer_key(S.client_ep, &other, NULL);
    char body[128];
    snprintf(body, sizeof body, "{\"results\": [{\"id\": %lld, \"ok\": true, \"status\": 200}]}", id);
    char what[16];
    r = tu_call_ms(sock, "report", body, what, sizeof what, 5000);
    assert_non_null(r);
    assert_string_equal(what, "ok");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "not_leased")), 1);
    cJSON_Delete(r);
    tu_close(sock);
    char q[128];
    snprintf(q, sizeof q, "SELECT state = 'pending' FROM deliveries WHERE id = %lld", id);
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), q), 1);
    /* The holder's own report counts. */
    r = call(NOT, 0, "report", body, 5000, code, sizeof code);
    assert_string_equal(code, "ok");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "not_leased")), 0);
    cJSON_Delete(r);
    snprintf(q, sizeof q, "SELECT state = 'delivered' FROM deliveries WHERE id = %lld", id);
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), q), 1);
}

static void test_revoke_drops_live_session(void **state)
{
    (void)state;
    hello(V2);
    char code[32];
    cJSON *r = office("key_revoke", "{\"role\": \"volunteer:v02\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "revoked")), 1);
    cJSON_Delete(r);
    /* The live connection gets nothing more done: refused, or dropped. */
    r = call(V2, 1, "heartbeat", "{}", 2000, code, sizeof code);
    assert_true(strcmp(code, "key_revoked") == 0 || strcmp(code, "") == 0);
    cJSON_Delete(r);
    /* A new connection with that key is refused at the handshake. */
    void *mon = NULL;
    void *sock = tu_dealer_key(S.worker_ep, &S.keys[V2], &mon);
    char what[16];
    assert_null(tu_call_ms(sock, "hello", "{}", what, sizeof what, 1500));
    int ev = 0, val = 0;
    bool auth_failed = false;
    while (bm_monitor_read(mon, &ev, &val) == 1)
        auth_failed = auth_failed || ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    assert_true(auth_failed);
    tu_close(sock);
    /* The office sees v02 offline; the audit trail has the revocation. */
    r = office("volunteers", "{}");
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(r, "volunteers")) {
        if (!strcmp(tu_str(v, "id"), "v02"))
            assert_false(cJSON_IsTrue(cJSON_GetObjectItem(v, "online")));
    }
    cJSON_Delete(r);
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), "SELECT count(*) FROM audit WHERE action = 'key_revoked' "
                                                   "AND actor = 'office'") >= 1,
                     1);
    /* A revoked key cannot be registered again. */
    char body[200];
    snprintf(body, sizeof body, "{\"public\": \"%s\", \"role\": \"volunteer:v02\", \"skills\": \"lock\"}",
             S.keys[V2].public_key);
    r = call(OFF, 0, "key_add", body, 5000, code, sizeof code);
    assert_string_equal(code, "invalid");
    cJSON_Delete(r);
    /* The last office key cannot be revoked. */
    r = call(OFF, 0, "key_revoke", "{\"role\": \"office\"}", 5000, code, sizeof code);
    assert_string_equal(code, "forbidden");
    cJSON_Delete(r);
}

static void test_files_owner_only(void **state)
{
    (void)state;
    static const char *const files[] = {"bianmin.db", "bianmin.db-wal", "bianmin.db-shm", "keys/broker.key",
                                        "keys/office.key"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[800];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", S.dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        if (st.st_mode & 077)
            fail_msg("%s is mode %o", files[i], st.st_mode & 0777);
    }
    char path[800];
    struct stat st;
    snprintf(path, sizeof path, "%s/keys", S.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* A key file others can read is refused, like ssh does. */
    snprintf(path, sizeof path, "%s/keys/office.key", S.dir);
    chmod(path, 0644);
    bm_key_t k;
    bm_error_t err = {0};
    assert_int_equal(bm_key_load(path, &k, &err), -1);
    assert_non_null(strstr(err.message, "chmod 600"));
    chmod(path, 0600);
}

/* ---- start-up: fail closed ---------------------------------------------------- */

static void expect_refused_start(const char *extra_json, const char *const *args, const char *why,
                                 int exit_code)
{
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    int status = 0;
    int pid = tu_spawn_broker(dir, extra_json, args, &status);
    if (pid > 0) {
        tu_kill_broker(pid);
        fail_msg("the broker started: %s", why);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), exit_code); /* lib/exitcodes.h */
    tu_rmtree(dir);
}

static void test_fail_closed_start(void **state)
{
    (void)state;
    /* No handler bound: libzmq would let any key in; the self-test sees it. */
    static const char *const unbound[] = {"--fault-zap", "unbound", NULL};
    expect_refused_start("", unbound, "with no ZAP handler", BM_EXIT_INTERNAL);
    /* A handler that never answers. */
    static const char *const silent[] = {"--fault-zap", "silent", NULL};
    expect_refused_start("", silent, "with a silent ZAP handler", BM_EXIT_INTERNAL);
    /* Development mode only on loopback or ipc://. */
    expect_refused_start(", \"auth\": \"none\", \"worker_endpoint\": \"tcp://0.0.0.0:0\"", NULL,
                         "without keys on a network address", BM_EXIT_CONFIG);
}

/* ---- limits --------------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    stop_system();
    assert_int_equal(start_system(", \"submit_per_min\": 5, \"submit_per_day\": 8, \"photos_per_request\": 2,"
                                  " \"peer_queue\": 50"),
                     0);
    char code[32];
    /* Rate: five a minute per key, then rate_limited with when to retry. */
    for (int i = 0; i < 5; i++)
        submit_as(CHA, "pipe");
    cJSON *r = call(CHA, 0, "submit",
                    "{\"category\": \"pipe\", \"building\": \"b\", \"contact\": \"c\", \"text\": \"t\"}", 5000,
                    code, sizeof code);
    assert_string_equal(code, "rate_limited");
    assert_true(cJSON_GetObjectItem(r, "retry_after_ms")->valuedouble > 0);
    cJSON_Delete(r);
    /* Another key is still served. */
    submit_as(CHB, "pipe");
    /* Photos: at most two a request. */
    hello(V1);
    int64_t t = submit_as(OFF, "pipe");
    claim(V1, t);
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1};
    char body[96];
    snprintf(body, sizeof body, "{\"ticket\": %lld, \"note\": \"n\"}", (long long)t);
    bm_frame_t ph[3] = {{jpeg, sizeof jpeg}, {jpeg, sizeof jpeg}, {jpeg, sizeof jpeg}};
    cJSON *b = cJSON_Parse(body);
    assert_int_equal(bm_send_parts(conn(V1, 1), NULL, "progress", "p1", 2, b, ph, 3), 0);
    cJSON_Delete(b);
    bm_msg_t msg;
    bm_error_t err = {0};
    bool got = false;
    for (int i = 0; i < 100 && !got; i++) {
        zmq_pollitem_t it = {conn(V1, 1), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        if (bm_recv(conn(V1, 1), false, true, NULL, &msg, &err) == BM_RECV_OK && !strcmp(msg.cid, "p1")) {
            got = true;
            assert_string_equal(msg.cmd, "error");
            assert_string_equal(tu_str(msg.body, "code"), "too_large");
            assert_string_equal(tu_str(msg.body, "field"), "attachments");
        }
        bm_msg_clear(&msg);
    }
    assert_true(got);
    assert_int_equal(tu_sql_int(tu_path_db(S.dir), "SELECT count(*) FROM attachments"), 0);
    /* A peer that never reads: the broker keeps at most peer_queue replies for
     * it, its memory stays bounded, and the others are still answered. */
    void *greedy = tu_dealer_key(S.client_ep, &S.keys[OFF], NULL);
    int rcvhwm = 1;
    zmq_setsockopt(greedy, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    char status_path[64];
    snprintf(status_path, sizeof status_path, "/proc/%d/status", S.pid);
    for (int i = 0; i < 3000; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "g%d", i);
        const char *fr[4] = {"BM1", "list", cid, "{\"limit\": 200}"};
        for (int k = 0; k < 4; k++)
            zmq_send(greedy, fr[k], strlen(fr[k]), (k < 3 ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    }
    cJSON_Delete(office("volunteers", "{}")); /* still answered */
    FILE *f = fopen(status_path, "r");
    long rss_kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6))
            rss_kb = strtol(line + 6, NULL, 10);
    }
    if (f)
        fclose(f);
    print_message("broker RSS after 3000 unread list replies: %ld kB\n", rss_kb);
    assert_true(rss_kb > 0 && rss_kb < 400 * 1024);
    tu_close(greedy);
    /* Daily quota: three a day per key here. */
    stop_system();
    assert_int_equal(start_system(", \"submit_per_min\": 0, \"submit_per_day\": 3, \"disk_reserve_mb\": 1000000"), 0);
    for (int i = 0; i < 3; i++)
        submit_as(CHA, "pipe");
    r = call(CHA, 0, "submit", "{\"category\": \"pipe\", \"building\": \"b\", \"contact\": \"c\", \"text\": \"t\"}",
             5000, code, sizeof code);
    assert_string_equal(code, "quota_exceeded");
    assert_true(cJSON_GetObjectItem(r, "retry_after_ms")->valuedouble > 0);
    cJSON_Delete(r);
    /* Below the disk reserve, photos are refused with a clear code; the note is not lost. */
    hello(V1);
    t = submit_as(OFF, "pipe");
    claim(V1, t);
    snprintf(body, sizeof body, "{\"ticket\": %lld, \"note\": \"n\"}", (long long)t);
    b = cJSON_Parse(body);
    assert_int_equal(bm_send_parts(conn(V1, 1), NULL, "progress", "p2", 2, b, ph, 1), 0);
    cJSON_Delete(b);
    got = false;
    for (int i = 0; i < 100 && !got; i++) {
        zmq_pollitem_t it = {conn(V1, 1), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        if (bm_recv(conn(V1, 1), false, true, NULL, &msg, &err) == BM_RECV_OK && !strcmp(msg.cid, "p2")) {
            got = true;
            assert_string_equal(tu_str(msg.body, "code"), "no_space");
        }
        bm_msg_clear(&msg);
    }
    assert_true(got);
    char archive[700];
    snprintf(archive, sizeof archive, "%s/archive", S.dir);
    struct stat st;
    assert_true(stat(archive, &st) != 0 || tu_sql_int(tu_path_db(S.dir), "SELECT count(*) FROM attachments") == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_channel_acts_only_for_itself),
        cmocka_unit_test(test_personal_data_by_role),
        cmocka_unit_test(test_volunteer_takeover_refused),
        cmocka_unit_test(test_notifier_reports_only_its_leases),
        cmocka_unit_test(test_revoke_drops_live_session),
        cmocka_unit_test(test_files_owner_only),
        cmocka_unit_test(test_fail_closed_start),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
