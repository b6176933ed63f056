/*
 * lookup_itest - api/job_lookup.c against a real PostgreSQL ($EH_DATABASE_URL):
 * every concurrent lookup gets its own job (or "no such job"), lookups that
 * overlap share queries, and no answer is older than the request.
 *
 * The jobs it inserts are deleted at the end.
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

#include "../support/testutil.h"
#include "../../api/api.h"
#include "db.h"
#include "tenant.h"
#include "uuid.h"

/* A tenant that owns none of the jobs: its lookups of them are "no such job" (issue 10). */
#define OTHER_TENANT "11111111-1111-4111-8111-111111111111"

#define JOBS 20
#define THREADS 16
#define LOOKUPS_PER_THREAD 400

static const char SQL_INSERT[] = "INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total) "
                                 "VALUES ($1::uuid, 'lookup.jsonl', 'uploads/' || $1::text || '.jsonl', 1, $2::bigint)";
static const char SQL_BUMP[] = "UPDATE jobs SET lines_processed = lines_processed + 1 WHERE id = $1 "
                               "RETURNING lines_processed";
static const char SQL_DELETE[] = "DELETE FROM jobs WHERE file_name = 'lookup.jsonl'";

static struct {
    const char *url;
    eh_db_pool_t *pool;
    api_lookup_t *lookup;
    eh_db_t *db;
    char ids[JOBS][EH_UUID_STRLEN + 1];
} fx;

static void exec_ok(const char *sql, int n, const char *const *params)
{
    int status = EH_ERR;
    PGresult *res = eh_db_query(fx.db, sql, n, params, &status);
    assert_non_null(res);
    PQclear(res);
}

static int group_setup(void **state)
{
    (void)state;
    fx.url = eh_test_require_env("EH_DATABASE_URL", "a real PostgreSQL");
    if (fx.url == NULL)
        return -1;
    eh_test_log_init("lookup_itest");
    fx.db = eh_db_connect(fx.url, 5000);
    fx.pool = eh_db_pool_create(fx.url, 4);
    fx.lookup = fx.pool != NULL ? api_lookup_create(fx.pool) : NULL;
    if (fx.db == NULL || fx.lookup == NULL)
        return -1;
    for (int i = 0; i < JOBS; i++) {
        char total[16];
        snprintf(total, sizeof(total), "%d", i * 10 + 1);
        if (eh_uuid_v4(fx.ids[i]) != EH_OK)
            return -1;
        const char *params[] = {fx.ids[i], total};
        int status = EH_ERR;
        PGresult *res = eh_db_query(fx.db, SQL_INSERT, 2, params, &status);
        if (res == NULL)
            return -1;
        PQclear(res);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (fx.db != NULL)
        exec_ok(SQL_DELETE, 0, NULL);
    api_lookup_destroy(fx.lookup);
    eh_db_pool_destroy(fx.pool);
    eh_db_destroy(fx.db);
    return 0;
}

static atomic_int wrong;

static void *hammer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char unknown[EH_UUID_STRLEN + 1];
    for (int n = 0; n < LOOKUPS_PER_THREAD; n++) {
        int pick = (int)(rand_r(&seed) % (JOBS + 3));
        eh_job_t job;
        if (pick == JOBS + 2) {
            /* Another tenant's lookup of a real job, batched with the owner's: "no such job". */
            if (api_lookup_job(fx.lookup, fx.ids[n % JOBS], OTHER_TENANT, &job) != EH_DECLINED)
                atomic_fetch_add(&wrong, 1);
            continue;
        }
        if (pick >= JOBS) {
            /* A valid id of no job: "no such job", whatever else is in the batch. */
            if (eh_uuid_v4(unknown) != EH_OK ||
                api_lookup_job(fx.lookup, unknown, EH_DEFAULT_TENANT_ID, &job) != EH_DECLINED)
                atomic_fetch_add(&wrong, 1);
            continue;
        }
        if (api_lookup_job(fx.lookup, fx.ids[pick], EH_DEFAULT_TENANT_ID, &job) != EH_OK) {
            atomic_fetch_add(&wrong, 1);
            continue;
        }
        if (strcmp(job.id, fx.ids[pick]) != 0 || job.lines_total != pick * 10 + 1)
            atomic_fetch_add(&wrong, 1);
        eh_job_clear(&job);
    }
    return NULL;
}

static void concurrent_lookups_get_their_own_job_and_share_queries(void **state)
{
    (void)state;
    atomic_store(&wrong, 0);
    uint64_t before = api_lookup_queries(fx.lookup);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(atomic_load(&wrong), 0);
    uint64_t queries = api_lookup_queries(fx.lookup) - before;
    print_message("%d lookups, %llu queries\n", THREADS * LOOKUPS_PER_THREAD, (unsigned long long)queries);
    assert_true(queries > 0);
    assert_true(queries < (uint64_t)THREADS * LOOKUPS_PER_THREAD);
}

/* A writer commits lines_processed = 1, 2, 3...; a lookup begun after a commit must see at least that value. */
static atomic_llong committed;
static atomic_bool writing;

static void *writer(void *arg)
{
    (void)arg;
    eh_db_t *db = eh_db_connect(fx.url, 5000);
    if (db == NULL)
        return NULL;
    const char *params[] = {fx.ids[0]};
    for (int i = 0; i < 1500; i++) {
        int status = EH_ERR;
        PGresult *res = eh_db_query(db, SQL_BUMP, 1, params, &status);
        if (res == NULL)
            break;
        atomic_store(&committed, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
        PQclear(res);
    }
    atomic_store(&writing, false);
    eh_db_destroy(db);
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    while (atomic_load(&writing)) {
        long long seen_before = atomic_load(&committed);
        eh_job_t job;
        if (api_lookup_job(fx.lookup, fx.ids[0], EH_DEFAULT_TENANT_ID, &job) != EH_OK) {
            atomic_fetch_add(&wrong, 1);
            continue;
        }
        if (job.lines_processed < seen_before)
            atomic_fetch_add(&wrong, 1);
        eh_job_clear(&job);
    }
    return NULL;
}

static void no_answer_is_older_than_its_request(void **state)
{
    (void)state;
    atomic_store(&wrong, 0);
    atomic_store(&committed, 0);
    atomic_store(&writing, true);
    pthread_t w, r[8];
    assert_int_equal(pthread_create(&w, NULL, writer, NULL), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader, NULL), 0);
    assert_int_equal(pthread_join(w, NULL), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_join(r[i], NULL), 0);
    assert_int_equal(atomic_load(&committed), 1500);
    assert_int_equal(atomic_load(&wrong), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_lookups_get_their_own_job_and_share_queries),
        cmocka_unit_test(no_answer_is_older_than_its_request),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
