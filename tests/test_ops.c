/* test_ops.c - unit tests for the operations modules: file helpers
 * (lib/fileops.c), backup/restore failure paths (lib/backup.c, restore.c),
 * the metrics address parser (broker/metrics.c) and JSON log lines
 * (lib/log.c). The happy paths run end to end in tests/integration. */
#include "backup.h"
#include "fileops.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[512];

static int setup(void **state)
{
    (void)state;
    const char *root = getenv("BM_TEST_TMP");
    char base[256];
    snprintf(base, sizeof base, "%s", root && *root ? root : "/tmp");
    mkdir(base, 0700);
    snprintf(tmpdir, sizeof tmpdir, "%s/test_ops.XXXXXX", base);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    bm_file_rmtree(tmpdir);
    return 0;
}

static void path_in(char *buf, size_t len, const char *name)
{
    assert_int_equal(bm_pathf(buf, len, "%s/%s", tmpdir, name), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- fileops ------------------------------------------------------------ */

static void test_pathf_refuses_truncation(void **state)
{
    (void)state;
    char small[8];
    assert_int_equal(bm_pathf(small, sizeof small, "%s/%s", "abc", "def"), 0);
    assert_string_equal(small, "abc/def");
    errno = 0;
    assert_int_equal(bm_pathf(small, sizeof small, "%s/%s", "abcd", "defg"), -1);
    assert_int_equal(errno, ENAMETOOLONG);
}

static void test_sha256_and_copy(void **state)
{
    (void)state;
    char src[600], dst[600], hex[65];
    int64_t size = 0;
    path_in(src, sizeof src, "abc.txt");
    path_in(dst, sizeof dst, "copy.txt");
    write_text(src, "abc");
    assert_int_equal(bm_file_sha256(src, hex, &size), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(size, 3);
    memset(hex, 0, sizeof hex);
    assert_int_equal(bm_file_copy(src, dst, 0600, hex, &size), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    struct stat st;
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never over an existing file; a missing source leaves nothing behind. */
    assert_int_equal(bm_file_copy(src, dst, 0600, NULL, NULL), -1);
    assert_int_equal(errno, EEXIST);
    char missing[600], out[600];
    path_in(missing, sizeof missing, "missing");
    path_in(out, sizeof out, "out");
    assert_int_equal(bm_file_copy(missing, out, 0600, NULL, NULL), -1);
    assert_int_not_equal(access(out, F_OK), 0);
}

static void test_mkdirs_and_rmtree(void **state)
{
    (void)state;
    char deep[600], file[700], top[600];
    path_in(top, sizeof top, "a");
    path_in(deep, sizeof deep, "a/b/c");
    assert_int_equal(bm_file_mkdirs(deep, 0700), 0);
    assert_int_equal(bm_file_mkdirs(deep, 0700), 0); /* again: fine */
    assert_int_equal(bm_pathf(file, sizeof file, "%s/f", deep), 0);
    write_text(file, "x");
    assert_int_equal(bm_file_mkdirs(file, 0700), -1); /* a file is not a folder */
    assert_int_equal(bm_file_rmtree(top), 0);
    assert_int_not_equal(access(top, F_OK), 0);
}

/* A child process opens the database in WAL mode and waits: the check must
 * see it (pid), and not after it is gone. */
static void test_sqlite_holder_sees_another_process(void **state)
{
    (void)state;
    char db[600];
    path_in(db, sizeof db, "held.db");
    assert_int_equal(bm_file_sqlite_holder(db), 0); /* no file: nobody */
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        sqlite3 *h = NULL;
        char c = 0;
        sqlite3_open(db, &h);
        sqlite3_exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); SELECT * FROM t;", NULL, NULL,
                     NULL);
        (void)!write(go[1], "r", 1);
        (void)!read(done[0], &c, 1);
        sqlite3_close(h);
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(go[0], &c, 1), 1);
    assert_int_equal(bm_file_sqlite_holder(db), child);
    assert_int_equal(write(done[1], "x", 1), 1);
    int status = 0;
    waitpid(child, &status, 0);
    assert_int_equal(bm_file_sqlite_holder(db), 0);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
}

/* ---- backup / restore failure paths -------------------------------------- */

static void test_backup_without_database_leaves_nothing(void **state)
{
    (void)state;
    char dir[600], db[600];
    path_in(dir, sizeof dir, "bk");
    path_in(db, sizeof db, "nope.db");
    bm_backup_opts_t o = {.db = db, .archive = tmpdir, .dir = dir, .keep = 3};
    bm_backup_result_t r;
    bm_error_t err = {0};
    assert_int_equal(bm_backup_run(&o, &r, &err), -1);
    assert_string_equal(err.code, BM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "nope.db"));
    assert_int_not_equal(access(db, F_OK), 0); /* a read-only open never creates it */
    /* Only the lock file is there: no backup, no partial folder. */
    char lock[700];
    assert_int_equal(bm_pathf(lock, sizeof lock, "%s/.lock", dir), 0);
    int entries = 0;
    FILE *p = NULL;
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    char line[256];
    while (fgets(line, sizeof line, p))
        entries++;
    pclose(p);
    assert_int_equal(entries, 1);
    assert_int_equal(access(lock, F_OK), 0);
}

