/*
 * The record stage of an upload: the Idempotency-Key reservation (before
 * anything is stored) and the job row (after the object exists: a row never
 * exists without its object).
 *
 * Idempotency (CONTRACT.md, "Idempotent upload"; migrations/0008): the key
 * is reserved by an INSERT on (tenant, key), so of concurrent identical
 * requests exactly one goes on and the others find its row: in flight (409
 * idempotency_in_progress), done (its first answer again, 200), or made for
 * other content (409 idempotency_conflict). The first answer is written in
 * the transaction of the job row, so a job and its replayable answer exist
 * together or not at all. A request that ends without a job deletes its
 * reservation: it does not use the key up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_store.h"
#include "log.h"
#include "upload.h"

/* An in-flight reservation whose request died without settling it is taken over after this long. */
#define IDEM_LEASE_S "900"

/* request_id: the upload's X-Request-Id, so that a message published again from the row still carries it. */
static const char SQL_INSERT_JOB[] =
    "INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total, tenant_id, request_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " EH_JOB_COLUMNS;

static const char SQL_IDEM_PURGE[] = "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
                                     "SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT 100))";
static const char SQL_IDEM_DROP_STALE[] = "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 "
                                          "AND (expires_at < now() OR (response IS NULL AND lease_until < now()))";
static const char SQL_IDEM_RESERVE[] =
    "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, lease_until, expires_at) "
    "VALUES ($1, $2, $3, now() + $4::bigint * interval '1 second', now() + $5::bigint * interval '1 second') "
    "ON CONFLICT DO NOTHING RETURNING 1";
static const char SQL_IDEM_FIND[] =
    "SELECT request_sha256, response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2";
static const char SQL_IDEM_SETTLE[] =
    "UPDATE idempotency_keys SET response = $3, job_id = $4 WHERE tenant_id = $1 AND key = $2";
static const char SQL_IDEM_RELEASE[] =
    "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND response IS NULL";

enum { FIND_SHA256, FIND_RESPONSE };

static void db_unavailable(api_upload_t *up)
{
    upload_answer_error(up, MHD_HTTP_SERVICE_UNAVAILABLE, "database_unavailable",
                        "the database is not reachable; nothing was stored");
}

/* The answer when the key's row belongs to another request: EH_DECLINED (answer set), or EH_AGAIN (row gone). */
static int answer_existing(api_upload_t *up, eh_db_t *db)
{
    const char *params[] = {up->rq->caller.tenant_id, up->idem_key};
    int status = EH_AGAIN;
    PGresult *res = eh_db_query(db, SQL_IDEM_FIND, 2, params, &status);
    if (res == NULL) {
        db_unavailable(up);
        return EH_DECLINED;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return EH_AGAIN; /* deleted meanwhile (released or expired): try to reserve again */
    }
    if (strcmp(PQgetvalue(res, 0, FIND_SHA256), up->sha_hex) != 0) {
        upload_answer_error(up, MHD_HTTP_CONFLICT, "idempotency_conflict",
                            "this Idempotency-Key was used for a different file");
    } else if (PQgetisnull(res, 0, FIND_RESPONSE)) {
        upload_answer_error(up, MHD_HTTP_CONFLICT, "idempotency_in_progress",
                            "a request with this Idempotency-Key is still being processed");
    } else {
        json_t *first = json_loads(PQgetvalue(res, 0, FIND_RESPONSE), 0, NULL);
        const char *job_id = json_string_value(json_object_get(first, "job_id"));
        if (first == NULL || job_id == NULL) {
            json_decref(first);
            upload_answer_error(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "stored answer unreadable");
        } else {
            snprintf(up->ans_location, sizeof(up->ans_location), "/api/v1/jobs/%s", job_id);
            upload_answer(up, MHD_HTTP_OK, first);
        }
    }
    PQclear(res);
    return EH_DECLINED;
}

static int reserve_on(api_upload_t *up, eh_db_t *db)
{
    if (eh_db_exec(db, SQL_IDEM_PURGE, 0, NULL) != EH_OK)
        eh_log_warn("could not purge expired idempotency keys");
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)up->ctx->cfg->idempotency_ttl_s);
    const char *params[] = {up->rq->caller.tenant_id, up->idem_key, up->sha_hex, IDEM_LEASE_S, ttl};
    for (int attempt = 0; attempt < 3; attempt++) {
        int status = EH_AGAIN;
        if (eh_db_exec(db, SQL_IDEM_DROP_STALE, 2, params) != EH_OK) {
            db_unavailable(up);
            return EH_DECLINED;
        }
        PGresult *res = eh_db_query(db, SQL_IDEM_RESERVE, 5, params, &status);
        if (res == NULL) {
            db_unavailable(up);
            return EH_DECLINED;
        }
        bool reserved = PQntuples(res) == 1;
        PQclear(res);
        if (reserved) {
            up->idem_reserved = true;
            return EH_OK;
        }
        if (answer_existing(up, db) != EH_AGAIN)
            return EH_DECLINED;
    }
    upload_answer_error(up, MHD_HTTP_CONFLICT, "idempotency_in_progress",
                        "a request with this Idempotency-Key is still being processed");
    return EH_DECLINED;
}

