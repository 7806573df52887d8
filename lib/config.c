/* config.c - see config.h. */
#include "config.h"
#include "suggest.h"
#include "tz.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const bm_category_t default_categories[] = {
    /* name     label        prio urgent offer   lease   deadline  fanout, step: offer_defaults() */
    {"leak",   "漏水抢修", 10, true,  600,  4 * 3600, 4 * 3600, 0, 0},
    {"lock",   "开锁修锁", 5,  false, 1800, 2 * 3600, 24 * 3600, 0, 0},
    {"pipe",   "管道疏通", 3,  false, 3600, 4 * 3600, 48 * 3600, 0, 0},
    {"repair", "水电维修", 3,  false, 3600, 4 * 3600, 72 * 3600, 0, 0},
    {"other",  "其他",     1,  false, 7200, 4 * 3600, 7 * 24 * 3600, 0, 0},
};
static const bm_department_t default_departments[] = {
    {"water_company", "自来水公司", ""},
    {"power_company", "供电公司", ""},
    {"gas_company", "燃气公司", ""},
    {"housing_bureau", "住建局", ""},
    {"street_office", "街道办事处", ""},
};
static const char *const default_channels[] = {"building_leader", "council", "forum", "office"};
static const int default_retries[] = {0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400};

/* Targeted offers: urgent categories start wider and widen sooner. */
static void offer_defaults(bm_category_t *c)
{
    c->offer_fanout = c->urgent ? BM_DEFAULT_OFFER_FANOUT_URGENT : BM_DEFAULT_OFFER_FANOUT;
    c->offer_step_s = c->urgent ? BM_DEFAULT_OFFER_STEP_URGENT_S : BM_DEFAULT_OFFER_STEP_S;
}

void bm_config_defaults(bm_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    bm_strlcpy(cfg->client_endpoint, BM_DEFAULT_CLIENT_ENDPOINT, sizeof cfg->client_endpoint);
    bm_strlcpy(cfg->worker_endpoint, BM_DEFAULT_WORKER_ENDPOINT, sizeof cfg->worker_endpoint);
    bm_strlcpy(cfg->database, BM_DEFAULT_DATABASE, sizeof cfg->database);
    bm_strlcpy(cfg->log_level, "info", sizeof cfg->log_level);
    bm_strlcpy(cfg->log_format, "text", sizeof cfg->log_format);
    cfg->heartbeat_ms = BM_DEFAULT_HEARTBEAT_MS;
    cfg->offer_window = BM_DEFAULT_OFFER_WINDOW;
    cfg->delivery_lease_s = BM_DEFAULT_DELIVERY_LEASE_S;
    cfg->batch_max = BM_DEFAULT_BATCH_MAX;
    cfg->max_attempts = BM_DEFAULT_MAX_ATTEMPTS;
    cfg->reopen_days = BM_DEFAULT_REOPEN_DAYS;
    cfg->rotation_overlap_s = BM_DEFAULT_ROTATION_S;
    cfg->rate_days = BM_DEFAULT_RATE_DAYS;
    cfg->max_open_files = BM_DEFAULT_MAX_OPEN_FILES;
    cfg->peer_queue = BM_DEFAULT_PEER_QUEUE;
    cfg->submit_per_min = BM_DEFAULT_SUBMIT_PER_MIN;
    cfg->submit_per_day = BM_DEFAULT_SUBMIT_PER_DAY;
    cfg->photos_per_request = BM_DEFAULT_PHOTOS_PER_REQUEST;
    cfg->photos_per_volunteer_day = BM_DEFAULT_PHOTOS_PER_VOLUNTEER_DAY;
    cfg->disk_reserve_mb = BM_DEFAULT_DISK_RESERVE_MB;
    cfg->retry_count = (int)(sizeof default_retries / sizeof default_retries[0]);
    memcpy(cfg->retry_schedule_s, default_retries, sizeof default_retries);
    cfg->category_count = (int)(sizeof default_categories / sizeof default_categories[0]);
    memcpy(cfg->categories, default_categories, sizeof default_categories);
    for (int i = 0; i < cfg->category_count; i++)
        offer_defaults(&cfg->categories[i]);
    cfg->channel_count = (int)(sizeof default_channels / sizeof default_channels[0]);
    for (int i = 0; i < cfg->channel_count; i++)
        bm_strlcpy(cfg->channels[i], default_channels[i], sizeof cfg->channels[i]);
    cfg->department_count = (int)(sizeof default_departments / sizeof default_departments[0]);
    memcpy(cfg->departments, default_departments, sizeof default_departments);
}

