/*
 * ws_event.h - the pure pieces of the WebSocket relay (unit-tested): the
 * shared frame of one job event, the bounded per-connection queue that
 * coalesces progress events, and the parsers of the request path and of the
 * worker's event messages.
 *
 * Frames are reference-counted without atomics: once handed to the lws
 * service thread, only that thread touches them.
 */
#ifndef EH_API_WS_EVENT_H
#define EH_API_WS_EVENT_H

#include <libwebsockets.h>
#include <stdbool.h>

#include "eh.h"
#include "job.h"

/* Longest client message accepted (bytes over all its fragments); more closes with 1009. */
#define API_WS_RX_MAX 4096

/*
 * One JSON text frame, shared by every session of the job it belongs to.
 * buf holds LWS_PRE bytes of room (lws writes the frame header there; the
 * header is the same for every server-to-client copy, so sharing is safe
 * on the one service thread), then len bytes of JSON.
 */
typedef struct api_ws_frame {
    int refs;
    int64_t seq;      /* the job's event_seq this frame reflects */
    bool terminal;    /* completed / failed / cancelled / deleted (or a final snapshot): close with 1000 after it */
    bool coalescable; /* started / progress: may give way to a newer event when a queue is full */
    size_t len;
    unsigned char buf[]; /* LWS_PRE + len bytes */
} api_ws_frame_t;

/* A new frame with one reference holding a copy of json[0..len). NULL on out of memory. */
EH_MUST_CHECK api_ws_frame_t *api_ws_frame_new(const char *json, size_t len, int64_t seq, bool terminal,
                                               bool coalescable);
/*
 * A frame for job (borrowed) as the contract's event object: "snapshot"
 * when snapshot is true, otherwise a synthetic event after a missed one
 * ("completed"/"failed" for a final job, "progress" otherwise). seq is
 * job->seq, emitted_at is now_ms. NULL on out of memory.
 */
EH_MUST_CHECK api_ws_frame_t *api_ws_frame_from_job(const eh_job_t *job, bool snapshot, int64_t now_ms);
/*
 * The terminal frame of a job found gone (deleted while its "deleted" event
 * was lost): {"job_id", "event": "deleted", "seq", "emitted_at"}; the job
 * object itself no longer exists. NULL on out of memory.
 */
EH_MUST_CHECK api_ws_frame_t *api_ws_frame_gone(const char *job_id, int64_t seq, int64_t now_ms);
/* The JSON payload (what lws_write takes). */
unsigned char *api_ws_frame_payload(api_ws_frame_t *f);
void api_ws_frame_ref(api_ws_frame_t *f);
/* Drops one reference; frees at zero. NULL is accepted. */
void api_ws_frame_unref(api_ws_frame_t *f);

/*
 * Parses an event published on eh.progress: its job_id (a UUID, written
 * lowercase into job_id), seq and event name. EH_OK with the frame
 * attributes set, or EH_DECLINED for anything else (not JSON, missing or
 * ill-typed field, unknown event): such a message is dropped.
 */
EH_MUST_CHECK int api_ws_event_parse(const char *body, size_t len, char job_id[EH_UUID_STRLEN + 1], int64_t *seq,
                                     bool *terminal, bool *coalescable);

/*
 * The job id of a WebSocket request path "/ws/jobs/<id>". EH_OK with the
 * id lowercased; EH_DECLINED when <id> is not a UUID (400); EH_ERR when
 * the path is not of that shape at all (404).
 */
EH_MUST_CHECK int api_ws_path_job(const char *path, char job_id[EH_UUID_STRLEN + 1]);

/*
 * The bounded queue of one session. Frames are kept in seq order: a frame
 * whose seq is not above the last accepted one is dropped (an event older
 * than the snapshot, a duplicate). When the queue is full the newest
 * coalescable frame gives way, so a terminal frame is never dropped and
 * memory stays bounded whatever the client does. Nothing is accepted after
 * a terminal frame.
 */
typedef struct api_ws_queue {
    api_ws_frame_t **items; /* ring of cap entries */
    int cap, head, count;
    int64_t last_seq;   /* seq of the newest accepted frame; INT64_MIN before the first */
    bool ended;         /* a terminal frame was accepted */
    uint64_t coalesced; /* frames that gave way to newer ones */
} api_ws_queue_t;

/* cap >= 2. EH_OK or EH_ERR (out of memory). */
EH_MUST_CHECK int api_ws_queue_init(api_ws_queue_t *q, int cap);
/* Drops every queued reference and frees the ring. */
void api_ws_queue_free(api_ws_queue_t *q);
/* Offers f; true when it was queued (a reference is then taken). */
bool api_ws_queue_push(api_ws_queue_t *q, api_ws_frame_t *f);
/* The oldest queued frame (borrowed), or NULL. */
api_ws_frame_t *api_ws_queue_peek(const api_ws_queue_t *q);
/* Removes the oldest frame and drops its reference. */
void api_ws_queue_pop(api_ws_queue_t *q);

#endif
