#include "job_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_JOB_LOAD[] = "SELECT " EH_JOB_COLUMNS " FROM jobs WHERE id = $1 AND tenant_id = $2";

static int64_t int_or_null(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return EH_TIME_NULL;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int eh_job_from_row(const PGresult *res, int row, eh_job_t *out)
{
    memset(out, 0, sizeof(*out));
    if (PQnfields(res) < EH_JOB_COL_COUNT || row >= PQntuples(res))
        return EH_ERR;
    snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, row, EH_JOB_COL_ID));
    out->file_name = strdup(PQgetvalue(res, row, EH_JOB_COL_FILE_NAME));
    out->size_bytes = int_or_null(res, row, EH_JOB_COL_SIZE_BYTES);
    if (eh_job_status_parse(PQgetvalue(res, row, EH_JOB_COL_STATUS), &out->status) != EH_OK) {
        eh_job_clear(out);
        return EH_ERR;
    }
    out->lines_total = int_or_null(res, row, EH_JOB_COL_LINES_TOTAL);
    out->lines_processed = int_or_null(res, row, EH_JOB_COL_LINES_PROCESSED);
    out->entries_ingested = int_or_null(res, row, EH_JOB_COL_ENTRIES_INGESTED);
    out->lines_invalid = int_or_null(res, row, EH_JOB_COL_LINES_INVALID);
    out->created_at_ms = int_or_null(res, row, EH_JOB_COL_CREATED_AT_MS);
    out->started_at_ms = int_or_null(res, row, EH_JOB_COL_STARTED_AT_MS);
    out->completed_at_ms = int_or_null(res, row, EH_JOB_COL_COMPLETED_AT_MS);
    out->error = PQgetisnull(res, row, EH_JOB_COL_ERROR) ? NULL : strdup(PQgetvalue(res, row, EH_JOB_COL_ERROR));
    out->seq = int_or_null(res, row, EH_JOB_COL_EVENT_SEQ);
    if (out->file_name == NULL || (!PQgetisnull(res, row, EH_JOB_COL_ERROR) && out->error == NULL)) {
        eh_job_clear(out);
        return EH_ERR;
    }
    return EH_OK;
}

int eh_job_load(eh_db_t *db, const char *id, const char *tenant_id, eh_job_t *out)
{
    const char *params[] = {id, tenant_id};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_JOB_LOAD, 2, params, &status);
    if (res == NULL)
        return status;
    int rc = PQntuples(res) == 0 ? EH_DECLINED : eh_job_from_row(res, 0, out);
    PQclear(res);
    return rc;
}