const bm_department_t *bm_config_department(const bm_config_t *cfg, const char *id)
{
    for (int i = 0; id && i < cfg->department_count; i++) {
        if (strcmp(cfg->departments[i].id, id) == 0)
            return &cfg->departments[i];
    }
    return NULL;
}

const bm_category_t *bm_config_category(const bm_config_t *cfg, const char *name)
{
    for (int i = 0; i < cfg->category_count; i++) {
        if (strcmp(cfg->categories[i].name, name) == 0)
            return &cfg->categories[i];
    }
    return NULL;
}

const bm_category_t *bm_config_category_choice(const bm_config_t *cfg, const char *value,
                                               const char *field, bm_error_t *err)
{
    for (int i = 0; value && i < cfg->category_count; i++) {
        const bm_category_t *c = &cfg->categories[i];
        if (strcmp(c->name, value) == 0 || (c->label[0] && strcmp(c->label, value) == 0))
            return c;
    }
    /* Not found (off the hot path from here): the closest and the list. */
    bool skill = field && strcmp(field, "skills") == 0;
    const char *zh = skill ? "未知技能" : "未知类别", *en = skill ? "unknown skill" : "unknown category";
    const char *names[BM_MAX_CATEGORIES];
    char known[BM_MAX_CATEGORIES * 100] = "";
    size_t used = 0;
    for (int i = 0; i < cfg->category_count; i++) {
        const bm_category_t *c = &cfg->categories[i];
        names[i] = c->name;
        int w = snprintf(known + used, sizeof known - used, "%s%s%s%s", i ? ", " : "", c->name,
                         c->label[0] ? " " : "", c->label);
        if (w > 0 && (size_t)w < sizeof known - used)
            used += (size_t)w;
    }
    char shown[41 * 4];
    bm_strlcpy(shown, value ? value : "", 41); /* at most 40 bytes, cut between characters */
    bm_utf8_cut(shown);
    const char *near = value ? bm_suggest(value, names, (size_t)cfg->category_count) : NULL;
    if (near)
        bm_error_set(err, BM_ERR_UNKNOWN_CATEGORY, field,
                     "%s \"%s\"；您是不是要 / %s \"%s\"; did you mean \"%s\"? (可选 / known: %s)", zh,
                     shown, en, shown, near, known);
    else
        bm_error_set(err, BM_ERR_UNKNOWN_CATEGORY, field, "%s \"%s\" / %s \"%s\" (可选 / known: %s)", zh,
                     shown, en, shown, known);
    return NULL;
}

bool bm_config_channel(const bm_config_t *cfg, const char *name)
{
    for (int i = 0; i < cfg->channel_count; i++) {
        if (strcmp(cfg->channels[i], name) == 0)
            return true;
    }
    return false;
}

int bm_secret_check(const char *secret)
{
    if (strncmp(secret, "whsec_", 6) != 0)
        return -1;
    unsigned char key[128];
    int n = bm_base64_decode(secret + 6, key, sizeof key);
    return (n >= 24 && n <= 64) ? 0 : -1;
}

