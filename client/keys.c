/* keys.c - `bianmin keys [list [--all]] | new --role R ... | revoke KEY|ROLE`:
 * the office's key management. `new` makes the key pair here and sends only
 * the public half to the station; the key file it writes (mode 0600) is what
 * the volunteer, bridge or notifier is given, with the station's key and
 * addresses in it. */
#include "cli.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_keys_help(FILE *out)
{
    fprintf(out,
            "用法 / usage:\n"
            "  bianmin [global options] keys [list] [--all]\n"
            "  bianmin [global options] keys new --role ROLE [--name NAME] [--skills K,K]\n"
            "          [--max-jobs N] [--acts-for R,R] [--out FILE]\n"
            "  bianmin [global options] keys revoke PUBLIC_KEY|ROLE\n"
            "\n"
            "钥匙管理（只有办公室能做）。每个连服务站的程序都有一把钥匙；服务站知道每把\n"
            "钥匙能做什么。\n"
            "Key management (office only). Every program that talks to the station\n"
            "holds a key; the station knows what each key may do.\n"
            "\n"
            "  list            有效的钥匙 / the keys in force (--all: revoked ones too)\n"
            "  new             新建一把钥匙并登记，写入钥匙文件交给使用者 /\n"
            "                  make and register a key; give the file it writes to\n"
            "                  whoever will use it\n"
            "    --role R      角色 / office | notifier | gateway | channel:<渠道> |\n"
            "                  volunteer:<编号>\n"
            "    --name N      使用者的名字 / who holds it (e.g. 袁建成, 3栋楼栋长);\n"
            "                  志愿者最多约%d个汉字 / a volunteer's: %d bytes at most\n"
            "    --skills K,K  志愿者会做的类别 / a volunteer's categories (required\n"
            "                  for them)\n"
            "    --max-jobs N  志愿者最多同时接几单 / a volunteer's most jobs at once\n"
            "                  (default 1)\n"
            "    --acts-for R  网关可代表的角色 / a gateway's roles, e.g.\n"
            "                  office,channel:forum\n"
            "    --out FILE    钥匙文件 / where to write it (default ROLE.key, ':' as '-')\n"
            "    --client-endpoint EP, --worker-endpoint EP\n"
            "                  使用者连接服务站的地址 / where the holder reaches the\n"
            "                  station, if not the station's own (e.g.\n"
            "                  tcp://192.168.1.10:5571 on a LAN)\n"
            "  revoke K        立即吊销，该钥匙的连接马上断开 / revoke at once: its\n"
            "                  connections are dropped; K is the public key, or a role\n"
            "                  (all its keys)\n"
            "\n"
            "例子 / examples:\n"
            "  bianmin keys new --role volunteer:v01 --name 袁建成 --skills pipe,repair\n"
            "  bianmin keys new --role channel:forum --name 论坛桥 --out forum.key\n"
            "  bianmin keys new --role notifier --out var/keys/notifier.key\n"
            "  bianmin keys revoke volunteer:v01\n",
            BM_MAX_VOL_NAME / 3, BM_MAX_VOL_NAME);
}

static void print_list(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(reply, "keys");
    fprintf(out, "%-18s %-24s %-20s %s\n", "角色 role", "名字 name", "登记于 created", "公钥 public key");
    const cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        const char *revoked = cli_json_str(k, "revoked_at");
        char when[32];
        int64_t ms = 0;
        const char *created = cli_json_str(k, "created_at");
        if (created && bm_time_parse_iso(created, &ms) == 0)
            bm_time_local(ms, when, sizeof when);
        else
            bm_strlcpy(when, "?", sizeof when);
        fprintf(out, "%-18s ", cli_json_str(k, "role") ? cli_json_str(k, "role") : "?");
        cli_put_text(out, cli_json_str(k, "name") ? cli_json_str(k, "name") : "", 24);
        fprintf(out, " %-20s %s%s\n", when, cli_json_str(k, "public") ? cli_json_str(k, "public") : "",
                revoked ? "  (已吊销 revoked)" : "");
    }
    fprintf(out, "服务站公钥 / station key: %s\n",
            cli_json_str(reply, "broker") ? cli_json_str(reply, "broker") : "?");
}

