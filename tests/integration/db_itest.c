/*
 * db_itest - common/db.c against a real PostgreSQL ($EH_DATABASE_URL).
 *
 * Every test uses TEMP tables or plain SELECTs, so that it leaves nothing
 * behind in the database it is given.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/testutil.h"
#include "db.h"
#include "log.h"
#include "stop.h"
#include "timefmt.h"

static const char *db_url;

static const char SQL_ECHO[] = "SELECT $1::text, $2::text IS NULL, $3::text, octet_length($3::text)";
static const char SQL_APP_NAME[] = "SELECT current_setting('application_name')";
static const char SQL_PID[] = "SELECT pg_backend_pid()";
static const char SQL_TERMINATE[] = "SELECT pg_terminate_backend($1::integer)";
static const char SQL_BACKEND_GONE[] = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::integer";
static const char SQL_U_CREATE[] = "CREATE TEMP TABLE u (k integer PRIMARY KEY, v text)";
static const char SQL_U_INSERT[] = "INSERT INTO u (k, v) VALUES ($1::integer, $2)";
static const char SQL_U_COUNT[] = "SELECT count(*) FROM u";
static const char SQL_C_CREATE[] = "CREATE TEMP TABLE c (id integer PRIMARY KEY, txt text NOT NULL)";
static const char SQL_C_COPY[] = "COPY c (id, txt) FROM STDIN";
static const char SQL_C_STATS[] = "SELECT count(*), coalesce(sum(id), 0), count(DISTINCT txt) FROM c";
static const char SQL_C_COUNT[] = "SELECT count(*) FROM c";
static const char SQL_C_TXT[] = "SELECT txt FROM c WHERE id = $1::integer";
static const char SQL_PLUS_ONE[] = "SELECT $1::integer + 1";

static int group_setup(void **state)
{
    (void)state;
    db_url = eh_test_require_env("EH_DATABASE_URL", "a real PostgreSQL");
    if (db_url == NULL)
        return -1;
    eh_test_log_init("db_itest");
    return 0;
}

static eh_db_t *connect_ok(void)
{
    eh_db_t *db = eh_db_connect(db_url, 5000);
    assert_non_null(db);
    return db;
}

/* ---- tests ---- */

static void test_connect_retries_and_hides_password(void **state)
{
    (void)state;
    int port;
    int fd = eh_test_loopback_socket(&port);
    char url[256], port_field[32];
    snprintf(url, sizeof(url), "postgresql://eh:s3cr3t-pw@127.0.0.1:%d/ehdb", port);
    snprintf(port_field, sizeof(port_field), "\"port\":\"%d\"", port);

    int saved_level = eh_log_threshold;
    eh_log_set_level(EH_LOG_INFO);
    eh_test_capture_t cap;
    eh_test_capture_start(&cap);
    int64_t t0 = eh_time_mono_ms();
    eh_db_t *db = eh_db_connect(url, 700);
    int64_t elapsed = eh_time_mono_ms() - t0;
    /* A URL libpq cannot parse (bad %-escape inside the password) must not be echoed either. */
    eh_db_t *db2 = eh_db_connect("postgresql://eh:s3cr3t%zz@127.0.0.1:1/ehdb", 0);
    char *log = eh_test_capture_stop(&cap);
    eh_log_set_level(saved_level);
    close(fd);

    assert_null(db);
    assert_null(db2);
    /*
     * The back-off has jitter (common/backoff.h), so the number of tries in
     * 700 ms varies: at least two waits fit, and the last try is made when
     * time is up and logged with its attempt number.
     */
    assert_true(elapsed >= 650);
    assert_true(elapsed < 5000);
    int retries = eh_test_count_substr(log, "database connection failed, retrying");
    assert_in_range(retries, 2, 10);
    char last_attempt[32];
    snprintf(last_attempt, sizeof(last_attempt), "\"attempt\":%d", retries + 1);
    assert_int_equal(eh_test_count_substr(log, last_attempt), 1);
    assert_non_null(strstr(log, "\"host\":\"127.0.0.1\""));
    assert_non_null(strstr(log, port_field));
    assert_non_null(strstr(log, "\"dbname\":\"ehdb\""));
    assert_non_null(strstr(log, "database URL is not valid"));
    assert_null(strstr(log, "s3cr3t"));
    free(log);
}

static void test_connect_sets_application_name(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    int st = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_APP_NAME, 0, NULL, &st);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "event-horizon");
    PQclear(res);
    assert_string_equal(eh_db_last_sqlstate(db), "");
    eh_db_destroy(db);
}

