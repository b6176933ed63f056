#include "db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "log.h"
#include "stop.h"
#include "timefmt.h"

/*
 * Defaults put in front of the URL: keywords are processed in order and the
 * last value wins, so the URL (the dbname entry, last) may override them.
 * keepalives notice a peer that vanished without a FIN (host down, NAT drop)
 * on idle pooled connections within about a minute instead of hours.
 */
static const char *const CONN_KEYWORDS[] = {"application_name", "connect_timeout",     "keepalives",
                                            "keepalives_idle",  "keepalives_interval", "keepalives_count",
                                            "dbname",           "client_encoding",     NULL};
static const char *const CONN_DEFAULTS[] = {"event-horizon", "5", "1", "30", "10", "3"};
#define CONN_URL_INDEX 6
/*
 * After the URL, so that the URL cannot override it: every byte we store or
 * read is UTF-8 (the validator guarantees it), whatever the server's or the
 * URL's default encoding is.
 */
#define CONN_PINNED_ENCODING "UTF8"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000
/* Writes larger than this are split: PQputCopyData takes an int length. */
#define COPY_CHUNK (1 << 20)
/* A COPY that ends cleanly yields one result; anything past this is a protocol mix-up. */
#define MAX_DRAIN_RESULTS 16

static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

struct eh_db {
    PGconn *conn;
    bool in_copy;     /* a COPY FROM STDIN was started and not yet ended */
    bool doomed;      /* the server sent FATAL outside a query: it is closing the session */
    char sqlstate[6]; /* of the last failed statement, "" after a success */
};

struct eh_db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled whenever a connection or a slot to open one frees up */
    char *url;
    int size;
    int opened;     /* connections that exist or are being opened; <= size */
    int nidle;      /* idle[0 .. nidle-1] are ready to lend */
    eh_db_t **idle; /* size slots */
};

/* Logs only where we connect to: the URL and libpq's messages about parsing it may hold the password. */
static json_t *target_fields(const char *url)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    PQfreemem(err);
    json_t *f = json_object();
    if (opts == NULL || f == NULL) {
        PQconninfoFree(opts);
        return f;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 || strcmp(o->keyword, "port") == 0 ||
            strcmp(o->keyword, "dbname") == 0 || strcmp(o->keyword, "user") == 0)
            json_object_set_new(f, o->keyword, json_string(o->val));
    }
    PQconninfoFree(opts);
    return f;
}

