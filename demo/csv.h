/* csv.h - the NYC 311 sample as a replay trace: parsing, the category
 * mapping of /work/shared/data/README.md, and rejecting dirty rows with a
 * counted reason. Pure functions: no I/O but the FILE the caller passes. */
#ifndef DEMO_CSV_H
#define DEMO_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DEMO_MAX_LINE 4096 /* longer lines are rejected, not truncated */

/* Why a row was not taken. DEMO_ROW_OK first; the order is the report's. */
typedef enum {
    DEMO_ROW_OK = 0,
    DEMO_ROW_NOT_STATION, /* complaint type is not a station job (skipped) */
    DEMO_ROW_COLUMNS,     /* not exactly 5 fields, or a broken quote */
    DEMO_ROW_SHIFTED,     /* a field holds another column's value (a date, free text) */
    DEMO_ROW_KEY,         /* unique_key is not a positive number */
    DEMO_ROW_DATE,        /* created or closed date unparseable */
    DEMO_ROW_DURATION,    /* closed at or before created */
    DEMO_ROW_TOO_LONG,    /* line over DEMO_MAX_LINE bytes */
    DEMO_ROW_BLANK,       /* empty line */
    DEMO_ROW__COUNT
} demo_reason_t;

/* One accepted row. Times are the trace's local wall clock read as if it
 * were UTC: only differences matter. */
typedef struct {
    int64_t key;
    int64_t created; /* seconds */
    int64_t closed;  /* seconds, > created */
    const char *category; /* "pipe", "leak", "lock", "repair" or "other" (static) */
    const char *borough;  /* "BROOKLYN", ... or "" when unspecified (static) */
} demo_row_t;

/* The loaded trace: rows in file order until demo_rows_sort. */
typedef struct {
    demo_row_t *rows;
    size_t n, cap;
    size_t lines;
    size_t count[DEMO_ROW__COUNT]; /* per reason; count[DEMO_ROW_OK] == n */
} demo_rows_t;

/* A short name for people ("shifted columns"). */
const char *demo_reason_name(demo_reason_t r);

/* The station category for a 311 complaint type, or NULL if it is not a
 * station job. */
const char *demo_category_for(const char *complaint_type);

/* Parses "MM/DD/YYYY hh:mm:ss AM|PM" (exactly) into seconds since
 * 1970-01-01 00:00 of the same clock. Returns 0, or -1 if malformed or out
 * of range (month 13, 31 February, hour 0 or 13, ...). */
int demo_parse_date(const char *s, int64_t *out);

/* Parses one line (without its newline; a trailing \r is ignored). With
 * keep_other, rows that are not station jobs are kept as category "other".
 * Fills row and returns DEMO_ROW_OK, or the reason the row is rejected. */
demo_reason_t demo_parse_line(const char *line, bool keep_other, demo_row_t *row);

/* Reads every line of in into out (which it initialises), counting each
 * line's reason. Returns 0, or -1 on a read error or out of memory (out is
 * then freed). */
int demo_rows_load(FILE *in, bool keep_other, demo_rows_t *out);
void demo_rows_free(demo_rows_t *r);

/* Sorts by created time, then key (the arrival order). */
void demo_rows_sort(demo_rows_t *r);

/* Keeps n rows of a sorted trace evenly spaced over all of it (every
 * (r->n / n)-th), in order, so a sample has the trace's spread over days
 * rather than only its first hours. n 0 or >= r->n keeps all. */
void demo_rows_spread(demo_rows_t *r, size_t n);

/* The replay schedule: the first n rows of a sorted trace, with every quiet
 * stretch between arrivals longer than max_gap_s shortened to max_gap_s.
 * Writes each row's arrival offset in trace seconds from the first to
 * offsets[0..n) and returns the total span (offsets[n-1]). */
int64_t demo_schedule(const demo_row_t *rows, size_t n, int64_t max_gap_s, int64_t *offsets);

#endif
