/* choice.c - checking an enumerated value typed on the command line
 * (category, channel, status, skill, department): the wire name, a Chinese
 * label translated to it, or a refusal that lists the valid choices and
 * suggests the closest (lib/suggest.h). The choices are the built-in
 * defaults, or those of the config named by $BIANMIN_CONFIG. */
#include "cli.h"
#include "config.h"
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

/* The choices in force: defaults, or $BIANMIN_CONFIG's. */
static const bm_config_t *choices_config(void)
{
    static bm_config_t cfg;
    static bool loaded;
    if (!loaded) {
        bm_config_defaults(&cfg);
        const char *path = getenv(CLI_ENV_CONFIG);
        bm_error_t err = {0};
        if (path && *path && bm_config_load(&cfg, path, &err) != 0) {
            fprintf(stderr, "bianmin: %s=%s: ", CLI_ENV_CONFIG, path);
            cli_put_text(stderr, err.message, 0);
            fputs("（按默认值检查 / checking against the defaults）\n", stderr);
            bm_config_defaults(&cfg);
        }
        loaded = true;
    }
    return &cfg;
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

const char *cli_check_choice(cli_choice_t kind, const char *flag, const char *value, char *err,
                             size_t errlen)
{
    const char *names[MAX_CHOICES], *labels[MAX_CHOICES];
    size_t n = list_choices(kind, names, labels);
    for (size_t i = 0; value && i < n; i++) {
        if (strcmp(names[i], value) == 0 || (labels[i] && strcmp(labels[i], value) == 0))
            return names[i];
    }
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
