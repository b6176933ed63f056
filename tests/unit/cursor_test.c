/*
 * cursor_test.c - api/cursor.c: round trips, and every way a cursor the
 * server did not make for this caller is refused (edited byte, truncated,
 * extended, another tenant, another kind, another secret, non-canonical
 * base64, negative number).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/cursor.h"

#define TENANT_A "00000000-0000-0000-0000-000000000000"
#define TENANT_B "5d2f8a1c-7e3b-4c9d-a0f1-23456789abcd"
#define JOB "4B0C1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"

static int setup(void **state)
{
    (void)state;
    return api_cursor_set_secret("0123456789abcdef0123456789abcdef", 32) == EH_OK ? 0 : -1;
}

static void encode(api_cursor_kind_t kind, int64_t n, const char *tenant, char out[API_CURSOR_STRLEN + 1])
{
    api_cursor_t c = {.kind = kind, .n = n};
    strcpy(c.id, JOB);
    assert_int_equal(api_cursor_encode(&c, tenant, out), EH_OK);
    assert_int_equal(strlen(out), API_CURSOR_STRLEN);
    for (const char *p = out; *p; p++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
}

static void test_round_trip(void **state)
{
    (void)state;
    const int64_t values[] = {0, 1, 1732183200123456LL, INT64_MAX};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char text[API_CURSOR_STRLEN + 1];
        encode(API_CURSOR_JOBS, values[i], TENANT_A, text);
        api_cursor_t out;
        assert_int_equal(api_cursor_decode(text, strlen(text), API_CURSOR_JOBS, TENANT_A, &out), EH_OK);
        assert_int_equal(out.kind, API_CURSOR_JOBS);
        assert_true(out.n == values[i]);
        assert_string_equal(out.id, "4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"); /* lowercase */
    }
}

static void test_tampering_refused(void **state)
{
    (void)state;
    char text[API_CURSOR_STRLEN + 1];
    encode(API_CURSOR_ENTRIES, 4200, TENANT_A, text);
    api_cursor_t out;
    /* every single character changed */
    for (size_t i = 0; i < API_CURSOR_STRLEN; i++) {
        char bad[API_CURSOR_STRLEN + 1];
        memcpy(bad, text, sizeof(bad));
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_int_equal(api_cursor_decode(bad, API_CURSOR_STRLEN, API_CURSOR_ENTRIES, TENANT_A, &out), EH_DECLINED);
    }
    /* truncated, extended, empty, NUL inside */
    assert_int_equal(api_cursor_decode(text, API_CURSOR_STRLEN - 1, API_CURSOR_ENTRIES, TENANT_A, &out), EH_DECLINED);
    char longer[API_CURSOR_STRLEN + 2];
    memcpy(longer, text, API_CURSOR_STRLEN);
    longer[API_CURSOR_STRLEN] = 'A';
    longer[API_CURSOR_STRLEN + 1] = '\0';
    assert_int_equal(api_cursor_decode(longer, strlen(longer), API_CURSOR_ENTRIES, TENANT_A, &out), EH_DECLINED);
    assert_int_equal(api_cursor_decode("", 0, API_CURSOR_ENTRIES, TENANT_A, &out), EH_DECLINED);
    char nul[API_CURSOR_STRLEN + 1];
    memcpy(nul, text, sizeof(nul));
    nul[3] = '\0';
    assert_int_equal(api_cursor_decode(nul, API_CURSOR_STRLEN, API_CURSOR_ENTRIES, TENANT_A, &out), EH_DECLINED);
    /* standard base64's + and / are not base64url */
    char std[API_CURSOR_STRLEN + 1];
    memcpy(std, text, sizeof(std));
    for (char *p = std; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    if (strcmp(std, text) != 0)
        assert_int_equal(api_cursor_decode(std, API_CURSOR_STRLEN, API_CURSOR_ENTRIES, TENANT_A, &out), EH_DECLINED);
    /* the untouched one still decodes */
    assert_int_equal(api_cursor_decode(text, API_CURSOR_STRLEN, API_CURSOR_ENTRIES, TENANT_A, &out), EH_OK);
    assert_true(out.n == 4200);
}

static void test_bound_to_tenant_kind_and_secret(void **state)
{
    (void)state;
    char text[API_CURSOR_STRLEN + 1];
    encode(API_CURSOR_JOBS, 99, TENANT_A, text);
    api_cursor_t out;
    assert_int_equal(api_cursor_decode(text, API_CURSOR_STRLEN, API_CURSOR_JOBS, TENANT_B, &out), EH_DECLINED);
    assert_int_equal(api_cursor_decode(text, API_CURSOR_STRLEN, API_CURSOR_ENTRIES, TENANT_A, &out), EH_DECLINED);
    assert_int_equal(api_cursor_decode(text, API_CURSOR_STRLEN, API_CURSOR_JOBS, "not-a-uuid", &out), EH_DECLINED);
    assert_int_equal(api_cursor_set_secret("another secret of 32 bytes......", 32), EH_OK);
    assert_int_equal(api_cursor_decode(text, API_CURSOR_STRLEN, API_CURSOR_JOBS, TENANT_A, &out), EH_DECLINED);
    assert_int_equal(setup(NULL), 0);
    assert_int_equal(api_cursor_decode(text, API_CURSOR_STRLEN, API_CURSOR_JOBS, TENANT_A, &out), EH_OK);
}

static void test_secrets(void **state)
{
    (void)state;
    assert_int_equal(api_cursor_set_secret("short", 5), EH_DECLINED);
    assert_int_equal(api_cursor_configure("tooshort", "postgresql://x"), EH_DECLINED);
    /* derive: the same URL gives the same key (replicas agree), another URL another key */
    char a[API_CURSOR_STRLEN + 1], b[API_CURSOR_STRLEN + 1], c[API_CURSOR_STRLEN + 1];
    assert_int_equal(api_cursor_configure("derive", "postgresql://eh@db:5432/eh"), EH_OK);
    encode(API_CURSOR_JOBS, 1, TENANT_A, a);
    assert_int_equal(api_cursor_configure("derive", "postgresql://eh@db:5432/eh"), EH_OK);
    encode(API_CURSOR_JOBS, 1, TENANT_A, b);
    assert_string_equal(a, b);
    assert_int_equal(api_cursor_configure("derive", "postgresql://eh@other:5432/eh"), EH_OK);
    encode(API_CURSOR_JOBS, 1, TENANT_A, c);
    assert_string_not_equal(a, c);
    /* random: two starts never agree */
    assert_int_equal(api_cursor_configure("random", ""), EH_OK);
    encode(API_CURSOR_JOBS, 1, TENANT_A, a);
    assert_int_equal(api_cursor_configure("random", ""), EH_OK);
    encode(API_CURSOR_JOBS, 1, TENANT_A, b);
    assert_string_not_equal(a, b);
    assert_int_equal(setup(NULL), 0);
}

static void test_encode_refuses_bad_ids(void **state)
{
    (void)state;
    api_cursor_t c = {.kind = API_CURSOR_JOBS, .n = 1};
    char out[API_CURSOR_STRLEN + 1];
    strcpy(c.id, "nope");
    assert_int_equal(api_cursor_encode(&c, TENANT_A, out), EH_ERR);
    strcpy(c.id, JOB);
    assert_int_equal(api_cursor_encode(&c, "x", out), EH_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tampering_refused),
        cmocka_unit_test(test_bound_to_tenant_kind_and_secret),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_encode_refuses_bad_ids),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
