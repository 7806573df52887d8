/* vfs_forward.h - a SQLite VFS, and its files, that pass every call to the
 * VFS (or file) below unchanged: the base of a VFS that changes a few
 * methods (lib/store_vfs.c gathers a WAL's writes; tests/faultvfs.c makes
 * chosen writes fail). */
#ifndef BM_VFS_FORWARD_H
#define BM_VFS_FORWARD_H

#include <sqlite3.h>

/* Every forwarding file starts so; the file below follows in the same
 * allocation (the VFS's szOsFile counts both). */
typedef struct {
    sqlite3_file base;
    sqlite3_file *real;
} bm_fwd_file_t;

#define BM_FWD_REAL(f) (((bm_fwd_file_t *)(f))->real)

/* Fills vfs (version 2, named name) so that every method but xOpen calls
 * the same method of under (kept in pAppData); xOpen is open, and each
 * file is file_size bytes of the caller's (a bm_fwd_file_t first) followed
 * by under's. */
void bm_vfs_forward(sqlite3_vfs *vfs, sqlite3_vfs *under, const char *name, int file_size,
                    int (*open)(sqlite3_vfs *, sqlite3_filename, sqlite3_file *, int, int *));
/* The VFS below a forwarding VFS. */
sqlite3_vfs *bm_vfs_under(const sqlite3_vfs *vfs);

/* Opens name in the VFS below into f's real file; on success f gets
 * methods[version of the file below - 1] (methods holds versions 1 to 3),
 * and a file the VFS below did not open gets none (so no close). */
int bm_fwd_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out,
                const sqlite3_io_methods methods[3]);

/* The file methods that forward; a VFS copies the set and replaces some. */
int bm_fwd_close(sqlite3_file *f);
int bm_fwd_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off);
int bm_fwd_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off);
int bm_fwd_truncate(sqlite3_file *f, sqlite3_int64 size);
int bm_fwd_sync(sqlite3_file *f, int flags);
int bm_fwd_size(sqlite3_file *f, sqlite3_int64 *size);
int bm_fwd_lock(sqlite3_file *f, int l);
int bm_fwd_unlock(sqlite3_file *f, int l);
int bm_fwd_check(sqlite3_file *f, int *out);
int bm_fwd_fcntl(sqlite3_file *f, int op, void *arg);
int bm_fwd_sector(sqlite3_file *f);
int bm_fwd_dev(sqlite3_file *f);
int bm_fwd_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp);
int bm_fwd_shm_lock(sqlite3_file *f, int off, int n, int flags);
void bm_fwd_shm_barrier(sqlite3_file *f);
int bm_fwd_shm_unmap(sqlite3_file *f, int del);
int bm_fwd_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp);
int bm_fwd_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p);

/* The io methods at version v, from these functions. */
#define BM_FWD_METHODS(v, close, read, write, truncate, sync, size, fcntl, fetch)                    \
    {                                                                                              \
        v, close, read, write, truncate, sync, size, bm_fwd_lock, bm_fwd_unlock, bm_fwd_check,    \
            fcntl, bm_fwd_sector, bm_fwd_dev, bm_fwd_shm_map, bm_fwd_shm_lock, bm_fwd_shm_barrier, \
            bm_fwd_shm_unmap, fetch, bm_fwd_unfetch,                                               \
    }

#endif
