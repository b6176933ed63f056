/*
 * consumer.c - one worker process: take a job message, claim the job in
 * PostgreSQL, ack, run it, take the next message.
 *
 * The message only wakes the worker; the claim (one UPDATE that sets the
 * lease) decides who runs the job. The consumer is cancelled while a job runs
 * so that no second message is prefetched and held unacknowledged for hours
 * (RabbitMQ's consumer_timeout would close the channel).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "ingest.h"
#include "job_queue.h"
#include "job_store.h"
#include "log.h"
#include "timefmt.h"
#include "uuid.h"
#include "worker.h"
#include "worker_metrics.h"

#define NEXT_WAIT_MS 500
#define MQ_BACKOFF_MIN_MS 100
#define MQ_BACKOFF_MAX_MS 5000
#define DB_BACKOFF_MAX_MS 2000

/*
 * Claimable: queued, or processing with an expired lease, and attempts left.
 * The claim waits for the row lock rather than skipping a locked row: the
 * api stamps published_at right after the broker's confirm, so the message
 * often arrives while that short UPDATE still holds the row, and skipping it
 * would drop the only message of a perfectly claimable job. PostgreSQL
 * re-checks the WHERE clause on the row as it is after the lock is granted.
 * The wait is bounded (SQL_CLAIM_LOCK_TIMEOUT): a row held that long belongs
 * to a worker in the middle of a batch, whose lease is alive.
 */
static const char SQL_CLAIM[] =
    "UPDATE jobs SET status = 'processing', attempts = attempts + 1, lease_owner = $2, "
    " lease_until = clock_timestamp() + make_interval(secs => $3::double precision / 1000), "
    " started_at = COALESCE(started_at, now()), event_seq = event_seq + 1, updated_at = now() "
    "WHERE id = $1::uuid "
    " AND (status = 'queued' OR (status = 'processing' AND lease_until < now())) AND attempts < $4::int "
    "RETURNING " EH_JOB_COLUMNS ", attempts, object_key, bytes_processed";

static const char SQL_CLAIM_LOCK_TIMEOUT[] = "SELECT set_config('lock_timeout', $1, true)";

#define CLAIM_LOCK_TIMEOUT "5s"
#define SQLSTATE_LOCK_NOT_AVAILABLE "55P03"

int worker_db_ensure(worker_ctx_t *ctx)
{
    if (ctx->db == NULL) {
        ctx->db = eh_db_connect(ctx->cfg->database_url, 0);
        return ctx->db != NULL ? EH_OK : EH_AGAIN;
    }
    return eh_db_ensure(ctx->db) == EH_OK ? EH_OK : EH_AGAIN;
}

int worker_mq_ensure(worker_ctx_t *ctx, bool consume)
{
    if (ctx->mq != NULL && !eh_mq_is_open(ctx->mq)) {
        eh_mq_destroy(ctx->mq);
        ctx->mq = NULL;
        ctx->consuming = false;
    }
    if (ctx->mq == NULL) {
        int64_t now = eh_time_mono_ms();
        if (now < ctx->mq_retry_at_ms)
            return EH_AGAIN;
        ctx->mq = eh_mq_connect(ctx->cfg->amqp_url, (int)ctx->cfg->amqp_heartbeat_s, 0);
        if (ctx->mq == NULL || eh_mq_declare_topology(ctx->mq) != EH_OK) {
            eh_mq_destroy(ctx->mq);
            ctx->mq = NULL;
            ctx->mq_backoff_ms = ctx->mq_backoff_ms == 0 ? MQ_BACKOFF_MIN_MS : ctx->mq_backoff_ms * 2;
            if (ctx->mq_backoff_ms > MQ_BACKOFF_MAX_MS)
                ctx->mq_backoff_ms = MQ_BACKOFF_MAX_MS;
            ctx->mq_retry_at_ms = now + ctx->mq_backoff_ms;
            return EH_AGAIN;
        }
        ctx->mq_backoff_ms = 0;
        eh_log_info("connected to the broker");
    }
    if (consume && !ctx->consuming) {
        if (eh_mq_consume(ctx->mq, EH_MQ_JOBS_QUEUE, 1) != EH_OK)
            return EH_AGAIN;
        ctx->consuming = true;
    }
    return EH_OK;
}

