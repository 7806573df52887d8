/* table.c - a text table for people: columns sized to their widest cell in
 * terminal columns (see width.h), so Chinese text lines up. */
#include "cli.h"
#include "width.h"

#include <stdlib.h>
#include <string.h>

struct cli_table {
    size_t ncols;
    const cli_column_t *cols; /* not owned */
    char **cells;             /* nrows * ncols copies */
    size_t nrows, cap;
};

cli_table_t *cli_table_new(const cli_column_t *cols, size_t ncols)
{
    cli_table_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cols = cols;
    self->ncols = ncols;
    return self;
}

void cli_table_destroy(cli_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_table_t *self = *self_p;
    for (size_t i = 0; i < self->nrows * self->ncols; i++)
        free(self->cells[i]);
    free(self->cells);
    free(self);
    *self_p = NULL;
}

int cli_table_add(cli_table_t *self, const char *const *cells)
{
    if (self->nrows == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        char **grown = realloc(self->cells, cap * self->ncols * sizeof *grown);
        if (!grown)
            return -1;
        self->cells = grown;
        self->cap = cap;
    }
    char **row = self->cells + self->nrows * self->ncols;
    for (size_t c = 0; c < self->ncols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "");
        if (!row[c]) {
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
    }
    self->nrows++;
    return 0;
}

size_t cli_table_rows(const cli_table_t *self)
{
    return self->nrows;
}

/* Writes one line, without trailing spaces (an empty last cell leaves none). */
static void put_row(FILE *out, const char *prefix, const cli_table_t *self,
                    const char *const *cells, const size_t *widths)
{
    char *line = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&line, &len);
    if (!mem)
        return;
    for (size_t c = 0; c < self->ncols; c++) {
        if (c > 0)
            fputs("  ", mem);
        bm_put_cell(mem, cells[c], widths[c], self->cols[c].right);
    }
    if (fclose(mem) != 0 || !line) {
        free(line);
        return;
    }
    while (len > 0 && line[len - 1] == ' ')
        len--;
    fputs(prefix, out);
    fwrite(line, 1, len, out);
    fputc('\n', out);
    free(line);
}

void cli_table_print(const cli_table_t *self, FILE *out)
{
    cli_table_print_indented(self, out, "");
}

void cli_table_print_indented(const cli_table_t *self, FILE *out, const char *prefix)
{
    size_t *widths = calloc(self->ncols ? self->ncols : 1, sizeof *widths);
    const char **header = calloc(self->ncols ? self->ncols : 1, sizeof *header);
    if (!widths || !header)
        goto out;
    for (size_t c = 0; c < self->ncols; c++) {
        header[c] = self->cols[c].header;
        widths[c] = bm_width(header[c]);
        for (size_t r = 0; r < self->nrows; r++) {
            size_t w = bm_width(self->cells[r * self->ncols + c]);
            if (w > widths[c])
                widths[c] = w;
        }
        if (self->cols[c].max > 0 && widths[c] > self->cols[c].max)
            widths[c] = self->cols[c].max;
    }
    put_row(out, prefix, self, header, widths);
    for (size_t r = 0; r < self->nrows; r++)
        put_row(out, prefix, self, (const char *const *)self->cells + r * self->ncols, widths);
out:
    free(header);
    free(widths);
}
