/* registry.c - see registry.h. A sorted array searched by bisection: a
 * station has tens to a few thousand keys, and a lookup runs per message. */
#include "registry.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct registry {
    const bm_config_t *cfg;
    reg_key_t *keys;
    size_t n, cap;
};

registry_t *registry_new(const bm_config_t *cfg)
{
    registry_t *self = calloc(1, sizeof *self);
    if (self)
        self->cfg = cfg;
    return self;
}

void registry_destroy(registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->keys);
    free(*self_p);
    *self_p = NULL;
}

unsigned registry_kind(const char *role, char *principal, size_t len)
{
    char kind[16];
    if (bm_role_parse(role, kind, sizeof kind, principal, len) != 0)
        return 0;
    if (strcmp(kind, "office") == 0)
        return ROLE_OFFICE;
    if (strcmp(kind, "channel") == 0)
        return ROLE_CHANNEL;
    if (strcmp(kind, "volunteer") == 0)
        return ROLE_VOLUNTEER;
    if (strcmp(kind, "notifier") == 0)
        return ROLE_NOTIFIER;
    if (strcmp(kind, "gateway") == 0)
        return ROLE_GATEWAY;
    return 0; /* "broker" is nobody's role on the wire */
}

/* Index of the first key >= pub. */
static size_t lower_bound(const registry_t *self, const char *pub)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(self->keys[mid].public_key, pub) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int acts_for_ok(const registry_t *self, const char *list, bm_error_t *err)
{
    char buf[512];
    bm_strlcpy(buf, list, sizeof buf);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char principal[BM_MAX_VOL_ID + 1];
        unsigned kind = registry_kind(tok, principal, sizeof principal);
        if (kind == ROLE_OFFICE || (kind == ROLE_CHANNEL && bm_config_channel(self->cfg, principal)))
            continue;
        bm_error_set(err, BM_ERR_INVALID, "acts_for",
                     "网关只能代表 office 或已配置的 channel:<渠道>，不能代表 \"%s\" / a gateway acts "
                     "only for office or a configured channel:<name>, not \"%s\"",
                     tok, tok);
        return -1;
    }
    return 0;
}

/* Checks a key under the config and fills k. */
static int parse_key(const registry_t *self, const store_key_t *key, reg_key_t *out, bm_error_t *err)
{
    reg_key_t k;
    memset(&k, 0, sizeof k);
    bm_strlcpy(k.public_key, key->public_key, sizeof k.public_key);
    bm_strlcpy(k.role, key->role, sizeof k.role);
    bm_strlcpy(k.name, key->name, sizeof k.name);
    bm_strlcpy(k.skills_text, key->skills, sizeof k.skills_text);
    bm_strlcpy(k.acts_for, key->acts_for, sizeof k.acts_for);
    k.max_jobs = key->max_jobs > 0 ? key->max_jobs : 1;
    k.kind = registry_kind(key->role, k.principal, sizeof k.principal);
    if (!k.kind || !bm_key_z85_ok(key->public_key)) {
        bm_error_set(err, BM_ERR_INVALID, "role",
                     "角色 \"%s\" 不对：应为 office、notifier、gateway、channel:<渠道> 或 "
                     "volunteer:<编号> / role must be office, notifier, gateway, channel:<name> or "
                     "volunteer:<id>",
                     key->role);
        return -1;
    }
    if (k.kind == ROLE_CHANNEL && !bm_config_channel(self->cfg, k.principal)) {
        bm_error_set(err, BM_ERR_UNKNOWN_CHANNEL, "role", "没有这个渠道 \"%s\" / unknown channel \"%s\"",
                     k.principal, k.principal);
        return -1;
    }
    if (k.kind == ROLE_VOLUNTEER) {
        char list[sizeof k.skills_text];
        bm_strlcpy(list, key->skills, sizeof list);
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            const bm_category_t *cat = bm_config_category_choice(self->cfg, tok, "skills", err);
            if (!cat)
                return -1;
            k.skills |= 1u << (cat - self->cfg->categories);
        }
        if (!k.skills) {
            bm_error_set(err, BM_ERR_INVALID, "skills",
                         "志愿者的钥匙要写明会做的类别 / a volunteer's key needs its skills");
            return -1;
        }
    }
    if (k.kind == ROLE_GATEWAY && (!k.acts_for[0] || acts_for_ok(self, k.acts_for, err) != 0)) {
        if (!err->code)
            bm_error_set(err, BM_ERR_INVALID, "acts_for",
                         "网关的钥匙要写明它代表谁 / a gateway's key needs acts_for (office, "
                         "channel:<name>, ...)");
        return -1;
    }
    *out = k;
    return 0;
}

