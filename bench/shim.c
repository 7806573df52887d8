/* shim.c - LD_PRELOAD'ed into the real bianmin-broker by the bench: counts
 * SQLite commits (by wrapping the commit hook the store installs) and the
 * fsync/fdatasync calls behind them, into a shared mmap'd file named by
 * $BM_BENCH_COUNTERS. The bench reads it at any time, even after SIGKILL,
 * which gives the real group-commit size: submits acknowledged / commits. */
#define _GNU_SOURCE
#include "bench.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static bench_counters_t *counters;

__attribute__((constructor)) static void shim_init(void)
{
    const char *path = getenv(BENCH_COUNTERS_ENV);
    if (!path)
        return;
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return;
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m != MAP_FAILED)
        counters = m;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool is_wal(int fd)
{
    char link[64], target[1024];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 4)
        return false;
    target[n] = '\0';
    return strcmp(target + n - 4, "-wal") == 0;
}

static void count_sync(int fd, int64_t t0)
{
    if (!counters)
        return;
    __atomic_fetch_add(&counters->sync_ns, (uint64_t)(mono_ns() - t0), __ATOMIC_RELAXED);
    __atomic_fetch_add(is_wal(fd) ? &counters->wal_syncs : &counters->db_syncs, 1,
                       __ATOMIC_RELAXED);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int64_t t0 = mono_ns();
    int rc = real ? real(fd) : -1;
    count_sync(fd, t0);
    return rc;
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int64_t t0 = mono_ns();
    int rc = real ? real(fd) : -1;
    count_sync(fd, t0);
    return rc;
}

/* The store installs one commit hook per connection; we chain to it. */
#define MAX_HOOKS 8
static struct {
    sqlite3 *db;
    int (*cb)(void *);
    void *arg;
} hooks[MAX_HOOKS];

static int counting_hook(void *p)
{
    if (counters)
        __atomic_fetch_add(&counters->commits, 1, __ATOMIC_RELAXED);
    int i = (int)(intptr_t)p;
    return hooks[i].cb ? hooks[i].cb(hooks[i].arg) : 0;
}

void *sqlite3_commit_hook(sqlite3 *db, int (*cb)(void *), void *arg)
{
    static void *(*real)(sqlite3 *, int (*)(void *), void *);
    if (!real)
        real = (void *(*)(sqlite3 *, int (*)(void *), void *))dlsym(RTLD_NEXT, "sqlite3_commit_hook");
    if (!real)
        return NULL;
    int slot = -1;
    for (int i = 0; i < MAX_HOOKS; i++) {
        if (hooks[i].db == db || (slot < 0 && !hooks[i].db)) {
            slot = i;
            if (hooks[i].db == db)
                break;
        }
    }
    if (slot < 0 || !cb)
        return real(db, cb, arg);
    void *prev = hooks[slot].db == db ? hooks[slot].arg : NULL;
    hooks[slot].db = db;
    hooks[slot].cb = cb;
    hooks[slot].arg = arg;
    real(db, counting_hook, (void *)(intptr_t)slot);
    return prev;
}
