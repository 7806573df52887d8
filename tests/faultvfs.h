/* faultvfs.h - a SQLite VFS for tests that wraps the default one and makes
 * chosen writes fail with SQLITE_FULL, the way a full disk does (as SQLite's
 * own tests do with their malloc and I/O fault injectors). Everything opened
 * in the process after tu_faultvfs_install() goes through it. */
#ifndef BM_FAULTVFS_H
#define BM_FAULTVFS_H

#include <stdbool.h>

/* Registers the wrapper as the default VFS (once; later calls do nothing).
 * Returns 0 or -1. */
int tu_faultvfs_install(void);
/* Disk full (true): every write to a database, WAL or journal file fails
 * with SQLITE_FULL until it is set back to false. Safe from any thread. */
void tu_faultvfs_full(bool full);
/* After n more successful writes, the next k writes fail (k < 0: every
 * write until tu_faultvfs_full(false)); then space is back. */
void tu_faultvfs_fail_after(int n, int k);
/* Writes refused so far. */
long tu_faultvfs_refused(void);
/* Writes to WAL files so far (refused or not). */
long tu_faultvfs_wal_writes(void);

#endif
