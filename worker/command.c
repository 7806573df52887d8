/* command.c - see command.h. */
#include "command.h"
#include "util.h"

#include "jsonx.h"

#include <string.h>
#include <strings.h>

#define MAX_TICKET ((int64_t)1 << 53) /* exact in a JSON number */

/* clang-format off */
const wk_cmd_spec_t wk_commands[] = {
    /* name       aliases                wire              local            args                text_key  text_max        event        flags */
    {"claim",    {"c", "接单"},          BM_CMD_CLAIM,     WK_LOCAL_NONE,   WK_ARG_TICKET,      NULL,     0,              "claimed",   WK_ADDS_JOB | WK_DROPS_OFFER,
     "claim N", "接单 take job N (first claim wins 先到先得)", "接单 42"},
    {"progress", {"p", "进展"},          BM_CMD_PROGRESS,  WK_LOCAL_NONE,   WK_ARG_TICKET_TEXT, "note",   BM_MAX_NOTE,    "progress",  WK_RENEWS_JOB | WK_TAKES_PHOTOS,
     "progress N [note] [@photo]", "进展 still working on job N: tells the resident, renews your claim's hold 接单保留续期",
     "进展 42 已到现场，需要买配件 @before:/sdcard/DCIM/leak.jpg"},
    {"done",     {"d", "完成"},          BM_CMD_DONE,      WK_LOCAL_NONE,   WK_ARG_TICKET_TEXT, "note",   BM_MAX_NOTE,    "done",      WK_DROPS_JOB | WK_TAKES_PHOTOS,
     "done N [note] [@photo]", "完成 job N is finished; the note and photos go on record 备注和照片存档",
     "完成 42 疏通完毕 @before:/sdcard/a.jpg @after:/sdcard/b.jpg"},
    {"decline",  {"no", "不接"},         BM_CMD_DECLINE,   WK_LOCAL_NONE,   WK_ARG_TICKET_TEXT, "reason", BM_MAX_REASON,  "declined",  WK_DROPS_OFFER,
     "decline N [reason]", "不接 not for me: offer N is not sent to you again", "不接 43 不在附近"},
    {"cantfix",  {"修不了", NULL},       BM_CMD_CANTFIX,   WK_LOCAL_NONE,   WK_ARG_TICKET_TEXT, "reason", BM_MAX_NOTE,    "cantfix",   WK_DROPS_JOB | WK_TEXT_REQUIRED,
     "cantfix N reason", "修不了 claimed but cannot fix: job N goes back to others (reason required 需说明原因)",
     "修不了 42 需要更换主管道"},
    {"escalate", {"上报", NULL},         BM_CMD_ESCALATE,  WK_LOCAL_NONE,   WK_ARG_TICKET_DEPT, "reason", BM_MAX_NOTE,    "escalated", WK_DROPS_JOB | WK_TEXT_REQUIRED,
     "escalate N DEPT reason", "上报 needs a department (e.g. water_company 自来水公司): job N goes to the office",
     "上报 42 water_company 小区主管道破裂"},
    {"jobs",     {"j", "我的"},          NULL,             WK_LOCAL_JOBS,   WK_ARG_NONE,        NULL,     0,              "jobs",      0,
     "jobs", "我的订单 the jobs you hold", NULL},
    {"offers",   {"o", "订单"},          NULL,             WK_LOCAL_OFFERS, WK_ARG_NONE,        NULL,     0,              "offers",    0,
     "offers", "新订单 open offers you can claim", NULL},
    {"help",     {"h", "?", "帮助"},     NULL,             WK_LOCAL_HELP,   WK_ARG_NONE,        NULL,     0,              "help",      0,
     "help", "帮助 this list", NULL},
    {"quit",     {"q", "exit", "退出"},  NULL,             WK_LOCAL_QUIT,   WK_ARG_NONE,        NULL,     0,              "quit",      0,
     "quit", "退出 exit (your jobs stay yours 订单保留)", NULL},
    {NULL,       {NULL},                 NULL,             WK_LOCAL_NONE,   WK_ARG_NONE,        NULL,     0,              NULL,        0,
     NULL, NULL, NULL},
};
/* clang-format on */

