/* report_csv.c - the monthly report as CSV (RFC 4180, UTF-8 with a BOM so
 * Excel shows Chinese), in one long table "section,key,value" flattened from
 * the JSON report (docs/stats.md), and the field quoting the export shares. */
#include "stats.h"

#include <string.h>

void bm_csv_bom(FILE *out)
{
    fputs("\xEF\xBB\xBF", out);
}

void bm_csv_field(FILE *out, const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    /* A spreadsheet runs a cell starting with one of these as a formula
     * (CSV injection): a leading ' makes it text (OWASP). */
    bool formula = n > 0 && strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
    if (strpbrk(s, ",\"\r\n"))
        quote = true;
    if (!quote) {
        if (formula)
            fputc('\'', out);
        fputs(s, out);
        return;
    }
    fputc('"', out);
    if (formula)
        fputc('\'', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

static void put_row(FILE *out, const char *section, const char *key, const cJSON *v)
{
    bm_csv_field(out, section);
    fputc(',', out);
    bm_csv_field(out, key);
    fputc(',', out);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d)
            fprintf(out, "%lld", (long long)d);
        else
            fprintf(out, "%.6f", d);
    } else if (cJSON_IsString(v)) {
        bm_csv_field(out, v->valuestring);
    }
    /* null: an empty field (absent, not 0) */
    fputs("\r\n", out);
}

/* The name a row of an array of objects goes by: its first string field. */
static const char *row_name(const cJSON *o)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        if (cJSON_IsString(c))
            return c->valuestring;
    }
    return NULL;
}

static void flatten(FILE *out, const char *section, const char *prefix, const cJSON *v)
{
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        const cJSON *c;
        int i = 0;
        cJSON_ArrayForEach(c, v)
        {
            char key[512], idx[16];
            const char *name = c->string;
            if (cJSON_IsArray(v)) {
                name = cJSON_IsObject(c) ? row_name(c) : NULL;
                if (!name) {
                    snprintf(idx, sizeof idx, "%d", i + 1);
                    name = idx;
                }
            }
            if (*prefix)
                snprintf(key, sizeof key, "%s.%s", prefix, name);
            else
                snprintf(key, sizeof key, "%s", name);
            if (cJSON_IsArray(v) && cJSON_IsObject(c)) {
                /* a table row: its naming field is the key, not a value */
                const cJSON *f;
                const char *skip = row_name(c);
                cJSON_ArrayForEach(f, c)
                {
                    if (cJSON_IsString(f) && f->valuestring == skip)
                        continue;
                    char k2[640];
                    snprintf(k2, sizeof k2, "%s.%s", key, f->string);
                    flatten(out, section, k2, f);
                }
            } else {
                flatten(out, section, key, c);
            }
            i++;
        }
        return;
    }
    put_row(out, section, prefix, v);
}

int bm_stats_write_csv(FILE *out, const cJSON *report)
{
    bm_csv_bom(out);
    fputs("section,key,value\r\n", out);
    const cJSON *c;
    cJSON_ArrayForEach(c, report)
    {
        if (strcmp(c->string, "labels") == 0)
            continue;
        if (cJSON_IsObject(c) || cJSON_IsArray(c))
            flatten(out, c->string, "", c);
        else
            put_row(out, "report", c->string, c);
    }
    return ferror(out) ? -1 : 0;
}
