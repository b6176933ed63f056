#include "mq.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "stop.h"
#include "timefmt.h"

#define MQ_CHANNEL 1
#define MQ_RPC_TIMEOUT_MS 15000
/* A close handshake on a connection that may be half dead must not hold up shutdown. */
#define MQ_CLOSE_TIMEOUT_MS 2000
#define MQ_ONE_TRY_TIMEOUT_MS 5000
#define MQ_BACKOFF_FIRST_MS 100
#define MQ_BACKOFF_MAX_MS 2000

/* A delivery read off the socket before the caller asked for it (while idling, waiting for a confirm, cancelling). */
struct pending {
    struct pending *next;
    eh_mq_msg_t msg;
};

struct eh_mq {
    amqp_connection_state_t conn;
    bool open;         /* false once the connection or channel 1 is gone; only destroy is left */
    bool conn_ok;      /* the connection itself still works (channel 1 may be closed): close it politely */
    bool confirm_mode; /* confirm.select done on channel 1 */
    bool blocked;      /* the broker sent connection.blocked (a resource alarm) and not yet unblocked */
    bool consuming;    /* a consumer started by eh_mq_consume or eh_mq_consume_exclusive is active */
    bool consumer_no_ack;
    uint64_t published; /* basic.publish count in confirm mode: the delivery tag of the latest publish */
    char consumer_tag[256];
    struct pending *pending_head;
    struct pending *pending_tail;
};

static struct timeval tv_from_ms(int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static amqp_bytes_t bytes_of(const char *s)
{
    return amqp_cstring_bytes(s != NULL ? s : "");
}

/* Copies an AMQP short string into a C buffer, truncating (it never exceeds 255 bytes on the wire). */
static void copy_bytes(char *dst, size_t dstlen, amqp_bytes_t src)
{
    size_t n = src.len < dstlen - 1 ? src.len : dstlen - 1;
    if (n > 0)
        memcpy(dst, src.bytes, n);
    dst[n] = '\0';
}

/* Logs the reason carried by a connection.close or channel.close from the broker. */
static void log_close(const char *what, const amqp_method_t *m)
{
    uint16_t code = 0;
    amqp_bytes_t text = {0, NULL};
    if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *c = m->decoded;
        code = c->reply_code;
        text = c->reply_text;
    } else if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *c = m->decoded;
        code = c->reply_code;
        text = c->reply_text;
    } else {
        eh_log_error("%s: unexpected broker method %s", what, amqp_method_name(m->id));
        return;
    }
    eh_log_kv(EH_LOG_ERROR,
              json_pack("{s:s, s:i, s:s%}", "closed_by",
                        m->id == AMQP_CONNECTION_CLOSE_METHOD ? "connection" : "channel", "reply_code", (int)code,
                        "reply_text", text.bytes != NULL ? (const char *)text.bytes : "", text.len),
              "%s: closed by the broker", what);
}

/*
 * Answers a close from the broker (connection or channel) and marks the
 * handle closed: with only channel 1, a closed channel ends the handle too.
 * Returns EH_AGAIN for a broker going away or a transient failure, EH_DECLINED
 * for 404 NOT_FOUND, EH_ERR for the other channel errors (406, 403...).
 */
static int on_broker_close(eh_mq_t *mq, const char *what, const amqp_method_t *m)
{
    log_close(what, m);
    mq->open = false;
    uint16_t code = 0;
    int rc = EH_AGAIN;
    if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *c = m->decoded;
        code = c->reply_code;
        amqp_connection_close_ok_t ok = {.dummy = 0};
        if (amqp_send_method(mq->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK)
            eh_log_debug("%s: could not send connection.close-ok", what);
        mq->conn_ok = false;
        /* 320 connection-forced (broker stopping) and 5xx are worth a retry later. */
        rc = (code == AMQP_CONNECTION_FORCED || code >= 500) ? EH_AGAIN : EH_ERR;
    } else if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *c = m->decoded;
        code = c->reply_code;
        amqp_channel_close_ok_t ok = {.dummy = 0};
        if (amqp_send_method(mq->conn, MQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK)
            eh_log_debug("%s: could not send channel.close-ok", what);
        rc = code == AMQP_NOT_FOUND ? EH_DECLINED : (code >= 500 ? EH_AGAIN : EH_ERR);
    }
    return rc;
}

/* Logs a failure of the library (socket, timeout, protocol) and marks the handle closed. */
static int on_library_error(eh_mq_t *mq, const char *what, int status)
{
    eh_log_kv(EH_LOG_ERROR, json_pack("{s:i}", "amqp_status", status), "%s: %s", what, amqp_error_string2(status));
    mq->open = false;
    mq->conn_ok = false;
    return EH_AGAIN;
}

