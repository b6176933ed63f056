/* params_test.c - api/params.c: RFC 3339 times and level lists of the entries endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/params.h"

static int64_t t(const char *s)
{
    int64_t us = 0;
    assert_int_equal(api_params_parse_time(s, &us), EH_OK);
    return us;
}

static void test_time_accepts(void **state)
{
    (void)state;
    assert_true(t("1970-01-01T00:00:00Z") == 0);
    assert_true(t("2026-11-21T10:00:00Z") == 1795255200LL * 1000000);
    assert_true(t("2026-11-21T10:00:00.5Z") == 1795255200LL * 1000000 + 500000);
    assert_true(t("2026-11-21T10:00:00.123456789Z") == 1795255200LL * 1000000 + 123456);
    assert_true(t("2026-11-21t10:00:00z") == t("2026-11-21T10:00:00Z"));
    assert_true(t("2026-11-21 10:00:00Z") == t("2026-11-21T10:00:00Z"));
    assert_true(t("2026-11-21T12:00:00+02:00") == t("2026-11-21T10:00:00Z"));
    assert_true(t("2026-11-21T05:30:00-04:30") == t("2026-11-21T10:00:00Z"));
    assert_true(t("2024-02-29T00:00:00Z") == t("2024-02-28T00:00:00Z") + 86400LL * 1000000);
    assert_true(t("1969-12-31T23:59:59Z") == -1000000);
    assert_true(t("2016-12-31T23:59:60Z") == t("2016-12-31T23:59:59Z")); /* a leap second */
}

static void test_time_refuses(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "2026",
                         "2026-11-21",
                         "2026-11-21T10:00:00",
                         "2026-11-21T10:00Z",
                         "2026-13-01T00:00:00Z",
                         "2026-02-29T00:00:00Z",
                         "2026-04-31T00:00:00Z",
                         "2026-11-21T24:00:00Z",
                         "2026-11-21T10:60:00Z",
                         "2026-11-21T10:00:61Z",
                         "2026-11-21T10:00:00.Z",
                         "2026-11-21T10:00:00.1234567890Z",
                         "2026-11-21T10:00:00+0200",
                         "2026-11-21T10:00:00+24:00",
                         "2026-11-21T10:00:00Zjunk",
                         "2026-11-21X10:00:00Z",
                         "+026-11-21T10:00:00Z",
                         "2026-11-21T10:00:00 02:00",
                         "1700000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t us;
        if (api_params_parse_time(bad[i], &us) != EH_DECLINED)
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_levels(void **state)
{
    (void)state;
    unsigned bits = 0;
    assert_int_equal(api_params_parse_levels("info", &bits), EH_OK);
    assert_int_equal(bits, 1u << 2);
    assert_int_equal(api_params_parse_levels("trace,fatal,error", &bits), EH_OK);
    assert_int_equal(bits, (1u << 0) | (1u << 6) | (1u << 5));
    assert_int_equal(api_params_parse_levels("warn,warn", &bits), EH_OK);
    assert_int_equal(bits, 1u << 4);
    const char *bad[] = {"", ",", "info,", ",info", "info,,warn", "INFO", "warning", "inf", "info ", "critical"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (api_params_parse_levels(bad[i], &bits) != EH_DECLINED)
            fail_msg("accepted %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_accepts),
        cmocka_unit_test(test_time_refuses),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
