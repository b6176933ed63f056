/*
 * The libmicrohttpd daemon: routing, JSON responses, the request log line.
 *
 * A pool of EH_HTTP_THREADS threads, each polling many connections with
 * epoll: a status request waits on PostgreSQL for a round trip, so a few
 * more threads than cores keep both busy, while a thread per connection
 * spent more time switching between threads than serving (8k against 11k
 * requests/s, bench/status). What takes seconds (an upload's S3 PUT, INSERT
 * and confirmed publish) runs on a thread of its own while the connection is
 * suspended (offload.c). Connections come from the listener through
 * MHD_add_connection; the daemon has no listening socket.
 *
 * GET routes answer on the second call of the access handler: queueing a
 * response on the first call makes MHD close the connection after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "timefmt.h"

/* Per connection: headers and the read buffer. MHD clears the pool between keep-alive requests, so a large one
 * costs every GET (256 KiB measured ~10 % of the GET path) while an upload gains little from it. */
#define MEMORY_LIMIT (64 * 1024)
#define MAX_IGNORED_BODY (64 * 1024)

enum route {
    R_NONE,
    R_UPLOAD,
    R_JOB,
    R_JOB_ERRORS,
    R_WS,
    R_HEALTHZ,
    R_READYZ,
};

#define JOBS_PREFIX "/api/v1/jobs/"
#define WS_PREFIX "/ws/jobs/"

/* Splits url into a route and the id slice. *allow is the Allow header of the route. */
static int match_route(const char *url, const char **id, size_t *id_len, const char **allow)
{
    *id = NULL;
    *id_len = 0;
    *allow = "GET, HEAD";
    if (strcmp(url, "/api/v1/files/upload") == 0) {
        *allow = "POST";
        return R_UPLOAD;
    }
    if (strcmp(url, "/healthz") == 0)
        return R_HEALTHZ;
    if (strcmp(url, "/readyz") == 0)
        return R_READYZ;
    if (strncmp(url, JOBS_PREFIX, strlen(JOBS_PREFIX)) == 0) {
        const char *rest = url + strlen(JOBS_PREFIX);
        const char *slash = strchr(rest, '/');
        if (slash == NULL && rest[0] != '\0') {
            *id = rest;
            *id_len = strlen(rest);
            return R_JOB;
        }
        if (slash != NULL && slash != rest && strcmp(slash, "/errors") == 0) {
            *id = rest;
            *id_len = (size_t)(slash - rest);
            return R_JOB_ERRORS;
        }
        return R_NONE;
    }
    if (strncmp(url, WS_PREFIX, strlen(WS_PREFIX)) == 0) {
        const char *rest = url + strlen(WS_PREFIX);
        if (rest[0] != '\0' && strchr(rest, '/') == NULL) {
            *id = rest;
            *id_len = strlen(rest);
            return R_WS;
        }
    }
    return R_NONE;
}

json_t *api_http_error_body(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

static enum MHD_Result queue(struct MHD_Connection *c, api_request_t *rq, int status, char *text, size_t len,
                             const char *hname, const char *hvalue)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_YES;
    if (MHD_add_response_header(resp, "Content-Type", "application/json") != MHD_YES ||
        MHD_add_response_header(resp, "Server", "event-horizon") != MHD_YES)
        ok = MHD_NO;
    if (ok == MHD_YES && status == MHD_HTTP_SERVICE_UNAVAILABLE &&
        MHD_add_response_header(resp, "Retry-After", API_RETRY_AFTER) != MHD_YES)
        ok = MHD_NO;
    if (ok == MHD_YES && hname != NULL && MHD_add_response_header(resp, hname, hvalue) != MHD_YES)
        ok = MHD_NO;
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) {
        rq->status = status;
        rq->bytes = len;
    }
    return ok;
}

enum MHD_Result api_http_send_json_header(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body,
                                          const char *hname, const char *hvalue)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return MHD_NO;
    return queue(c, rq, status, text, strlen(text), hname, hvalue);
}

enum MHD_Result api_http_send_json(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body)
{
    return api_http_send_json_header(c, rq, status, body, NULL, NULL);
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, api_request_t *rq, const char *allow)
{
    return api_http_send_json_header(c, rq, MHD_HTTP_METHOD_NOT_ALLOWED,
                                     api_http_error_body("method_not_allowed", "method not allowed on this resource"),
                                     "Allow", allow);
}