/* Turns the reply of an RPC into a status, logging and closing the handle when it failed. */
static int check_reply(eh_mq_t *mq, amqp_rpc_reply_t r, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return EH_OK;
    case AMQP_RESPONSE_NONE:
        eh_log_error("%s: no reply from the broker", what);
        mq->open = false;
        mq->conn_ok = false;
        return EH_AGAIN;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return on_library_error(mq, what, r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        return on_broker_close(mq, what, &r.reply);
    }
    eh_log_error("%s: unknown reply type %d", what, (int)r.reply_type);
    mq->open = false;
    mq->conn_ok = false;
    return EH_ERR;
}

static int check_last_reply(eh_mq_t *mq, const char *what)
{
    return check_reply(mq, amqp_get_rpc_reply(mq->conn), what);
}

/* ---- deliveries kept for later ---------------------------------------- */

static void pending_push(eh_mq_t *mq, struct pending *p)
{
    p->next = NULL;
    if (mq->pending_tail != NULL)
        mq->pending_tail->next = p;
    else
        mq->pending_head = p;
    mq->pending_tail = p;
}

static struct pending *pending_pop(eh_mq_t *mq)
{
    struct pending *p = mq->pending_head;
    if (p != NULL) {
        mq->pending_head = p->next;
        if (mq->pending_head == NULL)
            mq->pending_tail = NULL;
    }
    return p;
}

static void pending_free_all(eh_mq_t *mq)
{
    struct pending *p;
    while ((p = pending_pop(mq)) != NULL) {
        eh_mq_msg_free(&p->msg);
        free(p);
    }
}

/*
 * Reads the content (header and body frames) that follows a basic.deliver
 * and keeps the message in the pending list, so that no delivery taken off
 * the socket is ever lost.
 */
static int read_delivery(eh_mq_t *mq, const amqp_basic_deliver_t *d)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        eh_log_errno(EH_LOG_ERROR, ENOMEM, "amqp delivery");
        mq->open = false; /* the content stays unread: the stream is out of step */
        mq->conn_ok = false;
        return EH_ERR;
    }
    p->msg.delivery_tag = d->delivery_tag;
    p->msg.redelivered = d->redelivered != 0;
    copy_bytes(p->msg.routing_key, sizeof(p->msg.routing_key), d->routing_key);

    amqp_message_t m;
    memset(&m, 0, sizeof(m));
    amqp_rpc_reply_t r = amqp_read_message(mq->conn, MQ_CHANNEL, &m, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        /* amqp_read_message frees its pool itself when it fails. */
        free(p);
        int rc = check_reply(mq, r, "amqp read delivery");
        mq->open = false; /* a delivery without its content leaves the channel out of step */
        mq->conn_ok = false;
        return rc == EH_OK ? EH_AGAIN : rc;
    }
    p->msg.body = malloc(m.body.len + 1);
    if (p->msg.body == NULL) {
        amqp_destroy_message(&m);
        free(p);
        eh_log_errno(EH_LOG_ERROR, ENOMEM, "amqp delivery body");
        mq->open = false; /* the delivery stays unacknowledged until the connection closes and requeues it */
        return EH_ERR;
    }
    if (m.body.len > 0)
        memcpy(p->msg.body, m.body.bytes, m.body.len);
    p->msg.body[m.body.len] = '\0';
    p->msg.len = m.body.len;
    amqp_destroy_message(&m);
    pending_push(mq, p);
    return EH_OK;
}

/*
 * Handles a frame nobody in particular waits for: deliveries are kept,
 * stray confirms dropped, closes answered, flow control noted. EH_OK when the
 * handle is still usable.
 */