int upload_record_reserve(api_upload_t *up)
{
    if (up->idem_key[0] == '\0')
        return EH_OK;
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(up->ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL) {
        db_unavailable(up);
        return EH_DECLINED;
    }
    int rc = reserve_on(up, db);
    eh_db_pool_release(up->ctx->db, db);
    return rc;
}

void upload_record_release(api_upload_t *up)
{
    if (!up->idem_reserved || up->recorded)
        return;
    up->idem_reserved = false;
    const char *params[] = {up->rq->caller.tenant_id, up->idem_key};
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(up->ctx->db, API_DB_WAIT_MS, &status);
    int rc = db != NULL ? eh_db_exec(db, SQL_IDEM_RELEASE, 2, params) : EH_AGAIN;
    if (db != NULL)
        eh_db_pool_release(up->ctx->db, db);
    if (rc != EH_OK)
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "tenant_id", up->rq->caller.tenant_id),
                  "could not release an idempotency key; it frees itself after " IDEM_LEASE_S " s");
}

/* The first answer, stored with the job so that a retry gets it again. */
static int settle_key(eh_db_t *db, api_upload_t *up, const eh_job_t *job)
{
    json_t *body = upload_announce_body(job);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return EH_ERR;
    const char *params[] = {up->rq->caller.tenant_id, up->idem_key, text, job->id};
    int rc = eh_db_exec(db, SQL_IDEM_SETTLE, 4, params);
    free(text);
    return rc;
}

int upload_record_insert(eh_db_t *db, api_upload_t *up, eh_job_t *job)
{
    char size[24], lines[24];
    uint64_t total = up->newlines + (up->last != '\n' ? 1 : 0);
    snprintf(size, sizeof(size), "%llu", (unsigned long long)up->file_bytes);
    snprintf(lines, sizeof(lines), "%llu", (unsigned long long)total);
    const char *tenant_id = up->rq->caller.tenant_id;
    const char *params[] = {up->id, up->file_name, up->key, size, lines, tenant_id, up->rq->request_id};
    /* Opens the transaction with the tenant's row locked: N uploads racing for the last slot, one wins. */
    int rc = api_quota_reserve(db, tenant_id, up->ctx->cfg->tenant_max_active_jobs);
    if (rc != EH_OK)
        return rc;
    int status = EH_AGAIN;
    PGresult *res = eh_db_query(db, SQL_INSERT_JOB, 7, params, &status);
    rc = res != NULL ? eh_job_from_row(res, 0, job) : status;
    PQclear(res);
    if (rc == EH_OK && up->idem_reserved)
        rc = settle_key(db, up, job);
    if (rc != EH_OK) {
        eh_db_rollback(db);
        return rc == EH_DECLINED ? EH_ERR : rc; /* EH_DECLINED means the quota, and only before the INSERT */
    }
    rc = eh_db_commit(db);
    if (rc != EH_OK)
        eh_job_clear(job);
    return rc;
}

/*
 * After a failed INSERT: was the row written anyway (connection lost after
 * the commit)? EH_OK with out filled when it was, EH_DECLINED when it surely
 * was not, EH_AGAIN when nobody can tell.
 */
static int find_after_failure(api_ctx_t *ctx, const char *id, const char *tenant_id, eh_job_t *out)
{
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return EH_AGAIN;
    int rc = eh_job_load(db, id, tenant_id, out);
    eh_db_pool_release(ctx->db, db);
    return rc == EH_OK || rc == EH_DECLINED ? rc : EH_AGAIN;
}

int upload_record_run(api_upload_t *up)
{
    api_ctx_t *ctx = up->ctx;
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL) {
        upload_store_delete_object(ctx, up->key); /* nothing was sent: the row surely does not exist */
        db_unavailable(up);
        return EH_ERR;
    }
    int rc = upload_record_insert(db, up, &up->job);
    eh_db_pool_release(ctx->db, db);
    if (rc == EH_OK) {
        up->recorded = true;
        return EH_OK;
    }
    if (rc == EH_DECLINED) {
        upload_store_delete_object(ctx, up->key); /* rolled back before the INSERT */
        upload_answer_error(up, MHD_HTTP_TOO_MANY_REQUESTS, "quota_exceeded", API_QUOTA_MESSAGE);
        return EH_ERR;
    }
    int found = find_after_failure(ctx, up->id, up->rq->caller.tenant_id, &up->job);
    if (found == EH_OK) {
        up->recorded = true; /* committed after all: go on as if the INSERT had answered */
        return EH_OK;
    }
    if (found == EH_DECLINED)
        upload_store_delete_object(ctx, up->key);
    else
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "job_id", up->id, "object_key", up->key),
                  "job row in doubt: the object is kept (a row never exists without its object)");
    db_unavailable(up);
    return EH_ERR;
}
