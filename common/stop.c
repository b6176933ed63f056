#include "stop.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"

/* poll() takes an int timeout; long sleeps are cut into slices of this size. */
#define MAX_SLICE_MS (24 * 3600 * 1000)

struct eh_stop {
    atomic_bool requested; /* lock-free on every platform we build for: safe in a signal handler */
    int fd;                /* eventfd; written once by eh_stop_request, never read, so it stays readable */
};

eh_stop_t *eh_stop_create(void)
{
    eh_stop_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        eh_log_errno(EH_LOG_ERROR, ENOMEM, "stop token");
        return NULL;
    }
    atomic_init(&s->requested, false);
    s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->fd < 0) {
        eh_log_errno(EH_LOG_ERROR, errno, "stop token: eventfd");
        free(s);
        return NULL;
    }
    return s;
}

void eh_stop_destroy(eh_stop_t *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    free(s);
}

void eh_stop_request(eh_stop_t *s)
{
    if (s == NULL)
        return;
    int saved = errno; /* may run in a signal handler */
    if (!atomic_exchange(&s->requested, true)) {
        uint64_t one = 1;
        /* Cannot fail short of EAGAIN at a counter of 2^64-2, which one write per token never reaches. */
        ssize_t n = write(s->fd, &one, sizeof(one));
        (void)n;
    }
    errno = saved;
}

bool eh_stop_requested(const eh_stop_t *s)
{
    return s != NULL && atomic_load(&s->requested);
}

int eh_stop_fd(const eh_stop_t *s)
{
    return s != NULL ? s->fd : -1;
}

static void plain_sleep(int64_t ms)
{
    struct timespec req = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

bool eh_stop_sleep_until(eh_stop_t *s, int64_t deadline_ms)
{
    for (;;) {
        if (eh_stop_requested(s))
            return true;
        int64_t left = deadline_ms - eh_time_mono_ms();
        if (left <= 0)
            return false;
        int slice = (int)(left < MAX_SLICE_MS ? left : MAX_SLICE_MS);
        if (s == NULL) {
            plain_sleep(slice);
            continue;
        }
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        if (poll(&pfd, 1, slice) < 0 && errno != EINTR) {
            /* Not expected (EINVAL/ENOMEM); sleep anyway so that a caller's retry loop cannot spin. */
            eh_log_errno(EH_LOG_WARN, errno, "stop token: poll");
            plain_sleep(slice < 100 ? slice : 100);
        }
    }
}

bool eh_stop_sleep_ms(eh_stop_t *s, int64_t ms)
{
    if (ms <= 0)
        return eh_stop_requested(s);
    return eh_stop_sleep_until(s, eh_time_mono_ms() + ms);
}
