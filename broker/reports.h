/* reports.h - the broker's `stats` command: the office's monthly figures
 * (lib/stats.h) computed over a read-only connection to the broker's own
 * database, so that the gateway can show the monthly report without opening
 * the database itself. */
#ifndef BM_REPORTS_H
#define BM_REPORTS_H

#include "config.h"

#include <cjson/cJSON.h>

/* Reads {"month": "YYYY-MM", "tz"?: zone} and returns 0 with *reply = the
 * report as `bianmin --json stats` prints it (caller owns), or -1 with err
 * set (invalid month, storage_error). Runs in the broker's loop: a month's
 * figures of a community office take milliseconds. */
int reports_month(const bm_config_t *cfg, const cJSON *body, cJSON **reply, bm_error_t *err);

#endif