void worker_idle(worker_ctx_t *ctx, int64_t ms)
{
    if (ms <= 0)
        return;
    int64_t end = eh_time_mono_ms() + ms;
    while (!worker_stop_requested) {
        int64_t left = end - eh_time_mono_ms();
        if (left <= 0)
            return;
        /* Slices, so that a stop request is seen within a quarter second (librabbitmq retries on EINTR). */
        int64_t slice = left < 250 ? left : 250;
        if (ctx->mq != NULL && eh_mq_is_open(ctx->mq)) {
            if (eh_mq_idle(ctx->mq, slice) == EH_OK)
                continue;
        }
        (void)worker_sleep_ms(slice);
    }
}

/* EH_OK with claim filled; EH_DECLINED when the job is not claimable; EH_AGAIN / EH_ERR from the database. */
static int claim_job(worker_ctx_t *ctx, const char *job_id, worker_claim_t *claim)
{
    char lease[24], max_attempts[24];
    snprintf(lease, sizeof(lease), "%lld", (long long)ctx->cfg->lease_ms);
    snprintf(max_attempts, sizeof(max_attempts), "%lld", (long long)ctx->cfg->max_attempts);
    const char *params[] = {job_id, ctx->owner, lease, max_attempts};
    const char *timeout[] = {CLAIM_LOCK_TIMEOUT};
    int rc = eh_db_begin(ctx->db);
    if (rc == EH_OK)
        rc = eh_db_exec(ctx->db, SQL_CLAIM_LOCK_TIMEOUT, 1, timeout);
    if (rc != EH_OK) {
        eh_db_rollback(ctx->db);
        return rc;
    }
    int status = EH_ERR;
    PGresult *res = eh_db_query(ctx->db, SQL_CLAIM, 4, params, &status);
    if (res == NULL) {
        bool busy = strcmp(eh_db_last_sqlstate(ctx->db), SQLSTATE_LOCK_NOT_AVAILABLE) == 0;
        eh_db_rollback(ctx->db);
        return busy ? EH_DECLINED : status;
    }
    rc = EH_DECLINED;
    if (PQntuples(res) == 1 && eh_job_from_row(res, 0, &claim->job) == EH_OK) {
        claim->attempt = atoi(PQgetvalue(res, 0, 13));
        snprintf(claim->object_key, sizeof(claim->object_key), "%s", PQgetvalue(res, 0, 14));
        claim->bytes_processed = strtoll(PQgetvalue(res, 0, 15), NULL, 10);
        rc = EH_OK;
    } else if (PQntuples(res) == 1) {
        rc = EH_ERR;
    }
    PQclear(res);
    if (rc != EH_OK) {
        /* Nothing claimed, or a row we could not read: never commit a claim we will not run. */
        eh_db_rollback(ctx->db);
        return rc;
    }
    if (eh_db_commit(ctx->db) != EH_OK) {
        eh_job_clear(&claim->job);
        return EH_AGAIN; /* not claimed after all; the message is retried */
    }
    return rc;
}

/* Claims with retries while the database is down; the message stays unacknowledged meanwhile. */
static int claim_with_retries(worker_ctx_t *ctx, const char *job_id, worker_claim_t *claim)
{
    int64_t backoff = 100;
    while (!worker_stop_requested) {
        int rc = worker_db_ensure(ctx) == EH_OK ? claim_job(ctx, job_id, claim) : EH_AGAIN;
        if (rc != EH_AGAIN)
            return rc;
        eh_log_warn("database unreachable; claim retried in %lld ms", (long long)backoff);
        worker_idle(ctx, backoff);
        backoff = backoff * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : backoff * 2;
    }
    return EH_AGAIN;
}