static char *read_file(const char *path, bm_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        bm_error_set(err, BM_ERR_INVALID, NULL, "cannot open config %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
        if (len + 1 == cap) {
            if (cap > (1u << 20)) {
                bm_error_set(err, BM_ERR_TOO_LARGE, NULL, "config %s is larger than 1 MiB", path);
                free(buf);
                buf = NULL;
                break;
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    else if (!err || !err->code)
        bm_error_set(err, BM_ERR_INVALID, NULL, "cannot read config %s", path);
    return buf;
}

static int get_str(const cJSON *root, const char *key, char *dst, size_t len, const char *path,
                   bm_error_t *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item)
        return 0;
    if (!cJSON_IsString(item) || bm_strlcpy(dst, item->valuestring, len) != 0 || dst[0] == '\0') {
        bm_error_set(err, BM_ERR_INVALID, key, "%s: \"%s\" must be a non-empty string under %zu bytes",
                     path, key, len);
        return -1;
    }
    return 0;
}

static int get_bool(const cJSON *root, const char *key, bool *dst, const char *path,
                    bm_error_t *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item)
        return 0;
    if (!cJSON_IsBool(item)) {
        bm_error_set(err, BM_ERR_INVALID, key, "%s: \"%s\" must be true or false", path, key);
        return -1;
    }
    *dst = cJSON_IsTrue(item);
    return 0;
}

static int get_int(const cJSON *root, const char *key, int *dst, int min, int max,
                   const char *path, bm_error_t *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item)
        return 0;
    /* Range first: converting an out-of-range double (1e300) is undefined. */
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= min && item->valuedouble <= max) ||
        item->valuedouble != (double)(int)item->valuedouble) {
        bm_error_set(err, BM_ERR_INVALID, key, "%s: \"%s\" must be an integer from %d to %d", path,
                     key, min, max);
        return -1;
    }
    *dst = (int)item->valuedouble;
    return 0;
}

int bm_config_check_department(const bm_config_t *cfg, const char *id, bm_error_t *err)
{
    if (bm_config_department(cfg, id))
        return 0;
    const char *ids[BM_MAX_DEPARTMENTS];
    for (int i = 0; i < cfg->department_count; i++)
        ids[i] = cfg->departments[i].id;
    size_t n = (size_t)cfg->department_count;
    const char *near = id ? bm_suggest(id, ids, n) : NULL;
    char list[160];
    bm_choices_text(ids, n, list, sizeof list);
    if (near)
        bm_error_set(err, BM_ERR_UNKNOWN_DEPARTMENT, "department",
                     "未知部门 / unknown department \"%.40s\"; 您是不是要 / did you mean \"%s\"? "
                     "(%s)",
                     id ? id : "", near, list);
    else
        bm_error_set(err, BM_ERR_UNKNOWN_DEPARTMENT, "department",
                     "未知部门 / unknown department \"%.40s\"; 可选 / known: %s", id ? id : "",
                     list);
    return -1;
}

cJSON *bm_config_departments_json(const bm_config_t *cfg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "departments");
    for (int i = 0; arr && i < cfg->department_count; i++) {
        const bm_department_t *d = &cfg->departments[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", d->id);
        cJSON_AddStringToObject(o, "name", d->name);
        /* the subscription that tells it: its own, or one with "department" */
        const char *sub = d->subscription[0] ? d->subscription : NULL;
        for (int k = 0; !sub && k < cfg->subscription_count; k++) {
            if (strcmp(cfg->subscriptions[k].department, d->id) == 0)
                sub = cfg->subscriptions[k].name;
        }
        if (sub)
            cJSON_AddStringToObject(o, "subscription", sub);
        else
            cJSON_AddNullToObject(o, "subscription");
        cJSON_AddItemToArray(arr, o);
    }
    return root;
}

/* The keys a config file may hold, at the top and inside each list item. */
static const char *const top_keys[] = {
    "client_endpoint", "worker_endpoint", "database",      "callback_secret", "log_level",
    "heartbeat_ms",    "offer_window",    "delivery_lease_s", "batch_max",    "max_attempts",
    "reopen_days",     "rotation_overlap_s", "rate_days",  "archive_dir",     "subscriptions",
    "retry_schedule_s", "categories",     "channels",      "channel_secrets", "time_zone",
    "departments",     "auth",            "key_dir",       "max_open_files",  "peer_queue",
    "submit_per_min",  "submit_per_day",  "photos_per_request", "photos_per_volunteer_day",
    "disk_reserve_mb", "allow_new_database", "metrics_listen", "log_format",
};
static const char *const category_keys[] = {"name",     "label",   "priority",  "urgent",
                                             "offer_timeout_s", "lease_s", "deadline_s",
                                             "offer_fanout", "offer_step_s"};
