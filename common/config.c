#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

/* CF_OPTSTRING: a string that may be empty (unset); CF_STRING must not be. */
typedef enum { CF_STRING, CF_INT, CF_BOOL, CF_URL, CF_LOGLEVEL, CF_OPTSTRING } cf_type_t;

typedef struct cf_row {
    const char *name;
    cf_type_t type;
    int64_t min, max;
    const char *def; /* NULL: computed at load (EH_WORKERS = number of CPUs) */
    size_t offset;
    bool secret;
    const char *help;
    const char *scheme; /* CF_URL only: accepted schemes, '|'-separated */
} cf_row_t;

#define OFF(field) offsetof(eh_config_t, field)
#define GIB (1024LL * 1024 * 1024)

static const cf_row_t rows[] = {
    {"EH_HTTP_HOST", CF_STRING, 0, 0, "127.0.0.1", OFF(http_host), false, "address eh-api listens on", NULL},
    {"EH_HTTP_PORT", CF_INT, 0, 65535, "8080", OFF(http_port), false, "port of the REST API and the WebSocket", NULL},
    {"EH_HTTP_MAX_CONNECTIONS", CF_INT, 1, 100000, "1024", OFF(http_max_connections), false,
     "open HTTP connections at most", NULL},
    {"EH_HTTP_MAX_PER_IP", CF_INT, 0, 100000, "256", OFF(http_max_per_ip), false,
     "open HTTP connections per client address at most (0: no limit)", NULL},
    {"EH_HTTP_THREADS", CF_INT, 1, 256, "8", OFF(http_threads), false,
     "threads serving HTTP requests (each may wait on PostgreSQL; uploads finish on threads of their own)", NULL},
    {"EH_HTTP_TIMEOUT_S", CF_INT, 1, 3600, "60", OFF(http_timeout_s), false,
     "an idle HTTP connection is closed after this many seconds", NULL},
    {"EH_SHUTDOWN_TIMEOUT_S", CF_INT, 0, 600, "10", OFF(shutdown_timeout_s), false,
     "on SIGTERM, in-flight requests and batches are drained for at most this many seconds, then the process stops",
     NULL},
    /* Computed default: after EH_SHUTDOWN_TIMEOUT_S's row (computed_default()). */
    {"EH_SHUTDOWN_GRACE_MS", CF_INT, 0, 600000, NULL, OFF(shutdown_grace_ms), false,
     "deprecated: EH_SHUTDOWN_TIMEOUT_S in milliseconds; when set, it wins over EH_SHUTDOWN_TIMEOUT_S", NULL},
    {"EH_SPOOL_DIR", CF_STRING, 0, 0, "/tmp", OFF(spool_dir), false, "folder where uploads are spooled", NULL},
    {"EH_MAX_UPLOAD_BYTES", CF_INT, 1, 5 * GIB, "1073741824", OFF(max_upload_bytes), false,
     "largest accepted file, in bytes (libs3's single PUT allows 5 GiB)", NULL},
    {"EH_DATABASE_URL", CF_URL, 0, 0, "postgresql://eh@127.0.0.1:5432/eh", OFF(database_url), true,
     "PostgreSQL connection URI", "postgresql|postgres"},
    {"EH_DB_POOL_SIZE", CF_INT, 1, 256, "8", OFF(db_pool_size), false, "PostgreSQL connections of eh-api", NULL},
    {"EH_AMQP_URL", CF_URL, 0, 0, "amqp://guest:guest@127.0.0.1:5672/", OFF(amqp_url), true, "RabbitMQ URI", "amqp"},
    {"EH_AMQP_HEARTBEAT_S", CF_INT, 0, 3600, "30", OFF(amqp_heartbeat_s), false,
     "AMQP heartbeat interval in seconds (0: off)", NULL},
    {"EH_S3_ENDPOINT", CF_STRING, 0, 0, "127.0.0.1:9000", OFF(s3_endpoint), false, "S3 server as host:port", NULL},
    {"EH_S3_BUCKET", CF_STRING, 0, 0, "eh-uploads", OFF(s3_bucket), false, "bucket of the uploaded files", NULL},
    {"EH_S3_ACCESS_KEY", CF_STRING, 0, 0, "S3RVER", OFF(s3_access_key), true, "S3 access key", NULL},
    {"EH_S3_SECRET_KEY", CF_STRING, 0, 0, "S3RVER", OFF(s3_secret_key), true, "S3 secret key", NULL},
    {"EH_S3_HTTPS", CF_BOOL, 0, 1, "0", OFF(s3_https), false, "talk to S3 over HTTPS", NULL},
    {"EH_WORKERS", CF_INT, 1, 256, NULL, OFF(workers), false, "worker processes (default: number of CPUs)", NULL},
    {"EH_WORKER_NICE", CF_INT, 0, 19, "10", OFF(worker_nice), false,
     "niceness of eh-worker: ingestion yields the CPU to eh-api where they share cores (0: unchanged)", NULL},
    {"EH_MAX_LINE_BYTES", CF_INT, 64, 64 * 1024 * 1024, "1048576", OFF(max_line_bytes), false,
     "longer lines are invalid", NULL},
    {"EH_LINE_DELAY_MAX_MS", CF_INT, 0, 600000, "1000", OFF(line_delay_max_ms), false,
     "the worker waits a random 0..this many ms between lines (0: off)", NULL},
    {"EH_BATCH_LINES", CF_INT, 1, 1000000, "10000", OFF(batch_lines), false, "lines per ingest transaction at most",
     NULL},
    {"EH_BATCH_MS", CF_INT, 1, 600000, "1000", OFF(batch_ms), false, "a batch is committed after this many ms", NULL},
    {"EH_LEASE_MS", CF_INT, 1000, 86400000, "60000", OFF(lease_ms), false,
     "a worker holds a job this long without a commit before the reaper takes it back", NULL},
    {"EH_REAPER_INTERVAL_MS", CF_INT, 100, 3600000, "5000", OFF(reaper_interval_ms), false,
     "how often expired leases and stranded jobs are looked for", NULL},
    {"EH_REPUBLISH_AFTER_MS", CF_INT, 100, 86400000, "5000", OFF(republish_after_ms), false,
     "a queued job whose message the broker never confirmed is published again after this long", NULL},
    {"EH_REQUEUE_STALE_MS", CF_INT, 1000, 86400000, "600000", OFF(requeue_stale_ms), false,
     "a queued job confirmed this long ago and still not picked up is published again (lost message)", NULL},
    {"EH_MAX_ATTEMPTS", CF_INT, 1, 1000, "5", OFF(max_attempts), false, "claims of a job before it is failed", NULL},
    {"EH_WS_MAX_CONNECTIONS", CF_INT, 1, 1000000, "10000", OFF(ws_max_connections), false,
     "open WebSocket connections at most", NULL},
    {"EH_WS_MAX_PER_JOB", CF_INT, 1, 1000000, "1000", OFF(ws_max_per_job), false,
     "WebSocket connections per job at most", NULL},
    {"EH_WS_QUEUE_LEN", CF_INT, 2, 10000, "64", OFF(ws_queue_len), false,
     "events queued per WebSocket before progress events are coalesced", NULL},
    {"EH_WS_PING_S", CF_INT, 1, 3600, "20", OFF(ws_ping_s), false,
     "WebSocket ping interval; a peer silent for twice this is dropped", NULL},
    {"EH_LOG_LEVEL", CF_LOGLEVEL, 0, 0, "info", OFF(log_level), false, "error, warn, info or debug", NULL},

    /* many jobs per worker (issue 16) */
    {"EH_JOBS_PER_WORKER", CF_INT, 1, 10000, "256", OFF(jobs_per_worker), false,
     "jobs in flight at once in one worker process (one event loop; size for delay-bound work)", NULL},
    {"EH_JOB_SLICE_S", CF_INT, 1, 86400, "30", OFF(job_slice_s), false,
     "a job that ran this long while others wait for a slot is given back to the end of the queue", NULL},
    {"EH_MAX_ERRORS_STORED", CF_INT, 0, 1000000000, "10000", OFF(max_errors_stored), false,
     "invalid lines per job whose reason is stored in job_errors; the rest are only counted (issue 11)", NULL},

    /* identity, tenants, limits (issue 10) */
    {"EH_AUTH", CF_BOOL, 0, 1, "1", OFF(auth), false,
     "require an API key on /api/v1/* and /ws/* (off: one open tenant, for experiments only)", NULL},
    {"EH_ADMIN_TOKEN", CF_OPTSTRING, 0, 0, "", OFF(admin_token), true,
     "bearer token of the /api/v1/admin/* endpoints (empty: they answer 401)", NULL},
    {"EH_RATE_LIMIT_RPS", CF_INT, 0, 1000000, "20", OFF(rate_limit_rps), false,
     "requests per second per API key, sustained (0: no limit)", NULL},
    {"EH_RATE_LIMIT_BURST", CF_INT, 1, 1000000, "40", OFF(rate_limit_burst), false,
     "requests per API key in a burst (token bucket size)", NULL},
    {"EH_TENANT_MAX_ACTIVE_JOBS", CF_INT, 0, 100000000, "100", OFF(tenant_max_active_jobs), false,
     "jobs queued or processing per tenant at most; an upload over it is 429 (0: no limit)", NULL},
    {"EH_ALLOWED_ORIGINS", CF_OPTSTRING, 0, 0, "", OFF(allowed_origins), false,
     "comma-separated Origin values allowed to open a WebSocket (empty: no browser page)", NULL},
    {"EH_API_S3_ACCESS_KEY", CF_OPTSTRING, 0, 0, "", OFF(api_s3_access_key), true,
     "S3 access key of eh-api (needs PutObject, DeleteObject; empty: EH_S3_ACCESS_KEY)", NULL},
    {"EH_API_S3_SECRET_KEY", CF_OPTSTRING, 0, 0, "", OFF(api_s3_secret_key), true,
     "S3 secret key of eh-api (empty: EH_S3_SECRET_KEY)", NULL},
    {"EH_WORKER_S3_ACCESS_KEY", CF_OPTSTRING, 0, 0, "", OFF(worker_s3_access_key), true,
     "S3 access key of eh-worker (needs GetObject, DeleteObject; empty: EH_S3_ACCESS_KEY)", NULL},
    {"EH_WORKER_S3_SECRET_KEY", CF_OPTSTRING, 0, 0, "", OFF(worker_s3_secret_key), true,
     "S3 secret key of eh-worker (empty: EH_S3_SECRET_KEY)", NULL},

    /* abuse and faults (issue 11) */
    {"EH_HTTP_PENDING_PER_IP", CF_INT, 1, 100000, "256", OFF(http_pending_per_ip), false,
     "connections one client address may hold open before their request head is complete; more are closed at once",
     NULL},
    {"EH_HTTP_HEAD_TIMEOUT_MS", CF_INT, 100, 600000, "10000", OFF(http_head_timeout_ms), false,
     "time from accept to the end of the request head (request line and headers), at most EH_HTTP_TIMEOUT_S; a slower "
     "client is disconnected",
     NULL},
    {"EH_WS_MAX_PER_IP", CF_INT, 0, 1000000, "256", OFF(ws_max_per_ip), false,
     "open WebSocket sessions per client address at most (0: no limit)", NULL},
    {"EH_READYZ_REFRESH_MS", CF_INT, 100, 60000, "1000", OFF(readyz_refresh_ms), false,
     "how often the readiness of PostgreSQL, RabbitMQ and S3 is checked in the background for /readyz", NULL},

    /* job API depth (issue 12) */
    {"EH_CURSOR_SECRET", CF_STRING, 0, 0, "derive", OFF(cursor_secret), true,
     "key that signs page cursors, at least 16 bytes; 'derive': from EH_DATABASE_URL (every replica of a deployment "
     "agrees, cursors survive restarts); 'random': drawn at start (cursors die with the process)",
     NULL},
    {"EH_ENTRIES_SCAN_LINES", CF_INT, 1000, 100000000, "100000", OFF(entries_scan_lines), false,
     "a filtered entries page looks at no more than this many lines; its next_cursor resumes the scan", NULL},
    {"EH_RETENTION_DAYS", CF_INT, 0, 36500, "0", OFF(retention_days), false,
     "terminal jobs that ended this many days ago are deleted in the background (0: kept forever)", NULL},
    {"EH_SPOOL_MAX_BYTES", CF_INT, 0, 1024 * GIB, "4294967296", OFF(spool_max_bytes), false,
     "bytes all uploads may hold in EH_SPOOL_DIR together; beyond it an upload gets 503 + Retry-After (0: no limit)",
     NULL},
    {"EH_IDEMPOTENCY_TTL_S", CF_INT, 1, 30 * 86400, "86400", OFF(idempotency_ttl_s), false,
     "seconds an upload's Idempotency-Key gives its first answer again", NULL},
    {"EH_SWAGGER_UI_DIR", CF_STRING, 0, 0, "node_modules/swagger-ui-dist", OFF(swagger_ui_dir), false,
     "folder of the swagger-ui-dist package, served under /docs", NULL},

    /* GraphQL (issue 13) */

    /* metrics and observability (issue 14) */
    {"EH_METRICS", CF_BOOL, 0, 1, "1", OFF(metrics), false,
     "count Prometheus metrics and serve /metrics (off: no counting, no listener)", NULL},
    {"EH_API_METRICS_ADDR", CF_STRING, 0, 0, "127.0.0.1:9464", OFF(api_metrics_addr), false,
     "host:port of eh-api's /metrics listener (no authentication: keep it private; port 0 picks one)", NULL},
    {"EH_WORKER_METRICS_ADDR", CF_STRING, 0, 0, "127.0.0.1:9465", OFF(worker_metrics_addr), false,
     "host:port of the worker supervisor's /metrics, the sum of its workers (port 0 picks one)", NULL},
    {"EH_TRUSTED_PROXIES", CF_STRING, 0, 0, "none", OFF(trusted_proxies), false,
     "comma-separated addresses or CIDRs of the proxies whose X-Forwarded-For eh-api believes (none: no proxy)", NULL},

    /* clients (issue 15) */
};

