/*
 * db.h - PostgreSQL through libpq: connect with back-off, parameterised
 * statements, transactions, COPY, and a small thread-safe pool.
 *
 * Every statement is a named SQL constant with $n placeholders; values are
 * always passed as parameters (text format), never pasted into SQL.
 */
#ifndef EH_DB_H
#define EH_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "eh.h"
#include "keepalive.h"

typedef struct eh_db eh_db_t;

/*
 * Connects to url, retrying with exponential back-off (100 ms doubling to
 * 2 s) until wait_ms has passed (0: one try). Returns a new handle, or NULL
 * after logging why. The password in url is never logged.
 */
EH_MUST_CHECK eh_db_t *eh_db_connect(const char *url, int64_t wait_ms);
/* Closes the connection. NULL is accepted. */
void eh_db_destroy(eh_db_t *db);

/* The underlying connection, borrowed; for what this module does not wrap. */
PGconn *eh_db_conn(eh_db_t *db);

/*
 * Makes sure the connection is usable: when it is broken (server restarted),
 * resets it once. EH_OK, or EH_AGAIN when the server does not answer.
 */
EH_MUST_CHECK int eh_db_ensure(eh_db_t *db);

/*
 * Runs sql with nparams text parameters (NULL entries are SQL NULL).
 * Returns a new PGresult whose status is PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK; the caller PQclear()s it. On failure returns NULL, logs
 * the server's message once, and sets *status (when not NULL) to EH_AGAIN
 * if the connection is gone or EH_ERR otherwise; a broken connection is
 * reset on the next eh_db_ensure().
 */
EH_MUST_CHECK PGresult *eh_db_query(eh_db_t *db, const char *sql, int nparams, const char *const *params, int *status);

/* eh_db_query for statements whose rows are not needed: EH_OK, EH_AGAIN or EH_ERR. */
EH_MUST_CHECK int eh_db_exec(eh_db_t *db, const char *sql, int nparams, const char *const *params);

/* The SQLSTATE of the last failed statement on db ("" when none), e.g. "23505". */
const char *eh_db_last_sqlstate(const eh_db_t *db);

EH_MUST_CHECK int eh_db_begin(eh_db_t *db);
EH_MUST_CHECK int eh_db_commit(eh_db_t *db);
/* Rolls back the open transaction, if any; errors are logged, not returned. */
void eh_db_rollback(eh_db_t *db);

/*
 * COPY ... FROM STDIN in text format. begin sends the statement; put sends
 * bytes (any split, rows end in '\n'); end finishes and returns the server's
 * verdict. After a failed put or end the transaction must be rolled back.
 */
EH_MUST_CHECK int eh_db_copy_begin(eh_db_t *db, const char *copy_sql);
EH_MUST_CHECK int eh_db_copy_put(eh_db_t *db, const char *data, size_t len);
EH_MUST_CHECK int eh_db_copy_end(eh_db_t *db);

/* Ops for eh_keepalive (keepalive.h) holding an eh_db_t; ud is the database URL (borrowed). */
extern const eh_keepalive_ops_t eh_db_keepalive_ops;

/* A bounded pool of connections shared by threads (eh-api). */
typedef struct eh_db_pool eh_db_pool_t;

/* Opens size connections lazily, on first use. NULL on out of memory. */
EH_MUST_CHECK eh_db_pool_t *eh_db_pool_create(const char *url, int size);
/* Closes every connection; all must have been released. NULL is accepted. */
void eh_db_pool_destroy(eh_db_pool_t *pool);
/*
 * Borrows a connection, waiting up to wait_ms for one to be free. The
 * connection has been checked with eh_db_ensure(). NULL when none is free in
 * time or the server is down (then *status is EH_AGAIN).
 */
EH_MUST_CHECK eh_db_t *eh_db_pool_acquire(eh_db_pool_t *pool, int64_t wait_ms, int *status);
/* Returns a borrowed connection; an open transaction is rolled back first. */
void eh_db_pool_release(eh_db_pool_t *pool, eh_db_t *db);

#endif
