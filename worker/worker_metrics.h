/*
 * worker_metrics.h - eh-worker's Prometheus metrics, summed over its
 * processes.
 *
 * The supervisor declares the families and maps their values in shared
 * memory before it forks: one slot for itself and one per child (slot i+1
 * for child slot i), each process adding to its own with relaxed atomics.
 * The supervisor's /metrics listener (EH_WORKER_METRICS_ADDR) renders the
 * sum. With EH_METRICS=off nothing is mapped and every call is a no-op.
 *
 * The call sites are few and plain, so that a rewrite of the worker loop
 * keeps them easily: lines per committed batch, a job's start and end, the
 * supervisor's count of live workers, the reaper's view of the queue.
 */
#ifndef EH_WORKER_WORKER_METRICS_H
#define EH_WORKER_WORKER_METRICS_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "eh.h"

/* Supervisor, before forking: nchildren child slots. EH_OK (also when metrics are off) or EH_ERR after logging. */
EH_MUST_CHECK int worker_metrics_start(const eh_config_t *cfg, int nchildren);
/* Supervisor, at exit: stops the listener and unmaps. */
void worker_metrics_stop(void);
/* The listener's port (0 when none). */
int worker_metrics_port(void);

/* Child, right after fork: writes child slot `slot` from now on; drops the inherited listener socket. */
void worker_metrics_child(int slot);
/* Around fork() in the supervisor (see eh_metrics_server_fork_prepare); the child calls worker_metrics_child. */
void worker_metrics_fork_prepare(void);
void worker_metrics_fork_parent(void);
/*
 * Supervisor: child slot `slot` runs pid now (0: it stopped). A new pid
 * zeroes the slot's gauges, which a dead child may have left behind.
 */
void worker_metrics_child_pid(int slot, pid_t pid);
/* Supervisor: live consumer processes. */
void worker_metrics_processes(int consumers);

/* A committed batch: its lines by outcome. */
void worker_metrics_lines(uint64_t valid, uint64_t invalid, uint64_t blank);
/* A job starts or stops running in this process (in flight). */
void worker_metrics_job_running(int delta);
/* A job reached a terminal status ("completed", "failed", "cancelled") after seconds of this attempt (< 0: unknown). */
void worker_metrics_job_end(const char *status, double seconds);
/*
 * The reaper's look at eh.jobs and at the jobs waiting or running. Only the
 * reaper sets them, so the sum over slots is its value (0 before its first
 * look); a value < 0 (unknown) leaves the last one.
 */
void worker_metrics_queue(int64_t messages, int64_t consumers);
void worker_metrics_jobs_waiting(int64_t queued, int64_t processing);

#endif
