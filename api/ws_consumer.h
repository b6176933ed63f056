/*
 * ws_consumer.h - the progress consumer of the WebSocket relay: its own
 * AMQP connection, one server-named exclusive queue bound to eh.progress
 * with "job.*" (every job: one binding, no bind/unbind per subscriber), and
 * reconnection with back-off. It runs on its own thread and hands each
 * parsed event to the relay through callbacks.
 */
#ifndef EH_API_WS_CONSUMER_H
#define EH_API_WS_CONSUMER_H

#include "eh.h"
#include "ws_event.h"

typedef struct api_ws_consumer api_ws_consumer_t;

/* One event for the relay. */
typedef struct api_ws_msg {
    struct api_ws_msg *next;
    char job_id[EH_UUID_STRLEN + 1];
    api_ws_frame_t *frame; /* owned (one reference) */
} api_ws_msg_t;

/* Frees msg and its frame reference. NULL is accepted. */
void api_ws_msg_free(api_ws_msg_t *msg);

typedef struct api_ws_consumer_ops {
    /* An event arrived; msg is stolen. Called on the consumer thread. */
    void (*deliver)(void *ud, api_ws_msg_t *msg);
    /*
     * The queue is (again) in place after the broker was unreachable:
     * events may have been missed, so the relay re-reads its jobs.
     * Called on the consumer thread, before any event of the new connection.
     */
    void (*resync)(void *ud);
    void *ud;
} api_ws_consumer_ops_t;

/* amqp_url is borrowed and must outlive the consumer. NULL on out of memory. */
EH_MUST_CHECK api_ws_consumer_t *api_ws_consumer_create(const char *amqp_url, int heartbeat_s,
                                                        const api_ws_consumer_ops_t *ops);
/* Starts the thread. EH_OK or EH_ERR. */
EH_MUST_CHECK int api_ws_consumer_start(api_ws_consumer_t *c);
/* Stops the thread (within about one broker time-out), closes the connection and frees. NULL is accepted. */
void api_ws_consumer_destroy(api_ws_consumer_t *c);

#endif
