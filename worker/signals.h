/*
 * signals.h - how a child of eh-worker learns that it must stop: SIGTERM or
 * SIGINT request the process's stop token (common/stop.h), which every loop
 * and sleep of the child honours.
 */
#ifndef EH_WORKER_SIGNALS_H
#define EH_WORKER_SIGNALS_H

#include <stdbool.h>

#include "eh.h"
#include "stop.h"

/* The child's stop token; NULL until worker_child_signals succeeded (a NULL token never stops). */
extern eh_stop_t *worker_stop;

/*
 * Makes the stop token, installs the SIGTERM/SIGINT handlers that request
 * it, and unblocks every signal. EH_OK or EH_ERR.
 */
EH_MUST_CHECK int worker_child_signals(void);

/* Whether a stop was requested. */
bool worker_stopping(void);

#endif