static int handle_async(eh_mq_t *mq, const amqp_frame_t *f)
{
    if (f->frame_type != AMQP_FRAME_METHOD) {
        eh_log_debug("amqp: ignoring a frame of type %d on channel %d", (int)f->frame_type, (int)f->channel);
        return EH_OK;
    }
    const amqp_method_t *m = &f->payload.method;
    switch (m->id) {
    case AMQP_BASIC_DELIVER_METHOD:
        return read_delivery(mq, m->decoded);
    case AMQP_BASIC_ACK_METHOD:
    case AMQP_BASIC_NACK_METHOD:
        /* The confirm of a publish whose wait already timed out. */
        return EH_OK;
    case AMQP_BASIC_RETURN_METHOD: {
        /* Only mandatory publishes are returned and we publish none; consume the content anyway. */
        amqp_message_t msg;
        memset(&msg, 0, sizeof(msg));
        amqp_rpc_reply_t r = amqp_read_message(mq->conn, MQ_CHANNEL, &msg, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            int rc = check_reply(mq, r, "amqp read returned message");
            mq->open = false;
            mq->conn_ok = false;
            return rc == EH_OK ? EH_AGAIN : rc;
        }
        amqp_destroy_message(&msg);
        eh_log_warn("amqp: the broker returned an unroutable message");
        return EH_OK;
    }
    case AMQP_BASIC_CANCEL_METHOD:
        /* The broker cancelled our consumer (queue deleted): reconnecting declares and consumes again. */
        eh_log_warn("amqp: the broker cancelled the consumer");
        mq->consuming = false;
        mq->open = false;
        return EH_AGAIN;
    case AMQP_CONNECTION_BLOCKED_METHOD:
        eh_log_warn("amqp: the broker blocked publishing (resource alarm)");
        mq->blocked = true;
        return EH_OK;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        eh_log_info("amqp: the broker unblocked publishing");
        mq->blocked = false;
        return EH_OK;
    case AMQP_CONNECTION_CLOSE_METHOD:
    case AMQP_CHANNEL_CLOSE_METHOD: {
        int rc = on_broker_close(mq, "amqp", m);
        return rc == EH_OK ? EH_AGAIN : rc;
    }
    default:
        eh_log_debug("amqp: ignoring %s", amqp_method_name(m->id));
        return EH_OK;
    }
}

/*
 * Waits until deadline (monotonic ms) for the next frame, sending and
 * checking heartbeats meanwhile (the library does both inside
 * wait_frame_inner). EH_OK with *f, EH_DECLINED at the deadline, EH_AGAIN when
 * the connection is gone. *f stays valid until the next call.
 */
static int wait_frame(eh_mq_t *mq, amqp_frame_t *f, int64_t deadline)
{
    /* Nothing decoded is held across calls, so the pools of channels without queued frames can be recycled. */
    amqp_maybe_release_buffers(mq->conn);
    for (;;) {
        struct timeval tv = tv_from_ms(deadline - eh_time_mono_ms());
        int st = amqp_simple_wait_frame_noblock(mq->conn, f, &tv);
        if (st == AMQP_STATUS_OK)
            return EH_OK;
        if (st != AMQP_STATUS_TIMEOUT)
            return on_library_error(mq, "amqp wait", st);
        /* poll() may wake up to a millisecond early: the caller's deadline is the one that counts. */
        if (eh_time_mono_ms() >= deadline)
            return EH_DECLINED;
    }
}

/* Handles what has already arrived, without waiting. */
static int drain(eh_mq_t *mq)
{
    int64_t now = eh_time_mono_ms();
    for (;;) {
        amqp_frame_t f;
        int rc = wait_frame(mq, &f, now);
        if (rc == EH_DECLINED)
            return EH_OK;
        if (rc != EH_OK)
            return rc;
        rc = handle_async(mq, &f);
        if (rc != EH_OK)
            return rc;
    }
}

/* ---- connection -------------------------------------------------------- */

