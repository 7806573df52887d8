/* csv.c - loading the NYC 311 sample for the replay demo.
 *
 * The file has no header; columns are unique_key, created_date, closed_date,
 * complaint_type, borough. Fields may be quoted RFC 4180 style. The sample
 * is dirty on purpose: some rows are shifted (a date or a sentence where the
 * borough should be), some were closed the second they were opened. Every
 * such row is rejected with a counted reason; nothing here can crash on it. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

#define N_FIELDS  5
#define MAX_FIELD 256

static const struct {
    const char *type, *category;
} category_map[] = {
    {"PLUMBING", "pipe"},   {"General Construction/Plumbing", "pipe"}, {"Sewer", "pipe"},
    {"WATER LEAK", "leak"}, {"Water System", "leak"},                  {"DOOR/WINDOW", "lock"},
    {"ELECTRIC", "repair"}, {"HEAT/HOT WATER", "repair"},
};

/* In the order of the BBL's first digit (1 Manhattan ... 5 Staten Island). */
static const char *const boroughs[] = {"MANHATTAN", "BRONX", "BROOKLYN", "QUEENS",
                                       "STATEN ISLAND"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *demo_reason_name(demo_reason_t r)
{
    switch (r) {
    case DEMO_ROW_OK: return "accepted";
    case DEMO_ROW_NOT_STATION: return "not a station job";
    case DEMO_ROW_COLUMNS: return "wrong number of columns";
    case DEMO_ROW_SHIFTED: return "shifted columns";
    case DEMO_ROW_KEY: return "bad unique_key";
    case DEMO_ROW_DATE: return "unparseable date";
    case DEMO_ROW_DURATION: return "zero or negative duration";
    case DEMO_ROW_TOO_LONG: return "line too long";
    case DEMO_ROW_BLANK: return "blank line";
    default: return "?";
    }
}

const char *demo_category_for(const char *complaint_type)
{
    for (size_t i = 0; i < N_OF(category_map); i++) {
        if (strcmp(complaint_type, category_map[i].type) == 0)
            return category_map[i].category;
    }
    return NULL;
}

/* ---- dates --------------------------------------------------------------- */

/* Reads exactly n digits at *p into *out and advances. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int demo_parse_date(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int mo, d, y, h, mi, se;
    if (digits(&p, 2, &mo) || expect(&p, '/') || digits(&p, 2, &d) || expect(&p, '/') ||
        digits(&p, 4, &y) || expect(&p, ' ') || digits(&p, 2, &h) || expect(&p, ':') ||
        digits(&p, 2, &mi) || expect(&p, ':') || digits(&p, 2, &se) || expect(&p, ' '))
        return -1;
    bool pm;
    if (strcmp(p, "AM") == 0)
        pm = false;
    else if (strcmp(p, "PM") == 0)
        pm = true;
    else
        return -1;
    if (y < 1900 || mo < 1 || mo > 12 || d < 1 || h < 1 || h > 12 || mi > 59 || se > 59)
        return -1;
    int dim = mdays[mo - 1] + (mo == 2 && leap(y));
    if (d > dim)
        return -1;
    int hour = h % 12 + (pm ? 12 : 0); /* 12:xx AM is 00:xx, 12:xx PM is 12:xx */
    *out = days_from_civil(y, mo, d) * 86400 + hour * 3600 + mi * 60 + se;
    return 0;
}

/* ---- fields -------------------------------------------------------------- */

/* Splits line into fields (RFC 4180 quoting, "" inside quotes). Returns the
 * number of fields (up to max + 1, meaning "more than max"), or -1 for a
 * broken quote or a field over MAX_FIELD bytes. */
static int split(const char *line, char f[][MAX_FIELD], int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        char buf[MAX_FIELD];
        size_t len = 0;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    return -1; /* unterminated quote */
                if (*p == '"') {
                    if (p[1] == '"') {
                        p++;
                    } else {
                        p++;
                        break;
                    }
                }
                if (len + 1 >= sizeof buf)
                    return -1;
                buf[len++] = *p++;
            }
            if (*p != ',' && *p != '\0')
                return -1; /* text after the closing quote */
        } else {
            while (*p && *p != ',') {
                if (*p == '"' || len + 1 >= sizeof buf)
                    return -1;
                buf[len++] = *p++;
            }
        }
        buf[len] = '\0';
        if (n < max)
            memcpy(f[n], buf, len + 1);
        n++;
        if (*p == '\0')
            break;
        p++; /* the comma */
        if (n > max)
            break;
    }
    return n;
}

/* "NN/NN/NNNN...": a date, whatever follows. */
static bool looks_like_date(const char *s)
{
    static const char shape[] = "99/99/9999";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == '9' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    return true;
}

/* A piece of free text from another column: a leading blank or a quote;
 * for a borough also sentence punctuation (complaint types may have
 * parentheses: "Missed Collection (All Materials)"). */