static void handle_message(worker_ctx_t *ctx, const eh_mq_msg_t *msg)
{
    eh_job_message_t jm;
    if (eh_job_message_read(msg->body, msg->len, &jm) != EH_OK) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:I}", "bytes", (json_int_t)msg->len),
                  "unparseable job message: dead-lettered");
        if (eh_mq_reject(ctx->mq, msg->delivery_tag) != EH_OK)
            eh_log_warn("reject failed; the message comes back on reconnect");
        return;
    }
    const char *job_id = jm.job_id;
    eh_log_set_job(job_id);
    eh_log_set_request(jm.request_id); /* every line about the job names the upload request */
    /* Nothing else may be prefetched and held while this job runs. */
    int rc = eh_mq_cancel(ctx->mq);
    ctx->consuming = false;
    if (rc != EH_OK) {
        eh_log_warn("broker lost before the claim; the message will be redelivered");
        goto out;
    }
    worker_claim_t claim;
    memset(&claim, 0, sizeof(claim));
    rc = claim_with_retries(ctx, job_id, &claim);
    if (rc == EH_AGAIN)
        goto out; /* stopping with the database down: the message is redelivered when we disconnect */
    if (eh_mq_ack(ctx->mq, msg->delivery_tag) != EH_OK)
        eh_log_warn("ack failed; a redelivery will find the job claimed");
    if (rc != EH_OK) {
        eh_log_kv(EH_LOG_INFO, json_pack("{s:b}", "redelivered", msg->redelivered),
                  "job not claimable (unknown, leased, finished or out of attempts): message dropped");
        goto out;
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:i, s:s, s:I}", "attempt", claim.attempt, "lease_owner", ctx->owner,
                                     "resume_line", (json_int_t)claim.job.lines_processed + 1),
              "job claimed");
    worker_metrics_job_running(1);
    worker_ingest_run(ctx, &claim);
    worker_metrics_job_running(-1);
    eh_job_clear(&claim.job);
out:
    eh_log_set_job(NULL);
    eh_log_set_request(NULL);
}

static int ctx_init(worker_ctx_t *ctx, const eh_config_t *cfg)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg = cfg;
    char host[64] = "localhost", nonce[EH_UUID_STRLEN + 1];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    if (eh_uuid_v4(nonce) != EH_OK)
        return EH_ERR;
    /* host:pid:nonce, the nonce so that a recycled pid never matches an old lease */
    snprintf(ctx->owner, sizeof(ctx->owner), "%s:%d:%.8s", host, (int)getpid(), nonce);
    ctx->rng = strtoull(nonce + 24, NULL, 16) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)eh_time_now_ms();
    if (ctx->rng == 0)
        ctx->rng = 0x9e3779b97f4a7c15ULL;
    eh_s3_config_t s3cfg = {
        .endpoint = cfg->s3_endpoint,
        .bucket = cfg->s3_bucket,
        .access_key = cfg->worker_s3_access_key,
        .secret_key = cfg->worker_s3_secret_key,
        .https = cfg->s3_https != 0,
        .timeout_ms = 60000,
    };
    ctx->s3 = eh_s3_create(&s3cfg);
    return ctx->s3 != NULL ? EH_OK : EH_ERR;
}

int worker_consumer_run(const eh_config_t *cfg)
{
    if (eh_s3_global_init() != EH_OK) {
        eh_log_error("S3 library initialisation failed");
        return WORKER_EXIT_FATAL;
    }
    worker_ctx_t ctx;
    if (ctx_init(&ctx, cfg) != EH_OK) {
        eh_log_error("worker initialisation failed");
        eh_s3_global_cleanup();
        return WORKER_EXIT_FATAL;
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:s}", "lease_owner", ctx.owner), "worker started");
    while (!worker_stop_requested) {
        if (worker_mq_ensure(&ctx, true) != EH_OK) {
            worker_idle(&ctx, MQ_BACKOFF_MIN_MS);
            continue;
        }
        eh_mq_msg_t msg;
        int rc = eh_mq_next(ctx.mq, &msg, NEXT_WAIT_MS);
        if (rc == EH_DECLINED)
            continue;
        if (rc != EH_OK) {
            eh_log_warn("broker connection lost; reconnecting");
            continue; /* worker_mq_ensure replaces the closed handle */
        }
        handle_message(&ctx, &msg);
        eh_mq_msg_free(&msg);
    }
    eh_log_info("worker stopping");
    eh_mq_destroy(ctx.mq);
    eh_db_destroy(ctx.db);
    eh_s3_destroy(ctx.s3);
    eh_s3_global_cleanup();
    return 0;
}
