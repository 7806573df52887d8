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
#include "vfs_forward.h"

#include <pthread.h>

typedef struct {
    bm_fwd_file_t fwd;  /* the file below follows this struct */
    bool wal;           /* a WAL file: its appends are gathered */
    unsigned char *buf; /* the gathered bytes, to be written at off */
    size_t len;
    sqlite3_int64 off;
} wfile_t;

static sqlite3_vfs shim;
static bool registered;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* 31 pages: below the 128 KiB a unix VFS write may carry. */
#define STORE_WAL_WRITE_PIECE ((size_t)31 * 4096)

#define W(f) ((wfile_t *)(f))

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
        rc = bm_fwd_write(&w->fwd.base, w->buf + done, (int)n, w->off + (sqlite3_int64)done);
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
    int rc2 = bm_fwd_close(f);
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
    return bm_fwd_read(f, p, n, off);
}

static int w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    wfile_t *w = W(f);
    if (!w->wal || n <= 0)
        return bm_fwd_write(f, p, n, off);
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
        return bm_fwd_write(f, p, n, off);
    memcpy(w->buf, p, (size_t)n);
    w->len = (size_t)n;
    w->off = off;
    return SQLITE_OK;
}

static int w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = w_flush(W(f));
    return rc != SQLITE_OK ? rc : bm_fwd_truncate(f, size);
}

static int w_sync(sqlite3_file *f, int flags)
{
    int rc = w_flush(W(f));
    return rc != SQLITE_OK ? rc : bm_fwd_sync(f, flags);
}

static int w_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = w_flush(W(f));
    return rc != SQLITE_OK ? rc : bm_fwd_size(f, size);
}

static int w_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    int rc = w_flush(W(f));
    return rc != SQLITE_OK ? rc : bm_fwd_fetch(f, off, n, pp);
}

/* The same methods at each version: a file gets the version of the file
 * below, so SQLite never asks for shared memory or a memory map the file
 * below does not have. A file control passes on without writing what is
 * gathered: SQLite ignores the result of its hints (a size hint, a sync
 * hint), so a failed write there would be lost unseen; and no file control
 * reads a WAL's content (a size hint only makes the file longer, and the
 * gathered bytes go within it). */
#define W_METHODS(v)                                                                               \
    BM_FWD_METHODS(v, w_close, w_read, w_write, w_truncate, w_sync, w_size, bm_fwd_fcntl, w_fetch)
static const sqlite3_io_methods methods[3] = {W_METHODS(1), W_METHODS(2), W_METHODS(3)};

static int v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out)
{
    wfile_t *w = W(file);
    memset(w, 0, sizeof *w);
    int rc = bm_fwd_open(vfs, name, file, flags, out, methods);
    /* A WAL whose database was not opened with psow=0 and whose file says it
     * is overwritten safely: SQLite does not pad its commits. */
    w->wal = file->pMethods && (flags & SQLITE_OPEN_WAL) != 0 && sqlite3_uri_boolean(name, "psow", 1) &&
             (bm_fwd_dev(file) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0;
    return rc;
}

static void register_once(void)
{
    sqlite3_vfs *below = sqlite3_vfs_find(NULL);
    if (!below)
        return;
    bm_vfs_forward(&shim, below, STORE_VFS_NAME, (int)sizeof(wfile_t), v_open);
    registered = sqlite3_vfs_register(&shim, 0) == SQLITE_OK;
}

const char *st_vfs_name(void)
{
    /* For the bench's comparison (docs/benchmarks.md): every write as SQLite
     * makes it. */
    if (getenv("BIANMIN_NO_WAL_BUFFER"))
        return NULL;
    pthread_once(&once, register_once);
    return registered ? STORE_VFS_NAME : NULL;
}
