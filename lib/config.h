/* config.h - the broker's settings: built-in defaults, overridden by a JSON
 * config file, overridden by command-line flags. */
#ifndef BM_CONFIG_H
#define BM_CONFIG_H

#include "proto.h"

#include <stdbool.h>
#include <stdint.h>

#define BM_MAX_CATEGORIES 32
#define BM_MAX_CHANNELS   16
#define BM_MAX_RETRIES    32
#define BM_MAX_SUBSCRIPTIONS 32
#define BM_MAX_DEPARTMENTS   32

/* Named defaults. */
#define BM_DEFAULT_CLIENT_ENDPOINT "tcp://127.0.0.1:5570"
#define BM_DEFAULT_WORKER_ENDPOINT "tcp://127.0.0.1:5571"
#define BM_DEFAULT_DATABASE        "var/bianmin.db"
#define BM_DEFAULT_HEARTBEAT_MS    2000
#define BM_DEFAULT_OFFER_WINDOW    3     /* outstanding offers per volunteer */
#define BM_DEFAULT_DELIVERY_LEASE_S 60   /* a taken delivery is due again after this */
#define BM_DEFAULT_BATCH_MAX       2048  /* messages per loop pass (one commit) */
#define BM_DEFAULT_MAX_ATTEMPTS    3     /* failed claims before the office is asked to escalate */
#define BM_DEFAULT_REOPEN_DAYS     7     /* a requester may reopen this long after done */
#define BM_DEFAULT_RATE_DAYS       30    /* a requester may rate this long after done */
#define BM_DEFAULT_ROTATION_S      86400 /* an old webhook secret is still signed with this long */
#define BM_DEFAULT_MAX_JOBS        1     /* jobs a volunteer holds at once unless hello says */
/* Authentication and limits (docs/security.md). */
#define BM_DEFAULT_KEY_DIR          "keys" /* beside the database unless key_dir is set */
#define BM_DEFAULT_MAX_OPEN_FILES   65536 /* the broker raises RLIMIT_NOFILE to this (or the hard limit) */
#define BM_DEFAULT_PEER_QUEUE       1000  /* messages queued to one peer that does not read */
#define BM_DEFAULT_SUBMIT_PER_MIN   120   /* submits per key per minute (burst as large); 0 = no limit */
#define BM_DEFAULT_SUBMIT_PER_DAY   5000  /* submits per key per UTC day; 0 = no limit */
#define BM_DEFAULT_PHOTOS_PER_REQUEST 30  /* photos stored for one request in all */
#define BM_DEFAULT_PHOTOS_PER_VOLUNTEER_DAY 200 /* photos one volunteer may send per UTC day */
#define BM_DEFAULT_DISK_RESERVE_MB  200   /* photos are refused when less is free where they go */
#define BM_DEFAULT_OFFER_FANOUT    3     /* volunteers a job is offered to first (0: everyone) */
#define BM_DEFAULT_OFFER_FANOUT_URGENT 6 /* the same for urgent categories */
#define BM_DEFAULT_OFFER_STEP_S    60    /* unclaimed this long: offered to fanout more */
#define BM_DEFAULT_OFFER_STEP_URGENT_S 30
#define BM_MAX_OFFER_FANOUT        1024

typedef struct {
    char name[32];      /* wire name, e.g. "pipe" */
    char label[64];     /* e.g. 管道疏通 */
    int priority;       /* higher first */
    bool urgent;
    int offer_timeout_s; /* unclaimed this long: overdue */
    int lease_s;         /* a claim lapses after this without progress */
    int deadline_s;      /* service-level deadline from received to done */
    int offer_fanout;    /* offered first to this many volunteers, then this many more
                          * every offer_step_s until claimed; 0: to everyone at once */
    int offer_step_s;
} bm_category_t;

/* A configured webhook subscription: the office, or a department. */
typedef struct {
    char name[64];        /* e.g. office, water_company */
    char url[2048];
    char secret[128];     /* whsec_... */
    char events[512];     /* comma separated types; empty = all */
    char department[64];  /* set for a department: gets escalations to it */
} bm_subscription_t;

/* A higher-level department (上级职能部门) requests can be escalated to. */
typedef struct {
    char id[64];           /* wire name, e.g. water_company */
    char name[64];         /* for people, e.g. 自来水公司 */
    char subscription[64]; /* the subscription that tells it; "" if none (the office calls) */
} bm_department_t;

