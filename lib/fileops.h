/* fileops.h - file helpers for backup and restore: checksums, durable
 * copies, folders, and whether a process holds a SQLite database open.
 * Functions return 0 or -1 with errno set, unless said otherwise. */
#ifndef BM_FILEOPS_H
#define BM_FILEOPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The SHA-256 of a file as 64 hex digits in hex (65 bytes) and its size. */
int bm_file_sha256(const char *path, char *hex, int64_t *size);
/* Copies src to a new file dst (which must not exist) with the given mode,
 * fsyncs it, and gives the copy's SHA-256 and size (either may be NULL). On
 * failure dst is removed. */
int bm_file_copy(const char *src, const char *dst, mode_t mode, char *hex, int64_t *size);
/* fsyncs a folder (after a rename or a new file in it). */
int bm_file_fsync_dir(const char *dir);
/* Creates a folder and its missing parents with mode (like mkdir -p). */
int bm_file_mkdirs(const char *path, mode_t mode);
/* Removes a folder and everything in it (never follows symlinks). */
int bm_file_rmtree(const char *path);
/* Returns the pid of another process holding a SQLite lock on the database
 * file at path (a running broker, or a reader), 0 if none, -1 on error. In
 * WAL mode every open connection keeps a shared lock, so an idle broker is
 * seen too. Call it only while this process has no connection to that file
 * (closing the descriptor would drop its own locks). */
pid_t bm_file_sqlite_holder(const char *path);
/* Formats a path into buf; returns 0, or -1 (errno ENAMETOOLONG) if it
 * does not fit. */
int bm_pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes len bytes to a new file path (mode), fsynced. */
int bm_file_write(const char *path, const void *data, size_t len, mode_t mode);

#endif
