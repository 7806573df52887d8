/* guard.c - see guard.h. */
#include "guard.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* True if a (host order) is inside net/bits. */
static bool in4(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == (net & mask);
}

static nt_addr_class_t classify4(uint32_t a)
{
    if (in4(a, 0x00000000u, 8))
        return NT_ADDR_UNSPECIFIED; /* 0.0.0.0/8: Linux connects 0.0.0.0 to itself */
    if (in4(a, 0x7f000000u, 8))
        return NT_ADDR_LOOPBACK;
    if (in4(a, 0x0a000000u, 8) || in4(a, 0xac100000u, 12) || in4(a, 0xc0a80000u, 16))
        return NT_ADDR_PRIVATE;
    if (in4(a, 0xa9fe0000u, 16))
        return NT_ADDR_LINK_LOCAL;
    if (in4(a, 0x64400000u, 10))
        return NT_ADDR_CGNAT;
    if (in4(a, 0xe0000000u, 4))
        return NT_ADDR_MULTICAST;
    if (in4(a, 0xf0000000u, 4) ||     /* 240/4, 255.255.255.255 included */
        in4(a, 0xc0000000u, 24) ||    /* 192.0.0.0/24 protocol assignments */
        in4(a, 0xc0000200u, 24) ||    /* 192.0.2.0/24 documentation */
        in4(a, 0xc6120000u, 15) ||    /* 198.18.0.0/15 benchmarking */
        in4(a, 0xc6336400u, 24) ||    /* 198.51.100.0/24 documentation */
        in4(a, 0xcb007100u, 24))      /* 203.0.113.0/24 documentation */
        return NT_ADDR_RESERVED;
    return NT_ADDR_PUBLIC;
}

static uint32_t v4_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i])
            return false;
    }
    return true;
}

static nt_addr_class_t classify6(const uint8_t b[16])
{
    if (zeros(b, 15) && b[15] == 0)
        return NT_ADDR_UNSPECIFIED;
    if (zeros(b, 15) && b[15] == 1)
        return NT_ADDR_LOOPBACK;
    /* IPv4 inside IPv6: whoever forwards it ends up at the IPv4 address. */
    if (zeros(b, 10) && b[10] == 0xff && b[11] == 0xff) /* ::ffff:a.b.c.d */
        return classify4(v4_at(b + 12));
    if (zeros(b, 12)) /* ::a.b.c.d (deprecated "compatible") */
        return classify4(v4_at(b + 12));
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(b, nat64, sizeof nat64) == 0) /* 64:ff9b::/96 */
        return classify4(v4_at(b + 12));
    if (b[0] == 0x20 && b[1] == 0x02) /* 2002::/16, 6to4 */
        return classify4(v4_at(b + 2));
    if ((b[0] & 0xfe) == 0xfc)
        return NT_ADDR_PRIVATE; /* fc00::/7 unique local */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return NT_ADDR_LINK_LOCAL; /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return NT_ADDR_PRIVATE; /* fec0::/10, the old site-local */
    if (b[0] == 0xff)
        return NT_ADDR_MULTICAST;
    if ((b[0] == 0x01 && zeros(b + 1, 7)) ||                       /* 100::/64 discard */
        (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)) /* 2001:db8::/32 */
        return NT_ADDR_RESERVED;
    return NT_ADDR_PUBLIC;
}

nt_addr_class_t nt_addr_classify(const struct sockaddr *sa, size_t salen)
{
    if (!sa || salen < sizeof(sa_family_t))
        return NT_ADDR_OTHER;
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        return classify4(ntohl(in.sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        return classify6(in6.sin6_addr.s6_addr);
    }
    return NT_ADDR_OTHER;
}

const char *nt_addr_class_text(nt_addr_class_t c)
{
    switch (c) {
    case NT_ADDR_PUBLIC:
        return "a public address";
    case NT_ADDR_LOOPBACK:
        return "a loopback address";
    case NT_ADDR_PRIVATE:
        return "a private address";
    case NT_ADDR_LINK_LOCAL:
        return "a link-local address";
    case NT_ADDR_UNSPECIFIED:
        return "an unspecified address";
    case NT_ADDR_CGNAT:
        return "a shared (carrier-grade NAT) address";
    case NT_ADDR_MULTICAST:
        return "a multicast address";
    case NT_ADDR_RESERVED:
        return "a reserved address";
    case NT_ADDR_OTHER:
        break;
    }
    return "not an internet address";
}

const char *nt_addr_class_zh(nt_addr_class_t c)
{
    switch (c) {
    case NT_ADDR_PUBLIC:
        return "公网地址";
    case NT_ADDR_LOOPBACK:
        return "本机回环地址";
    case NT_ADDR_PRIVATE:
        return "内网地址";
    case NT_ADDR_LINK_LOCAL:
        return "链路本地地址";
    case NT_ADDR_UNSPECIFIED:
        return "未指定地址";
    case NT_ADDR_CGNAT:
        return "运营商共享地址 (CGNAT)";
    case NT_ADDR_MULTICAST:
        return "组播地址";
    case NT_ADDR_RESERVED:
        return "保留地址";
    case NT_ADDR_OTHER:
        break;
    }
    return "非互联网地址";
}

/* Copies host into out without brackets or one trailing dot. */
static void normalize(const char *host, char *out, size_t outlen)
{
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len > 1 && host[len - 1] == '.')
        len--;
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, host, len);
    out[len] = '\0';
}

