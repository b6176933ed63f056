/*
 * conn.h - what one consumer process shares between all its jobs in flight:
 * one PostgreSQL connection (the event loop runs one job's batch at a time,
 * and no transaction stays open between two steps), one AMQP connection, the
 * S3 client, the lease owner name and the random source of the per-line
 * delay.
 */
#ifndef EH_WORKER_CONN_H
#define EH_WORKER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "eh.h"
#include "keepalive.h"
#include "mq.h"
#include "s3.h"
#include "validate.h"

typedef struct worker_conn {
    const eh_config_t *cfg; /* borrowed */
    /* Both connections are kept alive by common/keepalive.h (reopened with back-off and jitter). */
    eh_keepalive_t *db_ka;
    eh_keepalive_t *mq_ka;
    eh_mq_keepalive_cfg_t mq_cfg;
    eh_db_t *db;            /* borrowed from db_ka: valid after worker_conn_db said EH_OK */
    int db_session_pid;     /* server process whose session has the worker's limits set */
    eh_mq_t *mq;            /* borrowed from mq_ka: valid after worker_conn_mq said EH_OK; NULL otherwise */
    bool consuming;         /* a consumer is running on mq (false again whenever mq is reopened) */
    uint64_t mq_generation; /* counts broker connections: delivery tags of an older one are void */
    int consuming_prefetch;
    eh_s3_t *s3;
    char owner[160];      /* lease owner "<host>:<pid>:<nonce>" */
    uint64_t rng;         /* xorshift state for the per-line delay */
    worker_entry_t entry; /* scratch of the validator, shared: one line is validated at a time */
} worker_conn_t;

/* Fills conn for this process (owner name, S3 client); connects nothing yet. EH_OK or EH_ERR. */
EH_MUST_CHECK int worker_conn_init(worker_conn_t *conn, const eh_config_t *cfg);
void worker_conn_close(worker_conn_t *conn);

/* Connects or checks the database (never blocks longer than one attempt). EH_OK with conn->db set, or EH_AGAIN. */
EH_MUST_CHECK int worker_conn_db(worker_conn_t *conn);

/* Connects or checks the broker (never blocks longer than one attempt). EH_OK with conn->mq usable, or EH_AGAIN. */
EH_MUST_CHECK int worker_conn_mq(worker_conn_t *conn);

/* A pseudo-random number (xorshift64*) for spreading delays. */
uint64_t worker_conn_random(worker_conn_t *conn);

#endif
