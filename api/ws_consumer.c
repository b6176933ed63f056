#include "ws_consumer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keepalive.h"
#include "log.h"
#include "mq.h"
#include "stop.h"

/* "*" matches one word: job ids hold no dot, so every job.<id> and nothing deeper. */
#define BINDING_KEY "job.*"
#define NEXT_WAIT_MS 250 /* how often the thread looks at its stop token while idle */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct api_ws_consumer {
    const char *url;
    int heartbeat_s;
    api_ws_consumer_ops_t ops;
    pthread_t thread;
    bool started;
    eh_stop_t *stop;
    eh_keepalive_t *queue; /* the consuming connection, reopened with back-off */
};

void api_ws_msg_free(api_ws_msg_t *msg)
{
    if (msg == NULL)
        return;
    api_ws_frame_unref(msg->frame);
    free(msg);
}

api_ws_consumer_t *api_ws_consumer_create(const char *amqp_url, int heartbeat_s, const api_ws_consumer_ops_t *ops)
{
    api_ws_consumer_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->url = amqp_url;
    c->heartbeat_s = heartbeat_s;
    c->ops = *ops;
    return c;
}

static void handle(api_ws_consumer_t *c, const eh_mq_msg_t *m)
{
    api_ws_msg_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL)
        return;
    int64_t seq;
    bool terminal, coalescable;
    if (api_ws_event_parse(m->body, m->len, msg->job_id, &seq, &terminal, &coalescable) != EH_OK) {
        eh_log_kv(EH_LOG_DEBUG, json_pack("{s:s}", "routing_key", m->routing_key), "progress event ignored");
        free(msg);
        return;
    }
    msg->frame = api_ws_frame_new(m->body, m->len, seq, terminal, coalescable);
    if (msg->frame == NULL) {
        free(msg);
        return;
    }
    c->ops.deliver(c->ops.ud, msg);
}

/* keepalive open: connects, declares, binds and consumes. New handle, or NULL (the reason is logged by mq). */
static void *open_queue(void *ud)
{
    api_ws_consumer_t *c = ud;
    eh_mq_t *mq = eh_mq_connect(c->url, c->heartbeat_s, 0);
    if (mq == NULL)
        return NULL;
    if (eh_mq_declare_topology(mq) != EH_OK ||
        eh_mq_consume_exclusive(mq, EH_MQ_PROGRESS_EXCHANGE, BINDING_KEY) != EH_OK) {
        eh_mq_destroy(mq);
        return NULL;
    }
    return mq;
}

static bool queue_open(void *conn, void *ud)
{
    (void)ud;
    return eh_mq_is_open(conn);
}

static void close_queue(void *conn, void *ud)
{
    (void)ud;
    eh_mq_destroy(conn);
}

static const eh_keepalive_ops_t QUEUE_OPS = {
    .what = "broker (progress relay)", .open = open_queue, .healthy = queue_open, .close = close_queue};

static void *consumer_main(void *arg)
{
    api_ws_consumer_t *c = arg;
    for (;;) {
        eh_mq_t *mq = eh_keepalive_wait(c->queue, c->stop, -1);
        if (mq == NULL)
            break; /* stop requested */
        eh_log_info("progress relay consuming " EH_MQ_PROGRESS_EXCHANGE " (" BINDING_KEY ")");
        c->ops.resync(c->ops.ud);
        while (!eh_stop_requested(c->stop)) {
            eh_mq_msg_t m;
            int rc = eh_mq_next(mq, &m, NEXT_WAIT_MS);
            if (rc == EH_OK) {
                handle(c, &m);
                eh_mq_msg_free(&m);
            } else if (rc != EH_DECLINED) {
                break;
            }
        }
        eh_keepalive_broken(c->queue);
        if (eh_stop_requested(c->stop))
            break;
        eh_log_warn("progress relay lost the broker; reconnecting");
    }
    return NULL;
}

int api_ws_consumer_start(api_ws_consumer_t *c)
{
    if (c->stop == NULL && (c->stop = eh_stop_create()) == NULL)
        return EH_ERR;
    if (c->queue == NULL && (c->queue = eh_keepalive_create(&QUEUE_OPS, c, BACKOFF_MIN_MS, BACKOFF_MAX_MS)) == NULL)
        return EH_ERR;
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        eh_log_error("cannot start the progress consumer thread");
        return EH_ERR;
    }
    c->started = true;
    return EH_OK;
}

void api_ws_consumer_destroy(api_ws_consumer_t *c)
{
    if (c == NULL)
        return;
    eh_stop_request(c->stop);
    if (c->started)
        pthread_join(c->thread, NULL);
    eh_keepalive_destroy(c->queue);
    eh_stop_destroy(c->stop);
    free(c);
}
