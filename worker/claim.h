/*
 * claim.h - taking a job in PostgreSQL: one UPDATE that sets the lease.
 *
 * A job message is a wake-up token: the process that consumes it claims
 * the longest-waiting published queued job of the tenant with the fewest
 * jobs running (fair across tenants), and only when there is none the
 * message's own job (which may also be a job whose lease expired). Every
 * queued job has one message out, and every message claims at most one
 * job, so no job is left without a token.
 */
#ifndef EH_WORKER_CLAIM_H
#define EH_WORKER_CLAIM_H

#include "conn.h"
#include "eh.h"
#include "ingest.h"

/*
 * Claims a job for conn's owner, woken by the message of job_id. EH_OK with
 * claim filled; EH_DECLINED when there is nothing to claim; EH_AGAIN when
 * the database is unreachable; EH_ERR otherwise.
 */
EH_MUST_CHECK int worker_claim_next(worker_conn_t *conn, const char *job_id, worker_claim_t *claim);

/* Published queued jobs that wait for a slot (any process's). EH_OK with *count, or EH_AGAIN. */
EH_MUST_CHECK int worker_claim_waiting(worker_conn_t *conn, int64_t *count);

#endif
