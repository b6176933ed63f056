/*
 * The resolvers of schema.graphql: one row per field, checked against the
 * SDL at start (api_gql_bind). Every read goes through the REST handlers'
 * data layer (job_queries.c, the batched lookup), scoped to the caller's
 * tenant; arguments are checked as REST checks its query parameters
 * (params.c, cursor.c), a bad one is a field error. Sources: a Job is an
 * eh_job_t; a connection loads its page when a field of it needs the page
 * (totalCount does not: it is the job's lines_invalid).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cursor.h"
#include "../job_queries.h"
#include "../params.h"
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

/* out becomes a list of the count objects at base, size bytes apart (a page's rows). */
static int object_list(const api_gql_resolve_t *r, api_gql_rvalue_t *out, void *base, size_t count, size_t size,
                       char *err, size_t n)
{
    out->kind = GQL_R_LIST;
    out->n = count;
    out->items = api_gql_exec_alloc(r->ex, (count + 1) * sizeof(*out->items));
    if (out->items == NULL)
        return oom(err, n);
    for (size_t i = 0; i < count; i++) {
        out->items[i].kind = GQL_R_OBJECT;
        out->items[i].object = (char *)base + i * size;
    }
    return EH_OK;
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

/* ---- connections: pages loaded through job_queries.c when first asked for ---- */

typedef struct page_info {
    bool has_next;
    char cursor[API_CURSOR_STRLEN + 1]; /* empty: null */
} page_info_t;

typedef struct job_conn {
    api_jobq_job_page_t page;
    page_info_t info;
} job_conn_t;

typedef struct error_conn {
    const eh_job_t *job;
    api_jobq_errors_req_t req;
    bool loaded;
    int rc;
    char msg[128];
    api_jobq_error_page_t page;
    page_info_t info;
} error_conn_t;

typedef struct entry_conn {
    const eh_job_t *job;
    api_jobq_entries_req_t req;
    char *q; /* owned copy of search */
    bool loaded;
    int rc;
    char msg[160];
    api_jobq_entry_page_t page;
    page_info_t info;
} entry_conn_t;

static void job_page_free(void *p)
{
    api_jobq_job_page_free(&((job_conn_t *)p)->page);
}

static void error_page_free(void *p)
{
    api_jobq_error_page_free(&((error_conn_t *)p)->page);
}

static void entry_page_free(void *p)
{
    entry_conn_t *c = p;
    api_jobq_entry_page_free(&c->page);
    free(c->q);
}

static int db_failure(int rc, char *err, size_t n)
{
    snprintf(err, n, rc == EH_AGAIN ? "the database is not reachable; try again later" : "could not read the jobs");
    return EH_DECLINED;
}

/* `first` of a connection: 1..max, else a field error naming the bound. */
static bool first_arg(const api_gql_resolve_t *r, int max, int *out, char *err, size_t n)
{
    json_int_t v = json_integer_value(json_object_get(r->args, "first"));
    if (v < 1 || v > max) {
        snprintf(err, n, "first must be from 1 to %d", max);
        return false;
    }
    *out = (int)v;
    return true;
}

/* `after`: absent, or a cursor of kind this server gave this tenant. */
static bool after_arg(const api_gql_resolve_t *r, api_cursor_kind_t kind, bool *has, api_cursor_t *cur, char *err,
                      size_t n)
{
    const api_gql_app_t *app = r->app;
    const char *after = json_string_value(json_object_get(r->args, "after"));
    *has = after != NULL;
    if (after == NULL || api_cursor_decode(after, strlen(after), kind, app->tenant_id, cur) == EH_OK)
        return true;
    snprintf(err, n, "after: not a cursor this server gave for this listing");
    return false;
}

static int set_cursor(page_info_t *info, api_cursor_kind_t kind, int64_t num, const char *id, const char *tenant)
{
    info->cursor[0] = '\0';
    if (!info->has_next)
        return EH_OK;
    api_cursor_t c = {.kind = kind, .n = num};
    snprintf(c.id, sizeof(c.id), "%s", id);
    return api_cursor_encode(&c, tenant, info->cursor);
}

static int r_query_jobs(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    api_gql_app_t *app = r->app;
    api_jobq_list_req_t req = {.tenant_id = app->tenant_id};
    int first;
    api_cursor_t cur;
    if (!first_arg(r, API_JOBQ_JOBS_LIMIT_MAX, &first, err, n) ||
        !after_arg(r, API_CURSOR_JOBS, &req.has_after, &cur, err, n))
        return EH_DECLINED;
    req.limit = first;
    if (req.has_after) {
        req.after.created_at_us = cur.n;
        snprintf(req.after.id, sizeof(req.after.id), "%s", cur.id);
    }
    const char *status = json_string_value(json_object_get(r->args, "status"));
    if (status != NULL) {
        char lower[16];
        size_t i = 0;
        for (; status[i] != '\0' && i + 1 < sizeof(lower); i++)
            lower[i] = (char)tolower((unsigned char)status[i]);
        lower[i] = '\0';
        if (eh_job_status_parse(lower, &req.status) != EH_OK) {
            snprintf(err, n, "unknown status");
            return EH_DECLINED;
        }
        req.has_status = true;
    }
    eh_db_t *db = api_gql_app_db(app, err, n);
    if (db == NULL)
        return EH_DECLINED;
    job_conn_t *c = api_gql_exec_alloc(r->ex, sizeof(*c));
    if (c == NULL || api_gql_exec_defer(r->ex, job_page_free, c) != EH_OK)
        return oom(err, n);
    app->queries++;
    int rc = api_jobq_list(db, &req, &c->page);
    if (rc != EH_OK)
        return db_failure(rc == EH_DECLINED ? EH_ERR : rc, err, n);
    c->info.has_next = c->page.has_next;
    if (set_cursor(&c->info, API_CURSOR_JOBS, c->page.next.created_at_us, c->page.next.id, app->tenant_id) != EH_OK)
        return oom(err, n);
    out->kind = GQL_R_OBJECT;
    out->object = c;
    return EH_OK;
}

static int r_jobs_nodes(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    job_conn_t *c = r->source;
    return object_list(r, out, c->page.jobs, c->page.count, sizeof(*c->page.jobs), err, n);
}

static int r_jobs_page_info(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)err;
    (void)n;
    out->kind = GQL_R_OBJECT;
    out->object = &((job_conn_t *)r->source)->info;
    return EH_OK;
}

