/* faultvfs.c - see faultvfs.h. Every method forwards to the real VFS and
 * file; only xWrite (and growing xTruncate) consult the fault switch. */
#include "faultvfs.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    sqlite3_file base;
    sqlite3_file *real; /* follows this struct in the same allocation */
    bool wal;           /* a WAL file (its writes are counted) */
} ffile_t;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static atomic_int full_flag;
static atomic_int countdown = -1; /* writes left before the disk is full; -1: off */
static atomic_int fail_left;     /* failures left once the countdown ran out; -1: forever */
static atomic_long refused;
static atomic_long wal_writes;

void tu_faultvfs_full(bool full)
{
    atomic_store(&countdown, -1);
    atomic_store(&full_flag, full ? 1 : 0);
}

void tu_faultvfs_fail_after(int n, int k)
{
    atomic_store(&full_flag, 0);
    atomic_store(&fail_left, k);
    atomic_store(&countdown, n);
}

long tu_faultvfs_refused(void)
{
    return atomic_load(&refused);
}

long tu_faultvfs_wal_writes(void)
{
    return atomic_load(&wal_writes);
}

static bool refuse(void)
{
    if (atomic_load(&full_flag)) {
        atomic_fetch_add(&refused, 1);
        return true;
    }
    int left = atomic_load(&countdown);
    if (left == 0) {
        int k = atomic_load(&fail_left);
        if (k < 0) {
            atomic_store(&full_flag, 1);
            atomic_store(&countdown, -1);
        } else if (k <= 1) {
            atomic_store(&countdown, -1);
        } else {
            atomic_store(&fail_left, k - 1);
        }
        atomic_fetch_add(&refused, 1);
        return true;
    }
    if (left > 0)
        atomic_fetch_sub(&countdown, 1);
    return false;
}

#define REAL(f) (((ffile_t *)(f))->real)

static int f_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (((ffile_t *)f)->wal)
        atomic_fetch_add(&wal_writes, 1);
    if (refuse())
        return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int f_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int f_check(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int f_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int f_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods methods = {
    3, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock, f_unlock, f_check,
    f_fcntl, f_sector, f_dev, f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch,
    f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
    (void)vfs;
    ffile_t *ff = (ffile_t *)file;
    ff->real = (sqlite3_file *)&ff[1];
    ff->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    /* Only a file the real VFS opened gets methods (and so a close). */
    file->pMethods = ff->real->pMethods ? &methods : NULL;
    return rc;
}
static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, n, sync);
}
static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, n, flags, out);
}
static int v_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, n, len, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return real_vfs->xDlOpen(real_vfs, n);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    real_vfs->xDlError(real_vfs, n, out);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
    (void)v;
    return real_vfs->xDlSym(real_vfs, h, s);
}
static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs->xDlClose(real_vfs, h);
}
static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}
static int v_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int tu_faultvfs_install(void)
{
    if (real_vfs)
        return 0;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs)
        return -1;
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(ffile_t) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "bm_faultvfs",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_random,
        .xSleep = v_sleep,
        .xCurrentTime = v_time,
        .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    return sqlite3_vfs_register(&fault_vfs, 1) == SQLITE_OK ? 0 : -1;
}