static const char *const subscription_keys[] = {"name", "url", "secret", "events", "department"};
static const char *const department_keys[] = {"id", "name", "subscription"};

/* Refuses a key of obj not in known (n of them): a mistyped key would
 * otherwise be ignored silently (a "callback_secrt" signs nothing). where
 * is the path of obj in the file ("" at the top, "categories[2]."). */
static int check_keys(const cJSON *obj, const char *const *known, size_t n, const char *where,
                      const char *path, bm_error_t *err)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj) {
        size_t i = 0;
        while (i < n && strcmp(known[i], c->string) != 0)
            i++;
        if (i < n)
            continue;
        const char *near = bm_suggest(c->string, known, n);
        char list[256];
        if (near)
            bm_error_set(err, BM_ERR_INVALID, "config",
                         "%s: 未知设置 / unknown key %s%.40s; 您是不是要写 / did you mean \"%s\"?",
                         path, where, c->string, near);
        else
            bm_error_set(err, BM_ERR_INVALID, "config",
                         "%s: 未知设置 / unknown key %s%.40s; 可用 / known: %s", path, where,
                         c->string, bm_choices_text(known, n, list, sizeof list));
        return -1;
    }
    return 0;
}

#define CHECK_KEYS(obj, table, where) \
    check_keys((obj), (table), sizeof(table) / sizeof(table)[0], (where), path, err)

static int load_departments(bm_config_t *cfg, const cJSON *arr, const char *path, bm_error_t *err)
{
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n > BM_MAX_DEPARTMENTS) {
        bm_error_set(err, BM_ERR_INVALID, "departments",
                     "%s: \"departments\" 须为至多 %d 项的数组 / must be an array of at most %d "
                     "objects {\"id\", \"name\", \"subscription\"}",
                     path, BM_MAX_DEPARTMENTS, BM_MAX_DEPARTMENTS);
        return -1;
    }
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, arr) {
        bm_department_t *dep = &cfg->departments[i];
        char where[48];
        memset(dep, 0, sizeof *dep);
        snprintf(where, sizeof where, "departments[%d].", i);
        if (cJSON_IsObject(d) && CHECK_KEYS(d, department_keys, where) != 0)
            return -1;
        if (!cJSON_IsObject(d) || get_str(d, "id", dep->id, sizeof dep->id, path, err) ||
            get_str(d, "name", dep->name, sizeof dep->name, path, err) ||
            get_str(d, "subscription", dep->subscription, sizeof dep->subscription, path, err) ||
            !dep->id[0] || !dep->name[0]) {
            if (!err->code || !dep->id[0] || !dep->name[0])
                bm_error_set(err, BM_ERR_INVALID, "departments",
                             "%s: departments[%d] 需要 \"id\" 和中文 \"name\" / needs \"id\" and "
                             "\"name\"", path, i);
            return -1;
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(cfg->departments[k].id, dep->id) == 0) {
                bm_error_set(err, BM_ERR_INVALID, "departments",
                             "%s: 部门重复 / two departments have the id \"%s\"", path, dep->id);
                return -1;
            }
        }
        i++;
    }
    cfg->department_count = n;
    return 0;
}

/* Every department's subscription names a configured subscription. */
static int check_department_subscriptions(const bm_config_t *cfg, const char *path,
                                          bm_error_t *err)
{
    for (int k = 0; k < cfg->subscription_count; k++) {
        const char *dep = cfg->subscriptions[k].department;
        if (dep[0] && !bm_config_department(cfg, dep)) {
            bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                         "%s: 订阅 %s 的部门 %s 不在 departments 中 / subscription \"%s\": "
                         "department \"%s\" is not in \"departments\"",
                         path, cfg->subscriptions[k].name, dep, cfg->subscriptions[k].name, dep);
            return -1;
        }
    }
    for (int i = 0; i < cfg->department_count; i++) {
        const char *sub = cfg->departments[i].subscription;
        int k = 0;
        while (sub[0] && k < cfg->subscription_count && strcmp(cfg->subscriptions[k].name, sub) != 0)
            k++;
        if (sub[0] && k == cfg->subscription_count) {
            bm_error_set(err, BM_ERR_INVALID, "departments",
                         "%s: 部门 %s 的订阅 %s 不存在 / department \"%s\": no subscription named "
                         "\"%s\"",
                         path, cfg->departments[i].id, sub, cfg->departments[i].id, sub);
            return -1;
        }
    }
    return 0;
}

