/*
 * stop.h - the one way to ask a thread or a loop to stop.
 *
 * A stop token is a flag plus an eventfd that becomes readable, and stays
 * readable, once stop is requested. Loops check eh_stop_requested(); sleeps
 * go through eh_stop_sleep_ms() / eh_stop_sleep_until(), which return at
 * once when stop is requested; poll()-based loops add eh_stop_fd() to their
 * set. eh_stop_request() is async-signal-safe (an atomic store and one
 * write()), so a SIGTERM handler may call it and do nothing else.
 *
 * Every function accepts a NULL token, which never stops (plain sleeps).
 */
#ifndef EH_STOP_H
#define EH_STOP_H

#include <stdbool.h>
#include <stdint.h>

#include "eh.h"

typedef struct eh_stop eh_stop_t;

/* New token, not stopped; NULL (logged) when no eventfd could be made. */
EH_MUST_CHECK eh_stop_t *eh_stop_create(void);
/* Frees the token; no thread may still use it. NULL is accepted. */
void eh_stop_destroy(eh_stop_t *s);

/* Requests stop (idempotent, async-signal-safe, callable from any thread). */
void eh_stop_request(eh_stop_t *s);
/* True once stop has been requested. */
bool eh_stop_requested(const eh_stop_t *s);
/* A descriptor that polls readable (POLLIN) once stop is requested; -1 for NULL. Never read it. */
int eh_stop_fd(const eh_stop_t *s);

/* Sleeps ms milliseconds or until stop is requested; true when stop was requested. */
bool eh_stop_sleep_ms(eh_stop_t *s, int64_t ms);
/* Sleeps until the monotonic time deadline_ms (eh_time_mono_ms) or stop; true when stop was requested. */
bool eh_stop_sleep_until(eh_stop_t *s, int64_t deadline_ms);

#endif
