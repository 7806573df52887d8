/* endpoints.c - `bianmin endpoints`: the webhook receivers the broker sends
 * notices to (each request's callback, the configured subscriptions), with
 * their outbox counts; disabling and enabling one, and giving a callback a
 * new signing secret (rotation, with an overlap in which both are signed). */
#include "cli.h"
#include "config.h"
#include "util.h"

#include <string.h>

#define ID_MAX    9007199254740991L /* 2^53 - 1: exact as a JSON number */
#define EP_COLS   9
#define NAME_COLS 20
#define URL_COLS  40

void cli_endpoints_help(FILE *out)
{
    fputs("用法 / usage:\n"
          "  bianmin [global options] endpoints\n"
          "  bianmin [global options] endpoints disable ID\n"
          "  bianmin [global options] endpoints enable ID\n"
          "  bianmin [global options] endpoints rotate ID [--secret whsec_...]\n"
          "\n"
          "服务站发通知的接收方：每个请求的回调网址和服务站配置里的订阅（办公室、部门）。\n"
          "不带子命令时显示表格：编号、种类、名称、网址、启用或停用、待发送/投递失败/\n"
          "已送达的通知数，以及换密钥后旧密钥还签到什么时候。\n"
          "The webhook receivers (接收方) the broker sends notices to: each request's\n"
          "callback url (回调) and the subscriptions in the broker's config (订阅: the\n"
          "office, departments). Without a subcommand: a table of id, kind, name, url,\n"
          "enabled (启用) or disabled (停用), how many notices are pending, dead and\n"
          "delivered, and until when an old secret is still signed with after a\n"
          "rotation.\n"
          "\n"
          "disable ID   停用：通知暂存为待发送（不丢），直到再启用；回复 HTTP 410 的\n"
          "             接收方由服务站自动停用。\n"
          "             Stop sending to this receiver: its notices wait as pending (none\n"
          "             are lost) until it is enabled again. A receiver that answers\n"
          "             HTTP 410 Gone is disabled by the broker itself.\n"
          "enable ID    启用：积压的通知马上发 / send to it again; what waited is sent now\n"
          "rotate ID    给回调接收方换签名密钥（订阅的密钥在服务站配置文件里改）。显示\n"
          "             新密钥，交给接收方；一段时间内（rotation_overlap_s，默认一天）\n"
          "             每条通知带新旧两个签名，接收方可以从容切换。\n"
          "             Give a callback receiver a new signing secret (a subscription's\n"
          "             secret is changed in the broker's config file instead). Prints the\n"
          "             new secret: give it to the receiver. For a while (the broker's\n"
          "             rotation_overlap_s, default one day) every notice carries two\n"
          "             signatures, new and old, so the receiver can switch at its pace.\n"
          "  --secret whsec_...  用指定的密钥 / use this secret instead of a generated one\n"
          "\n"
          "--json：服务站的回复为一行 JSON / prints the broker's reply as one JSON line.\n"
          "\n"
          "例子 / examples:\n"
          "  bianmin endpoints\n"
          "  bianmin endpoints disable 3\n"
          "  bianmin endpoints rotate 3\n"
          "  bianmin deliveries --endpoint 3 --state dead   (该接收方失败的通知)\n",
          out);
}

/* ---- parsing ------------------------------------------------------------- */

