/* store_checkpoint.c - the checkpointer: a thread with its own connection
 * that copies the WAL back into the database (passive checkpoints) when the
 * broker asks, so that neither a commit nor the event loop waits for it.
 *
 * SQLite lets a checkpoint run on one connection while another writes: a
 * passive checkpoint copies the frames committed when it starts and never
 * blocks the writer. The WAL restarts from its beginning only when a write
 * transaction begins with every frame copied (and the file is then cut back
 * to STORE_WAL_LIMIT_BYTES, journal_size_limit). Under a load that never
 * pauses the thread never sees that (frames keep coming): so it repeats its
 * checkpoint while frames came during the last one (each round copies fewer),
 * and once the WAL is STORE_WAL_RESTART_FRAMES long the loop copies the
 * remainder itself at a pass boundary, where no transaction is open. That
 * holds the loop for a few ms (a sync of the database file), once per
 * restart rather than once per checkpoint. Nothing acknowledged depends on
 * any of it: committed frames are durable in the WAL whether copied or not. */
#include "store_int.h"

/* The thread's rounds: it checkpoints again while the last round met more
 * than CKPT_CATCHUP_FRAMES new frames, at most CKPT_ROUNDS_MAX times. */
#define CKPT_ROUNDS_MAX     8
#define CKPT_CATCHUP_FRAMES 256

static void *ckpt_main(void *arg)
{
    store_t *self = arg;
    pthread_mutex_lock(&self->ckpt.mu);
    for (;;) {
        while (!self->ckpt.wanted && !self->ckpt.stop)
            pthread_cond_wait(&self->ckpt.cv, &self->ckpt.mu);
        if (self->ckpt.stop)
            break;
        self->ckpt.wanted = false;
        self->ckpt.busy = true;
        pthread_mutex_unlock(&self->ckpt.mu);
        int log_frames = 0, copied = 0, rc = SQLITE_OK, before = -1;
        for (int round = 0; round < CKPT_ROUNDS_MAX; round++) {
            rc = sqlite3_wal_checkpoint_v2(self->ckpt.db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                           &copied);
            log_debug("checkpoint round %d: rc %d, %d frames in the WAL, %d copied", round, rc, log_frames,
                      copied);
            /* (fewer frames than before: the WAL restarted meanwhile) */
            if (rc != SQLITE_OK || log_frames < 0 ||
                (before >= 0 && (log_frames < before || log_frames - before <= CKPT_CATCHUP_FRAMES)))
                break;
            before = log_frames;
        }
        if (rc == SQLITE_BUSY)
            log_debug("checkpoint busy (another checkpoint runs, e.g. a backup); tried again later");
        else if (rc != SQLITE_OK)
            log_warn("WAL 检查点失败（磁盘满？），稍后重试 / WAL checkpoint failed (%s); the WAL keeps "
                     "the data and the checkpoint is tried again later",
                     sqlite3_errmsg(self->ckpt.db));
        pthread_mutex_lock(&self->ckpt.mu);
        self->ckpt.busy = false;
        if (rc == SQLITE_OK && log_frames >= 0) {
            self->ckpt.copied = copied;
            self->ckpt.done++;
        }
    }
    pthread_mutex_unlock(&self->ckpt.mu);
    return NULL;
}

