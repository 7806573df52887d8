/* proto.h - encoding and decoding BM1 messages (see docs/protocol.md), the
 * one place sockets are created, and a request/reply helper for clients.
 *
 * Decoding never trusts the peer: every frame count, size and the JSON body is
 * checked, and a failure yields a protocol error code and message, never a
 * crash. */
#ifndef BM_PROTO_H
#define BM_PROTO_H

#include "protocol.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

/* Bytes of an error message: room for the Chinese and the English beside it. */
#define BM_MAX_ERROR_MESSAGE 512

/* An error to send back or show: a stable code, the field at fault (may be
 * empty) and a message for people. */
typedef struct {
    const char *code; /* one of BM_ERR_*; NULL means no error */
    char field[32];
    char message[BM_MAX_ERROR_MESSAGE];
} bm_error_t;

/* Sets err (NULL: nothing). A message too long for err->message is cut on a
 * UTF-8 character boundary, so that it stays valid UTF-8. */
void bm_error_set(bm_error_t *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The routing envelope of a message read from a ROUTER socket. */
typedef struct {
    unsigned char id[256];
    size_t id_len;
    bool delimiter; /* an empty frame followed the id (REQ peers) */
    char user[48];  /* the ZAP User-Id of the connection (the peer's public key, Z85); "" if none */
    int fd;         /* the connection's descriptor as libzmq reports it (ZMQ_SRCFD), -1 if unknown */
} bm_envelope_t;

typedef struct {
    const void *data;
    size_t len;
} bm_frame_t;

/* A decoded message. */
typedef struct {
    char cmd[BM_MAX_CMD + 1];
    char cid[BM_MAX_CID + 1]; /* NUL-terminated copy; cid_len is the real length */
    size_t cid_len;
    cJSON *body; /* owned; freed by bm_msg_clear */
    /* Frames after the body (photos), only for commands that take them;
     * valid until bm_msg_clear. */
    bm_frame_t attach[BM_MAX_ATTACH];
    size_t n_attach;
    void *owned; /* the zmq messages behind attach[] when read by bm_recv */
    size_t n_owned;
} bm_msg_t;

/* True for the commands whose messages may carry attachment frames. */
bool bm_cmd_takes_attachments(const char *cmd);

/* Decodes the four BM1 frames. Returns 0, or -1 with err set; the cid is
 * filled in as far as it could be read so that an error reply can echo it. */
int bm_proto_decode(const bm_frame_t *frames, size_t n, bm_msg_t *msg, bm_error_t *err);
/* The same with another body limit: peers reading the broker's replies
 * (bm_recv on a non-ROUTER socket) accept bodies up to BM_MAX_MSG, since a
 * timeline or a batch of deliveries may exceed the 64 KiB request limit. */
int bm_proto_decode_max(const bm_frame_t *frames, size_t n, size_t max_body, bm_msg_t *msg,
                        bm_error_t *err);
void bm_msg_clear(bm_msg_t *msg);

typedef enum {
    BM_RECV_OK = 0,      /* msg holds a valid message */
    BM_RECV_INVALID = 1, /* a message arrived but is malformed: err says why; reply to env */
    BM_RECV_NONE = 2,    /* nothing to read (EAGAIN) */
    BM_RECV_FAIL = -1    /* socket error (errno), e.g. ETERM / EINTR */
} bm_recv_t;

/* Reads one whole multipart message. env is filled when router is true
 * (a request to the broker: 64 KiB body limit; otherwise replies, 16 MiB).
 * With dontwait, returns BM_RECV_NONE if nothing is queued. */
bm_recv_t bm_recv(void *sock, bool router, bool dontwait, bm_envelope_t *env, bm_msg_t *msg,
                  bm_error_t *err);

/* Sends [env] BM1 cmd cid body. body may be NULL ("{}"). Returns 0 or -1 (errno). */
int bm_send(void *sock, const bm_envelope_t *env, const char *cmd, const char *cid,
            size_t cid_len, const cJSON *body);
/* The same with n attachment frames after the body. */
int bm_send_parts(void *sock, const bm_envelope_t *env, const char *cmd, const char *cid,
                  size_t cid_len, const cJSON *body, const bm_frame_t *attach, size_t n);
/* The same with a body already written as JSON text (one object). */
int bm_send_text(void *sock, const bm_envelope_t *env, const char *cmd, const char *cid,
                 size_t cid_len, const char *text);
/* Sends an "error" reply built from err. */
int bm_send_error(void *sock, const bm_envelope_t *env, const char *cid, size_t cid_len,
                  const bm_error_t *err);
/* Serializes an error into a new JSON body; caller owns it (cJSON_Delete). */
cJSON *bm_error_json(const bm_error_t *err);

/* Socket creation lives here, so authentication can be added in one place.
 * Creates a socket of type (ZMQ_ROUTER, ZMQ_DEALER) with the project's
 * options (linger, max message size, ROUTER_MANDATORY for routers) and binds
 * (bind true) or connects to endpoint. Returns NULL with errno set. */
void *bm_socket(void *ctx, int type, const char *endpoint, bool bind);
/* The same with CURVE: a binding socket becomes a CURVE server with key's
 * secret and the ZAP domain zap_domain; a connecting one a CURVE client of
 * key->broker_key. key NULL: no encryption (development mode). */
struct bm_key;
void *bm_socket_auth(void *ctx, int type, const char *endpoint, bool bind, const struct bm_key *key,
                     const char *zap_domain);

/* Everything a socket may need besides its type and endpoint. */
typedef struct {
    const struct bm_key *key; /* CURVE (NULL: none) */
    const char *zap_domain;   /* for a binding CURVE socket */
    int sndhwm;               /* > 0: messages queued per peer before dropping */
    int mon_events;           /* with mon: what to monitor (0: handshakes) */
    void **mon;               /* not NULL: receives a monitor, attached before the first connection */
} bm_sock_opts_t;
void *bm_socket_ex(void *ctx, int type, const char *endpoint, bool bind, const bm_sock_opts_t *o);

/* A monitor of sock's events (a ZMQ_EVENT_* mask; 0: handshakes, connects
 * and disconnects): returns a PAIR socket in ctx on which bm_monitor_read
 * reads them, or NULL. Close it with zmq_close before sock. */
void *bm_monitor_open(void *ctx, void *sock, int events);
/* Reads one event if one is waiting: returns 1 with *event and *value set, 0
 * if none, -1 on error. */
int bm_monitor_read(void *mon, int *event, int *value);
/* Stops monitoring sock and closes the monitor *mon_p (NULLed). Always close
 * a monitor this way, before sock. */
void bm_monitor_close(void *sock, void **mon_p);
/* True for the events that mean the station will not talk to this key. */
bool bm_monitor_refused(int event);

/* A request/reply connection from a client to the broker's client socket,
 * with reconnect-on-timeout so a stale reply can never be taken for a new one. */
typedef struct bm_rpc bm_rpc_t;

/* Returns a new connection (no I/O yet), or NULL. */
bm_rpc_t *bm_rpc_new(const char *endpoint);
/* The same, authenticated with key (copied; NULL: development mode). A
 * refused key is answered BM_RPC_ERROR with code "key_refused" at once,
 * instead of a timeout. */
bm_rpc_t *bm_rpc_new_auth(const char *endpoint, const struct bm_key *key);
void bm_rpc_destroy(bm_rpc_t **self_p);

typedef enum {
    BM_RPC_OK = 0,      /* *reply is the ok body */
    BM_RPC_ERROR = 1,   /* the broker answered with an error: err holds it */
    BM_RPC_TIMEOUT = 2, /* no answer within timeout_ms */
    BM_RPC_FAIL = -1    /* local failure (err holds it) */
} bm_rpc_result_t;

/* Sends cmd with body (not taken) and waits up to timeout_ms for the reply.
 * On BM_RPC_OK the caller owns *reply (cJSON_Delete). */
bm_rpc_result_t bm_rpc_call(bm_rpc_t *self, const char *cmd, const cJSON *body, int timeout_ms,
                            cJSON **reply, bm_error_t *err);
/* The same with n_attach photo frames after the body (submit, progress, done). */
bm_rpc_result_t bm_rpc_call_parts(bm_rpc_t *self, const char *cmd, const cJSON *body,
                                  const bm_frame_t *attach, size_t n_attach, int timeout_ms,
                                  cJSON **reply, bm_error_t *err);

#endif
