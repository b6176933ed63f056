/*
 * ingest.h - one claimed job as a small state machine that the process's
 * event loop (worker/consumer.c) steps whenever its timer is due: stream
 * the object from S3 through the line splitter and the validator, and commit
 * batches that are fenced on the job's lease (NOTES.md: exactly-once on top
 * of at-least-once).
 *
 * A step never blocks on the per-line delay: it processes lines up to the
 * next delay (or, without a delay, up to the next batch commit) and returns
 * the time at which the job wants its next step. Between two steps a job
 * holds no transaction and no S3 request, only its batch and one chunk of
 * the object.
 */
#ifndef EH_WORKER_INGEST_H
#define EH_WORKER_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "eh.h"
#include "job.h"
#include "job_queue.h"

/* What a successful claim returned: the job row and where to resume. */
typedef struct worker_claim {
    eh_job_t job; /* owned; EH_JOB_COLUMNS of the claimed row */
    int attempt;  /* attempts after the claim: the fence with owner */
    char object_key[EH_OBJECT_KEY_MAX];
    int64_t bytes_processed; /* the checkpoint's byte offset (lines in job.lines_processed) */
    char tenant_id[EH_UUID_STRLEN + 1];
    char request_id[128]; /* the upload's X-Request-Id (jobs.request_id), named by every log line about the job */
} worker_claim_t;

typedef struct worker_job worker_job_t;

/* worker_job_step's answers. */
#define WORKER_JOB_RUNNING 0 /* *wake_ms says when to step again */
#define WORKER_JOB_DONE 1    /* completed, failed, given back or lost: destroy it */

/* How a job that gives itself back returns to the queue. */
typedef enum {
    WORKER_RELEASE_STOP,  /* shutdown: the reaper publishes it again */
    WORKER_RELEASE_SLICE, /* fair share: published again at once, to the end of the queue */
} worker_release_t;

/*
 * A job for claim (its contents are moved into the job; claim is left
 * empty). conn is borrowed for the job's life. NULL on out of memory.
 */
EH_MUST_CHECK worker_job_t *worker_job_create(worker_conn_t *conn, worker_claim_t *claim);
void worker_job_destroy(worker_job_t *job);

/*
 * Runs the job's next step (call it at or after its wake time). Returns
 * WORKER_JOB_RUNNING with *wake_ms (monotonic) set, or WORKER_JOB_DONE.
 * Never fails: what happened is logged and recorded in the job row.
 */
int worker_job_step(worker_job_t *job, int64_t now_ms, int64_t *wake_ms);

/* Asks the job to commit its batch and give itself back at its next step (to be made at once). */
void worker_job_release(worker_job_t *job, worker_release_t how);

/*
 * Whether the job may be given back for a fair slice: running (not
 * retrying, not ending) and it committed lines since its claim.
 */
bool worker_job_releasable(const worker_job_t *job);

/* Tells the jobs how many share the process now: it sizes a bulk job's read-ahead. */
void worker_job_set_in_flight(size_t n);

const char *worker_job_id(const worker_job_t *job);
/* Monotonic time of the claim: how long the job has held its slot. */
int64_t worker_job_claimed_ms(const worker_job_t *job);

/* Bytes of memory the job holds now (buffers and the splitter), for the NOTES.md figures and logs. */
size_t worker_job_memory(const worker_job_t *job);

#endif