static bool looks_like_text(const char *s, bool punctuation)
{
    if (s[0] == ' ' || s[0] == '\t')
        return true;
    for (const char *p = s; *p; p++) {
        if (*p == '"' || (punctuation && (*p == '.' || *p == '(' || *p == ')')))
            return true;
    }
    return false;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

/* The borough of a borough field: a name; "12 BROOKLYN" (community board) or
 * "Unspecified QUEENS"; a 10-digit BBL (first digit 1..5); otherwise ""
 * (unspecified). Returns -1 if the field clearly belongs to another column. */
static int borough_of(const char *s, const char **out)
{
    *out = "";
    if (looks_like_date(s) || looks_like_text(s, true) || strlen(s) > 40)
        return -1;
    if (all_digits(s)) {
        if (strlen(s) == 10 && s[0] >= '1' && s[0] <= '5')
            *out = boroughs[s[0] - '1'];
        return 0;
    }
    for (size_t i = 0; i < N_OF(boroughs); i++) {
        size_t bl = strlen(boroughs[i]), sl = strlen(s);
        /* the whole field, or its last words after a space */
        if (strcmp(s, boroughs[i]) == 0 ||
            (sl > bl && s[sl - bl - 1] == ' ' && strcmp(s + sl - bl, boroughs[i]) == 0)) {
            *out = boroughs[i];
            return 0;
        }
    }
    return 0;
}

demo_reason_t demo_parse_line(const char *line, bool keep_other, demo_row_t *row)
{
    size_t len = strlen(line);
    char copy[DEMO_MAX_LINE + 1];
    if (len > DEMO_MAX_LINE)
        return DEMO_ROW_TOO_LONG;
    memcpy(copy, line, len + 1);
    while (len > 0 && (copy[len - 1] == '\r' || copy[len - 1] == '\n'))
        copy[--len] = '\0';
    if (len == 0)
        return DEMO_ROW_BLANK;

    char f[N_FIELDS][MAX_FIELD];
    int n = split(copy, f, N_FIELDS);
    if (n != N_FIELDS)
        return DEMO_ROW_COLUMNS;
    const char *type = f[3];
    if (looks_like_date(f[0]) || looks_like_date(type) || looks_like_text(type, false) || !type[0])
        return DEMO_ROW_SHIFTED;
    const char *borough;
    if (borough_of(f[4], &borough) != 0)
        return DEMO_ROW_SHIFTED;
    if (!all_digits(f[0]) || strlen(f[0]) > 15 || f[0][0] == '0')
        return DEMO_ROW_KEY;
    int64_t created, closed;
    if (demo_parse_date(f[1], &created) != 0 || demo_parse_date(f[2], &closed) != 0)
        return DEMO_ROW_DATE;
    const char *category = demo_category_for(type);
    if (!category) {
        if (!keep_other)
            return DEMO_ROW_NOT_STATION;
        category = "other";
    }
    if (closed <= created)
        return DEMO_ROW_DURATION;

    int64_t key = 0;
    for (const char *p = f[0]; *p; p++)
        key = key * 10 + (*p - '0');
    row->key = key;
    row->created = created;
    row->closed = closed;
    row->category = category;
    row->borough = borough;
    return DEMO_ROW_OK;
}

/* ---- the whole file ------------------------------------------------------ */

int demo_rows_load(FILE *in, bool keep_other, demo_rows_t *out)
{
    memset(out, 0, sizeof *out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, in)) >= 0) {
        out->lines++;
        demo_row_t row;
        demo_reason_t r;
        if ((size_t)got > DEMO_MAX_LINE + 2)
            r = DEMO_ROW_TOO_LONG;
        else if (memchr(line, '\0', (size_t)got))
            r = DEMO_ROW_COLUMNS; /* a NUL byte: not a text row */
        else
            r = demo_parse_line(line, keep_other, &row);
        out->count[r]++;
        if (r != DEMO_ROW_OK)
            continue;
        if (out->n == out->cap) {
            size_t ncap = out->cap ? out->cap * 2 : 1024;
            demo_row_t *nrows = realloc(out->rows, ncap * sizeof *nrows);
            if (!nrows)
                goto fail;
            out->rows = nrows;
            out->cap = ncap;
        }
        out->rows[out->n++] = row;
    }
    if (ferror(in))
        goto fail;
    free(line);
    return 0;
fail:
    free(line);
    demo_rows_free(out);
    return -1;
}

void demo_rows_free(demo_rows_t *r)
{
    if (!r)
        return;
    free(r->rows);
    r->rows = NULL;
    r->n = r->cap = 0;
}

static int by_created(const void *a, const void *b)
{
    const demo_row_t *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return 0;
}

void demo_rows_sort(demo_rows_t *r)
{
    if (r->n > 1)
        qsort(r->rows, r->n, sizeof *r->rows, by_created);
}

void demo_rows_spread(demo_rows_t *r, size_t n)
{
    if (n == 0 || n >= r->n)
        return;
    for (size_t k = 0; k < n; k++)
        r->rows[k] = r->rows[k * r->n / n]; /* k * n_all / n >= k: never overwritten before read */
    r->n = n;
}

int64_t demo_schedule(const demo_row_t *rows, size_t n, int64_t max_gap_s, int64_t *offsets)
{
    int64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            int64_t gap = rows[i].created - rows[i - 1].created;
            if (gap < 0)
                gap = 0;
            if (max_gap_s > 0 && gap > max_gap_s)
                gap = max_gap_s;
            at += gap;
        }
        offsets[i] = at;
    }
    return n ? offsets[n - 1] : 0;
}
