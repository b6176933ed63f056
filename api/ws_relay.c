#include "ws_relay.h"

#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "db.h"
#include "job_store.h"
#include "keyring.h"
#include "log.h"
#include "peers.h"
#include "timefmt.h"
#include "ws_consumer.h"
#include "ws_event.h"

#define NBUCKETS 1024               /* job map buckets (power of two); jobs with subscribers only */
#define INBOX_MAX 65536             /* events waiting for the service thread; beyond, drop and re-read the jobs */
#define INBOX_MAX_BYTES (32u << 20) /* the same bound in bytes */
#define PENDING_FDS_MAX 4096        /* sockets waiting for adoption */
#define TICK_MS 1000                /* the service thread's timer: safety poll, shutdown deadline */
#define SAFETY_POLL_MS 5000         /* a job silent this long is re-read from PostgreSQL */
#define POLL_BATCH 256              /* jobs re-read by one statement (one round trip blocks the service thread) */
#define HANDSHAKE_TIMEOUT_S 10      /* an adopted socket must finish its HTTP request within this */
#define HEADER_POOL 64              /* requests lws parses at once; more wait for a free header table */
#define AUTH_TICK_MS 250            /* how often the revocation counter is looked at (keyring.h polls as often) */
#define PROTOCOL_NAME "eh-progress"

typedef struct session session_t;
typedef struct job_subs job_subs_t;

/* One WebSocket, from the accepted upgrade to the destruction of its wsi. */
struct session {
    struct lws *wsi;
    job_subs_t *job;
    session_t *prev, *next; /* in job->sessions */
    api_ws_queue_t q;
    bool established;    /* the handshake answer is out: writes may be requested */
    bool final_sent;     /* the terminal frame is written: close with 1000 on the next writeable */
    int close_code;      /* non-zero: close with this code on the next writeable (shutdown, key revoked) */
    char key_prefix[16]; /* the key the upgrade was authorized with ("" with EH_AUTH=off) */
    size_t rx_bytes;     /* bytes of the client message being received */
    api_peer_key_t peer; /* the client's address, counted in ws->peers */
};

/* A job with at least one session; freed with its last session. */
struct job_subs {
    char id[EH_UUID_STRLEN + 1];
    job_subs_t *next; /* bucket chain */
    session_t *sessions;
    int count;
    int64_t seq_seen;       /* newest seq offered to the sessions */
    int64_t quiet_since_ms; /* monotonic time of the last event or read from PostgreSQL */
};

struct api_ws {
    const eh_config_t *cfg;
    api_metrics_t *metrics; /* borrowed; NULL: not counted */
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws_protocols protocols[2];
    lws_retry_bo_t retry;
    api_ws_consumer_t *consumer;
    api_keyring_t *keys; /* borrowed (api_ws_set_keyring) */
    pthread_t thread;
    bool thread_started, stopped;
    atomic_bool stopping;
    _Atomic int64_t grace_ms;

    /* Hand-over from the acceptor and the consumer, guarded by mu. */
    pthread_mutex_t mu;
    int *fds;
    int nfds, capfds;
    api_ws_msg_t *inbox_head, *inbox_tail;
    int inbox_len;
    size_t inbox_bytes;
    bool resync;       /* re-read every job (events were missed) */
    bool wake_pending; /* a lws_cancel_service is on its way */

    /* The service thread's own (and, once it has ended, the destroying thread's). */
    eh_keepalive_t *db; /* the service thread's eh_db_t, reopened with back-off */
    job_subs_t *buckets[NBUCKETS];
    int nsessions;
    api_peers_t *peers; /* sessions per client address (EH_WS_MAX_PER_IP) */
    bool closing_all;
    bool done;
    int64_t stop_deadline_ms;
    lws_sorted_usec_list_t tick;
    lws_sorted_usec_list_t auth_tick;
    int64_t auth_generation; /* the keyring's revocation counter the sessions were last checked under */
};

/* ---- job map ------------------------------------------------------------ */

static unsigned bucket_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h & (NBUCKETS - 1);
}

static job_subs_t *job_find(api_ws_t *ws, const char *id)
{
    for (job_subs_t *j = ws->buckets[bucket_of(id)]; j != NULL; j = j->next) {
        if (strcmp(j->id, id) == 0)
            return j;
    }
    return NULL;
}

