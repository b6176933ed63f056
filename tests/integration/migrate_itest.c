/*
 * migrate_itest - common/migrate.c against a real PostgreSQL.
 *
 * Each test gets a throwaway database eh_mig_<random> on the server of
 * $EH_DATABASE_URL, dropped afterwards. When that role may not create
 * databases (no CREATEDB), a throwaway schema of the same name in the given
 * database stands in, made first on the connections' search_path. The
 * project's migrations are read from $EH_MIGRATIONS_DIR or ./migrations
 * (tests run from the repo root).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/testutil.h"
#include "db.h"
#include "log.h"
#include "migrate.h"

/* Identifiers cannot be parameters; the name is ours, made of [a-z0-9_] only. */
static const char SQL_CREATE_DB_FMT[] = "CREATE DATABASE %s";
static const char SQL_DROP_DB_FMT[] = "DROP DATABASE IF EXISTS %s WITH (FORCE)";
static const char SQL_CREATE_SCHEMA_FMT[] = "CREATE SCHEMA %s";
static const char SQL_DROP_SCHEMA_FMT[] = "DROP SCHEMA IF EXISTS %s CASCADE";
static const char SQL_REGCLASS[] = "SELECT to_regclass($1) IS NOT NULL";
static const char SQL_MIG_COUNT[] = "SELECT count(*) FROM schema_migrations";
static const char SQL_MIG_ROW[] =
    "SELECT name, checksum, applied_at <= now() FROM schema_migrations WHERE version = $1::integer";
/* The runner's key 0x45484D4947524154 ("EHMIGRAT") shows as classid = high half, objid = low half. */
static const char SQL_ADVISORY_HELD[] =
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162366281 AND objid = 1196572756 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

static const char *admin_url;
static eh_db_t *admin;

typedef struct fixture {
    char dbname[64]; /* of the throwaway database, or of the schema when use_schema */
    bool use_schema;
    char conninfo[2048];
    char tmpdir[64]; /* "" when the test made none */
} fixture_t;

static int group_setup(void **state)
{
    (void)state;
    admin_url = eh_test_require_env("EH_DATABASE_URL", "a real PostgreSQL");
    if (admin_url == NULL)
        return -1;
    eh_test_log_init("migrate_itest");
    admin = eh_db_connect(admin_url, 5000);
    if (admin == NULL) {
        print_error("cannot connect to EH_DATABASE_URL\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    eh_db_destroy(admin);
    return 0;
}

/* Appends key='value' with libpq's quoting (backslash and quote escaped). */
static void append_kv(char *buf, size_t cap, const char *key, const char *val)
{
    size_t off = strlen(buf);
    int n = snprintf(buf + off, cap - off, "%s%s='", off > 0 ? " " : "", key);
    assert_true(n > 0 && (size_t)n < cap - off);
    off += (size_t)n;
    for (const char *p = val; *p != '\0'; p++) {
        assert_true(off + 3 < cap);
        if (*p == '\'' || *p == '\\')
            buf[off++] = '\\';
        buf[off++] = *p;
    }
    assert_true(off + 2 < cap);
    buf[off++] = '\'';
    buf[off] = '\0';
}

/* The connection string of EH_DATABASE_URL with another database name, or with schema first on the path. */
static void conninfo_for(const char *dbname, const char *schema, char *out, size_t cap)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(admin_url, &err);
    PQfreemem(err);
    assert_non_null(opts);
    out[0] = '\0';
    char options[512] = "";
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "options") == 0)
            snprintf(options, sizeof(options), "%s", o->val);
        else if (strcmp(o->keyword, "dbname") != 0 || schema != NULL)
            append_kv(out, cap, o->keyword, o->val);
    }
    if (schema != NULL) {
        size_t n = strlen(options);
        snprintf(options + n, sizeof(options) - n, "%s-c search_path=%s", n > 0 ? " " : "", schema);
    } else {
        append_kv(out, cap, "dbname", dbname);
    }
    if (options[0] != '\0')
        append_kv(out, cap, "options", options);
    PQconninfoFree(opts);
}

