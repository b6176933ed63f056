/*
 * POST /api/v1/jobs/<id>/cancel and DELETE /api/v1/jobs/<id>.
 *
 * Both change the job in one statement (job_queries.c) and then publish the
 * final event ("cancelled", "deleted") on eh.progress, so that every eh-api
 * process's WebSocket relay sends it and closes with 1000. The worker
 * learns of a cancel from the database alone: its next fenced commit
 * requires status = 'processing' and stops.
 */
#include <stdio.h>

#include "api.h"
#include "job_queries.h"

static enum MHD_Result conflict(struct MHD_Connection *c, api_request_t *rq, const eh_job_t *job, const char *verb)
{
    char message[128];
    snprintf(message, sizeof(message), "the job is %s: it cannot be %s", eh_job_status_name(job->status), verb);
    return api_http_send_error(c, rq, MHD_HTTP_CONFLICT, "conflict", message);
}

typedef int (*change_fn)(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out);

/* Runs change on the request's job: EH_OK with job set; otherwise the answer is queued in *answer. */
static int change_job(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, change_fn change, const char *verb,
                      eh_job_t *job, enum MHD_Result *answer)
{
    char id[EH_UUID_STRLEN + 1];
    if (!api_jobs_request_id(c, rq, id, answer))
        return EH_DECLINED;
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL) {
        *answer = api_jobs_answer_failure(c, rq, EH_AGAIN);
        return EH_AGAIN;
    }
    int rc = change(db, rq->caller.tenant_id, id, job);
    eh_db_pool_release(ctx->db, db);
    if (rc == API_JOBQ_CONFLICT) {
        *answer = conflict(c, rq, job, verb);
        eh_job_clear(job);
        return EH_DECLINED;
    }
    if (rc != EH_OK) {
        *answer = api_jobs_answer_failure(c, rq, rc);
        return rc;
    }
    return EH_OK;
}

enum MHD_Result api_jobs_cancel(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    eh_job_t job;
    enum MHD_Result answer;
    if (change_job(ctx, c, rq, api_jobq_cancel, "cancelled", &job, &answer) != EH_OK)
        return answer;
    (void)api_publisher_event(ctx->pub, &job, EH_EVENT_CANCELLED); /* logged; relays make a lost one up */
    json_t *body = eh_job_to_json(&job);
    eh_job_clear(&job);
    if (body == NULL)
        return MHD_NO;
    return api_http_send_json(c, rq, MHD_HTTP_ACCEPTED, body);
}

enum MHD_Result api_jobs_delete(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    eh_job_t job;
    enum MHD_Result answer;
    if (change_job(ctx, c, rq, api_jobq_delete, "deleted", &job, &answer) != EH_OK)
        return answer;
    (void)api_publisher_event(ctx->pub, &job, EH_EVENT_DELETED);
    eh_job_clear(&job);
    return api_http_send_empty(c, rq, MHD_HTTP_NO_CONTENT);
}