static job_subs_t *job_get(api_ws_t *ws, const char *id)
{
    job_subs_t *j = job_find(ws, id);
    if (j != NULL)
        return j;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    memcpy(j->id, id, sizeof(j->id));
    j->seq_seen = INT64_MIN;
    j->quiet_since_ms = eh_time_mono_ms();
    unsigned b = bucket_of(id);
    j->next = ws->buckets[b];
    ws->buckets[b] = j;
    return j;
}

static void job_remove(api_ws_t *ws, job_subs_t *job)
{
    for (job_subs_t **pp = &ws->buckets[bucket_of(job->id)]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            free(job);
            return;
        }
    }
}

/* ---- sessions ----------------------------------------------------------- */

static session_t *session_create(api_ws_t *ws, struct lws *wsi, const char *job_id, const api_peer_key_t *peer)
{
    session_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (api_peers_add(ws->peers, peer) != EH_OK) {
        free(s);
        return NULL;
    }
    s->peer = *peer;
    if (api_ws_queue_init(&s->q, (int)ws->cfg->ws_queue_len) != EH_OK) {
        api_peers_remove(ws->peers, peer);
        free(s);
        return NULL;
    }
    job_subs_t *job = job_get(ws, job_id);
    if (job == NULL) {
        api_ws_queue_free(&s->q);
        api_peers_remove(ws->peers, peer);
        free(s);
        return NULL;
    }
    s->wsi = wsi;
    s->job = job;
    s->next = job->sessions;
    if (job->sessions != NULL)
        job->sessions->prev = s;
    job->sessions = s;
    job->count++;
    ws->nsessions++;
    return s;
}

static void session_destroy(api_ws_t *ws, session_t *s)
{
    job_subs_t *job = s->job;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        job->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->q.coalesced > 0)
        eh_log_kv(EH_LOG_DEBUG, json_pack("{s:s, s:I}", "job_id", job->id, "coalesced", (json_int_t)s->q.coalesced),
                  "slow WebSocket client: progress events were coalesced");
    if (--job->count == 0)
        job_remove(ws, job);
    ws->nsessions--;
    api_peers_remove(ws->peers, &s->peer);
    api_ws_queue_free(&s->q);
    free(s);
}

/* Offers f to every session of job and asks lws to write where it was queued. */
static void fan_out(job_subs_t *job, api_ws_frame_t *f, int64_t now)
{
    for (session_t *s = job->sessions; s != NULL; s = s->next) {
        if (api_ws_queue_push(&s->q, f) && s->established)
            lws_callback_on_writable(s->wsi);
    }
    if (f->seq > job->seq_seen)
        job->seq_seen = f->seq;
    job->quiet_since_ms = now;
}

/* ---- PostgreSQL --------------------------------------------------------- */

#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 5000

/*
 * The service thread's connection, opened or repaired on demand; NULL while
 * the server is unreachable. Every attempt blocks the thread that serves
 * every WebSocket, hence the back-off (100 ms doubling to 5 s, jittered).
 */
static eh_db_t *service_db(api_ws_t *ws)
{
    return eh_keepalive_get(ws->db);
}

static const char SQL_JOBS_POLL[] = EH_JOBS_BY_IDS_SQL;

/* Sends a synthetic event for job when PostgreSQL shows a seq past what its sessions were offered. */
static void catch_up(job_subs_t *job, const eh_job_t *j, int64_t now)
{
    if (j->seq <= job->seq_seen)
        return;
    api_ws_frame_t *f = api_ws_frame_from_job(j, false, eh_time_now_ms());
    if (f == NULL)
        return;
    eh_log_kv(EH_LOG_DEBUG, json_pack("{s:s, s:I}", "job_id", job->id, "seq", (json_int_t)j->seq),
              "missed event made up from the database");
    fan_out(job, f, now);
    api_ws_frame_unref(f);
}

/* The highest seq any session of job has accepted (a snapshot may be ahead of seq_seen). */
static int64_t last_seq(const job_subs_t *job)
{
    int64_t seq = job->seq_seen;
    for (const session_t *s = job->sessions; s != NULL; s = s->next) {
        if (s->q.last_seq > seq)
            seq = s->q.last_seq;
    }
    return seq < 0 ? 0 : seq;
}