static void test_params_round_trip(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    const char *tricky = "O'Reilly \"quoted\" back\\slash \\N tab\there; DROP TABLE x; -- é ü 漢字 😀";
    const char *params[] = {"plain", NULL, tricky};
    int st = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_ECHO, 3, params, &st);
    assert_non_null(res);
    assert_int_equal(st, EH_OK);
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "plain");
    assert_string_equal(PQgetvalue(res, 0, 1), "t");
    assert_string_equal(PQgetvalue(res, 0, 2), tricky);
    assert_int_equal(strtol(PQgetvalue(res, 0, 3), NULL, 10), (long)strlen(tricky));
    PQclear(res);

    /* NULL also comes back as NULL, not as an empty string. */
    const char *nulls[] = {NULL, NULL, ""};
    res = eh_db_query(db, SQL_ECHO, 3, nulls, &st);
    assert_non_null(res);
    assert_true(PQgetisnull(res, 0, 0));
    assert_false(PQgetisnull(res, 0, 2));
    assert_string_equal(PQgetvalue(res, 0, 2), "");
    PQclear(res);
    eh_db_destroy(db);
}

static void test_unique_violation_sqlstate(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    assert_int_equal(eh_db_exec(db, SQL_U_CREATE, 0, NULL), EH_OK);
    const char *row[] = {"1", "first"};
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, row), EH_OK);
    assert_string_equal(eh_db_last_sqlstate(db), "");

    int st = EH_OK;
    PGresult *res = eh_db_query(db, SQL_U_INSERT, 2, row, &st);
    assert_null(res);
    assert_int_equal(st, EH_ERR);
    assert_string_equal(eh_db_last_sqlstate(db), "23505");
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, row), EH_ERR);
    assert_string_equal(eh_db_last_sqlstate(db), "23505");

    /* A bad parameter is a different class of error. */
    const char *bad[] = {"not a number", "x"};
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, bad), EH_ERR);
    assert_string_equal(eh_db_last_sqlstate(db), "22P02");

    assert_int_equal(eh_test_db_scalar(db, SQL_U_COUNT, 0, NULL), 1);
    assert_string_equal(eh_db_last_sqlstate(db), "");
    eh_db_destroy(db);
}

static void test_transaction_rollback_leaves_nothing(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    assert_int_equal(eh_db_exec(db, SQL_U_CREATE, 0, NULL), EH_OK);

    assert_int_equal(eh_db_begin(db), EH_OK);
    const char *r1[] = {"1", "a"}, *r2[] = {"2", "b"};
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, r1), EH_OK);
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, r2), EH_OK);
    assert_int_equal(eh_test_db_scalar(db, SQL_U_COUNT, 0, NULL), 2);
    eh_db_rollback(db);
    assert_int_equal(PQtransactionStatus(eh_db_conn(db)), PQTRANS_IDLE);
    assert_int_equal(eh_test_db_scalar(db, SQL_U_COUNT, 0, NULL), 0);

    /* Rollback outside a transaction is a harmless no-op. */
    eh_db_rollback(db);

    /* A committed transaction keeps its rows. */
    assert_int_equal(eh_db_begin(db), EH_OK);
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, r1), EH_OK);
    assert_int_equal(eh_db_commit(db), EH_OK);
    assert_int_equal(eh_test_db_scalar(db, SQL_U_COUNT, 0, NULL), 1);

    /* COMMIT after a failed statement is reported as a failure, and nothing is kept. */
    assert_int_equal(eh_db_begin(db), EH_OK);
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, r2), EH_OK);
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, r1), EH_ERR);
    assert_int_equal(eh_db_commit(db), EH_ERR);
    assert_int_equal(PQtransactionStatus(eh_db_conn(db)), PQTRANS_IDLE);
    assert_int_equal(eh_test_db_scalar(db, SQL_U_COUNT, 0, NULL), 1);
    eh_db_destroy(db);
}

/* Sends buf in pieces of varying size, so that rows are split across calls. */
static int put_in_pieces(eh_db_t *db, const char *buf, size_t len)
{
    size_t off = 0, piece = 1;
    while (off < len) {
        size_t n = len - off < piece ? len - off : piece;
        int rc = eh_db_copy_put(db, buf + off, n);
        if (rc != EH_OK)
            return rc;
        off += n;
        piece = piece * 3 % 8191 + 1;
    }
    return EH_OK;
}