static int default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

/*
 * The value of a row whose default is computed at load (def NULL), from the
 * machine or from rows loaded before it.
 *
 * EH_SHUTDOWN_GRACE_MS was the drain's bound before EH_SHUTDOWN_TIMEOUT_S
 * named it in seconds. Unset, it follows EH_SHUTDOWN_TIMEOUT_S. Set, it
 * wins, and is not an error when both are: deployments and tests that tuned
 * it keep their exact bound while the new name is rolled out around them,
 * and it is the finer of the two (sub-second bounds). eh_config_log warns.
 */
static void computed_default(const cf_row_t *r, const eh_config_t *cfg, char *out, size_t len)
{
    if (strcmp(r->name, "EH_SHUTDOWN_GRACE_MS") == 0)
        snprintf(out, len, "%lld", (long long)cfg->shutdown_timeout_s * 1000);
    else
        snprintf(out, len, "%d", default_workers());
}

/* How --help (long) and the README table show a computed default. */
static const char *computed_label(const cf_row_t *r, bool long_form)
{
    if (strcmp(r->name, "EH_SHUTDOWN_GRACE_MS") == 0)
        return long_form ? "unset: EH_SHUTDOWN_TIMEOUT_S * 1000" : "unset";
    return long_form ? "number of CPUs" : "CPUs";
}

