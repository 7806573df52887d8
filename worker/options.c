/* options.c - see options.h. */
#include "options.h"
#include "command.h"
#include "util.h"
#include "width.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void wk_options_defaults(wk_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->max_jobs = 1;
    bm_strlcpy(o->broker, WK_DEFAULT_BROKER, sizeof o->broker);
    o->log_level = BM_LOG_WARN;
    o->initial_heartbeat_ms = WK_DEFAULT_HEARTBEAT_MS;
    o->remind_before_s = WK_DEFAULT_REMIND_BEFORE_S;
}

void wk_usage(FILE *f)
{
    fprintf(f,
            "用法 / usage:\n"
            "  bianmin-worker --id ID --name NAME --skills LIST [options]\n"
            "  bianmin-worker --key FILE [options]\n"
            "\n"
            "志愿者接单端：从服务站收到你会做的订单，接单，报告完成。\n"
            "The volunteer's client: receives job offers from\n"
            "bianmin-broker for your skills, claims them (接单) and\n"
            "reports them done (完成).\n"
            "\n"
            "必填 / required (unless --key gives them):\n"
            "  --id ID        志愿者编号 / your volunteer id: 1-%d of\n"
            "                 A-Z a-z 0-9 _ . - (e.g. v01)\n"
            "  --name NAME    姓名，最多约%d个汉字 / your name as\n"
            "                 residents see it, up to %d bytes\n"
            "  --skills LIST  技能，用逗号分隔 / the categories you\n"
            "                 take, comma-separated: lock 开锁修锁,\n"
            "                 pipe 管道疏通, leak 漏水抢修,\n"
            "                 repair 水电维修, other 其他\n"
            "选项 / options:\n"
            "  --max-jobs N   同时最多接几单 / jobs held at once,\n"
            "                 1-%d (default 1)\n"
            "  --broker URL   服务站地址 / the broker's worker socket\n"
            "                 (default " WK_DEFAULT_BROKER ")\n"
            "  --key FILE     钥匙文件 / your key from the office (or\n"
            "                 BIANMIN_KEY); with it --id, --name and\n"
            "                 --skills come from the key\n"
            "  --remind-before S\n"
            "                 接单保留到期前多少秒提醒 / remind S\n"
            "                 seconds before a claim's lease runs\n"
            "                 out, once; 0 = never (default %d = %d min)\n"
            "  --json         手机或聊天桥接用的 JSON 行 / JSON lines\n"
            "                 for a phone/chat bridge: commands in on\n"
            "                 stdin, events out on stdout, one JSON\n"
            "                 object per line\n"
            "  --version      版本 / the version and the database\n"
            "                 schema version\n"
            "  --verbose      在终端上也显示日志 / show log lines on\n"
            "                 the interactive screen (otherwise kept\n"
            "                 off it; always written when stderr is a\n"
            "                 file)\n"
            "  --log-level L  日志级别 / error, warn, info or debug\n"
            "                 (default warn), to stderr\n"
            "  --help         显示本说明 / show this text\n"
            "\n"
            "命令 / commands (type them once running;\n"
            "help 帮助 shows examples):\n",
            BM_MAX_VOL_ID, BM_MAX_VOL_NAME / 3, BM_MAX_VOL_NAME, WK_MAX_JOBS_LIMIT,
            WK_DEFAULT_REMIND_BEFORE_S, WK_DEFAULT_REMIND_BEFORE_S / 60);
    for (const wk_cmd_spec_t *s = wk_commands; s->name; s++) {
        fprintf(f, "  %-26s ", s->usage);
        for (size_t i = 0; i < 3 && s->aliases[i]; i++)
            fprintf(f, "%s%s", i ? ", " : "", s->aliases[i]);
        char line[512];
        snprintf(line, sizeof line, "      %s", s->help);
        char *wrapped = bm_width_wrap(line, WK_HELP_COLS, 0);
        fprintf(f, "\n%s\n", wrapped ? wrapped : line);
        free(wrapped);
    }
    fprintf(f,
            "  备注和原因最多约%d个汉字（不接的原因约%d个）/\n"
            "  a note or reason: at most %d bytes, about %d Chinese\n"
            "  characters (decline's reason: %d bytes)\n",
            BM_MAX_NOTE / 3, BM_MAX_REASON / 3, BM_MAX_NOTE, BM_MAX_NOTE / 3, BM_MAX_REASON);
    fputs("\n"
          "JSON (--json):\n"
          "  {\"cmd\":\"claim\",\"ticket\":42}\n"
          "  {\"cmd\":\"done\",\"ticket\":42,\"note\":\"...\"}\n"
          "  {\"cmd\":\"jobs\"}  {\"cmd\":\"offers\"}  {\"cmd\":\"quit\"}\n"
          "  可选的 \"id\" 原样返回 / an optional \"id\" is echoed\n",
          f);
}

