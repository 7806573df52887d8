/* delivery.h - the notifier's pure parts: reading a delivery out of a take
 * reply, the Standard Webhooks headers for one attempt, the Retry-After
 * header, and turning a finished transfer into a report result.
 *
 * Nothing here does I/O, so each rule is unit tested on its own
 * (tests/test_notifier.c). */
#ifndef NT_DELIVERY_H
#define NT_DELIVERY_H

#include "proto.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NT_USER_AGENT        "bianmin-notifier/0.1"
#define NT_MAX_SECRETS       8          /* signatures per attempt */
#define NT_MAX_MSG_ID        128
/* Bytes of an error text ("中文 / English"), NUL included: room for the longest,
 * the guard's refusal naming a 255-byte host twice; the broker takes up to 1000. */
#define NT_ERROR_LEN         900
#define NT_RETRY_AFTER_MAX_S (7L * 86400) /* a larger Retry-After is clamped to a week */

/* One delivery from a take reply. The strings point into the JSON it was
 * parsed from and live as long as it does. */
typedef struct {
    int64_t id;
    const char *msg_id;
    const char *url;
    const char *type; /* may be NULL */
    const char *body;
    size_t body_len;
    const char *secrets[NT_MAX_SECRETS];
    size_t secret_count;
    int64_t attempt; /* 0 if absent */
} nt_delivery_t;

/* Reads one element of "deliveries". Returns 0, or -1 with err set; d->id is
 * set whenever the id itself was readable (else 0), so that a malformed
 * delivery can still be reported as a failed attempt. */
int nt_delivery_parse(const cJSON *obj, nt_delivery_t *d, bm_error_t *err);

/* Writes the webhook-signature value for one attempt: "v1,<sig>" per secret,
 * separated by single spaces. Returns 0, or -1 if a secret is not a valid
 * whsec_ secret, there is none, or out is too small. */
int nt_signature_header(const char *const *secrets, size_t n, const char *msg_id,
                        int64_t timestamp, const char *body, size_t body_len, char *out,
                        size_t outlen);

/* Builds the request headers for one attempt at unix time timestamp. Returns
 * the list (caller owns it: curl_slist_free_all), or NULL with err set. */
struct curl_slist *nt_build_headers(const nt_delivery_t *d, int64_t timestamp, bm_error_t *err);

/* Parses a Retry-After value: delay-seconds, or an HTTP-date taken relative to
 * now. Surrounding white space is ignored. Returns 0 with *secs in
 * [0, NT_RETRY_AFTER_MAX_S], or -1 if the value is neither. */
int nt_retry_after_parse(const char *value, size_t len, time_t now, long *secs);

/* Looks at one raw response header line (as a curl header callback gets it,
 * CRLF included). Returns 1 and sets *secs if it is a valid Retry-After
 * header, else 0. */
int nt_header_retry_after(const char *line, size_t len, time_t now, long *secs);

/* The outcome of one attempt, as reported to the broker. */
typedef struct {
    int64_t id;
    bool ok;               /* a 2xx answer */
    long status;           /* HTTP status, 0 if no response was received */
    int64_t latency_ms;
    char error[NT_ERROR_LEN]; /* empty when ok */
    long retry_after_s;    /* -1 if the response had no (valid) Retry-After */
    bool gone;             /* 410: the receiver says this endpoint is gone */
    bool permanent;        /* the guard refused the address: retrying cannot help */
} nt_result_t;

/* What curl told about a finished transfer. */
typedef struct {
    CURLcode code;
    long status;          /* CURLINFO_RESPONSE_CODE */
    long os_errno;        /* CURLINFO_OS_ERRNO */
    bool connected;       /* a connection was established (CURLINFO_CONNECT_TIME_T > 0) */
    const char *errbuf;   /* CURLOPT_ERRORBUFFER text, may be empty or NULL */
    long connect_timeout_ms;
    long timeout_ms;
} nt_outcome_t;

/* Fills r->ok, status, error and gone from a transfer's outcome; id,
 * latency_ms and retry_after_s are left as they are. */
void nt_result_classify(nt_result_t *r, const nt_outcome_t *o);

/* Initializes r as a failure that never reached the network (invalid
 * delivery, bad secret): the error text ("中文 / English") is formatted from
 * fmt, cut to NT_ERROR_LEN on a character boundary. */
void nt_result_fail(nt_result_t *r, int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns the result as a report element {id, ok, status, latency_ms[,
 * error][, retry_after_s], gone}; caller owns it (cJSON_Delete). NULL if out
 * of memory. */
cJSON *nt_result_json(const nt_result_t *r);

#endif