static int fixture_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    eh_test_random_name(fx->dbname, sizeof(fx->dbname), "eh_mig_");
    char sql[128];
    snprintf(sql, sizeof(sql), SQL_CREATE_DB_FMT, fx->dbname);
    /* Quiet: a role without CREATEDB is refused here, and that is handled below. */
    int saved_level = eh_log_threshold;
    eh_log_threshold = -1;
    int rc = eh_db_exec(admin, sql, 0, NULL);
    eh_log_threshold = saved_level;
    if (rc != EH_OK && strcmp(eh_db_last_sqlstate(admin), "42501") == 0) {
        fx->use_schema = true;
        snprintf(sql, sizeof(sql), SQL_CREATE_SCHEMA_FMT, fx->dbname);
        rc = eh_db_exec(admin, sql, 0, NULL);
    }
    assert_int_equal(rc, EH_OK);
    conninfo_for(fx->dbname, fx->use_schema ? fx->dbname : NULL, fx->conninfo, sizeof(fx->conninfo));
    *state = fx;
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int fixture_teardown(void **state)
{
    fixture_t *fx = *state;
    char sql[128];
    snprintf(sql, sizeof(sql), fx->use_schema ? SQL_DROP_SCHEMA_FMT : SQL_DROP_DB_FMT, fx->dbname);
    int rc = eh_db_exec(admin, sql, 0, NULL);
    if (fx->tmpdir[0] != '\0')
        remove_tree(fx->tmpdir);
    free(fx);
    return rc == EH_OK ? 0 : -1;
}

/* ---- helpers ---- */

static eh_db_t *connect_fx(const fixture_t *fx)
{
    eh_db_t *db = eh_db_connect(fx->conninfo, 5000);
    assert_non_null(db);
    return db;
}

static bool table_exists(eh_db_t *db, const char *name)
{
    const char *p[] = {name};
    return eh_test_db_scalar(db, SQL_REGCLASS, 1, p) == 1;
}

static bool is_migration_name(const char *n)
{
    size_t len = strlen(n);
    if (len < 10 || n[4] != '_' || strcmp(n + len - 4, ".sql") != 0)
        return false;
    for (int i = 0; i < 4; i++)
        if (n[i] < '0' || n[i] > '9')
            return false;
    return true;
}

static int count_migration_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += is_migration_name(e->d_name);
    closedir(d);
    return n;
}

static void write_file(const char *dir, const char *name, const char *content, const char *mode)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
}

/* Reads dir/name whole; new, NUL-terminated. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = eh_test_read_all(f, len);
    fclose(f);
    return buf;
}

static void make_tmpdir(fixture_t *fx)
{
    snprintf(fx->tmpdir, sizeof(fx->tmpdir), "/tmp/eh_mig_itest_XXXXXX");
    assert_non_null(mkdtemp(fx->tmpdir));
}

/* Copies the project's migration files into the fixture's temp dir. */
static void copy_migrations(fixture_t *fx)
{
    make_tmpdir(fx);
    const char *src = eh_migrate_default_dir();
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_migration_name(e->d_name))
            continue;
        size_t len;
        char *body = slurp(src, e->d_name, &len);
        write_file(fx->tmpdir, e->d_name, body, "wb");
        free(body);
    }
    closedir(d);
}

/* ---- tests ---- */

static void test_fresh_apply_then_noop(void **state)
{
    fixture_t *fx = *state;
    const char *dir = eh_migrate_default_dir();
    int nfiles = count_migration_files(dir);
    assert_true(nfiles >= 1);
    eh_db_t *db = connect_fx(fx);

    int applied = -1;
    assert_int_equal(eh_migrate_run(db, dir, &applied), EH_OK);
    assert_int_equal(applied, nfiles);
    assert_true(table_exists(db, "jobs"));
    assert_true(table_exists(db, "log_entries"));
    assert_true(table_exists(db, "job_errors"));
    assert_int_equal(eh_test_db_scalar(db, SQL_MIG_COUNT, 0, NULL), nfiles);

    /* The first file is recorded with its name and the checksum of its bytes. */
    size_t len;
    char *body = slurp(dir, "0001_init.sql", &len);
    char sum[17];
    eh_migrate_checksum(body, len, sum);
    free(body);
    const char *v1[] = {"1"};
    int st = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_MIG_ROW, 1, v1, &st);
    assert_non_null(res);
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "0001_init.sql");
    assert_string_equal(PQgetvalue(res, 0, 1), sum);
    assert_string_equal(PQgetvalue(res, 0, 2), "t");
    PQclear(res);

    applied = -1;
    assert_int_equal(eh_migrate_run(db, dir, &applied), EH_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(eh_test_db_scalar(db, SQL_MIG_COUNT, 0, NULL), nfiles);
    assert_int_equal(eh_test_db_scalar(db, SQL_ADVISORY_HELD, 0, NULL), 0);
    assert_int_equal(PQtransactionStatus(eh_db_conn(db)), PQTRANS_IDLE);
    eh_db_destroy(db);
}

