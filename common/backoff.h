/*
 * backoff.h - the one exponential back-off of the project, with jitter.
 *
 * A failed attempt doubles the delay (min_ms, 2*min_ms, ... up to max_ms);
 * the delay actually used is drawn in [delay/2, delay] ("equal jitter"), so
 * that many clients that lost the same server do not all come back in the
 * same millisecond. A success resets it. Not thread-safe: one per loop.
 *
 * Two ways to use it:
 *   - blocking loops sleep eh_backoff_next() (through eh_stop_sleep_ms, so
 *     that a stop request cuts the wait short);
 *   - event loops that must not block call eh_backoff_fail(now) and try
 *     again once eh_backoff_ready(now) says so.
 */
#ifndef EH_BACKOFF_H
#define EH_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "eh.h"

typedef struct eh_backoff {
    int64_t min_ms;
    int64_t max_ms;
    int64_t ceiling_ms;  /* the un-jittered delay of the next failure; 0 after a success */
    int64_t retry_at_ms; /* monotonic time before which eh_backoff_ready() says no */
    int failures;        /* consecutive failures since the last success */
    uint64_t rng;        /* xorshift64 state, seeded per instance */
} eh_backoff_t;

/* Sets up b (min_ms >= 1 and max_ms >= min_ms are enforced by clamping). */
void eh_backoff_init(eh_backoff_t *b, int64_t min_ms, int64_t max_ms);
/* A failure: returns how long to wait before the next attempt (jittered, in [1, max_ms]). */
int64_t eh_backoff_next(eh_backoff_t *b);
/* A failure at monotonic time now_ms: schedules the next attempt; returns the chosen delay. */
int64_t eh_backoff_fail(eh_backoff_t *b, int64_t now_ms);
/* True when no attempt is pending a delay (never failed, reset, or the delay has passed). */
bool eh_backoff_ready(const eh_backoff_t *b, int64_t now_ms);
/* A success: the next failure starts again from min_ms. */
void eh_backoff_reset(eh_backoff_t *b);

#endif
