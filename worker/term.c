/* term.c - see term.h.
 *
 * Printing above the prompt: the rows the prompt and the typed line take are
 * erased (the cursor's row is worked out from their width), the message is
 * written, and libedit is asked to draw everything again from a fresh row
 * (rl_forced_update_display). libedit keeps the line being typed and the
 * cursor in its own buffer, so nothing typed is lost. */
#include "term.h"
#include "log.h"
#include "width.h"

#include <editline/readline.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct wk_term {
    int in_fd;
    FILE *out;
    int cols;
    const char *prompt;
    wk_term_line_fn *on_line;
    void *arg;
    char *line;     /* a finished line not yet handed on */
    bool line_ready;
};

static wk_term_t *current; /* libedit's callback takes no argument */
static volatile sig_atomic_t resized;

static void on_winch(int sig)
{
    (void)sig;
    resized = 1;
}

int wk_term_width(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return WK_TERM_DEFAULT_COLS;
}

static void check_resize(wk_term_t *self)
{
    if (!resized)
        return;
    resized = 0;
    self->cols = wk_term_width(fileno(self->out));
    rl_resize_terminal();
}

/* libedit's end-of-line callback: the line (a copy, ours to free, NULL at
 * end of input) is kept until libedit has returned, see wk_term_read. */
static void line_handler(char *line)
{
    wk_term_t *self = current;
    if (!self || self->line_ready) {
        free(line);
        return;
    }
    self->line = line;
    self->line_ready = true;
}

wk_term_t *wk_term_new(int in_fd, FILE *out, wk_term_line_fn *on_line, void *arg)
{
    if (current || !isatty(in_fd) || !isatty(fileno(out)))
        return NULL;
    wk_term_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->in_fd = in_fd;
    self->out = out;
    self->on_line = on_line;
    self->arg = arg;
    self->cols = wk_term_width(fileno(out));
    /* libedit turns the prompt into wide characters by the locale: a
     * Chinese prompt needs a UTF-8 LC_CTYPE. */
    self->prompt = bm_width_init() == BM_WIDTH_LOCALE ? WK_TERM_PROMPT : WK_TERM_PROMPT_ASCII;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);

    current = self;
    rl_instream = fdopen(dup(in_fd), "r");
    rl_outstream = out;
    if (!rl_instream) {
        current = NULL;
        free(self);
        return NULL;
    }
    rl_readline_name = "bianmin-worker";
    using_history();
    stifle_history(WK_TERM_HISTORY_MAX);
    rl_callback_handler_install(self->prompt, line_handler);
    return self;
}

void wk_term_destroy(wk_term_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wk_term_t *self = *self_p;
    rl_callback_handler_remove();
    free(self->line);
    fputc('\n', self->out);
    fflush(self->out);
    if (rl_instream)
        fclose(rl_instream);
    rl_instream = NULL;
    clear_history();
    current = NULL;
    free(self);
    *self_p = NULL;
}

void wk_term_read(wk_term_t *self)
{
    check_resize(self);
    rl_callback_read_char();
    if (!self->line_ready)
        return;
    char *line = self->line;
    self->line = NULL;
    self->line_ready = false;
    if (line && *line)
        add_history(line);
    /* A fresh, empty line in raw mode with its prompt before anything the
     * line causes is printed above it (libedit leaves the terminal cooked
     * and the old line in its buffer after the callback). */
    rl_callback_handler_remove();
    if (line)
        rl_callback_handler_install(self->prompt, line_handler);
    self->on_line(self->arg, line);
    free(line);
}

int wk_term_cols(wk_term_t *self)
{
    check_resize(self);
    return self->cols;
}

/* Rows above the cursor taken by the prompt and the line being typed. */
static int cursor_row(const wk_term_t *self)
{
    size_t w = bm_width(self->prompt);
    if (rl_line_buffer && rl_point > 0)
        w += bm_width_n(rl_line_buffer, (size_t)rl_point);
    return (int)(w / (size_t)self->cols);
}

void wk_term_print(wk_term_t *self, const char *text)
{
    check_resize(self);
    int up = cursor_row(self);
    fputc('\r', self->out);
    if (up > 0)
        fprintf(self->out, "\033[%dA", up);
    fputs("\033[J", self->out); /* erase the prompt and the typed line */
    char *wrapped = bm_width_wrap(text, (size_t)self->cols, WK_TERM_INDENT);
    fputs(wrapped ? wrapped : text, self->out);
    free(wrapped);
    fputc('\n', self->out);
    fflush(self->out);
    rl_forced_update_display(); /* the prompt and the typed line again */
    fflush(self->out);
}
