/*
 * GET /api/v1/jobs and GET /api/v1/jobs/<id>/entries: pages of a tenant's
 * jobs and of a job's entries, through job_queries.c, with opaque cursors
 * (cursor.c) and one parameter checker (params.c).
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cursor.h"
#include "job_queries.h"
#include "params.h"

/* The cursor parameter as a cursor of kind for the caller: true (also when absent); false with the 400 queued. */
static bool cursor_param(struct MHD_Connection *c, api_request_t *rq, api_cursor_kind_t kind, bool *present,
                         api_cursor_t *cur, enum MHD_Result *answer)
{
    const char *v;
    int rc = api_params_get(c, "cursor", &v);
    *present = rc == EH_OK;
    if (rc == API_PARAM_ABSENT)
        return true;
    if (rc == EH_OK && api_cursor_decode(v, strlen(v), kind, rq->caller.tenant_id, cur) == EH_OK)
        return true;
    *answer = api_params_refuse(c, rq, "cursor", "not a cursor this server gave for this listing");
    return false;
}

static json_t *cursor_json(api_cursor_kind_t kind, int64_t n, const char *id, const char *tenant_id)
{
    api_cursor_t cur = {.kind = kind, .n = n};
    char text[API_CURSOR_STRLEN + 1];
    snprintf(cur.id, sizeof(cur.id), "%s", id);
    if (api_cursor_encode(&cur, tenant_id, text) != EH_OK)
        return NULL;
    return json_string(text);
}

static enum MHD_Result db_unavailable(struct MHD_Connection *c, api_request_t *rq)
{
    return api_jobs_answer_failure(c, rq, EH_AGAIN);
}

/* ---- GET /api/v1/jobs ---- */

static bool list_params(struct MHD_Connection *c, api_request_t *rq, api_jobq_list_req_t *req, enum MHD_Result *answer)
{
    const char *v;
    int rc = api_params_get(c, "status", &v);
    if (rc == EH_OK && eh_job_status_parse(v, &req->status) == EH_OK) {
        req->has_status = true;
    } else if (rc != API_PARAM_ABSENT) {
        *answer = api_params_refuse(c, rq, "status",
                                    "must be given once, one of queued, processing, completed, "
                                    "failed, cancelled");
        return false;
    }
    int64_t limit;
    if (api_params_int(c, rq, "limit", API_JOBQ_JOBS_LIMIT_DEFAULT, 1, API_JOBQ_JOBS_LIMIT_MAX, &limit, answer) !=
        EH_OK)
        return false;
    req->limit = (int)limit;
    api_cursor_t cur;
    if (!cursor_param(c, rq, API_CURSOR_JOBS, &req->has_after, &cur, answer))
        return false;
    if (req->has_after) {
        req->after.created_at_us = cur.n;
        memcpy(req->after.id, cur.id, sizeof(req->after.id));
    }
    return true;
}

