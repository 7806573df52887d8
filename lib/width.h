/* width.h - how many terminal columns UTF-8 text takes, so tables with
 * Chinese names line up (a CJK character takes two columns, a Latin letter
 * one), and writing text into a cell of a fixed number of columns. */
#ifndef BM_WIDTH_H
#define BM_WIDTH_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    BM_WIDTH_FALLBACK = 0, /* our own table: CJK and other wide code points are 2 */
    BM_WIDTH_LOCALE = 1    /* mbrtowc + wcwidth of the current (UTF-8) LC_CTYPE */
} bm_width_mode_t;

/* Takes LC_CTYPE from the environment (setlocale(LC_CTYPE, "")) and uses
 * wcwidth if that locale is UTF-8, else the fallback table. Only LC_CTYPE
 * is set: LC_NUMERIC would change how numbers are printed and parsed.
 * Returns the mode chosen. Call once, from main. */
bm_width_mode_t bm_width_init(void);
/* Chooses the mode directly (tests); BM_WIDTH_LOCALE needs a UTF-8 LC_CTYPE
 * set by the caller. */
void bm_width_set_mode(bm_width_mode_t mode);

/* Columns the first len bytes of s take when shown by bm_put_cell: control
 * characters count 1 (they are shown as spaces), bytes that are not UTF-8
 * count 1 each. */
size_t bm_width_n(const char *s, size_t len);
/* The same for a NUL-terminated string. */
size_t bm_width(const char *s);
/* Returns how many bytes of s (ending on a character boundary) fit in cols
 * columns; *used (may be NULL) gets their width. */
size_t bm_width_fit(const char *s, size_t cols, size_t *used);

/* Writes s into a cell exactly cols columns wide: cut with "…" if wider,
 * padded with spaces after it (or before it, with right). Control
 * characters are written as spaces. */
void bm_put_cell(FILE *out, const char *s, size_t cols, int right);

/* Returns s wrapped so that no line is wider than cols columns: lines are
 * broken at a space (which is dropped) or next to a wide (CJK) character,
 * and only inside a word when nothing else fits. Every line that wrapping
 * adds starts with the spaces that began its line plus `indent` more (at
 * most cols / 2 in all). Existing newlines are kept. Caller frees the
 * result with free(); NULL if out of memory. */
char *bm_width_wrap(const char *s, size_t cols, size_t indent);

#endif
