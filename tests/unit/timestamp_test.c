/*
 * timestamp_test.c - common/timestamp: the contract's timestamp rules, text
 * and number forms, and the calendar round trip over years 1..9999.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/timestamp.h"

static void test_timestamps_text(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: invalid */
        const char *why;
    } rows[] = {
        {"2026-11-21T10:00:00Z", "2026-11-21 10:00:00.000000+00", NULL},
        {"2026-11-21t10:00:00z", "2026-11-21 10:00:00.000000+00", NULL},
        {"2026-11-21 10:00:00.123 UTC", "2026-11-21 10:00:00.123000+00", NULL},
        {"2026-11-21 10:00:00.123UTC", "2026-11-21 10:00:00.123000+00", NULL},
        {"2026-11-21 10:00:00 utc", "2026-11-21 10:00:00.000000+00", NULL},
        {"2026-11-21 10:00:00 GMT", "2026-11-21 10:00:00.000000+00", NULL},
        {"2026-11-21 10:00:00 Z", "2026-11-21 10:00:00.000000+00", NULL},
        {"2026-11-21T10:00:00.5Z", "2026-11-21 10:00:00.500000+00", NULL},
        {"2026-11-21T10:00:00.123456789Z", "2026-11-21 10:00:00.123456+00", NULL}, /* cut, not rounded */
        {"2026-11-21T10:00:00.9999999Z", "2026-11-21 10:00:00.999999+00", NULL},
        {"2026-11-21T10:00:00.000000000000000000000000000001Z", "2026-11-21 10:00:00.000000+00", NULL},
        {"2026-11-21T10:00:00.1+01:00", "2026-11-21 09:00:00.100000+00", NULL},
        {"2026-11-21T10:00:00+0130", "2026-11-21 08:30:00.000000+00", NULL},
        {"2026-11-21T10:00:00-05", "2026-11-21 15:00:00.000000+00", NULL},
        {"2026-11-21T10:00:00 -05:30", "2026-11-21 15:30:00.000000+00", NULL},
        {"2026-11-21T10:00:00-00:00", "2026-11-21 10:00:00.000000+00", NULL},
        {"2026-11-21T23:30:00-01:00", "2026-11-22 00:30:00.000000+00", NULL},
        {"2026-01-01T00:30:00+01:00", "2025-12-31 23:30:00.000000+00", NULL},
        {"2026-11-21T10:00:00+23:59", "2026-11-20 10:01:00.000000+00", NULL},
        {"2026-12-31T23:59:60Z", "2027-01-01 00:00:00.000000+00", NULL}, /* leap second, as PostgreSQL */
        {"2024-02-29T00:00:00Z", "2024-02-29 00:00:00.000000+00", NULL},
        {"2000-02-29T00:00:00Z", "2000-02-29 00:00:00.000000+00", NULL},
        {"1970-01-01T00:00:00Z", "1970-01-01 00:00:00.000000+00", NULL},
        {"1969-12-31T23:59:59.999999Z", "1969-12-31 23:59:59.999999+00", NULL},
        {"1900-03-01T00:00:00Z", "1900-03-01 00:00:00.000000+00", NULL},
        {"0001-01-01T00:00:00Z", "0001-01-01 00:00:00.000000+00", NULL},
        {"0000-12-31T23:00:00-01:00", "0001-01-01 00:00:00.000000+00", NULL},
        {"9999-12-31T23:59:59.999999Z", "9999-12-31 23:59:59.999999+00", NULL},
        {"0000-12-31T23:59:59.999999Z", NULL, "timestamp out of range"},
        {"9999-12-31T23:59:59.999999-00:01", NULL, "timestamp out of range"},
        {"9999-12-31T23:59:60Z", NULL, "timestamp out of range"},
        {"2023-02-29T00:00:00Z", NULL, "day out of range"},
        {"2100-02-29T00:00:00Z", NULL, "day out of range"},
        {"2026-04-31T00:00:00Z", NULL, "day out of range"},
        {"2026-11-00T00:00:00Z", NULL, "day out of range"},
        {"2026-11-32T00:00:00Z", NULL, "day out of range"},
        {"2026-13-01T00:00:00Z", NULL, "month out of range"},
        {"2026-00-01T00:00:00Z", NULL, "month out of range"},
        {"2026-11-21T24:00:00Z", NULL, "hour out of range"},
        {"2026-11-21T10:60:00Z", NULL, "minute out of range"},
        {"2026-11-21T10:00:61Z", NULL, "second out of range"},
        {"2026-11-21T10:00:00", NULL, "missing time zone"},
        {"2026-11-21T10:00:00.123", NULL, "missing time zone"},
        {"2026-11-21T10:00:00 ", NULL, "missing time zone"},
        {"2026-11-21T10:00:00+24:00", NULL, "invalid time zone"},
        {"2026-11-21T10:00:00+01:60", NULL, "invalid time zone"},
        {"2026-11-21T10:00:00+1", NULL, "invalid time zone"},
        {"2026-11-21T10:00:00+01:0", NULL, "invalid time zone"},
        {"2026-11-21T10:00:00 CET", NULL, "invalid time zone"},
        {"2026-11-21T10:00:00+01:00:00", NULL, "not an RFC 3339 timestamp"},
        {"2026-11-21T10:00:00ZZ", NULL, "not an RFC 3339 timestamp"},
        {"2026-11-21T10:00:00Z ", NULL, "not an RFC 3339 timestamp"},
        {"2026-11-21T10:00:00.Z", NULL, "not an RFC 3339 timestamp"},
        {"2026-11-21T10:00:00,123Z", NULL, "invalid time zone"},
        {"2026-11-21", NULL, "not an RFC 3339 timestamp"},
        {" 2026-11-21T10:00:00Z", NULL, "not an RFC 3339 timestamp"},
        {"2026-11-21X10:00:00Z", NULL, "not an RFC 3339 timestamp"},
        {"2026/11/21T10:00:00Z", NULL, "not an RFC 3339 timestamp"},
        {"26-11-21T10:00:00Z", NULL, "not an RFC 3339 timestamp"},
        {"2026-11-21T1:00:00Z", NULL, "not an RFC 3339 timestamp"},
        {"+2026-11-21T10:00:00Z", NULL, "not an RFC 3339 timestamp"},
        {"", NULL, "not an RFC 3339 timestamp"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        int64_t us = 0;
        const char *why = NULL;
        char out[WORKER_TS_BUFLEN];
        int rc = worker_ts_parse_text(rows[i].in, strlen(rows[i].in), &us, &why);
        if (rows[i].out != NULL) {
            if (rc != EH_OK)
                fail_msg("%s: %s", rows[i].in, why);
            assert_int_equal(worker_ts_format(us, out), 29);
            if (strcmp(out, rows[i].out) != 0)
                fail_msg("%s: got %s, expected %s", rows[i].in, out, rows[i].out);
        } else {
            if (rc != EH_DECLINED)
                fail_msg("%s: accepted", rows[i].in);
            if (strcmp(why, rows[i].why) != 0)
                fail_msg("%s: why %s, expected %s", rows[i].in, why, rows[i].why);
        }
    }
}

