/* claim.c - fair claims of jobs; see claim.h. */
#include "claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_store.h"
#include "log.h"

#define CLAIM_SET                                                                                                      \
    "UPDATE jobs SET status = 'processing', attempts = attempts + 1, lease_owner = $2, "                               \
    " lease_until = clock_timestamp() + make_interval(secs => $3::double precision / 1000), "                          \
    " started_at = COALESCE(started_at, now()), event_seq = event_seq + 1, updated_at = now() "
#define CLAIM_RETURNING                                                                                                \
    "RETURNING " EH_JOB_COLUMNS ", attempts, object_key, bytes_processed, tenant_id::text, coalesce(request_id, '')"

/* Column numbers after EH_JOB_COLUMNS in CLAIM_RETURNING. */
enum { COL_ATTEMPTS = EH_JOB_COL_COUNT, COL_OBJECT_KEY, COL_BYTES_PROCESSED, COL_TENANT_ID, COL_REQUEST_ID };

/*
 * The fair pick: among published queued jobs, the tenant with the fewest
 * jobs running first, then the one waiting longest (updated_at: a job given
 * back after its slice waits again from the end). Locked rows are skipped:
 * another process is claiming them. $1 is unused here but keeps one
 * parameter list for both statements.
 */
static const char SQL_CLAIM_FAIR[] =
    "WITH running AS (SELECT tenant_id, count(*) AS n FROM jobs WHERE status = 'processing' GROUP BY tenant_id), "
    "pick AS (SELECT j.id AS pick_id FROM jobs j LEFT JOIN running r ON r.tenant_id = j.tenant_id "
    "  WHERE j.status = 'queued' AND j.published_at IS NOT NULL AND j.attempts < $4::int "
    "    AND $1::uuid IS NOT NULL "
    "  ORDER BY COALESCE(r.n, 0), j.updated_at LIMIT 1 FOR UPDATE OF j SKIP LOCKED) " CLAIM_SET
    "FROM pick WHERE jobs.id = pick.pick_id " CLAIM_RETURNING;

/*
 * The message's own job: queued (perhaps not stamped published yet), or
 * processing with an expired lease, and attempts left. It waits for the row
 * lock rather than skipping it: the api stamps published_at right after the
 * broker's confirm, so the message often arrives while that short UPDATE
 * still holds the row. The wait is short (the whole process's loop waits
 * with it); a row held longer belongs to a worker in the middle of a batch.
 */
static const char SQL_CLAIM_OWN[] = CLAIM_SET "WHERE id = $1::uuid "
                                              " AND (status = 'queued' OR (status = 'processing' AND lease_until < "
                                              "now())) AND attempts < $4::int " CLAIM_RETURNING;

static const char SQL_LOCK_TIMEOUT[] = "SELECT set_config('lock_timeout', $1, true)";
#define CLAIM_LOCK_TIMEOUT "1s"
#define SQLSTATE_LOCK_NOT_AVAILABLE "55P03"

static const char SQL_WAITING[] = "SELECT count(*) FROM jobs WHERE status = 'queued' AND published_at IS NOT NULL";

/* One claim statement in its own transaction. EH_OK, EH_DECLINED (no row), EH_AGAIN, EH_ERR. */
static int claim_with(worker_conn_t *conn, const char *sql, const char *const *params, worker_claim_t *claim)
{
    eh_db_t *db = conn->db;
    const char *timeout[] = {CLAIM_LOCK_TIMEOUT};
    int rc = eh_db_begin(db);
    if (rc == EH_OK)
        rc = eh_db_exec(db, SQL_LOCK_TIMEOUT, 1, timeout);
    if (rc != EH_OK) {
        eh_db_rollback(db);
        return rc;
    }
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, sql, 4, params, &status);
    if (res == NULL) {
        bool busy = strcmp(eh_db_last_sqlstate(db), SQLSTATE_LOCK_NOT_AVAILABLE) == 0;
        eh_db_rollback(db);
        /*
         * Any other failure (connection lost, statement cancelled, deadlock,
         * server short of resources) says nothing about the job: the
         * message is kept and the claim tried again, never dropped.
         */
        EH_UNUSED(status);
        return busy ? EH_DECLINED : EH_AGAIN;
    }
    rc = EH_DECLINED;
    if (PQntuples(res) == 1 && eh_job_from_row(res, 0, &claim->job) == EH_OK) {
        claim->attempt = atoi(PQgetvalue(res, 0, COL_ATTEMPTS));
        snprintf(claim->object_key, sizeof(claim->object_key), "%s", PQgetvalue(res, 0, COL_OBJECT_KEY));
        claim->bytes_processed = strtoll(PQgetvalue(res, 0, COL_BYTES_PROCESSED), NULL, 10);
        snprintf(claim->tenant_id, sizeof(claim->tenant_id), "%s", PQgetvalue(res, 0, COL_TENANT_ID));
        snprintf(claim->request_id, sizeof(claim->request_id), "%s", PQgetvalue(res, 0, COL_REQUEST_ID));
        rc = EH_OK;
    } else if (PQntuples(res) == 1) {
        rc = EH_ERR;
    }
    PQclear(res);
    if (rc != EH_OK) {
        /* Nothing claimed, or a row we could not read: never commit a claim we will not run. */
        if (rc == EH_ERR)
            eh_job_clear(&claim->job);
        eh_db_rollback(db);
        return rc;
    }
    if (eh_db_commit(db) != EH_OK) {
        eh_job_clear(&claim->job);
        return EH_AGAIN; /* not claimed after all; the message is retried */
    }
    return EH_OK;
}

int worker_claim_next(worker_conn_t *conn, const char *job_id, worker_claim_t *claim)
{
    if (worker_conn_db(conn) != EH_OK)
        return EH_AGAIN;
    char lease[24], max_attempts[24];
    snprintf(lease, sizeof(lease), "%lld", (long long)conn->cfg->lease_ms);
    snprintf(max_attempts, sizeof(max_attempts), "%lld", (long long)conn->cfg->max_attempts);
    const char *params[] = {job_id, conn->owner, lease, max_attempts};
    int rc = claim_with(conn, SQL_CLAIM_FAIR, params, claim);
    if (rc != EH_DECLINED)
        return rc;
    return claim_with(conn, SQL_CLAIM_OWN, params, claim);
}

int worker_claim_waiting(worker_conn_t *conn, int64_t *count)
{
    if (worker_conn_db(conn) != EH_OK)
        return EH_AGAIN;
    int status = EH_ERR;
    PGresult *res = eh_db_query(conn->db, SQL_WAITING, 0, NULL, &status);
    if (res == NULL)
        return EH_AGAIN;
    *count = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return EH_OK;
}