/* ---- Job.errors ---- */

static int r_job_errors(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    api_gql_app_t *app = r->app;
    const eh_job_t *job = r->source;
    error_conn_t *c = api_gql_exec_alloc(r->ex, sizeof(*c));
    if (c == NULL || api_gql_exec_defer(r->ex, error_page_free, c) != EH_OK)
        return oom(err, n);
    int first;
    bool has_after;
    api_cursor_t cur;
    if (!first_arg(r, API_JOBQ_ERRORS_LIMIT_MAX, &first, err, n) ||
        !after_arg(r, API_CURSOR_ERRORS, &has_after, &cur, err, n))
        return EH_DECLINED;
    if (has_after && strcmp(cur.id, job->id) != 0) {
        snprintf(err, n, "after: a cursor of another job");
        return EH_DECLINED;
    }
    c->job = job;
    c->req = (api_jobq_errors_req_t){
        .tenant_id = app->tenant_id, .job_id = job->id, .limit = first, .after_line = has_after ? cur.n : 0};
    out->kind = GQL_R_OBJECT;
    out->object = c;
    return EH_OK;
}

/* The page of an errors connection, read on the first field that needs it (totalCount does not). */
static int load_errors(const api_gql_resolve_t *r, error_conn_t *c, char *err, size_t n)
{
    if (!c->loaded) {
        c->loaded = true;
        api_gql_app_t *app = r->app;
        eh_db_t *db = api_gql_app_db(app, c->msg, sizeof(c->msg));
        c->rc = EH_AGAIN;
        if (db != NULL) {
            app->queries++;
            c->rc = api_jobq_errors(db, &c->req, &c->page);
        }
        if (c->rc == EH_OK) {
            c->info.has_next = c->page.has_next;
            int64_t last = c->page.count > 0 ? c->page.errors[c->page.count - 1].line_no : c->req.after_line;
            if (set_cursor(&c->info, API_CURSOR_ERRORS, last, c->job->id, app->tenant_id) != EH_OK)
                c->rc = EH_ERR;
        }
        if (c->rc != EH_OK)
            (void)db_failure(c->rc == EH_DECLINED ? EH_ERR : c->rc, c->msg, sizeof(c->msg));
    }
    if (c->rc != EH_OK)
        snprintf(err, n, "%s", c->msg);
    return c->rc == EH_OK ? EH_OK : EH_DECLINED;
}

