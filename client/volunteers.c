/* volunteers.c - `bianmin volunteers`: who is on duty, what they can do and
 * which jobs they hold, for the office. */
#include "cli.h"

#include <string.h>

#define VOL_COLS 6
#define MAX_CELL 512

void cli_volunteers_help(FILE *out)
{
    fputs("用法 / usage: bianmin [global options] volunteers\n"
          "\n"
          "列出服务站知道的志愿者：编号、姓名、技能、现在是否在线（在线：能收到新订单；\n"
          "离线的志愿者仍保留已接的单）、手上的单（已接/上限和工单号）、最后出现时间\n"
          "（本地时间）。--json：服务站的回复为一行 JSON。\n"
          "Lists the volunteers the broker knows: id, name, skills, whether they are\n"
          "online now (在线: able to get offers; 离线: a volunteer offline still keeps\n"
          "the jobs they claimed), the jobs they hold as held/max and the tickets, and\n"
          "when they were last seen (local time). With --json prints the broker's reply\n"
          "as one JSON line.\n",
          out);
}

static const cli_column_t vol_cols[VOL_COLS] = {
    {"编号 id", 0, false},      {"姓名 name", CLI_LIST_MAX_NAME, false},
    {"技能 skills", 40, false}, {"在线 online", 0, false},
    {"接单 jobs", 30, false},   {"最近在线 last seen", 0, false},
};

/* Appends text to buf (size len, holding *used bytes), cutting only at a
 * character boundary; buf stays NUL-terminated. */
static void append(char *buf, size_t len, size_t *used, const char *text)
{
    size_t n = strlen(text);
    if (n > len - *used - 1) {
        n = len - *used - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf + *used, text, n);
    *used += n;
    buf[*used] = '\0';
}

static void volunteer_row(cli_table_t *t, const cJSON *v)
{
    char skills[MAX_CELL] = "", jobs[MAX_CELL] = "", when[64];
    size_t used = 0;
    const cJSON *item = NULL;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(v, "skills");
    if (!cJSON_IsArray(arr))
        arr = NULL;
    cJSON_ArrayForEach(item, arr)
    {
        if (!cJSON_IsString(item))
            continue;
        const char *label = cli_category_label(item->valuestring);
        if (used > 0)
            append(skills, sizeof skills, &used, "、");
        append(skills, sizeof skills, &used, label ? label : item->valuestring);
    }

    const cJSON *held = cJSON_GetObjectItemCaseSensitive(v, "jobs");
    if (!cJSON_IsArray(held))
        held = NULL;
    const cJSON *max_jobs = cJSON_GetObjectItemCaseSensitive(v, "max_jobs");
    int n = held ? cJSON_GetArraySize(held) : 0;
    char num[48];
    used = 0;
    if (cJSON_IsNumber(max_jobs))
        snprintf(num, sizeof num, "%d/%ld", n, (long)max_jobs->valuedouble);
    else
        snprintf(num, sizeof num, "%d", n);
    append(jobs, sizeof jobs, &used, num);
    cJSON_ArrayForEach(item, held)
    {
        if (!cJSON_IsNumber(item))
            continue;
        snprintf(num, sizeof num, " #%ld", (long)item->valuedouble);
        append(jobs, sizeof jobs, &used, num);
    }

    bool online = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "online"));
    const char *cells[VOL_COLS] = {
        cli_json_str(v, "id") ? cli_json_str(v, "id") : "?",
        cli_json_str(v, "name") ? cli_json_str(v, "name") : "-",
        skills[0] ? skills : "-",
        online ? "在线 online" : "离线 offline",
        jobs,
        cli_local_time(cli_json_str(v, "last_seen"), when, sizeof when),
    };
    cli_table_add(t, cells);
}

void cli_format_volunteers(FILE *out, const cJSON *reply)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(reply, "volunteers");
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n == 0) {
        fputs("还没有志愿者 / no volunteers yet (a volunteer appears once bianmin-worker has said hello)\n",
              out);
        return;
    }
    cli_table_t *t = cli_table_new(vol_cols, VOL_COLS);
    if (!t)
        return;
    int online = 0;
    const cJSON *v = NULL;
    cJSON_ArrayForEach(v, arr)
    {
        volunteer_row(t, v);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "online")))
            online++;
    }
    cli_table_print(t, out);
    cli_table_destroy(&t);
    fprintf(out, "%d 位志愿者 volunteer%s，%d 位在线 online\n", n, n == 1 ? "" : "s", online);
}

static void print_volunteers(FILE *out, const char *cmd, const cJSON *sent, const cJSON *reply)
{
    (void)cmd, (void)sent;
    cli_format_volunteers(out, reply);
}

int cli_volunteers_run(cli_ctx_t *ctx, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_volunteers_help(stdout);
            return CLI_EXIT_OK;
        }
        char err[160];
        snprintf(err, sizeof err, "多余的参数 / unexpected argument \"%.40s\"", argv[i]);
        return cli_usage_error("volunteers", err);
    }
    cJSON *body = cJSON_CreateObject();
    int rc = cli_call_print(ctx, BM_CMD_VOLUNTEERS, body, print_volunteers);
    cJSON_Delete(body);
    return rc;
}