static json_t *list_body(const api_jobq_job_page_t *page, const char *tenant_id)
{
    json_t *jobs = json_array();
    json_t *next =
        page->has_next ? cursor_json(API_CURSOR_JOBS, page->next.created_at_us, page->next.id, tenant_id) : json_null();
    json_t *body = json_pack("{s:o, s:o}", "jobs", jobs, "next_cursor", next);
    if (body == NULL)
        return NULL;
    for (size_t i = 0; i < page->count; i++) {
        if (json_array_append_new(jobs, eh_job_to_json(&page->jobs[i])) != 0) {
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

enum MHD_Result api_jobs_list(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    api_jobq_list_req_t req = {.tenant_id = rq->caller.tenant_id};
    enum MHD_Result answer;
    if (!list_params(c, rq, &req, &answer))
        return answer;
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return db_unavailable(c, rq);
    api_jobq_job_page_t page;
    int rc = api_jobq_list(db, &req, &page);
    eh_db_pool_release(ctx->db, db);
    if (rc != EH_OK) {
        api_jobq_job_page_free(&page);
        return api_jobs_answer_failure(c, rq, rc == EH_DECLINED ? EH_ERR : rc);
    }
    json_t *body = list_body(&page, req.tenant_id);
    api_jobq_job_page_free(&page);
    if (body == NULL)
        return MHD_NO;
    return api_http_send_json(c, rq, MHD_HTTP_OK, body);
}

/* ---- GET /api/v1/jobs/<id>/entries ---- */

/* An optional RFC 3339 parameter; false with the 400 queued. */
static bool time_param(struct MHD_Connection *c, api_request_t *rq, const char *name, bool *has, int64_t *us,
                       enum MHD_Result *answer)
{
    const char *v;
    int rc = api_params_get(c, name, &v);
    *has = rc == EH_OK;
    if (rc == API_PARAM_ABSENT || (rc == EH_OK && api_params_parse_time(v, us) == EH_OK))
        return true;
    *answer = api_params_refuse(c, rq, name, "must be given once, as an RFC 3339 date-time (2026-11-21T10:00:00Z)");
    return false;
}

#define Q_MAX_BYTES 1024

static bool entries_params(struct MHD_Connection *c, api_request_t *rq, api_jobq_entries_req_t *req,
                           enum MHD_Result *answer)
{
    const char *v;
    int rc = api_params_get(c, "level", &v);
    if (rc == EH_DECLINED || (rc == EH_OK && api_params_parse_levels(v, &req->levels) != EH_OK)) {
        *answer = api_params_refuse(c, rq, "level",
                                    "must be given once, as a comma-separated list of trace, debug, "
                                    "info, notice, warn, error, fatal");
        return false;
    }
    if (!time_param(c, rq, "since", &req->has_since, &req->since_us, answer) ||
        !time_param(c, rq, "until", &req->has_until, &req->until_us, answer))
        return false;
    rc = api_params_get(c, "q", &v);
    if (rc == EH_DECLINED || (rc == EH_OK && strlen(v) > Q_MAX_BYTES)) {
        *answer = api_params_refuse(c, rq, "q", "must be given once, 1 to 1024 bytes");
        return false;
    }
    req->q = v;
    int64_t limit;
    if (api_params_int(c, rq, "limit", API_JOBQ_ENTRIES_LIMIT_DEFAULT, 1, API_JOBQ_ENTRIES_LIMIT_MAX, &limit, answer) !=
        EH_OK)
        return false;
    req->limit = (int)limit;
    bool has_cursor;
    api_cursor_t cur;
    if (!cursor_param(c, rq, API_CURSOR_ENTRIES, &has_cursor, &cur, answer))
        return false;
    if (has_cursor && strcmp(cur.id, req->job_id) != 0) {
        *answer = api_params_refuse(c, rq, "cursor", "a cursor of another job");
        return false;
    }
    req->after_line = has_cursor ? cur.n : 0;
    return true;
}

static json_t *entry_json(const api_jobq_entry_t *e)
{
    json_t *attributes = json_loadb(e->attributes, e->attributes_len, 0, NULL);
    json_t *message = json_stringn(e->message, e->message_len);
    return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o}", "line_no", (json_int_t)e->line_no, "timestamp", e->timestamp,
                     "level", e->level, "message", message, "service",
                     e->service != NULL ? json_string(e->service) : json_null(), "attributes", attributes);
}

static json_t *entries_body(const api_jobq_entry_page_t *page, const char *job_id, const char *tenant_id)
{
    json_t *list = json_array();
    json_t *next = page->has_next ? cursor_json(API_CURSOR_ENTRIES, page->next_line, job_id, tenant_id) : json_null();
    json_t *body = json_pack("{s:s, s:o, s:o}", "job_id", job_id, "entries", list, "next_cursor", next);
    if (body == NULL)
        return NULL;
    for (size_t i = 0; i < page->count; i++) {
        if (json_array_append_new(list, entry_json(&page->entries[i])) != 0) {
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

enum MHD_Result api_jobs_entries(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    char id[EH_UUID_STRLEN + 1];
    enum MHD_Result answer;
    if (!api_jobs_request_id(c, rq, id, &answer))
        return answer;
    api_jobq_entries_req_t req = {
        .tenant_id = rq->caller.tenant_id, .job_id = id, .scan_window = ctx->cfg->entries_scan_lines};
    if (!entries_params(c, rq, &req, &answer))
        return answer;
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return db_unavailable(c, rq);
    api_jobq_entry_page_t page;
    int rc = api_jobq_entries(db, &req, &page);
    eh_db_pool_release(ctx->db, db);
    if (rc != EH_OK) {
        api_jobq_entry_page_free(&page);
        return api_jobs_answer_failure(c, rq, rc);
    }
    json_t *body = entries_body(&page, id, req.tenant_id);
    api_jobq_entry_page_free(&page);
    if (body == NULL)
        return api_jobs_answer_failure(c, rq, EH_ERR);
    return api_http_send_json(c, rq, MHD_HTTP_OK, body);
}