const char *const wk_help_notes[] = {
    "照片 Photos (progress, done): a word starting with @ is a photo file, at most 6, each up to "
    "8 MB, JPEG/PNG/WebP",
    "  @/sdcard/a.jpg   @before:FILE 修前 / @after:FILE 修后 (also @修前:FILE @修后:FILE)",
    "  to write a word starting with @ in a note, type @@ 例: @@王师傅 -> @王师傅",
    NULL,
};

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
    return "claim, progress, done, decline, cantfix, escalate, jobs, offers, help, quit";
}

/* Copies the word at p (up to whitespace) into buf, truncated; returns its
 * real length and advances *pp past it. */
static size_t take_word(const char **pp, char *buf, size_t len)
{
    const char *w = *pp, *p = *pp;
    while (*p && !is_space(*p))
        p++;
    size_t wlen = (size_t)(p - w);
    size_t n = wlen < len ? wlen : len - 1;
    memcpy(buf, w, n);
    buf[n] = '\0';
    *pp = p;
    return wlen;
}

/* The kind prefixes of a photo word: "@before:FILE" and friends. */
static const struct {
    const char *prefix;
    const char *kind;
} kind_prefixes[] = {
    {"before:", WK_KIND_BEFORE}, {"after:", WK_KIND_AFTER}, {"other:", WK_KIND_OTHER},
    {"修前:", WK_KIND_BEFORE},   {"修后:", WK_KIND_AFTER},  {"修前：", WK_KIND_BEFORE},
    {"修后：", WK_KIND_AFTER},   {"before：", WK_KIND_BEFORE}, {"after：", WK_KIND_AFTER},
};

/* Adds the photo word w[0..len) (after the @) to cmd. */
static wk_parse_t add_photo_word(wk_cmd_t *cmd, const char *w, size_t len, bm_error_t *err)
{
    const char *kind = WK_KIND_OTHER;
    for (size_t i = 0; i < sizeof kind_prefixes / sizeof kind_prefixes[0]; i++) {
        size_t plen = strlen(kind_prefixes[i].prefix);
        if (len >= plen && strncasecmp(w, kind_prefixes[i].prefix, plen) == 0) {
            kind = kind_prefixes[i].kind;
            w += plen;
            len -= plen;
            break;
        }
    }
    if (len == 0)
        return BAD("photos", "照片要写文件路径 a photo needs a file after the @, e.g. @/sdcard/DCIM/a.jpg "
                             "照片要写文件路径");
    if (len > WK_MAX_PATH)
        return BAD("photos", "照片路径太长 a photo path is %zu bytes; the limit is %d", len, WK_MAX_PATH);
    wk_photo_ref_t *ph = &cmd->photos[cmd->n_photos++];
    memcpy(ph->path, w, len);
    ph->path[len] = '\0';
    ph->kind = kind;
    return WK_PARSE_OK;
}

/* Reads the rest of a typed line as the text, taking @photo words out of it
 * (refused when the command takes no photos; "@@word" is the word "@word").
 * Whitespace inside the text is kept. */
static wk_parse_t parse_text_rest(const char *p, wk_cmd_t *cmd, bm_error_t *err)
{
    const wk_cmd_spec_t *spec = cmd->spec;
    bool photos = (spec->flags & WK_TAKES_PHOTOS) != 0;
    if (!bm_utf8_valid(p, strlen(p)))
        return BAD(spec->text_key, "文字编码不对 the %s is not valid UTF-8 (check the terminal's encoding)",
                   spec->text_key);
    size_t out = 0, total = 0;
    bool more = false; /* more photos than allowed: counted, reported at the end */
    size_t n_given = 0;
    for (;;) {
        const char *ws = p;
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && !is_space(*p))
            p++;
        size_t wlen = (size_t)(p - w);
        if (w[0] == '@' && !(wlen > 1 && w[1] == '@')) {
            if (!photos)
                return BAD("photos", "照片只能随进展或完成发送 photos go with progress or done, not %s; send them with "
                                     "progress %lld @FILE (to write a word starting with @, "
                                     "type @@)",
                           spec->name, (long long)cmd->ticket);
            n_given++;
            if (cmd->n_photos == BM_MAX_ATTACH) {
                more = true;
                continue;
            }
            if (add_photo_word(cmd, w + 1, wlen - 1, err) != WK_PARSE_OK)
                return WK_PARSE_ERROR;
            continue;
        }
        size_t glen = total > 0 ? (size_t)(w - ws) : 0; /* keep the spacing between words */
        if (w[0] == '@') { /* "@@word" is the word "@word" */
            w++;
            wlen--;
        }
        total += glen + wlen;
        if (total <= spec->text_max) {
            memcpy(cmd->text + out, ws, glen);
            memcpy(cmd->text + out + glen, w, wlen);
            out = total;
        }
    }
    if (more)
        return BAD("photos", "%zu photos; at most %d per message 最多 %d 张照片", n_given,
                   BM_MAX_ATTACH, BM_MAX_ATTACH);
    if (total > spec->text_max)
        return BAD(spec->text_key,
                   "文字太长 the %s is %zu bytes; the limit is %zu bytes (约%zu个汉字)",
                   spec->text_key, total, spec->text_max, spec->text_max / 3);
    cmd->text[out] = '\0';
    cmd->has_text = out > 0;
    if ((spec->flags & WK_TEXT_REQUIRED) && !cmd->has_text)
        return BAD(spec->text_key, "%s needs a %s 请说明原因; type: %s (e.g. %s)", spec->name,
                   spec->text_key, spec->usage, spec->example ? spec->example : spec->usage);
    return WK_PARSE_OK;
}