/* Server notices (and a FATAL that arrives on an idle connection) go to our log, not raw to stderr. */
static void notice_receiver(void *arg, const PGresult *res)
{
    eh_db_t *db = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int level = EH_LOG_DEBUG;
    if (severity != NULL && (strcmp(severity, "WARNING") == 0 || strcmp(severity, "FATAL") == 0 ||
                             strcmp(severity, "PANIC") == 0 || strcmp(severity, "ERROR") == 0))
        level = EH_LOG_WARN;
    if (severity != NULL && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
        db->doomed = true;
    eh_log_kv(level, json_pack("{s:s, s:s}", "severity", severity ? severity : "", "sqlstate", state ? state : ""),
              "postgres: %s", msg != NULL ? msg : "(no message)");
}

static const char *conn_error(PGconn *conn)
{
    const char *m = conn != NULL ? PQerrorMessage(conn) : NULL;
    return m != NULL && m[0] != '\0' ? m : "unknown error";
}

/* libpq messages end in a newline; log lines read better without it. */
static void log_pg_error(const char *what, const char *text, const char *sqlstate, const char *sql)
{
    /* One line: the DETAIL/CONTEXT parts that follow a newline are kept, joined by a space. */
    char msg[512];
    size_t n = 0;
    for (const char *p = text != NULL ? text : ""; *p != '\0' && n + 1 < sizeof(msg); p++) {
        bool space = *p == '\n' || *p == '\t' || *p == ' ';
        if (space && (n == 0 || msg[n - 1] == ' '))
            continue;
        msg[n++] = space ? ' ' : *p;
    }
    while (n > 0 && msg[n - 1] == ' ')
        n--;
    msg[n] = '\0';
    json_t *f = json_pack("{s:s}", "sqlstate", sqlstate != NULL ? sqlstate : "");
    if (f != NULL && sql != NULL)
        json_object_set_new(f, "sql", json_stringn(sql, strnlen(sql, 200)));
    eh_log_kv(EH_LOG_ERROR, f, "%s: %s", what, msg[0] != '\0' ? msg : "unknown error");
}

static PGconn *connect_once(const char *url)
{
    const char *values[EH_ARRAY_LEN(CONN_KEYWORDS)];
    for (size_t i = 0; i < CONN_URL_INDEX; i++)
        values[i] = CONN_DEFAULTS[i];
    values[CONN_URL_INDEX] = url;
    values[CONN_URL_INDEX + 1] = CONN_PINNED_ENCODING;
    values[CONN_URL_INDEX + 2] = NULL;
    return PQconnectdbParams(CONN_KEYWORDS, values, 1);
}

eh_db_t *eh_db_connect(const char *url, int64_t wait_ms)
{
    if (url == NULL)
        url = "";
    /* A URL that libpq cannot parse will not parse on a later try either; its message may quote the password. */
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(url, &perr);
    PQfreemem(perr);
    if (parsed == NULL) {
        eh_log_error("database URL is not valid (not shown: it may hold a password)");
        return NULL;
    }
    PQconninfoFree(parsed);

    eh_db_t *db = calloc(1, sizeof(*db));
    if (db == NULL) {
        eh_log_errno(EH_LOG_ERROR, ENOMEM, "db connect");
        return NULL;
    }
    int64_t deadline = eh_time_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    eh_backoff_t backoff;
    eh_backoff_init(&backoff, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
    for (int attempt = 1;; attempt++) {
        db->conn = connect_once(url);
        if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
            break;
        int64_t left = deadline - eh_time_mono_ms();
        json_t *f = target_fields(url);
        if (f != NULL)
            json_object_set_new(f, "attempt", json_integer(attempt));
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", conn_error(db->conn));
        msg[strcspn(msg, "\n")] = '\0';
        eh_log_kv(left > 0 ? EH_LOG_WARN : EH_LOG_ERROR, f, "database connection failed%s: %s",
                  left > 0 ? ", retrying" : "", msg);
        PQfinish(db->conn);
        db->conn = NULL;
        if (left <= 0) {
            free(db);
            return NULL;
        }
        int64_t delay = eh_backoff_next(&backoff);
        (void)eh_stop_sleep_ms(NULL, delay < left ? delay : left);
    }
    PQsetNoticeReceiver(db->conn, notice_receiver, db);
    eh_log_kv(EH_LOG_DEBUG,
              json_pack("{s:s, s:s, s:s}", "host", PQhost(db->conn) ? PQhost(db->conn) : "", "port",
                        PQport(db->conn) ? PQport(db->conn) : "", "dbname", PQdb(db->conn) ? PQdb(db->conn) : ""),
              "database connected");
    return db;
}

void eh_db_destroy(eh_db_t *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

PGconn *eh_db_conn(eh_db_t *db)
{
    return db->conn;
}

const char *eh_db_last_sqlstate(const eh_db_t *db)
{
    return db->sqlstate;
}

static void set_sqlstate(eh_db_t *db, const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", s != NULL ? s : "");
}

/* EH_AGAIN when the server is gone or going (connection exception, shutdown in progress). */
static int failure_status(const eh_db_t *db)
{
    if (PQstatus(db->conn) == CONNECTION_BAD || db->doomed)
        return EH_AGAIN;
    if (strncmp(db->sqlstate, "08", 2) == 0 || strncmp(db->sqlstate, "57P0", 4) == 0)
        return EH_AGAIN;
    return EH_ERR;
}

/*
 * Whether an idle connection still has a server behind it. A backend that
 * was terminated (or a server that restarted) has written its FATAL and
 * closed the socket, but libpq only notices when it next reads: read what
 * is pending now, without blocking, so that the loss shows up here rather
 * than as a failed statement later.
 */
static bool conn_alive(eh_db_t *db)
{
    PGconn *conn = db->conn;
    if (db->doomed || PQstatus(conn) != CONNECTION_OK)
        return false;
    /* Only an idle connection may be probed; one in a query owns its input. */
    PGTransactionStatusType ts = PQtransactionStatus(conn);
    if (ts == PQTRANS_ACTIVE)
        return true;
    int fd = PQsocket(conn);
    if (fd < 0)
        return false;
    for (int i = 0; i < 8; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0;
        if (!PQconsumeInput(conn))
            return false;
        /* Parses what arrived: notices reach notice_receiver, notifications are dropped. */
        (void)PQisBusy(conn);
        PGnotify *note;
        while ((note = PQnotifies(conn)) != NULL)
            PQfreemem(note);
        /* A terminated backend sends FATAL first and closes the socket a little later. */
        if (db->doomed || PQstatus(conn) != CONNECTION_OK)
            return false;
    }
    return PQstatus(conn) == CONNECTION_OK;
}

int eh_db_ensure(eh_db_t *db)
{
    if (conn_alive(db))
        return EH_OK;
    eh_log_warn("database connection lost, reconnecting");
    PQreset(db->conn);
    db->in_copy = false;
    db->doomed = false;
    db->sqlstate[0] = '\0';
    if (PQstatus(db->conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", conn_error(db->conn));
        msg[strcspn(msg, "\n")] = '\0';
        eh_log_kv(EH_LOG_WARN,
                  json_pack("{s:s, s:s, s:s}", "host", PQhost(db->conn) ? PQhost(db->conn) : "", "port",
                            PQport(db->conn) ? PQport(db->conn) : "", "dbname", PQdb(db->conn) ? PQdb(db->conn) : ""),
                  "database reconnect failed: %s", msg);
        return EH_AGAIN;
    }
    eh_log_info("database reconnected");
    return EH_OK;
}

PGresult *eh_db_query(eh_db_t *db, const char *sql, int nparams, const char *const *params, int *status)
{
    db->sqlstate[0] = '\0';
    PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (status != NULL)
            *status = EH_OK;
        return res;
    }
    set_sqlstate(db, res);
    const char *text = res != NULL ? PQresultErrorMessage(res) : "";
    if (text == NULL || text[0] == '\0')
        text = conn_error(db->conn);
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT)
        text = "COPY is not supported by eh_db_query (use eh_db_copy_begin)";
    log_pg_error("database statement failed", text, db->sqlstate, sql);
    PQclear(res);
    if (st == PGRES_COPY_IN) {
        /* Leave the connection usable: end the COPY that was started by mistake. */
        if (PQputCopyEnd(db->conn, "not supported here") == 1)
            for (int i = 0; i < MAX_DRAIN_RESULTS && (res = PQgetResult(db->conn)) != NULL; i++)
                PQclear(res);
    }
    if (status != NULL)
        *status = failure_status(db);
    return NULL;
}

int eh_db_exec(eh_db_t *db, const char *sql, int nparams, const char *const *params)
{
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, sql, nparams, params, &status);
    if (res == NULL)
        return status;
    PQclear(res);
    return EH_OK;
}

int eh_db_begin(eh_db_t *db)
{
    return eh_db_exec(db, SQL_BEGIN, 0, NULL);
}

int eh_db_commit(eh_db_t *db)
{
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_COMMIT, 0, NULL, &status);
    if (res == NULL)
        return status;
    /* COMMIT of a transaction that already failed succeeds as a ROLLBACK: that is a failure to us. */
    bool committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    if (!committed) {
        eh_log_error("database commit failed: the transaction had failed and was rolled back");
        return EH_ERR;
    }
    return EH_OK;
}

