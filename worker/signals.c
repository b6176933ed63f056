/* signals.c - the stop token of a child of eh-worker; see signals.h. */
#include "signals.h"

#include <signal.h>
#include <string.h>

eh_stop_t *worker_stop;

static void on_stop_signal(int sig)
{
    EH_UNUSED(sig);
    eh_stop_request(worker_stop); /* async-signal-safe */
}

int worker_child_signals(void)
{
    worker_stop = eh_stop_create();
    if (worker_stop == NULL)
        return EH_ERR;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking wait returns EINTR and the loop sees the token. */
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

bool worker_stopping(void)
{
    return eh_stop_requested(worker_stop);
}