bool wk_valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BM_MAX_VOL_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static wk_args_t fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static wk_args_t fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return WK_ARGS_ERROR;
}

static bool skill_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

/* Splits "pipe, repair" into o->skills (trimmed, duplicates dropped). */
static wk_args_t parse_skills(const char *list, wk_options_t *o, char *err, size_t errlen)
{
    o->skill_count = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0)
            return fail(err, errlen,
                        "--skills: 技能列表有空项 empty item in \"%s\"; give a comma-separated list such as "
                        "pipe,repair", list);
        if (len > WK_MAX_SKILL_LEN)
            return fail(err, errlen, "--skills: 技能名太长 \"%.*s\" is longer than %d characters", (int)len,
                        p, WK_MAX_SKILL_LEN);
        for (size_t i = 0; i < len; i++) {
            if (!skill_char(p[i]))
                return fail(err, errlen,
                            "--skills: 不是类别名 \"%.*s\" is not a category name (use lock, pipe, leak, "
                            "repair, other)", (int)len, p);
        }
        char skill[WK_MAX_SKILL_LEN + 1];
        memcpy(skill, p, len);
        skill[len] = '\0';
        bool dup = false;
        for (int i = 0; i < o->skill_count; i++)
            dup = dup || strcmp(o->skills[i], skill) == 0;
        if (!dup) {
            if (o->skill_count == WK_MAX_SKILLS)
                return fail(err, errlen, "--skills: 最多 %d 项 at most %d skills", WK_MAX_SKILLS,
                            WK_MAX_SKILLS);
            bm_strlcpy(o->skills[o->skill_count++], skill, sizeof o->skills[0]);
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return WK_ARGS_OK;
}

