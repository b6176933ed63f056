/* Unit tests of cli/config.c: precedence of flag, environment and file; the file's format; URL parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../cli/cli.h"

static char path[64];

static void write_config(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/eh-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int teardown(void **state)
{
    (void)state;
    if (path[0] != '\0')
        unlink(path);
    path[0] = '\0';
    return 0;
}

static void test_file_values(void **state)
{
    (void)state;
    cli_config_t c;
    char err[256];
    write_config("# written by make run\n\nurl = http://127.0.0.1:9000/ \nkey=ehk_abc\n");
    assert_int_equal(cli_config_resolve(NULL, NULL, NULL, NULL, path, &c, err, sizeof(err)), EH_OK);
    assert_string_equal(c.url, "http://127.0.0.1:9000");
    assert_string_equal(c.key, "ehk_abc");
}

static void test_precedence(void **state)
{
    (void)state;
    cli_config_t c;
    char err[256];
    write_config("url=http://file:1\nkey=filekey\n");
    assert_int_equal(cli_config_resolve(NULL, NULL, "http://env:2", "envkey", path, &c, err, sizeof(err)), EH_OK);
    assert_string_equal(c.url, "http://env:2");
    assert_string_equal(c.key, "envkey");
    assert_int_equal(
        cli_config_resolve("https://flag:3", "flagkey", "http://env:2", "envkey", path, &c, err, sizeof(err)), EH_OK);
    assert_string_equal(c.url, "https://flag:3");
    assert_string_equal(c.key, "flagkey");
    /* an empty environment variable counts as unset */
    assert_int_equal(cli_config_resolve(NULL, NULL, "", "", path, &c, err, sizeof(err)), EH_OK);
    assert_string_equal(c.url, "http://file:1");
    assert_string_equal(c.key, "filekey");
}

static void test_defaults_without_file(void **state)
{
    (void)state;
    cli_config_t c;
    char err[256];
    assert_int_equal(cli_config_resolve(NULL, NULL, NULL, NULL, "/nonexistent/eh/config", &c, err, sizeof(err)), EH_OK);
    assert_string_equal(c.url, CLI_DEFAULT_URL);
    assert_string_equal(c.key, "");
    assert_int_equal(cli_config_resolve(NULL, NULL, NULL, NULL, NULL, &c, err, sizeof(err)), EH_OK);
    assert_string_equal(c.url, CLI_DEFAULT_URL);
}

static void test_bad_file_and_values(void **state)
{
    (void)state;
    cli_config_t c;
    char err[256];
    write_config("url=http://x\ntoken=abc\n");
    assert_int_equal(cli_config_resolve(NULL, NULL, NULL, NULL, path, &c, err, sizeof(err)), EH_DECLINED);
    assert_non_null(strstr(err, ":2: unknown setting \"token\""));
    teardown(NULL);
    write_config("just words\n");
    assert_int_equal(cli_config_resolve(NULL, NULL, NULL, NULL, path, &c, err, sizeof(err)), EH_DECLINED);
    assert_non_null(strstr(err, ":1:"));
    assert_int_equal(cli_config_resolve("ftp://x", NULL, NULL, NULL, NULL, &c, err, sizeof(err)), EH_DECLINED);
    assert_non_null(strstr(err, "http://"));
    assert_int_equal(cli_config_resolve(NULL, "bad key", NULL, NULL, NULL, &c, err, sizeof(err)), EH_DECLINED);
}

static void test_default_path(void **state)
{
    (void)state;
    char out[256];
    assert_true(cli_config_default_path("/x/cfg", "/home/u", out, sizeof(out)));
    assert_string_equal(out, "/x/cfg/eh/config");
    assert_true(cli_config_default_path(NULL, "/home/u", out, sizeof(out)));
    assert_string_equal(out, "/home/u/.config/eh/config");
    assert_true(cli_config_default_path("relative", "/home/u", out, sizeof(out))); /* XDG says: ignore relative */
    assert_string_equal(out, "/home/u/.config/eh/config");
    assert_false(cli_config_default_path(NULL, NULL, out, sizeof(out)));
}

static void test_endpoint(void **state)
{
    (void)state;
    cli_endpoint_t ep;
    assert_int_equal(cli_config_endpoint("http://127.0.0.1:8080", &ep), EH_OK);
    assert_false(ep.tls);
    assert_string_equal(ep.host, "127.0.0.1");
    assert_int_equal(ep.port, 8080);
    assert_string_equal(ep.prefix, "");
    assert_int_equal(cli_config_endpoint("https://eh.example/api/", &ep), EH_OK);
    assert_true(ep.tls);
    assert_int_equal(ep.port, 443);
    assert_string_equal(ep.prefix, "/api");
    assert_int_equal(cli_config_endpoint("http://[::1]:81", &ep), EH_OK);
    assert_string_equal(ep.host, "::1");
    assert_int_equal(ep.port, 81);
    assert_int_equal(cli_config_endpoint("http://h:0", &ep), EH_DECLINED);
    assert_int_equal(cli_config_endpoint("http://h:99999", &ep), EH_DECLINED);
    assert_int_equal(cli_config_endpoint("http://:80", &ep), EH_DECLINED);
    assert_int_equal(cli_config_endpoint("ws://h", &ep), EH_DECLINED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_file_values, teardown),
        cmocka_unit_test_teardown(test_precedence, teardown),
        cmocka_unit_test_teardown(test_defaults_without_file, teardown),
        cmocka_unit_test_teardown(test_bad_file_and_values, teardown),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_endpoint),
    };
    return cmocka_run_group_tests_name("cli_config", tests, NULL, NULL);
}