/* Re-reads the n jobs whose ids are in the array literal ids ("{id,id,...}") in one round trip. */
static void poll_batch(api_ws_t *ws, const char *ids, int64_t now)
{
    eh_db_t *db = service_db(ws);
    if (db == NULL)
        return;
    const char *params[] = {ids};
    PGresult *res = eh_db_query(db, SQL_JOBS_POLL, 1, params, NULL);
    if (res == NULL)
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        eh_job_t j;
        if (eh_job_from_row(res, r, &j) != EH_OK)
            continue;
        job_subs_t *job = job_find(ws, j.id);
        if (job != NULL)
            catch_up(job, &j, now);
        eh_job_clear(&j);
    }
    /* A polled job with no row was deleted and its "deleted" event never came: end its sessions now. */
    for (const char *id = ids + 1; strlen(id) >= EH_UUID_STRLEN; id += EH_UUID_STRLEN + 1) {
        bool found = false;
        for (int r = 0; r < PQntuples(res) && !found; r++)
            found = strncmp(PQgetvalue(res, r, EH_JOB_COL_ID), id, EH_UUID_STRLEN) == 0;
        char one[EH_UUID_STRLEN + 1];
        memcpy(one, id, EH_UUID_STRLEN);
        one[EH_UUID_STRLEN] = '\0';
        job_subs_t *job = found ? NULL : job_find(ws, one);
        api_ws_frame_t *f = job != NULL ? api_ws_frame_gone(one, last_seq(job) + 1, eh_time_now_ms()) : NULL;
        if (f != NULL) {
            fan_out(job, f, now);
            api_ws_frame_unref(f);
        }
    }
    PQclear(res);
}

/*
 * Re-reads from PostgreSQL the jobs silent for SAFETY_POLL_MS (every job
 * when all is true), POLL_BATCH per statement. This makes up for events that
 * never reached the relay: a broker restart, a worker whose publish was
 * dropped under flow control.
 */
static void poll_jobs(api_ws_t *ws, bool all)
{
    int64_t now = eh_time_mono_ms();
    char ids[2 + POLL_BATCH * (EH_UUID_STRLEN + 1) + 1];
    size_t len = 0;
    int n = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        for (job_subs_t *j = ws->buckets[b]; j != NULL; j = j->next) {
            if (!all && now - j->quiet_since_ms < SAFETY_POLL_MS)
                continue;
            j->quiet_since_ms = now;
            ids[len++] = n == 0 ? '{' : ',';
            memcpy(ids + len, j->id, EH_UUID_STRLEN);
            len += EH_UUID_STRLEN;
            if (++n == POLL_BATCH) {
                ids[len++] = '}';
                ids[len] = '\0';
                poll_batch(ws, ids, now);
                if (!all)
                    return; /* the rest on the next tick */
                len = 0;
                n = 0;
            }
        }
    }
    if (n > 0) {
        ids[len++] = '}';
        ids[len] = '\0';
        poll_batch(ws, ids, now);
    }
}

/* ---- HTTP answers (refused upgrades, plain GETs) ------------------------- */

/*
 * Writes a complete HTTP/1.1 answer with the contract's JSON error body and
 * returns -1, so that lws hangs up (after flushing what it could not send
 * at once): the connection never goes back to keep-alive here, where a next
 * request would miss the REST API.
 */
static int refuse_with(struct lws *wsi, int status, const char *code, const char *message, int64_t retry_after_s)
{
    /* The header the refusal needs besides those every error carries (api_http_error_raw). */
    char after[24];
    const char *hname = NULL, *hvalue = NULL;
    if (status == 426) {
        hname = "Upgrade";
        hvalue = "websocket";
    } else if (status == 401) {
        hname = "WWW-Authenticate";
        hvalue = "Bearer";
    } else if (status == 429) {
        snprintf(after, sizeof(after), "%lld", (long long)retry_after_s);
        hname = "Retry-After";
        hvalue = after;
    }
    size_t len = 0;
    char *text = api_http_error_raw(status, code, message, hname, hvalue, &len);
    unsigned char *buf = text != NULL ? malloc(LWS_PRE + len) : NULL;
    if (buf != NULL) {
        memcpy(buf + LWS_PRE, text, len);
        if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_HEADERS) < (int)len)
            eh_log_debug("could not answer a refused WebSocket request");
    }
    free(buf);
    free(text);
    eh_log_kv(EH_LOG_DEBUG, json_pack("{s:i, s:s}", "status", status, "code", code), "WebSocket request refused");
    return -1;
}

static int refuse(struct lws *wsi, int status, const char *code, const char *message)
{
    return refuse_with(wsi, status, code, message, 0);
}

