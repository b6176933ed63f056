/*
 * follow.h - the live progress of a job over the WebSocket, with reconnects.
 */
#ifndef EH_CLI_FOLLOW_H
#define EH_CLI_FOLLOW_H

#include "http.h"
#include "output.h"

/*
 * Follows job_id until it ends: CLI_EXIT_OK when it completed,
 * CLI_EXIT_JOB_FAILED when it failed or was cancelled, CLI_EXIT_INTERRUPTED
 * on Ctrl-C (the job goes on; the message says how to cancel it), or the
 * exit code of the error that stopped it (reported on stderr).
 */
int cli_follow_job(cli_http_t *h, cli_out_t *out, const char *job_id);

#endif