int cli_endpoints_parse(int argc, char **argv, cli_op_args_t *args, char *err, size_t errlen)
{
    memset(args, 0, sizeof *args);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            args->help = true;
            return 0;
        }
    }
    const char *action = argc > 1 ? argv[1] : NULL;
    if (!action || strcmp(action, "list") == 0) {
        if (argc > 2) {
            snprintf(err, errlen, "多余的参数 / unexpected argument \"%.60s\"", argv[argc - 1]);
            return -1;
        }
        args->cmd = BM_CMD_ENDPOINTS;
        args->body = cJSON_CreateObject();
        if (!args->body) {
            snprintf(err, errlen, "内存不足 / out of memory");
            return -1;
        }
        return 0;
    }
    bool rotate = strcmp(action, "rotate") == 0;
    if (!rotate && strcmp(action, "disable") != 0 && strcmp(action, "enable") != 0) {
        if (action[0] == '-')
            snprintf(err, errlen, "未知选项 / unknown option %.60s", action);
        else
            snprintf(err, errlen,
                     "未知子命令 / unknown subcommand \"%.40s\" (disable ID, enable ID or rotate ID)", action);
        return -1;
    }
    const char *id_arg = NULL, *secret = NULL;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *v = NULL;
        int m = 0;
        if (rotate && (m = cli_opt_value(argc, argv, &i, "--secret", &v, err, errlen)) != 0) {
            if (m < 0)
                return -1;
            if (secret) {
                snprintf(err, errlen, "--secret 重复给出 / --secret given twice");
                return -1;
            }
            secret = v;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            snprintf(err, errlen, "未知选项 / unknown option %.60s", arg);
            return -1;
        } else if (id_arg) {
            snprintf(err, errlen, "多余的参数 / unexpected argument \"%.60s\" (one endpoint id)", arg);
            return -1;
        } else {
            id_arg = arg;
        }
    }
    long id = 0;
    if (!id_arg) {
        snprintf(err, errlen, "哪个接收端？/ which endpoint? e.g. bianmin endpoints %s 3 (the ids are in "
                              "bianmin endpoints)",
                 action);
        return -1;
    }
    if (id_arg[0] == '#')
        id_arg++;
    if (id_arg[0] < '0' || id_arg[0] > '9' || bm_parse_long(id_arg, 1, ID_MAX, &id) != 0) {
        snprintf(err, errlen, "不是接收端编号 / \"%.40s\" is not an endpoint id (a whole number such as 3)",
                 id_arg);
        return -1;
    }
    if (secret && bm_secret_check(secret) != 0) {
        /* Checked here too so the secret is not sent anywhere when mistyped. */
        snprintf(err, errlen,
                 "--secret 格式不对 / --secret must be whsec_ followed by base64 of 24 to 64 random bytes "
                 "(bianmin-broker --gen-secret prints one), or leave it out to get a new one");
        return -1;
    }
    args->cmd = BM_CMD_ENDPOINT;
    args->body = cJSON_CreateObject();
    if (!args->body) {
        snprintf(err, errlen, "内存不足 / out of memory");
        return -1;
    }
    cJSON_AddNumberToObject(args->body, "id", (double)id);
    cJSON_AddStringToObject(args->body, "action", action);
    if (secret)
        cJSON_AddStringToObject(args->body, "secret", secret);
    return 0;
}

/* ---- formatting ---------------------------------------------------------- */

static const cli_column_t ep_cols[EP_COLS] = {
    {"编号 id", 0, true},
    {"类型 kind", 0, false},
    {"名称 name", NAME_COLS, false},
    {"地址 url", URL_COLS, false},
    {"状态 enabled", 0, false},
    {"待发 pending", 0, true},
    {"失败 dead", 0, true},
    {"已送达 delivered", 0, true},
    {"旧密钥签至 rotation until", 0, false},
};

static void endpoint_row(cli_table_t *t, const cJSON *e)
{
    char id[32], pending[32], dead[32], delivered[32], until[64] = "";
    const char *kind = cli_json_str(e, "kind");
    const char *kind_text = !kind                                  ? "?"
                            : strcmp(kind, "callback") == 0       ? "callback 回调"
                            : strcmp(kind, "subscription") == 0   ? "subscription 订阅"
                                                                  : kind;
    snprintf(id, sizeof id, "%ld", cli_json_long(e, "id", 0));
    snprintf(pending, sizeof pending, "%ld", cli_json_long(e, "pending", 0));
    snprintf(dead, sizeof dead, "%ld", cli_json_long(e, "dead", 0));
    snprintf(delivered, sizeof delivered, "%ld", cli_json_long(e, "delivered", 0));
    if (cli_json_str(e, "rotation_until"))
        cli_local_time(cli_json_str(e, "rotation_until"), until, sizeof until);
    const char *name = cli_json_str(e, "name");
    const char *cells[EP_COLS] = {
        id,
        kind_text,
        name && *name ? name : "-",
        cli_json_str(e, "url") ? cli_json_str(e, "url") : "-",
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "enabled")) ? "停用 disabled"
                                                                      : "启用 enabled",
        pending,
        dead,
        delivered,
        until,
    };
    cli_table_add(t, cells);
}