bool nt_guard_host_allowed(const nt_guard_t *g, const char *host)
{
    if (!g || !host || !*host)
        return false;
    char want[NT_MAX_HOST_LEN + 1];
    normalize(host, want, sizeof want);
    for (size_t i = 0; i < g->nhosts; i++) {
        char have[NT_MAX_HOST_LEN + 1];
        normalize(g->hosts[i], have, sizeof have);
        if (*have && strcasecmp(have, want) == 0)
            return true;
    }
    return false;
}

int nt_guard_check(const nt_guard_t *g, const char *host, const struct sockaddr *sa,
                   size_t salen, char *why, size_t whylen)
{
    if (nt_guard_host_allowed(g, host))
        return 0;
    nt_addr_class_t c = nt_addr_classify(sa, salen);
    if (c == NT_ADDR_PUBLIC)
        return 0;
    if (g && g->allow_private &&
        (c == NT_ADDR_LOOPBACK || c == NT_ADDR_PRIVATE || c == NT_ADDR_CGNAT))
        return 0;

    char addr[INET6_ADDRSTRLEN] = "?";
    if (c != NT_ADDR_OTHER) {
        struct sockaddr_storage ss;
        memcpy(&ss, sa, salen < sizeof ss ? salen : sizeof ss);
        const void *raw = sa->sa_family == AF_INET
                              ? (const void *)&((const struct sockaddr_in *)&ss)->sin_addr
                              : (const void *)&((const struct sockaddr_in6 *)&ss)->sin6_addr;
        if (!inet_ntop(sa->sa_family, raw, addr, sizeof addr))
            bm_strlcpy(addr, "?", sizeof addr);
    }
    char named[NT_MAX_HOST_LEN + 1] = "";
    if (host)
        normalize(host, named, sizeof named);
    if (*named && strcasecmp(named, addr) != 0)
        snprintf(why, whylen,
                 "拒绝发送：目标 %s (%s) 为%s（可用 --allow-host 放行） / refused: destination %s "
                 "(%s) is %s (allow it with --allow-host)",
                 named, addr, nt_addr_class_zh(c), named, addr, nt_addr_class_text(c));
    else
        snprintf(why, whylen,
                 "拒绝发送：目标 %s 为%s（可用 --allow-host 放行） / refused: destination %s is %s "
                 "(allow it with --allow-host)",
                 addr, nt_addr_class_zh(c), addr, nt_addr_class_text(c));
    if (whylen > 0)
        bm_utf8_cut(why);
    return -1;
}

const char *nt_guard_host_problem(const char *host)
{
    size_t len = strlen(host);
    if (len == 0)
        return "不能为空 / it is empty";
    if (len > NT_MAX_HOST_LEN)
        return "比主机名的最大长度还长 / it is longer than a host name can be";
    if (strstr(host, "://") || strchr(host, '/'))
        return "应为网址里写的主机名或地址（如 127.0.0.1 或 hooks.lan），不是整个网址 / it must "
               "be a host name or address as written in the URL (such as 127.0.0.1 or "
               "hooks.lan), not a URL";
    for (const char *p = host; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == '@' || *p == '?' || *p == '#')
            return "应为主机名或地址，不能有空格、'@'、'?' 或 '#' / it must be a host name or "
                   "address, without spaces, '@', '?' or '#'";
    }
    const char *colon = strchr(host, ':');
    if (colon && !strchr(colon + 1, ':') && host[0] != '[')
        return "只写主机，不带端口 / it must be the host alone, without a port";
    if (host[0] == '[' && host[len - 1] != ']')
        return "只写主机，不带端口 / it must be the host alone, without a port";
    return NULL;
}
