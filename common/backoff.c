#include "backoff.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

/* Distinct seeds for back-offs created in the same nanosecond (threads starting together). */
static atomic_uint_fast64_t seed_counter;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static uint64_t next_random(eh_backoff_t *b)
{
    /* xorshift64: jitter needs spread, not secrecy. */
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

void eh_backoff_init(eh_backoff_t *b, int64_t min_ms, int64_t max_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t salt = atomic_fetch_add(&seed_counter, 1);
    uint64_t seed = splitmix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)getpid() << 16) ^
                               (salt * 0x2545F4914F6CDD1DULL) ^ (uint64_t)(uintptr_t)b);
    *b = (eh_backoff_t){
        .min_ms = min_ms >= 1 ? min_ms : 1,
        .rng = seed != 0 ? seed : 0x853C49E6748FEA9BULL,
    };
    b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
}

int64_t eh_backoff_next(eh_backoff_t *b)
{
    if (b->ceiling_ms == 0)
        b->ceiling_ms = b->min_ms;
    else
        b->ceiling_ms = b->ceiling_ms > b->max_ms / 2 ? b->max_ms : b->ceiling_ms * 2;
    b->failures++;
    int64_t half = b->ceiling_ms / 2;
    int64_t span = b->ceiling_ms - half; /* >= 1 */
    int64_t delay = half + (int64_t)(next_random(b) % (uint64_t)(span + 1));
    return delay >= 1 ? delay : 1;
}

int64_t eh_backoff_fail(eh_backoff_t *b, int64_t now_ms)
{
    int64_t delay = eh_backoff_next(b);
    b->retry_at_ms = now_ms + delay;
    return delay;
}

bool eh_backoff_ready(const eh_backoff_t *b, int64_t now_ms)
{
    return b->failures == 0 || now_ms >= b->retry_at_ms;
}

void eh_backoff_reset(eh_backoff_t *b)
{
    b->ceiling_ms = 0;
    b->retry_at_ms = 0;
    b->failures = 0;
}
