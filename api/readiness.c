#include "readiness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "api.h"
#include "keepalive.h"
#include "log.h"
#include "stop.h"
#include "timefmt.h"

static const char SQL_PING[] = "SELECT 1";
/* A verdict is stale after this many refresh periods, and never sooner than STALE_MIN_MS. */
#define STALE_PERIODS 3
#define STALE_MIN_MS 5000
#define DB_RECONNECT_MIN_MS 200
#define DB_RECONNECT_MAX_MS 5000

typedef struct checker {
    api_readiness_t *r;
    api_check_t which;
    pthread_t thread;
    bool started;
    atomic_bool ok;
    _Atomic int64_t at_ms; /* monotonic time of the verdict; 0: none yet */
} checker_t;

struct api_readiness {
    struct api_ctx *ctx;
    int64_t refresh_ms;
    eh_stop_t *stop;
    eh_keepalive_t *db; /* the postgres checker's own connection: the pool may be busy */
    checker_t checks[API_CHECK_COUNT];
};

static const char *const NAMES[API_CHECK_COUNT] = {"postgres", "rabbitmq", "s3"};

static bool postgres_ok(api_readiness_t *r)
{
    eh_db_t *db = eh_keepalive_get(r->db);
    if (db == NULL)
        return false;
    int rc = eh_db_exec(db, SQL_PING, 0, NULL);
    if (rc == EH_AGAIN)
        eh_keepalive_broken(r->db);
    return rc == EH_OK;
}

/* A probe only: a bucket gone missing is a broken deployment to report, not to repair from here. */
static bool s3_ok(api_readiness_t *r)
{
    eh_s3_error_t err;
    return eh_s3_bucket_exists(r->ctx->s3_probe, &err) == EH_OK;
}

static bool run_check(checker_t *c)
{
    switch (c->which) {
    case API_CHECK_POSTGRES:
        return postgres_ok(c->r);
    case API_CHECK_RABBITMQ:
        return api_publisher_check(c->r->ctx->pub) == EH_OK;
    case API_CHECK_S3:
        return s3_ok(c->r);
    default:
        return false;
    }
}

static void *checker_main(void *arg)
{
    checker_t *c = arg;
    do {
        bool ok = run_check(c);
        bool was = atomic_exchange(&c->ok, ok);
        int64_t before = atomic_exchange(&c->at_ms, eh_time_mono_ms());
        if (before != 0 && was != ok)
            eh_log_kv(ok ? EH_LOG_INFO : EH_LOG_WARN, json_pack("{s:s}", "check", NAMES[c->which]),
                      ok ? "readiness: %s available again" : "readiness: %s unavailable", NAMES[c->which]);
    } while (!eh_stop_sleep_ms(c->r->stop, c->r->refresh_ms));
    return NULL;
}

api_readiness_t *api_readiness_create(struct api_ctx *ctx, int64_t refresh_ms)
{
    api_readiness_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ctx = ctx;
    r->refresh_ms = refresh_ms > 0 ? refresh_ms : 1000;
    r->stop = eh_stop_create();
    r->db = eh_keepalive_create(&eh_db_keepalive_ops, (void *)ctx->cfg->database_url, DB_RECONNECT_MIN_MS,
                                DB_RECONNECT_MAX_MS);
    if (r->stop == NULL || r->db == NULL) {
        api_readiness_destroy(r);
        return NULL;
    }
    for (int i = 0; i < API_CHECK_COUNT; i++) {
        r->checks[i].r = r;
        r->checks[i].which = (api_check_t)i;
        atomic_init(&r->checks[i].ok, false);
        atomic_init(&r->checks[i].at_ms, 0);
    }
    return r;
}

int api_readiness_start(api_readiness_t *r)
{
    for (int i = 0; i < API_CHECK_COUNT; i++) {
        if (pthread_create(&r->checks[i].thread, NULL, checker_main, &r->checks[i]) != 0) {
            eh_log_error("cannot start a readiness check thread");
            return EH_ERR;
        }
        r->checks[i].started = true;
    }
    return EH_OK;
}

void api_readiness_wait_first(api_readiness_t *r, int64_t wait_ms)
{
    int64_t deadline = eh_time_mono_ms() + wait_ms;
    for (int i = 0; i < API_CHECK_COUNT; i++)
        while (atomic_load(&r->checks[i].at_ms) == 0 && eh_time_mono_ms() < deadline)
            (void)eh_stop_sleep_ms(NULL, 10);
}

void api_readiness_destroy(api_readiness_t *r)
{
    if (r == NULL)
        return;
    eh_stop_request(r->stop);
    for (int i = 0; i < API_CHECK_COUNT; i++)
        if (r->checks[i].started)
            pthread_join(r->checks[i].thread, NULL);
    eh_keepalive_destroy(r->db);
    eh_stop_destroy(r->stop);
    free(r);
}

bool api_readiness_read(api_readiness_t *r, api_check_result_t out[API_CHECK_COUNT])
{
    int64_t now = eh_time_mono_ms();
    int64_t stale = r->refresh_ms * STALE_PERIODS > STALE_MIN_MS ? r->refresh_ms * STALE_PERIODS : STALE_MIN_MS;
    bool all = true;
    for (int i = 0; i < API_CHECK_COUNT; i++) {
        int64_t at = atomic_load(&r->checks[i].at_ms);
        out[i].name = NAMES[i];
        out[i].age_ms = at == 0 ? -1 : now - at;
        out[i].ok = at != 0 && now - at <= stale && atomic_load(&r->checks[i].ok);
        all = all && out[i].ok;
    }
    return all;
}