/* A header's value, NUL-terminated, into a new buffer; NULL when absent. Longer than max: *too_long. */
static char *header_copy(struct lws *wsi, enum lws_token_indexes h, int max, bool *too_long)
{
    int n = lws_hdr_total_length(wsi, h);
    if (n <= 0)
        return NULL;
    if (n > max) {
        *too_long = true;
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && lws_hdr_copy(wsi, buf, n + 1, h) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/*
 * Identifies the caller of a /ws/ request (api_auth_decide): the key from
 * Authorization or from access_token, the Origin allow-list. 0 with caller
 * set, or the refusal written (-1). Neither the key nor the query is logged.
 */
static int ws_identify(api_ws_t *ws, struct lws *wsi, api_caller_t *caller)
{
    bool too_long = false;
    char *authz = header_copy(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, 8192, &too_long);
    char *origin = header_copy(wsi, WSI_TOKEN_ORIGIN, 1024, &too_long);
    char *host = header_copy(wsi, WSI_TOKEN_HOST, 1024, &too_long);
    char argbuf[256];
    const char *token = lws_get_urlarg_by_name(wsi, "access_token=", argbuf, (int)sizeof(argbuf));
    api_auth_input_t in = {.auth = API_AUTH_KEY,
                           .scope = API_SCOPE_READ,
                           .authorization = authz,
                           .token_in_query = token != NULL,
                           .query_token = token,
                           .websocket = true,
                           .origin = origin,
                           .host = host};
    api_auth_refusal_t r;
    int rc = EH_DECLINED;
    if (too_long)
        r = (api_auth_refusal_t){.status = 401, .code = "unauthorized", .message = "the API key is not valid"};
    else
        rc = api_auth_decide(ws->cfg, ws->keys, &in, caller, &r);
    free(authz);
    free(origin);
    free(host);
    explicit_bzero(argbuf, sizeof(argbuf));
    if (rc == EH_OK)
        return 0;
    return refuse_with(wsi, r.status, r.code, r.message, r.retry_after_s);
}

/* A GET on /ws/... without an upgrade: the same answers as REST for a bad or unknown id, else 426. */
static int answer_plain_http(api_ws_t *ws, struct lws *wsi, const char *uri)
{
    char id[EH_UUID_STRLEN + 1];
    int rc = api_ws_path_job(uri != NULL ? uri : "", id);
    if (rc == EH_ERR)
        return refuse(wsi, 404, "not_found", "no such resource");
    api_caller_t caller;
    if (ws_identify(ws, wsi, &caller) != 0)
        return -1;
    if (rc == EH_DECLINED)
        return refuse(wsi, 400, "invalid_job_id", "job id is not a UUID");
    eh_db_t *db = service_db(ws);
    eh_job_t j;
    rc = db != NULL ? eh_job_load(db, id, caller.tenant_id, &j) : EH_AGAIN;
    if (rc == EH_DECLINED)
        return refuse(wsi, 404, "job_not_found", "no job with this id");
    if (rc != EH_OK)
        return refuse(wsi, 503, "database_unavailable", "the database is not reachable; try again later");
    eh_job_clear(&j);
    return refuse(wsi, 426, "upgrade_required", "this endpoint speaks WebSocket only (Upgrade: websocket)");
}

/* ---- the WebSocket protocol --------------------------------------------- */

/*
 * The upgrade is about to be accepted: validate the path, apply the limits,
 * register the session for its job, then read the snapshot. Registration
 * first: an event processed later on this thread is then offered to the
 * session, and one older than the snapshot is dropped by its seq.
 */
static int on_confirm_upgrade(api_ws_t *ws, struct lws *wsi)
{
    char uri[512], id[EH_UUID_STRLEN + 1];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0)
        return refuse(wsi, 400, "bad_request", "request path too long");
    int rc = api_ws_path_job(uri, id);
    if (rc == EH_ERR)
        return refuse(wsi, 404, "not_found", "no such resource");
    api_caller_t caller;
    if (ws_identify(ws, wsi, &caller) != 0)
        return -1;
    if (rc == EH_DECLINED)
        return refuse(wsi, 400, "invalid_job_id", "job id is not a UUID");
    if (ws->closing_all)
        return refuse(wsi, 503, "shutting_down", "the server is shutting down");
    if (ws->nsessions >= ws->cfg->ws_max_connections) {
        eh_log_warn("WebSocket connection limit reached (EH_WS_MAX_CONNECTIONS)");
        return refuse(wsi, 503, "too_many_connections", "too many WebSocket connections; try again later");
    }
    api_peer_key_t peer;
    (void)api_peer_key_of_fd(lws_get_socket_fd(wsi), &peer);
    if (ws->cfg->ws_max_per_ip > 0 && api_peers_count(ws->peers, &peer) >= ws->cfg->ws_max_per_ip) {
        char addr[64];
        api_peer_key_format(&peer, addr, sizeof(addr));
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "peer", addr),
                  "WebSocket per-address limit reached (EH_WS_MAX_PER_IP)");
        return refuse(wsi, 503, "too_many_connections",
                      "too many WebSocket connections from this address; try again later");
    }
    job_subs_t *job = job_find(ws, id);
    if (job != NULL && job->count >= ws->cfg->ws_max_per_job) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "job_id", id), "WebSocket per-job limit reached (EH_WS_MAX_PER_JOB)");
        return refuse(wsi, 503, "too_many_connections", "too many WebSocket connections for this job; try again later");
    }
    session_t *s = session_create(ws, wsi, id, &peer);
    if (s == NULL)
        return refuse(wsi, 503, "out_of_memory", "try again later");
    eh_db_t *db = service_db(ws);
    eh_job_t j;
    rc = db != NULL ? eh_job_load(db, id, caller.tenant_id, &j) : EH_AGAIN;
    if (rc != EH_OK) {
        session_destroy(ws, s);
        if (rc == EH_DECLINED)
            return refuse(wsi, 404, "job_not_found", "no job with this id");
        return refuse(wsi, 503, "database_unavailable", "the database is not reachable; try again later");
    }
    api_ws_frame_t *f = api_ws_frame_from_job(&j, true, eh_time_now_ms());
    eh_job_clear(&j);
    if (f == NULL) {
        session_destroy(ws, s);
        return refuse(wsi, 503, "out_of_memory", "try again later");
    }
    /*
     * job->seq_seen is left alone: older sessions may have missed what this
     * snapshot shows, and the safety poll makes it up for them.
     */
    (void)api_ws_queue_push(&s->q, f);
    api_ws_frame_unref(f);
    snprintf(s->key_prefix, sizeof(s->key_prefix), "%s", caller.key_prefix);
    lws_set_opaque_user_data(wsi, s);
    return 0;
}