/* Client properties: a name for the broker's connection list, and the capabilities we handle. */
static amqp_rpc_reply_t login(amqp_connection_state_t conn, const struct amqp_connection_info *info, int heartbeat_s)
{
    amqp_table_entry_t caps[2];
    caps[0].key = amqp_cstring_bytes("connection.blocked");
    caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[0].value.value.boolean = 1;
    caps[1].key = amqp_cstring_bytes("consumer_cancel_notify");
    caps[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[1].value.value.boolean = 1;

    char name[64];
    snprintf(name, sizeof(name), "event-horizon pid %ld", (long)getpid());
    amqp_table_entry_t props[2];
    props[0].key = amqp_cstring_bytes("connection_name");
    props[0].value.kind = AMQP_FIELD_KIND_UTF8;
    props[0].value.value.bytes = amqp_cstring_bytes(name);
    props[1].key = amqp_cstring_bytes("capabilities");
    props[1].value.kind = AMQP_FIELD_KIND_TABLE;
    props[1].value.value.table.num_entries = (int)EH_ARRAY_LEN(caps);
    props[1].value.value.table.entries = caps;
    amqp_table_t table = {.num_entries = (int)EH_ARRAY_LEN(props), .entries = props};

    /* An empty vhost ("amqp://host/") means the default one here, as most clients read it. */
    const char *vhost = info->vhost != NULL && info->vhost[0] != '\0' ? info->vhost : "/";
    return amqp_login_with_properties(conn, vhost, 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat_s, &table,
                                      AMQP_SASL_METHOD_PLAIN, info->user, info->password);
}

/* One connection attempt bounded by timeout_ms. On success mq->conn is set and channel 1 is open. */
static int try_connect(eh_mq_t *mq, const struct amqp_connection_info *info, int heartbeat_s, int64_t timeout_ms,
                       int log_level)
{
    int rc = EH_AGAIN;
    const char *what = "amqp connect";
    mq->conn = amqp_new_connection();
    if (mq->conn == NULL) {
        eh_log_error("amqp connect: out of memory");
        return EH_ERR;
    }
    amqp_socket_t *sock = amqp_tcp_socket_new(mq->conn); /* owned by the connection */
    if (sock == NULL) {
        eh_log_error("amqp connect: cannot create a socket");
        rc = EH_ERR;
        goto out;
    }
    int64_t deadline = eh_time_mono_ms() + timeout_ms;
    struct timeval tv = tv_from_ms(timeout_ms);
    int st = amqp_socket_open_noblock(sock, info->host, info->port, &tv);
    if (st != AMQP_STATUS_OK) {
        eh_log_kv(log_level, json_pack("{s:s, s:i, s:i}", "host", info->host, "port", info->port, "amqp_status", st),
                  "%s: %s", what, amqp_error_string2(st));
        goto out;
    }
    /* The login gets what is left of this attempt's time. */
    int64_t left = deadline - eh_time_mono_ms();
    tv = tv_from_ms(left > 50 ? left : 50);
    st = amqp_set_handshake_timeout(mq->conn, &tv);
    if (st != AMQP_STATUS_OK) {
        eh_log_error("%s: handshake timeout: %s", what, amqp_error_string2(st));
        goto out;
    }
    mq->open = true;
    mq->conn_ok = true;
    amqp_rpc_reply_t r = login(mq->conn, info, heartbeat_s);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
            eh_log_kv(log_level,
                      json_pack("{s:s, s:i, s:s}", "host", info->host, "port", info->port, "user", info->user),
                      "%s: login failed: %s", what, amqp_error_string2(r.library_error));
        else
            rc = check_reply(mq, r, "amqp login");
        goto out;
    }
    struct timeval rpc = tv_from_ms(MQ_RPC_TIMEOUT_MS);
    st = amqp_set_rpc_timeout(mq->conn, &rpc);
    if (st != AMQP_STATUS_OK) {
        eh_log_error("%s: rpc timeout: %s", what, amqp_error_string2(st));
        goto out;
    }
    if (amqp_channel_open(mq->conn, MQ_CHANNEL) == NULL) {
        rc = check_last_reply(mq, "amqp channel.open");
        goto out;
    }
    mq->open = true;
    return EH_OK;
out:
    mq->open = false;
    mq->conn_ok = false;
    if (amqp_destroy_connection(mq->conn) != AMQP_STATUS_OK)
        eh_log_debug("amqp connect: destroying the failed connection reported an error");
    mq->conn = NULL;
    return rc == EH_OK ? EH_AGAIN : rc;
}

static int connect_with_retries(eh_mq_t *mq, const struct amqp_connection_info *info, int heartbeat_s, int64_t wait_ms)
{
    int64_t deadline = eh_time_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    eh_backoff_t backoff;
    eh_backoff_init(&backoff, MQ_BACKOFF_FIRST_MS, MQ_BACKOFF_MAX_MS);
    for (int attempt = 1;; attempt++) {
        int64_t remaining = deadline - eh_time_mono_ms();
        int64_t timeout = wait_ms > 0 ? (remaining > 50 ? remaining : 50) : MQ_ONE_TRY_TIMEOUT_MS;
        /* Only the first failure is a warning; the final one is reported by the caller. */
        int rc = try_connect(mq, info, heartbeat_s, timeout, attempt == 1 ? EH_LOG_WARN : EH_LOG_DEBUG);
        if (rc == EH_OK) {
            if (attempt > 1)
                eh_log_info("amqp connected after %d attempts", attempt);
            return EH_OK;
        }
        remaining = deadline - eh_time_mono_ms();
        /* EH_ERR: refused for good (bad credentials, no access to the vhost); waiting will not help. */
        if (rc == EH_ERR || remaining <= 0)
            return rc;
        int64_t delay = eh_backoff_next(&backoff);
        (void)eh_stop_sleep_ms(NULL, delay < remaining ? delay : remaining);
    }
}

