/*
 * eh-api: the REST API (and, later, the WebSocket relay) on one port.
 *
 *   eh-api                 serve
 *   eh-api migrate         apply the pending migrations and exit
 *   eh-api healthcheck     GET /healthz on the local port: exit 0 when it answers 200
 *   eh-api --help          the environment variables
 *   eh-api --config-table  the README's configuration table
 *
 * Exit codes: 0 done, 1 failure, 2 bad configuration or usage.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cursor.h"
#include "config.h"
#include "keyring.h"
#include "listener.h"
#include "backoff.h"
#include "log.h"
#include "readiness.h"
#include "rlimit.h"
#include "migrate.h"
#include "timefmt.h"
#include "ws_relay.h"

#define EXIT_CONFIG 2
#define BUCKET_WAIT_MS 30000
#define MIGRATE_DB_WAIT_MS 60000
#define S3_PUT_IDLE_MS 30000
#define S3_PROBE_IDLE_MS 2000
#define READINESS_FIRST_WAIT_MS 5000
#define HEALTHCHECK_TIMEOUT_S 3
/* Streamed uploads still running after the grace period: time for their refusal (503) to be written. */
#define STREAMS_STOP_MS 5000
#define WS_CLOSE_GRACE_MS 2000 /* WebSocket clients answering our close (1001) at shutdown */

static void usage(FILE *out)
{
    fprintf(out, "usage: eh-api [migrate | healthcheck | --help | --config-table]\n\n");
    eh_config_print_help(out);
}

static int load_config(eh_config_t *cfg)
{
    char err[256];
    if (eh_config_load(cfg, err, sizeof(err)) != EH_OK) {
        eh_log_error("bad configuration: %s", err);
        return EH_ERR;
    }
    eh_log_set_level((int)cfg->log_level);
    return EH_OK;
}

/* Waits up to ms for SIGINT/SIGTERM (blocked in every thread); true when one came. */
static bool wait_signal(const sigset_t *set, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    for (;;) {
        int sig = ms < 0 ? sigwaitinfo(set, NULL) : sigtimedwait(set, NULL, &ts);
        if (sig > 0) {
            eh_log_info("signal %d received", sig);
            return true;
        }
        if (errno == EINTR)
            continue;
        return false;
    }
}

/* Storage must be there before the first upload; S3 may still be starting (compose), so retry a while. */
static int wait_for_bucket(eh_s3_t *s3, const sigset_t *signals)
{
    int64_t deadline = eh_time_mono_ms() + BUCKET_WAIT_MS;
    eh_backoff_t backoff;
    eh_backoff_init(&backoff, 100, 2000);
    for (;;) {
        eh_s3_error_t err;
        memset(&err, 0, sizeof(err));
        int rc = eh_s3_ensure_bucket(s3, &err);
        if (rc == EH_OK)
            return EH_OK;
        int64_t delay = eh_backoff_next(&backoff);
        if (rc != EH_AGAIN || eh_time_mono_ms() + delay > deadline) {
            eh_log_kv(EH_LOG_ERROR,
                      json_pack("{s:i, s:s, s:s}", "http_status", err.http_status, "s3_code", err.code, "s3_message",
                                err.message),
                      "the bucket cannot be used");
            return EH_ERR;
        }
        if (wait_signal(signals, delay))
            return EH_ERR;
    }
}

static void log_ready(const eh_config_t *cfg, int port, int metrics_port)
{
    bool v6 = strchr(cfg->http_host, ':') != NULL;
    char url[300];
    snprintf(url, sizeof(url), "http://%s%s%s:%d", v6 ? "[" : "", cfg->http_host, v6 ? "]" : "", port);
    eh_log_kv(
        EH_LOG_INFO,
        json_pack("{s:s, s:s, s:i}", "url", url, "libmicrohttpd", MHD_get_version(), "metrics_port", metrics_port),
        "ready");
}

/* The metrics listener, once ctx is whole: its readiness gauges use the pools from another thread. */
static int metrics_start(api_ctx_t *ctx)
{
    bool failed = false;
    ctx->metrics = api_metrics_start(ctx->cfg, api_health_collect, ctx, &failed);
    return failed ? EH_ERR : EH_OK;
}