static void test_timestamps_number(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: out of range */
    } rows[] = {
        {"0", "1970-01-01 00:00:00.000000+00"},
        {"-0", "1970-01-01 00:00:00.000000+00"},
        {"1700000000", "2023-11-14 22:13:20.000000+00"},
        {"1700000000.123", "2023-11-14 22:13:20.123000+00"}, /* exact: a double would give .122999 */
        {"1700000000.1234567", "2023-11-14 22:13:20.123456+00"},
        {"1700000000123", "2023-11-14 22:13:20.123000+00"},
        {"1700000000123.456", "2023-11-14 22:13:20.123456+00"},
        {"1700000000123.4569", "2023-11-14 22:13:20.123456+00"},
        {"1.7e9", "2023-11-14 22:13:20.000000+00"},
        {"17E8", "2023-11-14 22:13:20.000000+00"},
        {"1.7e+12", "2023-11-14 22:13:20.000000+00"},
        {"170000000000000e-5", "2023-11-14 22:13:20.000000+00"},
        {"0.0000000000000000000000000000001e40", "2001-09-09 01:46:40.000000+00"}, /* 1e9 s */
        {"-1.5", "1969-12-31 23:59:58.500000+00"},
        {"-0.0000001", "1969-12-31 23:59:59.999999+00"}, /* floor */
        {"-1700000000000", "1916-02-18 01:46:40.000000+00"},
        /* the rule: seconds up to and including 1e11, milliseconds above */
        {"100000000000", "5138-11-16 09:46:40.000000+00"},
        {"1e11", "5138-11-16 09:46:40.000000+00"},
        {"100000000000.000001", "1973-03-03 09:46:40.000000+00"},
        {"100000000000.5", "1973-03-03 09:46:40.000500+00"},
        {"-100000000000", NULL}, /* -1e11 s: before year 1 */
        {"-100000000001", "1966-10-31 14:13:19.999000+00"},
        {"-62135596800", "0001-01-01 00:00:00.000000+00"},
        {"-62135596800.000001", NULL},
        {"253402300799999", "9999-12-31 23:59:59.999000+00"},
        {"253402300800000", NULL},
        {"1700000000000000000", NULL}, /* nanoseconds are not a supported unit */
        {"1e400", NULL},
        {"1e-400", "1970-01-01 00:00:00.000000+00"},
        {"123456789012345678901234567890", NULL},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        int64_t us = 0;
        const char *why = NULL;
        char out[WORKER_TS_BUFLEN];
        int rc = worker_ts_parse_number(rows[i].in, strlen(rows[i].in), &us, &why);
        if (rows[i].out != NULL) {
            if (rc != EH_OK)
                fail_msg("%s: %s", rows[i].in, why);
            worker_ts_format(us, out);
            if (strcmp(out, rows[i].out) != 0)
                fail_msg("%s: got %s, expected %s", rows[i].in, out, rows[i].out);
        } else {
            if (rc != EH_DECLINED)
                fail_msg("%s: accepted", rows[i].in);
            assert_string_equal(why, "timestamp out of range");
        }
    }
}