eh_mq_t *eh_mq_connect(const char *url, int heartbeat_s, int64_t wait_ms)
{
    eh_mq_t *mq = NULL;
    /* amqp_parse_url cuts the string in place and points into it. */
    char *copy = strdup(url != NULL ? url : "");
    if (copy == NULL) {
        eh_log_errno(EH_LOG_ERROR, ENOMEM, "amqp connect");
        return NULL;
    }
    struct amqp_connection_info info;
    amqp_default_connection_info(&info);
    int st = amqp_parse_url(copy, &info);
    if (st != AMQP_STATUS_OK) {
        /* The URL may hold a password: never log it. */
        eh_log_error("amqp connect: invalid AMQP URL: %s", amqp_error_string2(st));
        goto out;
    }
    if (info.ssl) {
        eh_log_error("amqp connect: amqps:// is not supported");
        goto out;
    }
    if (heartbeat_s < 0 || heartbeat_s > 65535) {
        eh_log_error("amqp connect: heartbeat %d s out of range", heartbeat_s);
        goto out;
    }
    mq = calloc(1, sizeof(*mq));
    if (mq == NULL) {
        eh_log_errno(EH_LOG_ERROR, ENOMEM, "amqp connect");
        goto out;
    }
    if (connect_with_retries(mq, &info, heartbeat_s, wait_ms) != EH_OK) {
        eh_log_kv(EH_LOG_ERROR,
                  json_pack("{s:s, s:i, s:s, s:I}", "host", info.host, "port", info.port, "vhost", info.vhost,
                            "wait_ms", (json_int_t)wait_ms),
                  "amqp connect: no connection to the broker");
        free(mq);
        mq = NULL;
        goto out;
    }
    eh_log_kv(EH_LOG_DEBUG,
              json_pack("{s:s, s:i, s:i}", "host", info.host, "port", info.port, "heartbeat_s", heartbeat_s),
              "amqp connected");
out:
    free(copy);
    return mq;
}

void eh_mq_destroy(eh_mq_t *mq)
{
    if (mq == NULL)
        return;
    /* Unacknowledged deliveries go back to their queue when the channel closes. */
    pending_free_all(mq);
    if (mq->conn != NULL && mq->conn_ok) {
        struct timeval tv = tv_from_ms(MQ_CLOSE_TIMEOUT_MS);
        if (amqp_set_rpc_timeout(mq->conn, &tv) == AMQP_STATUS_OK) {
            amqp_rpc_reply_t r;
            if (mq->open) {
                r = amqp_channel_close(mq->conn, MQ_CHANNEL, AMQP_REPLY_SUCCESS);
                if (r.reply_type != AMQP_RESPONSE_NORMAL)
                    eh_log_debug("amqp: channel.close failed (type %d)", (int)r.reply_type);
            }
            r = amqp_connection_close(mq->conn, AMQP_REPLY_SUCCESS);
            if (r.reply_type != AMQP_RESPONSE_NORMAL)
                eh_log_debug("amqp: connection.close failed (type %d)", (int)r.reply_type);
        }
    }
    if (mq->conn != NULL && amqp_destroy_connection(mq->conn) != AMQP_STATUS_OK)
        eh_log_debug("amqp: destroying the connection reported an error");
    free(mq);
}

bool eh_mq_is_open(const eh_mq_t *mq)
{
    return mq != NULL && mq->open;
}

/* ---- topology ---------------------------------------------------------- */

static int declare_exchange(eh_mq_t *mq, const char *name, const char *type)
{
    if (amqp_exchange_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0, 1, 0, 0,
                              amqp_empty_table) == NULL)
        return check_last_reply(mq, "amqp exchange.declare");
    return EH_OK;
}

static int declare_queue(eh_mq_t *mq, const char *name, amqp_table_t args)
{
    if (amqp_queue_declare(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, args) == NULL)
        return check_last_reply(mq, "amqp queue.declare");
    return EH_OK;
}

int eh_mq_declare_topology(eh_mq_t *mq)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    int rc = declare_exchange(mq, EH_MQ_DLX, "fanout");
    if (rc != EH_OK)
        return rc;
    rc = declare_queue(mq, EH_MQ_DEAD_QUEUE, amqp_empty_table);
    if (rc != EH_OK)
        return rc;
    if (amqp_queue_bind(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(EH_MQ_DEAD_QUEUE), amqp_cstring_bytes(EH_MQ_DLX),
                        amqp_empty_bytes, amqp_empty_table) == NULL)
        return check_last_reply(mq, "amqp queue.bind " EH_MQ_DEAD_QUEUE);

    amqp_table_entry_t dlx;
    dlx.key = amqp_cstring_bytes("x-dead-letter-exchange");
    dlx.value.kind = AMQP_FIELD_KIND_UTF8;
    dlx.value.value.bytes = amqp_cstring_bytes(EH_MQ_DLX);
    amqp_table_t args = {.num_entries = 1, .entries = &dlx};
    rc = declare_queue(mq, EH_MQ_JOBS_QUEUE, args);
    if (rc != EH_OK)
        return rc;
    return declare_exchange(mq, EH_MQ_PROGRESS_EXCHANGE, "topic");
}

/* ---- publishing -------------------------------------------------------- */

/*
 * True when the socket accepts more data within timeout_ms. Publishing goes
 * through a blocking send in the library; a broker that stops reading (flow
 * control) would otherwise hold us once the send buffer is full.
 */
