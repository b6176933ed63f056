/*
 * worker.h - the processes of eh-worker and what they share.
 *
 *   supervisor (worker/supervisor.c)   forks and respawns the children, opens nothing itself
 *   ├── EH_WORKERS consumers (worker/consumer.c)   claim jobs, run them (worker/ingest.c)
 *   └── one reaper (worker/reaper.c)   expired leases, exhausted jobs, lost messages
 *
 * Every child opens its own PostgreSQL, AMQP and S3 connections after fork.
 */
#ifndef EH_WORKER_WORKER_H
#define EH_WORKER_WORKER_H

#include <signal.h>

#include "config.h"
#include "eh.h"

/* Exit status of a child that can never start (bad setting, no memory): the supervisor does not respawn it. */
#define WORKER_EXIT_FATAL 2

/* Set by SIGTERM/SIGINT in a child: finish the current batch and exit 0. */
extern volatile sig_atomic_t worker_stop_requested;

/* Installs the child's SIGTERM/SIGINT handlers (flag only) and unblocks every signal. EH_OK or EH_ERR. */
EH_MUST_CHECK int worker_child_signals(void);

/*
 * Sleeps ms milliseconds, returning early (EH_DECLINED) when a stop is
 * requested; EH_OK otherwise.
 */
int worker_sleep_ms(int64_t ms);

/* Runs the supervisor until SIGTERM/SIGINT; the process exit status. */
int worker_supervisor_run(const eh_config_t *cfg);

/* The bodies of the children; each returns its exit status. */
int worker_consumer_run(const eh_config_t *cfg);
int worker_reaper_run(const eh_config_t *cfg);

#endif