static int on_writeable(session_t *s)
{
    struct lws *wsi = s->wsi;
    if (s->close_code != 0) {
        const char *why = s->close_code == LWS_CLOSE_STATUS_POLICY_VIOLATION ? "key revoked" : "going away";
        lws_close_reason(wsi, (enum lws_close_status)s->close_code, (unsigned char *)why, strlen(why));
        return -1;
    }
    if (s->final_sent) {
        /* Only now: lws calls back once the terminal frame has left its buffers. */
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"job finished", 12);
        return -1;
    }
    api_ws_frame_t *f = api_ws_queue_peek(&s->q);
    if (f == NULL)
        return 0;
    /* lws keeps what the socket does not take and calls back only when it is out. */
    if (lws_write(wsi, api_ws_frame_payload(f), f->len, LWS_WRITE_TEXT) < (int)f->len)
        return -1;
    s->final_sent = f->terminal;
    api_ws_queue_pop(&s->q);
    if (s->final_sent || s->q.count > 0)
        lws_callback_on_writable(wsi);
    return 0;
}

static int on_receive(session_t *s, size_t len)
{
    s->rx_bytes += len;
    if (s->rx_bytes > API_WS_RX_MAX) {
        lws_close_reason(s->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"message too large", 17);
        return -1;
    }
    if (lws_is_final_fragment(s->wsi))
        s->rx_bytes = 0;
    return 0; /* client messages carry nothing for us */
}

static void adopt_pending(api_ws_t *ws)
{
    for (;;) {
        pthread_mutex_lock(&ws->mu);
        int fd = ws->nfds > 0 ? ws->fds[--ws->nfds] : -1;
        pthread_mutex_unlock(&ws->mu);
        if (fd < 0)
            return;
        int one = 1;
        if (ws->closing_all) {
            close(fd);
            continue;
        }
        /* Events are small frames that must leave at once, not wait for the previous one's ACK. */
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
            eh_log_errno(EH_LOG_DEBUG, errno, "TCP_NODELAY");
        if (lws_adopt_socket_vhost(ws->vh, fd) == NULL) /* lws closed it */
            eh_log_warn("libwebsockets could not adopt a connection");
    }
}

