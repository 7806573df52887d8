/* command.c - see command.h. */
#include "command.h"
#include "util.h"

#include "jsonx.h"

#include <string.h>
#include <strings.h>

#define MAX_TICKET ((int64_t)1 << 53) /* exact in a JSON number */

/* clang-format off */
const wk_cmd_spec_t wk_commands[] = {
    /* name     aliases               wire          local            args                event      flags                       usage            help */
    {"claim",  {"c", "接单"},         BM_CMD_CLAIM, WK_LOCAL_NONE,   WK_ARG_TICKET,      "claimed", WK_ADDS_JOB | WK_DROPS_OFFER, "claim N",     "接单 take job N (first claim wins 先到先得)"},
    {"done",   {"d", "完成"},         BM_CMD_DONE,  WK_LOCAL_NONE,   WK_ARG_TICKET_NOTE, "done",    WK_DROPS_JOB,               "done N [note]", "完成 job N is finished; the note goes on record 备注"},
    {"jobs",   {"j", "我的"},         NULL,         WK_LOCAL_JOBS,   WK_ARG_NONE,        "jobs",    0,                          "jobs",          "我的订单 the jobs you hold"},
    {"offers", {"o", "订单"},         NULL,         WK_LOCAL_OFFERS, WK_ARG_NONE,        "offers",  0,                          "offers",        "新订单 open offers you can claim"},
    {"help",   {"h", "?", "帮助"},    NULL,         WK_LOCAL_HELP,   WK_ARG_NONE,        "help",    0,                          "help",          "帮助 this list"},
    {"quit",   {"q", "exit", "退出"}, NULL,         WK_LOCAL_QUIT,   WK_ARG_NONE,        "quit",    0,                          "quit",          "退出 exit (your jobs stay yours 订单保留)"},
    {NULL,     {NULL},                NULL,         WK_LOCAL_NONE,   WK_ARG_NONE,        NULL,      0,                          NULL,            NULL},
};
/* clang-format on */

