/* test_notifier_http.h - a tiny HTTP/1.1 server on 127.0.0.1 for the notifier
 * tests: it records every request it gets and answers each with a fixed
 * response. One thread, one connection at a time, every wait bounded. */
#ifndef TEST_NOTIFIER_HTTP_H
#define TEST_NOTIFIER_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define TH_MAX_REQUESTS 16
#define TH_MAX_HEAD     8192
#define TH_MAX_BODY     (70 * 1024)

typedef struct {
    char head[TH_MAX_HEAD]; /* request line and headers, NUL-terminated */
    char *body;             /* malloc'd, NUL-terminated */
    size_t body_len;
} th_request_t;

typedef struct {
    int fd;   /* listening socket */
    int port;
    char response[1024]; /* sent as is after each request */
    int delay_ms;        /* wait this long before answering */
    pthread_t thread;
    pthread_mutex_t lock;
    volatile bool stop;
    th_request_t requests[TH_MAX_REQUESTS];
    int count;
} th_server_t;

/* Starts a server answering every request with response (a full HTTP
 * response; "Connection: close" is best). Returns 0 or -1. */
int th_start(th_server_t *s, const char *response);
/* Stops the thread and frees what it recorded. */
void th_stop(th_server_t *s);
/* Number of requests recorded so far. */
int th_count(th_server_t *s);
/* Copies the value of header name (case-insensitive) of request i into out;
 * returns 0, or -1 if absent. */
int th_header(th_server_t *s, int i, const char *name, char *out, size_t outlen);

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
int th_closed_port(void);
/* A socket listening on 127.0.0.1 that never accepts: connections succeed
 * (the kernel completes them) but nothing ever answers. Returns the fd and
 * sets *port. */
int th_black_hole(int *port);

#endif
