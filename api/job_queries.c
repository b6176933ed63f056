/*
 * job_queries.c - every SQL text that reads or changes a tenant's jobs for
 * the REST and GraphQL endpoints (job_queries.h).
 *
 * Statements whose shape depends on optional filters ("$2 IS NULL OR ...")
 * run unnamed (PQexecParams): PostgreSQL then plans them with the actual
 * values, folds the absent filters away and picks the index the remaining
 * ones need, where a prepared statement's generic plan would not.
 */
#include "job_queries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_store.h"

const char *const API_JOBQ_LEVEL_NAMES[API_JOBQ_LEVEL_COUNT] = {"trace", "debug", "info", "notice",
                                                                "warn",  "error", "fatal"};

/* The default scan window of a filtered entries page, in line numbers (see NOTES.md for the measurement). */
#define ENTRIES_SCAN_WINDOW_DEFAULT 100000

/* A timestamp parameter given as epoch microseconds, exactly. */
#define US_TO_TS(p) "(timestamptz 'epoch' + " p "::bigint * interval '1 microsecond')"

static const char SQL_GET[] = "SELECT " EH_JOB_COLUMNS " FROM jobs WHERE id = $1::uuid AND tenant_id = $2::uuid";

/* Newest first; one row more than asked tells whether a next page exists. */
static const char SQL_LIST[] =
    "SELECT " EH_JOB_COLUMNS ", (extract(epoch FROM created_at) * 1000000)::bigint FROM jobs "
    "WHERE tenant_id = $1::uuid AND ($2::text IS NULL OR status = $2::text) "
    "  AND ($3::bigint IS NULL OR (created_at, id) < (" US_TO_TS(
        "$3") ", $4::uuid)) "
              "ORDER BY created_at DESC, id DESC LIMIT $5::int";

/*
 * The job row decides existence and ownership (LEFT JOIN: a job without
 * matching entries still answers, with one row of NULLs) and gives
 * lines_processed, the end of what is committed. The entries come from the
 * primary key's range (job_id, line_no > $3 AND line_no <= $4).
 */
static const char SQL_ENTRIES[] =
    "SELECT j.lines_processed, e.line_no, "
    "  to_char(e.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), e.level, e.service, e.message, "
    "  e.attributes::text "
    "FROM jobs j LEFT JOIN LATERAL ("
    "  SELECT le.line_no, le.ts, le.level, le.service, le.message, le.attributes FROM log_entries le "
    "  WHERE le.job_id = j.id AND le.line_no > $3::bigint AND le.line_no <= $4::bigint "
    "    AND ($5::text[] IS NULL OR le.level = ANY($5::text[])) "
    "    AND ($6::bigint IS NULL OR le.ts >= " US_TO_TS(
        "$6") ") "
              "    AND ($7::bigint IS NULL OR le.ts < " US_TO_TS(
                  "$7") ") "
                        "    AND ($8::text IS NULL OR strpos(lower(le.message), lower($8::text)) > 0) "
                        "  ORDER BY le.line_no LIMIT $9::int) e ON true "
                        "WHERE j.id = $1::uuid AND j.tenant_id = $2::uuid ORDER BY e.line_no";

/*
 * total is jobs.lines_invalid (every invalid line); stored counts the rows
 * kept (the worker keeps at most EH_MAX_ERRORS_STORED): truncated when fewer.
 * The count is a LATERAL of its own so that it runs once, not per row.
 */
static const char SQL_ERRORS[] =
    "SELECT j.lines_invalid, s.stored, e.line_no, e.reason FROM jobs j "
    "CROSS JOIN LATERAL (SELECT count(*) AS stored FROM job_errors WHERE job_id = j.id) s "
    "LEFT JOIN LATERAL (SELECT line_no, reason FROM job_errors WHERE job_id = j.id AND line_no > $3::bigint "
    "  ORDER BY line_no LIMIT $4::int OFFSET $5::bigint) e ON true "
    "WHERE j.id = $1::uuid AND j.tenant_id = $2::uuid ORDER BY e.line_no";

static const char SQL_ERROR_COUNTS[] =
    "SELECT id::text, lines_invalid FROM jobs WHERE tenant_id = $1::uuid AND id = ANY($2::uuid[])";

