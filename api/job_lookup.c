/*
 * Job status reads, batched: the status endpoint is polled, often by many
 * clients at once, and a PostgreSQL round trip per request costs more in
 * the kernel (two wake-ups and four socket calls on each side) than the
 * lookup itself. Requests that arrive while a lookup query runs wait for
 * the next one, which reads all their ids at once (`id = ANY($1)`).
 *
 * Each answer still comes from a query that started after its request
 * arrived: a waiter never takes the result of a query already under way, so
 * a client that saw a change elsewhere (a WebSocket event) never reads an
 * older state here.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "job_store.h"
#include "log.h"

#define BATCH_MAX 64

static const char SQL_LOOKUP[] = EH_JOBS_BY_IDS_SQL;

typedef struct waiter {
    const char *id;        /* lowercase UUID */
    const char *tenant_id; /* a row of another tenant is not this waiter's */
    eh_job_t *out;
    int rc;
    bool done;           /* answered */
    bool lead;           /* runs the next query */
    pthread_cond_t wake; /* its own, so that an answer wakes one thread, not all */
    struct waiter *next;
} waiter_t;

struct api_lookup {
    eh_db_pool_t *pool;
    pthread_mutex_t lock;
    waiter_t *pending; /* arrived since the running query started; newest first */
    bool running;      /* a waiter leads: it runs queries until its own is answered, then hands over */
    uint64_t queries;
};

api_lookup_t *api_lookup_create(eh_db_pool_t *pool)
{
    api_lookup_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->pool = pool;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return NULL;
    }
    return l;
}

void api_lookup_destroy(api_lookup_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

PGresult *api_query_prepared(eh_db_t *db, const char *name, const char *sql, int nparams, const char *const *params,
                             int *status)
{
    PGconn *conn = eh_db_conn(db);
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *res = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            *status = EH_OK;
            return res;
        }
        const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        bool unprepared = state != NULL && strcmp(state, "26000") == 0;
        PQclear(res);
        if (!unprepared || attempt > 0)
            break;
        res = PQprepare(conn, name, sql, nparams, NULL);
        bool prepared = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!prepared)
            break;
    }
    return eh_db_query(db, sql, nparams, params, status);
}

/* Runs one query for the batch and sets every waiter's rc (and out when found). Called without the lock. */
static void run_batch(api_lookup_t *l, waiter_t *batch)
{
    /* '{id,id,...}': ids are validated UUIDs, so the array literal needs no quoting. */
    char ids[BATCH_MAX * (EH_UUID_STRLEN + 1) + 3];
    size_t len = 0;
    ids[len++] = '{';
    for (waiter_t *w = batch; w != NULL; w = w->next) {
        memcpy(ids + len, w->id, EH_UUID_STRLEN);
        len += EH_UUID_STRLEN;
        ids[len++] = w->next != NULL ? ',' : '}';
    }
    ids[len] = '\0';

    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(l->pool, API_DB_WAIT_MS, &status);
    PGresult *res = NULL;
    if (db != NULL) {
        const char *params[] = {ids};
        res = api_query_prepared(db, "eh_api_job_lookup", SQL_LOOKUP, 1, params, &status);
        eh_db_pool_release(l->pool, db);
    }
    int failed = status == EH_ERR ? EH_ERR : EH_AGAIN;
    for (waiter_t *w = batch; w != NULL; w = w->next) {
        w->rc = res != NULL ? EH_DECLINED : failed;
        for (int i = 0; res != NULL && i < PQntuples(res); i++) {
            /* EH_JOBS_BY_IDS_SQL: the column after EH_JOB_COLUMNS is the tenant */
            if (strcmp(PQgetvalue(res, i, EH_JOB_COL_ID), w->id) == 0 &&
                strcmp(PQgetvalue(res, i, EH_JOB_COL_COUNT), w->tenant_id) == 0) {
                w->rc = eh_job_from_row(res, i, w->out);
                break;
            }
        }
    }
    PQclear(res);
}

/* Takes up to BATCH_MAX of the pending waiters: the oldest, which are at the end of the list. */
static waiter_t *take_batch(api_lookup_t *l)
{
    int total = 0;
    for (waiter_t *w = l->pending; w != NULL; w = w->next)
        total++;
    waiter_t **cut = &l->pending;
    for (int skip = total - BATCH_MAX; skip > 0; skip--)
        cut = &(*cut)->next;
    waiter_t *batch = *cut;
    *cut = NULL;
    return batch;
}

uint64_t api_lookup_queries(api_lookup_t *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t n = l->queries;
    pthread_mutex_unlock(&l->lock);
    return n;
}

/* The oldest pending waiter, which leads next; NULL when none waits. */
static waiter_t *oldest_pending(const api_lookup_t *l)
{
    waiter_t *w = l->pending;
    while (w != NULL && w->next != NULL)
        w = w->next;
    return w;
}

int api_lookup_job(api_lookup_t *l, const char *id, const char *tenant_id, eh_job_t *out)
{
    waiter_t self = {.id = id, .tenant_id = tenant_id, .out = out, .rc = EH_AGAIN};
    if (pthread_cond_init(&self.wake, NULL) != 0)
        return EH_AGAIN;
    pthread_mutex_lock(&l->lock);
    self.next = l->pending;
    l->pending = &self;
    if (!l->running) {
        l->running = true;
        self.lead = true;
    }
    while (!self.done) {
        if (!self.lead) {
            pthread_cond_wait(&self.wake, &l->lock);
            continue;
        }
        waiter_t *batch = take_batch(l);
        l->queries++;
        pthread_mutex_unlock(&l->lock);
        run_batch(l, batch);
        pthread_mutex_lock(&l->lock);
        for (waiter_t *w = batch, *next; w != NULL; w = next) {
            next = w->next; /* w may return as soon as the lock is free */
            w->done = true;
            if (w != &self)
                pthread_cond_signal(&w->wake);
        }
    }
    if (self.lead) {
        waiter_t *heir = oldest_pending(l);
        if (heir != NULL) {
            heir->lead = true;
            pthread_cond_signal(&heir->wake);
        } else {
            l->running = false;
        }
    }
    pthread_mutex_unlock(&l->lock);
    pthread_cond_destroy(&self.wake);
    return self.rc;
}