static bool writable(eh_mq_t *mq, int64_t timeout_ms)
{
    int fd = amqp_get_sockfd(mq->conn);
    if (fd < 0)
        return false;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int64_t deadline = eh_time_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - eh_time_mono_ms();
        int n = poll(&pfd, 1, left > 0 ? (int)(left < 60000 ? left : 60000) : 0);
        if (n > 0)
            return (pfd.revents & POLLOUT) != 0;
        if (n == 0 && left <= 0)
            return false;
        if (n < 0 && errno != EINTR) {
            eh_log_errno(EH_LOG_ERROR, errno, "amqp poll");
            return false;
        }
    }
}

static int publish(eh_mq_t *mq, const char *exchange, const char *routing_key, const void *body, size_t len,
                   uint8_t delivery_mode)
{
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = delivery_mode;
    amqp_bytes_t b = {.len = len, .bytes = (void *)body};
    int st = amqp_basic_publish(mq->conn, MQ_CHANNEL, bytes_of(exchange), bytes_of(routing_key), 0, 0, &props, b);
    if (st != AMQP_STATUS_OK)
        return on_library_error(mq, "amqp basic.publish", st);
    if (mq->confirm_mode)
        mq->published++;
    return EH_OK;
}

/* Whether an ack/nack covers delivery tag `tag`. */
static bool confirms(const amqp_method_t *m, uint64_t tag)
{
    uint64_t t;
    bool multiple;
    if (m->id == AMQP_BASIC_ACK_METHOD) {
        const amqp_basic_ack_t *a = m->decoded;
        t = a->delivery_tag;
        multiple = a->multiple != 0;
    } else {
        const amqp_basic_nack_t *n = m->decoded;
        t = n->delivery_tag;
        multiple = n->multiple != 0;
    }
    return t == tag || (multiple && t > tag);
}

/* Puts channel 1 in confirm mode, within the caller's timeout rather than the general RPC one. */
static int confirm_select(eh_mq_t *mq, int64_t timeout_ms)
{
    struct timeval tv = tv_from_ms(timeout_ms > 1 ? timeout_ms : 1);
    int st = amqp_set_rpc_timeout(mq->conn, &tv);
    if (st != AMQP_STATUS_OK)
        return on_library_error(mq, "amqp confirm.select", st);
    amqp_confirm_select_ok_t *ok = amqp_confirm_select(mq->conn, MQ_CHANNEL);
    int rc = ok != NULL ? EH_OK : check_last_reply(mq, "amqp confirm.select");
    tv = tv_from_ms(MQ_RPC_TIMEOUT_MS);
    st = amqp_set_rpc_timeout(mq->conn, &tv);
    if (rc == EH_OK && st != AMQP_STATUS_OK)
        rc = on_library_error(mq, "amqp confirm.select", st);
    if (rc != EH_OK)
        return rc == EH_DECLINED ? EH_ERR : rc;
    mq->confirm_mode = true;
    mq->published = 0;
    return EH_OK;
}

int eh_mq_publish_confirmed(eh_mq_t *mq, const char *exchange, const char *routing_key, const void *body, size_t len,
                            int64_t timeout_ms)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    int64_t deadline = eh_time_mono_ms() + timeout_ms;
    /* Notices connection.blocked and a closed connection that arrived meanwhile. */
    int rc = drain(mq);
    if (rc != EH_OK)
        return EH_AGAIN;
    if (mq->blocked) {
        /* The broker would hold the message until its alarm clears: tell the caller now. */
        eh_log_warn("amqp publish: the broker is blocking publishers (resource alarm)");
        return EH_AGAIN;
    }
    if (!mq->confirm_mode) {
        rc = confirm_select(mq, timeout_ms);
        if (rc != EH_OK)
            return rc;
    }
    if (!writable(mq, deadline - eh_time_mono_ms())) {
        eh_log_warn("amqp publish: the broker is not reading (flow control)");
        return EH_AGAIN;
    }
    rc = publish(mq, exchange, routing_key, body, len, AMQP_DELIVERY_PERSISTENT);
    if (rc != EH_OK)
        return rc;
    uint64_t tag = mq->published;
    for (;;) {
        amqp_frame_t f;
        rc = wait_frame(mq, &f, deadline);
        if (rc == EH_DECLINED) {
            eh_log_warn("amqp publish: no confirm within %lld ms", (long long)timeout_ms);
            return EH_AGAIN;
        }
        if (rc != EH_OK)
            return rc;
        if (f.frame_type == AMQP_FRAME_METHOD && f.channel == MQ_CHANNEL &&
            (f.payload.method.id == AMQP_BASIC_ACK_METHOD || f.payload.method.id == AMQP_BASIC_NACK_METHOD) &&
            confirms(&f.payload.method, tag)) {
            if (f.payload.method.id == AMQP_BASIC_ACK_METHOD)
                return EH_OK;
            eh_log_error("amqp publish: the broker refused the message (nack)");
            return EH_ERR;
        }
        rc = handle_async(mq, &f);
        if (rc != EH_OK)
            return rc == EH_DECLINED ? EH_ERR : rc; /* 404: the exchange does not exist */
    }
}

