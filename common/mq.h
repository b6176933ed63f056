/*
 * mq.h - RabbitMQ through librabbitmq (rabbitmq-c 0.11): connection with
 * heartbeats, the topology, publishing with confirms, consuming with manual
 * ack. One eh_mq_t is used by one thread at a time.
 *
 * Topology (declared by eh_mq_declare_topology, idempotent):
 *   queue    eh.jobs        durable; x-dead-letter-exchange eh.jobs.dlx
 *   exchange eh.jobs.dlx    fanout, durable -> queue eh.jobs.dead (durable)
 *   exchange eh.progress    topic, durable; routing key job.<job_id>
 * Job messages are published to the default exchange with key eh.jobs.
 */
#ifndef EH_MQ_H
#define EH_MQ_H

#include <stdbool.h>

#include "eh.h"

#define EH_MQ_JOBS_QUEUE "eh.jobs"
#define EH_MQ_DEAD_QUEUE "eh.jobs.dead"
#define EH_MQ_DLX "eh.jobs.dlx"
#define EH_MQ_PROGRESS_EXCHANGE "eh.progress"

typedef struct eh_mq eh_mq_t;

/*
 * Connects to url (amqp://user:pass@host:port/vhost) with the given
 * heartbeat (seconds, 0 off) and opens channel 1. Retries with back-off
 * until wait_ms has passed (0: one try). New handle, or NULL after logging.
 */
EH_MUST_CHECK eh_mq_t *eh_mq_connect(const char *url, int heartbeat_s, int64_t wait_ms);
/* Closes channel and connection. NULL is accepted. */
void eh_mq_destroy(eh_mq_t *mq);
/* False once the connection has failed; the owner then destroys and reconnects. */
bool eh_mq_is_open(const eh_mq_t *mq);

EH_MUST_CHECK int eh_mq_declare_topology(eh_mq_t *mq);

/*
 * Publishes a persistent message (content-type application/json) and waits
 * up to timeout_ms for the broker's confirm (the channel is put in confirm
 * mode on first use). EH_OK when confirmed (ack), EH_ERR on nack, EH_AGAIN
 * on timeout or a lost connection.
 */
EH_MUST_CHECK int eh_mq_publish_confirmed(eh_mq_t *mq, const char *exchange, const char *routing_key,
                                          const void *body, size_t len, int64_t timeout_ms);

/*
 * Publishes a transient message without waiting for anything (progress
 * events). Never blocks for long: EH_AGAIN when the connection is gone.
 * Must not be mixed with eh_mq_publish_confirmed on the same handle.
 */
EH_MUST_CHECK int eh_mq_publish_fast(eh_mq_t *mq, const char *exchange, const char *routing_key, const void *body,
                                     size_t len);

/* Starts consuming queue with basic.qos prefetch and manual ack. */
EH_MUST_CHECK int eh_mq_consume(eh_mq_t *mq, const char *queue, int prefetch);

/*
 * Cancels the consumer started by eh_mq_consume and waits for the broker's
 * cancel-ok. A worker cancels as soon as it has a message, so that nothing is
 * prefetched (and held unacknowledged past RabbitMQ's consumer_timeout) while
 * it runs a long job; it consumes again when the job is done. A delivery that
 * races the cancel is rejected with requeue.
 */
EH_MUST_CHECK int eh_mq_cancel(eh_mq_t *mq);

/*
 * Declares a server-named exclusive auto-delete queue bound to exchange with
 * binding_key and starts consuming it with auto-ack (the progress relay).
 */
EH_MUST_CHECK int eh_mq_consume_exclusive(eh_mq_t *mq, const char *exchange, const char *binding_key);

typedef struct eh_mq_msg {
    uint64_t delivery_tag;
    bool redelivered;
    char *body; /* new, NUL-terminated copy of the body; freed by eh_mq_msg_free */
    size_t len;
    char routing_key[256];
} eh_mq_msg_t;

/*
 * Waits up to timeout_ms for the next delivery, servicing heartbeats
 * meanwhile. EH_OK with *msg filled, EH_DECLINED on timeout (no message),
 * EH_AGAIN when the connection is lost.
 */
EH_MUST_CHECK int eh_mq_next(eh_mq_t *mq, eh_mq_msg_t *msg, int64_t timeout_ms);
void eh_mq_msg_free(eh_mq_msg_t *msg);

EH_MUST_CHECK int eh_mq_ack(eh_mq_t *mq, uint64_t delivery_tag);
/* Rejects without requeue: the message goes to the dead-letter queue. */
EH_MUST_CHECK int eh_mq_reject(eh_mq_t *mq, uint64_t delivery_tag);

/*
 * Keeps the connection alive for ms milliseconds without taking deliveries
 * off the socket in a way that loses them (the per-line delay of a worker
 * that consumes with prefetch 1). EH_OK, or EH_AGAIN when the connection is
 * lost.
 */
EH_MUST_CHECK int eh_mq_idle(eh_mq_t *mq, int64_t ms);

#endif