wk_parse_t wk_cmd_parse_text(const char *line, wk_cmd_t *cmd, bm_error_t *err)
{
    memset(cmd, 0, sizeof *cmd);
    const char *p = line;
    while (is_space(*p))
        p++;
    if (!*p)
        return WK_PARSE_EMPTY;

    char word[32];
    take_word(&p, word, sizeof word);
    const wk_cmd_spec_t *spec = wk_cmd_find(word, true);
    if (!spec)
        return BAD(NULL, "unknown command \"%s\" 未知命令; type help (commands: %s)", word,
                   known_list());
    cmd->spec = spec;

    while (is_space(*p))
        p++;
    if (spec->args == WK_ARG_NONE) {
        if (*p)
            return BAD(NULL, "后面不用写别的 %s takes nothing after it; type just: %s",
                       spec->name, spec->name);
        return WK_PARSE_OK;
    }

    if (!*p)
        return BAD("ticket", "哪一单 which job? type: %s (e.g. %s 42)", spec->usage, spec->name);
    char num[32];
    const char *t = p;
    if (*t == '#')
        t++;
    size_t tlen = take_word(&t, num, sizeof num);
    p = t;
    long ticket = 0;
    if (tlen == 0 || tlen >= sizeof num ||
        bm_parse_long(num, 1, (long)MAX_TICKET, &ticket) != 0)
        return BAD("ticket", "\"%s\" is not a job number 单号; type: %s 42", num, spec->name);
    cmd->ticket = ticket;

    while (is_space(*p))
        p++;
    if (spec->args == WK_ARG_TICKET) {
        if (*p)
            return BAD(NULL, "只要单号 %s takes only the job number; type: %s", spec->name,
                       spec->usage);
        return WK_PARSE_OK;
    }
    if (spec->args == WK_ARG_TICKET_DEPT) {
        if (!*p)
            return BAD("department", "which department 哪个部门? type: %s (e.g. %s)",
                       spec->usage, spec->example);
        char dept[BM_MAX_DEPARTMENT + 2];
        size_t dlen = take_word(&p, dept, sizeof dept);
        if (dlen > BM_MAX_DEPARTMENT)
            return BAD("department", "部门名太长 the department is %zu bytes; the limit is %d", dlen,
                       BM_MAX_DEPARTMENT);
        if (!bm_utf8_valid(dept, dlen))
            return BAD("department", "部门名编码不对 the department is not valid UTF-8");
        memcpy(cmd->department, dept, dlen + 1);
    }
    return parse_text_rest(p, cmd, err);
}

