/*
 * The api's one broker connection and its re-publisher.
 *
 * eh_mq_t is single-threaded, so every use is under pub->mu. The connection
 * is opened lazily and re-opened after any failure. The job row is the
 * outbox: a job whose publish was not confirmed stays queued without a
 * publish stamp, and the re-publisher thread sends it again once the broker
 * answers (eh_job_queue_republish).
 */
#include <pthread.h>
#include <stdlib.h>

#include "api.h"
#include "job_queue.h"
#include "log.h"
#include "mq.h"
#include "timefmt.h"

#define CONFIRM_TIMEOUT_MS 5000
#define REPUBLISH_EVERY_MS 1000
#define REPUBLISH_BATCH 100
#define RECONNECT_MAX_MS 5000

struct api_publisher {
    const eh_config_t *cfg;
    eh_db_pool_t *pool;
    pthread_mutex_t mu; /* guards mq and the back-off fields */
    eh_mq_t *mq;        /* NULL while disconnected */
    int64_t next_try_ms, backoff_ms; /* the re-publisher's reconnect back-off */

    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop, started;
    pthread_t thread;
};

api_publisher_t *api_publisher_create(const eh_config_t *cfg, eh_db_pool_t *pool)
{
    api_publisher_t *pub = calloc(1, sizeof(*pub));
    if (pub == NULL)
        return NULL;
    pub->cfg = cfg;
    pub->pool = pool;
    pthread_condattr_t attr;
    if (pthread_mutex_init(&pub->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_mutex_init(&pub->stop_mu, NULL) != 0)
        goto fail_stop_mu;
    if (pthread_condattr_init(&attr) != 0)
        goto fail_attr;
    /* A monotonic clock, so that a wall-clock jump does not stretch the wait. */
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&pub->stop_cv, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail_attr;
    }
    pthread_condattr_destroy(&attr);
    return pub;
fail_attr:
    pthread_mutex_destroy(&pub->stop_mu);
fail_stop_mu:
    pthread_mutex_destroy(&pub->mu);
fail_mu:
    free(pub);
    return NULL;
}

void api_publisher_destroy(api_publisher_t *pub)
{
    if (pub == NULL)
        return;
    if (pub->started) {
        pthread_mutex_lock(&pub->stop_mu);
        pub->stop = true;
        pthread_cond_signal(&pub->stop_cv);
        pthread_mutex_unlock(&pub->stop_mu);
        pthread_join(pub->thread, NULL);
    }
    eh_mq_destroy(pub->mq);
    pthread_cond_destroy(&pub->stop_cv);
    pthread_mutex_destroy(&pub->stop_mu);
    pthread_mutex_destroy(&pub->mu);
    free(pub);
}

static void drop_locked(api_publisher_t *pub)
{
    eh_mq_destroy(pub->mq);
    pub->mq = NULL;
}

/* Makes sure pub->mq is open and the topology declared (so that a job message cannot go to a missing queue). */
static int connect_locked(api_publisher_t *pub)
{
    if (pub->mq != NULL && eh_mq_is_open(pub->mq))
        return EH_OK;
    drop_locked(pub);
    eh_mq_t *mq = eh_mq_connect(pub->cfg->amqp_url, (int)pub->cfg->amqp_heartbeat_s, 0);
    if (mq == NULL)
        return EH_AGAIN;
    if (eh_mq_declare_topology(mq) != EH_OK) {
        eh_mq_destroy(mq);
        return EH_AGAIN;
    }
    pub->mq = mq;
    pub->backoff_ms = 0;
    pub->next_try_ms = 0;
    return EH_OK;
}

/*
 * Connects when there is no connection and the back-off allows it. Callers
 * hold mu; while the broker is down each upload answers 503 at once instead
 * of waiting for a connect attempt of its own.
 */
static bool connected_locked(api_publisher_t *pub)
{
    if (pub->mq != NULL && eh_mq_is_open(pub->mq))
        return true;
    int64_t now = eh_time_mono_ms();
    if (now < pub->next_try_ms)
        return false;
    if (connect_locked(pub) == EH_OK)
        return true;
    pub->backoff_ms = pub->backoff_ms == 0 ? REPUBLISH_EVERY_MS : pub->backoff_ms * 2;
    if (pub->backoff_ms > RECONNECT_MAX_MS)
        pub->backoff_ms = RECONNECT_MAX_MS;
    pub->next_try_ms = now + pub->backoff_ms;
    return false;
}

int api_publisher_check(api_publisher_t *pub)
{
    pthread_mutex_lock(&pub->mu);
    int rc = connected_locked(pub) ? EH_OK : EH_AGAIN;
    pthread_mutex_unlock(&pub->mu);
    return rc;
}

int api_publisher_publish(api_publisher_t *pub, const char *job_id, const char *object_key, const char *request_id)
{
    /*
     * The database connection (for the publish stamp) is taken under the
     * mutex, so that uploads queued behind a slow broker do not each hold one
     * of the pool's connections that status requests need.
     */
    pthread_mutex_lock(&pub->mu);
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(pub->pool, API_DB_WAIT_MS, &status);
    if (db == NULL) {
        pthread_mutex_unlock(&pub->mu);
        return EH_AGAIN;
    }
    int rc = EH_AGAIN;
    /* Two tries: an idle connection may have died since its last use (broker restart, missed heartbeats). */
    for (int attempt = 0; attempt < 2 && rc != EH_OK; attempt++) {
        if (connect_locked(pub) != EH_OK)
            break;
        rc = eh_job_queue_publish(db, pub->mq, job_id, object_key, request_id, CONFIRM_TIMEOUT_MS);
        if (rc != EH_OK)
            drop_locked(pub); /* a late confirm must not be taken for the next message's */
    }
    eh_db_pool_release(pub->pool, db);
    pthread_mutex_unlock(&pub->mu);
    return rc == EH_OK ? EH_OK : EH_AGAIN;
}

static void republish_once(api_publisher_t *pub)
{
    /* mu first, then a pooled connection: the same order as api_publisher_publish. */
    pthread_mutex_lock(&pub->mu);
    if (!connected_locked(pub)) {
        pthread_mutex_unlock(&pub->mu);
        return;
    }
    int status = EH_OK;
    eh_db_t *db = eh_db_pool_acquire(pub->pool, REPUBLISH_EVERY_MS, &status);
    if (db == NULL) {
        pthread_mutex_unlock(&pub->mu);
        return;
    }
    {
        int n = eh_job_queue_republish(db, pub->mq, pub->cfg->republish_after_ms, -1, REPUBLISH_BATCH);
        if (n < 0)
            drop_locked(pub); /* lost or not confirmed: start the next round on a clean connection */
    }
    pthread_mutex_unlock(&pub->mu);
    eh_db_pool_release(pub->pool, db);
}

static void *republisher_main(void *arg)
{
    api_publisher_t *pub = arg;
    for (;;) {
        pthread_mutex_lock(&pub->stop_mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += REPUBLISH_EVERY_MS / 1000;
        while (!pub->stop && pthread_cond_timedwait(&pub->stop_cv, &pub->stop_mu, &until) == 0) {
        }
        bool stop = pub->stop;
        pthread_mutex_unlock(&pub->stop_mu);
        if (stop)
            break;
        republish_once(pub);
    }
    return NULL;
}

int api_publisher_start(api_publisher_t *pub)
{
    if (pthread_create(&pub->thread, NULL, republisher_main, pub) != 0) {
        eh_log_error("cannot start the re-publisher thread");
        return EH_ERR;
    }
    pub->started = true;
    return EH_OK;
}
