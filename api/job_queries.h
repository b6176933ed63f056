/*
 * job_queries.h - the one data layer for a tenant's jobs, shared by the REST
 * handlers (jobs.c, job_list.c) and the GraphQL resolvers (api/graphql/).
 *
 * Every function takes the caller's tenant id: a job of another tenant is
 * exactly as absent as a job that does not exist (EH_DECLINED). Every SQL
 * text lives in job_queries.c and nowhere else. Functions take a borrowed
 * connection (eh_db_pool_acquire), so that a resolver may run several
 * queries on one.
 *
 * The returned structs are plain C: a JSON writer and a GraphQL resolver
 * read the same fields. Strings of a page point into the page (borrowed
 * until its *_free); eh_job_t entries own theirs.
 *
 * Results: EH_OK; EH_DECLINED when the tenant has no such job; EH_AGAIN when
 * the database is unreachable (503); EH_ERR otherwise (500). Arguments are
 * validated by the caller (api_params_*): these functions trust them.
 */
#ifndef EH_API_JOB_QUERIES_H
#define EH_API_JOB_QUERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "eh.h"
#include "job.h"

/* Limits of the contract. */
#define API_JOBQ_JOBS_LIMIT_MAX 200
#define API_JOBQ_JOBS_LIMIT_DEFAULT 50
#define API_JOBQ_ENTRIES_LIMIT_MAX 1000
#define API_JOBQ_ENTRIES_LIMIT_DEFAULT 100
#define API_JOBQ_ERRORS_LIMIT_MAX 1000
#define API_JOBQ_ERRORS_LIMIT_DEFAULT 100
#define API_JOBQ_ERRORS_OFFSET_MAX 1000000000LL /* 10^9; past it: 400 */

/* ---- one job ---- */

/* The tenant's job id (a lowercase UUID) into out. */
EH_MUST_CHECK int api_jobq_get(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out);

/* ---- the job list: newest first, keyset on (created_at, id) ---- */

/* A position in the list: the last job of a page. created_at in microseconds (PostgreSQL's precision). */
typedef struct api_jobq_job_key {
    int64_t created_at_us;
    char id[EH_UUID_STRLEN + 1];
} api_jobq_job_key_t;

typedef struct api_jobq_list_req {
    const char *tenant_id;
    bool has_status; /* filter on status */
    eh_job_status_t status;
    int limit;      /* 1..API_JOBQ_JOBS_LIMIT_MAX */
    bool has_after; /* continue after this key (a decoded cursor) */
    api_jobq_job_key_t after;
} api_jobq_list_req_t;

typedef struct api_jobq_job_page {
    eh_job_t *jobs; /* count entries, owned */
    size_t count;
    bool has_next;           /* more jobs follow: next is the key to continue after */
    api_jobq_job_key_t next; /* the key of the last job of this page */
} api_jobq_job_page_t;

/* One page of the tenant's jobs. out is zeroed first; free it with api_jobq_job_page_free on every result. */
EH_MUST_CHECK int api_jobq_list(eh_db_t *db, const api_jobq_list_req_t *req, api_jobq_job_page_t *out);
void api_jobq_job_page_free(api_jobq_job_page_t *page);

/* ---- entries of a job: line order, keyset on line_no ---- */

/* Levels as a bit set: bit i is API_JOBQ_LEVEL_NAMES[i]. 0 means every level. */
#define API_JOBQ_LEVEL_COUNT 7
extern const char *const API_JOBQ_LEVEL_NAMES[API_JOBQ_LEVEL_COUNT];

typedef struct api_jobq_entries_req {
    const char *tenant_id;
    const char *job_id;
    int64_t after_line; /* 0 from the start; otherwise entries with line_no > after_line */
    int limit;          /* 1..API_JOBQ_ENTRIES_LIMIT_MAX */
    unsigned levels;    /* bit set of API_JOBQ_LEVEL_NAMES; 0: any */
    bool has_since, has_until;
    int64_t since_us, until_us; /* epoch microseconds; since inclusive, until exclusive */
    const char *q;              /* case-insensitive substring of the message; NULL: none */
    /*
     * With a filter, one page looks at no more than scan_window line numbers
     * after after_line (0: the configured default): a filter that matches
     * nothing costs a bounded time per page, and the page's next_line resumes
     * the scan. Without a filter the index range stops at limit rows.
     */
    int64_t scan_window;
} api_jobq_entries_req_t;