wk_args_t wk_options_parse(int argc, char **argv, wk_options_t *o, char *err, size_t errlen)
{
    static const char *const with_value[] = {"--id",     "--name",   "--skills",   "--max-jobs",
                                             "--broker", "--log-level", "--key",
                                             "--remind-before"};
    bool have_id = false, have_name = false, have_skills = false;
    wk_options_defaults(o);
    if (errlen)
        err[0] = '\0';

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        char flag[32];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) == 0 && eq) {
            size_t n = (size_t)(eq - arg);
            if (n >= sizeof flag)
                return fail(err, errlen, "未知选项 unknown option \"%s\" (see --help)", arg);
            memcpy(flag, arg, n);
            flag[n] = '\0';
            value = eq + 1;
        } else {
            bm_strlcpy(flag, arg, sizeof flag);
        }

        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0)
            return WK_ARGS_HELP;
        if (strcmp(flag, "--verbose") == 0) {
            if (value)
                return fail(err, errlen, "--verbose 不带值 takes no value");
            o->verbose = true;
            continue;
        }
        if (strcmp(flag, "--json") == 0) {
            if (value)
                return fail(err, errlen, "--json 不带值 takes no value");
            o->json = true;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known = known || strcmp(flag, with_value[k]) == 0;
        if (!known) {
            if (arg[0] == '-')
                return fail(err, errlen, "未知选项 unknown option \"%s\" (see --help)", arg);
            return fail(err, errlen, "多余的参数 unexpected argument \"%s\" (see --help)", arg);
        }
        if (!value) {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s 需要一个值 needs a value (see --help)", flag);
            value = argv[++i];
        }

        if (strcmp(flag, "--id") == 0) {
            if (!wk_valid_id(value))
                return fail(err, errlen,
                            "--id \"%s\": 编号只能用 1-%d 个 A-Z a-z 0-9 _ . - use 1-%d of "
                            "those characters (e.g. v01)",
                            value, BM_MAX_VOL_ID, BM_MAX_VOL_ID);
            bm_strlcpy(o->id, value, sizeof o->id);
            have_id = true;
        } else if (strcmp(flag, "--name") == 0) {
            size_t n = strlen(value);
            if (n == 0 || bm_blank(value))
                return fail(err, errlen, "--name 姓名不能为空 must not be empty");
            if (n > BM_MAX_VOL_NAME)
                return fail(err, errlen,
                            "--name 姓名太长 is %zu bytes; the limit is %d bytes (约%d个汉字)", n,
                            BM_MAX_VOL_NAME, BM_MAX_VOL_NAME / 3);
            if (!bm_utf8_valid(value, n))
                return fail(err, errlen,
                            "--name 编码不对 is not valid UTF-8 (check the terminal's encoding)");
            bm_strlcpy(o->name, value, sizeof o->name);
            have_name = true;
        } else if (strcmp(flag, "--skills") == 0) {
            if (parse_skills(value, o, err, errlen) != WK_ARGS_OK)
                return WK_ARGS_ERROR;
            have_skills = true;
        } else if (strcmp(flag, "--max-jobs") == 0) {
            long n;
            if (bm_parse_long(value, 1, WK_MAX_JOBS_LIMIT, &n) != 0)
                return fail(err, errlen,
                            "--max-jobs \"%s\": 请给 1 到 %d 的整数 give a whole number from 1 "
                            "to %d", value, WK_MAX_JOBS_LIMIT, WK_MAX_JOBS_LIMIT);
            o->max_jobs = (int)n;
            o->max_jobs_given = true;
        } else if (strcmp(flag, "--key") == 0) {
            if (!value[0] || bm_strlcpy(o->key_path, value, sizeof o->key_path) != 0)
                return fail(err, errlen, "--key: 给出钥匙文件 / give your key file");
        } else if (strcmp(flag, "--broker") == 0) {
            o->broker_given = true;
            if (!value[0] || strlen(value) > WK_MAX_ENDPOINT)
                return fail(err, errlen,
                            "--broker: 请给服务站地址 give an endpoint such as " WK_DEFAULT_BROKER);
            bm_strlcpy(o->broker, value, sizeof o->broker);
        } else if (strcmp(flag, "--remind-before") == 0) {
            long n;
            if (bm_parse_long(value, 0, WK_MAX_REMIND_BEFORE_S, &n) != 0)
                return fail(err, errlen,
                            "--remind-before \"%s\": 请给 0 到 %d 的秒数 give seconds from 0 to %d",
                            value, WK_MAX_REMIND_BEFORE_S, WK_MAX_REMIND_BEFORE_S);
            o->remind_before_s = (int)n;
        } else if (strcmp(flag, "--log-level") == 0) {
            if (bm_log_level_parse(value, &o->log_level) != 0)
                return fail(err, errlen,
                            "--log-level \"%s\": 请用 use error, warn, info or debug", value);
        }
    }
    if (!o->key_path[0]) {
        const char *env = getenv("BIANMIN_KEY");
        if (env && *env)
            bm_strlcpy(o->key_path, env, sizeof o->key_path);
    }
    /* With a key, the station knows who this is and what they can fix. */
    if (o->key_path[0])
        return WK_ARGS_OK;
    if (!have_id)
        return fail(err, errlen,
                    "缺少编号 --id is required (your volunteer id, e.g. --id v01), or --key FILE");
    if (!have_name)
        return fail(err, errlen, "缺少姓名 --name is required (your name, e.g. --name 袁建成)");
    if (!have_skills)
        return fail(err, errlen, "缺少技能 --skills is required (e.g. --skills pipe,repair)");
    return WK_ARGS_OK;
}

int wk_options_load_key(wk_options_t *o, char *err, size_t errlen)
{
    if (!o->key_path[0])
        return 0;
    bm_error_t kerr = {0};
    if (bm_key_load(o->key_path, &o->key, &kerr) != 0)
    {
        fail(err, errlen, "%s", kerr.message);
        return -1;
    }
    char kind[16], principal[BM_MAX_VOL_ID + 1];
    if (bm_role_parse(o->key.role, kind, sizeof kind, principal, sizeof principal) != 0 ||
        strcmp(kind, "volunteer") != 0 || !o->key.broker_key[0]) {
        fail(err, errlen,
             "%s 不是志愿者的钥匙 (角色 %s) / %s is not a volunteer's key (role %s)", o->key_path,
             o->key.role, o->key_path, o->key.role);
        return -1;
    }
    if (o->id[0] && strcmp(o->id, principal) != 0) {
        fail(err, errlen, "--id %s 与钥匙不符（钥匙属于 %s）/ --id %s does not match the key (it is %s's)",
             o->id, principal, o->id, principal);
        return -1;
    }
    bm_strlcpy(o->id, principal, sizeof o->id);
    if (!o->name[0])
        bm_strlcpy(o->name, o->key.name[0] ? o->key.name : principal, sizeof o->name);
    if (!o->broker_given && o->key.worker_endpoint[0])
        bm_strlcpy(o->broker, o->key.worker_endpoint, sizeof o->broker);
    o->has_key = true;
    return 0;
}
