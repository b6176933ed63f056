/*
 * quota.c - the per-tenant limit on active jobs (EH_TENANT_MAX_ACTIVE_JOBS),
 * decided inside the transaction that creates the job.
 *
 * Race-free without SERIALIZABLE: the tenant's row is locked (FOR NO KEY
 * UPDATE, which the jobs foreign key's KEY SHARE lock does not wait for)
 * before the count, so two uploads of one tenant take turns, and the second
 * one's count (READ COMMITTED: a new snapshot per statement) sees the first
 * one's committed job. Uploads of different tenants do not wait for each other.
 */
#include "api.h"
#include "log.h"

static const char SQL_LOCK_TENANT[] = "SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE";
static const char SQL_COUNT_ACTIVE[] =
    "SELECT count(*) < $2 FROM jobs WHERE tenant_id = $1 AND status IN ('queued', 'processing')";

int api_quota_reserve(eh_db_t *db, const char *tenant_id, int64_t max_active)
{
    int rc = eh_db_begin(db);
    if (rc != EH_OK || max_active <= 0)
        return rc;
    char max[24];
    snprintf(max, sizeof(max), "%lld", (long long)max_active);
    const char *params[] = {tenant_id, max};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_LOCK_TENANT, 1, params, &status);
    if (res == NULL)
        goto fail;
    bool tenant_exists = PQntuples(res) == 1;
    PQclear(res);
    if (!tenant_exists) {
        status = EH_ERR; /* a key of a deleted tenant: the INSERT's foreign key would refuse it too */
        goto fail;
    }
    res = eh_db_query(db, SQL_COUNT_ACTIVE, 2, params, &status);
    if (res == NULL)
        goto fail;
    bool room = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (room)
        return EH_OK;
    status = EH_DECLINED;
fail:
    eh_db_rollback(db);
    return status;
}