static char *copy_rows(int first, int count, int bad_at, size_t *len)
{
    size_t cap = (size_t)count * 64 + 1;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t off = 0;
    for (int i = first; i < first + count; i++) {
        int n;
        if (i == bad_at)
            n = snprintf(buf + off, cap - off, "not-a-number\trow %d\n", i);
        else
            n = snprintf(buf + off, cap - off, "%d\trow %d with tab \\t and backslash \\\\ é\n", i, i);
        assert_true(n > 0 && (size_t)n < cap - off);
        off += (size_t)n;
    }
    *len = off;
    return buf;
}

static void test_copy_10000_rows(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    assert_int_equal(eh_db_exec(db, SQL_C_CREATE, 0, NULL), EH_OK);
    size_t len;
    char *rows = copy_rows(1, 10000, -1, &len);

    assert_int_equal(eh_db_begin(db), EH_OK);
    assert_int_equal(eh_db_copy_begin(db, SQL_C_COPY), EH_OK);
    assert_int_equal(put_in_pieces(db, rows, len), EH_OK);
    assert_int_equal(eh_db_copy_end(db), EH_OK);
    assert_int_equal(eh_db_commit(db), EH_OK);
    free(rows);

    int st = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_C_STATS, 0, NULL, &st);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "10000");
    assert_string_equal(PQgetvalue(res, 0, 1), "50005000");
    assert_string_equal(PQgetvalue(res, 0, 2), "10000");
    PQclear(res);

    /* The escapes of the text format arrived decoded. */
    const char *id[] = {"77"};
    res = eh_db_query(db, SQL_C_TXT, 1, id, &st);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "row 77 with tab \t and backslash \\ é");
    PQclear(res);
    eh_db_destroy(db);
}

static void test_copy_bad_row_rolls_back(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    assert_int_equal(eh_db_exec(db, SQL_C_CREATE, 0, NULL), EH_OK);
    assert_int_equal(eh_db_exec(db, SQL_U_CREATE, 0, NULL), EH_OK);
    size_t len;
    char *rows = copy_rows(1, 5000, 4321, &len);

    assert_int_equal(eh_db_begin(db), EH_OK);
    const char *r[] = {"1", "written in the same transaction"};
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, r), EH_OK);
    assert_int_equal(eh_db_copy_begin(db, SQL_C_COPY), EH_OK);
    /* The server may reject the row while data is still being sent; then put fails early. */
    int put_rc = put_in_pieces(db, rows, len);
    int end_rc = eh_db_copy_end(db);
    assert_true(put_rc != EH_OK || end_rc != EH_OK);
    if (put_rc == EH_OK)
        assert_int_equal(end_rc, EH_ERR);
    assert_string_equal(eh_db_last_sqlstate(db), "22P02");
    eh_db_rollback(db);
    free(rows);

    assert_int_equal(PQtransactionStatus(eh_db_conn(db)), PQTRANS_IDLE);
    assert_int_equal(eh_test_db_scalar(db, SQL_C_COUNT, 0, NULL), 0);
    assert_int_equal(eh_test_db_scalar(db, SQL_U_COUNT, 0, NULL), 0);

    /* The connection is clean: a new COPY works. */
    rows = copy_rows(1, 10, -1, &len);
    assert_int_equal(eh_db_begin(db), EH_OK);
    assert_int_equal(eh_db_copy_begin(db, SQL_C_COPY), EH_OK);
    assert_int_equal(eh_db_copy_put(db, rows, len), EH_OK);
    assert_int_equal(eh_db_copy_end(db), EH_OK);
    assert_int_equal(eh_db_commit(db), EH_OK);
    free(rows);
    assert_int_equal(eh_test_db_scalar(db, SQL_C_COUNT, 0, NULL), 10);
    eh_db_destroy(db);
}

static void test_copy_abandoned_by_rollback(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    assert_int_equal(eh_db_exec(db, SQL_C_CREATE, 0, NULL), EH_OK);
    size_t len;
    char *rows = copy_rows(1, 100, -1, &len);
    assert_int_equal(eh_db_begin(db), EH_OK);
    assert_int_equal(eh_db_copy_begin(db, SQL_C_COPY), EH_OK);
    assert_int_equal(eh_db_copy_put(db, rows, len), EH_OK);
    /* The caller gives up in the middle (e.g. its input failed): rollback must cope with the open COPY. */
    eh_db_rollback(db);
    free(rows);
    assert_int_equal(PQtransactionStatus(eh_db_conn(db)), PQTRANS_IDLE);
    assert_int_equal(eh_test_db_scalar(db, SQL_C_COUNT, 0, NULL), 0);

    /* A copy_begin on a statement that is not COPY FROM STDIN is refused. */
    assert_int_equal(eh_db_copy_begin(db, "SELECT 1"), EH_ERR);
    assert_int_equal(eh_db_copy_put(db, "1\tx\n", 4), EH_ERR);
    assert_int_equal(eh_test_db_scalar(db, "SELECT 2", 0, NULL), 2);
    eh_db_destroy(db);
}