int registry_check(const registry_t *self, const store_key_t *key, bm_error_t *err)
{
    reg_key_t k;
    return parse_key(self, key, &k, err);
}

int registry_put(registry_t *self, const store_key_t *key, bm_error_t *err)
{
    reg_key_t k;
    if (parse_key(self, key, &k, err) != 0)
        return -1;
    size_t i = lower_bound(self, k.public_key);
    if (i < self->n && strcmp(self->keys[i].public_key, k.public_key) == 0) {
        self->keys[i] = k;
        return 0;
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        reg_key_t *grown = realloc(self->keys, cap * sizeof *grown);
        if (!grown) {
            bm_error_set(err, BM_ERR_STORAGE, NULL, "内存不足 / out of memory");
            return -1;
        }
        self->keys = grown;
        self->cap = cap;
    }
    memmove(&self->keys[i + 1], &self->keys[i], (self->n - i) * sizeof k);
    self->keys[i] = k;
    self->n++;
    return 0;
}

reg_key_t *registry_find(registry_t *self, const char *public_key)
{
    if (!public_key || !*public_key)
        return NULL;
    size_t i = lower_bound(self, public_key);
    if (i < self->n && strcmp(self->keys[i].public_key, public_key) == 0)
        return &self->keys[i];
    return NULL;
}

int registry_remove(registry_t *self, const char *public_key)
{
    reg_key_t *k = registry_find(self, public_key);
    if (!k)
        return -1;
    size_t i = (size_t)(k - self->keys);
    memmove(&self->keys[i], &self->keys[i + 1], (self->n - i - 1) * sizeof *k);
    self->n--;
    return 0;
}

int registry_count(const registry_t *self, unsigned kind)
{
    int n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += (self->keys[i].kind & kind) != 0;
    return n;
}

static void forget_fd(reg_key_t *key, int fd)
{
    for (int i = 0; i < key->n_fds; i++) {
        if (key->fds[i] == fd) {
            key->fds[i] = key->fds[--key->n_fds];
            return;
        }
    }
}

void registry_note_fd(registry_t *self, reg_key_t *key, int fd)
{
    if (fd < 0)
        return;
    for (int i = 0; i < key->n_fds; i++) {
        if (key->fds[i] == fd)
            return;
    }
    /* A descriptor number is reused after its connection closed: it now
     * belongs to this key alone. Rare (new connections), so a scan is fine. */
    for (size_t i = 0; i < self->n; i++) {
        if (&self->keys[i] != key)
            forget_fd(&self->keys[i], fd);
    }
    if (key->n_fds == REG_MAX_FDS) {
        memmove(&key->fds[0], &key->fds[1], (REG_MAX_FDS - 1) * sizeof key->fds[0]);
        key->n_fds--;
    }
    key->fds[key->n_fds++] = fd;
}

bool registry_acts_for(const reg_key_t *key, const char *role)
{
    if (key->kind != ROLE_GATEWAY)
        return false;
    size_t n = strlen(role);
    for (const char *p = key->acts_for; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, role, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

void registry_each(registry_t *self, int (*fn)(reg_key_t *key, void *arg), void *arg)
{
    for (size_t i = 0; i < self->n; i++) {
        if (fn(&self->keys[i], arg) != 0)
            return;
    }
}
