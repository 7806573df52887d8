/* lifecycle.h - the request state machine, written once. docs/lifecycle.md
 * draws it. Every change of a request's status goes through
 * bm_lifecycle_next(), and every change is an event row. */
#ifndef BM_LIFECYCLE_H
#define BM_LIFECYCLE_H

#include <stdbool.h>

/* What can happen to a request. */
typedef enum {
    BM_ACT_CLAIM,        /* a volunteer claims an open request (first wins) */
    BM_ACT_PROGRESS,     /* the holder reports progress: renews the lease */
    BM_ACT_DONE,         /* the holder reports it done */
    BM_ACT_CANTFIX,      /* the holder cannot fix it: back to open for others */
    BM_ACT_LEASE_EXPIRE, /* the claim lapsed: back to open */
    BM_ACT_ESCALATE,     /* to a higher-level department (volunteer or office) */
    BM_ACT_RESOLVE,      /* the office records the department's answer */
    BM_ACT_CANCEL,       /* the requester's channel or the office withdraws it */
    BM_ACT_REOPEN,       /* the requester says it is not fixed */
    BM_ACT_COUNT
} bm_action_t;

/* Returns the status a request in status `from` moves to under act, or NULL
 * if the transition is not allowed. Statuses are the strings stored in
 * requests.status. */
const char *bm_lifecycle_next(const char *from, bm_action_t act);
/* The action's name as used in events and error messages ("claim", ...). */
const char *bm_action_name(bm_action_t act);
/* The event kind recorded for the action ("claimed", "completed", ...). */
const char *bm_action_event(bm_action_t act);
/* The webhook type sent for the action, or NULL if none is sent. */
const char *bm_action_notice(bm_action_t act);
/* True for the statuses a request never leaves on its own. */
bool bm_status_final(const char *status);

/* The requests that left the queue, as an SQL condition that lets SQLite
 * read requests_status_created, one range per status: since
 * schema/010_open_once.sql that index holds no open request (those are in
 * requests_open_category). */
#define BM_SQL_NOT_OPEN \
    "status <> 'open' AND status IN ('claimed', 'done', 'escalated', 'resolved', 'cancelled')"
/* The ids of the requests whose created_at meets COND (a condition on
 * created_at alone, numbered parameters only: it appears twice): a range per
 * status on requests_status_created, and the open requests from
 * requests_open_category. Time ranges never read the whole table
 * (schema/009_ticket_order.sql dropped the index on created_at alone). */
#define BM_SQL_IDS_CREATED(cond)                                                       \
    "SELECT id FROM requests WHERE " BM_SQL_NOT_OPEN " AND " cond                      \
    " UNION ALL SELECT id FROM requests INDEXED BY requests_open_category WHERE status" \
    " = 'open' AND " cond

#endif
