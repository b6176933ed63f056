/*
 * commands.h - one function per `eh` command; each returns the exit code.
 */
#ifndef EH_CLI_COMMANDS_H
#define EH_CLI_COMMANDS_H

#include "cli.h"
#include "http.h"
#include "output.h"

int cli_cmd_run(const cli_args_t *a, cli_http_t *h, cli_out_t *out);

#endif