static int r_errors_nodes(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    error_conn_t *c = r->source;
    if (load_errors(r, c, err, n) != EH_OK)
        return EH_DECLINED;
    return object_list(r, out, c->page.errors, c->page.count, sizeof(*c->page.errors), err, n);
}

/* The job's lines_invalid, in the job row already loaded: no query per job (no N+1). */
static int r_errors_total(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    const error_conn_t *c = r->source;
    return leaf(out, json_integer(c->job->lines_invalid), err, n);
}

static int r_errors_page_info(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    error_conn_t *c = r->source;
    if (load_errors(r, c, err, n) != EH_OK)
        return EH_DECLINED;
    out->kind = GQL_R_OBJECT;
    out->object = &c->info;
    return EH_OK;
}

#define LINE_ERROR (*(const api_jobq_line_error_t *)r->source)

static int r_line_error_line(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_integer(LINE_ERROR.line_no), e, n);
}

static int r_line_error_reason(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_string(LINE_ERROR.reason), e, n);
}

/* ---- Job.entries ---- */

#define SEARCH_MAX_BYTES 1024

static int r_job_entries(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    api_gql_app_t *app = r->app;
    const eh_job_t *job = r->source;
    entry_conn_t *c = api_gql_exec_alloc(r->ex, sizeof(*c));
    if (c == NULL || api_gql_exec_defer(r->ex, entry_page_free, c) != EH_OK)
        return oom(err, n);
    c->job = job;
    c->req = (api_jobq_entries_req_t){
        .tenant_id = app->tenant_id, .job_id = job->id, .scan_window = app->ctx->cfg->entries_scan_lines};
    int first;
    bool has_after;
    api_cursor_t cur;
    if (!first_arg(r, API_JOBQ_ENTRIES_LIMIT_MAX, &first, err, n) ||
        !after_arg(r, API_CURSOR_ENTRIES, &has_after, &cur, err, n))
        return EH_DECLINED;
    if (has_after && strcmp(cur.id, job->id) != 0) {
        snprintf(err, n, "after: a cursor of another job");
        return EH_DECLINED;
    }
    c->req.limit = first;
    c->req.after_line = has_after ? cur.n : 0;
    json_t *levels = json_object_get(r->args, "levels");
    size_t i;
    json_t *lv;
    json_array_foreach(levels, i, lv)
    {
        unsigned bit;
        if (api_params_parse_levels(json_string_value(lv), &bit) != EH_OK || strchr(json_string_value(lv), ',')) {
            snprintf(err, n, "levels: each one of trace, debug, info, notice, warn, error, fatal");
            return EH_DECLINED;
        }
        c->req.levels |= bit;
    }
    const char *since = json_string_value(json_object_get(r->args, "since"));
    const char *until = json_string_value(json_object_get(r->args, "until"));
    if (since != NULL && api_params_parse_time(since, &c->req.since_us) != EH_OK) {
        snprintf(err, n, "since: an RFC 3339 date-time (2026-11-21T10:00:00Z)");
        return EH_DECLINED;
    }
    if (until != NULL && api_params_parse_time(until, &c->req.until_us) != EH_OK) {
        snprintf(err, n, "until: an RFC 3339 date-time (2026-11-21T10:00:00Z)");
        return EH_DECLINED;
    }
    c->req.has_since = since != NULL;
    c->req.has_until = until != NULL;
    const char *search = json_string_value(json_object_get(r->args, "search"));
    if (search != NULL) {
        size_t len = strlen(search);
        if (len == 0 || len > SEARCH_MAX_BYTES) {
            snprintf(err, n, "search: 1 to %d bytes", SEARCH_MAX_BYTES);
            return EH_DECLINED;
        }
        c->q = strdup(search);
        if (c->q == NULL)
            return oom(err, n);
        c->req.q = c->q;
    }
    out->kind = GQL_R_OBJECT;
    out->object = c;
    return EH_OK;
}

