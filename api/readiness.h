/*
 * readiness.h - what /readyz answers from: one background thread per
 * dependency (PostgreSQL, RabbitMQ, S3) checks it every refresh_ms and
 * keeps the verdict with its time. A request only reads the verdicts, so it
 * never waits on a dependency (a check may block for seconds: the
 * publisher's lock during a slow publish, a connect timeout). A verdict
 * older than its staleness bound counts as unavailable: a check that hangs
 * is itself the answer.
 */
#ifndef EH_API_READINESS_H
#define EH_API_READINESS_H

#include <stdbool.h>

#include "eh.h"

struct api_ctx;
typedef struct api_readiness api_readiness_t;

typedef enum { API_CHECK_POSTGRES, API_CHECK_RABBITMQ, API_CHECK_S3, API_CHECK_COUNT } api_check_t;

typedef struct api_check_result {
    const char *name; /* "postgres", "rabbitmq", "s3" */
    bool ok;
    int64_t age_ms; /* since the verdict; -1: no verdict yet */
} api_check_result_t;

/* ctx (borrowed) must outlive the readiness; its db url, publisher and s3_probe are used. NULL on failure. */
EH_MUST_CHECK api_readiness_t *api_readiness_create(struct api_ctx *ctx, int64_t refresh_ms);
/* Starts the check threads; the first checks run at once. EH_OK or EH_ERR. */
EH_MUST_CHECK int api_readiness_start(api_readiness_t *r);
/* Waits up to wait_ms for the first verdict of every check (start-up: /readyz is then right from the start). */
void api_readiness_wait_first(api_readiness_t *r, int64_t wait_ms);
/* Stops the threads (each within one check) and frees. NULL is accepted. */
void api_readiness_destroy(api_readiness_t *r);
/* The current verdicts, never blocking. True when all are fresh and ok. */
bool api_readiness_read(api_readiness_t *r, api_check_result_t out[API_CHECK_COUNT]);

#endif