/* Reads "photos": [PATH | {"path": PATH, "kind": KIND}, ...]. */
static wk_parse_t parse_json_photos(const cJSON *obj, wk_cmd_t *cmd, bm_error_t *err)
{
    const cJSON *photos = cJSON_GetObjectItemCaseSensitive(obj, "photos");
    if (!photos || cJSON_IsNull(photos))
        return WK_PARSE_OK;
    if (!(cmd->spec->flags & WK_TAKES_PHOTOS))
        return BAD("photos", "不带照片 %s takes no photos (only progress and done do)",
                   cmd->spec->name);
    if (!cJSON_IsArray(photos))
        return BAD("photos", "照片格式不对 \"photos\" must be an array of paths or {\"path\",\"kind\"}");
    int n = cJSON_GetArraySize(photos);
    if (n > BM_MAX_ATTACH)
        return BAD("photos", "照片太多 %d photos; at most %d per message", n, BM_MAX_ATTACH);
    for (const cJSON *it = photos->child; it; it = it->next) {
        const char *path = NULL, *kind = NULL;
        if (cJSON_IsString(it)) {
            path = it->valuestring;
        } else if (cJSON_IsObject(it)) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "kind");
            path = cJSON_IsString(p) ? p->valuestring : NULL;
            if (k && !cJSON_IsNull(k)) {
                if (!cJSON_IsString(k))
                    return BAD("photos", "照片类别 a photo's \"kind\" is before, after or other");
                kind = k->valuestring;
            }
            if (!path)
                return BAD("photos", "照片要有路径 each photo needs a \"path\" string");
        } else {
            return BAD("photos", "照片格式不对 each photo is a path string or {\"path\",\"kind\"}");
        }
        const char *k = WK_KIND_OTHER;
        if (kind && strcmp(kind, WK_KIND_BEFORE) == 0)
            k = WK_KIND_BEFORE;
        else if (kind && strcmp(kind, WK_KIND_AFTER) == 0)
            k = WK_KIND_AFTER;
        else if (kind && strcmp(kind, WK_KIND_OTHER) != 0)
            return BAD("photos", "照片类别不对 photo kind \"%.32s\" is not before, after or other", kind);
        size_t len = strlen(path);
        if (len == 0 || bm_blank(path))
            return BAD("photos", "照片路径是空的 a photo path is empty");
        if (len > WK_MAX_PATH)
            return BAD("photos", "照片路径太长 a photo path is %zu bytes; the limit is %d", len, WK_MAX_PATH);
        wk_photo_ref_t *ph = &cmd->photos[cmd->n_photos++];
        memcpy(ph->path, path, len + 1);
        ph->kind = k;
    }
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
        bm_error_set(err, WK_ERR_BAD_INPUT, NULL, "这一行太长 line is over %d bytes", WK_MAX_LINE);
        return WK_PARSE_ERROR;
    }
    if (!bm_utf8_valid(line, len))
        return BAD(NULL, "这一行编码不对 line is not valid UTF-8");

    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, false);
    wk_parse_t rc = WK_PARSE_ERROR;
    if (!obj || !cJSON_IsObject(obj)) {
        (void)BAD(NULL, "每行应是一个 JSON 对象 expected one JSON object per line, e.g. {\"cmd\":\"jobs\"}");
        goto out;
    }
    for (; end && end < line + len; end++) {
        if (!is_space(*end)) {
            (void)BAD(NULL, "JSON 对象后面有多余内容 trailing data after the JSON object");
            goto out;
        }
    }

    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (id && !cJSON_IsNull(id)) {
        if (!cJSON_IsString(id) || strlen(id->valuestring) > WK_MAX_BRIDGE_ID) {
            bm_error_set(err, WK_ERR_BAD_INPUT, "id",
                         "id 应是不超过 %d 字节的字符串 \"id\" must be a string of at most %d "
                         "bytes", WK_MAX_BRIDGE_ID, WK_MAX_BRIDGE_ID);
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
        (void)BAD("cmd", "未知命令 unknown command \"%s\" (commands: %s)", name, known_list());
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
    if (spec->args == WK_ARG_TICKET_DEPT) {
        const char *dept = NULL;
        if (bm_json_str(obj, "department", true, BM_MAX_DEPARTMENT, &dept, err) != 0) {
            err->code = WK_ERR_BAD_INPUT;
            goto out;
        }
        bm_strlcpy(cmd->department, dept, sizeof cmd->department);
    }
    if (spec->text_key) {
        const char *text = NULL;
        bool required = (spec->flags & WK_TEXT_REQUIRED) != 0;
        if (bm_json_str(obj, spec->text_key, required, spec->text_max, &text, err) != 0) {
            err->code = WK_ERR_BAD_INPUT;
            goto out;
        }
        if (text && !bm_blank(text)) {
            bm_strlcpy(cmd->text, text, sizeof cmd->text);
            cmd->has_text = true;
        }
    }
    if (parse_json_photos(obj, cmd, err) != WK_PARSE_OK)
        goto out;
    rc = WK_PARSE_OK;
out:
    cJSON_Delete(obj);
    return rc;
}
