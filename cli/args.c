/*
 * The command line of `eh`: one table of commands, one of options, and the
 * help texts. Nothing here touches the network or the environment, so that
 * the unit tests can check every case.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    cli_cmd_t cmd;
    int min_pos, max_pos; /* positional arguments (a job id, files) */
    const char *help;
} command_t;

static const command_t COMMANDS[] = {
    {"upload", CLI_CMD_UPLOAD, 1, CLI_MAX_FILES,
     "usage: eh upload FILE... [--follow] [--dry-run] [--idempotency-key K]\n"
     "\n"
     "Uploads .jsonl/.ndjson files, one job each, with a progress bar on a terminal.\n"
     "\n"
     "  --follow              follow each job's ingestion until it ends (exit 1 if one fails)\n"
     "  --dry-run             only check the files against the ingestion rules; nothing is stored\n"
     "                        (exit 1 when a file has invalid lines)\n"
     "  --idempotency-key K   resend safely: the same key and content give the first job again\n"
     "                        (with several files, K-1, K-2, ... per file)\n"},
    {"follow", CLI_CMD_FOLLOW, 1, 1,
     "usage: eh follow ID\n"
     "\n"
     "Follows a job's live progress until it ends; reconnects if the connection drops.\n"
     "Exit 0 when the job completed, 1 when it failed or was cancelled. Ctrl-C stops\n"
     "following; the job goes on.\n"},
    {"status", CLI_CMD_STATUS, 1, 1, "usage: eh status ID\n\nShows a job: status, counts and timings.\n"},
    {"jobs", CLI_CMD_JOBS, 0, 0,
     "usage: eh jobs [--status S] [--limit N] [--cursor C]\n"
     "\n"
     "Lists your jobs, newest first.\n"
     "\n"
     "  --status S   queued, processing, completed, failed or cancelled\n"
     "  --limit N    at most N jobs (1-200; default 50)\n"
     "  --cursor C   the page after C (printed as next_cursor by --json)\n"},
    {"errors", CLI_CMD_ERRORS, 1, 1,
     "usage: eh errors ID [--limit N]\n\nPrints a job's invalid lines: line number and reason.\n"},
    {"entries", CLI_CMD_ENTRIES, 1, 1,
     "usage: eh entries ID [--level L] [--since T] [--until T] [--q TEXT] [--limit N]\n"
     "\n"
     "Prints a job's ingested entries in line order.\n"
     "\n"
     "  --level L    trace, debug, info, notice, warn, error, fatal (comma-separated)\n"
     "  --since T    entries at or after T (RFC 3339)\n"
     "  --until T    entries before T (RFC 3339)\n"
     "  --q TEXT     messages containing TEXT (case-insensitive)\n"
     "  --limit N    at most N entries (default: all)\n"},
    {"cancel", CLI_CMD_CANCEL, 1, 1, "usage: eh cancel ID\n\nCancels a queued or processing job.\n"},
    {"delete", CLI_CMD_DELETE, 1, 1,
     "usage: eh delete ID\n\nDeletes a finished job: its entries, its errors and its stored file.\n"},
};

static const char OVERVIEW[] =
    "usage: eh [--url URL] [--key KEY] [--json] COMMAND [ARGS]\n"
    "\n"
    "The command line of Event Horizon.\n"
    "\n"
    "commands:\n"
    "  upload FILE... [--follow] [--dry-run] [--idempotency-key K]\n"
    "  follow ID                  live progress of a job\n"
    "  status ID                  one job\n"
    "  jobs [--status S] [--limit N]\n"
    "  errors ID                  the invalid lines of a job\n"
    "  entries ID [--level L] [--since T] [--until T] [--q TEXT]\n"
    "  cancel ID\n"
    "  delete ID\n"
    "\n"
    "options:\n"
    "  --url URL      the API (else EH_URL, the config file, " CLI_DEFAULT_URL ")\n"
    "  --key KEY      the API key (else EH_API_KEY, the config file)\n"
    "  --config FILE  the config file (default $XDG_CONFIG_HOME/eh/config: lines url=... and key=...)\n"
    "  --retries N    retries of a 503/429 or a failed connection, with back-off (default 5)\n"
    "  --json         one JSON object per line, for scripts\n"
    "  --help, -h     help (eh COMMAND --help: help of a command)\n"
    "  --version      the version\n"
    "\n"
    "exit codes: 0 done (job completed), 1 job failed or cancelled, 2 usage, 3 authentication or\n"
    "authorization, 4 network or server unavailable (after retries), 5 input rejected by the server,\n"
    "130 interrupted.\n";

