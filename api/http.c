/*
 * The libmicrohttpd daemon: routing and the request log line (answers are
 * written by response.c, which knows no route: handlers and the router both
 * depend on it, never on each other).
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
 * A route that collects its body (API_BODY_COLLECT) answers on the last
 * call, with the whole body in rq->body, bounded by the route's max_body.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "log.h"
#include "timefmt.h"

/* Per connection: headers and the read buffer. MHD clears the pool between keep-alive requests, so a large one
 * costs every GET (256 KiB measured ~10 % of the GET path) while an upload gains little from it. */
#define MEMORY_LIMIT (64 * 1024)
#define MAX_IGNORED_BODY (64 * 1024)

/*
 * The route table: every path the API answers, its method, whether it needs
 * an API key and which scope, and its handler. {id} matches one non-empty
 * path segment, handed to the handler as rq->id / rq->id_len. The pattern is
 * also the route's name in logs and metrics (never the raw path).
 */
static const api_route_t routes[] = {
    {"POST", "/api/v1/files/upload", NULL, API_AUTH_KEY, API_SCOPE_WRITE, API_BODY_STREAM, 0},
    {"GET", "/api/v1/jobs", api_jobs_list, API_AUTH_KEY, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/api/v1/jobs/{id}", api_jobs_get, API_AUTH_KEY, API_SCOPE_READ, API_BODY_NONE, 0},
    {"DELETE", "/api/v1/jobs/{id}", api_jobs_delete, API_AUTH_KEY, API_SCOPE_WRITE, API_BODY_NONE, 0},
    {"GET", "/api/v1/jobs/{id}/errors", api_jobs_errors, API_AUTH_KEY, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/api/v1/jobs/{id}/entries", api_jobs_entries, API_AUTH_KEY, API_SCOPE_READ, API_BODY_NONE, 0},
    {"POST", "/api/v1/jobs/{id}/cancel", api_jobs_cancel, API_AUTH_KEY, API_SCOPE_WRITE, API_BODY_NONE, 0},
    {"GET", "/ws/jobs/{id}", api_jobs_ws_fallback, API_AUTH_KEY, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/healthz", api_health_live, API_AUTH_NONE, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/readyz", api_health_ready, API_AUTH_NONE, API_SCOPE_READ, API_BODY_NONE, 0},
    {"POST", "/api/v1/admin/tenants", api_admin_tenant_create, API_AUTH_ADMIN, API_SCOPE_WRITE, API_BODY_COLLECT, 4096},
    {"GET", "/api/v1/admin/tenants", api_admin_tenant_list, API_AUTH_ADMIN, API_SCOPE_READ, API_BODY_NONE, 0},
    {"POST", "/api/v1/admin/tenants/{id}/keys", api_admin_key_create, API_AUTH_ADMIN, API_SCOPE_WRITE, API_BODY_COLLECT,
     4096},
    {"DELETE", "/api/v1/admin/keys/{id}", api_admin_key_revoke, API_AUTH_ADMIN, API_SCOPE_WRITE, API_BODY_NONE, 0},
    {"GET", "/graphql", api_graphql_handle, API_AUTH_KEY, API_SCOPE_READ, API_BODY_NONE, 0},
    {"POST", "/graphql", api_graphql_handle, API_AUTH_KEY, API_SCOPE_READ, API_BODY_COLLECT, API_GRAPHQL_MAX_BODY},
    {"GET", "/api/v1/openapi.json", api_docs_openapi, API_AUTH_NONE, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/docs", api_docs_page, API_AUTH_NONE, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/docs/{id}", api_docs_asset, API_AUTH_NONE, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/", api_web_serve, API_AUTH_NONE, API_SCOPE_READ, API_BODY_NONE, 0},
    {"GET", "/web/{id}", api_web_serve, API_AUTH_NONE, API_SCOPE_READ, API_BODY_NONE, 0},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

const api_route_t *api_http_routes(size_t *n)
{
    *n = N_ROUTES;
    return routes;
}

size_t api_http_route_index(const api_route_t *route)
{
    return route != NULL ? (size_t)(route - routes) : N_ROUTES;
}

/* Matches url against pattern; on success sets the {id} slice (empty when the pattern has none). */
static bool pattern_match(const char *pattern, const char *url, const char **id, size_t *id_len)
{
    *id = NULL;
    *id_len = 0;
    const char *p = pattern, *u = url;
    while (*p != '\0') {
        if (strncmp(p, "{id}", 4) == 0) {
            const char *seg_end = strchr(u, '/');
            size_t n = seg_end != NULL ? (size_t)(seg_end - u) : strlen(u);
            if (n == 0)
                return false;
            *id = u;
            *id_len = n;
            u += n;
            p += 4;
            continue;
        }
        if (*p != *u)
            return false;
        p++;
        u++;
    }
    return *u == '\0';
}

static bool method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

/*
 * The route of (method, url): the entry, or NULL with *path_known telling a
 * known path with another method (405, allow = its methods) from no such path.
 */
const api_route_t *api_http_route_find(const char *method, const char *url, const char **id, size_t *id_len,
                                       bool *path_known, char *allow, size_t allow_len)
{
    *path_known = false;
    if (allow_len > 0)
        allow[0] = '\0';
    const api_route_t *found = NULL;
    for (size_t i = 0; i < N_ROUTES; i++) {
        const char *rid;
        size_t rid_len;
        if (!pattern_match(routes[i].pattern, url, &rid, &rid_len))
            continue;
        if (found == NULL && method_matches(routes[i].method, method)) {
            found = &routes[i];
            *id = rid;
            *id_len = rid_len;
        }
        *path_known = true;
        size_t used = strlen(allow);
        snprintf(allow + used, allow_len - used, "%s%s%s", used > 0 ? ", " : "", routes[i].method,
                 strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
    }
    return found;
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, api_request_t *rq, const char *allow)
{
    return api_http_send_json_header(c, rq, MHD_HTTP_METHOD_NOT_ALLOWED,
                                     api_http_error_body("method_not_allowed", "method not allowed on this resource"),
                                     "Allow", allow);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static enum MHD_Result body_too_large(struct MHD_Connection *c, api_request_t *rq)
{
    char msg[80];
    snprintf(msg, sizeof(msg), "the request body exceeds %zu bytes", rq->route->max_body);
    return api_http_send_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg);
}

/* One line per request, built without jansson: it is written for every request. */
static void log_request(const api_request_t *rq, enum MHD_RequestTerminationCode toe)
{
    if (EH_LOG_INFO > eh_log_threshold)
        return;
    char path[sizeof(rq->path)];
    api_util_clean_utf8(rq->path, strlen(rq->path), path, sizeof(path));
    eh_log_fields_t f = EH_LOG_FIELDS_INIT;
    eh_log_field_str(&f, "request_id", rq->request_id);
    eh_log_field_str(&f, "client", rq->client);
    eh_log_field_str(&f, "method", rq->method);
    eh_log_field_str(&f, "path", path);
    eh_log_field_int(&f, "status", rq->status);
    eh_log_field_int(&f, "bytes", (int64_t)rq->bytes);
    eh_log_field_int(&f, "duration_ms", eh_time_mono_ms() - rq->start_ms);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        eh_log_field_str(&f, "terminated",
                         toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
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
    api_metrics_request(ctx->metrics, rq->route, rq->method, rq->status, (double)(mono_ns() - rq->start_ns) / 1e9);
    api_metrics_in_flight(ctx->metrics, -1);
    api_upload_destroy(rq->upload);
    eh_buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&ctx->in_flight, 1);
}

static api_request_t *request_new(api_ctx_t *ctx, struct MHD_Connection *c, const char *url, const char *method)
{
    api_request_t *rq = calloc(1, sizeof(*rq));
    if (rq == NULL)
        return NULL;
    rq->start_ns = mono_ns();
    rq->start_ms = rq->start_ns / 1000000;
    api_request_id(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id"), rq->request_id);
    api_client_addr(ctx, c, rq->client, sizeof(rq->client));
    api_metrics_in_flight(ctx->metrics, 1);
    snprintf(rq->method, sizeof(rq->method), "%s", method);
    snprintf(rq->path, sizeof(rq->path), "%s", url);
    atomic_fetch_add(&ctx->in_flight, 1);
    return rq;
}

/*
 * Finds the route, answers 404/405, identifies the caller (api_auth_request
 * answers 401/403/429 itself), then runs the handler. Routes without a body
 * get here on the last call of the access handler, so that keep-alive holds;
 * a streamed-body route (the upload) on the first call, so that a refused
 * request is answered before its body is read.
 */
static enum MHD_Result dispatch(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, const char *url,
                                const char *method)
{
    bool path_known;
    char allow[64];
    rq->route = api_http_route_find(method, url, &rq->id, &rq->id_len, &path_known, allow, sizeof(allow));
    if (rq->route == NULL) {
        if (path_known)
            return method_not_allowed(c, rq, allow);
        return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
    }
    enum MHD_Result res = MHD_YES;
    if (api_auth_request(ctx, c, rq, &res) != EH_OK)
        return res;
    if (rq->route->body == API_BODY_STREAM)
        return api_upload_begin(ctx, c, rq);
    if (rq->route->body == API_BODY_COLLECT) {
        if (rq->body_refused)
            return body_too_large(c, rq);
        /* NUL-terminated, so that a handler may parse it as a string; body.len stays the body's length. */
        if (eh_buf_reserve(&rq->body, 1) != EH_OK)
            return MHD_NO;
        rq->body.p[rq->body.len] = '\0';
    }
    return rq->route->handler(ctx, c, rq);
}

/* How (method, url) takes its body; API_BODY_NONE for an unknown route (answered 404/405 later). */
static const api_route_t *route_of(const char *method, const char *url)
{
    bool path_known;
    char allow[64];
    const char *id;
    size_t id_len;
    return api_http_route_find(method, url, &id, &id_len, &path_known, allow, sizeof(allow));
}

/* True when the request declares a Content-Length above max. */
static bool declared_over(struct MHD_Connection *c, size_t max)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno == 0 && end != cl && *end == '\0' && n > max;
}

/*
 * A piece of a collected body. Past the route's max_body the rest is read
 * and dropped, up to MAX_IGNORED_BODY more (then the connection closes), so
 * that the 413 answers the last call after authentication has had its say.
 */
static enum MHD_Result collect_body(api_request_t *rq, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (!rq->body_refused) {
        int rc = eh_buf_append_max(&rq->body, data, n, rq->route->max_body);
        if (rc == EH_OK)
            return MHD_YES;
        if (rc != EH_DECLINED)
            return MHD_NO;
        rq->body_refused = true;
        eh_buf_free(&rq->body);
    }
    rq->drained += n;
    return rq->drained > MAX_IGNORED_BODY ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    EH_UNUSED(version);
    api_ctx_t *ctx = cls;
    api_request_t *rq = *con_cls;
    if (rq == NULL) {
        rq = request_new(ctx, c, url, method);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        const api_route_t *r = route_of(method, url);
        if (r != NULL && r->body == API_BODY_STREAM) {
            rq->streaming = true;
            return dispatch(ctx, c, rq, url, method);
        }
        if (r != NULL && r->body == API_BODY_COLLECT) {
            rq->collecting = true;
            rq->route = r; /* collect_body reads its max_body before dispatch routes the request */
            /* A declared length over the bound is answered now, before any of the body is read. */
            if (declared_over(c, r->max_body)) {
                rq->body_refused = true;
                return dispatch(ctx, c, rq, url, method);
            }
        }
        return MHD_YES;
    }
    if (rq->streaming) /* also drops the body of a request refused on the first call */
        return api_upload_continue(ctx, c, rq, upload_data, upload_data_size);
    if (rq->collecting && *upload_data_size != 0)
        return collect_body(rq, upload_data, upload_data_size);
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
        flags, 0, NULL, NULL, on_access, ctx, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->http_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->http_max_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctx, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->http_threads, MHD_OPTION_END);
    if (d == NULL)
        eh_log_error("cannot start the HTTP daemon (libmicrohttpd)");
    return d;
}

int api_http_adopt(int fd, const struct sockaddr *addr, socklen_t addrlen, void *daemon)
{
    return MHD_add_connection(daemon, fd, addr, addrlen) == MHD_YES ? EH_OK : EH_DECLINED;
}
