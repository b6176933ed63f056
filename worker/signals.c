/* signals.c - the stop flag of a child of eh-worker; see signals.h. */
#include "signals.h"

#include <string.h>
#include <time.h>

#include "timefmt.h"

volatile sig_atomic_t worker_stop_requested;

static void on_stop_signal(int sig)
{
    EH_UNUSED(sig);
    worker_stop_requested = 1;
}

int worker_child_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking wait returns EINTR and the loop sees the flag. */
    sa.sa_handler = on_stop_signal;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return EH_ERR;
    sa.sa_handler = SIG_DFL;
    if (sigaction(SIGCHLD, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
        return EH_ERR;
    /* A peer that closed its socket must surface as EPIPE, not kill the worker. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return EH_ERR;
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
        return EH_ERR;
    return EH_OK;
}

int worker_sleep_ms(int64_t ms)
{
    int64_t end = eh_time_mono_ms() + ms;
    for (;;) {
        if (worker_stop_requested)
            return EH_DECLINED;
        int64_t left = end - eh_time_mono_ms();
        if (left <= 0)
            return EH_OK;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L};
        (void)nanosleep(&ts, NULL); /* EINTR: look at the flag again */
    }
}
