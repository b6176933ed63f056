/*
 * client_test.c - api/client.c: request ids kept or made, trusted proxies
 * parsed, and the client address read from X-Forwarded-For only behind a
 * trusted proxy, walking from the right.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/client.h"

static void test_request_id(void **state)
{
    (void)state;
    char id[API_REQUEST_ID_MAX + 1], id2[API_REQUEST_ID_MAX + 1];
    api_request_id("abc-123_x.y:z", id);
    assert_string_equal(id, "abc-123_x.y:z");
    const char *bad[] = {NULL,
                         "",
                         "has space",
                         "quote\"",
                         "new\nline",
                         "\xc3\xa9",
                         "0123456789012345678901234567890123456789012345678901234567890123x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        api_request_id(bad[i], id);
        assert_int_equal(strlen(id), 32);
        assert_int_equal(strspn(id, "0123456789abcdef"), 32);
    }
    api_request_id(NULL, id2);
    assert_string_not_equal(id, id2);
    char max[API_REQUEST_ID_MAX + 1];
    memset(max, 'a', API_REQUEST_ID_MAX);
    max[API_REQUEST_ID_MAX] = '\0';
    assert_true(api_request_id_sane(max));
}

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1234)};
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static void test_proxies_parse(void **state)
{
    (void)state;
    api_proxies_t *p = NULL;
    char err[128];
    assert_int_equal(api_proxies_parse("none", &p, err, sizeof(err)), EH_OK);
    struct sockaddr_in lo = v4("127.0.0.1");
    assert_false(api_proxies_trust(p, (struct sockaddr *)&lo));
    api_proxies_destroy(p);
    assert_int_equal(api_proxies_parse("10.0.0.0/8, 127.0.0.1,::1,fd00::/8", &p, err, sizeof(err)), EH_OK);
    struct sockaddr_in in10 = v4("10.200.3.4"), out = v4("11.0.0.1");
    assert_true(api_proxies_trust(p, (struct sockaddr *)&lo));
    assert_true(api_proxies_trust(p, (struct sockaddr *)&in10));
    assert_false(api_proxies_trust(p, (struct sockaddr *)&out));
    struct sockaddr_in6 six = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, "fd12::5", &six.sin6_addr), 1);
    assert_true(api_proxies_trust(p, (struct sockaddr *)&six));
    /* an IPv4-mapped peer is the IPv4 address */
    assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.1.1", &six.sin6_addr), 1);
    assert_true(api_proxies_trust(p, (struct sockaddr *)&six));
    api_proxies_destroy(p);
    const char *bad[] = {"", "10.0.0.0/33", "nonsense", "1.2.3.4/", "::1/129", "1.2.3.4/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(api_proxies_parse(bad[i], &p, err, sizeof(err)), EH_OK);
        assert_null(p);
    }
}

static void test_client_addr(void **state)
{
    (void)state;
    api_proxies_t *p = NULL;
    char err[128], out[API_CLIENT_ADDR_MAX + 1];
    assert_int_equal(api_proxies_parse("127.0.0.1,10.0.0.0/8", &p, err, sizeof(err)), EH_OK);
    struct sockaddr_in proxy = v4("127.0.0.1"), stranger = v4("192.0.2.7");
    /* not from a proxy: the header is ignored */
    api_client_addr_resolve(p, (struct sockaddr *)&stranger, "1.1.1.1", out, sizeof(out));
    assert_string_equal(out, "192.0.2.7");
    /* from a proxy: the right-most untrusted entry; what the client wrote further left is ignored */
    api_client_addr_resolve(p, (struct sockaddr *)&proxy, "6.6.6.6, 203.0.113.9, 10.1.2.3", out, sizeof(out));
    assert_string_equal(out, "203.0.113.9");
    /* no header, or a malformed entry: the last trusted view */
    api_client_addr_resolve(p, (struct sockaddr *)&proxy, NULL, out, sizeof(out));
    assert_string_equal(out, "127.0.0.1");
    api_client_addr_resolve(p, (struct sockaddr *)&proxy, "203.0.113.9, garbage", out, sizeof(out));
    assert_string_equal(out, "127.0.0.1");
    api_client_addr_resolve(p, (struct sockaddr *)&proxy, "garbage, 10.0.0.5", out, sizeof(out));
    assert_string_equal(out, "10.0.0.5");
    api_client_addr_resolve(p, (struct sockaddr *)&proxy, "2001:db8::1", out, sizeof(out));
    assert_string_equal(out, "2001:db8::1");
    /* nobody trusted: always the peer */
    api_client_addr_resolve(NULL, (struct sockaddr *)&proxy, "203.0.113.9", out, sizeof(out));
    assert_string_equal(out, "127.0.0.1");
    api_proxies_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_proxies_parse),
        cmocka_unit_test(test_client_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