/* Which commands take an option; global options are taken by all. */
#define FOR_ALL 0u
#define ON(c) (1u << (c))

typedef enum { OPT_FLAG, OPT_STRING, OPT_LIMIT, OPT_RETRIES } opt_kind_t;

typedef struct option {
    const char *name;
    opt_kind_t kind;
    unsigned commands; /* FOR_ALL or a set of ON(cmd) */
    size_t offset;     /* of the bool, const char * or long in cli_args_t */
} option_t;

static const option_t OPTIONS[] = {
    {"url", OPT_STRING, FOR_ALL, offsetof(cli_args_t, url)},
    {"key", OPT_STRING, FOR_ALL, offsetof(cli_args_t, key)},
    {"config", OPT_STRING, FOR_ALL, offsetof(cli_args_t, config)},
    {"retries", OPT_RETRIES, FOR_ALL, offsetof(cli_args_t, retries)},
    {"json", OPT_FLAG, FOR_ALL, offsetof(cli_args_t, json)},
    {"help", OPT_FLAG, FOR_ALL, offsetof(cli_args_t, help)},
    {"version", OPT_FLAG, FOR_ALL, offsetof(cli_args_t, version)},
    {"follow", OPT_FLAG, ON(CLI_CMD_UPLOAD), offsetof(cli_args_t, follow)},
    {"dry-run", OPT_FLAG, ON(CLI_CMD_UPLOAD), offsetof(cli_args_t, dry_run)},
    {"idempotency-key", OPT_STRING, ON(CLI_CMD_UPLOAD), offsetof(cli_args_t, idempotency_key)},
    {"status", OPT_STRING, ON(CLI_CMD_JOBS), offsetof(cli_args_t, status)},
    {"cursor", OPT_STRING, ON(CLI_CMD_JOBS), offsetof(cli_args_t, cursor)},
    {"limit", OPT_LIMIT, ON(CLI_CMD_JOBS) | ON(CLI_CMD_ERRORS) | ON(CLI_CMD_ENTRIES), offsetof(cli_args_t, limit)},
    {"level", OPT_STRING, ON(CLI_CMD_ENTRIES), offsetof(cli_args_t, level)},
    {"since", OPT_STRING, ON(CLI_CMD_ENTRIES), offsetof(cli_args_t, since)},
    {"until", OPT_STRING, ON(CLI_CMD_ENTRIES), offsetof(cli_args_t, until)},
    {"q", OPT_STRING, ON(CLI_CMD_ENTRIES), offsetof(cli_args_t, q)},
};

static const char *const JOB_STATES[] = {"queued", "processing", "completed", "failed", "cancelled"};

const char *cli_args_command_name(cli_cmd_t cmd)
{
    for (size_t i = 0; i < EH_ARRAY_LEN(COMMANDS); i++)
        if (COMMANDS[i].cmd == cmd)
            return COMMANDS[i].name;
    return NULL;
}

const char *cli_args_help(cli_cmd_t cmd)
{
    for (size_t i = 0; i < EH_ARRAY_LEN(COMMANDS); i++)
        if (COMMANDS[i].cmd == cmd)
            return COMMANDS[i].help;
    return OVERVIEW;
}

static const command_t *command_find(const char *name)
{
    for (size_t i = 0; i < EH_ARRAY_LEN(COMMANDS); i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

static const option_t *option_find(const char *name, size_t len)
{
    for (size_t i = 0; i < EH_ARRAY_LEN(OPTIONS); i++)
        if (strlen(OPTIONS[i].name) == len && strncmp(OPTIONS[i].name, name, len) == 0)
            return &OPTIONS[i];
    return NULL;
}

static int parse_limit(const char *s, long *out)
{
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 1000000000L)
        return EH_DECLINED;
    *out = v;
    return EH_OK;
}

/* Stores the value of option o; *i moves past a separate value. */
static int take_option(const option_t *o, const char *inline_value, int argc, char **argv, int *i, cli_args_t *a,
                       char *err, size_t errlen)
{
    char *field = (char *)a + o->offset;
    if (o->kind == OPT_FLAG) {
        if (inline_value != NULL) {
            snprintf(err, errlen, "--%s takes no value", o->name);
            return EH_DECLINED;
        }
        *(bool *)(void *)field = true;
        return EH_OK;
    }
    const char *value = inline_value;
    if (value == NULL) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "--%s needs a value", o->name);
            return EH_DECLINED;
        }
        value = argv[++*i];
    }
    if (o->kind == OPT_RETRIES) {
        long n;
        if (strcmp(value, "0") == 0) {
            n = 0;
        } else if (parse_limit(value, &n) != EH_OK || n > 20) {
            snprintf(err, errlen, "--retries must be a whole number from 0 to 20, not \"%s\"", value);
            return EH_DECLINED;
        }
        *(long *)(void *)field = n;
        return EH_OK;
    }
    if (o->kind == OPT_LIMIT) {
        if (parse_limit(value, (long *)(void *)field) != EH_OK) {
            snprintf(err, errlen, "--%s must be a whole number of at least 1, not \"%s\"", o->name, value);
            return EH_DECLINED;
        }
        return EH_OK;
    }
    *(const char **)(void *)field = value;
    return EH_OK;
}

