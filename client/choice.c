/* choice.c - checking an enumerated value typed on the command line
 * (category, channel, status, skill, department): the wire name, a Chinese
 * label translated to it, or a refusal that lists the valid choices and
 * suggests the closest (lib/suggest.h). The choices are the built-in
 * defaults, or those of the config named by $BIANMIN_CONFIG; without it, a
 * value that is not among the defaults is checked against the station's own
 * lists, asked from the broker once (`choices`). */
#include "cli.h"
#include "config.h"
#include "protocol.h"
#include "suggest.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CHOICES 64

static const char *const statuses[][2] = {
    {"open", "待接单"},     {"claimed", "处理中"},  {"done", "已完成"},
    {"escalated", "已上报"}, {"resolved", "已解决"}, {"cancelled", "已取消"},
};

static const char *const kind_words[][2] = {
    [CLI_CHOICE_CATEGORY] = {"类别", "category"},   [CLI_CHOICE_CHANNEL] = {"渠道", "channel"},
    [CLI_CHOICE_STATUS] = {"状态", "status"},       [CLI_CHOICE_SKILL] = {"技能", "skill"},
    [CLI_CHOICE_DEPARTMENT] = {"部门", "department"},
};

static bm_config_t in_force; /* the choices in force */
static bool loaded;          /* in_force holds the defaults or $BIANMIN_CONFIG's */
static bool from_config;     /* ... and $BIANMIN_CONFIG named a config */
static cli_ctx_t *asker;     /* whom to ask for the station's choices; NULL: nobody */
static bool asked;           /* the broker was asked already (answered or not) */

/* The choices in force: defaults, or $BIANMIN_CONFIG's. */
static const bm_config_t *choices_config(void)
{
    if (!loaded) {
        bm_config_defaults(&in_force);
        const char *path = getenv(CLI_ENV_CONFIG);
        bm_error_t err = {0};
        from_config = path && *path;
        if (path && *path && bm_config_load(&in_force, path, &err) != 0) {
            fprintf(stderr, "bianmin: %s=%s: ", CLI_ENV_CONFIG, path);
            cli_put_text(stderr, err.message, 0);
            fputs("（按默认值检查 / checking against the defaults）\n", stderr);
            bm_config_defaults(&in_force);
        }
        loaded = true;
    }
    return &in_force;
}

void cli_choices_ask(cli_ctx_t *ctx)
{
    asker = ctx;
}

/* Replaces the categories, channels and departments in force with those of
 * a `choices` reply. Returns 0, or -1 (nothing changed) if the reply is not
 * one. */
static int take_choices(const cJSON *reply)
{
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(reply, "categories");
    const cJSON *chans = cJSON_GetObjectItemCaseSensitive(reply, "channels");
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(reply, "departments");
    if (!cJSON_IsArray(cats) || !cJSON_IsArray(chans) || !cJSON_IsArray(deps))
        return -1;
    bm_config_t got = in_force;
    got.category_count = got.channel_count = got.department_count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cats) {
        const char *name = cli_json_str(it, "name"), *label = cli_json_str(it, "label");
        if (!name || got.category_count >= BM_MAX_CATEGORIES)
            continue;
        bm_category_t *c = &got.categories[got.category_count++];
        memset(c, 0, sizeof *c);
        bm_strlcpy(c->name, name, sizeof c->name);
        bm_strlcpy(c->label, label ? label : "", sizeof c->label);
    }
    cJSON_ArrayForEach(it, chans) {
        if (cJSON_IsString(it) && got.channel_count < BM_MAX_CHANNELS)
            bm_strlcpy(got.channels[got.channel_count++], it->valuestring, sizeof got.channels[0]);
    }
    cJSON_ArrayForEach(it, deps) {
        const char *id = cli_json_str(it, "id"), *name = cli_json_str(it, "name");
        if (!id || got.department_count >= BM_MAX_DEPARTMENTS)
            continue;
        bm_department_t *d = &got.departments[got.department_count++];
        memset(d, 0, sizeof *d);
        bm_strlcpy(d->id, id, sizeof d->id);
        bm_strlcpy(d->name, name ? name : "", sizeof d->name);
    }
    in_force = got;
    return 0;
}

/* Asks the broker once for the station's choices (when no $BIANMIN_CONFIG
 * says them and someone to ask is set). Returns true if they replaced the
 * defaults. A broker that cannot answer leaves the defaults in force: the
 * call that follows reports it. */