typedef struct pool_ctx {
    eh_db_pool_t *pool;
    atomic_int in_use;
    atomic_int max_in_use;
    atomic_int failures;
    pthread_mutex_t mu;
    int pids[8];
    int npids;
} pool_ctx_t;

static void note_pid(pool_ctx_t *ctx, int pid)
{
    pthread_mutex_lock(&ctx->mu);
    bool seen = false;
    for (int i = 0; i < ctx->npids; i++)
        seen = seen || ctx->pids[i] == pid;
    if (!seen && ctx->npids < (int)EH_ARRAY_LEN(ctx->pids))
        ctx->pids[ctx->npids++] = pid;
    pthread_mutex_unlock(&ctx->mu);
}

static void *pool_worker(void *arg)
{
    pool_ctx_t *ctx = arg;
    for (int i = 0; i < 200; i++) {
        int st = EH_ERR;
        eh_db_t *db = eh_db_pool_acquire(ctx->pool, 10000, &st);
        if (db == NULL) {
            atomic_fetch_add(&ctx->failures, 1);
            continue;
        }
        int now = atomic_fetch_add(&ctx->in_use, 1) + 1;
        int prev = atomic_load(&ctx->max_in_use);
        while (now > prev && !atomic_compare_exchange_weak(&ctx->max_in_use, &prev, now))
            ;
        char num[16];
        snprintf(num, sizeof(num), "%d", i);
        const char *p[] = {num};
        PGresult *res = eh_db_query(db, SQL_PLUS_ONE, 1, p, &st);
        if (res == NULL || strtol(PQgetvalue(res, 0, 0), NULL, 10) != i + 1)
            atomic_fetch_add(&ctx->failures, 1);
        PQclear(res);
        if (i % 50 == 0) {
            res = eh_db_query(db, SQL_PID, 0, NULL, &st);
            if (res == NULL)
                atomic_fetch_add(&ctx->failures, 1);
            else
                note_pid(ctx, (int)strtol(PQgetvalue(res, 0, 0), NULL, 10));
            PQclear(res);
        }
        atomic_fetch_sub(&ctx->in_use, 1);
        eh_db_pool_release(ctx->pool, db);
    }
    return NULL;
}

static void test_pool_four_threads_two_connections(void **state)
{
    (void)state;
    pool_ctx_t ctx = {.pool = eh_db_pool_create(db_url, 2)};
    assert_non_null(ctx.pool);
    assert_int_equal(pthread_mutex_init(&ctx.mu, NULL), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, pool_worker, &ctx), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&ctx.failures), 0);
    assert_true(atomic_load(&ctx.max_in_use) >= 1);
    assert_true(atomic_load(&ctx.max_in_use) <= 2);
    /* Only two server sessions ever served the 800 queries. */
    assert_true(ctx.npids >= 1 && ctx.npids <= 2);
    pthread_mutex_destroy(&ctx.mu);
    eh_db_pool_destroy(ctx.pool);
}

static void test_pool_release_rolls_back_and_times_out(void **state)
{
    (void)state;
    eh_db_pool_t *pool = eh_db_pool_create(db_url, 1);
    assert_non_null(pool);
    int st = EH_ERR;
    eh_db_t *db = eh_db_pool_acquire(pool, 5000, &st);
    assert_non_null(db);
    assert_int_equal(st, EH_OK);
    assert_int_equal(eh_db_exec(db, SQL_U_CREATE, 0, NULL), EH_OK);
    assert_int_equal(eh_db_begin(db), EH_OK);
    const char *r[] = {"1", "uncommitted"};
    assert_int_equal(eh_db_exec(db, SQL_U_INSERT, 2, r), EH_OK);

    /* The only connection is out: a second borrower waits, then gives up. */
    int64_t t0 = eh_time_mono_ms();
    st = EH_OK;
    assert_null(eh_db_pool_acquire(pool, 150, &st));
    assert_int_equal(st, EH_AGAIN);
    assert_true(eh_time_mono_ms() - t0 >= 140);

    eh_db_pool_release(pool, db);
    eh_db_t *again = eh_db_pool_acquire(pool, 5000, &st);
    assert_ptr_equal(again, db);
    assert_int_equal(PQtransactionStatus(eh_db_conn(again)), PQTRANS_IDLE);
    /* Same session (the temp table is there), without the uncommitted row. */
    assert_int_equal(eh_test_db_scalar(again, SQL_U_COUNT, 0, NULL), 0);
    /* An aborted transaction is cleaned up the same way. */
    assert_int_equal(eh_db_begin(again), EH_OK);
    assert_int_equal(eh_db_exec(again, SQL_U_INSERT, 2, r), EH_OK);
    assert_int_equal(eh_db_exec(again, SQL_U_INSERT, 2, r), EH_ERR);
    assert_int_equal(PQtransactionStatus(eh_db_conn(again)), PQTRANS_INERROR);
    eh_db_pool_release(pool, again);
    again = eh_db_pool_acquire(pool, 5000, &st);
    assert_ptr_equal(again, db);
    assert_int_equal(PQtransactionStatus(eh_db_conn(again)), PQTRANS_IDLE);
    assert_string_equal(eh_db_last_sqlstate(again), "");
    assert_int_equal(eh_test_db_scalar(again, SQL_U_COUNT, 0, NULL), 0);
    eh_db_pool_release(pool, again);
    eh_db_pool_destroy(pool);
}

