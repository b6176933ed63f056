/* conn.c - the connections of one consumer process; see conn.h. */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"
#include "uuid.h"

#define BACKOFF_MIN_MS 100
#define MQ_BACKOFF_MAX_MS 5000
#define DB_BACKOFF_MAX_MS 2000
#define S3_TIMEOUT_MS 60000

int worker_conn_init(worker_conn_t *conn, const eh_config_t *cfg)
{
    memset(conn, 0, sizeof(*conn));
    conn->cfg = cfg;
    char host[64] = "localhost", nonce[EH_UUID_STRLEN + 1];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    if (eh_uuid_v4(nonce) != EH_OK)
        return EH_ERR;
    /* host:pid:nonce, the nonce so that a recycled pid never matches an old lease */
    snprintf(conn->owner, sizeof(conn->owner), "%s:%d:%.8s", host, (int)getpid(), nonce);
    conn->rng = strtoull(nonce + 24, NULL, 16) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)eh_time_now_ms();
    if (conn->rng == 0)
        conn->rng = 0x9e3779b97f4a7c15ULL;
    eh_s3_config_t s3cfg = {
        .endpoint = cfg->s3_endpoint,
        .bucket = cfg->s3_bucket,
        .access_key = cfg->s3_access_key,
        .secret_key = cfg->s3_secret_key,
        .https = cfg->s3_https != 0,
        .timeout_ms = S3_TIMEOUT_MS,
    };
    conn->s3 = eh_s3_create(&s3cfg);
    return conn->s3 != NULL ? EH_OK : EH_ERR;
}

void worker_conn_close(worker_conn_t *conn)
{
    eh_mq_destroy(conn->mq);
    eh_db_destroy(conn->db);
    eh_s3_destroy(conn->s3);
    worker_entry_clear(&conn->entry);
    conn->mq = NULL;
    conn->db = NULL;
    conn->s3 = NULL;
}

static int64_t next_backoff(int64_t cur, int64_t max)
{
    int64_t b = cur == 0 ? BACKOFF_MIN_MS : cur * 2;
    return b > max ? max : b;
}

/*
 * A worker that hangs (stopped, deadlocked) inside a batch must not keep a
 * job's row locked forever, or nobody could take the job over when its
 * lease runs out: the server ends such a statement or session after one
 * lease. Set once per server session (a reset starts a new one), not per
 * batch: a round trip saved on every commit.
 */
static const char SQL_SESSION_LIMITS[] = "SELECT set_config('statement_timeout', $1, false), "
                                         "set_config('idle_in_transaction_session_timeout', $1, false)";

static int session_limits(worker_conn_t *conn)
{
    int pid = PQbackendPID(eh_db_conn(conn->db));
    if (pid == conn->db_session_pid)
        return EH_OK;
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", (long long)conn->cfg->lease_ms);
    const char *params[] = {lease};
    if (eh_db_exec(conn->db, SQL_SESSION_LIMITS, 1, params) != EH_OK)
        return EH_AGAIN;
    conn->db_session_pid = pid;
    return EH_OK;
}

int worker_conn_db(worker_conn_t *conn)
{
    int64_t now = eh_time_mono_ms();
    /* While the server is down, one connection attempt per back-off period, whatever the number of jobs asking. */
    if (conn->db_backoff_ms > 0 && now < conn->db_retry_at_ms)
        return EH_AGAIN;
    if (conn->db == NULL)
        conn->db = eh_db_connect(conn->cfg->database_url, 0);
    if (conn->db != NULL && eh_db_ensure(conn->db) == EH_OK && session_limits(conn) == EH_OK) {
        conn->db_backoff_ms = 0;
        return EH_OK;
    }
    conn->db_backoff_ms = next_backoff(conn->db_backoff_ms, DB_BACKOFF_MAX_MS);
    conn->db_retry_at_ms = now + conn->db_backoff_ms;
    return EH_AGAIN;
}

int worker_conn_mq(worker_conn_t *conn)
{
    if (conn->mq != NULL && !eh_mq_is_open(conn->mq)) {
        eh_mq_destroy(conn->mq);
        conn->mq = NULL;
        conn->consuming = false;
    }
    if (conn->mq != NULL)
        return EH_OK;
    int64_t now = eh_time_mono_ms();
    if (now < conn->mq_retry_at_ms)
        return EH_AGAIN;
    conn->mq = eh_mq_connect(conn->cfg->amqp_url, (int)conn->cfg->amqp_heartbeat_s, 0);
    if (conn->mq == NULL || eh_mq_declare_topology(conn->mq) != EH_OK) {
        eh_mq_destroy(conn->mq);
        conn->mq = NULL;
        conn->mq_backoff_ms = next_backoff(conn->mq_backoff_ms, MQ_BACKOFF_MAX_MS);
        conn->mq_retry_at_ms = now + conn->mq_backoff_ms;
        return EH_AGAIN;
    }
    conn->mq_backoff_ms = 0;
    eh_log_info("connected to the broker");
    return EH_OK;
}

uint64_t worker_conn_random(worker_conn_t *conn)
{
    uint64_t x = conn->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    conn->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}
