/* retime.h - simulated times for the office's view of a demo run.
 *
 * The replay compresses the trace (speed x, quiet stretches cut), so the
 * broker stamps everything with the few minutes the run took. Afterwards,
 * with the broker stopped, every time in the database is mapped back onto
 * the trace's clock: an instant t of the run is o = (t - start) * speed
 * seconds of compressed trace; with row i the last to arrive at or before o,
 * it becomes created[i] + (o - offset[i]): arrivals land on their trace
 * times. Everything else about a request is placed relative to its own
 * arrival, (t - arrival) * speed after it, so a job's length is its
 * compressed length times speed (the trace's resolution time, capped as the
 * replay caps it, plus any wait for a free volunteer). The database then
 * says, for the office, when things would have happened in the trace. */
#ifndef DEMO_RETIME_H
#define DEMO_RETIME_H

#include <stddef.h>
#include <stdint.h>

#define DEMO_TIMEMAP_MAGIC "bianmin-demo-timemap 1"

/* Writes the time map of a run to path: the run's wall-clock start (UTC
 * ms), the speed, and each row's compressed offset and trace time
 * (seconds). Returns 0 or -1 (errno set). */
int demo_timemap_write(const char *path, int64_t wall_start_ms, double speed,
                       const int64_t *offsets, const int64_t *created, size_t n);

/* Rewrites every time in the database at db_path (the broker must be
 * stopped) with the time map at map_path, in one transaction. Writes the
 * month (YYYY-MM, in the process's time zone) with the most requests
 * received into month. Returns 0, or -1 with a message in err. */
int demo_retime(const char *db_path, const char *map_path, char *month, size_t month_len,
                char *err, size_t errlen);

#endif