static int load_categories(bm_config_t *cfg, const cJSON *arr, const char *path, bm_error_t *err)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
        cJSON_GetArraySize(arr) > BM_MAX_CATEGORIES) {
        bm_error_set(err, BM_ERR_INVALID, "categories",
                     "%s: \"categories\" must be an array of 1 to %d objects", path,
                     BM_MAX_CATEGORIES);
        return -1;
    }
    bm_config_t next = *cfg;
    next.category_count = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr) {
        bm_category_t *cat = &next.categories[next.category_count];
        char where[48];
        memset(cat, 0, sizeof *cat);
        snprintf(where, sizeof where, "categories[%d].", next.category_count);
        if (cJSON_IsObject(c) && CHECK_KEYS(c, category_keys, where) != 0)
            return -1;
        /* Start from the built-in defaults of a category with that name. */
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
        if (cJSON_IsString(name)) {
            const bm_category_t *known = bm_config_category(cfg, name->valuestring);
            if (known)
                *cat = *known;
        }
        cat->lease_s = cat->lease_s ? cat->lease_s : 4 * 3600;
        cat->offer_timeout_s = cat->offer_timeout_s ? cat->offer_timeout_s : 3600;
        cat->deadline_s = cat->deadline_s ? cat->deadline_s : 72 * 3600;
        const cJSON *urgent = cJSON_GetObjectItemCaseSensitive(c, "urgent");
        if (!cat->offer_step_s) { /* not a built-in one: the defaults for its urgency */
            cat->urgent = cJSON_IsTrue(urgent);
            offer_defaults(cat);
        }
        if (!cJSON_IsObject(c) || get_str(c, "name", cat->name, sizeof cat->name, path, err) ||
            !cat->name[0] || get_str(c, "label", cat->label, sizeof cat->label, path, err) ||
            get_int(c, "priority", &cat->priority, 0, 100, path, err) ||
            get_int(c, "offer_timeout_s", &cat->offer_timeout_s, 1, 30 * 86400, path, err) ||
            get_int(c, "lease_s", &cat->lease_s, 1, 30 * 86400, path, err) ||
            get_int(c, "deadline_s", &cat->deadline_s, 1, 365 * 86400, path, err) ||
            get_int(c, "offer_fanout", &cat->offer_fanout, 0, BM_MAX_OFFER_FANOUT, path, err) ||
            get_int(c, "offer_step_s", &cat->offer_step_s, 1, 86400, path, err) ||
            (urgent && !cJSON_IsBool(urgent))) {
            if (!err || !err->code || !cat->name[0] || (urgent && !cJSON_IsBool(urgent))) {
                bm_error_set(err, BM_ERR_INVALID, "categories",
                             "%s: categories[%d]: 每个类别需要 \"name\"，\"urgent\" 为 true 或 "
                             "false / each category needs a \"name\" string; \"urgent\" is true "
                             "or false",
                             path, next.category_count);
            } else if (cat->name[0]) {
                /* Say which category the bad value is in. */
                char msg[sizeof err->message], field[sizeof err->field];
                bm_strlcpy(msg, err->message, sizeof msg);
                bm_strlcpy(field, err->field, sizeof field);
                bm_error_set(err, err->code, field, "类别 / category \"%s\": %s", cat->name, msg);
            }
            return -1;
        }
        if (urgent)
            cat->urgent = cJSON_IsTrue(urgent);
        if (!cat->label[0])
            bm_strlcpy(cat->label, cat->name, sizeof cat->label);
        next.category_count++;
    }
    *cfg = next;
    return 0;
}

