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

/* The broker's ops, wrapped so that a reopened connection is known to have no consumer yet. */
static void *mq_open(void *ud)
{
    worker_conn_t *conn = ud;
    void *mq = eh_mq_keepalive_ops.open(&conn->mq_cfg);
    if (mq != NULL) {
        conn->consuming = false;
        conn->mq_generation++;
        eh_log_info("connected to the broker");
    }
    return mq;
}

static bool mq_healthy(void *mq, void *ud)
{
    return eh_mq_keepalive_ops.healthy(mq, &((worker_conn_t *)ud)->mq_cfg);
}

static void mq_close(void *mq, void *ud)
{
    worker_conn_t *conn = ud;
    conn->consuming = false;
    if (conn->mq == mq)
        conn->mq = NULL;
    eh_mq_keepalive_ops.close(mq, &conn->mq_cfg);
}

static const eh_keepalive_ops_t MQ_OPS = {.what = "broker", .open = mq_open, .healthy = mq_healthy, .close = mq_close};

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
        .access_key = cfg->worker_s3_access_key,
        .secret_key = cfg->worker_s3_secret_key,
        .https = cfg->s3_https != 0,
        .timeout_ms = S3_TIMEOUT_MS,
    };
    conn->s3 = eh_s3_create(&s3cfg);
    conn->mq_cfg.url = cfg->amqp_url;
    conn->mq_cfg.heartbeat_s = (int)cfg->amqp_heartbeat_s;
    conn->mq_cfg.declare_topology = true;
    /* database_url is owned by cfg, which outlives conn. */
    conn->db_ka =
        eh_keepalive_create(&eh_db_keepalive_ops, (void *)cfg->database_url, BACKOFF_MIN_MS, DB_BACKOFF_MAX_MS);
    conn->mq_ka = eh_keepalive_create(&MQ_OPS, conn, BACKOFF_MIN_MS, MQ_BACKOFF_MAX_MS);
    return conn->s3 != NULL && conn->db_ka != NULL && conn->mq_ka != NULL ? EH_OK : EH_ERR;
}

void worker_conn_close(worker_conn_t *conn)
{
    eh_keepalive_destroy(conn->mq_ka);
    eh_keepalive_destroy(conn->db_ka);
    eh_s3_destroy(conn->s3);
    worker_entry_clear(&conn->entry);
    conn->mq_ka = conn->db_ka = NULL;
    conn->mq = NULL;
    conn->db = NULL;
    conn->s3 = NULL;
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
    conn->db = eh_keepalive_get(conn->db_ka);
    if (conn->db == NULL)
        return EH_AGAIN;
    if (session_limits(conn) != EH_OK) {
        eh_keepalive_broken(conn->db_ka);
        conn->db = NULL;
        return EH_AGAIN;
    }
    return EH_OK;
}

int worker_conn_mq(worker_conn_t *conn)
{
    conn->mq = eh_keepalive_get(conn->mq_ka);
    return conn->mq != NULL ? EH_OK : EH_AGAIN;
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
