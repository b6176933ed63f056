/*
 * worker.h - the processes of eh-worker.
 *
 *   supervisor (worker/supervisor.c)   forks and respawns the children, opens nothing itself
 *   ├── EH_WORKERS consumers (worker/consumer.c)   one event loop each, up to EH_JOBS_PER_WORKER
 *   │                                              jobs in flight (worker/ingest.c)
 *   └── one reaper (worker/reaper.c)   expired leases, exhausted jobs, lost messages
 *
 * Every child opens its own PostgreSQL, AMQP and S3 connections after fork
 * (worker/conn.h). Modules depend downwards only:
 *   supervisor -> consumer -> claim, ingest -> conn, events;  everything -> signals
 */
#ifndef EH_WORKER_WORKER_H
#define EH_WORKER_WORKER_H

#include "config.h"
#include "eh.h"

/* Exit status of a child that can never start (bad setting, no memory): the supervisor does not respawn it. */
#define WORKER_EXIT_FATAL 2

/* Runs the supervisor until SIGTERM/SIGINT; the process exit status. */
int worker_supervisor_run(const eh_config_t *cfg);

/* The bodies of the children; each returns its exit status. */
int worker_consumer_run(const eh_config_t *cfg);
int worker_reaper_run(const eh_config_t *cfg);

#endif