/* Ends a live job at once; the worker's fenced statements all require status = 'processing'. */
static const char SQL_CANCEL[] =
    "UPDATE jobs SET status = 'cancelled', completed_at = now(), lease_owner = NULL, lease_until = NULL, "
    "  event_seq = event_seq + 1, updated_at = now() "
    "WHERE id = $1::uuid AND tenant_id = $2::uuid AND status IN ('queued', 'processing') "
    "RETURNING " EH_JOB_COLUMNS;

/*
 * The job row goes and its purge is recorded in one statement: the job is
 * 404 from now on, and the purger (worker/purge.c) removes the rest in
 * small batches. A concurrent second delete waits for the row lock, then
 * finds no row.
 */
static const char SQL_DELETE[] = "WITH d AS (DELETE FROM jobs WHERE id = $1::uuid AND tenant_id = $2::uuid "
                                 "    AND status IN ('completed', 'failed', 'cancelled') RETURNING *), "
                                 "  p AS (INSERT INTO job_purges (job_id, tenant_id, object_key, lines_total, reason) "
                                 "    SELECT id, tenant_id, object_key, lines_total, 'delete' FROM d) "
                                 "SELECT " EH_JOB_COLUMNS " FROM d";

/* The columns of each result, by name. */
enum { LIST_COL_CREATED_AT_US = EH_JOB_COL_COUNT };
enum {
    ENTRIES_COL_COMMITTED,
    ENTRIES_COL_LINE_NO,
    ENTRIES_COL_TIMESTAMP,
    ENTRIES_COL_LEVEL,
    ENTRIES_COL_SERVICE,
    ENTRIES_COL_MESSAGE,
    ENTRIES_COL_ATTRIBUTES
};
enum { ERRORS_COL_TOTAL, ERRORS_COL_STORED, ERRORS_COL_LINE_NO, ERRORS_COL_REASON };
enum { COUNTS_COL_ID, COUNTS_COL_LINES_INVALID };

static int64_t num(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Runs sql; NULL with *rc set to the failure (EH_AGAIN: the database went away). */
static PGresult *run(eh_db_t *db, const char *sql, int n, const char *const *params, int *rc)
{
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, sql, n, params, &status);
    *rc = res != NULL ? EH_OK : status == EH_AGAIN ? EH_AGAIN : EH_ERR;
    return res;
}

/* One job row of res into out: EH_OK, EH_DECLINED (no row) or EH_ERR. */
static int one_job(PGresult *res, eh_job_t *out)
{
    int rc = PQntuples(res) == 0 ? EH_DECLINED : eh_job_from_row(res, 0, out);
    PQclear(res);
    return rc;
}

int api_jobq_get(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out)
{
    const char *params[] = {job_id, tenant_id};
    int rc;
    PGresult *res = run(db, SQL_GET, 2, params, &rc);
    return res != NULL ? one_job(res, out) : rc;
}

/* ---- list ---- */

void api_jobq_job_page_free(api_jobq_job_page_t *page)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < page->count; i++)
        eh_job_clear(&page->jobs[i]);
    free(page->jobs);
    memset(page, 0, sizeof(*page));
}

int api_jobq_list(eh_db_t *db, const api_jobq_list_req_t *req, api_jobq_job_page_t *out)
{
    memset(out, 0, sizeof(*out));
    char after_us[24], lim[24];
    snprintf(after_us, sizeof(after_us), "%lld", (long long)req->after.created_at_us);
    snprintf(lim, sizeof(lim), "%d", req->limit + 1);
    const char *params[] = {req->tenant_id, req->has_status ? eh_job_status_name(req->status) : NULL,
                            req->has_after ? after_us : NULL, req->has_after ? req->after.id : NULL, lim};
    int rc;
    PGresult *res = run(db, SQL_LIST, 5, params, &rc);
    if (res == NULL)
        return rc;
    int rows = PQntuples(res);
    size_t n = rows > req->limit ? (size_t)req->limit : (size_t)rows;
    out->jobs = calloc(n > 0 ? n : 1, sizeof(*out->jobs));
    if (out->jobs == NULL) {
        PQclear(res);
        return EH_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        if (eh_job_from_row(res, (int)i, &out->jobs[i]) != EH_OK) {
            PQclear(res);
            api_jobq_job_page_free(out);
            return EH_ERR;
        }
        out->count++;
    }
    if (rows > req->limit && n > 0) {
        out->has_next = true;
        out->next.created_at_us = num(res, (int)n - 1, LIST_COL_CREATED_AT_US);
        snprintf(out->next.id, sizeof(out->next.id), "%s", out->jobs[n - 1].id);
    }
    PQclear(res);
    return EH_OK;
}