int eh_mq_publish_fast(eh_mq_t *mq, const char *exchange, const char *routing_key, const void *body, size_t len)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    /* Notices connection.blocked and a closed connection that arrived meanwhile. */
    int rc = drain(mq);
    if (rc != EH_OK)
        return EH_AGAIN;
    if (mq->blocked || !writable(mq, 0)) {
        eh_log_debug("amqp publish: dropped a transient message (flow control)");
        return EH_DECLINED;
    }
    return publish(mq, exchange, routing_key, body, len, AMQP_DELIVERY_NONPERSISTENT);
}

/* ---- consuming --------------------------------------------------------- */

static int start_consumer(eh_mq_t *mq, amqp_bytes_t queue, bool no_ack, bool exclusive)
{
    amqp_basic_consume_ok_t *ok =
        amqp_basic_consume(mq->conn, MQ_CHANNEL, queue, amqp_empty_bytes, 0, no_ack, exclusive, amqp_empty_table);
    if (ok == NULL)
        return check_last_reply(mq, "amqp basic.consume");
    copy_bytes(mq->consumer_tag, sizeof(mq->consumer_tag), ok->consumer_tag);
    mq->consuming = true;
    mq->consumer_no_ack = no_ack;
    return EH_OK;
}

int eh_mq_consume(eh_mq_t *mq, const char *queue, int prefetch)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    if (mq->consuming) {
        eh_log_error("amqp consume: this handle already has a consumer");
        return EH_ERR;
    }
    if (prefetch < 0 || prefetch > 65535) {
        eh_log_error("amqp consume: prefetch %d out of range", prefetch);
        return EH_ERR;
    }
    if (amqp_basic_qos(mq->conn, MQ_CHANNEL, 0, (uint16_t)prefetch, 0) == NULL)
        return check_last_reply(mq, "amqp basic.qos");
    return start_consumer(mq, bytes_of(queue), false, false);
}

int eh_mq_consume_exclusive(eh_mq_t *mq, const char *exchange, const char *binding_key)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    if (mq->consuming) {
        eh_log_error("amqp consume: this handle already has a consumer");
        return EH_ERR;
    }
    amqp_queue_declare_ok_t *q =
        amqp_queue_declare(mq->conn, MQ_CHANNEL, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    if (q == NULL)
        return check_last_reply(mq, "amqp queue.declare (exclusive)");
    char name[256];
    copy_bytes(name, sizeof(name), q->queue);
    if (amqp_queue_bind(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(name), bytes_of(exchange), bytes_of(binding_key),
                        amqp_empty_table) == NULL)
        return check_last_reply(mq, "amqp queue.bind (exclusive)");
    return start_consumer(mq, amqp_cstring_bytes(name), true, true);
}

int eh_mq_cancel(eh_mq_t *mq)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    if (!mq->consuming)
        return EH_OK;
    /* Deliveries that race the cancel-ok are queued by the library meanwhile. */
    if (amqp_basic_cancel(mq->conn, MQ_CHANNEL, amqp_cstring_bytes(mq->consumer_tag)) == NULL)
        return check_last_reply(mq, "amqp basic.cancel");
    mq->consuming = false;
    while (amqp_frames_enqueued(mq->conn)) {
        amqp_frame_t f;
        int rc = wait_frame(mq, &f, eh_time_mono_ms());
        if (rc == EH_DECLINED)
            break;
        if (rc == EH_OK)
            rc = handle_async(mq, &f);
        if (rc != EH_OK)
            return rc;
    }
    /* No more deliveries can come: hand back what was prefetched so that another consumer takes it now. */
    int rc = EH_OK;
    struct pending *p;
    while ((p = pending_pop(mq)) != NULL) {
        if (!mq->consumer_no_ack && rc == EH_OK) {
            int st = amqp_basic_reject(mq->conn, MQ_CHANNEL, p->msg.delivery_tag, 1);
            if (st != AMQP_STATUS_OK)
                rc = on_library_error(mq, "amqp basic.reject (requeue)", st);
        }
        eh_mq_msg_free(&p->msg);
        free(p);
    }
    return rc;
}

