#include "ws_consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mq.h"
#include "timefmt.h"

/* "*" matches one word: job ids hold no dot, so every job.<id> and nothing deeper. */
#define BINDING_KEY "job.*"
#define NEXT_WAIT_MS 250 /* how often the thread looks at its stop flag while idle */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STOP_POLL_MS 50

struct api_ws_consumer {
    const char *url;
    int heartbeat_s;
    api_ws_consumer_ops_t ops;
    pthread_t thread;
    bool started;
    atomic_bool stop;
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
    atomic_init(&c->stop, false);
    return c;
}

/* Sleeps ms unless asked to stop; true when asked. */
static bool nap(api_ws_consumer_t *c, int64_t ms)
{
    int64_t end = eh_time_mono_ms() + ms;
    while (!atomic_load(&c->stop)) {
        int64_t left = end - eh_time_mono_ms();
        if (left <= 0)
            return false;
        eh_time_sleep_ms(left < STOP_POLL_MS ? left : STOP_POLL_MS, NULL);
    }
    return true;
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

/* Connects, declares, binds and consumes. New handle, or NULL (the reason is logged by mq). */
static eh_mq_t *open_queue(api_ws_consumer_t *c)
{
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

static void *consumer_main(void *arg)
{
    api_ws_consumer_t *c = arg;
    int64_t backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&c->stop)) {
        eh_mq_t *mq = open_queue(c);
        if (mq == NULL) {
            if (nap(c, backoff))
                break;
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        eh_log_info("progress relay consuming " EH_MQ_PROGRESS_EXCHANGE " (" BINDING_KEY ")");
        c->ops.resync(c->ops.ud);
        while (!atomic_load(&c->stop)) {
            eh_mq_msg_t m;
            int rc = eh_mq_next(mq, &m, NEXT_WAIT_MS);
            if (rc == EH_OK) {
                handle(c, &m);
                eh_mq_msg_free(&m);
            } else if (rc != EH_DECLINED) {
                break;
            }
        }
        eh_mq_destroy(mq);
        if (!atomic_load(&c->stop))
            eh_log_warn("progress relay lost the broker; reconnecting");
    }
    return NULL;
}

int api_ws_consumer_start(api_ws_consumer_t *c)
{
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
    atomic_store(&c->stop, true);
    if (c->started)
        pthread_join(c->thread, NULL);
    free(c);
}