static bool ask_station(void)
{
    choices_config();
    if (asked || from_config || !asker)
        return false;
    asked = true;
    if (!asker->rpc)
        asker->rpc = bm_rpc_new_auth(asker->endpoint, asker->key);
    if (!asker->rpc)
        return false;
    cJSON *body = cJSON_CreateObject(), *reply = NULL;
    bm_error_t err = {0};
    bool ok = body && bm_rpc_call(asker->rpc, BM_CMD_CHOICES, body, asker->timeout_ms, &reply,
                                  &err) == BM_RPC_OK &&
              take_choices(reply) == 0;
    cJSON_Delete(body);
    cJSON_Delete(reply);
    return ok;
}

/* Fills names[] and labels[] (label may be NULL) with the choices of kind. */
static size_t list_choices(cli_choice_t kind, const char **names, const char **labels)
{
    const bm_config_t *cfg = choices_config();
    size_t n = 0;
    switch (kind) {
    case CLI_CHOICE_CATEGORY:
    case CLI_CHOICE_SKILL:
        for (int i = 0; i < cfg->category_count && n < MAX_CHOICES; i++, n++) {
            names[n] = cfg->categories[i].name;
            labels[n] = cfg->categories[i].label;
        }
        break;
    case CLI_CHOICE_CHANNEL:
        for (int i = 0; i < cfg->channel_count && n < MAX_CHOICES; i++, n++) {
            names[n] = cfg->channels[i];
            labels[n] = cli_channel_label(cfg->channels[i]);
        }
        break;
    case CLI_CHOICE_STATUS:
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++, n++) {
            names[n] = statuses[i][0];
            labels[n] = statuses[i][1];
        }
        break;
    case CLI_CHOICE_DEPARTMENT:
        for (int i = 0; i < cfg->department_count && n < MAX_CHOICES; i++, n++) {
            names[n] = cfg->departments[i].id;
            labels[n] = cfg->departments[i].name;
        }
        break;
    }
    return n;
}

/* The name of the choice that value names (by name or label), or NULL. */
static const char *find_choice(const char *const *names, const char *const *labels, size_t n,
                               const char *value)
{
    for (size_t i = 0; value && i < n; i++) {
        if (strcmp(names[i], value) == 0 || (labels[i] && strcmp(labels[i], value) == 0))
            return names[i];
    }
    return NULL;
}

const char *cli_check_choice(cli_choice_t kind, const char *flag, const char *value, char *err,
                             size_t errlen)
{
    const char *names[MAX_CHOICES], *labels[MAX_CHOICES];
    size_t n = list_choices(kind, names, labels);
    const char *found = find_choice(names, labels, n, value);
    /* Not a default: the station may be configured otherwise; its own lists
     * decide (statuses are the same everywhere). */
    if (!found && kind != CLI_CHOICE_STATUS && ask_station()) {
        n = list_choices(kind, names, labels);
        found = find_choice(names, labels, n, value);
    }
    if (found)
        return found;
    /* The closest by name or by label. */
    const char *near = bm_suggest(value, names, n);
    if (!near) {
        const char *by_label = bm_suggest(value, labels, n);
        for (size_t i = 0; by_label && i < n; i++) {
            if (labels[i] == by_label)
                near = names[i];
        }
    }
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used + 1 < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s%s%s", i ? ", " : "", names[i],
                         labels[i] ? " " : "", labels[i] ? labels[i] : "");
        if (w < 0)
            break;
        used += (size_t)w < sizeof list - used ? (size_t)w : sizeof list - used - 1;
    }
    const char *zh = kind_words[kind][0], *en = kind_words[kind][1];
    int w = snprintf(err, errlen, "%s: 未知%s \"%.40s\" / unknown %s \"%.40s\"", flag, zh,
                     value ? value : "", en, value ? value : "");
    size_t at = w > 0 && (size_t)w < errlen ? (size_t)w : errlen ? errlen - 1 : 0;
    if (near && at < errlen) {
        const char *label = NULL;
        for (size_t i = 0; i < n; i++) {
            if (names[i] == near)
                label = labels[i];
        }
        w = snprintf(err + at, errlen - at, "；您是不是要 / did you mean: %s%s%s?", near,
                     label ? " " : "", label ? label : "");
        at += w > 0 && (size_t)w < errlen - at ? (size_t)w : errlen - at - 1;
    }
    if (at < errlen)
        snprintf(err + at, errlen - at, "；可选 / choices: %s", list);
    return NULL;
}
