/* store_vfs.c - the WAL's writes gathered into one per commit.
 *
 * SQLite writes each WAL frame as two pwrite calls (its 24-byte header,
 * then the page), each a system call into the page cache; with ~200
 * requests per commit that is hundreds of calls before the one fdatasync.
 * This VFS sits over the default one (whatever it is when the store first
 * opens: the unix VFS, or a test's fault VFS) and, for WAL files only,
 * gathers writes that continue one another in a buffer and writes them
 * with one call per 124 KiB: before the file is synced (so a commit's fsync
 * covers exactly what SQLite wrote, in the order it wrote it), before any
 * read of the gathered range, before a truncate, a size or a close, and
 * whenever a write does not continue the gathered run. Every other file,
 * and every other method, goes straight to the VFS below.
 *
 * Nothing else changes for durability: SQLite syncs the WAL before it
 * publishes a commit in the WAL index (synchronous=FULL), so no connection
 * can see a frame that is still only in the buffer. A gathered write that
 * fails fails the method that asked for it (a sync, a read, a write, a
 * truncate), and what it could not write stays gathered until a later one
 * succeeds: a commit's sync succeeds only once every byte SQLite wrote is in
 * the file. (SQLite may go on after a failed read of a page it spilled to
 * the WAL: it undoes that statement, not the transaction, and still counts
 * the spilled frames as written.) Only methods whose errors SQLite reports
 * write the buffer: a file control (SQLite ignores its hints' results)
 * passes by it. Gathering is used only where SQLite does not pad a commit to
 * a sector (powersafe overwrite, SQLite's default): the padding's frames are
 * written after the sync. Measured: docs/benchmarks.md ("Third round"). */
#include "store_int.h"

#include <pthread.h>

typedef struct {
    sqlite3_file base;
    sqlite3_file *real; /* follows this struct in the same allocation */
    bool wal;           /* a WAL file: its appends are gathered */
    unsigned char *buf; /* the gathered bytes, to be written at off */
    size_t len;
    sqlite3_int64 off;
} wfile_t;

static sqlite3_vfs *under; /* the VFS below, NULL if registration failed */
static sqlite3_vfs shim;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* 31 pages: below the 128 KiB a unix VFS write may carry. */
#define STORE_WAL_WRITE_PIECE ((size_t)31 * 4096)

#define W(f)    ((wfile_t *)(f))
#define REAL(f) (W(f)->real)

/* Writes what is gathered, in pieces the VFS below takes whole (SQLite's
 * unix VFS writes at most 128 KiB - 1 per call: it masks a longer count).
 * What could not be written stays gathered: SQLite may carry on after the
 * error (a failed read of a page it spilled undoes one statement, not the
 * transaction), so the bytes must still reach the file before the commit's
 * sync — or that sync fails too. Never dropped unseen. */
static int w_flush(wfile_t *w)
{
    int rc = SQLITE_OK;
    size_t done = 0;
    while (done < w->len) {
        size_t n = w->len - done < STORE_WAL_WRITE_PIECE ? w->len - done : STORE_WAL_WRITE_PIECE;
        rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int)n, w->off + (sqlite3_int64)done);
        if (rc != SQLITE_OK)
            break;
        done += n;
    }
    if (done > 0 && done < w->len)
        memmove(w->buf, w->buf + done, w->len - done);
    w->len -= done;
    w->off += (sqlite3_int64)done;
    return rc;
}

static int w_close(sqlite3_file *f)
{
    int rc = w_flush(W(f));
    int rc2 = REAL(f)->pMethods->xClose(REAL(f));
    free(W(f)->buf);
    W(f)->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int w_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    wfile_t *w = W(f);
    if (w->len > 0 && off < w->off + (sqlite3_int64)w->len && off + n > w->off) {
        int rc = w_flush(w);
        if (rc != SQLITE_OK)
            return rc;
    }
    return w->real->pMethods->xRead(w->real, p, n, off);
}

static int w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    wfile_t *w = W(f);
    if (!w->wal || n <= 0)
        return w->real->pMethods->xWrite(w->real, p, n, off);
    if (w->len > 0 && off == w->off + (sqlite3_int64)w->len &&
        w->len + (size_t)n <= STORE_WAL_BUFFER_BYTES) {
        memcpy(w->buf + w->len, p, (size_t)n);
        w->len += (size_t)n;
        return SQLITE_OK;
    }
    int rc = w_flush(w);
    if (rc != SQLITE_OK)
        return rc;
    if (!w->buf)
        w->buf = malloc(STORE_WAL_BUFFER_BYTES); /* NULL: written as it comes */
    if (!w->buf || (size_t)n > STORE_WAL_WRITE_PIECE)
        return w->real->pMethods->xWrite(w->real, p, n, off);
    memcpy(w->buf, p, (size_t)n);
    w->len = (size_t)n;
    w->off = off;
    return SQLITE_OK;
}

