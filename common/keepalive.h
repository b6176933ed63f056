/*
 * keepalive.h - "keep this connection alive": one connection to a server
 * (PostgreSQL, RabbitMQ, the object store) that is opened on demand,
 * dropped when found broken and opened again with back-off and jitter
 * (common/backoff.h) until it works or stop is requested (common/stop.h).
 *
 * The kind of connection is given by three functions (ops). Ready-made ops
 * for eh_db_t and eh_mq_t are in db.h and mq.h. Not thread-safe: one owner
 * (or the owner's lock) per keepalive. Logging: the first failed attempt of
 * an outage is a warning, the recovery an info line with the attempt count;
 * the attempts in between are debug lines, so an outage does not flood the log.
 */
#ifndef EH_KEEPALIVE_H
#define EH_KEEPALIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "eh.h"
#include "stop.h"

typedef struct eh_keepalive_ops {
    const char *what; /* for log lines: "database", "broker", "storage" */
    /* Opens a new connection, or returns NULL (having logged why at debug level or above). */
    void *(*open)(void *ud);
    /* Whether conn still works (may repair it in place); NULL: assumed healthy until reported broken. */
    bool (*healthy)(void *conn, void *ud);
    /* Closes conn. */
    void (*close)(void *conn, void *ud);
} eh_keepalive_ops_t;

typedef struct eh_keepalive eh_keepalive_t;

/* ops is copied; ud is borrowed for the life of the keepalive. NULL on out of memory. */
EH_MUST_CHECK eh_keepalive_t *eh_keepalive_create(const eh_keepalive_ops_t *ops, void *ud, int64_t min_ms,
                                                  int64_t max_ms);
/* Closes the connection, if any, and frees. NULL is accepted. */
void eh_keepalive_destroy(eh_keepalive_t *ka);

/*
 * Never blocks longer than one open attempt: the live connection (borrowed,
 * valid until eh_keepalive_broken or destroy), or NULL while the server is
 * down and the back-off delay has not passed yet (then no attempt is made).
 */
EH_MUST_CHECK void *eh_keepalive_get(eh_keepalive_t *ka);
/*
 * Blocks, trying with back-off, until connected (returns the connection),
 * stop is requested or wait_ms has passed (returns NULL). wait_ms < 0: no
 * limit but stop.
 */
EH_MUST_CHECK void *eh_keepalive_wait(eh_keepalive_t *ka, eh_stop_t *stop, int64_t wait_ms);
/* The caller saw the connection fail: it is closed, and the next get/wait opens another (after back-off). */
void eh_keepalive_broken(eh_keepalive_t *ka);
/* Whether a connection is open (without checking it). */
bool eh_keepalive_is_open(const eh_keepalive_t *ka);
/* Consecutive failed open attempts (0 while connected). */
int eh_keepalive_failures(const eh_keepalive_t *ka);

#endif