static int load_entries(const api_gql_resolve_t *r, entry_conn_t *c, char *err, size_t n)
{
    if (!c->loaded) {
        c->loaded = true;
        api_gql_app_t *app = r->app;
        eh_db_t *db = api_gql_app_db(app, c->msg, sizeof(c->msg));
        c->rc = EH_AGAIN;
        if (db != NULL) {
            app->queries++;
            c->rc = api_jobq_entries(db, &c->req, &c->page);
        }
        if (c->rc == EH_OK) {
            c->info.has_next = c->page.has_next;
            if (set_cursor(&c->info, API_CURSOR_ENTRIES, c->page.next_line, c->job->id, app->tenant_id) != EH_OK)
                c->rc = EH_ERR;
        }
        if (c->rc != EH_OK)
            (void)db_failure(c->rc == EH_DECLINED ? EH_ERR : c->rc, c->msg, sizeof(c->msg));
    }
    if (c->rc != EH_OK)
        snprintf(err, n, "%s", c->msg);
    return c->rc == EH_OK ? EH_OK : EH_DECLINED;
}

static int r_entries_nodes(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    entry_conn_t *c = r->source;
    if (load_entries(r, c, err, n) != EH_OK)
        return EH_DECLINED;
    return object_list(r, out, c->page.entries, c->page.count, sizeof(*c->page.entries), err, n);
}

static int r_entries_page_info(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    entry_conn_t *c = r->source;
    if (load_entries(r, c, err, n) != EH_OK)
        return EH_DECLINED;
    out->kind = GQL_R_OBJECT;
    out->object = &c->info;
    return EH_OK;
}

#define ENTRY (*(const api_jobq_entry_t *)r->source)

static int r_entry_line(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_integer(ENTRY.line_no), e, n);
}

static int r_entry_timestamp(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_string(ENTRY.timestamp), e, n);
}

static int r_entry_level(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_string(ENTRY.level), e, n);
}

static int r_entry_message(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_stringn(ENTRY.message, ENTRY.message_len), e, n);
}

static int r_entry_service(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    if (ENTRY.service == NULL) {
        out->kind = GQL_R_NULL;
        return EH_OK;
    }
    return leaf(out, json_string(ENTRY.service), e, n);
}

/* The attributes object as compact JSON text (what JSON.stringify of the REST answer's object gives). */
static int r_entry_attributes(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    json_t *obj = json_loadb(ENTRY.attributes, ENTRY.attributes_len, 0, NULL);
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL)
        return oom(e, n);
    int rc = leaf(out, json_string(text), e, n);
    free(text);
    return rc;
}

/* ---- PageInfo ---- */

static int r_page_has_next(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    return leaf(out, json_boolean(((const page_info_t *)r->source)->has_next), e, n);
}

static int r_page_end_cursor(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *e, size_t n)
{
    const page_info_t *info = r->source;
    if (info->cursor[0] == '\0') {
        out->kind = GQL_R_NULL;
        return EH_OK;
    }
    return leaf(out, json_string(info->cursor), e, n);
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
    {"JobConnection", "nodes", r_jobs_nodes},
    {"JobConnection", "pageInfo", r_jobs_page_info},
    {"LineError", "lineNo", r_line_error_line},
    {"LineError", "reason", r_line_error_reason},
    {"LineErrorConnection", "nodes", r_errors_nodes},
    {"LineErrorConnection", "totalCount", r_errors_total},
    {"LineErrorConnection", "pageInfo", r_errors_page_info},
    {"Entry", "lineNo", r_entry_line},
    {"Entry", "timestamp", r_entry_timestamp},
    {"Entry", "level", r_entry_level},
    {"Entry", "message", r_entry_message},
    {"Entry", "service", r_entry_service},
    {"Entry", "attributes", r_entry_attributes},
    {"EntryConnection", "nodes", r_entries_nodes},
    {"EntryConnection", "pageInfo", r_entries_page_info},
    {"PageInfo", "hasNextPage", r_page_has_next},
    {"PageInfo", "endCursor", r_page_end_cursor},
};

const size_t api_gql_n_resolvers = sizeof(api_gql_resolvers) / sizeof(api_gql_resolvers[0]);