int st_ckpt_start(store_t *self)
{
    /* For the bench's comparison (docs/benchmarks.md): the loop checkpoints. */
    if (getenv("BIANMIN_NO_CHECKPOINT_THREAD"))
        return -1;
    if (sqlite3_open_v2(self->path, &self->ckpt.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        st_vfs_name()) !=
        SQLITE_OK) {
        log_warn("不能为检查点打开第二个连接，检查点在主循环里做 / cannot open a second connection "
                 "for checkpoints (%s); the event loop checkpoints itself",
                 self->ckpt.db ? sqlite3_errmsg(self->ckpt.db) : "out of memory");
        sqlite3_close(self->ckpt.db);
        self->ckpt.db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(self->ckpt.db, 1000);
    /* A connection that has read nothing yet does not know the database is in
     * WAL mode, and its checkpoints would do nothing (SQLite reports -1
     * frames): reading the journal mode opens the WAL. */
    sqlite3_stmt *s = NULL;
    bool wal = sqlite3_prepare_v2(self->ckpt.db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
               sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
               strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal) {
        log_warn("检查点连接不在 WAL 模式，检查点在主循环里做 / the checkpoint connection does not see "
                 "WAL mode (%s); the event loop checkpoints itself",
                 sqlite3_errmsg(self->ckpt.db));
        sqlite3_close(self->ckpt.db);
        self->ckpt.db = NULL;
        return -1;
    }
    pthread_mutex_init(&self->ckpt.mu, NULL);
    pthread_cond_init(&self->ckpt.cv, NULL);
    if (pthread_create(&self->ckpt.thread, NULL, ckpt_main, self) != 0) {
        log_warn("不能启动检查点线程，检查点在主循环里做 / cannot start the checkpoint thread; the "
                 "event loop checkpoints itself");
        pthread_cond_destroy(&self->ckpt.cv);
        pthread_mutex_destroy(&self->ckpt.mu);
        sqlite3_close(self->ckpt.db);
        self->ckpt.db = NULL;
        return -1;
    }
    self->ckpt.running = true;
    return 0;
}

void st_ckpt_stop(store_t *self)
{
    if (!self->ckpt.running)
        return;
    pthread_mutex_lock(&self->ckpt.mu);
    self->ckpt.stop = true;
    pthread_cond_signal(&self->ckpt.cv);
    pthread_mutex_unlock(&self->ckpt.mu);
    pthread_join(self->ckpt.thread, NULL);
    pthread_cond_destroy(&self->ckpt.cv);
    pthread_mutex_destroy(&self->ckpt.mu);
    sqlite3_close(self->ckpt.db);
    self->ckpt.db = NULL;
    self->ckpt.running = false;
}

/* A passive checkpoint on the loop's own connection, outside a batch. */
static void checkpoint_here(store_t *self)
{
    int log_frames = 0, copied = 0;
    if (sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied) !=
        SQLITE_OK)
        log_warn("WAL 检查点失败（磁盘满？），稍后重试 / WAL checkpoint failed (%s); the WAL keeps "
                 "the data and the checkpoint is tried again later",
                 sqlite3_errmsg(self->db));
}

int store_checkpoint(store_t *self)
{
    if (self->in_batch || self->file_lost)
        return 0; /* never into a file that was removed or replaced */
    if (!self->ckpt.running) {
        if (self->wal_frames < self->ckpt.ask_frames)
            return 0;
        self->wal_frames = 0;
        checkpoint_here(self);
        return STORE_CKPT_COMPLETED;
    }
    pthread_mutex_lock(&self->ckpt.mu);
    uint64_t done = self->ckpt.done;
    int copied = self->ckpt.copied;
    bool idle = !self->ckpt.wanted && !self->ckpt.busy;
    pthread_mutex_unlock(&self->ckpt.mu);
    if (done != self->ckpt.seen) {
        self->ckpt.seen = done;
        self->ckpt.backfilled = copied;
        if (self->wal_frames >= self->ckpt.restart_frames) {
            /* The thread copied the bulk while the loop went on committing;
             * the frames written meanwhile are copied here, where no
             * transaction is open, so that the checkpoint is complete and
             * the next commit restarts the WAL from its beginning. */
            checkpoint_here(self);
            self->wal_frames = 0;
            self->ckpt.backfilled = 0;
            return STORE_CKPT_COMPLETED;
        }
    }
    /* (the WAL restarted by itself: a write began with every frame copied) */
    if (self->wal_frames < self->ckpt.backfilled)
        self->ckpt.backfilled = 0;
    if (self->wal_frames - self->ckpt.backfilled < self->ckpt.ask_frames || !idle)
        return 0; /* one at a time */
    pthread_mutex_lock(&self->ckpt.mu);
    self->ckpt.wanted = true;
    pthread_cond_signal(&self->ckpt.cv);
    pthread_mutex_unlock(&self->ckpt.mu);
    return STORE_CKPT_ASKED;
}

uint64_t store_checkpoints_done(store_t *self)
{
    if (!self->ckpt.running)
        return 0;
    pthread_mutex_lock(&self->ckpt.mu);
    uint64_t n = self->ckpt.done;
    pthread_mutex_unlock(&self->ckpt.mu);
    return n;
}
