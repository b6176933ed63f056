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
    if (PQnfields(res) < 13 || row >= PQntuples(res))
        return EH_ERR;
    snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, row, 0));
    out->file_name = strdup(PQgetvalue(res, row, 1));
    out->size_bytes = int_or_null(res, row, 2);
    if (eh_job_status_parse(PQgetvalue(res, row, 3), &out->status) != EH_OK) {
        eh_job_clear(out);
        return EH_ERR;
    }
    out->lines_total = int_or_null(res, row, 4);
    out->lines_processed = int_or_null(res, row, 5);
    out->entries_ingested = int_or_null(res, row, 6);
    out->lines_invalid = int_or_null(res, row, 7);
    out->created_at_ms = int_or_null(res, row, 8);
    out->started_at_ms = int_or_null(res, row, 9);
    out->completed_at_ms = int_or_null(res, row, 10);
    out->error = PQgetisnull(res, row, 11) ? NULL : strdup(PQgetvalue(res, row, 11));
    out->seq = int_or_null(res, row, 12);
    if (out->file_name == NULL || (!PQgetisnull(res, row, 11) && out->error == NULL)) {
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
