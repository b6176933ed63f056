/*
 * job.h - the job as clients see it, and its JSON shapes (CONTRACT.md):
 * the status object of GET /api/v1/jobs/<id> and the WebSocket events.
 */
#ifndef EH_JOB_H
#define EH_JOB_H

#include <jansson.h>
#include <stdbool.h>

#include "eh.h"

/*
 * queued -> processing -> completed | failed; a leased job whose worker died
 * goes back to queued; queued or processing -> cancelled (by its owner).
 */
typedef enum { EH_JOB_QUEUED, EH_JOB_PROCESSING, EH_JOB_COMPLETED, EH_JOB_FAILED, EH_JOB_CANCELLED } eh_job_status_t;

#define EH_TIME_NULL INT64_MIN /* a timestamp column that is NULL */

typedef struct eh_job {
    char id[EH_UUID_STRLEN + 1];
    char *file_name; /* owned */
    int64_t size_bytes;
    eh_job_status_t status;
    int64_t lines_total;      /* known at upload: physical lines of the file */
    int64_t lines_processed;  /* physical lines behind the last committed checkpoint, blank lines included */
    int64_t entries_ingested; /* rows in log_entries for this job */
    int64_t lines_invalid;    /* rows in job_errors for this job */
    int64_t created_at_ms, started_at_ms, completed_at_ms; /* epoch ms or EH_TIME_NULL */
    char *error;                                           /* owned; NULL unless failed */
    int64_t seq;                                           /* grows with every state change that produces an event */
} eh_job_t;

/* Frees the owned strings and zeroes the job. NULL is accepted. */
void eh_job_clear(eh_job_t *job);

const char *eh_job_status_name(eh_job_status_t status);
/* EH_OK, or EH_DECLINED for an unknown name. */
EH_MUST_CHECK int eh_job_status_parse(const char *name, eh_job_status_t *out);
bool eh_job_status_final(eh_job_status_t status);

/* Percent of lines_total processed, one decimal; 100 for a completed job. */
double eh_job_progress(const eh_job_t *job);

/* The contract's job object. New reference, NULL on out of memory. */
json_t *eh_job_to_json(const eh_job_t *job);

/* A timestamp as the contract writes it (RFC 3339, ms, UTC), or null for 0. New reference. */
json_t *eh_job_time_json(int64_t ms);

/* Progress events (the job object plus event, seq, emitted_at) are built in event.h. */

#endif
