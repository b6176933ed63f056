/*
 * reaper.c - the child of the supervisor that keeps jobs moving when a
 * worker or a message got lost. Every EH_REAPER_INTERVAL_MS:
 *
 *   1. jobs out of attempts whose lease expired end `failed` (and the event
 *      is published), so a poison job does not loop;
 *   2. other expired leases go back to `queued` and are published again;
 *   3. queued jobs whose message was never confirmed, or long ago, are
 *      published again (eh_job_queue_republish).
 *
 * Every statement picks its rows with FOR UPDATE SKIP LOCKED and changes
 * them in the same UPDATE, so two reapers (two eh-worker hosts) never act on
 * one job twice, and a job whose worker is committing a batch (row locked) is
 * left alone.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "events.h"
#include "job_queue.h"
#include "job_store.h"
#include "keepalive.h"
#include "log.h"
#include "mq.h"
#include "purge.h"
#include "timefmt.h"
#include "signals.h"
#include "worker.h"
#include "worker_metrics.h"

#define REAP_LIMIT 100
#define PUBLISH_TIMEOUT_MS 5000
#define IDLE_SLICE_MS 250
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static const char SQL_FAIL_EXHAUSTED[] =
    "UPDATE jobs SET status = 'failed', "
    " error = CASE WHEN status = 'processing' "
    "   THEN 'gave up after ' || attempts || ' attempts: the worker holding the job stopped (lease expired)' "
    "   ELSE 'gave up after ' || attempts || ' attempts' END, "
    " completed_at = now(), lease_owner = NULL, lease_until = NULL, event_seq = event_seq + 1, updated_at = now() "
    "WHERE id IN (SELECT id FROM jobs WHERE attempts >= $1::int "
    "   AND ((status = 'processing' AND lease_until < now()) OR status = 'queued') "
    "   LIMIT $2::int FOR UPDATE SKIP LOCKED) "
    "RETURNING " EH_JOB_COLUMNS;

static const char SQL_REQUEUE_EXPIRED[] =
    "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, published_at = NULL, "
    " updated_at = now() "
    "WHERE id IN (SELECT id FROM jobs WHERE status = 'processing' AND lease_until < now() AND attempts < $1::int "
    "   ORDER BY lease_until LIMIT $2::int FOR UPDATE SKIP LOCKED) "
    "RETURNING id::text, object_key, attempts, request_id";

/* Step 1. Returns EH_OK or the database's status. */
static int fail_exhausted(eh_db_t *db, eh_mq_t *mq, const char *max_attempts, const char *limit)
{
    const char *params[] = {max_attempts, limit};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_FAIL_EXHAUSTED, 2, params, &status);
    if (res == NULL)
        return status;
    for (int i = 0; i < PQntuples(res); i++) {
        eh_job_t job;
        if (eh_job_from_row(res, i, &job) != EH_OK)
            continue;
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "job_id", job.id, "error", job.error ? job.error : ""),
                  "job failed: out of attempts");
        worker_metrics_job_end("failed", -1);
        (void)worker_event_publish(mq, &job, "failed", true);
        eh_job_clear(&job);
    }
    PQclear(res);
    return EH_OK;
}

/* Step 2. */
static int requeue_expired(eh_db_t *db, eh_mq_t *mq, const char *max_attempts, const char *limit)
{
    const char *params[] = {max_attempts, limit};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_REQUEUE_EXPIRED, 2, params, &status);
    if (res == NULL)
        return status;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "job_id", id, "attempts", PQgetvalue(res, i, 2)),
                  "lease expired: job re-queued");
        /* Not confirmed: published_at stays NULL and step 3 publishes it on a later round. */
        if (mq != NULL && eh_mq_is_open(mq) &&
            eh_job_queue_publish(db, mq, id, PQgetvalue(res, i, 1), PQgetvalue(res, i, 3), PUBLISH_TIMEOUT_MS) != EH_OK)
            eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "job_id", id), "re-queued job not published yet");
    }
    PQclear(res);
    return EH_OK;
}

/* Both counts come from the partial indexes on queued and processing jobs. */
static const char SQL_COUNT_WAITING[] = "SELECT count(*) FILTER (WHERE status = 'queued'), "
                                        " count(*) FILTER (WHERE status = 'processing') "
                                        "FROM jobs WHERE status IN ('queued', 'processing')";

