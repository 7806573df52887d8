/* test_notifier_guard.c - the SSRF guard's pure parts (notifier/guard.c):
 * every address range, IPv4 carried in IPv6, the allow list, the refusal
 * message and --allow-host values. */
#include "delivery.h"
#include "guard.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

/* Classifies a textual address (IPv4 or IPv6). */
static nt_addr_class_t cls(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        return nt_addr_classify((struct sockaddr *)&ss, sizeof *in);
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return nt_addr_classify((struct sockaddr *)&ss, sizeof *in6);
    }
    fail_msg("test bug: %s is not an address", text);
    return NT_ADDR_OTHER;
}

typedef struct {
    const char *addr;
    nt_addr_class_t want;
} case_t;

static void check_cases(const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        nt_addr_class_t got = cls(cases[i].addr);
        if (got != cases[i].want)
            fail_msg("%s: class %d, expected %d (%s)", cases[i].addr, (int)got,
                     (int)cases[i].want, nt_addr_class_text(cases[i].want));
    }
}

static void test_ipv4_ranges(void **state)
{
    (void)state;
    static const case_t cases[] = {
        {"0.0.0.0", NT_ADDR_UNSPECIFIED},
        {"0.1.2.3", NT_ADDR_UNSPECIFIED},
        {"127.0.0.1", NT_ADDR_LOOPBACK},
        {"127.255.255.254", NT_ADDR_LOOPBACK},
        {"126.255.255.255", NT_ADDR_PUBLIC},
        {"128.0.0.1", NT_ADDR_PUBLIC},
        {"10.0.0.1", NT_ADDR_PRIVATE},
        {"10.255.255.255", NT_ADDR_PRIVATE},
        {"9.255.255.255", NT_ADDR_PUBLIC},
        {"11.0.0.0", NT_ADDR_PUBLIC},
        {"172.16.0.1", NT_ADDR_PRIVATE},
        {"172.31.255.255", NT_ADDR_PRIVATE},
        {"172.15.255.255", NT_ADDR_PUBLIC},
        {"172.32.0.0", NT_ADDR_PUBLIC},
        {"192.168.0.1", NT_ADDR_PRIVATE},
        {"192.168.255.255", NT_ADDR_PRIVATE},
        {"192.167.255.255", NT_ADDR_PUBLIC},
        {"192.169.0.0", NT_ADDR_PUBLIC},
        {"169.254.169.254", NT_ADDR_LINK_LOCAL},
        {"169.254.0.0", NT_ADDR_LINK_LOCAL},
        {"169.253.255.255", NT_ADDR_PUBLIC},
        {"169.255.0.0", NT_ADDR_PUBLIC},
        {"100.64.0.1", NT_ADDR_CGNAT},
        {"100.127.255.255", NT_ADDR_CGNAT},
        {"100.63.255.255", NT_ADDR_PUBLIC},
        {"100.128.0.0", NT_ADDR_PUBLIC},
        {"224.0.0.1", NT_ADDR_MULTICAST},
        {"239.255.255.250", NT_ADDR_MULTICAST},
        {"223.255.255.255", NT_ADDR_PUBLIC},
        {"240.0.0.1", NT_ADDR_RESERVED},
        {"255.255.255.255", NT_ADDR_RESERVED},
        {"192.0.0.8", NT_ADDR_RESERVED},
        {"192.0.2.1", NT_ADDR_RESERVED},
        {"198.18.0.1", NT_ADDR_RESERVED},
        {"198.19.255.255", NT_ADDR_RESERVED},
        {"198.20.0.0", NT_ADDR_PUBLIC},
        {"198.51.100.7", NT_ADDR_RESERVED},
        {"203.0.113.9", NT_ADDR_RESERVED},
        {"8.8.8.8", NT_ADDR_PUBLIC},
        {"1.1.1.1", NT_ADDR_PUBLIC},
        {"93.184.216.34", NT_ADDR_PUBLIC},
        {"223.5.5.5", NT_ADDR_PUBLIC},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_ipv6_ranges(void **state)
{
    (void)state;
    static const case_t cases[] = {
        {"::", NT_ADDR_UNSPECIFIED},
        {"::1", NT_ADDR_LOOPBACK},
        {"::2", NT_ADDR_UNSPECIFIED}, /* ::0.0.0.2, in 0.0.0.0/8 */
        {"fc00::1", NT_ADDR_PRIVATE},
        {"fd12:3456:789a::1", NT_ADDR_PRIVATE},
        {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NT_ADDR_PRIVATE},
        {"fbff:ffff::1", NT_ADDR_PUBLIC},
        {"fe80::1", NT_ADDR_LINK_LOCAL},
        {"febf:ffff::1", NT_ADDR_LINK_LOCAL},
        {"fec0::1", NT_ADDR_PRIVATE},
        {"fe7f::1", NT_ADDR_PUBLIC},
        {"ff02::1", NT_ADDR_MULTICAST},
        {"ff05::1:3", NT_ADDR_MULTICAST},
        {"100::1", NT_ADDR_RESERVED},
        {"2001:db8::1", NT_ADDR_RESERVED},
        {"2001:4860:4860::8888", NT_ADDR_PUBLIC},
        {"2400:3200::1", NT_ADDR_PUBLIC},
        {"2606:4700:4700::1111", NT_ADDR_PUBLIC},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

/* IPv4 carried in IPv6 is judged by the IPv4 address. */
static void test_ipv4_in_ipv6(void **state)
{
    (void)state;
    static const case_t cases[] = {
        {"::ffff:127.0.0.1", NT_ADDR_LOOPBACK},
        {"::ffff:7f00:2", NT_ADDR_LOOPBACK},
        {"::ffff:10.1.2.3", NT_ADDR_PRIVATE},
        {"::ffff:172.16.5.4", NT_ADDR_PRIVATE},
        {"::ffff:192.168.1.1", NT_ADDR_PRIVATE},
        {"::ffff:169.254.169.254", NT_ADDR_LINK_LOCAL},
        {"::ffff:0.0.0.0", NT_ADDR_UNSPECIFIED},
        {"::ffff:100.64.1.1", NT_ADDR_CGNAT},
        {"::ffff:224.0.0.251", NT_ADDR_MULTICAST},
        {"::ffff:8.8.8.8", NT_ADDR_PUBLIC},
        {"::127.0.0.1", NT_ADDR_LOOPBACK},
        {"::10.0.0.1", NT_ADDR_PRIVATE},
        {"::8.8.8.8", NT_ADDR_PUBLIC},
        {"64:ff9b::127.0.0.1", NT_ADDR_LOOPBACK},
        {"64:ff9b::a9fe:a9fe", NT_ADDR_LINK_LOCAL},
        {"64:ff9b::8.8.8.8", NT_ADDR_PUBLIC},
        {"2002:7f00:1::1", NT_ADDR_LOOPBACK},
        {"2002:c0a8:101::", NT_ADDR_PRIVATE},
        {"2002:808:808::1", NT_ADDR_PUBLIC},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_not_ip(void **state)
{
    (void)state;
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    assert_int_equal(nt_addr_classify((struct sockaddr *)&un, sizeof un), NT_ADDR_OTHER);
    assert_int_equal(nt_addr_classify(NULL, 0), NT_ADDR_OTHER);
    /* A length too short for the family is not trusted. */
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(0x08080808);
    assert_int_equal(nt_addr_classify((struct sockaddr *)&in, 4), NT_ADDR_OTHER);
    assert_int_equal(nt_addr_classify((struct sockaddr *)&in, sizeof in), NT_ADDR_PUBLIC);
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    assert_int_equal(nt_addr_classify((struct sockaddr *)&in6, sizeof in), NT_ADDR_OTHER);
    assert_string_equal(nt_addr_class_text(NT_ADDR_OTHER), "not an internet address");
    assert_string_equal(nt_addr_class_text(NT_ADDR_LOOPBACK), "a loopback address");
}

static struct sockaddr_in6 v6(const char *text)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
    return a;
}

static struct sockaddr_in v4(const char *text)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, text, &a.sin_addr), 1);
    return a;
}

static void test_allow_list(void **state)
{
    (void)state;
    const char *hosts[] = {"127.0.0.1", "Hooks.LAN", "[::1]", "fd00::5", "office.example."};
    nt_guard_t g = {hosts, 5, false};
    assert_true(nt_guard_host_allowed(&g, "127.0.0.1"));
    assert_true(nt_guard_host_allowed(&g, "hooks.lan"));
    assert_true(nt_guard_host_allowed(&g, "HOOKS.lan."));
    assert_true(nt_guard_host_allowed(&g, "[::1]"));
    assert_true(nt_guard_host_allowed(&g, "::1"));
    assert_true(nt_guard_host_allowed(&g, "[fd00::5]"));
    assert_true(nt_guard_host_allowed(&g, "office.example"));
    assert_false(nt_guard_host_allowed(&g, "127.0.0.2"));
    assert_false(nt_guard_host_allowed(&g, "localhost"));
    assert_false(nt_guard_host_allowed(&g, "hooks.lan.evil.com"));
    assert_false(nt_guard_host_allowed(&g, "evilhooks.lan"));
    assert_false(nt_guard_host_allowed(&g, ""));
    assert_false(nt_guard_host_allowed(&g, NULL));
    nt_guard_t none = {NULL, 0, false};
    assert_false(nt_guard_host_allowed(&none, "127.0.0.1"));
}

static void test_check(void **state)
{
    (void)state;
    char why[NT_ERROR_LEN];
    struct sockaddr_in lo = v4("127.0.0.1");
    struct sockaddr_in pub = v4("8.8.8.8");
    struct sockaddr_in priv = v4("192.168.1.20");
    struct sockaddr_in meta = v4("169.254.169.254");
    struct sockaddr_in6 lo6 = v6("::1");
    struct sockaddr_in6 mapped = v6("::ffff:10.0.0.1");
    nt_guard_t none = {NULL, 0, false};

    /* Public: always fine. */
    assert_int_equal(nt_guard_check(&none, "dns.google", (struct sockaddr *)&pub, sizeof pub,
                                    why, sizeof why), 0);
    /* The message names the address; and the host too when it was a name. */
    assert_int_equal(nt_guard_check(&none, "127.0.0.1", (struct sockaddr *)&lo, sizeof lo, why,
                                    sizeof why), -1);
    assert_string_equal(why, "拒绝发送：目标 127.0.0.1 为本机回环地址（可用 --allow-host 放行） / "
                             "refused: destination 127.0.0.1 is a loopback address "
                             "(allow it with --allow-host)");
    assert_int_equal(nt_guard_check(&none, "localhost", (struct sockaddr *)&lo6, sizeof lo6,
                                    why, sizeof why), -1);
    assert_string_equal(why, "拒绝发送：目标 localhost (::1) 为本机回环地址（可用 --allow-host "
                             "放行） / refused: destination localhost (::1) is a loopback address "
                             "(allow it with --allow-host)");
    assert_int_equal(nt_guard_check(&none, "[::1]", (struct sockaddr *)&lo6, sizeof lo6, why,
                                    sizeof why), -1);
    assert_string_equal(why, "拒绝发送：目标 ::1 为本机回环地址（可用 --allow-host 放行） / "
                             "refused: destination ::1 is a loopback address "
                             "(allow it with --allow-host)");
    assert_int_equal(nt_guard_check(&none, "rebind.example", (struct sockaddr *)&mapped,
                                    sizeof mapped, why, sizeof why), -1);
    assert_string_equal(why, "拒绝发送：目标 rebind.example (::ffff:10.0.0.1) 为内网地址（可用 "
                             "--allow-host 放行） / refused: destination rebind.example "
                             "(::ffff:10.0.0.1) is a private address (allow it with --allow-host)");
    assert_int_equal(nt_guard_check(&none, "169.254.169.254", (struct sockaddr *)&meta,
                                    sizeof meta, why, sizeof why), -1);
    assert_string_equal(why, "拒绝发送：目标 169.254.169.254 为链路本地地址（可用 --allow-host "
                             "放行） / refused: destination 169.254.169.254 is a link-local "
                             "address (allow it with --allow-host)");
    /* A NULL guard refuses just the same. */
    assert_int_equal(nt_guard_check(NULL, "127.0.0.1", (struct sockaddr *)&lo, sizeof lo, why,
                                    sizeof why), -1);

    /* The allow list is by host as written, whatever it resolves to. */
    const char *hosts[] = {"127.0.0.1", "hooks.lan"};
    nt_guard_t some = {hosts, 2, false};
    assert_int_equal(nt_guard_check(&some, "127.0.0.1", (struct sockaddr *)&lo, sizeof lo, why,
                                    sizeof why), 0);
    assert_int_equal(nt_guard_check(&some, "hooks.lan", (struct sockaddr *)&priv, sizeof priv,
                                    why, sizeof why), 0);
    assert_int_equal(nt_guard_check(&some, "localhost", (struct sockaddr *)&lo, sizeof lo, why,
                                    sizeof why), -1);
    assert_int_equal(nt_guard_check(&some, "other.lan", (struct sockaddr *)&priv, sizeof priv,
                                    why, sizeof why), -1);

    /* --allow-private: loopback, private, CGNAT; never link-local or the like. */
    nt_guard_t lan = {NULL, 0, true};
    struct sockaddr_in cgnat = v4("100.64.3.4");
    struct sockaddr_in mcast = v4("224.0.0.251");
    struct sockaddr_in zero = v4("0.0.0.0");
    struct sockaddr_in6 ula = v6("fd00::1");
    struct sockaddr_in6 ll6 = v6("fe80::1");
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&lo, sizeof lo, why,
                                    sizeof why), 0);
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&priv, sizeof priv, why,
                                    sizeof why), 0);
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&cgnat, sizeof cgnat, why,
                                    sizeof why), 0);
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&ula, sizeof ula, why,
                                    sizeof why), 0);
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&mapped, sizeof mapped, why,
                                    sizeof why), 0);
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&meta, sizeof meta, why,
                                    sizeof why), -1);
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&ll6, sizeof ll6, why,
                                    sizeof why), -1);
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&mcast, sizeof mcast, why,
                                    sizeof why), -1);
    assert_string_equal(why, "拒绝发送：目标 a (224.0.0.251) 为组播地址（可用 --allow-host 放行） / "
                             "refused: destination a (224.0.0.251) is a multicast address "
                             "(allow it with --allow-host)");
    assert_int_equal(nt_guard_check(&lan, "a", (struct sockaddr *)&zero, sizeof zero, why,
                                    sizeof why), -1);

    /* A short buffer truncates, never overflows, and never cuts a character
     * in two: 20 bytes hold "拒绝发送：目" (18) and one byte of "标". */
    char small[20];
    assert_int_equal(nt_guard_check(&none, "127.0.0.1", (struct sockaddr *)&lo, sizeof lo,
                                    small, sizeof small), -1);
    assert_string_equal(small, "拒绝发送：目");
    assert_true(bm_utf8_valid(small, strlen(small)));

    /* The longest host name fits whole in a result's error text. */
    char longhost[NT_MAX_HOST_LEN + 1];
    memset(longhost, 'h', NT_MAX_HOST_LEN);
    longhost[NT_MAX_HOST_LEN] = '\0';
    char big[NT_ERROR_LEN];
    assert_int_equal(nt_guard_check(&none, longhost, (struct sockaddr *)&mapped, sizeof mapped,
                                    big, sizeof big), -1);
    const char *tail = "(::ffff:10.0.0.1) is a private address (allow it with --allow-host)";
    assert_true(strlen(big) > strlen(tail));
    assert_string_equal(big + strlen(big) - strlen(tail), tail);
}

static void test_host_problem(void **state)
{
    (void)state;
    assert_null(nt_guard_host_problem("127.0.0.1"));
    assert_null(nt_guard_host_problem("localhost"));
    assert_null(nt_guard_host_problem("hooks.lan"));
    assert_null(nt_guard_host_problem("::1"));
    assert_null(nt_guard_host_problem("[::1]"));
    assert_null(nt_guard_host_problem("fd00::1:2"));
    assert_non_null(nt_guard_host_problem(""));
    assert_non_null(nt_guard_host_problem("http://hooks.lan/"));
    assert_non_null(nt_guard_host_problem("hooks.lan/path"));
    assert_non_null(nt_guard_host_problem("hooks.lan:8080"));
    assert_non_null(nt_guard_host_problem("[::1]:8080"));
    assert_non_null(nt_guard_host_problem("user@hooks.lan"));
    assert_non_null(nt_guard_host_problem("hooks lan"));
    char longname[NT_MAX_HOST_LEN + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_non_null(nt_guard_host_problem(longname));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_ranges),
        cmocka_unit_test(test_ipv6_ranges),
        cmocka_unit_test(test_ipv4_in_ipv6),
        cmocka_unit_test(test_not_ip),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_host_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