/* ---- entries ---- */

void api_jobq_entry_page_free(api_jobq_entry_page_t *page)
{
    if (page == NULL)
        return;
    free(page->entries);
    PQclear(page->priv);
    memset(page, 0, sizeof(*page));
}

/* '{info,error}' for the level bits; false when bits is 0 (no filter). */
static bool levels_literal(unsigned bits, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < API_JOBQ_LEVEL_COUNT; i++) {
        if ((bits & (1u << i)) == 0)
            continue;
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", used == 0 ? "{" : ",", API_JOBQ_LEVEL_NAMES[i]);
    }
    if (used == 0)
        return false;
    snprintf(out + used, outlen - used, "}");
    return true;
}

static bool entries_filtered(const api_jobq_entries_req_t *req)
{
    return req->levels != 0 || req->has_since || req->has_until || req->q != NULL;
}

static void entry_of_row(const PGresult *res, int row, api_jobq_entry_t *e)
{
    e->line_no = num(res, row, ENTRIES_COL_LINE_NO);
    e->timestamp = PQgetvalue(res, row, ENTRIES_COL_TIMESTAMP);
    e->level = PQgetvalue(res, row, ENTRIES_COL_LEVEL);
    e->service = PQgetisnull(res, row, ENTRIES_COL_SERVICE) ? NULL : PQgetvalue(res, row, ENTRIES_COL_SERVICE);
    e->message = PQgetvalue(res, row, ENTRIES_COL_MESSAGE);
    e->message_len = (size_t)PQgetlength(res, row, ENTRIES_COL_MESSAGE);
    e->attributes = PQgetvalue(res, row, ENTRIES_COL_ATTRIBUTES);
    e->attributes_len = (size_t)PQgetlength(res, row, ENTRIES_COL_ATTRIBUTES);
}

int api_jobq_entries(eh_db_t *db, const api_jobq_entries_req_t *req, api_jobq_entry_page_t *out)
{
    memset(out, 0, sizeof(*out));
    bool filtered = entries_filtered(req);
    int64_t window = req->scan_window > 0 ? req->scan_window : ENTRIES_SCAN_WINDOW_DEFAULT;
    int64_t upto = !filtered || req->after_line > INT64_MAX - window ? INT64_MAX : req->after_line + window;
    char after[24], upto_s[24], since[24], until[24], lim[24], levels[128];
    snprintf(after, sizeof(after), "%lld", (long long)req->after_line);
    snprintf(upto_s, sizeof(upto_s), "%lld", (long long)upto);
    snprintf(since, sizeof(since), "%lld", (long long)req->since_us);
    snprintf(until, sizeof(until), "%lld", (long long)req->until_us);
    snprintf(lim, sizeof(lim), "%d", req->limit + 1);
    bool has_levels = levels_literal(req->levels, levels, sizeof(levels));
    const char *params[] = {req->job_id,
                            req->tenant_id,
                            after,
                            upto_s,
                            has_levels ? levels : NULL,
                            req->has_since ? since : NULL,
                            req->has_until ? until : NULL,
                            req->q,
                            lim};
    int rc;
    PGresult *res = run(db, SQL_ENTRIES, 9, params, &rc);
    if (res == NULL)
        return rc;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return EH_DECLINED;
    }
    int64_t committed = num(res, 0, ENTRIES_COL_COMMITTED);
    int n = 0; /* rows that are entries (not the NULL row of an empty page) */
    for (int i = 0; i < rows; i++)
        n += !PQgetisnull(res, i, ENTRIES_COL_LINE_NO);
    int keep = n > req->limit ? req->limit : n;
    out->entries = calloc(keep > 0 ? (size_t)keep : 1, sizeof(*out->entries));
    if (out->entries == NULL) {
        PQclear(res);
        return EH_ERR;
    }
    out->priv = res;
    for (int i = 0; i < keep; i++)
        entry_of_row(res, i, &out->entries[i]);
    out->count = (size_t)keep;
    if (n > req->limit) {
        out->has_next = true;
        out->next_line = out->entries[keep - 1].line_no;
    } else if (upto < committed) {
        /* The window ended before what is committed: the next page resumes the scan there. */
        out->has_next = true;
        out->next_line = upto;
    }
    return EH_OK;
}

