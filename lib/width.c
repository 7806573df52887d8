/* width.c - see width.h. */
#include "width.h"

#include <langinfo.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static bm_width_mode_t mode = BM_WIDTH_FALLBACK;

bm_width_mode_t bm_width_init(void)
{
    const char *codeset = NULL;
    if (setlocale(LC_CTYPE, "") != NULL)
        codeset = nl_langinfo(CODESET);
    mode = codeset && (strcmp(codeset, "UTF-8") == 0 || strcmp(codeset, "utf8") == 0)
               ? BM_WIDTH_LOCALE
               : BM_WIDTH_FALLBACK;
    return mode;
}

void bm_width_set_mode(bm_width_mode_t m)
{
    mode = m;
}

/* Decodes one UTF-8 character of s[0..len); returns its length (1 for a
 * byte that does not start a well-formed character) and sets *cp (or -1). */
static size_t decode(const unsigned char *s, size_t len, int32_t *cp)
{
    size_t n;
    int32_t c, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2, c = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3, c = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }
    if (n > len) {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = -1;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return n;
}

/* East Asian Wide and Fullwidth ranges (Unicode 15, abridged to the blocks
 * that occur in names, addresses and notes), and common emoji. */
static bool wide(int32_t c)
{
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
           (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
           (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
           (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
           (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD);
}

/* Combining marks that take no column of their own. */
static bool zero_width(int32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x200B && c <= 0x200F) ||
           (c >= 0xFE00 && c <= 0xFE0F);
}

/* Width and byte length (*bytes) of the character at s[0..len). */
static size_t char_width(const char *s, size_t len, mbstate_t *st, size_t *bytes)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) {
        *bytes = 1;
        return 1; /* ASCII; a control character is shown as a space */
    }
    int32_t cp;
    size_t n = decode(u, len, &cp);
    *bytes = n;
    if (cp < 0 || cp <= 0x9F)
        return 1; /* a stray byte, or a C1 control character (shown as a space) */
    if (mode == BM_WIDTH_LOCALE) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, s, len, st);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
            memset(st, 0, sizeof *st);
            return 1;
        }
        *bytes = k;
        int w = wcwidth(wc);
        return w < 0 ? 1 : (size_t)w;
    }
    return wide(cp) ? 2 : zero_width(cp) ? 0 : 1;
}

size_t bm_width_n(const char *s, size_t len)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        size_t bytes;
        w += char_width(s + i, len - i, &st, &bytes);
        i += bytes;
    }
    return w;
}

size_t bm_width(const char *s)
{
    return bm_width_n(s, strlen(s));
}

size_t bm_width_fit(const char *s, size_t cols, size_t *used)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t len = strlen(s);
    size_t w = 0, i = 0;
    while (i < len) {
        size_t bytes;
        size_t cw = char_width(s + i, len - i, &st, &bytes);
        if (w + cw > cols)
            break;
        w += cw;
        i += bytes;
    }
    if (used)
        *used = w;
    return i;
}

/* Writes s[0..len) with control characters (C0, DEL, C1) as spaces. */
static void put_range(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) {
            fputc(' ', out);
        } else if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9F) {
            fputc(' ', out);
            i++;
        } else {
            fputc(c, out);
        }
    }
}

static void pad(FILE *out, size_t n)
{
    while (n-- > 0)
        fputc(' ', out);
}

void bm_put_cell(FILE *out, const char *s, size_t cols, int right)
{
    if (!s)
        s = "";
    size_t len = strlen(s);
    size_t w = bm_width_n(s, len);
    size_t used = w;
    bool cut = false;
    if (w > cols) {
        if (cols == 0)
            return;
        len = bm_width_fit(s, cols - 1, &used);
        cut = true;
    }
    size_t fill = cols - used - (cut ? 1 : 0);
    if (right)
        pad(out, fill);
    put_range(out, s, len);
    if (cut)
        fputs("…", out);
    if (!right)
        pad(out, fill);
}

/* Closing punctuation a line must not start with. */
static bool no_break_before(const char *p, size_t len)
{
    static const char *const closers[] = {"，", "。", "、", "：", "；", "！", "？", "）", "」", "》"};
    if (*p && strchr("),.:;!?]}", *p))
        return true;
    for (size_t i = 0; i < sizeof closers / sizeof closers[0]; i++) {
        size_t n = strlen(closers[i]);
        if (len >= n && memcmp(p, closers[i], n) == 0)
            return true;
    }
    return false;
}

/* Wraps one line s[0..len) (no newline in it) onto f. */
static void wrap_line(FILE *f, const char *s, size_t len, size_t cols, size_t indent)
{
    size_t lead = 0;
    while (lead < len && s[lead] == ' ')
        lead++;
    size_t ind = lead + indent;
    if (ind > cols / 2)
        ind = cols / 2;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t start = 0, col = 0, i = 0;
    size_t brk = 0;       /* where the current row may be broken (0: nowhere yet) */
    size_t brk_next = 0;  /* where the next row starts after that break */
    bool prev_wide = false;
    while (i < len) {
        size_t bytes;
        size_t cw = char_width(s + i, len - i, &st, &bytes);
        bool space = s[i] == ' ';
        if (i > start && !space && (cw == 2 || prev_wide) && !no_break_before(s + i, len - i)) {
            brk = i; /* between a wide character and its neighbour */
            brk_next = i;
        }
        if (!space && col + cw > cols && i > start) {
            size_t end = brk > start ? brk : i;
            size_t next = brk > start ? brk_next : i;
            while (end > start && s[end - 1] == ' ')
                end--;
            put_range(f, s + start, end - start);
            fputc('\n', f);
            pad(f, ind);
            while (next < len && s[next] == ' ')
                next++;
            start = next;
            col = ind + bm_width_n(s + start, i - start);
            brk = 0;
            memset(&st, 0, sizeof st);
            if (start > i) { /* the break swallowed spaces up to here */
                i = start;
                prev_wide = false;
            }
            continue;
        }
        if (space && i > start) {
            brk = i;
            brk_next = i + 1;
        }
        col += cw;
        prev_wide = cw == 2;
        i += bytes;
    }
    put_range(f, s + start, len - start);
}

char *bm_width_wrap(const char *s, size_t cols, size_t indent)
{
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f)
        return NULL;
    if (cols < 8)
        cols = 8;
    for (const char *p = s;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        wrap_line(f, p, len, cols, indent);
        if (!nl)
            break;
        fputc('\n', f);
        p = nl + 1;
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