typedef struct {
    char client_endpoint[256];
    char worker_endpoint[256];
    char database[1024];
    char callback_secret[128]; /* whsec_...; signs per-request callbacks */
    char log_level[16];
    int heartbeat_ms;
    int offer_window;
    int delivery_lease_s;
    int batch_max;
    int max_attempts;
    int reopen_days;
    int rotation_overlap_s;
    int rate_days;
    char archive_dir[1024]; /* photos; default: "archive" beside the database */
    bool auth_none;         /* "auth": "none": development mode, loopback/ipc only */
    char key_dir[1024];     /* the broker's key and the first office key; default: "keys" beside the database */
    int max_open_files;
    int peer_queue;
    int submit_per_min;
    int submit_per_day;
    int photos_per_request;
    int photos_per_volunteer_day;
    int disk_reserve_mb;
    int fault_zap;          /* testing only (--fault-zap): 1 no handler bound, 2 a handler that never answers */
    bool allow_new_database; /* start on an empty database beside traces of an old one */
    char time_zone[64];     /* the office's zone as written ("Asia/Shanghai", "+08:00"); "" = TZ/system */
    bm_department_t departments[BM_MAX_DEPARTMENTS];
    int department_count;
    bm_subscription_t subscriptions[BM_MAX_SUBSCRIPTIONS];
    int subscription_count;
    int retry_schedule_s[BM_MAX_RETRIES];
    int retry_count;
    bm_category_t categories[BM_MAX_CATEGORIES];
    int category_count;
    char channels[BM_MAX_CHANNELS][32];
    char channel_secrets[BM_MAX_CHANNELS][128]; /* per channel; empty: callback_secret */
    int channel_count;
    char metrics_listen[128]; /* "127.0.0.1:9570": Prometheus metrics; empty: off */
    char log_format[16];      /* "text" (default) or "json" (one JSON object per line) */
} bm_config_t;

/* Fills cfg with the built-in defaults. */
void bm_config_defaults(bm_config_t *cfg);
/* Reads a JSON config file over cfg. Returns 0, or -1 with a message for
 * people in err (file, key and what is wrong). */
int bm_config_load(bm_config_t *cfg, const char *path, bm_error_t *err);
/* Checks a whsec_ secret: returns 0 if it decodes to 24..64 bytes. */
int bm_secret_check(const char *secret);

/* The photo archive folder: archive_dir, or "archive" beside the database. */
void bm_config_archive_dir(const bm_config_t *cfg, char *buf, size_t len);

/* The key folder: key_dir, or "keys" beside the database. */
void bm_config_key_dir(const bm_config_t *cfg, char *buf, size_t len);

/* True if endpoint is ipc://, inproc:// or tcp:// on a loopback address:
 * where the development mode ("auth": "none") may listen. */
bool bm_endpoint_local(const char *endpoint);

/* The secret that signs callbacks of requests from this channel: its own
 * (channel_secrets) or callback_secret; "" if neither is set. */
const char *bm_config_callback_secret(const bm_config_t *cfg, const char *channel);

/* Lookups; return NULL / false if unknown. */
const bm_category_t *bm_config_category(const bm_config_t *cfg, const char *name);
/* A category by its name or its Chinese label, as a person may type either;
 * unknown, err says so for field ("category", or "skills": then as a skill),
 * with the closest name ("did you mean") and every choice. */
const bm_category_t *bm_config_category_choice(const bm_config_t *cfg, const char *value,
                                               const char *field, bm_error_t *err);
const bm_department_t *bm_config_department(const bm_config_t *cfg, const char *id);
/* Checks that id names a configured department. Returns 0, or -1 with err
 * set: code unknown_department, field "department", a bilingual message with
 * the closest id ("did you mean") and the valid ones. */
int bm_config_check_department(const bm_config_t *cfg, const char *id, bm_error_t *err);
/* The departments as {"departments": [{"id", "name", "subscription"}]}
 * (subscription null if none). Caller owns the result (cJSON_Delete). */
cJSON *bm_config_departments_json(const bm_config_t *cfg);
bool bm_config_channel(const bm_config_t *cfg, const char *name);

#endif