const wk_cmd_spec_t *wk_cmd_find(const char *name, bool aliases)
{
    for (const wk_cmd_spec_t *s = wk_commands; s->name; s++) {
        if (strcasecmp(s->name, name) == 0)
            return s;
        if (!aliases)
            continue;
        for (size_t i = 0; i < sizeof s->aliases / sizeof s->aliases[0] && s->aliases[i]; i++) {
            if (strcasecmp(s->aliases[i], name) == 0)
                return s;
        }
    }
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Sets a bad_input error and evaluates to WK_PARSE_ERROR. */
#define BAD(field, ...) \
    (bm_error_set(err, WK_ERR_BAD_INPUT, (field), __VA_ARGS__), WK_PARSE_ERROR)

static const char *known_list(void)
{
    return "claim, done, jobs, offers, help, quit";
}

wk_parse_t wk_cmd_parse_text(const char *line, wk_cmd_t *cmd, bm_error_t *err)
{
    memset(cmd, 0, sizeof *cmd);
    const char *p = line;
    while (is_space(*p))
        p++;
    if (!*p)
        return WK_PARSE_EMPTY;

    const char *w = p;
    while (*p && !is_space(*p))
        p++;
    char word[32];
    size_t wlen = (size_t)(p - w);
    if (wlen >= sizeof word)
        wlen = sizeof word - 1;
    memcpy(word, w, wlen);
    word[wlen] = '\0';

    const wk_cmd_spec_t *spec = wk_cmd_find(word, true);
    if (!spec)
        return BAD(NULL, "unknown command \"%s\" 未知命令; type help (commands: %s)", word,
                   known_list());
    cmd->spec = spec;

    while (is_space(*p))
        p++;
    if (spec->args == WK_ARG_NONE) {
        if (*p)
            return BAD(NULL, "%s takes nothing after it; type just: %s", spec->name,
                       spec->name);
        return WK_PARSE_OK;
    }

    if (!*p)
        return BAD("ticket", "which job? type: %s (e.g. %s 42)", spec->usage, spec->name);
    const char *t = p;
    while (*p && !is_space(*p))
        p++;
    char num[32];
    size_t tlen = (size_t)(p - t);
    if (*t == '#') {
        t++;
        tlen--;
    }
    long ticket = 0;
    if (tlen == 0 || tlen >= sizeof num) {
        tlen = tlen >= sizeof num ? sizeof num - 1 : tlen;
        memcpy(num, t, tlen);
        num[tlen] = '\0';
        return BAD("ticket", "\"%s\" is not a job number 单号; type: %s 42", num,
                   spec->name);
    }
    memcpy(num, t, tlen);
    num[tlen] = '\0';
    if (bm_parse_long(num, 1, (long)MAX_TICKET, &ticket) != 0)
        return BAD("ticket", "\"%s\" is not a job number 单号; type: %s 42", num,
                   spec->name);
    cmd->ticket = ticket;

    while (is_space(*p))
        p++;
    if (spec->args == WK_ARG_TICKET) {
        if (*p)
            return BAD(NULL, "%s takes only the job number; type: %s", spec->name,
                       spec->usage);
        return WK_PARSE_OK;
    }
    /* The note: the rest of the line, trimmed. */
    size_t nlen = strlen(p);
    while (nlen > 0 && is_space(p[nlen - 1]))
        nlen--;
    if (nlen > BM_MAX_NOTE) {
        bm_error_set(err, WK_ERR_BAD_INPUT, "note", "the note is %zu bytes; the limit is %d",
                     nlen, BM_MAX_NOTE);
        return WK_PARSE_ERROR;
    }
    if (!bm_utf8_valid(p, nlen))
        return BAD("note", "the note is not valid UTF-8 (check the terminal's encoding)");
    memcpy(cmd->note, p, nlen);
    cmd->note[nlen] = '\0';
    cmd->has_note = nlen > 0;
    return WK_PARSE_OK;
}

wk_parse_t wk_cmd_parse_json(const char *line, size_t len, wk_cmd_t *cmd, bm_error_t *err)
{
    memset(cmd, 0, sizeof *cmd);
    size_t i = 0;
    while (i < len && is_space(line[i]))
        i++;
    if (i == len)
        return WK_PARSE_EMPTY;
    if (len > WK_MAX_LINE) {
        bm_error_set(err, WK_ERR_BAD_INPUT, NULL, "line is over %d bytes", WK_MAX_LINE);
        return WK_PARSE_ERROR;
    }
    if (!bm_utf8_valid(line, len))
        return BAD(NULL, "line is not valid UTF-8");

    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, false);
    wk_parse_t rc = WK_PARSE_ERROR;
    if (!obj || !cJSON_IsObject(obj)) {
        (void)BAD(NULL, "expected one JSON object per line, e.g. {\"cmd\":\"jobs\"}");
        goto out;
    }
    for (; end && end < line + len; end++) {
        if (!is_space(*end)) {
            (void)BAD(NULL, "trailing data after the JSON object");
            goto out;
        }
    }

    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (id && !cJSON_IsNull(id)) {
        if (!cJSON_IsString(id) || strlen(id->valuestring) > WK_MAX_BRIDGE_ID) {
            bm_error_set(err, WK_ERR_BAD_INPUT, "id",
                         "\"id\" must be a string of at most %d bytes", WK_MAX_BRIDGE_ID);
            goto out;
        }
        bm_strlcpy(cmd->bridge_id, id->valuestring, sizeof cmd->bridge_id);
        cmd->has_bridge_id = true;
    }

    const char *name = NULL;
    if (bm_json_str(obj, "cmd", true, 32, &name, err) != 0) {
        err->code = WK_ERR_BAD_INPUT;
        goto out;
    }
    const wk_cmd_spec_t *spec = wk_cmd_find(name, false);
    if (!spec) {
        (void)BAD("cmd", "unknown command \"%s\" (commands: %s)", name, known_list());
        goto out;
    }
    cmd->spec = spec;
    if (spec->args != WK_ARG_NONE) {
        int64_t ticket = 0;
        if (bm_json_int(obj, "ticket", true, 1, MAX_TICKET, &ticket, err) != 0) {
            err->code = WK_ERR_BAD_INPUT;
            goto out;
        }
        cmd->ticket = ticket;
    }
    if (spec->args == WK_ARG_TICKET_NOTE) {
        const char *note = NULL;
        if (bm_json_str(obj, "note", false, BM_MAX_NOTE, &note, err) != 0) {
            err->code = WK_ERR_BAD_INPUT;
            goto out;
        }
        if (note && !bm_blank(note)) {
            bm_strlcpy(cmd->note, note, sizeof cmd->note);
            cmd->has_note = true;
        }
    }
    rc = WK_PARSE_OK;
out:
    cJSON_Delete(obj);
    return rc;
}