static void start_close_all(api_ws_t *ws)
{
    ws->closing_all = true;
    ws->stop_deadline_ms = eh_time_mono_ms() + atomic_load(&ws->grace_ms);
    for (unsigned b = 0; b < NBUCKETS; b++) {
        for (job_subs_t *j = ws->buckets[b]; j != NULL; j = j->next) {
            for (session_t *s = j->sessions; s != NULL; s = s->next) {
                s->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
                if (s->established)
                    lws_callback_on_writable(s->wsi);
            }
        }
    }
    if (ws->nsessions == 0)
        ws->done = true;
}

/* Everything the other threads handed over since the last wake-up. */
static void on_wake(api_ws_t *ws)
{
    adopt_pending(ws);
    pthread_mutex_lock(&ws->mu);
    api_ws_msg_t *m = ws->inbox_head;
    ws->inbox_head = ws->inbox_tail = NULL;
    ws->inbox_len = 0;
    ws->inbox_bytes = 0;
    bool resync = ws->resync;
    ws->resync = false;
    ws->wake_pending = false;
    pthread_mutex_unlock(&ws->mu);
    int64_t now = eh_time_mono_ms();
    while (m != NULL) {
        api_ws_msg_t *next = m->next;
        job_subs_t *job = job_find(ws, m->job_id);
        if (job != NULL)
            fan_out(job, m->frame, now);
        api_ws_msg_free(m);
        m = next;
    }
    if (resync)
        poll_jobs(ws, true);
    if (atomic_load(&ws->stopping) && !ws->closing_all)
        start_close_all(ws);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    EH_UNUSED(user);
    api_ws_t *ws = lws_context_user(lws_get_context(wsi));
    session_t *s;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        on_wake(ws);
        return 0;
    case LWS_CALLBACK_HTTP:
        return answer_plain_http(ws, wsi, in);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(ws, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        s = lws_get_opaque_user_data(wsi);
        if (s == NULL)
            return -1;
        s->established = true;
        api_metrics_ws_clients(ws->metrics, 1);
        eh_log_kv(EH_LOG_DEBUG, json_pack("{s:s}", "job_id", s->job->id), "WebSocket open");
        if (s->close_code != 0 || s->q.count > 0)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        s = lws_get_opaque_user_data(wsi);
        return s != NULL ? on_writeable(s) : -1;
    case LWS_CALLBACK_RECEIVE:
        s = lws_get_opaque_user_data(wsi);
        return s != NULL ? on_receive(s, len) : -1;
    case LWS_CALLBACK_WSI_DESTROY:
        /* The last callback of every wsi, upgraded or not: the one place a session is freed. */
        s = lws_get_opaque_user_data(wsi);
        if (s != NULL) {
            lws_set_opaque_user_data(wsi, NULL);
            eh_log_kv(EH_LOG_DEBUG, json_pack("{s:s}", "job_id", s->job->id), "WebSocket closed");
            if (s->established)
                api_metrics_ws_clients(ws->metrics, -1);
            session_destroy(ws, s);
            if (ws->closing_all && ws->nsessions == 0)
                ws->done = true;
        }
        return 0;
    default:
        return 0;
    }
}

void api_ws_set_metrics(api_ws_t *ws, api_metrics_t *m)
{
    ws->metrics = m;
}

/* ---- threads ------------------------------------------------------------ */

/*
 * A key revoked after its WebSocket opened: once the revocation counter
 * moved, every session's key is checked again (the keyring answers from its
 * cache after the first read of each key) and a revoked one's session is
 * closed with 1008 (policy violation). When the database cannot tell, the
 * check is repeated on the next turn.
 */
static void check_revocations(api_ws_t *ws)
{
    int64_t gen = ws->keys != NULL ? api_keyring_generation(ws->keys) : -1;
    if (gen < 0 || gen == ws->auth_generation)
        return;
    bool settled = true;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        for (job_subs_t *j = ws->buckets[b]; j != NULL; j = j->next) {
            for (session_t *s = j->sessions; s != NULL; s = s->next) {
                if (s->key_prefix[0] == '\0' || s->close_code != 0)
                    continue;
                int rc = api_keyring_check_prefix(ws->keys, s->key_prefix);
                if (rc == EH_AGAIN) {
                    settled = false;
                    continue;
                }
                if (rc == EH_DECLINED) {
                    s->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
                    if (s->established)
                        lws_callback_on_writable(s->wsi);
                }
            }
        }
    }
    if (settled)
        ws->auth_generation = gen;
}

