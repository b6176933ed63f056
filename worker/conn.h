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
#include "mq.h"
#include "s3.h"
#include "validate.h"

typedef struct worker_conn {
    const eh_config_t *cfg; /* borrowed */
    eh_db_t *db;            /* NULL until connected */
    int64_t db_retry_at_ms; /* monotonic: no reconnect before */
    int64_t db_backoff_ms;
    int db_session_pid; /* server process whose session has the worker's limits set */
    eh_mq_t *mq; /* NULL or closed while the broker is away */
    bool consuming;
    int consuming_prefetch;
    int64_t mq_retry_at_ms;
    int64_t mq_backoff_ms;
    eh_s3_t *s3;
    char owner[160]; /* lease owner "<host>:<pid>:<nonce>" */
    uint64_t rng;    /* xorshift state for the per-line delay */
    worker_entry_t entry; /* scratch of the validator, shared: one line is validated at a time */
} worker_conn_t;

/* Fills conn for this process (owner name, S3 client); connects nothing yet. EH_OK or EH_ERR. */
EH_MUST_CHECK int worker_conn_init(worker_conn_t *conn, const eh_config_t *cfg);
void worker_conn_close(worker_conn_t *conn);

/* Connects or checks the database, at most once per back-off period while it is down. EH_OK or EH_AGAIN. */
EH_MUST_CHECK int worker_conn_db(worker_conn_t *conn);

/* (Re)connects the broker when it is closed and the back-off allows. EH_OK when conn->mq is usable, EH_AGAIN otherwise. */
EH_MUST_CHECK int worker_conn_mq(worker_conn_t *conn);

/* A pseudo-random number (xorshift64*) for spreading delays. */
uint64_t worker_conn_random(worker_conn_t *conn);

#endif