/* Collects the results that follow the end of a COPY; EH_OK when all of them succeeded. */
static int drain_results(eh_db_t *db, bool log_errors)
{
    int rc = EH_OK;
    PGresult *res;
    for (int i = 0; (res = PQgetResult(db->conn)) != NULL; i++) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_IN && i < MAX_DRAIN_RESULTS) {
            /* Still copying (should not happen after the end was sent): end it again. */
            PQclear(res);
            if (PQputCopyEnd(db->conn, "aborted by client") != 1)
                rc = EH_ERR;
            continue;
        }
        if (st != PGRES_COMMAND_OK && rc == EH_OK) {
            rc = EH_ERR;
            set_sqlstate(db, res);
            if (log_errors)
                log_pg_error("database COPY failed", PQresultErrorMessage(res), db->sqlstate, NULL);
        }
        PQclear(res);
        if (i >= MAX_DRAIN_RESULTS * 2) {
            rc = EH_ERR;
            break;
        }
    }
    db->in_copy = false;
    return rc;
}

void eh_db_rollback(eh_db_t *db)
{
    if (db->in_copy) {
        /* A COPY still open must be abandoned before the server listens to ROLLBACK. */
        if (PQputCopyEnd(db->conn, "aborted by client") != 1)
            log_pg_error("database COPY abort failed", conn_error(db->conn), "", NULL);
        (void)drain_results(db, false);
    }
    PGTransactionStatusType ts = PQtransactionStatus(db->conn);
    if (ts == PQTRANS_IDLE || ts == PQTRANS_UNKNOWN)
        return;
    char saved[sizeof(db->sqlstate)];
    memcpy(saved, db->sqlstate, sizeof(saved));
    if (eh_db_exec(db, SQL_ROLLBACK, 0, NULL) != EH_OK)
        return; /* logged; a broken connection is reset by the next eh_db_ensure() */
    /* Callers look at the SQLSTATE of what failed, not of the ROLLBACK that followed. */
    memcpy(db->sqlstate, saved, sizeof(saved));
}

