/*
 * The resolvers of schema.graphql: one row per field, checked against the
 * SDL at start (api_gql_bind). Sources: a Job is an eh_job_t, its
 * connections are loaded when a field of theirs is asked for.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql_app.h"
#include "job_store.h"
#include "timefmt.h"
#include "uuid.h"

eh_db_t *api_gql_app_db(api_gql_app_t *app, char *err, size_t err_len)
{
    if (app->db != NULL)
        return app->db;
    int status = EH_AGAIN;
    app->db = eh_db_pool_acquire(app->ctx->db, API_DB_WAIT_MS, &status);
    if (app->db == NULL)
        snprintf(err, err_len, "the database is not reachable; try again later");
    return app->db;
}

static void job_free(void *p)
{
    eh_job_clear(p);
}

/* A job in the execution's memory, cleared when it ends. */
static eh_job_t *job_new(api_gql_exec_t *ex)
{
    eh_job_t *job = api_gql_exec_alloc(ex, sizeof(*job));
    if (job == NULL || api_gql_exec_defer(ex, job_free, job) != EH_OK)
        return NULL;
    return job;
}

static int oom(char *err, size_t n)
{
    snprintf(err, n, "out of memory");
    return EH_ERR;
}

/* ---- Query ---- */

static int r_query_job(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    api_gql_app_t *app = r->app;
    const char *id = json_string_value(json_object_get(r->args, "id"));
    out->kind = GQL_R_NULL;
    if (id == NULL || !eh_uuid_valid(id, strlen(id)))
        return EH_OK; /* no job has that id */
    char idbuf[EH_UUID_STRLEN + 1];
    for (size_t i = 0; i < EH_UUID_STRLEN; i++)
        idbuf[i] = (char)tolower((unsigned char)id[i]);
    idbuf[EH_UUID_STRLEN] = '\0';
    eh_job_t *job = job_new(r->ex);
    if (job == NULL)
        return oom(err, n);
    app->queries++;
    int rc = api_lookup_job(app->ctx->lookup, idbuf, app->tenant_id, job); /* batched, as REST status reads */
    if (rc == EH_DECLINED)
        return EH_OK;
    if (rc != EH_OK) {
        snprintf(err, n, rc == EH_AGAIN ? "the database is not reachable; try again later" : "could not read the job");
        return EH_DECLINED;
    }
    out->kind = GQL_R_OBJECT;
    out->object = job;
    return EH_OK;
}

static int r_query_jobs(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)r;
    (void)out;
    snprintf(err, n, "the job list is not available in this build");
    return EH_DECLINED;
}

/* ---- Job ---- */

#define JOB (*(const eh_job_t *)r->source)

static int leaf(api_gql_rvalue_t *out, json_t *v, char *err, size_t n)
{
    if (v == NULL)
        return oom(err, n);
    out->kind = GQL_R_LEAF;
    out->leaf = v;
    return EH_OK;
}

static int time_leaf(api_gql_rvalue_t *out, int64_t ms, char *err, size_t n)
{
    if (ms == EH_TIME_NULL) {
        out->kind = GQL_R_NULL;
        return EH_OK;
    }
    char buf[EH_TIME_BUFLEN];
    eh_time_format_ms(ms, buf);
    return leaf(out, json_string(buf), err, n);
}

static int r_job_id(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_string(JOB.id), e, n);
}

static int r_job_file_name(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_string(JOB.file_name != NULL ? JOB.file_name : ""), e, n);
}

static int r_job_size(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_integer(JOB.size_bytes), e, n);
}

static int r_job_status(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    char up[16];
    const char *name = eh_job_status_name(JOB.status);
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < sizeof(up); i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[i] = '\0';
    return leaf(out, json_string(up), e, n);
}

static int r_job_progress(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_real(eh_job_progress(&JOB)), e, n);
}

static int r_job_lines_total(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_integer(JOB.lines_total), e, n);
}

static int r_job_lines_processed(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_integer(JOB.lines_processed), e, n);
}

static int r_job_entries_ingested(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_integer(JOB.entries_ingested), e, n);
}

static int r_job_lines_invalid(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_integer(JOB.lines_invalid), e, n);
}

static int r_job_created(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return time_leaf(out, JOB.created_at_ms, e, n);
}

static int r_job_started(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return time_leaf(out, JOB.started_at_ms, e, n);
}

static int r_job_completed(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return time_leaf(out, JOB.completed_at_ms, e, n);
}

static int r_job_error(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    if (JOB.error == NULL) {
        out->kind = GQL_R_NULL;
        return EH_OK;
    }
    return leaf(out, json_string(JOB.error), e, n);
}

/* ---- connections ---- */

typedef struct conn {
    const eh_job_t *job;
    int first;
    const char *after;
} conn_t;

static int r_job_errors(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    conn_t *c = api_gql_exec_alloc(r->ex, sizeof(*c));
    if (c == NULL)
        return oom(e, n);
    c->job = r->source;
    c->first = (int)json_integer_value(json_object_get(r->args, "first"));
    c->after = json_string_value(json_object_get(r->args, "after"));
    out->kind = GQL_R_OBJECT;
    out->object = c;
    return EH_OK;
}

static int r_job_entries(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return r_job_errors(r, out, e, n);
}

static int not_yet(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    (void)r;
    (void)out;
    snprintf(e, n, "not available in this build");
    return EH_DECLINED;
}

static int r_errors_total(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    const conn_t *c = r->source;
    return leaf(out, json_integer(c->job->lines_invalid), e, n);
}

static int r_page_has_next(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    (void)r;
    return leaf(out, json_false(), e, n);
}

static int r_page_end_cursor(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    (void)r;
    (void)e;
    (void)n;
    out->kind = GQL_R_NULL;
    return EH_OK;
}

const api_gql_resolver_t api_gql_resolvers[] = {
    {"Query", "job", r_query_job},
    {"Query", "jobs", r_query_jobs},
    {"Job", "id", r_job_id},
    {"Job", "fileName", r_job_file_name},
    {"Job", "sizeBytes", r_job_size},
    {"Job", "status", r_job_status},
    {"Job", "progress", r_job_progress},
    {"Job", "linesTotal", r_job_lines_total},
    {"Job", "linesProcessed", r_job_lines_processed},
    {"Job", "entriesIngested", r_job_entries_ingested},
    {"Job", "linesInvalid", r_job_lines_invalid},
    {"Job", "createdAt", r_job_created},
    {"Job", "startedAt", r_job_started},
    {"Job", "completedAt", r_job_completed},
    {"Job", "error", r_job_error},
    {"Job", "errors", r_job_errors},
    {"Job", "entries", r_job_entries},
    {"JobConnection", "nodes", not_yet},
    {"JobConnection", "pageInfo", not_yet},
    {"LineError", "lineNo", not_yet},
    {"LineError", "reason", not_yet},
    {"LineErrorConnection", "nodes", not_yet},
    {"LineErrorConnection", "totalCount", r_errors_total},
    {"LineErrorConnection", "pageInfo", not_yet},
    {"Entry", "lineNo", not_yet},
    {"Entry", "timestamp", not_yet},
    {"Entry", "level", not_yet},
    {"Entry", "message", not_yet},
    {"Entry", "service", not_yet},
    {"Entry", "attributes", not_yet},
    {"EntryConnection", "nodes", not_yet},
    {"EntryConnection", "pageInfo", not_yet},
    {"PageInfo", "hasNextPage", r_page_has_next},
    {"PageInfo", "endCursor", r_page_end_cursor},
};

const size_t api_gql_n_resolvers = sizeof(api_gql_resolvers) / sizeof(api_gql_resolvers[0]);
