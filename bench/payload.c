/* payload.c - realistic submit bodies from the NYC 311 sample: the
 * complaint type decides the category (../shared/data/README.md), the borough
 * the building, and the text is ~300 bytes of Chinese as a building leader
 * would type it. Dirty rows are rejected and counted, never trusted. */
#include "bench.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *type, *category;
} category_map[] = {
    {"PLUMBING", "pipe"},   {"General Construction/Plumbing", "pipe"}, {"Sewer", "pipe"},
    {"WATER LEAK", "leak"}, {"Water System", "leak"},                  {"DOOR/WINDOW", "lock"},
    {"ELECTRIC", "repair"}, {"HEAT/HOT WATER", "repair"},
};

static const struct {
    const char *borough, *name;
} boroughs[] = {
    {"BRONX", "布朗克斯"}, {"BROOKLYN", "布鲁克林"}, {"MANHATTAN", "曼哈顿"},
    {"QUEENS", "皇后"},    {"STATEN ISLAND", "史泰登岛"},
};

static const char *const problems_pipe[] = {
    "厨房下水道堵了，水排不下去，已经两天了，碗都没法洗。",
    "卫生间马桶堵塞，一冲水就往外冒，地上全是水。",
    "楼道的排污管有很大的异味，下水特别慢，邻居也在反映。",
};
static const char *const problems_leak[] = {
    "楼上漏水，天花板一直在滴水，墙皮已经鼓起来了。",
    "自来水管接头漏水，地上积了一滩水，总阀关不紧。",
    "暖气管道漏水，水流到楼下邻居家里去了，很着急。",
};
static const char *const problems_lock[] = {
    "入户门的锁坏了，钥匙插进去转不动，人在门外进不去。",
    "窗户的锁扣松了关不严，晚上刮风响，不安全。",
    "单元门的门禁锁失灵，老人出入很不方便。",
};
static const char *const problems_repair[] = {
    "暖气不热，屋里只有十几度，孩子已经感冒了。",
    "家里跳闸以后一直没电，冰箱里的东西快坏了。",
    "热水器不出热水，插座有一股焦味，不敢再用了。",
};
static const char *const details[] = {
    "家里白天只有老人在，来之前请先打电话。",
    "住户是独居老人，腿脚不方便，需要师傅上门。",
    "晚上七点以后家里有人，周末全天都在。",
    "楼长已经去看过，确实需要专业的师傅处理。",
};
static const char *const closings[] = {
    "麻烦社区尽快安排志愿者，谢谢！",
    "如果今天来不了，请告诉一声大概什么时候能来。",
    "需要买什么配件可以先说，住户愿意自己出钱。",
};
static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨",
                                       "黄", "赵", "周", "吴", "罗", "袁"};
