/*
 * http.h - the REST side of `eh`: libcurl requests with the API key, JSON
 * bodies, and the one retry policy (back-off on 503/429 honouring
 * Retry-After, and on a connection that could not be made).
 */
#ifndef EH_CLI_HTTP_H
#define EH_CLI_HTTP_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* Set by the SIGINT/SIGTERM handler of main.c; requests and waits give up when it is set. */
extern volatile sig_atomic_t cli_interrupted;

typedef struct cli_http cli_http_t;

typedef struct cli_response {
    long status;     /* HTTP status; 0 when no answer came (network error, interrupted) */
    json_t *body;    /* the JSON body, NULL when there is none or it is not JSON (new, freed by clear) */
    char error[256]; /* what went wrong when status is 0 */
    bool interrupted;
} cli_response_t;

/* A progress report of an upload: return false to abort it (Ctrl-C). */
typedef bool (*cli_http_progress_fn)(void *ud, uint64_t sent, uint64_t total);

/* retries: attempts after the first for 503/429/connect errors. NULL on out of memory. */
EH_MUST_CHECK cli_http_t *cli_http_create(const cli_config_t *cfg, int retries);
void cli_http_destroy(cli_http_t *h);

/*
 * method on the API's path (with its query string; values escaped by the
 * caller with cli_http_escape). EH_OK when an HTTP answer came (any status:
 * the caller looks at r->status), EH_ERR when none did.
 */
EH_MUST_CHECK int cli_http_request(cli_http_t *h, const char *method, const char *path, cli_response_t *r);

/* POST /api/v1/files/upload[?dry_run=true] of file, as multipart field "file". The same results. */
EH_MUST_CHECK int cli_http_upload(cli_http_t *h, const char *file, bool dry_run, const char *idempotency_key,
                                  cli_http_progress_fn progress, void *ud, cli_response_t *r);

/* A query-string value, percent-encoded (new, free()), or NULL on out of memory. */
char *cli_http_escape(cli_http_t *h, const char *value);

void cli_response_clear(cli_response_t *r);

/* The exit code an unsuccessful response stands for (CLI_EXIT_AUTH, _UNAVAILABLE, _REJECTED, _INTERRUPTED). */
int cli_http_exit_code(const cli_response_t *r);

/* "eh: <what>: <server's message> (<code>, HTTP <status>)" or the network error, on stderr. */
void cli_http_report(const cli_response_t *r, const char *what);

/* The API's base URL and key, for the WebSocket side. */
const cli_config_t *cli_http_config(const cli_http_t *h);

/* Sleeps ms milliseconds, waking early when interrupted; false if it was. */
bool cli_http_sleep_ms(long ms);

#endif