enum MHD_Result api_http_send_error(struct MHD_Connection *c, api_request_t *rq, int status, const char *code,
                                    const char *message)
{
    return api_http_send_json(c, rq, status, api_http_error_body(code, message));
}

/* One line per request, built without jansson: it is written for every request. */
static void log_request(const api_request_t *rq, enum MHD_RequestTerminationCode toe)
{
    if (EH_LOG_INFO > eh_log_threshold)
        return;
    char path[sizeof(rq->path)];
    api_util_clean_utf8(rq->path, strlen(rq->path), path, sizeof(path));
    eh_log_fields_t f = EH_LOG_FIELDS_INIT;
    eh_log_field_str(&f, "method", rq->method);
    eh_log_field_str(&f, "path", path);
    eh_log_field_int(&f, "status", rq->status);
    eh_log_field_int(&f, "bytes", (int64_t)rq->bytes);
    eh_log_field_int(&f, "duration_ms", eh_time_mono_ms() - rq->start_ms);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        eh_log_field_str(&f, "terminated", toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
                                           : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT  ? "client closed"
                                                                                         : "error");
    eh_log_emit_fields(EH_LOG_INFO, &f, "request");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    EH_UNUSED(c);
    api_ctx_t *ctx = cls;
    api_request_t *rq = *con_cls;
    if (rq == NULL)
        return;
    log_request(rq, toe);
    api_upload_destroy(rq->upload);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&ctx->in_flight, 1);
}

static api_request_t *request_new(api_ctx_t *ctx, const char *url, const char *method)
{
    api_request_t *rq = calloc(1, sizeof(*rq));
    if (rq == NULL)
        return NULL;
    rq->start_ms = eh_time_mono_ms();
    snprintf(rq->method, sizeof(rq->method), "%s", method);
    snprintf(rq->path, sizeof(rq->path), "%s", url);
    atomic_fetch_add(&ctx->in_flight, 1);
    return rq;
}

static enum MHD_Result dispatch(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, const char *url,
                                const char *method)
{
    const char *id, *allow;
    size_t id_len;
    int route = match_route(url, &id, &id_len, &allow);
    if (route == R_NONE)
        return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (route != R_UPLOAD && !get) {
        return method_not_allowed(c, rq, allow);
    }
    switch (route) {
    case R_JOB:
        return api_jobs_get(ctx, c, rq, id, id_len);
    case R_JOB_ERRORS:
        return api_jobs_errors(ctx, c, rq, id, id_len);
    case R_WS:
        return api_jobs_ws_fallback(ctx, c, rq, id, id_len);
    case R_HEALTHZ:
        return api_health_live(ctx, c, rq);
    case R_READYZ:
        return api_health_ready(ctx, c, rq);
    default:
        /* R_UPLOAD with a method other than POST. */
        return method_not_allowed(c, rq, allow);
    }
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    EH_UNUSED(version);
    api_ctx_t *ctx = cls;
    api_request_t *rq = *con_cls;
    if (rq == NULL) {
        rq = request_new(ctx, url, method);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        if (strcmp(url, "/api/v1/files/upload") == 0 && strcmp(method, "POST") == 0) {
            rq->route = R_UPLOAD;
            return api_upload_begin(ctx, c, rq);
        }
        return MHD_YES;
    }
    if (rq->route == R_UPLOAD)
        return api_upload_continue(ctx, c, rq, upload_data, upload_data_size);
    if (*upload_data_size != 0) {
        /* A body on a route that takes none: read a little of it and ignore it; close on more. */
        rq->drained += *upload_data_size;
        *upload_data_size = 0;
        return rq->drained > MAX_IGNORED_BODY ? MHD_NO : MHD_YES;
    }
    return dispatch(ctx, c, rq, url, method);
}

/* libmicrohttpd's own messages, as our log lines. */
__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    EH_UNUSED(cls);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "source", "libmicrohttpd"), "%s", msg);
}

struct MHD_Daemon *api_http_start(api_ctx_t *ctx)
{
    const eh_config_t *cfg = ctx->cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    /* The logger goes first: options before it would log through MHD's own stderr printer. */
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, ctx, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->http_max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctx,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads, MHD_OPTION_END);
    if (d == NULL)
        eh_log_error("cannot start the HTTP daemon (libmicrohttpd)");
    return d;
}

int api_http_adopt(int fd, const struct sockaddr *addr, socklen_t addrlen, void *daemon)
{
    return MHD_add_connection(daemon, fd, addr, addrlen) == MHD_YES ? EH_OK : EH_DECLINED;
}