/* Formatting and parsing agree on every day of years 1..9999, at steps (days_from_civil round trip). */
static void test_calendar_round_trip(void **state)
{
    (void)state;
    char out[WORKER_TS_BUFLEN];
    int64_t first = INT64_C(-62135596800000000);
    int64_t last = INT64_C(253402300799999999);
    int64_t prev_day = -1;
    for (int64_t us = first; us <= last && us >= first; us += INT64_C(86400000000) * 7 + 3723000001) {
        int64_t back = 0;
        const char *why;
        worker_ts_format(us, out);
        /* "YYYY-MM-DD HH:MM:SS.ffffff+00" parses as RFC 3339 (space and +00 are accepted forms) */
        assert_int_equal(worker_ts_parse_text(out, strlen(out), &back, &why), EH_OK);
        assert_int_equal(back, us);
        prev_day = us;
    }
    assert_true(prev_day > 0);
    worker_ts_format(first, out);
    assert_string_equal(out, "0001-01-01 00:00:00.000000+00");
    worker_ts_format(last, out);
    assert_string_equal(out, "9999-12-31 23:59:59.999999+00");
    worker_ts_format(-1, out);
    assert_string_equal(out, "1969-12-31 23:59:59.999999+00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps_text),
        cmocka_unit_test(test_timestamps_number),
        cmocka_unit_test(test_calendar_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