/*
 * How many queued jobs may lack a message: queued jobs minus the messages
 * ready in eh.jobs. A queued job that merely waits behind others already has
 * its message; re-publishing it every round would grow the queue without end
 * while a backlog lasts. Returns -1 when it cannot be told (then nothing is
 * re-published this round).
 */
static int64_t missing_messages(eh_db_t *db, eh_mq_t *mq)
{
    uint32_t ready = 0, consumers = 0;
    if (eh_mq_queue_stats(mq, EH_MQ_JOBS_QUEUE, &ready, &consumers) != EH_OK)
        return -1;
    worker_metrics_queue(ready, consumers);
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_COUNT_WAITING, 0, NULL, &status);
    if (res == NULL)
        return -1;
    int64_t queued = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    int64_t processing = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : -1;
    PQclear(res);
    worker_metrics_jobs_waiting(queued, processing);
    return queued - (int64_t)ready;
}

static void reap_once(const eh_config_t *cfg, eh_db_t *db, eh_mq_t *mq)
{
    char max_attempts[24], limit[24];
    snprintf(max_attempts, sizeof(max_attempts), "%lld", (long long)cfg->max_attempts);
    snprintf(limit, sizeof(limit), "%d", REAP_LIMIT);
    if (fail_exhausted(db, mq, max_attempts, limit) != EH_OK)
        return;
    if (requeue_expired(db, mq, max_attempts, limit) != EH_OK)
        return;
    if (mq == NULL || !eh_mq_is_open(mq))
        return;
    int64_t missing = missing_messages(db, mq);
    if (missing <= 0)
        return;
    int batch = missing < REAP_LIMIT ? (int)missing : REAP_LIMIT;
    int n = eh_job_queue_republish(db, mq, cfg->republish_after_ms, cfg->requeue_stale_ms, batch);
    if (n < 0)
        eh_log_warn("re-publishing queued jobs failed; next round retries");
}

/* Sleeps ms while keeping the AMQP connection serviced (heartbeats). */
static void idle(eh_mq_t *mq, int64_t ms)
{
    int64_t end = eh_time_mono_ms() + ms;
    while (!worker_stopping()) {
        int64_t left = end - eh_time_mono_ms();
        if (left <= 0)
            return;
        int64_t slice = left < IDLE_SLICE_MS ? left : IDLE_SLICE_MS;
        if (mq != NULL && eh_mq_is_open(mq)) {
            if (eh_mq_idle(mq, slice) != EH_OK)
                (void)eh_stop_sleep_ms(worker_stop, slice);
        } else {
            (void)eh_stop_sleep_ms(worker_stop, slice);
        }
    }
}

int worker_reaper_run(const eh_config_t *cfg)
{
    /* Both connections kept alive by common/keepalive.h: reopened with back-off and jitter, never in a loop of ours. */
    eh_mq_keepalive_cfg_t mq_cfg = {
        .url = cfg->amqp_url, .heartbeat_s = (int)cfg->amqp_heartbeat_s, .declare_topology = true};
    eh_keepalive_t *db_ka =
        eh_keepalive_create(&eh_db_keepalive_ops, (void *)cfg->database_url, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    eh_keepalive_t *mq_ka = eh_keepalive_create(&eh_mq_keepalive_ops, &mq_cfg, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    if (db_ka == NULL || mq_ka == NULL) {
        eh_log_error("out of memory");
        eh_keepalive_destroy(db_ka);
        eh_keepalive_destroy(mq_ka);
        return WORKER_EXIT_FATAL;
    }
    worker_purge_t *purge = worker_purge_create(cfg); /* NULL: no purging this run (logged) */
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:I, s:I}", "interval_ms", (json_int_t)cfg->reaper_interval_ms, "lease_ms",
                        (json_int_t)cfg->lease_ms),
              "reaper started");
    while (!worker_stopping()) {
        eh_db_t *db = eh_keepalive_get(db_ka);
        eh_mq_t *mq = eh_keepalive_get(mq_ka);
        if (db != NULL) {
            reap_once(cfg, db, mq);
            worker_purge_once(purge, db, mq);
        }
        idle(mq, cfg->reaper_interval_ms);
    }
    worker_purge_destroy(purge);
    eh_keepalive_destroy(mq_ka);
    eh_keepalive_destroy(db_ka);
    eh_log_info("reaper stopped");
    return 0;
}
