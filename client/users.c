/* users.c - `bianmin users list | add LOGIN --role R [--name N] | passwd LOGIN
 * | disable LOGIN [--enable]`: the people who log in to the office console
 * and the building leaders' phone form (bianmin-gateway). The password is
 * read from the terminal without echo (twice), or as one line from stdin
 * with --password-stdin; the station hashes it (argon2id) and keeps only the
 * hash. */
#include "cli.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PW_MAX 256

void cli_users_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [global options] users [list]\n"
          "  bianmin [global options] users add LOGIN --role ROLE [--name NAME]\n"
          "          [--password-stdin]\n"
          "  bianmin [global options] users passwd LOGIN [--password-stdin]\n"
          "  bianmin [global options] users disable LOGIN [--enable]\n"
          "\n"
          "网页登录用户（只有办公室能管）。\n"
          "People who log in through bianmin-gateway (office only).\n"
          "\n"
          "  list              所有用户 / every user\n"
          "  add LOGIN         新用户；密码在终端输入两次（不显示）/ a new user; the\n"
          "                    password is typed twice on the terminal (not shown)\n"
          "    --role R        角色 / office（办公室控制台 the office console）or\n"
          "                    channel:<渠道>（如 e.g. channel:building_leader）\n"
          "    --name N        名字 / display name (e.g. 王主任, 3栋楼栋长)\n"
          "  passwd LOGIN      改密码，也解除登录锁定 / set a new password (also\n"
          "                    clears the lockout)\n"
          "  disable LOGIN     停用（--enable 恢复）/ disable (or enable again with\n"
          "                    --enable)\n"
          "  --password-stdin  从标准输入读一行作为密码 / read the password as one\n"
          "                    line from stdin\n"
          "\n"
          "例子 / examples:\n"
          "  bianmin users add wang --role office --name 王主任\n"
          "  bianmin users add ld3 --role channel:building_leader --name 3栋楼栋长\n"
          "  echo 'a long password' | bianmin users passwd wang --password-stdin\n",
          out);
}

static void print_users(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    const cJSON *u;
    fprintf(out, "%-16s %-28s %-14s %s\n", "登录名 login", "角色 role", "名字 name", "状态 state");
    cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(reply, "users")) {
        fprintf(out, "%-16s %-28s ", cli_json_str(u, "user") ? cli_json_str(u, "user") : "?",
                cli_json_str(u, "role") ? cli_json_str(u, "role") : "?");
        cli_put_text(out, cli_json_str(u, "name") ? cli_json_str(u, "name") : "", 14);
        fprintf(out, " %s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(u, "disabled"))
                                  ? "已停用 disabled" : "可用 active");
    }
}

static void print_done(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    const char *user = cli_json_str(reply, "user") ? cli_json_str(reply, "user") : "?";
    if (strcmp(cmd, BM_CMD_USER_ADD) == 0)
        fprintf(out, "已添加用户 %s / user %s added\n", user, user);
    else if (strcmp(cmd, BM_CMD_USER_PASSWD) == 0)
        fprintf(out, "已更改 %s 的密码 / password of %s set\n", user, user);
    else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "disabled")))
        fprintf(out, "已停用 %s / %s disabled\n", user, user);
    else
        fprintf(out, "已启用 %s / %s enabled\n", user, user);
}

