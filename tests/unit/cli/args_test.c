/* Unit tests of cli/args.c: commands, options before and after the command, values, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../../cli/cli.h"

/* Parses "eh" followed by the nargs strings given. */
static int parse(cli_args_t *a, char *err, size_t errlen, int nargs, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, nargs);
    argv[0] = "eh";
    for (int i = 1; i <= nargs; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    err[0] = '\0';
    return cli_args_parse(nargs + 1, argv, a, err, errlen);
}

static void test_upload_files_and_flags(void **state)
{
    (void)state;
    cli_args_t a;
    char err[256];
    assert_int_equal(parse(&a, err, sizeof(err), 6, "--url", "http://h:1", "upload", "a.jsonl", "b.jsonl", "--follow"),
                     EH_OK);
    assert_int_equal(a.cmd, CLI_CMD_UPLOAD);
    assert_string_equal(a.url, "http://h:1");
    assert_int_equal(a.nfiles, 2);
    assert_string_equal(a.files[0], "a.jsonl");
    assert_string_equal(a.files[1], "b.jsonl");
    assert_true(a.follow);
    assert_false(a.dry_run);
    assert_int_equal(a.retries, -1);
}

static void test_inline_values_and_globals_after_command(void **state)
{
    (void)state;
    cli_args_t a;
    char err[256];
    assert_int_equal(
        parse(&a, err, sizeof(err), 7, "entries", "ID", "--level=error,warn", "--q", "disk full", "--json", "--key=k1"),
        EH_OK);
    assert_int_equal(a.cmd, CLI_CMD_ENTRIES);
    assert_string_equal(a.id, "ID");
    assert_string_equal(a.level, "error,warn");
    assert_string_equal(a.q, "disk full");
    assert_true(a.json);
    assert_string_equal(a.key, "k1");
}

static void test_jobs_options(void **state)
{
    (void)state;
    cli_args_t a;
    char err[256];
    assert_int_equal(parse(&a, err, sizeof(err), 6, "jobs", "--status", "failed", "--limit", "20", "--retries=0"),
                     EH_OK);
    assert_string_equal(a.status, "failed");
    assert_int_equal(a.limit, 20);
    assert_int_equal(a.retries, 0);
    assert_int_equal(parse(&a, err, sizeof(err), 3, "jobs", "--status", "done"), EH_DECLINED);
    assert_non_null(strstr(err, "--status"));
    assert_int_equal(parse(&a, err, sizeof(err), 3, "jobs", "--limit", "201"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 3, "jobs", "--limit", "x"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 3, "jobs", "--limit", "0"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 2, "jobs", "--retries=21"), EH_DECLINED);
}

static void test_refusals(void **state)
{
    (void)state;
    cli_args_t a;
    char err[256];
    assert_int_equal(parse(&a, err, sizeof(err), 0), EH_DECLINED);
    assert_non_null(strstr(err, "no command"));
    assert_int_equal(parse(&a, err, sizeof(err), 1, "frobnicate"), EH_DECLINED);
    assert_non_null(strstr(err, "unknown command"));
    assert_int_equal(parse(&a, err, sizeof(err), 1, "status"), EH_DECLINED);
    assert_non_null(strstr(err, "job ID"));
    assert_int_equal(parse(&a, err, sizeof(err), 1, "upload"), EH_DECLINED);
    assert_non_null(strstr(err, "FILE"));
    assert_int_equal(parse(&a, err, sizeof(err), 3, "status", "a", "b"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 3, "status", "a", "--follow"), EH_DECLINED);
    assert_non_null(strstr(err, "not an option of status"));
    assert_int_equal(parse(&a, err, sizeof(err), 3, "--follow", "upload", "x"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 4, "upload", "x", "--follow", "--dry-run"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 3, "status", "a", "--nope"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 3, "status", "a", "-x"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 3, "status", "a", "--url"), EH_DECLINED);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(parse(&a, err, sizeof(err), 2, "jobs", "--json=1"), EH_DECLINED);
    assert_int_equal(parse(&a, err, sizeof(err), 4, "upload", "x", "--idempotency-key", ""), EH_DECLINED);
}

static void test_help_and_version(void **state)
{
    (void)state;
    cli_args_t a;
    char err[256];
    assert_int_equal(parse(&a, err, sizeof(err), 1, "--help"), EH_OK);
    assert_true(a.help);
    assert_int_equal(a.cmd, CLI_CMD_NONE);
    assert_non_null(strstr(cli_args_help(a.cmd), "exit codes"));
    assert_int_equal(parse(&a, err, sizeof(err), 2, "entries", "-h"), EH_OK);
    assert_true(a.help);
    assert_non_null(strstr(cli_args_help(a.cmd), "--level"));
    assert_int_equal(parse(&a, err, sizeof(err), 1, "--version"), EH_OK);
    assert_true(a.version);
}

static void test_double_dash_ends_options(void **state)
{
    (void)state;
    cli_args_t a;
    char err[256];
    assert_int_equal(parse(&a, err, sizeof(err), 3, "upload", "--", "--odd-name.jsonl"), EH_OK);
    assert_int_equal(a.nfiles, 1);
    assert_string_equal(a.files[0], "--odd-name.jsonl");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_files_and_flags), cmocka_unit_test(test_inline_values_and_globals_after_command),
        cmocka_unit_test(test_jobs_options),           cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_help_and_version),       cmocka_unit_test(test_double_dash_ends_options),
    };
    return cmocka_run_group_tests_name("cli_args", tests, NULL, NULL);
}