void cli_format_endpoints(FILE *out, const cJSON *reply)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(reply, "endpoints");
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n == 0) {
        fputs("还没有接收端 / no endpoints yet (a request's callback url, or a subscription in the "
              "broker's config, becomes one)\n",
              out);
        return;
    }
    cli_table_t *t = cli_table_new(ep_cols, EP_COLS);
    if (!t)
        return;
    int disabled = 0, with_dead = 0;
    long dead_total = 0;
    const cJSON *e = NULL;
    cJSON_ArrayForEach(e, arr)
    {
        endpoint_row(t, e);
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "enabled")))
            disabled++;
        long d = cli_json_long(e, "dead", 0);
        if (d > 0) {
            with_dead++;
            dead_total += d;
        }
    }
    cli_table_print(t, out);
    cli_table_destroy(&t);
    fprintf(out, "%d 个接收地址 endpoint%s，%d 个已停用 disabled\n", n, n == 1 ? "" : "s", disabled);
    if (disabled > 0)
        fputs("停用的接收端的通知保持待发送 / a disabled endpoint's notices wait as pending: "
              "bianmin endpoints enable ID\n",
              out);
    if (dead_total > 0)
        fprintf(out,
                "%ld dead 投递失败 at %d endpoint%s: bianmin deliveries --state dead "
                "[--endpoint ID]\n",
                dead_total, with_dead, with_dead == 1 ? "" : "s");
}

void cli_format_endpoint_action(FILE *out, const cJSON *reply)
{
    long id = cli_json_long(reply, "id", 0);
    const char *action = cli_json_str(reply, "action");
    if (!action)
        action = "?";
    if (strcmp(action, "disable") == 0) {
        fprintf(out,
                "endpoint %ld: disabled 已停用\n"
                "its notices wait as pending until: bianmin endpoints enable %ld\n",
                id, id);
        return;
    }
    if (strcmp(action, "enable") == 0) {
        fprintf(out, "endpoint %ld: enabled 已启用 (what waited is sent now)\n", id);
        return;
    }
    if (strcmp(action, "rotate") != 0) {
        fprintf(out, "endpoint %ld: ", id);
        cli_put_text(out, action, 0);
        fputc('\n', out);
        return;
    }
    char until[64];
    const char *secret = cli_json_str(reply, "secret");
    fprintf(out, "endpoint %ld: new signing secret 新密钥\n  ", id);
    cli_put_text(out, secret ? secret : "?", 0);
    fprintf(out,
            "\nthe old secret is still signed with until %s (旧密钥签名保留至此时间)\n"
            "Give the new secret to the receiver (请把新密钥交给接收方) before then:\n"
            "until that time every notice carries both signatures, afterwards only the new.\n",
            cli_local_time(cli_json_str(reply, "old_secret_until"), until, sizeof until));
}

/* ---- run ----------------------------------------------------------------- */

static void print_reply(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)sent;
    if (strcmp(cmd, BM_CMD_ENDPOINT) == 0)
        cli_format_endpoint_action(out, reply);
    else
        cli_format_endpoints(out, reply);
}

int cli_endpoints_run(cli_ctx_t *ctx, int argc, char **argv)
{
    static const cli_op_t op = {cli_endpoints_parse, cli_endpoints_help, print_reply};
    return cli_run_op(ctx, argc, argv, &op);
}