static void print_revoked(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(reply, "revoked");
    fprintf(out, "已吊销 %d 把钥匙，其连接已断开 / revoked %d key(s); their connections are dropped\n",
            cJSON_GetArraySize(arr), cJSON_GetArraySize(arr));
}

/* The worker endpoint for the key file: the station's own, with a wildcard
 * host replaced by the host this client reached it on. */
static void usable_endpoint(const char *announced, const char *reached, char *buf, size_t len)
{
    bm_strlcpy(buf, announced ? announced : "", len);
    const char *host = strncmp(buf, "tcp://", 6) == 0 ? buf + 6 : NULL;
    if (!host || (strncmp(host, "*:", 2) != 0 && strncmp(host, "0.0.0.0:", 8) != 0))
        return;
    const char *port = strrchr(host, ':');
    const char *rhost = strncmp(reached, "tcp://", 6) == 0 ? reached + 6 : NULL;
    const char *rcolon = rhost ? strrchr(rhost, ':') : NULL;
    if (!port || !rcolon)
        return;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "tcp://%.*s%s", (int)(rcolon - rhost), rhost, port);
    bm_strlcpy(buf, tmp, len);
}

static int keys_new(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *role = NULL, *name = NULL, *skills = NULL, *acts_for = NULL, *outp = NULL;
    const char *client_ep = NULL, *worker_ep = NULL;
    long max_jobs = 0;
    char err[256] = "";
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m = 0;
        if (strcmp(argv[i], "--help") == 0) {
            cli_keys_help(stdout);
            return CLI_EXIT_OK;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--role", &v, err, sizeof err)) > 0)
            role = v;
        else if (m == 0 && (m = cli_opt_value(argc, argv, &i, "--name", &v, err, sizeof err)) > 0)
            name = v;
        else if (m == 0 && (m = cli_opt_value(argc, argv, &i, "--skills", &v, err, sizeof err)) > 0)
            skills = v;
        else if (m == 0 && (m = cli_opt_value(argc, argv, &i, "--acts-for", &v, err, sizeof err)) > 0)
            acts_for = v;
        else if (m == 0 && (m = cli_opt_value(argc, argv, &i, "--out", &v, err, sizeof err)) > 0)
            outp = v;
        else if (m == 0 && (m = cli_opt_value(argc, argv, &i, "--client-endpoint", &v, err, sizeof err)) > 0)
            client_ep = v;
        else if (m == 0 && (m = cli_opt_value(argc, argv, &i, "--worker-endpoint", &v, err, sizeof err)) > 0)
            worker_ep = v;
        else if (m == 0 && (m = cli_opt_value(argc, argv, &i, "--max-jobs", &v, err, sizeof err)) > 0) {
            if (bm_parse_long(v, 1, 20, &max_jobs) != 0)
                return cli_usage_error("keys", "--max-jobs 是 1 到 20 / --max-jobs is 1 to 20");
        } else if (m == 0) {
            snprintf(err, sizeof err, "不认识的选项 %s / unknown option %s", argv[i], argv[i]);
            m = -1;
        }
        if (m < 0)
            return cli_usage_error("keys", err);
    }
    if (!role)
        return cli_usage_error("keys", "缺少 --role / missing --role (e.g. volunteer:v01, channel:forum)");
    bm_key_t key;
    memset(&key, 0, sizeof key);
    if (bm_key_generate(&key) != 0)
        return cli_usage_error("keys", "不能生成钥匙 / cannot make a key pair");
    char path[1024];
    if (outp) {
        bm_strlcpy(path, outp, sizeof path);
    } else {
        snprintf(path, sizeof path, "%s.key", role);
        for (char *p = path; *p; p++) {
            if (*p == ':' || *p == '/')
                *p = '-';
        }
    }
    if (access(path, F_OK) == 0) {
        char msg[2400];
        snprintf(msg, sizeof msg, "%s 已存在，不会覆盖 / %s exists already; it is not replaced (use --out)",
                 path, path);
        return cli_usage_error("keys", msg);
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "public", key.public_key);
    cJSON_AddStringToObject(body, "role", role);
    if (name)
        cJSON_AddStringToObject(body, "name", name);
    if (skills)
        cJSON_AddStringToObject(body, "skills", skills);
    if (acts_for)
        cJSON_AddStringToObject(body, "acts_for", acts_for);
    if (max_jobs)
        cJSON_AddNumberToObject(body, "max_jobs", (double)max_jobs);
    cJSON *reply = NULL;
    int rc = cli_call(ctx, BM_CMD_KEY_ADD, body, &reply);
    cJSON_Delete(body);
    if (rc != CLI_EXIT_OK)
        return rc;
    bm_strlcpy(key.role, role, sizeof key.role);
    bm_strlcpy(key.name, name ? name : "", sizeof key.name);
    bm_strlcpy(key.broker_key, cli_json_str(reply, "broker") ? cli_json_str(reply, "broker") : "",
               sizeof key.broker_key);
    usable_endpoint(client_ep ? client_ep : cli_json_str(reply, "client_endpoint"), ctx->endpoint,
                    key.client_endpoint, sizeof key.client_endpoint);
    usable_endpoint(worker_ep ? worker_ep : cli_json_str(reply, "worker_endpoint"), ctx->endpoint,
                    key.worker_endpoint, sizeof key.worker_endpoint);
    bm_error_t werr = {0};
    rc = CLI_EXIT_OK;
    if (bm_key_save(path, &key, false, &werr) != 0) {
        /* Registered but not written: revoke it again rather than leave a
         * key nobody holds. */
        cJSON *rb = cJSON_CreateObject();
        cJSON_AddStringToObject(rb, "public", key.public_key);
        cJSON *ignored = NULL;
        cli_call(ctx, BM_CMD_KEY_REVOKE, rb, &ignored);
        cJSON_Delete(ignored);
        cJSON_Delete(rb);
        fprintf(stderr, "bianmin keys: %s\n", werr.message);
        rc = CLI_EXIT_USAGE;
    } else if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", path);
        cJSON_AddStringToObject(j, "public", key.public_key);
        cJSON_AddStringToObject(j, "role", role);
        cli_print_json_line(stdout, j);
        cJSON_Delete(j);
    } else {
        printf("已登记钥匙 %s，写入 %s（只有本人可读）。把这个文件交给使用者，用 --key %s。\n"
               "registered key %s and wrote %s (owner-only). Give this file to its holder: --key %s\n",
               role, path, path, role, path, path);
    }
    memset(&key, 0, sizeof key);
    cJSON_Delete(reply);
    return rc;
}

int cli_keys_run(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        cli_keys_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "new") == 0)
        return keys_new(ctx, argc - 1, argv + 1);
    cJSON *body = cJSON_CreateObject();
    int rc;
    if (strcmp(sub, "list") == 0 || strcmp(sub, "--all") == 0) {
        bool all = strcmp(sub, "--all") == 0 || (argc > 2 && strcmp(argv[2], "--all") == 0);
        cJSON_AddBoolToObject(body, "all", all);
        rc = cli_call_print(ctx, BM_CMD_KEYS, body, print_list);
    } else if (strcmp(sub, "revoke") == 0) {
        if (argc != 3) {
            cJSON_Delete(body);
            return cli_usage_error("keys", "用法 / usage: bianmin keys revoke PUBLIC_KEY|ROLE");
        }
        cJSON_AddStringToObject(body, bm_key_z85_ok(argv[2]) ? "public" : "role", argv[2]);
        rc = cli_call_print(ctx, BM_CMD_KEY_REVOKE, body, print_revoked);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "没有子命令 %s（list、new、revoke）/ unknown subcommand \"%s\" (list, new, revoke)",
                 sub, sub);
        rc = cli_usage_error("keys", msg);
    }
    cJSON_Delete(body);
    return rc;
}
