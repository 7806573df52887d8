/* test_notifier_http.c - see test_notifier_http.h. */
#include "test_notifier_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TH_IO_TIMEOUT_MS 3000

static int listen_on_loopback(int *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Reads until want bytes are in buf or the peer stops; returns bytes read. */
static size_t read_some(int fd, char *buf, size_t cap, size_t have)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (have >= cap || poll(&p, 1, TH_IO_TIMEOUT_MS) <= 0)
        return 0;
    ssize_t got = recv(fd, buf + have, cap - have, 0);
    return got > 0 ? (size_t)got : 0;
}

static const char *find_header(const char *head, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2] != '\0' && p[2] != '\r') {
        const char *line = p + 2;
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if ((size_t)(end - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            *len = (size_t)(end - v);
            return v;
        }
        p = end;
    }
    return NULL;
}

static void serve_one(th_server_t *s, int c)
{
    char *buf = malloc(TH_MAX_HEAD + TH_MAX_BODY);
    if (!buf)
        return;
    size_t have = 0, got;
    char *end = NULL;
    while (!end && (got = read_some(c, buf, TH_MAX_HEAD - 1, have)) > 0) {
        have += got;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        goto out;
    size_t head_len = (size_t)(end - buf) + 4;
    th_request_t r = {0};
    memcpy(r.head, buf, head_len - 2); /* keep the final CRLF of the last header */
    r.head[head_len - 2] = '\0';
    size_t vlen = 0;
    const char *cl = find_header(r.head, "Content-Length", &vlen);
    size_t want = cl ? strtoul(cl, NULL, 10) : 0;
    if (want > TH_MAX_BODY)
        goto out;
    while (have - head_len < want && (got = read_some(c, buf, head_len + want, have)) > 0)
        have += got;
    r.body_len = have - head_len;
    r.body = malloc(r.body_len + 1);
    if (!r.body)
        goto out;
    memcpy(r.body, buf + head_len, r.body_len);
    r.body[r.body_len] = '\0';
    pthread_mutex_lock(&s->lock);
    if (s->count < TH_MAX_REQUESTS)
        s->requests[s->count++] = r;
    else
        free(r.body);
    pthread_mutex_unlock(&s->lock);
    if (s->delay_ms > 0) {
        struct timespec ts = {s->delay_ms / 1000, (s->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (send(c, s->response, strlen(s->response), MSG_NOSIGNAL) < 0)
        goto out;
out:
    free(buf);
}

static void *serve(void *arg)
{
    th_server_t *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(s, c);
        shutdown(c, SHUT_RDWR);
        close(c);
    }
    return NULL;
}

int th_start(th_server_t *s, const char *response)
{
    memset(s, 0, sizeof *s);
    snprintf(s->response, sizeof s->response, "%s", response);
    s->fd = listen_on_loopback(&s->port, 16);
    if (s->fd < 0)
        return -1;
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, serve, s) != 0) {
        close(s->fd);
        return -1;
    }
    return 0;
}

void th_stop(th_server_t *s)
{
    s->stop = true;
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (int i = 0; i < s->count; i++)
        free(s->requests[i].body);
    pthread_mutex_destroy(&s->lock);
}

int th_count(th_server_t *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->count;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int th_header(th_server_t *s, int i, const char *name, char *out, size_t outlen)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    size_t len = 0;
    const char *v = i < s->count ? find_header(s->requests[i].head, name, &len) : NULL;
    if (v && len < outlen) {
        memcpy(out, v, len);
        out[len] = '\0';
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int th_closed_port(void)
{
    int port = 0;
    int fd = listen_on_loopback(&port, 1);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

int th_black_hole(int *port)
{
    return listen_on_loopback(port, 16);
}