typedef struct api_jobq_entry {
    int64_t line_no;
    const char *timestamp; /* RFC 3339 UTC, milliseconds: "2026-11-21T10:00:00.123Z" */
    const char *level;     /* normalized */
    const char *message;
    const char *service;    /* NULL when absent */
    const char *attributes; /* a JSON object as text */
    size_t message_len, attributes_len;
} api_jobq_entry_t;

typedef struct api_jobq_entry_page {
    api_jobq_entry_t *entries; /* count entries, borrowed from the page */
    size_t count;
    bool has_next;     /* resume with after_line = next_line */
    int64_t next_line; /* the last line looked at (the last entry's, or the end of the scanned window) */
    void *priv;        /* the PGresult the strings point into */
} api_jobq_entry_page_t;

/* One page of the tenant's job's entries. Free with api_jobq_entry_page_free on every result. */
EH_MUST_CHECK int api_jobq_entries(eh_db_t *db, const api_jobq_entries_req_t *req, api_jobq_entry_page_t *out);
void api_jobq_entry_page_free(api_jobq_entry_page_t *page);

/* ---- the errors of a job (line order) ---- */

typedef struct api_jobq_errors_req {
    const char *tenant_id;
    const char *job_id;
    int limit;          /* 1..API_JOBQ_ERRORS_LIMIT_MAX */
    int64_t offset;     /* REST: rows to skip (0..API_JOBQ_ERRORS_OFFSET_MAX) */
    int64_t after_line; /* GraphQL: keyset, rows with line_no > after_line (0: none); used with offset 0 */
} api_jobq_errors_req_t;

typedef struct api_jobq_line_error {
    int64_t line_no;
    const char *reason; /* borrowed from the page */
} api_jobq_line_error_t;

typedef struct api_jobq_error_page {
    api_jobq_line_error_t *errors; /* count entries */
    size_t count;
    int64_t total;  /* the job's lines_invalid: every invalid line, stored or only counted */
    bool truncated; /* lines_invalid exceeds the rows stored (EH_MAX_ERRORS_STORED) */
    bool has_next;  /* a row follows this page */
    void *priv;
} api_jobq_error_page_t;

/* One page of the tenant's job's error rows. Free with api_jobq_error_page_free on every result. */
EH_MUST_CHECK int api_jobq_errors(eh_db_t *db, const api_jobq_errors_req_t *req, api_jobq_error_page_t *out);
void api_jobq_error_page_free(api_jobq_error_page_t *page);

/*
 * GraphQL's N+1 guard: lines_invalid of each of n job ids (lowercase UUIDs)
 * of the tenant, in one query. counts[i] is -1 for an id the tenant does
 * not have.
 */
EH_MUST_CHECK int api_jobq_error_counts(eh_db_t *db, const char *tenant_id, const char *const *job_ids, size_t n,
                                        int64_t *counts);

/* ---- state changes ---- */

/*
 * Cancels the tenant's job if it is queued or processing: it is cancelled
 * at once (a worker's next fenced commit finds it no longer processing and
 * stops). EH_OK with out set (the job after the change, seq grown);
 * API_JOBQ_CONFLICT when it was already completed, failed or cancelled
 * (out holds it); EH_DECLINED: no such job.
 */
#define API_JOBQ_CONFLICT 1 /* the job's state forbids the change */
EH_MUST_CHECK int api_jobq_cancel(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out);

/*
 * Deletes the tenant's job if it is terminal: its row goes at once (404 from
 * now on) and a purge is recorded in the same statement; the worker's purger
 * removes entries, errors and the stored object in small batches. EH_OK with
 * out holding the job as it was (seq grown, for the final WebSocket event);
 * API_JOBQ_CONFLICT while queued or processing; EH_DECLINED: no such job
 * (also for the loser of two concurrent deletes).
 */
EH_MUST_CHECK int api_jobq_delete(eh_db_t *db, const char *tenant_id, const char *job_id, eh_job_t *out);

#endif
