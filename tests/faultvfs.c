/* faultvfs.c - see faultvfs.h. Every method forwards to the real VFS and
 * file (lib/vfs_forward.h); only xWrite consults the fault switch. */
#include "faultvfs.h"
#include "vfs_forward.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    bm_fwd_file_t fwd; /* the real file follows this struct */
    bool wal;          /* a WAL file (its writes are counted) */
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

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (((ffile_t *)f)->wal)
        atomic_fetch_add(&wal_writes, 1);
    if (refuse())
        return SQLITE_FULL;
    return bm_fwd_write(f, buf, n, off);
}
#define F_METHODS(v)                                                                                \
    BM_FWD_METHODS(v, bm_fwd_close, bm_fwd_read, f_write, bm_fwd_truncate, bm_fwd_sync, bm_fwd_size, \
                   bm_fwd_fcntl, bm_fwd_fetch)
static const sqlite3_io_methods methods[3] = {F_METHODS(1), F_METHODS(2), F_METHODS(3)};

static int v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out)
{
    ((ffile_t *)file)->wal = (flags & SQLITE_OPEN_WAL) != 0;
    return bm_fwd_open(vfs, name, file, flags, out, methods);
}

int tu_faultvfs_install(void)
{
    if (real_vfs)
        return 0;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs)
        return -1;
    bm_vfs_forward(&fault_vfs, real_vfs, "bm_faultvfs", (int)sizeof(ffile_t), v_open);
    return sqlite3_vfs_register(&fault_vfs, 1) == SQLITE_OK ? 0 : -1;
}
