/*
 * request_head.h - what the listener decides from the first bytes of a
 * connection (pure, so that it is fuzzed: tests/fuzz/request_head_fuzz.c).
 */
#ifndef EH_API_REQUEST_HEAD_H
#define EH_API_REQUEST_HEAD_H

#include <stdbool.h>
#include <stddef.h>

/* A head longer than this is handed over unfinished (libmicrohttpd answers 431 when it is too long). */
#define API_HEAD_PEEK_MAX 16384

typedef enum {
    API_HEAD_WAIT,      /* the head is not complete yet: wait for more bytes (or the deadline) */
    API_HEAD_HTTP,      /* hand over to libmicrohttpd */
    API_HEAD_WEBSOCKET, /* hand over to the WebSocket relay */
} api_head_verdict_t;

/*
 * The verdict on buf[0..n), what the client sent so far (n <= API_HEAD_PEEK_MAX).
 * A complete head (ended by an empty line, CRLF or bare LF as libmicrohttpd
 * accepts) or API_HEAD_PEEK_MAX bytes without one is handed over: to the
 * relay when it starts with "GET /ws/" and ws_hook is set, else to HTTP.
 */
api_head_verdict_t api_head_classify(const char *buf, size_t n, bool ws_hook);
/* Whether buf[0..n) holds the end of a request head. */
bool api_head_complete(const char *buf, size_t n);

#endif
