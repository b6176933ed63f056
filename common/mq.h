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
 *
 * Errors: a lost connection (socket error, missed heartbeats, broker
 * shutting down) gives EH_AGAIN. A broker error closes channel 1 and with it
 * the handle: 404 NOT_FOUND (a queue or exchange that does not exist) gives
 * EH_DECLINED, other refusals (406 PRECONDITION_FAILED when a queue exists
 * with other arguments, 403) EH_ERR. Either way eh_mq_is_open turns false
 * and the reason is logged; the owner destroys the handle and reconnects.
 * Frames that arrive while a call waits for something else are handled
 * there: a delivery is kept for eh_mq_next, a close ends the handle.
 */
#ifndef EH_MQ_H
#define EH_MQ_H

#include <stdbool.h>

#include "eh.h"
#include "keepalive.h"

#define EH_MQ_JOBS_QUEUE "eh.jobs"
#define EH_MQ_DEAD_QUEUE "eh.jobs.dead"
#define EH_MQ_DLX "eh.jobs.dlx"
#define EH_MQ_PROGRESS_EXCHANGE "eh.progress"

typedef struct eh_mq eh_mq_t;

/*
 * Connects to url (amqp://user:pass@host:port/vhost; an empty vhost means
 * "/") with the given heartbeat (seconds, 0 off) and opens channel 1.
 * Retries with back-off (100 ms doubling to 2 s) until wait_ms has passed
 * (0: one try of at most 5 s); bad credentials end the retries at once.
 * New handle, or NULL after logging (never the password).
 */
EH_MUST_CHECK eh_mq_t *eh_mq_connect(const char *url, int heartbeat_s, int64_t wait_ms);
/* Closes channel and connection. NULL is accepted. */
void eh_mq_destroy(eh_mq_t *mq);
/* False once the connection has failed; the owner then destroys and reconnects. */
bool eh_mq_is_open(const eh_mq_t *mq);

EH_MUST_CHECK int eh_mq_declare_topology(eh_mq_t *mq);

/* What eh_mq_keepalive_ops opens: url and heartbeat as for eh_mq_connect, then the topology when asked. */
typedef struct eh_mq_keepalive_cfg {
    const char *url;
    int heartbeat_s;
    bool declare_topology;
} eh_mq_keepalive_cfg_t;
/* Ops for eh_keepalive (keepalive.h) holding an eh_mq_t; ud is an eh_mq_keepalive_cfg_t (borrowed). */
extern const eh_keepalive_ops_t eh_mq_keepalive_ops;

/*
 * Publishes a persistent message (content-type application/json) and waits
 * up to timeout_ms for the broker's confirm (the channel is put in confirm
 * mode on first use). EH_OK when confirmed (ack), EH_ERR on nack or when
 * the exchange does not exist, EH_AGAIN on timeout or a lost connection.
 */
EH_MUST_CHECK int eh_mq_publish_confirmed(eh_mq_t *mq, const char *exchange, const char *routing_key, const void *body,
                                          size_t len, int64_t timeout_ms);

/*
 * Publishes a transient message without waiting for anything (progress
 * events). Never blocks for long: EH_AGAIN when the connection is gone;
 * EH_DECLINED when the message was dropped because the broker is applying
 * flow control (connection.blocked, or the socket's send buffer is full).
 * May share a handle with eh_mq_publish_confirmed: once the channel is in
 * confirm mode these publishes are counted too and their confirms ignored.
 */
EH_MUST_CHECK int eh_mq_publish_fast(eh_mq_t *mq, const char *exchange, const char *routing_key, const void *body,
                                     size_t len);

/* Starts consuming queue with basic.qos prefetch and manual ack. One consumer per handle (EH_ERR otherwise). */
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

/* Rejects with requeue: the broker hands the message to a consumer again (one with room for it). */
EH_MUST_CHECK int eh_mq_requeue(eh_mq_t *mq, uint64_t delivery_tag);

/* Removes every ready message from queue; *purged (may be NULL) gets their number. */
EH_MUST_CHECK int eh_mq_purge(eh_mq_t *mq, const char *queue, uint32_t *purged);

/*
 * Number of ready (not unacknowledged) messages in queue, by a passive
 * queue.declare. EH_DECLINED when the queue does not exist (the broker then
 * closes the channel: the handle is no longer open).
 */
EH_MUST_CHECK int eh_mq_message_count(eh_mq_t *mq, const char *queue, uint32_t *count);
/* The same, with the queue's consumers (metrics). */
EH_MUST_CHECK int eh_mq_queue_stats(eh_mq_t *mq, const char *queue, uint32_t *messages, uint32_t *consumers);

/*
 * Keeps the connection alive for ms milliseconds without taking deliveries
 * off the socket in a way that loses them (the per-line delay of a worker
 * that consumes with prefetch 1). EH_OK, or EH_AGAIN when the connection is
 * lost. rabbitmq-c sends heartbeats only inside calls on the handle: an owner
 * busy elsewhere calls this (ms 0 is fine) or publishes at least once per
 * heartbeat interval, or the broker drops the connection after two.
 */
EH_MUST_CHECK int eh_mq_idle(eh_mq_t *mq, int64_t ms);

#endif