static int load_subscriptions(bm_config_t *cfg, const cJSON *arr, const char *path,
                              bm_error_t *err)
{
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n > BM_MAX_SUBSCRIPTIONS) {
        bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                     "%s: \"subscriptions\" must be an array of at most %d objects", path,
                     BM_MAX_SUBSCRIPTIONS);
        return -1;
    }
    int i = 0;
    const cJSON *sub;
    cJSON_ArrayForEach(sub, arr) {
        bm_subscription_t *s = &cfg->subscriptions[i];
        char where[48];
        memset(s, 0, sizeof *s);
        snprintf(where, sizeof where, "subscriptions[%d].", i);
        if (cJSON_IsObject(sub) && CHECK_KEYS(sub, subscription_keys, where) != 0)
            return -1;
        if (!cJSON_IsObject(sub) || get_str(sub, "name", s->name, sizeof s->name, path, err) ||
            get_str(sub, "url", s->url, sizeof s->url, path, err) ||
            get_str(sub, "secret", s->secret, sizeof s->secret, path, err) ||
            get_str(sub, "department", s->department, sizeof s->department, path, err) ||
            !s->name[0] || !s->url[0] || !s->secret[0]) {
            if (!err->code || !s->name[0] || !s->url[0] || !s->secret[0])
                bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                             "%s: subscription %d needs \"name\", \"url\" and \"secret\"", path,
                             i + 1);
            return -1;
        }
        if (bm_secret_check(s->secret) != 0) {
            bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                         "%s: subscription \"%s\": secret must be whsec_ followed by base64 of "
                         "24-64 bytes", path, s->name);
            return -1;
        }
        if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0) {
            bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                         "%s: subscription \"%s\": url must start with http:// or https://", path,
                         s->name);
            return -1;
        }
        const cJSON *events = cJSON_GetObjectItemCaseSensitive(sub, "events");
        if (events) {
            const cJSON *ev;
            if (!cJSON_IsArray(events)) {
                bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                             "%s: subscription \"%s\": events must be an array of types", path,
                             s->name);
                return -1;
            }
            cJSON_ArrayForEach(ev, events) {
                size_t used = strlen(s->events);
                if (!cJSON_IsString(ev) ||
                    bm_strlcpy(s->events + used + (used ? 1 : 0), ev->valuestring,
                               sizeof s->events - used - 1) != 0) {
                    bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                                 "%s: subscription \"%s\": events must be strings (512 bytes in all)",
                                 path, s->name);
                    return -1;
                }
                if (used)
                    s->events[used] = ',';
            }
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(cfg->subscriptions[k].name, s->name) == 0) {
                bm_error_set(err, BM_ERR_INVALID, "subscriptions",
                             "%s: two subscriptions are named \"%s\"", path, s->name);
                return -1;
            }
        }
        i++;
    }
    cfg->subscription_count = n;
    return 0;
}