/* Reads one line into buf without its newline; echo off if from a tty. */
static int read_line(const char *prompt, bool tty, char *buf, size_t len)
{
    struct termios old, quiet;
    bool restore = false;
    if (tty) {
        fputs(prompt, stderr);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    int rc = fgets(buf, (int)len, stdin) ? 0 : -1;
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (rc == 0)
        buf[strcspn(buf, "\r\n")] = '\0';
    return rc;
}

/* Gets the password: from stdin (one line) or typed twice on the terminal. */
static int get_password(bool from_stdin, char *pw, size_t len)
{
    if (!from_stdin && !isatty(STDIN_FILENO))
        return cli_usage_error("users", "标准输入不是终端：请用 --password-stdin / stdin is not a "
                                        "terminal: use --password-stdin");
    if (read_line("新密码 / new password: ", !from_stdin, pw, len) != 0 || !pw[0])
        return cli_usage_error("users", "没有读到密码 / no password was read");
    if (!from_stdin) {
        char again[PW_MAX + 2];
        int same = read_line("再输一次 / again: ", true, again, sizeof again) == 0 &&
                   strcmp(again, pw) == 0;
        explicit_bzero(again, sizeof again);
        if (!same)
            return cli_usage_error("users", "两次输入的密码不一样 / the two passwords differ");
    }
    return CLI_EXIT_OK;
}

static int users_set(cli_ctx_t *ctx, const char *cmd, int argc, char **argv)
{
    const char *login = NULL, *role = NULL, *name = NULL;
    bool from_stdin = false, enable = false;
    char err[256] = "";
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (strcmp(argv[i], "--password-stdin") == 0) {
            from_stdin = true;
        } else if (strcmp(argv[i], "--enable") == 0 && strcmp(cmd, BM_CMD_USER_DISABLE) == 0) {
            enable = true;
        } else if ((m = cli_opt_value(argc, argv, &i, "--role", &v, err, sizeof err)) != 0) {
            if (m < 0 || cli_take_text("--role", v, &role, err, sizeof err) != 0)
                return cli_usage_error("users", err);
        } else if ((m = cli_opt_value(argc, argv, &i, "--name", &v, err, sizeof err)) != 0) {
            if (m < 0 || cli_take_text("--name", v, &name, err, sizeof err) != 0)
                return cli_usage_error("users", err);
        } else if (argv[i][0] != '-' && !login) {
            login = argv[i];
        } else {
            snprintf(err, sizeof err, "不认识的参数 %s / unexpected argument \"%s\"", argv[i], argv[i]);
            return cli_usage_error("users", err);
        }
    }
    if (!login)
        return cli_usage_error("users", "缺少登录名 / missing LOGIN");
    if (strcmp(cmd, BM_CMD_USER_ADD) == 0 && !role)
        return cli_usage_error("users", "缺少 --role / missing --role (office or channel:<name>)");
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "user", login);
    if (role)
        cJSON_AddStringToObject(body, "role", role);
    if (name)
        cJSON_AddStringToObject(body, "name", name);
    if (strcmp(cmd, BM_CMD_USER_DISABLE) == 0)
        cJSON_AddBoolToObject(body, "enable", enable);
    int rc = CLI_EXIT_OK;
    if (strcmp(cmd, BM_CMD_USER_DISABLE) != 0) {
        char pw[PW_MAX + 2];
        rc = get_password(from_stdin, pw, sizeof pw);
        if (rc == CLI_EXIT_OK)
            cJSON_AddStringToObject(body, "password", pw);
        explicit_bzero(pw, sizeof pw);
    }
    if (rc == CLI_EXIT_OK)
        rc = cli_call_print(ctx, cmd, body, print_done);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");
    if (cJSON_IsString(p))
        explicit_bzero(p->valuestring, strlen(p->valuestring));
    cJSON_Delete(body);
    return rc;
}

int cli_users_run(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        cli_users_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "list") == 0) {
        cJSON *body = cJSON_CreateObject();
        int rc = cli_call_print(ctx, BM_CMD_USERS, body, print_users);
        cJSON_Delete(body);
        return rc;
    }
    if (strcmp(sub, "add") == 0)
        return users_set(ctx, BM_CMD_USER_ADD, argc - 1, argv + 1);
    if (strcmp(sub, "passwd") == 0)
        return users_set(ctx, BM_CMD_USER_PASSWD, argc - 1, argv + 1);
    if (strcmp(sub, "disable") == 0)
        return users_set(ctx, BM_CMD_USER_DISABLE, argc - 1, argv + 1);
    char msg[200];
    snprintf(msg, sizeof msg, "没有子命令 %s（list、add、passwd、disable）/ unknown subcommand \"%s\"",
             sub, sub);
    return cli_usage_error("users", msg);
}