/* Stops in stages: no new connections, in-flight requests get the grace period, then everything closes. */
static void shut_down(api_ctx_t *ctx, api_listener_t *l, const sigset_t *signals)
{
    api_listener_stop(l);
    int64_t deadline = eh_time_mono_ms() + ctx->cfg->shutdown_grace_ms;
    int busy;
    while ((busy = atomic_load(&ctx->in_flight)) > 0 && eh_time_mono_ms() < deadline) {
        if (wait_signal(signals, 50)) {
            eh_log_warn("second signal: stopping without waiting for %d request(s)", busy);
            break;
        }
    }
    if (busy > 0)
        eh_log_warn("%d request(s) still running at the end of the grace period", busy);
}

static int serve(const eh_config_t *cfg)
{
    int rc = 1;
    api_ctx_t ctx = {.cfg = cfg};
    struct MHD_Daemon *daemon = NULL;
    api_listener_t *listener = NULL;
    api_ws_t *ws = NULL;
    bool s3_inited = false;

    /* Every thread started from here on inherits the blocked set; only the main thread takes the signals. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &signals, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        eh_log_error("cannot set up signal handling");
        return 1;
    }
    eh_config_log(cfg);
    (void)eh_rlimit_raise_nofile();
    char perr[256];
    if (api_proxies_parse(cfg->trusted_proxies, &ctx.proxies, perr, sizeof(perr)) != EH_OK) {
        eh_log_error("bad configuration: %s", perr);
        goto out;
    }
    api_auth_log_mode(cfg);
    if (api_upload_check_spool(cfg->spool_dir) != EH_OK) {
        eh_log_error("EH_SPOOL_DIR is not usable");
        goto out;
    }
    ctx.graphql = api_graphql_create();
    if (ctx.graphql == NULL)
        goto out;
    if (api_cursor_configure(cfg->cursor_secret, cfg->database_url) != EH_OK)
        goto out;
    if (eh_s3_global_init() != EH_OK)
        goto out;
    s3_inited = true;
    /* eh-api's own credentials (EH_API_S3_*): it puts and deletes objects, never reads them. */
    eh_s3_config_t s3cfg = {.endpoint = cfg->s3_endpoint,
                            .bucket = cfg->s3_bucket,
                            .access_key = cfg->api_s3_access_key,
                            .secret_key = cfg->api_s3_secret_key,
                            .https = cfg->s3_https != 0,
                            .timeout_ms = S3_PUT_IDLE_MS};
    ctx.s3 = eh_s3_create(&s3cfg);
    s3cfg.timeout_ms = S3_PROBE_IDLE_MS;
    ctx.s3_probe = eh_s3_create(&s3cfg);
    if (ctx.s3 == NULL || ctx.s3_probe == NULL || wait_for_bucket(ctx.s3, &signals) != EH_OK)
        goto out;
    ctx.db = eh_db_pool_create(cfg->database_url, (int)cfg->db_pool_size);
    if (ctx.db == NULL)
        goto out;
    ctx.pub = api_publisher_create(cfg, ctx.db);
    if (ctx.pub == NULL || api_publisher_start(ctx.pub) != EH_OK)
        goto out;
    ctx.ready = api_readiness_create(&ctx, cfg->readyz_refresh_ms);
    if (ctx.ready == NULL || api_readiness_start(ctx.ready) != EH_OK)
        goto out;
    ctx.offload = api_offload_create();
    ctx.lookup = api_lookup_create(ctx.db);
    ctx.keys = api_keyring_create(cfg->database_url, ctx.db, cfg->rate_limit_rps, cfg->rate_limit_burst);
    if (ctx.offload == NULL || ctx.lookup == NULL || ctx.keys == NULL || api_keyring_start(ctx.keys) != EH_OK)
        goto out;
    if (metrics_start(&ctx) != EH_OK)
        goto out;
    daemon = api_http_start(&ctx);
    if (daemon == NULL)
        goto out;
    ws = api_ws_create(cfg);
    if (ws == NULL)
        goto out;
    api_ws_set_keyring(ws, ctx.keys);
    api_ws_set_metrics(ws, ctx.metrics);
    if (api_ws_start(ws) != EH_OK)
        goto out;
    /* /readyz answers from the first verdicts on: they come before the first connection is accepted. */
    api_readiness_wait_first(ctx.ready, READINESS_FIRST_WAIT_MS);
    /* A head never gets longer than the connection's whole idle allowance (EH_HTTP_TIMEOUT_S). */
    int64_t idle_ms = (int64_t)cfg->http_timeout_s * 1000;
    api_listener_limits_t lim = {.max_pending = (int)cfg->http_max_connections,
                                 .pending_per_peer = (int)cfg->http_pending_per_ip,
                                 .head_timeout_ms =
                                     cfg->http_head_timeout_ms < idle_ms ? cfg->http_head_timeout_ms : idle_ms};
    listener = api_listener_create(cfg->http_host, (int)cfg->http_port, &lim, api_http_adopt, daemon);
    if (listener == NULL)
        goto out;
    api_listener_set_ws_hook(listener, api_ws_adopt, ws);
    if (api_listener_start(listener) != EH_OK)
        goto out;
    log_ready(cfg, api_listener_port(listener), api_metrics_port(ctx.metrics));

    (void)wait_signal(&signals, -1);
    eh_log_info("stopping");
    shut_down(&ctx, listener, &signals);
    api_ws_stop(ws, cfg->shutdown_grace_ms < WS_CLOSE_GRACE_MS ? cfg->shutdown_grace_ms : WS_CLOSE_GRACE_MS);
    rc = 0;
out:
    api_listener_destroy(listener);
    api_ws_destroy(ws);
    if (daemon != NULL) {
        api_put_stream_stop_all(STREAMS_STOP_MS); /* resumes the connections held while their ring is full */
        api_offload_drain(ctx.offload);           /* resumes every other suspended connection */
        MHD_stop_daemon(daemon);
    }
    /* After the daemon (its requests count) and before the pools (its readiness gauges use them). */
    api_metrics_destroy(ctx.metrics);
    api_offload_destroy(ctx.offload);
    api_lookup_destroy(ctx.lookup);
    api_graphql_destroy(ctx.graphql);
    api_readiness_destroy(ctx.ready); /* before what its checks use */
    api_keyring_destroy(ctx.keys);    /* after the relay and the daemon: both borrow it */
    api_publisher_destroy(ctx.pub);
    eh_db_pool_destroy(ctx.db);
    eh_s3_destroy(ctx.s3_probe);
    eh_s3_destroy(ctx.s3);
    if (s3_inited)
        eh_s3_global_cleanup();
    api_proxies_destroy(ctx.proxies);
    if (rc == 0)
        eh_log_info("stopped");
    return rc;
}

