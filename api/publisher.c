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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "event.h"
#include "job_queue.h"
#include "keepalive.h"
#include "log.h"
#include "mq.h"
#include "stop.h"
#include "timefmt.h"

#define CONFIRM_TIMEOUT_MS 5000
#define REPUBLISH_EVERY_MS 1000
#define REPUBLISH_BATCH 100
#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 5000

struct api_publisher {
    const eh_config_t *cfg;
    eh_db_pool_t *pool;
    eh_mq_keepalive_cfg_t mq_cfg;
    pthread_mutex_t mu;     /* guards broker */
    eh_keepalive_t *broker; /* the eh_mq_t, with the topology declared, reopened with back-off */
    eh_stop_t *stop;
    bool started;
    pthread_t thread;
};

api_publisher_t *api_publisher_create(const eh_config_t *cfg, eh_db_pool_t *pool)
{
    api_publisher_t *pub = calloc(1, sizeof(*pub));
    if (pub == NULL)
        return NULL;
    pub->cfg = cfg;
    pub->pool = pool;
    /* The topology is declared on every connection, so that a job message cannot go to a missing queue. */
    pub->mq_cfg = (eh_mq_keepalive_cfg_t){
        .url = cfg->amqp_url, .heartbeat_s = (int)cfg->amqp_heartbeat_s, .declare_topology = true};
    if (pthread_mutex_init(&pub->mu, NULL) != 0) {
        free(pub);
        return NULL;
    }
    pub->stop = eh_stop_create();
    pub->broker = eh_keepalive_create(&eh_mq_keepalive_ops, &pub->mq_cfg, RECONNECT_MIN_MS, RECONNECT_MAX_MS);
    if (pub->stop == NULL || pub->broker == NULL) {
        api_publisher_destroy(pub);
        return NULL;
    }
    return pub;
}

void api_publisher_destroy(api_publisher_t *pub)
{
    if (pub == NULL)
        return;
    if (pub->started) {
        eh_stop_request(pub->stop);
        pthread_join(pub->thread, NULL);
    }
    eh_keepalive_destroy(pub->broker);
    eh_stop_destroy(pub->stop);
    pthread_mutex_destroy(&pub->mu);
    free(pub);
}

/*
 * The open connection, or NULL. Callers hold mu. While the broker is down
 * and the back-off delay runs, no attempt is made: each upload answers 503
 * at once instead of waiting for a connect attempt of its own.
 */
static eh_mq_t *broker_locked(api_publisher_t *pub)
{
    return eh_keepalive_get(pub->broker);
}

int api_publisher_check(api_publisher_t *pub)
{
    pthread_mutex_lock(&pub->mu);
    int rc = broker_locked(pub) != NULL ? EH_OK : EH_AGAIN;
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
        eh_mq_t *mq = broker_locked(pub);
        if (mq == NULL)
            break;
        rc = eh_job_queue_publish(db, mq, job_id, object_key, request_id, CONFIRM_TIMEOUT_MS);
        if (rc != EH_OK)
            eh_keepalive_broken(pub->broker); /* a late confirm must not be taken for the next message's */
    }
    eh_db_pool_release(pub->pool, db);
    pthread_mutex_unlock(&pub->mu);
    return rc == EH_OK ? EH_OK : EH_AGAIN;
}

static void republish_once(api_publisher_t *pub)
{
    /* mu first, then a pooled connection: the same order as api_publisher_publish. */
    pthread_mutex_lock(&pub->mu);
    eh_mq_t *mq = broker_locked(pub);
    if (mq == NULL) {
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
        int n = eh_job_queue_republish(db, mq, pub->cfg->republish_after_ms, -1, REPUBLISH_BATCH);
        if (n < 0)
            eh_keepalive_broken(pub->broker); /* lost or not confirmed: start the next round on a clean connection */
    }
    pthread_mutex_unlock(&pub->mu);
    eh_db_pool_release(pub->pool, db);
}

static void *republisher_main(void *arg)
{
    api_publisher_t *pub = arg;
    while (!eh_stop_sleep_ms(pub->stop, REPUBLISH_EVERY_MS))
        republish_once(pub);
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

int api_publisher_event(api_publisher_t *pub, const eh_job_t *job, eh_event_kind_t kind)
{
    size_t len = 0;
    char *body = eh_event_encode(job, kind, eh_time_now_ms(), &len);
    if (body == NULL)
        return EH_AGAIN;
    char key[EH_EVENT_ROUTING_KEY_LEN];
    eh_event_routing_key(job->id, key);
    pthread_mutex_lock(&pub->mu);
    int rc = EH_AGAIN;
    eh_mq_t *mq = broker_locked(pub);
    if (mq != NULL) {
        rc = eh_mq_publish_confirmed(mq, EH_MQ_PROGRESS_EXCHANGE, key, body, len, CONFIRM_TIMEOUT_MS);
        if (rc != EH_OK)
            eh_keepalive_broken(pub->broker); /* a late confirm must not be taken for the next message's */
    }
    pthread_mutex_unlock(&pub->mu);
    free(body);
    if (rc != EH_OK)
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "job_id", job->id, "event", eh_event_name(kind)),
                  "event not published; WebSocket relays make it up from the database");
    return rc == EH_OK ? EH_OK : EH_AGAIN;
}
