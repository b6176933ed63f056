/*
 * signals.h - how a child of eh-worker learns that it must stop: SIGTERM or
 * SIGINT set a flag that every loop and sleep of the child looks at.
 */
#ifndef EH_WORKER_SIGNALS_H
#define EH_WORKER_SIGNALS_H

#include <signal.h>
#include <stdint.h>

#include "eh.h"

/* Set by SIGTERM/SIGINT in a child: finish the current batches and exit 0. */
extern volatile sig_atomic_t worker_stop_requested;

/* Installs the child's SIGTERM/SIGINT handlers (flag only) and unblocks every signal. EH_OK or EH_ERR. */
EH_MUST_CHECK int worker_child_signals(void);

/*
 * Sleeps ms milliseconds, returning early (EH_DECLINED) when a stop is
 * requested; EH_OK otherwise.
 */
int worker_sleep_ms(int64_t ms);

#endif
