/*
 * utf8_test.c - common/utf8: the one UTF-8 validator (RFC 3629 edges:
 * overlong forms, surrogates, the U+10FFFF ceiling, truncated sequences).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_valid_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        size_t invalid_at; /* == len: valid */
    } rows[] = {
        {S("plain ascii"), 11},
        {S("caf\xc3\xa9"), 5},
        {S("\xe2\x82\xac"), 3},     /* U+20AC */
        {S("\xf0\x9f\x98\x80"), 4}, /* U+1F600 */
        {S("\xf4\x8f\xbf\xbf"), 4}, /* U+10FFFF */
        {S("\xed\x9f\xbf"), 3},     /* U+D7FF, just below the surrogates */
        {S("a\xc0\xaf"), 1},        /* overlong '/' */
        {S("\xc1\xbf"), 0},         /* overlong */
        {S("\xe0\x80\xaf"), 0},     /* overlong 3 bytes */
        {S("\xf0\x80\x80\xaf"), 0}, /* overlong 4 bytes */
        {S("\xed\xa0\x80"), 0},     /* U+D800 surrogate */
        {S("\xed\xbf\xbf"), 0},     /* U+DFFF surrogate */
        {S("\xf4\x90\x80\x80"), 0}, /* U+110000 */
        {S("\xf5\x80\x80\x80"), 0}, /* F5 lead */
        {S("ok\x80"), 2},           /* stray continuation */
        {S("ok\xe2\x82"), 2},       /* truncated at the end */
        {S("\xe2\x28\xa1"), 0},     /* bad continuation */
        {S("\xff"), 0},
        {S("a\0b"), 3}, /* NUL is valid UTF-8 */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(eh_utf8_invalid_at(rows[i].s, rows[i].len), rows[i].invalid_at);
        assert_int_equal(eh_utf8_valid(rows[i].s, rows[i].len), rows[i].invalid_at == rows[i].len);
    }
}

static void test_decode(void **state)
{
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(eh_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(eh_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(eh_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(eh_utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
    assert_int_equal(eh_utf8_decode((const unsigned char *)"\xe2\x82\xac", 2, &cp), 0); /* not enough bytes */
}

/* The encoder is the decoder's inverse at every length boundary, and refuses what is past U+10FFFF. */
static void test_encode_round_trip(void **state)
{
    (void)state;
    static const uint32_t cps[] = {0, 0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF};
    static const size_t lens[] = {1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4};
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        char out[4];
        size_t n = eh_utf8_encode(cps[i], out);
        assert_int_equal(n, lens[i]);
        uint32_t back = 0;
        assert_int_equal(eh_utf8_decode((const unsigned char *)out, n, &back), n);
        assert_int_equal(back, cps[i]);
    }
    char out[4];
    assert_int_equal(eh_utf8_encode(0x110000, out), 0);
    assert_int_equal(eh_hex_digit('0'), 0);
    assert_int_equal(eh_hex_digit('f'), 15);
    assert_int_equal(eh_hex_digit('F'), 15);
    assert_int_equal(eh_hex_digit('g'), -1);
}

static void test_boundary_and_trim(void **state)
{
    (void)state;
    const char *s = "a\xe2\x82\xac"
                    "b"; /* a, euro (3 bytes), b */
    assert_int_equal(eh_utf8_boundary(s, 0), 0);
    assert_int_equal(eh_utf8_boundary(s, 1), 1);
    assert_int_equal(eh_utf8_boundary(s, 2), 1);
    assert_int_equal(eh_utf8_boundary(s, 3), 1);
    assert_int_equal(eh_utf8_boundary(s, 4), 4);
    assert_int_equal(eh_utf8_trim(s, 5), 5);
    assert_int_equal(eh_utf8_trim(s, 4), 4);
    assert_int_equal(eh_utf8_trim(s, 3), 1); /* a and half a euro: the half goes */
    assert_int_equal(eh_utf8_trim(s, 2), 1);
    assert_int_equal(eh_utf8_trim(s, 1), 1);
    assert_int_equal(eh_utf8_trim("", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_invalid),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_boundary_and_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