static bool scheme_ok(const char *url, const char *schemes)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url || sep[3] == '\0')
        return false;
    size_t len = (size_t)(sep - url);
    for (const char *s = schemes; *s != '\0';) {
        const char *bar = strchr(s, '|');
        size_t n = bar ? (size_t)(bar - s) : strlen(s);
        if (n == len && strncasecmp(url, s, n) == 0)
            return true;
        s += n + (bar ? 1 : 0);
    }
    return false;
}

static int parse_int(const cf_row_t *r, const char *v, int64_t *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0') {
        snprintf(err, errlen, "%s: \"%s\" is not a whole number", r->name, v);
        return EH_ERR;
    }
    if (n < r->min || n > r->max) {
        snprintf(err, errlen, "%s: %lld is out of range [%lld, %lld]", r->name, n, (long long)r->min,
                 (long long)r->max);
        return EH_ERR;
    }
    *out = n;
    return EH_OK;
}

static int parse_row(const cf_row_t *r, const char *v, eh_config_t *cfg, char *err, size_t errlen)
{
    char *base = (char *)cfg + r->offset;
    switch (r->type) {
    case CF_INT:
        return parse_int(r, v, (int64_t *)(void *)base, err, errlen);
    case CF_BOOL:
        if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0)
            *(int64_t *)(void *)base = 1;
        else if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
                 strcasecmp(v, "off") == 0)
            *(int64_t *)(void *)base = 0;
        else {
            snprintf(err, errlen, "%s: \"%s\" is not a boolean (1/0, true/false, yes/no, on/off)", r->name, v);
            return EH_ERR;
        }
        return EH_OK;
    case CF_LOGLEVEL: {
        int level = eh_log_level_parse(v);
        if (level < 0) {
            snprintf(err, errlen, "%s: \"%s\" is not one of error, warn, info, debug", r->name, v);
            return EH_ERR;
        }
        *(int64_t *)(void *)base = level;
        return EH_OK;
    }
    case CF_URL:
        if (!scheme_ok(v, r->scheme)) {
            snprintf(err, errlen, "%s: not a URL of scheme %s", r->name, r->scheme); /* the value may hold a secret */
            return EH_ERR;
        }
        /* fall through */
    case CF_STRING:
    case CF_OPTSTRING:
        if (v[0] == '\0' && r->type != CF_OPTSTRING) {
            snprintf(err, errlen, "%s: must not be empty", r->name);
            return EH_ERR;
        }
        *(char **)(void *)base = strdup(v);
        if (*(char **)(void *)base == NULL) {
            snprintf(err, errlen, "%s: out of memory", r->name);
            return EH_ERR;
        }
        return EH_OK;
    }
    return EH_ERR;
}