static void on_auth_tick(lws_sorted_usec_list_t *sul)
{
    api_ws_t *ws = lws_container_of(sul, api_ws_t, auth_tick);
    if (ws->closing_all)
        return;
    check_revocations(ws);
    lws_sul_schedule(ws->ctx, 0, &ws->auth_tick, on_auth_tick, AUTH_TICK_MS * LWS_US_PER_MS);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    api_ws_t *ws = lws_container_of(sul, api_ws_t, tick);
    int64_t now = eh_time_mono_ms();
    if (ws->closing_all) {
        if (now >= ws->stop_deadline_ms) {
            if (ws->nsessions > 0)
                eh_log_warn("%d WebSocket(s) did not close within the grace period", ws->nsessions);
            ws->done = true;
            return;
        }
        lws_sul_schedule(ws->ctx, 0, &ws->tick, on_tick, 50 * LWS_US_PER_MS);
        return;
    }
    poll_jobs(ws, false);
    lws_sul_schedule(ws->ctx, 0, &ws->tick, on_tick, TICK_MS * LWS_US_PER_MS);
}

static void *service_main(void *arg)
{
    api_ws_t *ws = arg;
    lws_sul_schedule(ws->ctx, 0, &ws->tick, on_tick, TICK_MS * LWS_US_PER_MS);
    ws->auth_generation = -1;
    lws_sul_schedule(ws->ctx, 0, &ws->auth_tick, on_auth_tick, AUTH_TICK_MS * LWS_US_PER_MS);
    while (!ws->done) {
        if (lws_service(ws->ctx, 0) < 0) {
            eh_log_error("the WebSocket service loop failed");
            break;
        }
    }
    lws_sul_cancel(&ws->tick);
    lws_sul_cancel(&ws->auth_tick);
    return NULL;
}

/* Wakes the service thread unless a wake-up is already on its way; called with mu held. */
static bool need_wake(api_ws_t *ws)
{
    bool wake = !ws->wake_pending;
    ws->wake_pending = true;
    return wake;
}

static void deliver(void *ud, api_ws_msg_t *msg)
{
    api_ws_t *ws = ud;
    pthread_mutex_lock(&ws->mu);
    bool wake = false;
    if (ws->inbox_len >= INBOX_MAX || ws->inbox_bytes + msg->frame->len > INBOX_MAX_BYTES) {
        /* The service thread is far behind: drop, and let it re-read the jobs instead. */
        ws->resync = true;
        api_ws_msg_free(msg);
    } else {
        if (ws->inbox_tail != NULL)
            ws->inbox_tail->next = msg;
        else
            ws->inbox_head = msg;
        ws->inbox_tail = msg;
        ws->inbox_len++;
        ws->inbox_bytes += msg->frame->len;
    }
    wake = need_wake(ws);
    pthread_mutex_unlock(&ws->mu);
    if (wake)
        lws_cancel_service(ws->ctx);
}

static void resync(void *ud)
{
    api_ws_t *ws = ud;
    pthread_mutex_lock(&ws->mu);
    ws->resync = true;
    bool wake = need_wake(ws);
    pthread_mutex_unlock(&ws->mu);
    if (wake)
        lws_cancel_service(ws->ctx);
}

void api_ws_adopt(int fd, void *arg)
{
    api_ws_t *ws = arg;
    bool ok = false, wake = false;
    pthread_mutex_lock(&ws->mu);
    if (!atomic_load(&ws->stopping) && ws->nfds < PENDING_FDS_MAX) {
        if (ws->nfds == ws->capfds) {
            int cap = ws->capfds > 0 ? ws->capfds * 2 : 64;
            int *fds = realloc(ws->fds, (size_t)cap * sizeof(*fds));
            if (fds != NULL) {
                ws->fds = fds;
                ws->capfds = cap;
            }
        }
        if (ws->nfds < ws->capfds) {
            ws->fds[ws->nfds++] = fd;
            ok = true;
            wake = need_wake(ws);
        }
    }
    pthread_mutex_unlock(&ws->mu);
    if (!ok) {
        close(fd);
        return;
    }
    if (wake)
        lws_cancel_service(ws->ctx);
}

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    eh_log_kv(level == LLL_ERR ? EH_LOG_ERROR : EH_LOG_WARN, json_pack("{s:s%}", "lws", line, n), "libwebsockets");
}

