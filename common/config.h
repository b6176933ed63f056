/*
 * config.h - every EH_* setting, read from the environment once at start.
 *
 * One table in config.c drives parsing, range checks, the start-up error that
 * names the variable, --help, the README table and the effective-config log
 * line (secrets masked).
 */
#ifndef EH_CONFIG_H
#define EH_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "eh.h"

typedef struct eh_config {
    /* HTTP (eh-api) */
    char *http_host;
    int64_t http_port;
    int64_t http_max_connections;
    int64_t http_max_per_ip;
    int64_t http_threads;
    int64_t http_timeout_s;
    int64_t shutdown_timeout_s; /* EH_SHUTDOWN_TIMEOUT_S, as set; the binaries read shutdown_grace_ms */
    int64_t shutdown_grace_ms;  /* the drain's bound: EH_SHUTDOWN_GRACE_MS if set, else shutdown_timeout_s * 1000 */
    bool shutdown_grace_ms_set; /* the deprecated EH_SHUTDOWN_GRACE_MS was given (eh_config_log warns) */
    char *spool_dir;
    int64_t max_upload_bytes;
    /* services */
    char *database_url;
    int64_t db_pool_size;
    char *amqp_url;
    int64_t amqp_heartbeat_s;
    char *s3_endpoint; /* host[:port], no scheme */
    char *s3_bucket;
    char *s3_access_key;
    char *s3_secret_key;
    int64_t s3_https;
    /* worker */
    int64_t workers;
    int64_t worker_nice;
    int64_t max_line_bytes;
    int64_t line_delay_max_ms;
    int64_t batch_lines;
    int64_t batch_ms;
    int64_t lease_ms;
    int64_t reaper_interval_ms;
    int64_t republish_after_ms;
    int64_t requeue_stale_ms;
    int64_t max_attempts;
    /* WebSocket relay (eh-api) */
    int64_t ws_max_connections;
    int64_t ws_max_per_job;
    int64_t ws_queue_len;
    int64_t ws_ping_s;
    /* logging */
    int64_t log_level; /* one of EH_LOG_* from log.h */

    /* many jobs per worker (issue 16) */
    int64_t jobs_per_worker;
    int64_t job_slice_s;
    int64_t max_errors_stored;

    /* identity, tenants, limits (issue 10) */
    int64_t auth;           /* 0: EH_AUTH=off, every request is the default tenant */
    char *admin_token;      /* "" : the admin endpoints answer 401 to everyone */
    int64_t rate_limit_rps; /* per key; 0: no limit */
    int64_t rate_limit_burst;
    int64_t tenant_max_active_jobs; /* 0: no limit */
    char *allowed_origins;          /* comma-separated exact origins; "" : no browser origin */
    /* Storage credentials of each binary; after loading, an empty one holds EH_S3_ACCESS_KEY/SECRET_KEY's value. */
    char *api_s3_access_key;
    char *api_s3_secret_key;
    char *worker_s3_access_key;
    char *worker_s3_secret_key;

    /* abuse and faults (issue 11) */
    int64_t http_pending_per_ip;
    int64_t http_head_timeout_ms;
    int64_t ws_max_per_ip;
    int64_t readyz_refresh_ms;

    /* job API depth (issue 12) */
    char *cursor_secret;        /* "derive", "random" or the key itself */
    int64_t entries_scan_lines; /* line numbers one filtered entries page scans at most */
    int64_t retention_days;     /* 0: keep forever */
    int64_t spool_max_bytes;    /* issue 12b: all uploads' spool files together */
    int64_t idempotency_ttl_s;  /* issue 12b */
    char *swagger_ui_dir;       /* issue 12b */

    /* GraphQL (issue 13) */

    /* metrics and observability (issue 14) */
    int64_t metrics;           /* 0: no counting, no /metrics listener */
    char *api_metrics_addr;    /* host:port */
    char *worker_metrics_addr; /* host:port */
    char *trusted_proxies;     /* "10.0.0.0/8,127.0.0.1" or "none" */

    /* clients (issue 15) */
} eh_config_t;

/* Returns the value of a variable, or NULL when unset. */
typedef const char *(*eh_config_getter_fn)(const char *name, void *ud);

/*
 * Fills cfg from the process environment. On a bad value returns EH_ERR and
 * writes a message naming the variable into err; cfg is then freed already.
 */
EH_MUST_CHECK int eh_config_load(eh_config_t *cfg, char *err, size_t errlen);

/* The same, from any source of variables (used by the unit tests). */
EH_MUST_CHECK int eh_config_load_from(eh_config_t *cfg, eh_config_getter_fn get, void *ud, char *err, size_t errlen);

/* Frees the strings of cfg; cfg itself is the caller's. NULL is accepted. */
void eh_config_free(eh_config_t *cfg);

/*
 * Writes url with its secrets replaced by "***": the password of the
 * userinfo (user:***@) and the value of every query parameter named like a
 * secret (password, sslpassword, ...token, ...key). EH_OK, or EH_ERR when
 * out (outlen bytes) is too small (then nothing usable is in out).
 */
EH_MUST_CHECK int eh_config_mask_url(const char *url, char *out, size_t outlen);
/* Logs the effective configuration as one line, secrets masked. */
void eh_config_log(const eh_config_t *cfg);

/* Prints every variable with its default and meaning (--help). */
void eh_config_print_help(FILE *out);

/* Prints the README's configuration table in Markdown. */
void eh_config_print_markdown(FILE *out);

#endif
