/* migrate_test - the pure parts of common/migrate.c: checksum and default directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "migrate.h"

/* Reference values of 64-bit FNV-1a (from the algorithm's published test vectors). */
static void test_checksum_vectors(void **state)
{
    (void)state;
    char out[17];
    eh_migrate_checksum("", 0, out);
    assert_string_equal(out, "cbf29ce484222325");
    eh_migrate_checksum("a", 1, out);
    assert_string_equal(out, "af63dc4c8601ec8c");
    eh_migrate_checksum("foobar", 6, out);
    assert_string_equal(out, "85944171f73967e8");
    /* Every byte counts, also past a NUL. */
    char a[] = {'x', '\0', 'y'}, b[] = {'x', '\0', 'z'};
    char oa[17], ob[17];
    eh_migrate_checksum(a, sizeof(a), oa);
    eh_migrate_checksum(b, sizeof(b), ob);
    assert_string_not_equal(oa, ob);
    assert_int_equal(strlen(oa), 16);
}

static void test_default_dir(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("EH_MIGRATIONS_DIR"), 0);
    assert_string_equal(eh_migrate_default_dir(), "migrations");
    assert_int_equal(setenv("EH_MIGRATIONS_DIR", "", 1), 0);
    assert_string_equal(eh_migrate_default_dir(), "migrations");
    assert_int_equal(setenv("EH_MIGRATIONS_DIR", "/srv/eh/migrations", 1), 0);
    assert_string_equal(eh_migrate_default_dir(), "/srv/eh/migrations");
    assert_int_equal(unsetenv("EH_MIGRATIONS_DIR"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_vectors),
        cmocka_unit_test(test_default_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
