/*
 * level_test.c - common/level: level names (case-insensitive, every synonym
 * the contract lists) and the pino/bunyan numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../support/testutil.h"
#include "../../common/level.h"

static void test_levels_text(void **state)
{
    (void)state;
    /* A grid reads better than one row per line. */
    /* clang-format off */
    static const struct {
        const char *in;
        const char *out; /* NULL: unknown */
    } rows[] = {
        {"trace", "trace"},     {"TRACE", "trace"},       {"verbose", "trace"},     {"debug", "debug"},
        {"DEBUG", "debug"},     {"DEBUG1", "debug"},      {"debug2", "debug"},      {"DEBUG3", "debug"},
        {"Debug4", "debug"},    {"DEBUG5", "debug"},      {"info", "info"},         {"INFO", "info"},
        {"Info", "info"},       {"information", "info"},  {"Informational", "info"}, {"LOG", "info"},
        {"notice", "notice"},   {"NOTICE", "notice"},     {"warn", "warn"},         {"WARN", "warn"},
        {"warning", "warn"},    {"WARNING", "warn"},      {"error", "error"},       {"ERROR", "error"},
        {"err", "error"},       {"fatal", "fatal"},       {"FATAL", "fatal"},       {"critical", "fatal"},
        {"CRITICAL", "fatal"},  {"crit", "fatal"},        {"panic", "fatal"},       {"PANIC", "fatal"}, {"dpanic", "fatal"},
        {"emerg", "fatal"},     {"emergency", "fatal"},   {"alert", "fatal"},       {"", NULL},
        {"debug6", NULL},       {"debug0", NULL},         {"infos", NULL},          {" info", NULL},
        {"info ", NULL},        {"i", NULL},              {"default", NULL},        {"warnings", NULL},
        {"informationalxx", NULL}, {"\xc4\xb0NFO", NULL}, {"statement", NULL},
    };
    /* clang-format on */
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        worker_level_t lv = WORKER_LEVEL_TRACE;
        int rc = worker_level_from_text(rows[i].in, strlen(rows[i].in), &lv);
        if (rows[i].out == NULL) {
            if (rc != EH_DECLINED)
                fail_msg("level %s accepted", rows[i].in);
        } else {
            if (rc != EH_OK)
                fail_msg("level %s refused", rows[i].in);
            assert_string_equal(worker_level_name(lv), rows[i].out);
        }
    }
}

/* The level numbers validate_test sends through a whole line (testutil), straight to the mapping. */
static void test_levels_number(void **state)
{
    (void)state;
    const eh_test_level_row_t *rows = eh_test_level_numbers;
    for (size_t i = 0; i < eh_test_level_numbers_len; i++) {
        worker_level_t lv = WORKER_LEVEL_TRACE;
        int rc = worker_level_from_number(rows[i].num, strlen(rows[i].num), &lv);
        if (rows[i].out == NULL) {
            if (rc != EH_DECLINED)
                fail_msg("level %s accepted", rows[i].num);
        } else {
            if (rc != EH_OK)
                fail_msg("level %s refused", rows[i].num);
            assert_string_equal(worker_level_name(lv), rows[i].out);
        }
    }
}

/* Every level has its own name; out-of-range values fall back to "info". */
static void test_level_names(void **state)
{
    (void)state;
    static const char *const names[] = {"trace", "debug", "info", "notice", "warn", "error", "fatal"};
    for (int lv = WORKER_LEVEL_TRACE; lv <= WORKER_LEVEL_FATAL; lv++)
        assert_string_equal(worker_level_name((worker_level_t)lv), names[lv]);
    assert_string_equal(worker_level_name((worker_level_t)(WORKER_LEVEL_FATAL + 1)), "info");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_text),
        cmocka_unit_test(test_levels_number),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
