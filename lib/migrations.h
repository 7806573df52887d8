/* migrations.h - the SQL migrations compiled into the binaries (schema/NNN_*.sql). */
#ifndef BM_MIGRATIONS_H
#define BM_MIGRATIONS_H

typedef struct {
    const char *name; /* file name, e.g. "001_init.sql" */
    const char *sql;  /* its full text */
} bm_migration_t;

/* Migration i brings the database to user_version i + 1. */
extern const bm_migration_t bm_migrations[];
extern const int bm_migration_count;

#endif
