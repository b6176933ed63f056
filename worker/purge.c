/*
 * purge.c - see purge.h.
 *
 * DELETE /api/v1/jobs/<id> removes the job row and records a purge in one
 * statement; a 5M-line job's rows are then deleted here, PURGE_BATCH_LINES
 * line numbers per statement (an index range of the primary keys of
 * log_entries and job_errors), each statement its own transaction that also
 * moves job_purges.purged_through forward. No statement holds locks for long
 * and a crash resumes where the last batch ended. Deletes are idempotent,
 * so two reapers working on one purge do no harm.
 */
#include "purge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "job_store.h"
#include "log.h"
#include "s3.h"
#include "timefmt.h"

#define PURGE_BATCH_LINES 10000
#define RETENTION_BATCH 100

struct worker_purge {
    const eh_config_t *cfg;
    eh_s3_t *s3;
};

/* Terminal jobs that ended retention_days ago become purges, like a DELETE. */
static const char SQL_RETENTION[] =
    "WITH d AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs "
    "    WHERE status IN ('completed', 'failed', 'cancelled') "
    "      AND completed_at < now() - make_interval(days => $1::int) "
    "    ORDER BY completed_at LIMIT $2::int FOR UPDATE SKIP LOCKED) RETURNING *), "
    "  p AS (INSERT INTO job_purges (job_id, tenant_id, object_key, lines_total, reason) "
    "    SELECT id, tenant_id, object_key, lines_total, 'retention' FROM d ON CONFLICT (job_id) DO NOTHING) "
    "SELECT " EH_JOB_COLUMNS " FROM d";

enum { NEXT_COL_JOB_ID, NEXT_COL_OBJECT_KEY, NEXT_COL_LINES_TOTAL, NEXT_COL_PURGED_THROUGH };
static const char SQL_NEXT[] = "SELECT job_id::text, object_key, lines_total, purged_through FROM job_purges "
                               "ORDER BY requested_at, job_id LIMIT 1";

/* One batch: entries and errors of lines ($2, $3], and the progress mark, in one transaction. */
static const char SQL_BATCH[] =
    "WITH e AS (DELETE FROM log_entries WHERE job_id = $1::uuid AND line_no > $2::bigint AND line_no <= $3::bigint), "
    "  r AS (DELETE FROM job_errors WHERE job_id = $1::uuid AND line_no > $2::bigint AND line_no <= $3::bigint) "
    "UPDATE job_purges SET purged_through = GREATEST(purged_through, $3::bigint) WHERE job_id = $1::uuid";

/* After the last range: whatever lies past lines_total (nothing, unless lines_total was off), then the purge. */
static const char SQL_FINISH[] = "WITH e AS (DELETE FROM log_entries WHERE job_id = $1::uuid), "
                                 "  r AS (DELETE FROM job_errors WHERE job_id = $1::uuid) "
                                 "DELETE FROM job_purges WHERE job_id = $1::uuid";

worker_purge_t *worker_purge_create(const eh_config_t *cfg)
{
    worker_purge_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->cfg = cfg;
    if (eh_s3_global_init() != EH_OK) {
        eh_log_error("purger: S3 library initialisation failed");
        free(p);
        return NULL;
    }
    eh_s3_config_t s3cfg = {.endpoint = cfg->s3_endpoint,
                            .bucket = cfg->s3_bucket,
                            .access_key = cfg->worker_s3_access_key, /* the worker reads and deletes */
                            .secret_key = cfg->worker_s3_secret_key,
                            .https = cfg->s3_https != 0,
                            .timeout_ms = 30000};
    p->s3 = eh_s3_create(&s3cfg);
    if (p->s3 == NULL) {
        eh_log_error("purger: cannot create the S3 client");
        eh_s3_global_cleanup();
        free(p);
        return NULL;
    }
    return p;
}

void worker_purge_destroy(worker_purge_t *p)
{
    if (p == NULL)
        return;
    eh_s3_destroy(p->s3);
    eh_s3_global_cleanup();
    free(p);
}

static void apply_retention(worker_purge_t *p, eh_db_t *db, eh_mq_t *mq)
{
    char days[24], limit[24];
    snprintf(days, sizeof(days), "%lld", (long long)p->cfg->retention_days);
    snprintf(limit, sizeof(limit), "%d", RETENTION_BATCH);
    const char *params[] = {days, limit};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_RETENTION, 2, params, &status);
    if (res == NULL)
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        eh_job_t job;
        if (eh_job_from_row(res, i, &job) != EH_OK)
            continue;
        job.seq++; /* after every event the job had */
        eh_log_kv(EH_LOG_INFO, json_pack("{s:s}", "job_id", job.id), "retention: job deleted");
        (void)worker_event_publish(mq, &job, "deleted", false);
        eh_job_clear(&job);
    }
    PQclear(res);
}

/* Advances the oldest purge by one batch (or finishes it). EH_OK: work was done; EH_DECLINED: nothing to do. */
static int purge_step(worker_purge_t *p, eh_db_t *db)
{
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_NEXT, 0, NULL, &status);
    if (res == NULL)
        return status;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return EH_DECLINED;
    }
    char id[EH_UUID_STRLEN + 1], key[512];
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, NEXT_COL_JOB_ID));
    snprintf(key, sizeof(key), "%s", PQgetvalue(res, 0, NEXT_COL_OBJECT_KEY));
    int64_t total = strtoll(PQgetvalue(res, 0, NEXT_COL_LINES_TOTAL), NULL, 10);
    int64_t done = strtoll(PQgetvalue(res, 0, NEXT_COL_PURGED_THROUGH), NULL, 10);
    PQclear(res);
    if (done < total) {
        char from[24], to[24];
        snprintf(from, sizeof(from), "%lld", (long long)done);
        snprintf(to, sizeof(to), "%lld", (long long)(done + PURGE_BATCH_LINES));
        const char *params[] = {id, from, to};
        return eh_db_exec(db, SQL_BATCH, 3, params);
    }
    eh_s3_error_t err;
    if (eh_s3_delete(p->s3, key, &err) != EH_OK) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "job_id", id), "purger: stored object not deleted; retrying");
        return EH_AGAIN;
    }
    const char *params[] = {id};
    int rc = eh_db_exec(db, SQL_FINISH, 1, params);
    if (rc == EH_OK)
        eh_log_kv(EH_LOG_INFO, json_pack("{s:s, s:I}", "job_id", id, "lines", (json_int_t)total), "job purged");
    return rc;
}

void worker_purge_once(worker_purge_t *p, eh_db_t *db, eh_mq_t *mq)
{
    if (p == NULL)
        return;
    int64_t end = eh_time_mono_ms() + WORKER_PURGE_BUDGET_MS;
    if (p->cfg->retention_days > 0)
        apply_retention(p, db, mq);
    while (eh_time_mono_ms() < end) {
        if (purge_step(p, db) != EH_OK)
            return;
    }
}