static void test_backup_refuses_a_second_run_in_the_same_folder(void **state)
{
    (void)state;
    char dir[600], lock[700], db[600];
    path_in(dir, sizeof dir, "bk2");
    path_in(db, sizeof db, "x.db");
    assert_int_equal(bm_file_mkdirs(dir, 0700), 0);
    assert_int_equal(bm_pathf(lock, sizeof lock, "%s/.lock", dir), 0);
    int fd = open(lock, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0); /* "another backup" holds it */
    bm_backup_opts_t o = {.db = db, .archive = tmpdir, .dir = dir, .keep = 3};
    bm_backup_result_t r;
    bm_error_t err = {0};
    assert_int_equal(bm_backup_run(&o, &r, &err), -1);
    assert_non_null(strstr(err.message, "another backup"));
    close(fd);
}

static void test_restore_refuses_what_is_not_a_backup(void **state)
{
    (void)state;
    char notbk[600], db[600], manifest[700];
    path_in(notbk, sizeof notbk, "notbk");
    path_in(db, sizeof db, "target/bianmin.db");
    assert_int_equal(bm_file_mkdirs(notbk, 0700), 0);
    bm_restore_opts_t o = {.backup = notbk, .db = db, .archive = tmpdir};
    bm_backup_result_t r;
    bm_error_t err = {0};
    assert_int_equal(bm_restore_run(&o, &r, &err), -1);
    assert_string_equal(err.code, BM_ERR_NOT_FOUND);
    /* A manifest of another format, then garbage. */
    assert_int_equal(bm_pathf(manifest, sizeof manifest, "%s/manifest.json", notbk), 0);
    write_text(manifest, "{\"format\": \"something-else/9\"}");
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_restore_run(&o, &r, &err), -1);
    assert_string_equal(err.code, BM_ERR_INVALID);
    unlink(manifest);
    write_text(manifest, "{\"format\": \"bianmin-backup/1\", \"photos\": [], \"database\": 3");
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_restore_run(&o, &r, &err), -1);
    assert_string_equal(err.code, BM_ERR_INVALID);
    /* A well-formed manifest whose database file is missing. */
    unlink(manifest);
    write_text(manifest, "{\"format\": \"bianmin-backup/1\", \"photos\": [],"
                         " \"database\": {\"path\": \"bianmin.db\", \"sha256\": \"00\", \"size\": 1}}");
    memset(&err, 0, sizeof err);
    assert_int_equal(bm_restore_run(&o, &r, &err), -1);
    assert_non_null(strstr(err.message, "checksum"));
    char parent[600];
    path_in(parent, sizeof parent, "target");
    assert_int_not_equal(access(parent, F_OK), 0); /* nothing was written */
}

/* ---- metrics address ---------------------------------------------------- */

static void test_metrics_listen_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    unsigned len = 0;
    bm_error_t err = {0};
    assert_int_equal(metrics_parse_listen("9570", &ss, &len, &err), 0);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(v4->sin_port), 9570);
    assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x7f000001); /* a bare port: loopback */
    assert_int_equal(metrics_parse_listen("0.0.0.0:9100", &ss, &len, &err), 0);
    assert_int_equal(ntohs(v4->sin_port), 9100);
    assert_int_equal(metrics_parse_listen("[::1]:9570", &ss, &len, &err), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    const char *bad[] = {"", "localhost:9570", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:-1",
                         "1.2.3:80", "[::1]", ":::"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(metrics_parse_listen(bad[i], &ss, &len, &err), -1);
        assert_string_equal(err.field, "metrics_listen");
    }
}

/* ---- JSON log lines ------------------------------------------------------ */

static void test_json_log_lines_parse(void **state)
{
    (void)state;
    char path[600];
    path_in(path, sizeof path, "log.jsonl");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, 2);
    close(fd);
    bm_log_init("test-ops", BM_LOG_DEBUG);
    bm_log_set_json(true);
    log_info("quote \" backslash \\ newline \n tab \t bell \a 中文 end");
    log_debug("second");
    bm_log_set_json(false);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j); /* each line is one JSON object */
        assert_string_equal(cJSON_GetObjectItem(j, "prog")->valuestring, "test-ops");
        if (n == 0) {
            assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "info");
            assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring,
                                "quote \" backslash \\ newline \n tab \t bell \a 中文 end");
            assert_non_null(strstr(cJSON_GetObjectItem(j, "src")->valuestring, "test_ops.c:"));
        } else {
            assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "debug");
        }
        cJSON_Delete(j);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 2);
    bool json = true;
    assert_int_equal(bm_log_format_parse("text", &json), 0);
    assert_false(json);
    assert_int_equal(bm_log_format_parse("json", &json), 0);
    assert_true(json);
    assert_int_equal(bm_log_format_parse("xml", &json), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pathf_refuses_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256_and_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs_and_rmtree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_holder_sees_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_without_database_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_refuses_a_second_run_in_the_same_folder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_refuses_what_is_not_a_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_listen_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_log_lines_parse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