int bm_config_load(bm_config_t *cfg, const char *path, bm_error_t *err)
{
    char *text = read_file(path, err);
    if (!text)
        return -1;
    int rc = -1;
    cJSON *root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        bm_error_set(err, BM_ERR_BAD_JSON, NULL, "%s is not a JSON object (error near: %.40s)",
                     path, cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "start");
        goto out;
    }
    bm_config_t next = *cfg;
    if (CHECK_KEYS(root, top_keys, "") != 0)
        goto out;
    if (get_str(root, "time_zone", next.time_zone, sizeof next.time_zone, path, err))
        goto out;
    if (next.time_zone[0]) {
        char tzval[BM_TZ_MAX + 16];
        bm_error_t tzerr = {0};
        if (bm_tz_resolve(next.time_zone, tzval, sizeof tzval, &tzerr) != 0) {
            bm_error_set(err, BM_ERR_INVALID, "time_zone", "%s: time_zone: %s", path,
                         tzerr.message);
            goto out;
        }
    }
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(root, "departments");
    if (deps && load_departments(&next, deps, path, err) != 0)
        goto out;
    if (get_str(root, "client_endpoint", next.client_endpoint, sizeof next.client_endpoint, path, err) ||
        get_str(root, "worker_endpoint", next.worker_endpoint, sizeof next.worker_endpoint, path, err) ||
        get_str(root, "database", next.database, sizeof next.database, path, err) ||
        get_str(root, "callback_secret", next.callback_secret, sizeof next.callback_secret, path, err) ||
        get_str(root, "log_level", next.log_level, sizeof next.log_level, path, err) ||
        get_int(root, "heartbeat_ms", &next.heartbeat_ms, 100, 60000, path, err) ||
        get_int(root, "offer_window", &next.offer_window, 1, 50, path, err) ||
        get_int(root, "delivery_lease_s", &next.delivery_lease_s, 1, 3600, path, err) ||
        get_int(root, "batch_max", &next.batch_max, 1, 100000, path, err) ||
        get_int(root, "max_attempts", &next.max_attempts, 1, 100, path, err) ||
        get_int(root, "reopen_days", &next.reopen_days, 0, 365, path, err) ||
        get_int(root, "rotation_overlap_s", &next.rotation_overlap_s, 0, 30 * 86400, path, err) ||
        get_int(root, "rate_days", &next.rate_days, 0, 365, path, err) ||
        get_str(root, "archive_dir", next.archive_dir, sizeof next.archive_dir, path, err) ||
        get_str(root, "key_dir", next.key_dir, sizeof next.key_dir, path, err) ||
        get_int(root, "max_open_files", &next.max_open_files, 256, 1048576, path, err) ||
        get_int(root, "peer_queue", &next.peer_queue, 10, 100000, path, err) ||
        get_int(root, "submit_per_min", &next.submit_per_min, 0, 1000000, path, err) ||
        get_int(root, "submit_per_day", &next.submit_per_day, 0, 100000000, path, err) ||
        get_int(root, "photos_per_request", &next.photos_per_request, 0, 10000, path, err) ||
        get_int(root, "photos_per_volunteer_day", &next.photos_per_volunteer_day, 0, 1000000, path, err) ||
        get_int(root, "disk_reserve_mb", &next.disk_reserve_mb, 0, 1000000, path, err) ||
        get_bool(root, "allow_new_database", &next.allow_new_database, path, err))
        goto out;
    if (get_str(root, "metrics_listen", next.metrics_listen, sizeof next.metrics_listen, path, err) ||
        get_str(root, "log_format", next.log_format, sizeof next.log_format, path, err))
        goto out;
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(root, "subscriptions");
    if (subs && load_subscriptions(&next, subs, path, err) != 0)
        goto out;
    if (next.callback_secret[0] && bm_secret_check(next.callback_secret) != 0) {
        bm_error_set(err, BM_ERR_INVALID, "callback_secret",
                     "%s: \"callback_secret\" must be whsec_ followed by base64 of 24-64 bytes", path);
        goto out;
    }
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(root, "retry_schedule_s");
    if (sched) {
        int n = cJSON_GetArraySize(sched);
        if (!cJSON_IsArray(sched) || n < 1 || n > BM_MAX_RETRIES) {
            bm_error_set(err, BM_ERR_INVALID, "retry_schedule_s",
                         "%s: \"retry_schedule_s\" must be an array of 1 to %d delays in seconds",
                         path, BM_MAX_RETRIES);
            goto out;
        }
        int i = 0;
        const cJSON *d;
        cJSON_ArrayForEach(d, sched) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 7 * 86400) {
                bm_error_set(err, BM_ERR_INVALID, "retry_schedule_s",
                             "%s: retry delays must be numbers of seconds from 0 to 604800", path);
                goto out;
            }
            next.retry_schedule_s[i++] = (int)d->valuedouble;
        }
        next.retry_count = n;
    }
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
    if (cats && load_categories(&next, cats, path, err) != 0)
        goto out;
    const cJSON *chans = cJSON_GetObjectItemCaseSensitive(root, "channels");
    if (chans) {
        int n = cJSON_GetArraySize(chans);
        if (!cJSON_IsArray(chans) || n < 1 || n > BM_MAX_CHANNELS) {
            bm_error_set(err, BM_ERR_INVALID, "channels",
                         "%s: \"channels\" must be an array of 1 to %d names", path, BM_MAX_CHANNELS);
            goto out;
        }
        int i = 0;
        const cJSON *ch;
        cJSON_ArrayForEach(ch, chans) {
            if (!cJSON_IsString(ch) || !ch->valuestring[0] ||
                bm_strlcpy(next.channels[i], ch->valuestring, sizeof next.channels[i]) != 0) {
                bm_error_set(err, BM_ERR_INVALID, "channels",
                             "%s: channel names must be non-empty strings under 32 bytes", path);
                goto out;
            }
            i++;
        }
        next.channel_count = n;
        memset(next.channel_secrets, 0, sizeof next.channel_secrets);
    }
    const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(root, "channel_secrets");
    if (secrets) {
        const cJSON *sec;
        if (!cJSON_IsObject(secrets)) {
            bm_error_set(err, BM_ERR_INVALID, "channel_secrets",
                         "%s: \"channel_secrets\" must map channel names to whsec_ secrets", path);
            goto out;
        }
        cJSON_ArrayForEach(sec, secrets) {
            int k = 0;
            while (k < next.channel_count && strcmp(next.channels[k], sec->string) != 0)
                k++;
            if (k == next.channel_count || !cJSON_IsString(sec) ||
                bm_secret_check(sec->valuestring) != 0 ||
                bm_strlcpy(next.channel_secrets[k], sec->valuestring, sizeof next.channel_secrets[k]) != 0) {
                bm_error_set(err, BM_ERR_INVALID, "channel_secrets",
                             "%s: channel_secrets.%s: the channel must be configured and the secret "
                             "whsec_ followed by base64 of 24-64 bytes", path, sec->string);
                goto out;
            }
        }
    }
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(root, "auth");
    if (auth) {
        if (!cJSON_IsString(auth) ||
            (strcmp(auth->valuestring, "none") != 0 && strcmp(auth->valuestring, "curve") != 0)) {
            bm_error_set(err, BM_ERR_INVALID, "auth",
                         "%s: \"auth\" 只能是 \"curve\"（默认）或 \"none\"（开发模式）/ \"auth\" is "
                         "\"curve\" (the default) or \"none\" (development mode)",
                         path);
            goto out;
        }
        next.auth_none = strcmp(auth->valuestring, "none") == 0;
    }
    if (check_department_subscriptions(&next, path, err) != 0)
        goto out;
    *cfg = next;
    rc = 0;
