/* Unit tests of cli/progress.c: units, durations, bars fitted to the width, colour only when asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../../cli/progress.h"

static void test_bytes(void **state)
{
    (void)state;
    char b[32];
    cli_progress_bytes(0, b, sizeof(b));
    assert_string_equal(b, "0 B");
    cli_progress_bytes(1023, b, sizeof(b));
    assert_string_equal(b, "1023 B");
    cli_progress_bytes(1536, b, sizeof(b));
    assert_string_equal(b, "1.50 KiB");
    cli_progress_bytes(12 * 1024 * 1024 + 100, b, sizeof(b));
    assert_string_equal(b, "12.0 MiB");
    cli_progress_bytes(300ULL * 1024 * 1024 * 1024, b, sizeof(b));
    assert_string_equal(b, "300 GiB");
}

static void test_duration(void **state)
{
    (void)state;
    char d[16];
    cli_progress_duration(0, d, sizeof(d));
    assert_string_equal(d, "0s");
    cli_progress_duration(59.4, d, sizeof(d));
    assert_string_equal(d, "59s");
    cli_progress_duration(65, d, sizeof(d));
    assert_string_equal(d, "1m05s");
    cli_progress_duration(7380, d, sizeof(d));
    assert_string_equal(d, "2h03m");
    cli_progress_duration(-1, d, sizeof(d));
    assert_string_equal(d, "--");
    cli_progress_duration(1e9, d, sizeof(d));
    assert_string_equal(d, "--");
}

static void test_ingest_line_full_width(void **state)
{
    (void)state;
    char line[512];
    cli_ingest_progress_t p = {.processed = 50, .total = 100, .valid = 45, .invalid = 5, .rate = 25};
    cli_progress_ingest_line(&p, 120, false, line, sizeof(line));
    assert_non_null(strstr(line, "ingest ["));
    assert_non_null(strstr(line, "]  50%"));
    assert_non_null(strstr(line, "50/100 lines"));
    assert_non_null(strstr(line, "45 valid"));
    assert_non_null(strstr(line, "5 invalid"));
    assert_non_null(strstr(line, "25 lines/s"));
    assert_non_null(strstr(line, "ETA 2s"));
    assert_null(strchr(line, '\033'));
    assert_true(strlen(line) <= 119);
    /* half the bar's cells are filled */
    const char *open = strchr(line, '['), *close = strchr(line, ']');
    size_t cells = (size_t)(close - open - 1), hashes = 0;
    for (const char *c = open + 1; c < close; c++)
        hashes += *c == '#';
    assert_int_equal(hashes * 2, cells);
}

static void test_narrow_terminals_never_wrap(void **state)
{
    (void)state;
    char line[512];
    cli_ingest_progress_t p = {.processed = 1234567, .total = 9999999, .valid = 1234000, .invalid = 567, .rate = 4321};
    for (int width = 1; width <= 200; width++) {
        cli_progress_ingest_line(&p, width, true, line, sizeof(line));
        assert_true(cli_progress_visible_width(line) <= (size_t)(width > 1 ? width - 1 : 0));
    }
    /* at 40 columns the details go before the bar does */
    cli_progress_ingest_line(&p, 40, false, line, sizeof(line));
    assert_non_null(strchr(line, '['));
    assert_null(strstr(line, "ETA"));
}

static void test_colour_only_when_asked(void **state)
{
    (void)state;
    char line[512];
    cli_upload_progress_t p = {.sent = 512 * 1024, .total = 1024 * 1024, .rate = 256 * 1024};
    cli_progress_upload_line(&p, 100, true, line, sizeof(line));
    assert_non_null(strstr(line, "\033[32m"));
    assert_non_null(strstr(line, "512 KiB/1.00 MiB"));
    assert_non_null(strstr(line, "256 KiB/s"));
    assert_non_null(strstr(line, "ETA 2s"));
    cli_progress_upload_line(&p, 100, false, line, sizeof(line));
    assert_null(strchr(line, '\033'));
}

static void test_unknown_total(void **state)
{
    (void)state;
    char line[256];
    cli_ingest_progress_t p = {.processed = 0, .total = 0};
    cli_progress_ingest_line(&p, 80, false, line, sizeof(line));
    assert_null(strchr(line, '[')); /* no bar without a total */
    assert_non_null(strstr(line, "0/0 lines"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_ingest_line_full_width),
        cmocka_unit_test(test_narrow_terminals_never_wrap),
        cmocka_unit_test(test_colour_only_when_asked),
        cmocka_unit_test(test_unknown_total),
    };
    return cmocka_run_group_tests_name("cli_progress", tests, NULL, NULL);
}