static int take_positional(const char *arg, cli_args_t *a, char *err, size_t errlen)
{
    if (a->cmd == CLI_CMD_NONE) {
        const command_t *c = command_find(arg);
        if (c == NULL) {
            snprintf(err, errlen, "unknown command \"%s\" (eh --help lists them)", arg);
            return EH_DECLINED;
        }
        a->cmd = c->cmd;
        return EH_OK;
    }
    if (a->cmd == CLI_CMD_UPLOAD) {
        if (a->nfiles >= CLI_MAX_FILES) {
            snprintf(err, errlen, "at most %d files at once", CLI_MAX_FILES);
            return EH_DECLINED;
        }
        a->files[a->nfiles++] = arg;
        return EH_OK;
    }
    if (a->id != NULL) {
        snprintf(err, errlen, "%s takes one job id, got another: \"%s\"", cli_args_command_name(a->cmd), arg);
        return EH_DECLINED;
    }
    a->id = arg;
    return EH_OK;
}

/* Checks what depends on the whole line: the command's arguments, option values, combinations. */
static int check_complete(const cli_args_t *a, char *err, size_t errlen)
{
    if (a->help || a->version)
        return EH_OK;
    if (a->cmd == CLI_CMD_NONE) {
        snprintf(err, errlen, "no command given (eh --help lists them)");
        return EH_DECLINED;
    }
    const command_t *c = command_find(cli_args_command_name(a->cmd));
    int npos = a->cmd == CLI_CMD_UPLOAD ? a->nfiles : a->id != NULL;
    if (npos < c->min_pos) {
        snprintf(err, errlen, "%s needs %s", c->name, a->cmd == CLI_CMD_UPLOAD ? "at least one FILE" : "a job ID");
        return EH_DECLINED;
    }
    if (a->follow && a->dry_run) {
        snprintf(err, errlen, "--follow and --dry-run do not go together (a dry run makes no job)");
        return EH_DECLINED;
    }
    if (a->status != NULL) {
        bool known = false;
        for (size_t i = 0; i < EH_ARRAY_LEN(JOB_STATES); i++)
            known = known || strcmp(a->status, JOB_STATES[i]) == 0;
        if (!known) {
            snprintf(err, errlen, "--status must be queued, processing, completed, failed or cancelled");
            return EH_DECLINED;
        }
    }
    if (a->cmd == CLI_CMD_JOBS && a->limit > 200) {
        snprintf(err, errlen, "--limit of jobs is at most 200");
        return EH_DECLINED;
    }
    if (a->idempotency_key != NULL && (strlen(a->idempotency_key) == 0 || strlen(a->idempotency_key) > 240)) {
        snprintf(err, errlen, "--idempotency-key takes 1 to 240 characters");
        return EH_DECLINED;
    }
    return EH_OK;
}

int cli_args_parse(int argc, char **argv, cli_args_t *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->retries = -1;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && strcmp(arg, "-h") == 0) {
            a->help = true;
            continue;
        }
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (take_positional(arg, a, err, errlen) != EH_OK)
                return EH_DECLINED;
            continue;
        }
        if (arg[1] != '-') {
            snprintf(err, errlen, "unknown option \"%s\"", arg);
            return EH_DECLINED;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const option_t *o = option_find(name, len);
        if (o == NULL) {
            snprintf(err, errlen, "unknown option \"--%.*s\"", (int)len, name);
            return EH_DECLINED;
        }
        if (o->commands != FOR_ALL && (a->cmd == CLI_CMD_NONE || (o->commands & ON(a->cmd)) == 0)) {
            const char *cmd = cli_args_command_name(a->cmd);
            snprintf(err, errlen, "--%s is not an option of %s", o->name,
                     cmd != NULL ? cmd : "eh (give it after the command)");
            return EH_DECLINED;
        }
        if (take_option(o, eq != NULL ? eq + 1 : NULL, argc, argv, &i, a, err, errlen) != EH_OK)
            return EH_DECLINED;
    }
    return check_complete(a, err, errlen);
}
