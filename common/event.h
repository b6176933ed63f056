/*
 * event.h - the one definition of a job's progress event (CONTRACT.md):
 * what the worker publishes on the topic exchange eh.progress with routing
 * key job.<id>, and what the WebSocket relay parses and forwards.
 *
 * An event is the contract's job object plus "event", "seq" and
 * "emitted_at". Kinds: started and progress may be coalesced (a newer one
 * says everything an older one said); completed, failed (and cancelled,
 * issue 12) end the job's stream; snapshot is the relay's own first frame
 * and never travels on the broker.
 */
#ifndef EH_EVENT_H
#define EH_EVENT_H

#include <jansson.h>
#include <stdbool.h>

#include "eh.h"
#include "job.h"

typedef enum {
    EH_EVENT_SNAPSHOT,
    EH_EVENT_STARTED,
    EH_EVENT_PROGRESS,
    EH_EVENT_COMPLETED,
    EH_EVENT_FAILED,
    EH_EVENT_CANCELLED, /* the owner cancelled the job (issue 12) */
    EH_EVENT_DELETED,   /* the job was deleted, by its owner or by retention (issue 12): the last word on it */
    EH_EVENT_KIND_COUNT
} eh_event_kind_t;

/* "job." + a UUID + NUL */
#define EH_EVENT_ROUTING_KEY_LEN (4 + EH_UUID_STRLEN + 1)

/* The wire name ("progress"), "" for an out-of-range kind. */
const char *eh_event_name(eh_event_kind_t kind);
/* The kind of a wire name; EH_OK or EH_DECLINED for a name not in the contract. */
EH_MUST_CHECK int eh_event_kind(const char *name, eh_event_kind_t *kind);
/* Whether a stream ends with this kind (the relay closes the session after it). */
bool eh_event_terminal(eh_event_kind_t kind);
/* Whether a newer event may replace this one in a full queue. */
bool eh_event_coalescable(eh_event_kind_t kind);
/* The event a final job's status stands for (completed/failed/cancelled), or progress for a job still running. */
eh_event_kind_t eh_event_for_status(eh_job_status_t status);

/* The event object for job (borrowed). New reference, NULL on out of memory. */
json_t *eh_event_json(const eh_job_t *job, eh_event_kind_t kind, int64_t emitted_at_ms);
/* The same as compact JSON text. New string (free it) with its length in *len; NULL on out of memory. */
char *eh_event_encode(const eh_job_t *job, eh_event_kind_t kind, int64_t emitted_at_ms, size_t *len);
/* Writes the routing key "job.<job_id>". */
void eh_event_routing_key(const char *job_id, char out[EH_EVENT_ROUTING_KEY_LEN]);

/*
 * Parses an event published on eh.progress: job_id (a UUID, written
 * lowercase), seq and kind. EH_OK, or EH_DECLINED for anything else (not
 * JSON, a missing or ill-typed field, an unknown kind, a snapshot).
 */
EH_MUST_CHECK int eh_event_parse(const char *body, size_t len, char job_id[EH_UUID_STRLEN + 1], int64_t *seq,
                                 eh_event_kind_t *kind);

#endif
