/*
 * cli.h - what the parts of the `eh` command share: exit codes, the parsed
 * command line, the resolved configuration. Private to the cli/ binary.
 */
#ifndef EH_CLI_CLI_H
#define EH_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eh.h"

#define CLI_VERSION "2.0.0"
#define CLI_DEFAULT_URL "http://127.0.0.1:8080"

/* The exit codes scripts rely on (README "eh, the command line"). */
enum {
    CLI_EXIT_OK = 0,          /* the job completed, or the request succeeded */
    CLI_EXIT_JOB_FAILED = 1,  /* the job failed or was cancelled (a dry run: invalid lines) */
    CLI_EXIT_USAGE = 2,       /* bad command line or configuration */
    CLI_EXIT_AUTH = 3,        /* 401 / 403 */
    CLI_EXIT_UNAVAILABLE = 4, /* network error, 5xx, or 503/429 still after the retries */
    CLI_EXIT_REJECTED = 5,    /* any other 4xx: the server refused the input */
    CLI_EXIT_INTERRUPTED = 130,
};

typedef enum {
    CLI_CMD_NONE,
    CLI_CMD_UPLOAD,
    CLI_CMD_FOLLOW,
    CLI_CMD_STATUS,
    CLI_CMD_JOBS,
    CLI_CMD_ERRORS,
    CLI_CMD_ENTRIES,
    CLI_CMD_CANCEL,
    CLI_CMD_DELETE,
} cli_cmd_t;

#define CLI_MAX_FILES 64

/* The command line, as parsed; every string is borrowed from argv. */
typedef struct cli_args {
    cli_cmd_t cmd;
    bool help;             /* eh --help, eh COMMAND --help */
    bool version;          /* eh --version */
    bool json;             /* one JSON object per line */
    bool follow;           /* upload --follow */
    bool dry_run;          /* upload --dry-run */
    const char *url, *key; /* --url, --key (NULL: from the environment or the config file) */
    const char *config;    /* --config FILE (NULL: $XDG_CONFIG_HOME/eh/config) */
    const char *idempotency_key;
    const char *status, *level, *since, *until, *q, *cursor;
    long retries; /* --retries N; -1: the default */
    long limit;   /* 0: the server's default (jobs), everything (errors, entries) */
    const char *id;
    const char *files[CLI_MAX_FILES];
    int nfiles;
} cli_args_t;

/* The command's name ("upload"), or NULL for CLI_CMD_NONE. */
const char *cli_args_command_name(cli_cmd_t cmd);

/*
 * Parses argv (argv[0] is the program) into *a. Options may come before or
 * after the command, as --name VALUE or --name=VALUE. EH_OK, or EH_DECLINED
 * with a one-line reason in err.
 */
EH_MUST_CHECK int cli_args_parse(int argc, char **argv, cli_args_t *a, char *err, size_t errlen);

/* The help text of cmd (CLI_CMD_NONE: the overview). */
const char *cli_args_help(cli_cmd_t cmd);

/* ---- config.c: where the URL and the key come from ---- */

typedef struct cli_config {
    char url[1024]; /* without a trailing slash */
    char key[512];  /* empty: no key (a server with EH_AUTH=off) */
} cli_config_t;

/*
 * Resolves the URL and key: flag, then environment (EH_URL, EH_API_KEY),
 * then the config file (lines url=... and key=...; # comments), then the
 * default URL. config_path may be NULL or name a missing file. EH_OK, or
 * EH_DECLINED with the reason (a bad line, a URL that is not http(s)) in err.
 */
EH_MUST_CHECK int cli_config_resolve(const char *flag_url, const char *flag_key, const char *env_url,
                                     const char *env_key, const char *config_path, cli_config_t *out, char *err,
                                     size_t errlen);

/* The config file's path: $XDG_CONFIG_HOME/eh/config, else $HOME/.config/eh/config; false when neither is set. */
bool cli_config_default_path(const char *xdg, const char *home, char *out, size_t outlen);

/* Where the WebSocket connects: the parts of the API's URL. */
typedef struct cli_endpoint {
    bool tls;
    char host[256]; /* an IPv6 literal without its brackets */
    int port;
    char prefix[512]; /* the URL's path ("" or "/eh"), put before /ws/jobs/... */
} cli_endpoint_t;

/* Splits http(s)://host[:port][/prefix]. EH_OK, or EH_DECLINED for anything else. */
EH_MUST_CHECK int cli_config_endpoint(const char *url, cli_endpoint_t *ep);

#endif
