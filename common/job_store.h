/*
 * job_store.h - reading jobs from PostgreSQL into eh_job_t.
 *
 * EH_JOB_COLUMNS is the select list every job query returns (also in
 * RETURNING clauses), in the order eh_job_from_row expects.
 */
#ifndef EH_JOB_STORE_H
#define EH_JOB_STORE_H

#include <libpq-fe.h>

#include "db.h"
#include "job.h"

#define EH_JOB_COLUMNS                                                                                                 \
    "id::text, file_name, size_bytes, status, lines_total, lines_processed, entries_ingested, lines_invalid, "         \
    "(extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM started_at) * 1000)::bigint, "               \
    "(extract(epoch FROM completed_at) * 1000)::bigint, error, event_seq"

/* The position of each EH_JOB_COLUMNS field in a result; queries that add columns put them from EH_JOB_COL_COUNT on. */
enum {
    EH_JOB_COL_ID,
    EH_JOB_COL_FILE_NAME,
    EH_JOB_COL_SIZE_BYTES,
    EH_JOB_COL_STATUS,
    EH_JOB_COL_LINES_TOTAL,
    EH_JOB_COL_LINES_PROCESSED,
    EH_JOB_COL_ENTRIES_INGESTED,
    EH_JOB_COL_LINES_INVALID,
    EH_JOB_COL_CREATED_AT_MS,
    EH_JOB_COL_STARTED_AT_MS,
    EH_JOB_COL_COMPLETED_AT_MS,
    EH_JOB_COL_ERROR,
    EH_JOB_COL_EVENT_SEQ,
    EH_JOB_COL_COUNT
};

/*
 * The jobs whose ids are in $1, a UUID array literal ("{id,id,...}"): one
 * round trip for many. The column after EH_JOB_COLUMNS is the job's tenant:
 * a caller that serves a tenant compares it (api_lookup_job).
 */
#define EH_JOBS_BY_IDS_SQL "SELECT " EH_JOB_COLUMNS ", tenant_id::text FROM jobs WHERE id = ANY($1::uuid[])"

/* Fills out (cleared first) from row of res, which has EH_JOB_COLUMNS first. EH_OK or EH_ERR. */
EH_MUST_CHECK int eh_job_from_row(const PGresult *res, int row, eh_job_t *out);

/*
 * Loads job id (a valid UUID string) of tenant_id. EH_OK; EH_DECLINED when
 * the tenant has no such job (another tenant's job is not there either);
 * EH_AGAIN when the database is unreachable; EH_ERR otherwise.
 */
EH_MUST_CHECK int eh_job_load(eh_db_t *db, const char *id, const char *tenant_id, eh_job_t *out);

#endif
