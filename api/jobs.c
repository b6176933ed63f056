/* GET /api/v1/jobs/<id>, GET /api/v1/jobs/<id>/errors, and /ws/jobs/<id> while no relay is registered. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "job.h"
#include "job_queries.h"
#include "job_store.h"
#include "log.h"
#include "params.h"
#include "uuid.h"

/* id is a valid UUID (id_len == EH_UUID_STRLEN); the JSON answers spell it as PostgreSQL does. */
static void lowercase_id(char out[EH_UUID_STRLEN + 1], const char *id, size_t id_len)
{
    for (size_t i = 0; i < id_len && i < EH_UUID_STRLEN; i++)
        out[i] = (char)tolower((unsigned char)id[i]);
    out[EH_UUID_STRLEN] = '\0';
}

static enum MHD_Result bad_id(struct MHD_Connection *c, api_request_t *rq)
{
    return api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, "invalid_job_id", "job id is not a UUID");
}

static enum MHD_Result db_unavailable(struct MHD_Connection *c, api_request_t *rq)
{
    return api_http_send_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "database_unavailable",
                               "the database is not reachable; try again later");
}

static enum MHD_Result not_found(struct MHD_Connection *c, api_request_t *rq)
{
    return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "job_not_found", "no job with this id");
}

enum MHD_Result api_jobs_answer_failure(struct MHD_Connection *c, api_request_t *rq, int rc)
{
    if (rc == EH_DECLINED)
        return not_found(c, rq);
    if (rc == EH_AGAIN)
        return db_unavailable(c, rq);
    return api_http_send_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "could not read the job");
}

bool api_job_load(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, eh_job_t *job, enum MHD_Result *answer)
{
    if (!eh_uuid_valid(rq->id, rq->id_len)) {
        *answer = bad_id(c, rq);
        return false;
    }
    char idbuf[EH_UUID_STRLEN + 1];
    lowercase_id(idbuf, rq->id, rq->id_len);
    int rc = api_lookup_job(ctx->lookup, idbuf, rq->caller.tenant_id, job);
    if (rc != EH_OK) {
        *answer = api_jobs_answer_failure(c, rq, rc);
        return false;
    }
    return true;
}

enum MHD_Result api_jobs_get(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    eh_job_t job;
    enum MHD_Result answer;
    if (!api_job_load(ctx, c, rq, &job, &answer))
        return answer;
    json_t *body = eh_job_to_json(&job);
    eh_job_clear(&job);
    return api_http_send_json(c, rq, MHD_HTTP_OK, body);
}

bool api_jobs_request_id(struct MHD_Connection *c, api_request_t *rq, char out[EH_UUID_STRLEN + 1],
                         enum MHD_Result *answer)
{
    if (!eh_uuid_valid(rq->id, rq->id_len)) {
        *answer = bad_id(c, rq);
        return false;
    }
    lowercase_id(out, rq->id, rq->id_len);
    return true;
}

static json_t *errors_body(const char *id, const api_jobq_error_page_t *page, int64_t limit, int64_t offset)
{
    json_t *list = json_array();
    json_t *body =
        json_pack("{s:s, s:I, s:I, s:I, s:b, s:o}", "job_id", id, "total", (json_int_t)page->total, "limit",
                  (json_int_t)limit, "offset", (json_int_t)offset, "truncated", page->truncated, "errors", list);
    if (body == NULL)
        return NULL;
    for (size_t i = 0; i < page->count; i++) {
        json_t *e =
            json_pack("{s:I, s:s}", "line_no", (json_int_t)page->errors[i].line_no, "reason", page->errors[i].reason);
        if (e == NULL || json_array_append_new(list, e) != 0) {
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

/*
 * GET /api/v1/jobs/<id>/errors: offset pages over the stored rows (at most
 * EH_MAX_ERRORS_STORED); beyond them an empty page; truncated when the job
 * counted more invalid lines than it stored.
 */
enum MHD_Result api_jobs_errors(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    char id[EH_UUID_STRLEN + 1];
    enum MHD_Result answer;
    if (!api_jobs_request_id(c, rq, id, &answer))
        return answer;
    int64_t limit, offset;
    if (api_params_int(c, rq, "limit", API_JOBQ_ERRORS_LIMIT_DEFAULT, 1, API_JOBQ_ERRORS_LIMIT_MAX, &limit, &answer) !=
            EH_OK ||
        api_params_int(c, rq, "offset", 0, 0, API_JOBQ_ERRORS_OFFSET_MAX, &offset, &answer) != EH_OK)
        return answer;
    api_jobq_errors_req_t req = {
        .tenant_id = rq->caller.tenant_id, .job_id = id, .limit = (int)limit, .offset = offset, .after_line = 0};
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return db_unavailable(c, rq);
    api_jobq_error_page_t page;
    int rc = api_jobq_errors(db, &req, &page);
    eh_db_pool_release(ctx->db, db);
    if (rc != EH_OK) {
        api_jobq_error_page_free(&page);
        return api_jobs_answer_failure(c, rq, rc);
    }
    json_t *body = errors_body(id, &page, limit, offset);
    api_jobq_error_page_free(&page);
    if (body == NULL)
        return MHD_NO;
    return api_http_send_json(c, rq, MHD_HTTP_OK, body);
}

enum MHD_Result api_jobs_ws_fallback(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    eh_job_t job;
    enum MHD_Result answer;
    if (!api_job_load(ctx, c, rq, &job, &answer))
        return answer;
    eh_job_clear(&job);
    return api_http_send_error(c, rq, MHD_HTTP_NOT_IMPLEMENTED, "websocket_unavailable",
                               "live progress is not served by this instance");
}
