/* test_stats_fixture.h - a fixed database for the stats and export tests:
 * the schema applied by store_open, then requests, events, ratings and
 * photos inserted directly with fixed timestamps (see test_stats_fixture.c
 * for the cases and test_stats.c for the figures worked out by hand). */
#ifndef BM_TEST_STATS_FIXTURE_H
#define BM_TEST_STATS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* A fresh temp dir under $BM_TEST_TMP (or /tmp) into buf. Returns buf or NULL. */
char *fx_tmpdir(char *buf, size_t len);
/* Removes dir and everything in it. */
void fx_rmtree(const char *dir);
/* "2026-11-02T00:00:00Z" as ms; aborts the test on a bad literal. */
int64_t fx_ms(const char *iso);
/* Creates an empty bianmin database (schema only) at path. Returns 0 or -1. */
int fx_create_empty(const char *path);
/* Creates the fixed database at path (see the .c for its ten requests).
 * Returns 0 or -1. */
int fx_create(const char *path);
/* Runs SQL against the database read-write. Returns 0 or -1. */
int fx_exec(const char *path, const char *sql);

#endif
