/* version.h - what `--version` prints in every bianmin program: the project
 * version and the database schema version this build reads and writes. */
#ifndef BM_VERSION_H
#define BM_VERSION_H

#include <stdbool.h>
#include <stdio.h>

/* The project version, e.g. "0.1.0" (from CMake's project VERSION). */
const char *bm_version(void);
/* The schema version: the number of embedded migrations. */
int bm_schema_version(void);
/* Returns true if argv holds "--version" before any "--". */
bool bm_version_asked(int argc, char **argv);
/* Writes one line, e.g. "bianmin-broker 0.1.0 (数据库结构版本 schema 1)". */
void bm_version_print(FILE *out, const char *prog);

#endif