static int w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = w_flush(W(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int w_sync(sqlite3_file *f, int flags)
{
    int rc = w_flush(W(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int w_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = w_flush(W(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int w_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int w_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int w_check(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }

/* Passed on without writing what is gathered: SQLite ignores the result of
 * its hints (a size hint, a sync hint), so a failed write here would be
 * lost unseen; and no file control reads a WAL's content (a size hint only
 * makes the file longer, and the gathered bytes go within it). */
static int w_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int w_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int w_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }

static int w_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
static int w_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void w_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int w_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }

static int w_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    int rc = w_flush(W(f));
    if (rc != SQLITE_OK)
        return rc;
    if (REAL(f)->pMethods->iVersion < 3 || !REAL(f)->pMethods->xFetch) {
        *pp = NULL; /* no memory map: SQLite reads instead */
        return SQLITE_OK;
    }
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    if (REAL(f)->pMethods->iVersion < 3 || !REAL(f)->pMethods->xUnfetch)
        return SQLITE_OK;
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* The same methods at each version: a file gets the version of the file
 * below, so SQLite never asks for shared memory or a memory map the file
 * below does not have. */
#define W_METHODS(v)                                                                                \
    {                                                                                               \
        v, w_close, w_read, w_write, w_truncate, w_sync, w_size, w_lock, w_unlock, w_check,      \
            w_fcntl, w_sector, w_dev, w_shm_map, w_shm_lock, w_shm_barrier, w_shm_unmap, w_fetch, \
            w_unfetch,                                                                              \
    }
static const sqlite3_io_methods methods[3] = {W_METHODS(1), W_METHODS(2), W_METHODS(3)};

static int v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out)
{
    (void)vfs;
    wfile_t *w = W(file);
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)&w[1];
    int rc = under->xOpen(under, name, w->real, flags, out);
    const sqlite3_io_methods *m = w->real->pMethods;
    /* Only a file the VFS below opened gets methods (and so a close). */
    if (!m) {
        file->pMethods = NULL;
        return rc;
    }
    int v = m->iVersion < 1 ? 1 : m->iVersion > 3 ? 3 : m->iVersion;
    file->pMethods = &methods[v - 1];
    /* A WAL whose database was not opened with psow=0 and whose file says it
     * is overwritten safely: SQLite does not pad its commits. */
    w->wal = (flags & SQLITE_OPEN_WAL) != 0 && sqlite3_uri_boolean(name, "psow", 1) &&
             (m->xDeviceCharacteristics(w->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0;
    return rc;
}

static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return under->xDelete(under, n, sync);
}
static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return under->xAccess(under, n, flags, out);
}
static int v_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return under->xFullPathname(under, n, len, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return under->xDlOpen(under, n);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    under->xDlError(under, n, out);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
    (void)v;
    return under->xDlSym(under, h, s);
}
static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    under->xDlClose(under, h);
}
static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return under->xRandomness(under, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return under->xSleep(under, us);
}
static int v_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return under->xCurrentTime(under, out);
}
static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return under->xGetLastError ? under->xGetLastError(under, n, out) : 0;
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    if (under->iVersion >= 2 && under->xCurrentTimeInt64)
        return under->xCurrentTimeInt64(under, out);
    double d = 0;
    int rc = under->xCurrentTime(under, &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

static void register_once(void)
{
    sqlite3_vfs *below = sqlite3_vfs_find(NULL);
    if (!below)
        return;
    shim = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(wfile_t) + below->szOsFile,
        .mxPathname = below->mxPathname,
        .zName = STORE_VFS_NAME,
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
    under = below;
    if (sqlite3_vfs_register(&shim, 0) != SQLITE_OK)
        under = NULL;
}

const char *st_vfs_name(void)
{
    /* For the bench's comparison (docs/benchmarks.md): every write as SQLite
     * makes it. */
    if (getenv("BIANMIN_NO_WAL_BUFFER"))
        return NULL;
    pthread_once(&once, register_once);
    return under ? STORE_VFS_NAME : NULL;
}