typedef struct runner {
    eh_db_t *db;
    const char *dir;
    pthread_barrier_t *start;
    int rc;
    int applied;
} runner_t;

static void *run_migrations(void *arg)
{
    runner_t *r = arg;
    pthread_barrier_wait(r->start);
    r->rc = eh_migrate_run(r->db, r->dir, &r->applied);
    return NULL;
}

static void test_two_runners_at_once(void **state)
{
    fixture_t *fx = *state;
    const char *dir = eh_migrate_default_dir();
    int nfiles = count_migration_files(dir);
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    runner_t r[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        r[i] = (runner_t){.db = connect_fx(fx), .dir = dir, .start = &start, .rc = 99, .applied = -1};
        assert_int_equal(pthread_create(&th[i], NULL, run_migrations, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);

    assert_int_equal(r[0].rc, EH_OK);
    assert_int_equal(r[1].rc, EH_OK);
    assert_int_equal(r[0].applied + r[1].applied, nfiles);
    assert_int_equal(eh_test_db_scalar(r[0].db, SQL_MIG_COUNT, 0, NULL), nfiles);
    assert_true(table_exists(r[1].db, "jobs"));
    assert_int_equal(eh_test_db_scalar(r[0].db, SQL_ADVISORY_HELD, 0, NULL), 0);
    eh_db_destroy(r[0].db);
    eh_db_destroy(r[1].db);
}

static void test_changed_checksum_is_refused(void **state)
{
    fixture_t *fx = *state;
    copy_migrations(fx);
    int nfiles = count_migration_files(fx->tmpdir);
    eh_db_t *db = connect_fx(fx);
    int applied = -1;
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_OK);
    assert_int_equal(applied, nfiles);

    /* Even a comment changes an applied file; the new file behind it must not run. */
    write_file(fx->tmpdir, "0001_init.sql", "\n-- edited after it was applied\n", "ab");
    write_file(fx->tmpdir, "9999_late.sql", "CREATE TABLE should_not_exist (x integer);\n", "wb");
    applied = -1;
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_ERR);
    assert_int_equal(applied, 0);
    assert_false(table_exists(db, "should_not_exist"));
    assert_int_equal(eh_test_db_scalar(db, SQL_MIG_COUNT, 0, NULL), nfiles);
    assert_int_equal(eh_test_db_scalar(db, SQL_ADVISORY_HELD, 0, NULL), 0);
    assert_int_equal(PQtransactionStatus(eh_db_conn(db)), PQTRANS_IDLE);
    eh_db_destroy(db);
}

static void test_missing_file_is_refused(void **state)
{
    fixture_t *fx = *state;
    make_tmpdir(fx);
    write_file(fx->tmpdir, "0001_a.sql", "CREATE TABLE a1 (x integer);\n", "wb");
    write_file(fx->tmpdir, "0002_b.sql", "CREATE TABLE b1 (x integer);\n", "wb");
    eh_db_t *db = connect_fx(fx);
    int applied = -1;
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_OK);
    assert_int_equal(applied, 2);

    char path[512];
    snprintf(path, sizeof(path), "%s/0001_a.sql", fx->tmpdir);
    assert_int_equal(unlink(path), 0);
    write_file(fx->tmpdir, "0003_c.sql", "CREATE TABLE c1 (x integer);\n", "wb");
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_ERR);
    assert_int_equal(applied, 0);
    assert_false(table_exists(db, "c1"));
    assert_int_equal(eh_test_db_scalar(db, SQL_ADVISORY_HELD, 0, NULL), 0);
    eh_db_destroy(db);
}

