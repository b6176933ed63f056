/* GET /api/v1/jobs/<id>, GET /api/v1/jobs/<id>/errors, and /ws/jobs/<id> while no relay is registered. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "job.h"
#include "job_store.h"
#include "log.h"
#include "uuid.h"

#define ERRORS_LIMIT_DEFAULT 100
#define ERRORS_LIMIT_MAX 1000
#define OFFSET_MAX 1000000000000000LL

/*
 * One statement, so that total and page come from one snapshot. total is
 * jobs.lines_invalid: the worker commits it with the job_errors rows of the
 * same batch, so it equals their count without counting them per page.
 */
static const char SQL_ERRORS_PAGE[] =
    "SELECT j.lines_invalid, e.line_no, e.reason FROM jobs j "
    "LEFT JOIN LATERAL (SELECT line_no, reason FROM job_errors WHERE job_id = j.id "
    "ORDER BY line_no LIMIT $2 OFFSET $3) e ON true WHERE j.id = $1 AND j.tenant_id = $4 ORDER BY e.line_no";

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


static enum MHD_Result answer_load_failure(struct MHD_Connection *c, api_request_t *rq, int rc)
{
    if (rc == EH_DECLINED)
        return not_found(c, rq);
    if (rc == EH_AGAIN)
        return db_unavailable(c, rq);
    return api_http_send_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "could not read the job");
}

bool api_job_load(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, eh_job_t *job,
                  enum MHD_Result *answer)
{
    if (!eh_uuid_valid(rq->id, rq->id_len)) {
        *answer = bad_id(c, rq);
        return false;
    }
    char idbuf[EH_UUID_STRLEN + 1];
    lowercase_id(idbuf, rq->id, rq->id_len);
    int rc = api_lookup_job(ctx->lookup, idbuf, rq->caller.tenant_id, job);
    if (rc != EH_OK) {
        *answer = answer_load_failure(c, rq, rc);
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

static int parse_query_int(struct MHD_Connection *c, const char *name, int64_t def, int64_t min, int64_t max,
                           int64_t *out)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (v == NULL) {
        *out = def;
        return EH_OK;
    }
    return api_util_parse_int(v, min, max, out);
}

static json_t *errors_page(const PGresult *res, const char *id, int64_t limit, int64_t offset)
{
    json_t *list = json_array();
    json_t *body = json_pack("{s:s, s:I, s:I, s:I, s:o}", "job_id", id,
                             "total", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10), "limit",
                             (json_int_t)limit, "offset", (json_int_t)offset, "errors", list);
    if (body == NULL)
        return NULL;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 1))
            continue; /* the LEFT JOIN row of a job without errors on this page */
        json_t *e = json_pack("{s:I, s:s}", "line_no", (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10),
                              "reason", PQgetvalue(res, i, 2));
        if (e == NULL || json_array_append_new(list, e) != 0) {
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

enum MHD_Result api_jobs_errors(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    const char *id = rq->id;
    size_t id_len = rq->id_len;
    if (!eh_uuid_valid(id, id_len))
        return bad_id(c, rq);
    int64_t limit, offset;
    if (parse_query_int(c, "limit", ERRORS_LIMIT_DEFAULT, 1, ERRORS_LIMIT_MAX, &limit) != EH_OK)
        return api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, "invalid_limit",
                                   "limit must be a whole number from 1 to 1000");
    if (parse_query_int(c, "offset", 0, 0, OFFSET_MAX, &offset) != EH_OK)
        return api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, "invalid_offset",
                                   "offset must be a whole number, 0 or more");
    char idbuf[EH_UUID_STRLEN + 1], lim[24], off[24];
    lowercase_id(idbuf, id, id_len);
    snprintf(lim, sizeof(lim), "%lld", (long long)limit);
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    const char *params[] = {idbuf, lim, off, rq->caller.tenant_id};

    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return db_unavailable(c, rq);
    PGresult *res = api_query_prepared(db, "eh_api_job_errors", SQL_ERRORS_PAGE, 4, params, &status);
    eh_db_pool_release(ctx->db, db);
    if (res == NULL)
        return answer_load_failure(c, rq, status);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return not_found(c, rq);
    }
    json_t *body = errors_page(res, idbuf, limit, offset);
    PQclear(res);
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
