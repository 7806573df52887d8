/* vfs_forward.c - see vfs_forward.h. */
#include "vfs_forward.h"

#include <string.h>

#define UNDER(v) ((sqlite3_vfs *)(v)->pAppData)

/* ---- the VFS ------------------------------------------------------------- */

static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
    return UNDER(v)->xDelete(UNDER(v), n, sync);
}
static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    return UNDER(v)->xAccess(UNDER(v), n, flags, out);
}
static int v_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
    return UNDER(v)->xFullPathname(UNDER(v), n, len, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n) { return UNDER(v)->xDlOpen(UNDER(v), n); }
static void v_dlerror(sqlite3_vfs *v, int n, char *out) { UNDER(v)->xDlError(UNDER(v), n, out); }
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
    return UNDER(v)->xDlSym(UNDER(v), h, s);
}
static void v_dlclose(sqlite3_vfs *v, void *h) { UNDER(v)->xDlClose(UNDER(v), h); }
static int v_random(sqlite3_vfs *v, int n, char *out) { return UNDER(v)->xRandomness(UNDER(v), n, out); }
static int v_sleep(sqlite3_vfs *v, int us) { return UNDER(v)->xSleep(UNDER(v), us); }
static int v_time(sqlite3_vfs *v, double *out) { return UNDER(v)->xCurrentTime(UNDER(v), out); }
static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    return UNDER(v)->xGetLastError ? UNDER(v)->xGetLastError(UNDER(v), n, out) : 0;
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    if (UNDER(v)->iVersion >= 2 && UNDER(v)->xCurrentTimeInt64)
        return UNDER(v)->xCurrentTimeInt64(UNDER(v), out);
    double d = 0;
    int rc = UNDER(v)->xCurrentTime(UNDER(v), &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

void bm_vfs_forward(sqlite3_vfs *vfs, sqlite3_vfs *under, const char *name, int file_size,
                    int (*open)(sqlite3_vfs *, sqlite3_filename, sqlite3_file *, int, int *))
{
    *vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = file_size + under->szOsFile,
        .mxPathname = under->mxPathname,
        .zName = name,
        .pAppData = under,
        .xOpen = open,
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
}

sqlite3_vfs *bm_vfs_under(const sqlite3_vfs *vfs)
{
    return UNDER(vfs);
}

int bm_fwd_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out,
                const sqlite3_io_methods methods[3])
{
    sqlite3_file *real = (sqlite3_file *)((char *)f + (vfs->szOsFile - UNDER(vfs)->szOsFile));
    BM_FWD_REAL(f) = real;
    int rc = UNDER(vfs)->xOpen(UNDER(vfs), name, real, flags, out);
    const sqlite3_io_methods *m = real->pMethods;
    if (!m) {
        f->pMethods = NULL;
        return rc;
    }
    int v = m->iVersion < 1 ? 1 : m->iVersion > 3 ? 3 : m->iVersion;
    f->pMethods = &methods[v - 1];
    return rc;
}

/* ---- its files ------------------------------------------------------------- */

#define REAL(f) BM_FWD_REAL(f)

int bm_fwd_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
int bm_fwd_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
int bm_fwd_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
int bm_fwd_truncate(sqlite3_file *f, sqlite3_int64 size) { return REAL(f)->pMethods->xTruncate(REAL(f), size); }
int bm_fwd_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
int bm_fwd_size(sqlite3_file *f, sqlite3_int64 *size) { return REAL(f)->pMethods->xFileSize(REAL(f), size); }
int bm_fwd_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
int bm_fwd_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
int bm_fwd_check(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
int bm_fwd_fcntl(sqlite3_file *f, int op, void *arg) { return REAL(f)->pMethods->xFileControl(REAL(f), op, arg); }
int bm_fwd_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
int bm_fwd_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
int bm_fwd_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
int bm_fwd_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
void bm_fwd_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
int bm_fwd_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
int bm_fwd_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    if (REAL(f)->pMethods->iVersion < 3 || !REAL(f)->pMethods->xFetch) {
        *pp = NULL; /* no memory map: SQLite reads instead */
        return SQLITE_OK;
    }
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
int bm_fwd_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    if (REAL(f)->pMethods->iVersion < 3 || !REAL(f)->pMethods->xUnfetch)
        return SQLITE_OK;
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}