int eh_db_copy_begin(eh_db_t *db, const char *copy_sql)
{
    db->sqlstate[0] = '\0';
    PGresult *res = PQexecParams(db->conn, copy_sql, 0, NULL, NULL, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COPY_IN) {
        PQclear(res);
        db->in_copy = true;
        return EH_OK;
    }
    set_sqlstate(db, res);
    const char *text = res != NULL ? PQresultErrorMessage(res) : conn_error(db->conn);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_OUT)
        text = "not a COPY ... FROM STDIN statement";
    log_pg_error("database COPY start failed", text, db->sqlstate, copy_sql);
    PQclear(res);
    if (st == PGRES_COPY_OUT)
        (void)drain_results(db, false);
    return failure_status(db);
}

int eh_db_copy_put(eh_db_t *db, const char *data, size_t len)
{
    if (!db->in_copy) {
        eh_log_error("database COPY data sent with no COPY in progress");
        return EH_ERR;
    }
    while (len > 0) {
        int n = len > COPY_CHUNK ? COPY_CHUNK : (int)len;
        if (PQputCopyData(db->conn, data, n) != 1) {
            /* Often the server already rejected a row; its message comes with eh_db_copy_end or rollback. */
            log_pg_error("database COPY send failed", conn_error(db->conn), "", NULL);
            return failure_status(db);
        }
        data += n;
        len -= (size_t)n;
    }
    return EH_OK;
}

int eh_db_copy_end(eh_db_t *db)
{
    if (!db->in_copy) {
        eh_log_error("database COPY end with no COPY in progress");
        return EH_ERR;
    }
    db->sqlstate[0] = '\0';
    int rc = EH_OK;
    if (PQputCopyEnd(db->conn, NULL) != 1) {
        log_pg_error("database COPY end failed", conn_error(db->conn), "", NULL);
        rc = EH_ERR;
    }
    /* Every result is read, also after a failure, so that the connection is ready for ROLLBACK. */
    if (drain_results(db, true) != EH_OK)
        rc = EH_ERR;
    if (rc != EH_OK)
        return failure_status(db);
    return EH_OK;
}

/* ---- pool ---- */

