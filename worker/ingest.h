/*
 * ingest.h - running one claimed job: stream the object from S3 through the
 * line splitter and the validator, and commit batches that are fenced on the
 * job's lease (NOTES.md: exactly-once on top of at-least-once).
 */
#ifndef EH_WORKER_INGEST_H
#define EH_WORKER_INGEST_H

#include <stdbool.h>

#include "config.h"
#include "db.h"
#include "eh.h"
#include "job.h"
#include "job_queue.h"
#include "mq.h"
#include "s3.h"

/* A consumer process's connections, owned by it and reused from job to job. */
typedef struct worker_ctx {
    const eh_config_t *cfg; /* borrowed */
    eh_db_t *db;            /* NULL until connected */
    eh_mq_t *mq;            /* NULL or closed while the broker is away */
    eh_s3_t *s3;
    bool consuming;         /* eh_mq_consume done on mq and not cancelled */
    int64_t mq_retry_at_ms; /* monotonic: no reconnect before */
    int64_t mq_backoff_ms;
    char owner[160]; /* lease owner "<host>:<pid>:<nonce>" */
    uint64_t rng;    /* xorshift state for the per-line delay */
} worker_ctx_t;

/* What a successful claim returned: the job row and where to resume. */
typedef struct worker_claim {
    eh_job_t job; /* owned; EH_JOB_COLUMNS of the claimed row */
    int attempt;  /* attempts after the claim: the fence with owner */
    char object_key[EH_OBJECT_KEY_MAX];
    int64_t bytes_processed; /* the checkpoint's byte offset (lines in job.lines_processed) */
} worker_claim_t;

/*
 * (Re)connects the broker when it is closed and the back-off allows; with
 * consume, also starts consuming eh.jobs (prefetch 1). EH_OK when ctx->mq is
 * usable, EH_AGAIN otherwise.
 */
int worker_mq_ensure(worker_ctx_t *ctx, bool consume);

/* Connects or checks the database. EH_OK or EH_AGAIN. */
int worker_db_ensure(worker_ctx_t *ctx);

/* Waits ms, servicing the AMQP connection when there is one; returns early on a stop request. */
void worker_idle(worker_ctx_t *ctx, int64_t ms);

/*
 * Runs a claimed job to its end: completed, failed, given back to the queue
 * on a stop request, or abandoned when the lease was lost or a dependency
 * stayed down (the reaper then takes over). Never returns an error: what
 * happened is logged and recorded in the job row.
 */
void worker_ingest_run(worker_ctx_t *ctx, worker_claim_t *claim);

#endif