api_ws_t *api_ws_create(const eh_config_t *cfg)
{
    api_ws_t *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return NULL;
    ws->cfg = cfg;
    atomic_init(&ws->stopping, false);
    atomic_init(&ws->grace_ms, 0);
    ws->db = eh_keepalive_create(&eh_db_keepalive_ops, (void *)cfg->database_url, DB_BACKOFF_MIN_MS, DB_BACKOFF_MAX_MS);
    ws->peers = api_peers_create();
    if (ws->db == NULL || ws->peers == NULL || pthread_mutex_init(&ws->mu, NULL) != 0) {
        eh_keepalive_destroy(ws->db);
        api_peers_destroy(ws->peers);
        free(ws);
        return NULL;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    ws->protocols[0] = (struct lws_protocols){
        .name = PROTOCOL_NAME, .callback = callback, .per_session_data_size = 0, .rx_buffer_size = API_WS_RX_MAX};
    /* Idle connections are pinged after EH_WS_PING_S; a peer silent for twice that is dropped. */
    ws->retry = (lws_retry_bo_t){.secs_since_valid_ping = (uint16_t)cfg->ws_ping_s,
                                 .secs_since_valid_hangup = (uint16_t)(cfg->ws_ping_s * 2)};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* the listener accepts; lws only adopts */
    info.protocols = ws->protocols;
    info.vhost_name = "eh";
    info.gid = -1;
    info.uid = -1;
    info.user = ws;
    info.count_threads = 1;
    info.timeout_secs = HANDSHAKE_TIMEOUT_S;
    info.max_http_header_pool = HEADER_POOL;
    info.retry_and_idle_policy = &ws->retry;
    ws->ctx = lws_create_context(&info);
    if (ws->ctx == NULL) {
        eh_log_error("cannot create the libwebsockets context");
        goto fail;
    }
    ws->vh = lws_get_vhost_by_name(ws->ctx, "eh");
    if (ws->vh == NULL) {
        eh_log_error("libwebsockets created no vhost");
        goto fail;
    }
    api_ws_consumer_ops_t ops = {.deliver = deliver, .resync = resync, .ud = ws};
    ws->consumer = api_ws_consumer_create(cfg->amqp_url, (int)cfg->amqp_heartbeat_s, &ops);
    if (ws->consumer == NULL)
        goto fail;
    return ws;
fail:
    api_ws_destroy(ws);
    return NULL;
}

void api_ws_set_keyring(api_ws_t *ws, api_keyring_t *keys)
{
    ws->keys = keys;
}

int api_ws_start(api_ws_t *ws)
{
    if (pthread_create(&ws->thread, NULL, service_main, ws) != 0) {
        eh_log_error("cannot start the WebSocket service thread");
        return EH_ERR;
    }
    ws->thread_started = true;
    return api_ws_consumer_start(ws->consumer);
}

void api_ws_stop(api_ws_t *ws, int64_t grace_ms)
{
    if (ws == NULL || ws->stopped)
        return;
    ws->stopped = true;
    atomic_store(&ws->grace_ms, grace_ms);
    atomic_store(&ws->stopping, true);
    if (ws->thread_started) {
        lws_cancel_service(ws->ctx);
        pthread_join(ws->thread, NULL);
    }
    api_ws_consumer_destroy(ws->consumer);
    ws->consumer = NULL;
}

void api_ws_destroy(api_ws_t *ws)
{
    if (ws == NULL)
        return;
    api_ws_stop(ws, 0);
    /* The service thread has ended: its state is ours now. Closing the rest fires WSI_DESTROY here. */
    ws->closing_all = true;
    if (ws->ctx != NULL)
        lws_context_destroy(ws->ctx);
    for (int i = 0; i < ws->nfds; i++)
        close(ws->fds[i]);
    free(ws->fds);
    while (ws->inbox_head != NULL) {
        api_ws_msg_t *next = ws->inbox_head->next;
        api_ws_msg_free(ws->inbox_head);
        ws->inbox_head = next;
    }
    eh_keepalive_destroy(ws->db);
    api_peers_destroy(ws->peers);
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}