eh_db_pool_t *eh_db_pool_create(const char *url, int size)
{
    if (size < 1) {
        eh_log_error("database pool size must be at least 1");
        return NULL;
    }
    eh_db_pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->size = size;
    pool->url = strdup(url != NULL ? url : "");
    pool->idle = calloc((size_t)size, sizeof(*pool->idle));
    if (pool->url == NULL || pool->idle == NULL)
        goto fail;
    if (pthread_mutex_init(&pool->mu, NULL) != 0)
        goto fail;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        goto fail_mutex;
    /* Waits are measured on the monotonic clock, so that a wall-clock step cannot stretch them. */
    int crc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (crc == 0)
        crc = pthread_cond_init(&pool->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (crc != 0)
        goto fail_mutex;
    return pool;
fail_mutex:
    pthread_mutex_destroy(&pool->mu);
fail:
    free(pool->idle);
    free(pool->url);
    free(pool);
    return NULL;
}

void eh_db_pool_destroy(eh_db_pool_t *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    int lent = pool->opened - pool->nidle;
    for (int i = 0; i < pool->nidle; i++)
        eh_db_destroy(pool->idle[i]);
    pool->nidle = 0;
    pthread_mutex_unlock(&pool->mu);
    if (lent > 0)
        eh_log_error("database pool destroyed with %d connection(s) still borrowed", lent);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->idle);
    free(pool->url);
    free(pool);
}

static void deadline_ts(int64_t wait_ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(wait_ms / 1000);
    ts->tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Puts db back (or forgets its slot when db is NULL) and wakes one waiter. Called without the lock. */
static void pool_put(eh_db_pool_t *pool, eh_db_t *db)
{
    pthread_mutex_lock(&pool->mu);
    if (db != NULL)
        pool->idle[pool->nidle++] = db;
    else
        pool->opened--;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

eh_db_t *eh_db_pool_acquire(eh_db_pool_t *pool, int64_t wait_ms, int *status)
{
    int dummy;
    if (status == NULL)
        status = &dummy;
    struct timespec deadline;
    deadline_ts(wait_ms > 0 ? wait_ms : 0, &deadline);

    eh_db_t *db = NULL;
    bool open_new = false;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        if (pool->nidle > 0) {
            db = pool->idle[--pool->nidle];
            break;
        }
        if (pool->opened < pool->size) {
            pool->opened++; /* reserve the slot; connect outside the lock */
            open_new = true;
            break;
        }
        int rc = pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline);
        if (rc != 0 && pool->nidle == 0 && pool->opened >= pool->size)
            break; /* timed out (or the wait itself failed) */
    }
    pthread_mutex_unlock(&pool->mu);

    if (db == NULL && !open_new) {
        eh_log_warn("database pool: no connection free within %lld ms", (long long)wait_ms);
        *status = EH_AGAIN;
        return NULL;
    }
    if (open_new) {
        db = eh_db_connect(pool->url, 0);
        if (db == NULL) {
            pool_put(pool, NULL);
            *status = EH_AGAIN;
            return NULL;
        }
    } else if (eh_db_ensure(db) != EH_OK) {
        /* Kept: the next borrower's eh_db_ensure() tries the reset again. */
        pool_put(pool, db);
        *status = EH_AGAIN;
        return NULL;
    }
    *status = EH_OK;
    return db;
}

void eh_db_pool_release(eh_db_pool_t *pool, eh_db_t *db)
{
    if (db == NULL)
        return;
    if (db->in_copy || PQtransactionStatus(db->conn) != PQTRANS_IDLE)
        eh_db_rollback(db);
    PGTransactionStatusType ts = PQtransactionStatus(db->conn);
    if (PQstatus(db->conn) == CONNECTION_OK && ts != PQTRANS_IDLE) {
        /* A session in a state we cannot clean (a query still running) is not lent again. */
        eh_log_warn("database pool: dropping a connection left in transaction state %d", (int)ts);
        eh_db_destroy(db);
        db = NULL;
    } else {
        db->sqlstate[0] = '\0';
    }
    pool_put(pool, db);
}

/* keepalive ops: ud is the database URL (borrowed). One attempt per open; the keepalive does the back-off. */
static void *keepalive_open(void *ud)
{
    return eh_db_connect(ud, 0);
}

static bool keepalive_healthy(void *conn, void *ud)
{
    (void)ud;
    return eh_db_ensure(conn) == EH_OK;
}

static void keepalive_close(void *conn, void *ud)
{
    (void)ud;
    eh_db_destroy(conn);
}

const eh_keepalive_ops_t eh_db_keepalive_ops = {
    .what = "database",
    .open = keepalive_open,
    .healthy = keepalive_healthy,
    .close = keepalive_close,
};