static void test_failing_file_rolls_back_alone(void **state)
{
    fixture_t *fx = *state;
    make_tmpdir(fx);
    write_file(fx->tmpdir, "0001_a.sql", "CREATE TABLE a1 (x integer);\nINSERT INTO a1 VALUES (1);\n", "wb");
    write_file(fx->tmpdir, "0002_b.sql", "CREATE TABLE b1 (x integer);\nSELECT 1 / 0;\n", "wb");
    write_file(fx->tmpdir, "0003_c.sql", "CREATE TABLE c1 (x integer);\n", "wb");
    write_file(fx->tmpdir, "README.txt", "not a migration\n", "wb");
    write_file(fx->tmpdir, "12_misnamed.sql", "CREATE TABLE misnamed (x integer);\n", "wb");
    eh_db_t *db = connect_fx(fx);

    int applied = -1;
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_ERR);
    assert_int_equal(applied, 1);
    assert_true(table_exists(db, "a1"));
    assert_false(table_exists(db, "b1"));
    assert_false(table_exists(db, "c1"));
    assert_false(table_exists(db, "misnamed"));
    assert_int_equal(eh_test_db_scalar(db, SQL_MIG_COUNT, 0, NULL), 1);
    assert_int_equal(eh_test_db_scalar(db, SQL_ADVISORY_HELD, 0, NULL), 0);
    assert_int_equal(PQtransactionStatus(eh_db_conn(db)), PQTRANS_IDLE);

    /* Fixed, the rest goes through. */
    write_file(fx->tmpdir, "0002_b.sql", "CREATE TABLE b1 (x integer);\nSELECT 1;\n", "wb");
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_OK);
    assert_int_equal(applied, 2);
    assert_true(table_exists(db, "b1"));
    assert_true(table_exists(db, "c1"));
    assert_int_equal(eh_test_db_scalar(db, SQL_MIG_COUNT, 0, NULL), 3);
    eh_db_destroy(db);
}

static void test_transaction_control_in_file_is_refused(void **state)
{
    fixture_t *fx = *state;
    make_tmpdir(fx);
    write_file(fx->tmpdir, "0001_commits.sql", "CREATE TABLE t1 (x integer);\nCOMMIT;\n", "wb");
    eh_db_t *db = connect_fx(fx);
    int applied = -1;
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_ERR);
    assert_int_equal(applied, 0);
    assert_int_equal(eh_test_db_scalar(db, SQL_MIG_COUNT, 0, NULL), 0);
    assert_int_equal(eh_test_db_scalar(db, SQL_ADVISORY_HELD, 0, NULL), 0);
    eh_db_destroy(db);
}

static void test_bad_directories_are_refused(void **state)
{
    fixture_t *fx = *state;
    eh_db_t *db = connect_fx(fx);
    int applied = -1;
    assert_int_equal(eh_migrate_run(db, "/nonexistent/eh-migrations", &applied), EH_ERR);
    assert_int_equal(applied, 0);

    /* A file over the size limit (sparse: no disk used) is refused before anything runs. */
    make_tmpdir(fx);
    write_file(fx->tmpdir, "0001_a.sql", "CREATE TABLE a1 (x integer);\n", "wb");
    char path[512];
    snprintf(path, sizeof(path), "%s/0002_big.sql", fx->tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)EH_MIGRATE_MAX_FILE_BYTES + 1), 0);
    close(fd);
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_ERR);
    assert_int_equal(applied, 0);
    assert_false(table_exists(db, "a1"));

    /* Two files with one version are ambiguous. */
    assert_int_equal(unlink(path), 0);
    write_file(fx->tmpdir, "0002_x.sql", "SELECT 1;\n", "wb");
    write_file(fx->tmpdir, "0002_y.sql", "SELECT 2;\n", "wb");
    assert_int_equal(eh_migrate_run(db, fx->tmpdir, &applied), EH_ERR);
    assert_int_equal(applied, 0);
    assert_false(table_exists(db, "a1"));
    assert_int_equal(eh_test_db_scalar(db, SQL_ADVISORY_HELD, 0, NULL), 0);

    /* Refused while the caller holds a transaction open. */
    assert_int_equal(eh_db_begin(db), EH_OK);
    assert_int_equal(eh_migrate_run(db, eh_migrate_default_dir(), &applied), EH_ERR);
    eh_db_rollback(db);
    eh_db_destroy(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_apply_then_noop, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_two_runners_at_once, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_changed_checksum_is_refused, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_missing_file_is_refused, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failing_file_rolls_back_alone, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_transaction_control_in_file_is_refused, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_directories_are_refused, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
