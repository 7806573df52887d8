/* suggest.c - "did you mean" by edit distance (see suggest.h). */
#include "suggest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORD 256 /* longer words are compared on their first bytes */

size_t bm_edit_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, MAX_WORD), lb = strnlen(b, MAX_WORD);
    size_t row[MAX_WORD + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = diag + (ca == cb ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

const char *bm_suggest(const char *word, const char *const *choices, size_t n)
{
    if (!word || !*word)
        return NULL;
    size_t len = strlen(word), limit = len / 3 > 2 ? len / 3 : 2;
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        if (!choices[i])
            continue;
        size_t d = bm_edit_distance(word, choices[i]);
        if (d < best_d) {
            best_d = d;
            best = choices[i];
        }
    }
    return best && best_d <= limit && best_d < len ? best : NULL;
}

char *bm_choices_text(const char *const *choices, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t need = strlen(choices[i]) + (i ? 2 : 0);
        if (used + need + 4 >= len) {
            if (used + 4 < len)
                memcpy(buf + used, "\xE2\x80\xA6", 4); /* … and the NUL */
            return buf;
        }
        if (i) {
            memcpy(buf + used, ", ", 2);
            used += 2;
        }
        memcpy(buf + used, choices[i], strlen(choices[i]) + 1);
        used += strlen(choices[i]);
    }
    return buf;
}