static int migrate(const eh_config_t *cfg)
{
    eh_db_t *db = eh_db_connect(cfg->database_url, MIGRATE_DB_WAIT_MS);
    if (db == NULL)
        return 1;
    int applied = 0;
    const char *dir = eh_migrate_default_dir();
    int rc = eh_migrate_run(db, dir, &applied);
    eh_db_destroy(db);
    if (rc != EH_OK) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "dir", dir, "applied", applied), "migrations failed");
        return 1;
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:s, s:i}", "dir", dir, "applied", applied), "migrations up to date");
    return 0;
}

/* The container's HEALTHCHECK: no curl in the image, so a plain socket. */
static int healthcheck(const eh_config_t *cfg)
{
    const char *host = cfg->http_host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    char port[16];
    snprintf(port, sizeof(port), "%lld", (long long)cfg->http_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return 1;
    int ok = 1;
    for (struct addrinfo *ai = res; ai != NULL && ok != 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = HEALTHCHECK_TIMEOUT_S};
        char req[] = "GET /healthz HTTP/1.0\r\n\r\n", buf[32] = "";
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
            connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
            size_t got = 0;
            ssize_t n;
            while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
                got += (size_t)n;
            buf[got] = '\0';
            if (strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0)
                ok = 0;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

int main(int argc, char **argv)
{
    eh_log_init("api");
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (argc > 2) {
        usage(stderr);
        return EXIT_CONFIG;
    }
    if (cmd != NULL && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (cmd != NULL && strcmp(cmd, "--config-table") == 0) {
        eh_config_print_markdown(stdout);
        return 0;
    }
    if (cmd != NULL && strcmp(cmd, "migrate") != 0 && strcmp(cmd, "healthcheck") != 0) {
        usage(stderr);
        return EXIT_CONFIG;
    }
    eh_config_t cfg;
    if (load_config(&cfg) != EH_OK)
        return EXIT_CONFIG;
    int rc;
    if (cmd == NULL)
        rc = serve(&cfg);
    else if (strcmp(cmd, "migrate") == 0)
        rc = migrate(&cfg);
    else
        rc = healthcheck(&cfg);
    eh_config_free(&cfg);
    return rc;
}
