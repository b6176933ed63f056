/*
 * listener.h - the one listening socket of eh-api (REST and WebSocket on the
 * same host and port).
 *
 * An acceptor thread accepts each connection and holds it until its
 * request head (up to the blank line) has arrived, looking with MSG_PEEK
 * without consuming it. `GET /ws/...` then goes to the WebSocket hook when
 * one is registered; everything else (and /ws/ while no hook is
 * registered) goes to the HTTP handler. A connection whose head is not
 * complete within the deadline is closed, and each client address may hold
 * only so many connections here (listener.c says why), so that neither a
 * silent nor a slow client can hold the service. A connection handed to the
 * HTTP side stays there for all its keep-alive requests.
 */
#ifndef EH_API_LISTENER_H
#define EH_API_LISTENER_H

#include <sys/socket.h>

#include "eh.h"

/* Takes ownership of fd (blocking mode unspecified: set what you need). */
typedef void (*api_ws_adopt_fn)(int fd, void *ud);
/* Takes ownership of fd and closes it whatever happens; EH_OK when the connection was taken. */
typedef int (*api_http_adopt_fn)(int fd, const struct sockaddr *addr, socklen_t addrlen, void *ud);

typedef struct api_listener api_listener_t;

typedef struct api_listener_limits {
    int max_pending;         /* connections held while their head arrives; when full the oldest gives way */
    int pending_per_peer;    /* of those, per client address; more are closed at accept */
    int64_t head_timeout_ms; /* from accept to the end of the request head */
} api_listener_limits_t;

/*
 * Binds host:port (SO_REUSEADDR; port 0 picks a free one) and listens.
 * New listener, or NULL after logging why.
 */
EH_MUST_CHECK api_listener_t *api_listener_create(const char *host, int port, const api_listener_limits_t *lim,
                                                  api_http_adopt_fn http, void *http_ud);

/* Registers the WebSocket relay; call before api_listener_start. fn NULL unregisters. */
void api_listener_set_ws_hook(api_listener_t *l, api_ws_adopt_fn fn, void *ud);

/* The bound port (useful with port 0). */
int api_listener_port(const api_listener_t *l);

/* Starts the acceptor thread. EH_OK or EH_ERR. */
EH_MUST_CHECK int api_listener_start(api_listener_t *l);

/*
 * Stops accepting: the thread ends, the listening socket and the connections
 * still waiting for their first bytes are closed. Connections already handed
 * over are not touched. Idempotent.
 */
void api_listener_stop(api_listener_t *l);

/* Stops (if needed) and frees. NULL is accepted. */
void api_listener_destroy(api_listener_t *l);

#endif
