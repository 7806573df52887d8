/* suggest.h - "did you mean": the closest of a list of valid choices to a
 * mistyped word (edit distance), and the choices written out for people.
 * One helper for every enumerated input: categories, channels, statuses,
 * skills, departments, config keys. */
#ifndef BM_SUGGEST_H
#define BM_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance between a and b, counted in bytes, ASCII letters
 * compared without case. */
size_t bm_edit_distance(const char *a, const char *b);

/* Returns the choice closest to word if it is close enough to be a likely
 * typo (distance at most 2, or a third of word's length), else NULL. The
 * result points into choices. */
const char *bm_suggest(const char *word, const char *const *choices, size_t n);

/* Writes the choices as "a, b, c" into buf (cut with "…" if too long).
 * Returns buf. */
char *bm_choices_text(const char *const *choices, size_t n, char *buf, size_t len);

#endif