static const char *const channels[] = {"building_leader", "council", "forum", "office"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const *problems_for(const char *category)
{
    if (strcmp(category, "pipe") == 0)
        return problems_pipe;
    if (strcmp(category, "leak") == 0)
        return problems_leak;
    if (strcmp(category, "lock") == 0)
        return problems_lock;
    return problems_repair;
}

/* Splits a line into exactly 5 comma-separated fields (no quoting: a quoted
 * line is one of the dirty ones). Returns 0 or -1. */
static int split5(char *line, char *f[5])
{
    if (strchr(line, '"'))
        return -1;
    int n = 0;
    char *p = line;
    while (n < 5) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return (n == 5 && !strchr(f[4], ',')) ? 0 : -1;
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static void append(char *buf, size_t cap, const char *s)
{
    size_t len = strlen(buf);
    if (len < cap)
        bm_strlcpy(buf + len, s, cap - len);
}

static void build_row(bench_row_t *r, const char *key, const char *created, const char *type,
                      const char *category, const char *borough_name)
{
    long k = 0;
    bm_parse_long(key, 0, 999999999999L, &k);
    bm_strlcpy(r->key, key, sizeof r->key);
    r->category = category;
    r->channel = channels[k % 4];
    snprintf(r->building, sizeof r->building, "%s小区 %ld栋", borough_name, k % 37 + 1);
    snprintf(r->unit, sizeof r->unit, "%ld-%ld%02ld", k % 6 + 1, k % 18 + 1, k % 4 + 1);
    snprintf(r->contact, sizeof r->contact, "%s%s 13%09ld", surnames[k % N_OF(surnames)],
             k % 2 ? "女士" : "先生", k % 1000000000L);
    const char *const *problems = problems_for(category);
    r->text[0] = '\0';
    append(r->text, sizeof r->text, problems[k % 3]);
    append(r->text, sizeof r->text, details[(k / 3) % N_OF(details)]);
    char tail[160];
    snprintf(tail, sizeof tail, "报修时间 %s，原始记录 NYC311 #%s（%s）。", created, key, type);
    append(r->text, sizeof r->text, tail);
    for (size_t i = 0; i < N_OF(closings) && strlen(r->text) < 290; i++)
        append(r->text, sizeof r->text, closings[(k + i) % N_OF(closings)]);
}

int rows_load(const char *path, bench_rows_t *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s (give --data PATH)\n", path);
        return -1;
    }
    size_t cap = 4096;
    out->rows = calloc(cap, sizeof *out->rows);
    char line[1024];
    long lines = 0;
    while (out->rows && lines < 10000000 && fgets(line, sizeof line, f)) {
        lines++;
        line[strcspn(line, "\r\n")] = '\0';
        char *fld[5];
        if (split5(line, fld) != 0 || !all_digits(fld[0], 6, 12)) {
            out->rejected++;
            continue;
        }
        const char *borough = NULL;
        for (size_t i = 0; i < N_OF(boroughs); i++) {
            if (strcmp(fld[4], boroughs[i].borough) == 0)
                borough = boroughs[i].name;
        }
        if (!borough) {
            out->rejected++;
            continue;
        }
        const char *category = NULL;
        for (size_t i = 0; i < N_OF(category_map); i++) {
            if (strcmp(fld[3], category_map[i].type) == 0)
                category = category_map[i].category;
        }
        if (!category) {
            out->skipped_other++;
            continue;
        }
        if (out->n == cap) {
            bench_row_t *grown = realloc(out->rows, cap * 2 * sizeof *grown);
            if (!grown)
                break;
            out->rows = grown;
            cap *= 2;
        }
        build_row(&out->rows[out->n++], fld[0], fld[1], fld[3], category, borough);
    }
    fclose(f);
    if (!out->rows || out->n == 0) {
        fprintf(stderr, "bench: no usable rows in %s\n", path);
        rows_free(out);
        return -1;
    }
    return 0;
}

void rows_free(bench_rows_t *r)
{
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}

bench_payload_t *payloads_make(const bench_rows_t *rows, long n, const char *callback_base,
                               const char *dead_url, long dead_every)
{
    bench_payload_t *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p)
        return NULL;
    for (long i = 0; i < n; i++) {
        const bench_row_t *r = &rows->rows[(size_t)i % rows->n];
        p[i].row = r;
        snprintf(p[i].ref, sizeof p[i].ref, "nyc311-%s-%ld", r->key, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "channel", r->channel);
        cJSON_AddStringToObject(o, "category", r->category);
        cJSON_AddStringToObject(o, "building", r->building);
        cJSON_AddStringToObject(o, "unit", r->unit);
        cJSON_AddStringToObject(o, "contact", r->contact);
        cJSON_AddStringToObject(o, "text", r->text);
        if (callback_base) {
            char url[256];
            if (dead_url && dead_every > 0 && i % dead_every == dead_every - 1)
                bm_strlcpy(url, dead_url, sizeof url);
            else
                snprintf(url, sizeof url, "%s/%ld", callback_base, i % 8);
            cJSON_AddStringToObject(o, "callback", url);
        }
        cJSON_AddStringToObject(o, "ref", p[i].ref);
        p[i].json = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!p[i].json) {
            payloads_free(p, i);
            return NULL;
        }
        p[i].len = strlen(p[i].json);
    }
    return p;
}

void payloads_free(bench_payload_t *p, long n)
{
    if (!p)
        return;
    for (long i = 0; i < n; i++)
        free(p[i].json);
    free(p);
}
