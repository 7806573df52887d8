/* guard.h - the notifier's SSRF guard: which addresses a webhook may be sent
 * to. A receiver URL comes from whoever submitted a request, so without a
 * guard anyone could make the notifier POST to the office's own machines
 * (the broker host, a router's admin page, a cloud metadata service).
 *
 * The check is made on the address curl is about to connect to (sender.c
 * calls it from CURLOPT_OPENSOCKETFUNCTION), after name resolution, so a
 * name that resolves to a public address once and a private one the next
 * time gains nothing. An operator lets a receiver on the local network
 * through by naming its host, as written in the URL, with --allow-host; or
 * opens all private ranges at once with --allow-private (a closed LAN).
 *
 * Pure functions: tests/test_notifier_guard.c covers every range. */
#ifndef NT_GUARD_H
#define NT_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NT_MAX_ALLOW_HOSTS 64
#define NT_MAX_HOST_LEN    255

/* What kind of address a destination is. Everything but NT_ADDR_PUBLIC is
 * refused unless allowed. */
typedef enum {
    NT_ADDR_PUBLIC = 0,
    NT_ADDR_LOOPBACK,    /* 127.0.0.0/8, ::1 */
    NT_ADDR_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10 */
    NT_ADDR_LINK_LOCAL,  /* 169.254/16 (cloud metadata lives here), fe80::/10 */
    NT_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    NT_ADDR_CGNAT,       /* 100.64/10, shared address space */
    NT_ADDR_MULTICAST,   /* 224/4, ff00::/8 */
    NT_ADDR_RESERVED,    /* 240/4 and broadcast, 192.0.0/24, benchmarking and
                          * documentation ranges, 100::/64, 2001:db8::/32 */
    NT_ADDR_OTHER,       /* not an IPv4 or IPv6 address */
} nt_addr_class_t;

/* Who may be reached anyway. hosts points to nhosts host names or addresses
 * as written in URLs (the caller keeps them alive). */
typedef struct {
    const char *const *hosts;
    size_t nhosts;
    bool allow_private; /* loopback, private and CGNAT ranges; never link-local,
                         * multicast, unspecified or reserved ones */
} nt_guard_t;

/* Classifies the address in sa (salen bytes). IPv4 addresses carried in
 * IPv6 (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96,
 * 6to4 2002::/16) are classified by the IPv4 address they carry. */
nt_addr_class_t nt_addr_classify(const struct sockaddr *sa, size_t salen);

/* Returns the class as words for a message: "a loopback address", … */
const char *nt_addr_class_text(nt_addr_class_t c);
/* Returns the class in Chinese for the same message: "本机回环地址", … */
const char *nt_addr_class_zh(nt_addr_class_t c);

/* True if host (as a URL names it, IPv6 in brackets or not) is on the allow
 * list: compared without case, brackets or one trailing dot. */
bool nt_guard_host_allowed(const nt_guard_t *g, const char *host);

/* Decides whether a connection to sa for a URL naming host may be made.
 * Returns 0 if so; else -1 with why set to the error to report, Chinese
 * first, such as "拒绝发送：目标 127.0.0.1 为本机回环地址（可用 --allow-host
 * 放行） / refused: destination 127.0.0.1 is a loopback address (allow it
 * with --allow-host)", cut to whylen on a character boundary. */
int nt_guard_check(const nt_guard_t *g, const char *host, const struct sockaddr *sa,
                   size_t salen, char *why, size_t whylen);

/* Checks an --allow-host value. Returns NULL if it is usable, else what is
 * wrong with it ("中文 / English": a URL, a port, spaces, too long). */
const char *nt_guard_host_problem(const char *host);

#endif
