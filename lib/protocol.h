/* protocol.h - the bianmin wire protocol, version 1, as named constants.
 *
 * docs/protocol.md is the description for people; this header is the one
 * place code takes names from. Change both in the same commit. */
#ifndef BM_PROTOCOL_H
#define BM_PROTOCOL_H

/* Frame 0 of every message. */
#define BM_PROTO_VERSION "BM1"

/* Size limits (bytes). */
#define BM_MAX_CMD        32
#define BM_MAX_CID        64
#define BM_MAX_BODY       (64 * 1024)        /* JSON body frame */
#define BM_ROUTER_SNDHWM  100000 /* replies queued per peer (the broker lowers it: peer_queue) */
#define BM_MAX_MSG        (16 * 1024 * 1024) /* ZMQ_MAXMSGSIZE: larger frames drop the peer */

/* Field limits for a request (bytes of UTF-8). */
#define BM_MAX_BUILDING   200
#define BM_MAX_UNIT       64
#define BM_MAX_CONTACT    200
#define BM_MAX_TEXT       4000
#define BM_MAX_NOTE       4000
#define BM_MAX_URL        2048
#define BM_MAX_REF        128
#define BM_MAX_VOL_ID     64
#define BM_MAX_VOL_NAME   100
#define BM_MAX_TAKE       500   /* deliveries per take */
#define BM_MAX_RESULTS    500   /* results per report */
#define BM_MAX_ATTACH     6     /* photos per progress/done message (frames 4..) */
#define BM_MAX_PHOTO      (8 * 1024 * 1024) /* bytes per photo */
#define BM_MAX_COMMENT    1000
#define BM_MAX_LIST       200   /* requests per list page (bounds a reply's size) */
#define BM_MAX_REASON     1000
#define BM_MAX_DEPARTMENT 64

/* Client commands (client socket). */
#define BM_CMD_SUBMIT     "submit"
#define BM_CMD_GET        "get"
#define BM_CMD_CANCEL     "cancel"
#define BM_CMD_REOPEN     "reopen"
#define BM_CMD_ESCALATE   "escalate"   /* also a worker command */
#define BM_CMD_RESOLVE    "resolve"
#define BM_CMD_LIST       "list"
#define BM_CMD_VOLUNTEERS "volunteers"
#define BM_CMD_DELIVERIES "deliveries"
#define BM_CMD_DELIVERY   "delivery"
#define BM_CMD_REPLAY     "replay"
#define BM_CMD_ENDPOINTS  "endpoints"
#define BM_CMD_ENDPOINT   "endpoint"
#define BM_CMD_RATE       "rate"
/* Key management (client socket, office only). */
#define BM_CMD_KEYS       "keys"
#define BM_CMD_KEY_ADD    "key_add"
#define BM_CMD_KEY_REVOKE "key_revoke"
#define BM_CMD_DEPARTMENTS "departments"
#define BM_CMD_CHOICES     "choices"    /* the station's categories, channels, departments */
/* Users who log in through the gateway (office; login: the gateway). */
#define BM_CMD_PHOTO        "photo"      /* one archived photo, base64 (gateway pages) */
#define BM_CMD_STATS        "stats"      /* the monthly figures (office) */
#define BM_CMD_USERS        "users"
#define BM_CMD_USER_ADD     "user_add"
#define BM_CMD_USER_PASSWD  "user_passwd"
#define BM_CMD_USER_DISABLE "user_disable"
#define BM_CMD_LOGIN        "login"
#define BM_CMD_USER_CHECK   "user_check" /* is a session's user still enabled, same role */
/* Notifier commands (client socket). */
#define BM_CMD_TAKE       "take"
#define BM_CMD_REPORT     "report"
/* Worker commands (worker socket). */
#define BM_CMD_HELLO      "hello"
#define BM_CMD_HEARTBEAT  "heartbeat"
#define BM_CMD_CLAIM      "claim"
#define BM_CMD_DONE       "done"
#define BM_CMD_PROGRESS   "progress"
#define BM_CMD_DECLINE    "decline"
#define BM_CMD_CANTFIX    "cantfix"
/* Broker to worker, unsolicited (correlation id empty). */
#define BM_CMD_OFFER      "offer"
#define BM_CMD_TAKEN      "taken"
#define BM_CMD_REVOKED    "revoked"
/* Replies. */
#define BM_REPLY_OK       "ok"
#define BM_REPLY_ERROR    "error"

/* Error codes: stable strings in the "code" field of an error body. */
#define BM_ERR_BAD_FRAME       "bad_frame"        /* wrong frame count or layout */
#define BM_ERR_BAD_VERSION     "bad_version"      /* frame 0 is not BM1 */
#define BM_ERR_UNKNOWN_COMMAND "unknown_command"
#define BM_ERR_BAD_JSON        "bad_json"         /* body is not a JSON object */
#define BM_ERR_TOO_LARGE       "too_large"        /* body or a field over its limit */
#define BM_ERR_INVALID         "invalid"          /* a field is missing or wrong; see "field" */
#define BM_ERR_UNKNOWN_CATEGORY "unknown_category"
#define BM_ERR_UNKNOWN_CHANNEL "unknown_channel"
#define BM_ERR_UNKNOWN_DEPARTMENT "unknown_department"
#define BM_ERR_NOT_FOUND       "not_found"
#define BM_ERR_HELLO_REQUIRED  "hello_required"   /* worker command before hello */
#define BM_ERR_TAKEN           "taken"            /* someone else claimed it first */
#define BM_ERR_BAD_TRANSITION  "bad_transition"   /* not allowed in the current state */
#define BM_ERR_NOT_YOURS       "not_yours"        /* the job is another volunteer's */
#define BM_ERR_TOO_MANY_JOBS   "too_many_jobs"    /* volunteer at max_jobs */
#define BM_ERR_FORBIDDEN       "forbidden"        /* this channel may not do that */
#define BM_ERR_TOO_LATE        "too_late"         /* e.g. reopen after the window */
#define BM_ERR_STORAGE         "storage_error"    /* the commit failed; nothing was recorded */
#define BM_ERR_SHUTTING_DOWN   "shutting_down"
#define BM_ERR_KEY_REVOKED     "key_revoked"      /* this connection's key was revoked */
#define BM_ERR_RATE_LIMITED    "rate_limited"     /* too many submits a minute; see retry_after_ms */
#define BM_ERR_QUOTA           "quota_exceeded"   /* the key's daily quota is used; see retry_after_ms */
#define BM_ERR_NO_SPACE        "no_space"         /* the station keeps a disk reserve: photos refused */

#endif