/* ---- errors ---- */

void api_jobq_error_page_free(api_jobq_error_page_t *page)
{
    if (page == NULL)
        return;
    free(page->errors);
    PQclear(page->priv);
    memset(page, 0, sizeof(*page));
}

int api_jobq_errors(eh_db_t *db, const api_jobq_errors_req_t *req, api_jobq_error_page_t *out)
{
    memset(out, 0, sizeof(*out));
    char after[24], lim[24], off[24];
    snprintf(after, sizeof(after), "%lld", (long long)req->after_line);
    snprintf(lim, sizeof(lim), "%d", req->limit + 1);
    snprintf(off, sizeof(off), "%lld", (long long)req->offset);
    const char *params[] = {req->job_id, req->tenant_id, after, lim, off};
    int rc;
    PGresult *res = run(db, SQL_ERRORS, 5, params, &rc);
    if (res == NULL)
        return rc;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return EH_DECLINED;
    }
    out->total = num(res, 0, ERRORS_COL_TOTAL);
    out->truncated = out->total > num(res, 0, ERRORS_COL_STORED);
    int n = 0;
    for (int i = 0; i < rows; i++)
        n += !PQgetisnull(res, i, ERRORS_COL_LINE_NO);
    int keep = n > req->limit ? req->limit : n;
    out->errors = calloc(keep > 0 ? (size_t)keep : 1, sizeof(*out->errors));
    if (out->errors == NULL) {
        PQclear(res);
        return EH_ERR;
    }
    out->priv = res;
    for (int i = 0; i < keep; i++) {
        out->errors[i].line_no = num(res, i, ERRORS_COL_LINE_NO);
        out->errors[i].reason = PQgetvalue(res, i, ERRORS_COL_REASON);
    }
    out->count = (size_t)keep;
    out->has_next = n > req->limit;
    return EH_OK;
}

int api_jobq_error_counts(eh_db_t *db, const char *tenant_id, const char *const *job_ids, size_t n, int64_t *counts)
{
    for (size_t i = 0; i < n; i++)
        counts[i] = -1;
    if (n == 0)
        return EH_OK;
    /* '{id,id,...}': the ids are validated UUIDs, so the array literal needs no quoting. */
    size_t cap = n * (EH_UUID_STRLEN + 1) + 2, len = 0;
    char *ids = malloc(cap);
    if (ids == NULL)
        return EH_ERR;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(ids + len, cap - len, "%c%.36s", i == 0 ? '{' : ',', job_ids[i]);
    snprintf(ids + len, cap - len, "}");
    const char *params[] = {tenant_id, ids};
    int rc;
    PGresult *res = run(db, SQL_ERROR_COUNTS, 2, params, &rc);
    free(ids);
    if (res == NULL)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(PQgetvalue(res, r, COUNTS_COL_ID), job_ids[i]) == 0)
                counts[i] = num(res, r, COUNTS_COL_LINES_INVALID);
        }
    }
    PQclear(res);
    return EH_OK;
}

/* ---- state changes ---- */

/* After a change that touched no row: EH_DECLINED (no such job) or API_JOBQ_CONFLICT with the job in out. */
static int why_unchanged(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out)
{
    int rc = api_jobq_get(db, tenant_id, job_id, out);
    return rc == EH_OK ? API_JOBQ_CONFLICT : rc;
}

int api_jobq_cancel(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out)
{
    const char *params[] = {job_id, tenant_id};
    int rc;
    PGresult *res = run(db, SQL_CANCEL, 2, params, &rc);
    if (res == NULL)
        return rc;
    rc = one_job(res, out);
    return rc == EH_DECLINED ? why_unchanged(db, tenant_id, job_id, out) : rc;
}

int api_jobq_delete(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out)
{
    const char *params[] = {job_id, tenant_id};
    int rc;
    PGresult *res = run(db, SQL_DELETE, 2, params, &rc);
    if (res == NULL)
        return rc;
    rc = one_job(res, out);
    if (rc == EH_OK) {
        out->seq++; /* the final "deleted" event follows every event the job had */
        return EH_OK;
    }
    return rc == EH_DECLINED ? why_unchanged(db, tenant_id, job_id, out) : rc;
}
