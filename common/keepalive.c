#include "keepalive.h"

#include <stdlib.h>

#include "backoff.h"
#include "log.h"
#include "timefmt.h"

struct eh_keepalive {
    eh_keepalive_ops_t ops;
    void *ud;
    void *conn;
    eh_backoff_t backoff;
};

eh_keepalive_t *eh_keepalive_create(const eh_keepalive_ops_t *ops, void *ud, int64_t min_ms, int64_t max_ms)
{
    eh_keepalive_t *ka = calloc(1, sizeof(*ka));
    if (ka == NULL)
        return NULL;
    ka->ops = *ops;
    if (ka->ops.what == NULL)
        ka->ops.what = "server";
    ka->ud = ud;
    eh_backoff_init(&ka->backoff, min_ms, max_ms);
    return ka;
}

void eh_keepalive_destroy(eh_keepalive_t *ka)
{
    if (ka == NULL)
        return;
    eh_keepalive_broken(ka);
    free(ka);
}

void eh_keepalive_broken(eh_keepalive_t *ka)
{
    if (ka->conn != NULL) {
        ka->ops.close(ka->conn, ka->ud);
        ka->conn = NULL;
    }
}

bool eh_keepalive_is_open(const eh_keepalive_t *ka)
{
    return ka->conn != NULL;
}

int eh_keepalive_failures(const eh_keepalive_t *ka)
{
    return ka->backoff.failures;
}

/* One attempt; schedules the next one on failure. */
static void *attempt(eh_keepalive_t *ka)
{
    ka->conn = ka->ops.open(ka->ud);
    if (ka->conn != NULL) {
        if (ka->backoff.failures > 0)
            eh_log_info("%s connection restored after %d failed attempts", ka->ops.what, ka->backoff.failures);
        eh_backoff_reset(&ka->backoff);
        return ka->conn;
    }
    int64_t delay = eh_backoff_fail(&ka->backoff, eh_time_mono_ms());
    if (ka->backoff.failures == 1)
        eh_log_warn("%s unreachable; retrying with back-off (next in %lld ms)", ka->ops.what, (long long)delay);
    else
        eh_log_debug("%s still unreachable after %d attempts; next in %lld ms", ka->ops.what, ka->backoff.failures,
                     (long long)delay);
    return NULL;
}

/* The live connection, or NULL after closing a broken one. */
static void *checked(eh_keepalive_t *ka)
{
    if (ka->conn == NULL)
        return NULL;
    if (ka->ops.healthy == NULL || ka->ops.healthy(ka->conn, ka->ud))
        return ka->conn;
    eh_log_warn("%s connection lost; reconnecting", ka->ops.what);
    eh_keepalive_broken(ka);
    return NULL;
}

void *eh_keepalive_get(eh_keepalive_t *ka)
{
    void *c = checked(ka);
    if (c != NULL)
        return c;
    if (!eh_backoff_ready(&ka->backoff, eh_time_mono_ms()))
        return NULL;
    return attempt(ka);
}

void *eh_keepalive_wait(eh_keepalive_t *ka, eh_stop_t *stop, int64_t wait_ms)
{
    int64_t deadline = wait_ms < 0 ? INT64_MAX : eh_time_mono_ms() + wait_ms;
    void *c = checked(ka);
    while (c == NULL) {
        if (eh_stop_requested(stop))
            return NULL;
        int64_t now = eh_time_mono_ms();
        if (eh_backoff_ready(&ka->backoff, now)) {
            c = attempt(ka);
            continue;
        }
        if (now >= deadline)
            return NULL;
        int64_t until = ka->backoff.retry_at_ms < deadline ? ka->backoff.retry_at_ms : deadline;
        if (eh_stop_sleep_until(stop, until))
            return NULL;
        if (until == deadline && deadline != ka->backoff.retry_at_ms)
            return NULL;
    }
    return c;
}