int eh_mq_next(eh_mq_t *mq, eh_mq_msg_t *msg, int64_t timeout_ms)
{
    memset(msg, 0, sizeof(*msg));
    if (mq == NULL)
        return EH_AGAIN;
    int64_t deadline = eh_time_mono_ms() + timeout_ms;
    for (;;) {
        /*
         * Deliveries kept earlier come first. Once the handle has failed,
         * manual-ack ones can no longer be acked (the broker requeues them),
         * but auto-acked ones would be lost if not handed out.
         */
        if (!mq->open && !mq->consumer_no_ack)
            pending_free_all(mq);
        struct pending *p = pending_pop(mq);
        if (p != NULL) {
            *msg = p->msg;
            free(p);
            return EH_OK;
        }
        if (!mq->open)
            return EH_AGAIN;
        amqp_frame_t f;
        int rc = wait_frame(mq, &f, deadline);
        if (rc != EH_OK)
            return rc; /* EH_DECLINED at the deadline, EH_AGAIN when the connection is gone */
        /* A failure here has closed the handle; kept deliveries are still handed out first. */
        if (handle_async(mq, &f) != EH_OK && mq->pending_head == NULL)
            return EH_AGAIN;
    }
}

void eh_mq_msg_free(eh_mq_msg_t *msg)
{
    if (msg == NULL)
        return;
    free(msg->body);
    msg->body = NULL;
    msg->len = 0;
}

int eh_mq_ack(eh_mq_t *mq, uint64_t delivery_tag)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    int st = amqp_basic_ack(mq->conn, MQ_CHANNEL, delivery_tag, 0);
    if (st != AMQP_STATUS_OK)
        return on_library_error(mq, "amqp basic.ack", st);
    return EH_OK;
}

int eh_mq_reject(eh_mq_t *mq, uint64_t delivery_tag)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    int st = amqp_basic_reject(mq->conn, MQ_CHANNEL, delivery_tag, 0);
    if (st != AMQP_STATUS_OK)
        return on_library_error(mq, "amqp basic.reject", st);
    return EH_OK;
}

int eh_mq_requeue(eh_mq_t *mq, uint64_t delivery_tag)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    int st = amqp_basic_reject(mq->conn, MQ_CHANNEL, delivery_tag, 1);
    if (st != AMQP_STATUS_OK)
        return on_library_error(mq, "amqp basic.reject (requeue)", st);
    return EH_OK;
}

int eh_mq_purge(eh_mq_t *mq, const char *queue, uint32_t *purged)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    amqp_queue_purge_ok_t *ok = amqp_queue_purge(mq->conn, MQ_CHANNEL, bytes_of(queue));
    if (ok == NULL)
        return check_last_reply(mq, "amqp queue.purge");
    if (purged != NULL)
        *purged = ok->message_count;
    return EH_OK;
}

int eh_mq_message_count(eh_mq_t *mq, const char *queue, uint32_t *count)
{
    uint32_t consumers;
    return eh_mq_queue_stats(mq, queue, count, &consumers);
}

int eh_mq_queue_stats(eh_mq_t *mq, const char *queue, uint32_t *messages, uint32_t *consumers)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(mq->conn, MQ_CHANNEL, bytes_of(queue), 1, 0, 0, 0, amqp_empty_table);
    if (ok == NULL)
        return check_last_reply(mq, "amqp queue.declare (passive)");
    *messages = ok->message_count;
    *consumers = ok->consumer_count;
    return EH_OK;
}

int eh_mq_idle(eh_mq_t *mq, int64_t ms)
{
    if (!eh_mq_is_open(mq))
        return EH_AGAIN;
    int64_t deadline = eh_time_mono_ms() + ms;
    for (;;) {
        amqp_frame_t f;
        int rc = wait_frame(mq, &f, deadline);
        if (rc == EH_DECLINED)
            return EH_OK;
        if (rc != EH_OK)
            return rc;
        /* A delivery is kept for eh_mq_next; a close ends the handle. */
        if (handle_async(mq, &f) != EH_OK)
            return EH_AGAIN;
    }
}

/* keepalive ops: ud is an eh_mq_keepalive_cfg_t (borrowed). One attempt per open; the keepalive does the back-off. */
static void *keepalive_open(void *ud)
{
    const eh_mq_keepalive_cfg_t *cfg = ud;
    eh_mq_t *mq = eh_mq_connect(cfg->url, cfg->heartbeat_s, 0);
    if (mq != NULL && cfg->declare_topology && eh_mq_declare_topology(mq) != EH_OK) {
        eh_mq_destroy(mq);
        return NULL;
    }
    return mq;
}

static bool keepalive_healthy(void *conn, void *ud)
{
    (void)ud;
    return eh_mq_is_open(conn);
}

static void keepalive_close(void *conn, void *ud)
{
    (void)ud;
    eh_mq_destroy(conn);
}

const eh_keepalive_ops_t eh_mq_keepalive_ops = {
    .what = "broker",
    .open = keepalive_open,
    .healthy = keepalive_healthy,
    .close = keepalive_close,
};