static int backend_pid(eh_db_t *db)
{
    return (int)eh_test_db_scalar(db, SQL_PID, 0, NULL);
}

/* Terminates pid from another session and waits until the backend is gone. */
static void kill_backend(int pid)
{
    eh_db_t *admin = connect_ok();
    char num[16];
    snprintf(num, sizeof(num), "%d", pid);
    const char *p[] = {num};
    int st = EH_ERR;
    PGresult *res = eh_db_query(admin, SQL_TERMINATE, 1, p, &st);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    int64_t deadline = eh_time_mono_ms() + 10000;
    while (eh_test_db_scalar(admin, SQL_BACKEND_GONE, 1, p) != 0) {
        assert_true(eh_time_mono_ms() < deadline);
        (void)eh_stop_sleep_ms(NULL, 20);
    }
    eh_db_destroy(admin);
}

static void test_ensure_reconnects_after_terminate(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    assert_int_equal(eh_db_ensure(db), EH_OK);
    int pid = backend_pid(db);
    kill_backend(pid);

    assert_int_equal(eh_db_ensure(db), EH_OK);
    assert_int_equal(PQstatus(eh_db_conn(db)), CONNECTION_OK);
    int pid2 = backend_pid(db);
    assert_int_not_equal(pid, pid2);
    eh_db_destroy(db);
}

static void test_query_on_lost_connection_is_again(void **state)
{
    (void)state;
    eh_db_t *db = connect_ok();
    int pid = backend_pid(db);
    kill_backend(pid);

    int st = EH_OK;
    PGresult *res = eh_db_query(db, SQL_PID, 0, NULL, &st);
    assert_null(res);
    assert_int_equal(st, EH_AGAIN);
    assert_int_equal(eh_db_exec(db, SQL_PID, 0, NULL), EH_AGAIN);
    assert_int_equal(eh_db_ensure(db), EH_OK);
    assert_int_not_equal(backend_pid(db), pid);
    eh_db_destroy(db);
}

static void test_pool_hands_out_live_connection_after_terminate(void **state)
{
    (void)state;
    eh_db_pool_t *pool = eh_db_pool_create(db_url, 1);
    assert_non_null(pool);
    int st = EH_ERR;
    eh_db_t *db = eh_db_pool_acquire(pool, 5000, &st);
    assert_non_null(db);
    int pid = backend_pid(db);
    eh_db_pool_release(pool, db);
    kill_backend(pid);

    db = eh_db_pool_acquire(pool, 5000, &st);
    assert_non_null(db);
    assert_int_equal(st, EH_OK);
    assert_int_not_equal(backend_pid(db), pid);
    eh_db_pool_release(pool, db);
    eh_db_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_retries_and_hides_password),
        cmocka_unit_test(test_connect_sets_application_name),
        cmocka_unit_test(test_params_round_trip),
        cmocka_unit_test(test_unique_violation_sqlstate),
        cmocka_unit_test(test_transaction_rollback_leaves_nothing),
        cmocka_unit_test(test_copy_10000_rows),
        cmocka_unit_test(test_copy_bad_row_rolls_back),
        cmocka_unit_test(test_copy_abandoned_by_rollback),
        cmocka_unit_test(test_pool_four_threads_two_connections),
        cmocka_unit_test(test_pool_release_rolls_back_and_times_out),
        cmocka_unit_test(test_ensure_reconnects_after_terminate),
        cmocka_unit_test(test_query_on_lost_connection_is_again),
        cmocka_unit_test(test_pool_hands_out_live_connection_after_terminate),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