/* An unset per-binary credential (issue 10) takes the shared EH_S3_* value. */
static int s3_fallback(char **field, const char *shared, const char *name, char *err, size_t errlen)
{
    if ((*field)[0] != '\0')
        return EH_OK;
    char *copy = strdup(shared);
    if (copy == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        return EH_ERR;
    }
    free(*field);
    *field = copy;
    return EH_OK;
}

static int s3_fallbacks(eh_config_t *cfg, char *err, size_t errlen)
{
    if (s3_fallback(&cfg->api_s3_access_key, cfg->s3_access_key, "EH_API_S3_ACCESS_KEY", err, errlen) != EH_OK ||
        s3_fallback(&cfg->api_s3_secret_key, cfg->s3_secret_key, "EH_API_S3_SECRET_KEY", err, errlen) != EH_OK ||
        s3_fallback(&cfg->worker_s3_access_key, cfg->s3_access_key, "EH_WORKER_S3_ACCESS_KEY", err, errlen) != EH_OK ||
        s3_fallback(&cfg->worker_s3_secret_key, cfg->s3_secret_key, "EH_WORKER_S3_SECRET_KEY", err, errlen) != EH_OK)
        return EH_ERR;
    return EH_OK;
}

static const char *env_getter(const char *name, void *ud)
{
    EH_UNUSED(ud);
    return getenv(name);
}

