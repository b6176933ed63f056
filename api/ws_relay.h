/*
 * ws_relay.h - live job progress over WebSocket at /ws/jobs/<job_id>
 * (CONTRACT.md "Live progress"), on the port of the REST API.
 *
 * Threads: the listener's acceptor hands sockets over with api_ws_adopt;
 * one libwebsockets service thread owns every WebSocket, the job map and a
 * PostgreSQL connection of its own; the progress consumer (ws_consumer.h)
 * hands events over. Both hand-overs go through mutex-protected queues and
 * lws_cancel_service(); nothing else is shared.
 *
 * Per connection: the upgrade is refused with 401 (no valid key, by header
 * or access_token), 403 (an Origin not in EH_ALLOWED_ORIGINS), 429 (the
 * key's rate), 400 (malformed id), 404 (unknown job, another tenant's job,
 * or path) or 503 (limits, database down, shutting down) and
 * a JSON error body. Once accepted, the session is registered for its job,
 * then the job is read from PostgreSQL and sent as "snapshot"; afterwards
 * only events with a higher seq follow, and after completed/failed the
 * server closes with 1000. Missed events (broker restart, a worker whose
 * publish was dropped) are made up by re-reading the job from PostgreSQL
 * after every broker reconnection and every few seconds for jobs that were
 * silent.
 */
#ifndef EH_API_WS_RELAY_H
#define EH_API_WS_RELAY_H

#include "config.h"
#include "eh.h"
#include "http_metrics.h"

typedef struct api_ws api_ws_t;

/* cfg is borrowed and must outlive the relay. New relay (nothing started), or NULL after logging why. */
EH_MUST_CHECK api_ws_t *api_ws_create(const eh_config_t *cfg);

struct api_keyring;
/*
 * The keys the upgrade is authenticated with (borrowed; must outlive the
 * relay). Set before api_ws_start.
 */
void api_ws_set_keyring(api_ws_t *ws, struct api_keyring *keys);

/* Starts the service and consumer threads. EH_OK or EH_ERR (logged). */
EH_MUST_CHECK int api_ws_start(api_ws_t *ws);

/* Counts open WebSockets in eh_ws_clients (m borrowed, may be NULL); call before api_ws_start. */
void api_ws_set_metrics(api_ws_t *ws, api_metrics_t *m);

/*
 * The listener's hook (api_ws_adopt_fn): takes ownership of an accepted
 * socket whose request starts with "GET /ws/" (nothing consumed yet).
 * Thread-safe. The socket is closed when the relay is stopping.
 */
void api_ws_adopt(int fd, void *ws);

/*
 * Closes every session with 1001 (going away), waiting at most grace_ms for
 * the clients to answer, then stops both threads. Call after the listener
 * has stopped handing sockets over. Idempotent.
 */
void api_ws_stop(api_ws_t *ws, int64_t grace_ms);

/* Stops (if needed) and frees everything. NULL is accepted. */
void api_ws_destroy(api_ws_t *ws);

#endif