out:
    cJSON_Delete(root);
    free(text);
    return rc;
}

void bm_config_key_dir(const bm_config_t *cfg, char *buf, size_t len)
{
    if (cfg->key_dir[0]) {
        bm_strlcpy(buf, cfg->key_dir, len);
        return;
    }
    const char *slash = strrchr(cfg->database, '/');
    if (!slash)
        bm_strlcpy(buf, BM_DEFAULT_KEY_DIR, len);
    else
        snprintf(buf, len, "%.*s/%s", (int)(slash - cfg->database), cfg->database, BM_DEFAULT_KEY_DIR);
}

bool bm_endpoint_local(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return true;
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    char host[256];
    const char *colon = strrchr(ep + 6, ':');
    size_t n = colon ? (size_t)(colon - (ep + 6)) : 0;
    if (n == 0 || n >= sizeof host)
        return false;
    memcpy(host, ep + 6, n);
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

void bm_config_archive_dir(const bm_config_t *cfg, char *buf, size_t len)
{
    if (cfg->archive_dir[0]) {
        bm_strlcpy(buf, cfg->archive_dir, len);
        return;
    }
    const char *slash = strrchr(cfg->database, '/');
    if (!slash)
        bm_strlcpy(buf, "archive", len);
    else
        snprintf(buf, len, "%.*s/archive", (int)(slash - cfg->database), cfg->database);
}

const char *bm_config_callback_secret(const bm_config_t *cfg, const char *channel)
{
    for (int i = 0; i < cfg->channel_count; i++) {
        if (strcmp(cfg->channels[i], channel) == 0 && cfg->channel_secrets[i][0])
            return cfg->channel_secrets[i];
    }
    return cfg->callback_secret;
}