int eh_config_load(eh_config_t *cfg, char *err, size_t errlen)
{
    return eh_config_load_from(cfg, env_getter, NULL, err, errlen);
}

int eh_config_load_from(eh_config_t *cfg, eh_config_getter_fn get, void *ud, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        const cf_row_t *r = &rows[i];
        const char *v = get(r->name, ud);
        char computed[32];
        if (v == NULL) {
            v = r->def;
            if (v == NULL) {
                computed_default(r, cfg, computed, sizeof(computed));
                v = computed;
            }
        } else if (r->offset == OFF(shutdown_grace_ms)) {
            cfg->shutdown_grace_ms_set = true;
        }
        if (parse_row(r, v, cfg, err, errlen) != EH_OK) {
            eh_config_free(cfg);
            return EH_ERR;
        }
    }
    if (s3_fallbacks(cfg, err, errlen) != EH_OK) {
        eh_config_free(cfg);
        return EH_ERR;
    }
    return EH_OK;
}

void eh_config_free(eh_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        if (rows[i].type == CF_STRING || rows[i].type == CF_URL || rows[i].type == CF_OPTSTRING) {
            char **p = (char **)(void *)((char *)cfg + rows[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

/* Query parameters whose value is a secret: password, sslpassword, and anything named like a key or token. */
static bool secret_param(const char *name, size_t len)
{
    static const char *const words[] = {"pass", "secret", "token", "key"};
    for (size_t w = 0; w < EH_ARRAY_LEN(words); w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= len; i++)
            if (strncasecmp(name + i, words[w], wl) == 0)
                return true;
    }
    return false;
}

int eh_config_mask_url(const char *url, char *out, size_t outlen)
{
    size_t len = strlen(url), o = 0;
    const char *scheme_end = strstr(url, "://");
    const char *query = strchr(url, '?');
    const char *userinfo_end = NULL;
    if (scheme_end != NULL) {
        /* The userinfo ends at the last '@' before the query: a password may hold '@' when not percent-encoded. */
        for (const char *p = scheme_end + 3; *p != '\0' && (query == NULL || p < query); p++)
            if (*p == '@')
                userinfo_end = p;
    }
#define PUT(ptr, n)                                                                                                    \
    do {                                                                                                               \
        size_t n_ = (n);                                                                                               \
        if (o + n_ >= outlen)                                                                                          \
            return EH_ERR;                                                                                             \
        memcpy(out + o, (ptr), n_);                                                                                    \
        o += n_;                                                                                                       \
    } while (0)
    const char *p = url;
    const char *colon =
        userinfo_end != NULL ? memchr(scheme_end + 3, ':', (size_t)(userinfo_end - scheme_end - 3)) : NULL;
    if (colon != NULL) { /* user:password@ (a user alone holds no secret) */
        PUT(url, (size_t)(colon + 1 - url));
        PUT("***", 3);
        p = userinfo_end;
    }
    if (query == NULL) {
        PUT(p, len - (size_t)(p - url));
    } else {
        PUT(p, (size_t)(query - p) + 1);
        for (const char *q = query + 1; *q != '\0';) {
            size_t plen = strcspn(q, "&#");
            const char *eq = memchr(q, '=', plen);
            if (eq != NULL && secret_param(q, (size_t)(eq - q))) {
                PUT(q, (size_t)(eq - q) + 1);
                PUT("***", 3);
            } else {
                PUT(q, plen);
            }
            q += plen;
            if (*q == '\0')
                break;
            PUT(q, 1);
            if (*q == '#') {
                PUT(q + 1, strlen(q + 1)); /* a fragment: libpq and librabbitmq ignore it; keep it as is */
                break;
            }
            q++;
        }
    }
#undef PUT
    out[o] = '\0';
    return EH_OK;
}

/* URLs keep their shape with secrets replaced: amqp://guest:***@host/, postgresql://h/db?password=*** */
static json_t *masked_url(const char *url)
{
    size_t cap = strlen(url) * 2 + 16;
    char *buf = malloc(cap);
    if (buf == NULL)
        return json_string("***");
    json_t *v = json_string(eh_config_mask_url(url, buf, cap) == EH_OK ? buf : "***");
    free(buf);
    return v;
}

void eh_config_log(const eh_config_t *cfg)
{
    json_t *fields = json_object();
    if (fields == NULL)
        return;
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        const cf_row_t *r = &rows[i];
        const char *base = (const char *)cfg + r->offset;
        json_t *v;
        if (r->type == CF_STRING || r->type == CF_URL || r->type == CF_OPTSTRING) {
            const char *s = *(char *const *)(const void *)base;
            if (r->type == CF_URL)
                v = masked_url(s);
            else
                v = json_string(r->secret ? "***" : s);
        } else if (r->type == CF_LOGLEVEL) {
            v = json_string(eh_log_level_name((int)*(const int64_t *)(const void *)base));
        } else {
            v = json_integer((json_int_t) * (const int64_t *)(const void *)base);
        }
        json_object_set_new(fields, r->name, v);
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:o}", "config", fields), "effective configuration");
    if (cfg->shutdown_grace_ms_set)
        eh_log_warn("EH_SHUTDOWN_GRACE_MS is deprecated (its %lld ms win over EH_SHUTDOWN_TIMEOUT_S): set "
                    "EH_SHUTDOWN_TIMEOUT_S instead",
                    (long long)cfg->shutdown_grace_ms);
}

void eh_config_print_help(FILE *out)
{
    fprintf(out, "Environment variables:\n");
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++)
        fprintf(out, "  %-24s %s (default: %s)\n", rows[i].name, rows[i].help,
                rows[i].def ? rows[i].def : computed_label(&rows[i], true));
}

void eh_config_print_markdown(FILE *out)
{
    fprintf(out, "| variable | default | meaning |\n|---|---|---|\n");
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        const cf_row_t *r = &rows[i];
        if (r->type == CF_INT && r->max > r->min)
            fprintf(out, "| `%s` | `%s` | %s (%lld to %lld) |\n", r->name, r->def ? r->def : computed_label(r, false),
                    r->help, (long long)r->min, (long long)r->max);
        else
            fprintf(out, "| `%s` | `%s` | %s |\n", r->name, r->def ? r->def : computed_label(r, false), r->help);
    }
}
