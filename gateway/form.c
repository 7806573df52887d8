/* form.c - parsing what a browser or an Open311 app sends: urlencoded
 * bodies and query strings, multipart/form-data with files, and the Cookie
 * header. Everything here reads untrusted bytes: lengths are checked before
 * every read, and any malformed input gives -1 (fuzzed by test_gw_form). */
#include "gw.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX and '+' of s[0..n) into a new NUL-terminated string. */
static char *url_decode(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[j++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    *out_len = j;
    return out;
}

static int add_field(gw_form_t *form, char *name, char *value, size_t len)
{
    if (form->n >= GW_MAX_FIELDS || !name || !value) {
        free(name);
        free(value);
        return -1;
    }
    gw_field_t *f = &form->f[form->n++];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->value = value;
    f->len = len;
    return 0;
}

int form_parse_urlencoded(const char *s, size_t n, gw_form_t *form)
{
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && s[eq] != '=')
                eq++;
            size_t nl = 0, vl = 0;
            char *name = url_decode(s + i, eq - i, &nl);
            char *value = eq < end ? url_decode(s + eq + 1, end - eq - 1, &vl) : strdup("");
            if (!name || !value || add_field(form, name, value, vl) != 0) {
                if (name && value) /* add_field freed them */
                    return -1;
                free(name);
                free(value);
                return -1;
            }
        }
        i = end + 1;
    }
    return 0;
}

/* Finds needle in hay[0..n); returns its offset or -1. */
static long find(const char *hay, size_t n, const char *needle, size_t nn)
{
    if (nn == 0 || nn > n)
        return -1;
    for (size_t i = 0; i + nn <= n; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nn) == 0)
            return (long)i;
    }
    return -1;
}

/* Reads param="value" or param=value from a header value into out. */
static int header_param(const char *h, size_t hn, const char *param, char *out, size_t outlen)
{
    size_t pl = strlen(param);
    for (size_t i = 0; i + pl + 1 <= hn; i++) {
        bool start = i == 0 || h[i - 1] == ';' || h[i - 1] == ' ' || h[i - 1] == '\t';
        if (!start || strncasecmp(h + i, param, pl) != 0 || h[i + pl] != '=')
            continue;
        size_t j = i + pl + 1, k = 0;
        bool quoted = j < hn && h[j] == '"';
        if (quoted)
            j++;
        while (j < hn && (quoted ? h[j] != '"' : (h[j] != ';' && h[j] != ' ' && h[j] != '\r'))) {
            if (k + 1 >= outlen)
                return -1;
            out[k++] = h[j++];
        }
        if (quoted && (j >= hn || h[j] != '"'))
            return -1;
        out[k] = '\0';
        return 0;
    }
    return -1;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int form_parse_multipart(const char *body, size_t n, const char *content_type, gw_form_t *form)
{
    char boundary[80];
    char delim[90];
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0 ||
        header_param(content_type, strlen(content_type), "boundary", boundary + 0,
                     sizeof boundary) != 0 || !boundary[0] || strlen(boundary) > 70)
        return -1;
    int dl = snprintf(delim, sizeof delim, "--%s", boundary);
    long at = find(body, n, delim, (size_t)dl);
    if (at < 0)
        return -1;
    size_t pos = (size_t)at + (size_t)dl;
    for (;;) {
        if (pos + 2 > n)
            return -1;
        if (body[pos] == '-' && body[pos + 1] == '-')
            return 0; /* the closing delimiter */
        if (body[pos] != '\r' || body[pos + 1] != '\n')
            return -1;
        pos += 2;
        long hend = find(body + pos, n - pos, "\r\n\r\n", 4);
        if (hend < 0)
            return -1;
        const char *h = body + pos;
        size_t hn = (size_t)hend;
        size_t data = pos + hn + 4;
        /* the part ends at CRLF + delimiter */
        char end_delim[96];
        int el = snprintf(end_delim, sizeof end_delim, "\r\n%s", delim);
        long dend = find(body + data, n - data, end_delim, (size_t)el);
        if (dend < 0)
            return -1;
        char name[128] = "", filename[256] = "", ctype[128] = "";
        bool have_fn = false;
        /* header lines */
        size_t li = 0;
        while (li < hn) {
            size_t le = li;
            while (le < hn && !(h[le] == '\r' && le + 1 < hn && h[le + 1] == '\n'))
                le++;
            const char *line = h + li;
            size_t ll = le - li;
            if (ll > 20 && strncasecmp(line, "content-disposition:", 20) == 0) {
                if (header_param(line + 20, ll - 20, "name", name, sizeof name) != 0)
                    return -1;
                have_fn = header_param(line + 20, ll - 20, "filename", filename, sizeof filename) == 0;
            } else if (ll > 13 && strncasecmp(line, "content-type:", 13) == 0) {
                size_t v = 13;
                while (v < ll && line[v] == ' ')
                    v++;
                if (ll - v >= sizeof ctype)
                    return -1;
                memcpy(ctype, line + v, ll - v);
                ctype[ll - v] = '\0';
            }
            li = le + 2;
        }
        if (!name[0])
            return -1;
        char *nm = strdup(name), *val = dup_n(body + data, (size_t)dend);
        if (add_field(form, nm, val, (size_t)dend) != 0)
            return -1;
        if (have_fn) {
            gw_field_t *f = &form->f[form->n - 1];
            f->filename = strdup(filename);
            f->ctype = strdup(ctype);
            if (!f->filename || !f->ctype)
                return -1;
        }
        pos = data + (size_t)dend + (size_t)el;
    }
}

const char *form_get(const gw_form_t *form, const char *name)
{
    for (int i = 0; i < form->n; i++) {
        const gw_field_t *f = &form->f[i];
        if (strcmp(f->name, name) == 0) {
            if (f->filename || strlen(f->value) != f->len || !bm_utf8_valid(f->value, f->len))
                return NULL;
            return f->value;
        }
    }
    return NULL;
}

void form_clear(gw_form_t *form)
{
    for (int i = 0; i < form->n; i++) {
        free(form->f[i].name);
        free(form->f[i].value);
        free(form->f[i].filename);
        free(form->f[i].ctype);
    }
    form->n = 0;
}

int cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
    if (!header)
        return -1;
    size_t nl = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *eq = strchr(p, '=');
        const char *semi = strchr(p, ';');
        if (!eq || (semi && semi < eq)) {
            if (!semi)
                return -1;
            p = semi + 1;
            continue;
        }
        size_t vl = semi ? (size_t)(semi - eq - 1) : strlen(eq + 1);
        if ((size_t)(eq - p) == nl && strncmp(p, name, nl) == 0) {
            if (vl + 1 > outlen)
                return -1;
            memcpy(out, eq + 1, vl);
            out[vl] = '\0';
            return 0;
        }
        if (!semi)
            return -1;
        p = semi + 1;
    }
    return -1;
}
