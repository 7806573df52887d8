/* term.h - the volunteer's terminal: line editing and history (libedit's
 * readline interface, in callback form so the session's zmq_poll loop keeps
 * running), messages printed above the prompt without breaking the line
 * being typed, and wrapping to the terminal's width (TIOCGWINSZ, SIGWINCH).
 *
 * libedit keeps one global line editor, so there is at most one terminal
 * per process. Used only when stdin and stdout are terminals. */
#ifndef WK_TERM_H
#define WK_TERM_H

#include <stdbool.h>
#include <stdio.h>

#define WK_TERM_PROMPT       "便民> "
#define WK_TERM_PROMPT_ASCII "bianmin> " /* when the locale is not UTF-8 */
#define WK_TERM_HISTORY_MAX  500  /* lines kept for the up arrow */
#define WK_TERM_DEFAULT_COLS 80   /* when the width cannot be read */
#define WK_TERM_INDENT       2    /* extra indent of a wrapped line */

typedef struct wk_term wk_term_t;

/* Called with each line typed (without its newline; the callee does not
 * free it), or with NULL when input ends (Ctrl-D on an empty line). */
typedef void(wk_term_line_fn)(void *arg, const char *line);

/* Returns the terminal on in_fd/out, showing the prompt, or NULL if either
 * is not a terminal or another terminal exists. */
wk_term_t *wk_term_new(int in_fd, FILE *out, wk_term_line_fn *on_line, void *arg);
/* Puts the terminal back as it was (cooked mode) and frees it. */
void wk_term_destroy(wk_term_t **self_p);

/* Reads what is waiting on in_fd (call when poll says it is readable);
 * on_line runs for each finished line. */
void wk_term_read(wk_term_t *self);
/* Prints text (may hold several lines, no final newline) above the prompt,
 * wrapped to the width, and draws the prompt and the typed line again. */
void wk_term_print(wk_term_t *self, const char *text);
/* The width of the terminal on fd in columns, or WK_TERM_DEFAULT_COLS. */
int wk_term_width(int fd);
/* The terminal's width in columns, read again after a SIGWINCH. */
int wk_term_cols(wk_term_t *self);

#endif
