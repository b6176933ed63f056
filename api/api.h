/*
 * api.h - what the parts of eh-api share: the process-wide context and the
 * entry points of each area (http, upload, jobs, health, publisher).
 * Private to the api/ binary.
 */
#ifndef EH_API_API_H
#define EH_API_API_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "db.h"
#include "eh.h"
#include "event.h"
#include "job.h"
#include "http_metrics.h"
#include "job_queue.h"
#include "s3.h"
#include "uuid.h"

typedef struct api_publisher api_publisher_t;
typedef struct api_offload api_offload_t;
typedef struct api_lookup api_lookup_t;
typedef struct api_graphql api_graphql_t;
typedef struct api_keyring api_keyring_t;

/* Everything a request handler may use; built once by main, borrowed by every thread. */
typedef struct api_ctx {
    const eh_config_t *cfg;
    eh_db_pool_t *db;            /* EH_DB_POOL_SIZE connections, shared by all request threads */
    eh_s3_t *s3;                 /* uploads: no per-request time limit beyond libs3's own */
    eh_s3_t *s3_probe;           /* /readyz: a short time limit */
    api_publisher_t *pub;        /* the one broker connection of the process */
    api_offload_t *offload;      /* long work of suspended connections */
    api_lookup_t *lookup;        /* batched job status reads */
    api_graphql_t *graphql;      /* the schema and resolvers of /graphql */
    struct api_readiness *ready; /* /readyz verdicts, kept fresh in the background */
    api_keyring_t *keys;         /* verified API keys, their buckets (keyring.h) */
    atomic_int in_flight;        /* requests between their first call and their completion */
    api_metrics_t *metrics;      /* NULL with EH_METRICS=off */
    api_proxies_t *proxies;      /* EH_TRUSTED_PROXIES; NULL trusts nobody */
} api_ctx_t;

/* How long a request waits for a pooled database connection before answering 503. */
#define API_DB_WAIT_MS 2000
/* Seconds a client is told to wait after a 503. */
#define API_RETRY_AFTER "5"

/* ---- http.c: the libmicrohttpd daemon, the route table and the helpers every route uses ---- */

typedef struct api_request api_request_t;
typedef enum MHD_Result (*api_handler_fn)(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);

/* Who may call a route: anyone, a tenant's API key, or the holder of EH_ADMIN_TOKEN. */
typedef enum { API_AUTH_NONE, API_AUTH_KEY, API_AUTH_ADMIN } api_auth_t;
/* The scope a key needs: read routes admit read and write keys, write routes only write keys. */
typedef enum { API_SCOPE_READ, API_SCOPE_WRITE } api_scope_t;
/*
 * How a route takes its body: none (a little is read and dropped), streamed
 * to api_upload_*, or collected whole (at most the route's max_body bytes;
 * more is 413) and handed to the handler as rq->body (.p NUL-terminated, .len bytes).
 */
typedef enum { API_BODY_NONE, API_BODY_STREAM, API_BODY_COLLECT } api_body_t;

typedef struct api_route {
    const char *method;     /* GET (HEAD too), POST, DELETE */
    const char *pattern;    /* "/api/v1/jobs/{id}/errors"; also the route's name in logs and metrics */
    api_handler_fn handler; /* NULL for API_BODY_STREAM routes (api_upload_begin/continue) */
    api_auth_t auth;
    api_scope_t scope;
    api_body_t body;
    size_t max_body; /* API_BODY_COLLECT: the largest body accepted */
} api_route_t;

/* The caller a request was identified as (api_auth_request); every job query is scoped to tenant_id. */
typedef struct api_caller {
    char tenant_id[EH_UUID_STRLEN + 1];
    char key_id[EH_UUID_STRLEN + 1]; /* empty with EH_AUTH=off and for the admin token */
    char key_prefix[16];             /* the key's public prefix (a WebSocket checks it again on revocations) */
    api_scope_t scope;
    bool admin;
} api_caller_t;

/* Per-request state: allocated on the first call of the access handler, freed when MHD completes the request. */
struct api_request {
    int64_t start_ms;         /* monotonic */
    int64_t start_ns;         /* monotonic, for the duration histogram */
    int status;               /* answered status, 0 until one is queued or written */
    uint64_t bytes;           /* response body bytes */
    uint64_t drained;         /* request body bytes read and ignored (routes that take no body) */
    const api_route_t *route; /* NULL until routed */
    bool streaming;           /* the route's body goes to api_upload_continue */
    bool collecting;          /* the route's body is collected into body (API_BODY_COLLECT) */
    bool body_refused;        /* the body passed max_body: a 413 is queued after the last call */
    eh_buf_t body;            /* API_BODY_COLLECT: the request body so far; NUL-terminated when handed over */
    const char *id;           /* the {id} segment of the path (not NUL-terminated), id_len bytes */
    size_t id_len;
    api_caller_t caller;
    char method[16];
    char path[256];                          /* truncated copy, for the log line */
    char request_id[API_REQUEST_ID_MAX + 1]; /* X-Request-Id kept or made (client.h); sent back, logged, queued */
    char client[API_CLIENT_ADDR_MAX + 1];    /* api_client_addr: the peer, or who a trusted proxy names */
    struct api_upload *upload;
};

/*
 * The route of (method, url), with its {id} slice; NULL when none, and then
 * *path_known says whether the path exists with other methods (listed in allow).
 */
const api_route_t *api_http_route_find(const char *method, const char *url, const char **id, size_t *id_len,
                                       bool *path_known, char *allow, size_t allow_len);

/* The route table (*n entries), for the metrics' label values. */
const api_route_t *api_http_routes(size_t *n);
/* The position of route in the table; the table's length for NULL (no route matched). */
size_t api_http_route_index(const api_route_t *route);

/*
 * The real client address of a request (client.h: the peer, or what a
 * trusted proxy says in X-Forwarded-For) into out (API_CLIENT_ADDR_MAX + 1
 * bytes or more). The one place forwarded headers are believed: per-client
 * limits and logs use it.
 */
void api_client_addr(const api_ctx_t *ctx, struct MHD_Connection *c, char *out, size_t outlen);

/*
 * Starts the daemon without a listening socket (the listener hands
 * connections over with api_http_adopt). NULL after logging on failure.
 */
EH_MUST_CHECK struct MHD_Daemon *api_http_start(api_ctx_t *ctx);
/* Hands an accepted socket to the daemon, which owns (and closes) it from now on. */
EH_MUST_CHECK int api_http_adopt(int fd, const struct sockaddr *addr, socklen_t addrlen, void *daemon);

/* ---- response.c: the one writer of answers (handlers and the router use it; it knows no route) ---- */

/* Queues a JSON body (stolen, freed on every path) with status; Server header added. */
enum MHD_Result api_http_send_json(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body);
/* The same with a Content-Type other than application/json (NULL: application/json) and one more header. */
enum MHD_Result api_http_send_json_as(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body,
                                      const char *content_type, const char *hname, const char *hvalue);
/* The same with one more header (Location on 202, Allow on 405). */
enum MHD_Result api_http_send_json_header(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body,
                                          const char *hname, const char *hvalue);
/* Queues an empty response (204). */
enum MHD_Result api_http_send_empty(struct MHD_Connection *c, api_request_t *rq, int status);
/* Queues {"error":{"code":code,"message":message}}; a 503 carries Retry-After. */
enum MHD_Result api_http_send_error(struct MHD_Connection *c, api_request_t *rq, int status, const char *code,
                                    const char *message);
/* The JSON error body as a new object; NULL on out of memory. */
json_t *api_http_error_body(const char *code, const char *message);
/* The header a status always carries (Retry-After on 503) with its value, or NULL. */
const char *api_http_status_header(int status, const char **value);
/*
 * The complete HTTP/1.1 error answer (status line, the headers above, one
 * more header when hname is not NULL, Connection: close, the JSON body) for
 * paths that write to the socket themselves. New string (free it), its
 * length in *len; NULL on out of memory.
 */
char *api_http_error_raw(int status, const char *code, const char *message, const char *hname, const char *hvalue,
                         size_t *len);

/* ---- auth.c: who is calling ---- */

/*
 * Identifies the caller of rq->route into rq->caller. EH_OK to go on; any
 * other result means the refusal (401, 403, 429, 503) is queued and *res
 * holds what the access handler returns.
 */
EH_MUST_CHECK int api_auth_request(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, enum MHD_Result *res);

/* What a request shows of its caller (REST and WebSocket alike); strings borrowed, NULL when absent. */
typedef struct api_auth_input {
    api_auth_t auth;
    api_scope_t scope;
    const char *authorization; /* the Authorization header */
    bool token_in_query;       /* the query has access_token */
    const char *query_token;   /* its value (WebSocket upgrade only) */
    bool websocket;
    const char *origin; /* WebSocket: the Origin header, checked against EH_ALLOWED_ORIGINS */
    const char *host;   /* WebSocket: the Host header (the web page's own origin is always admitted) */
} api_auth_input_t;

/* A refusal: status 401, 403, 429 or 503, the contract's error code and a message (static strings). */
typedef struct api_auth_refusal {
    int status;
    const char *code;
    const char *message;
    int64_t retry_after_s; /* 429 */
} api_auth_refusal_t;

/*
 * The decision itself: EH_OK with caller set, or another code with the
 * refusal in r. A REST request with access_token in its query is refused
 * with 401 whatever else it carries (the key has leaked into a URL).
 */
EH_MUST_CHECK int api_auth_decide(const eh_config_t *cfg, api_keyring_t *keys, const api_auth_input_t *in,
                                  api_caller_t *caller, api_auth_refusal_t *r);
/* Parses "Bearer <token>" (scheme case-insensitive): EH_OK with the token slice, or EH_DECLINED. */
EH_MUST_CHECK int api_auth_bearer(const char *header, const char **token, size_t *len);
/* True when origin (NULL: no Origin header, not a browser) is in the comma-separated allowed list. */
bool api_auth_origin_allowed(const char *allowed, const char *origin);
/* True when origin is http(s)://<host> for the Host header the request came with: the page eh-api serves at /. */
bool api_auth_origin_same_host(const char *origin, const char *host);
/* Logs at start what the configuration means (EH_AUTH=off warns). */
void api_auth_log_mode(const eh_config_t *cfg);

/* ---- upload.c: POST /api/v1/files/upload ---- */

/*
 * First call of an upload request: checks the declared length and content
 * type. Returns MHD_YES with rq->upload set to go on reading the body, or
 * the result of queueing the error response (the body is then not read).
 */
enum MHD_Result api_upload_begin(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
/* Every later call: feeds the body, then (final call) stores the file and answers. */
enum MHD_Result api_upload_continue(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, const char *data,
                                    size_t *size);
/* The scope an upload request needs: read for a dry run (dry_run=true), write otherwise. */
api_scope_t api_upload_scope(struct MHD_Connection *c);
/* EH_OK when a spool file can be made in dir (checked at start, so that a bad EH_SPOOL_DIR stops eh-api). */
EH_MUST_CHECK int api_upload_check_spool(const char *dir);
/* Frees the upload state and its spool file. NULL is accepted. */
void api_upload_destroy(struct api_upload *up);

/* ---- quota.c: active jobs per tenant ---- */

#define API_QUOTA_MESSAGE "this tenant has its maximum of jobs queued or processing; retry when one has finished"

/*
 * Opens a transaction on db in which tenant_id may create one more job:
 * EH_OK with the transaction open (the tenant's row locked until it ends:
 * INSERT the job, then commit); EH_DECLINED when the tenant already has
 * max_active jobs queued or processing (rolled back); EH_AGAIN or EH_ERR
 * (rolled back). max_active 0: no limit, the transaction is just opened.
 */
EH_MUST_CHECK int api_quota_reserve(eh_db_t *db, const char *tenant_id, int64_t max_active);
/*
 * True when tenant_id has EH_TENANT_MAX_ACTIVE_JOBS jobs queued or
 * processing now: an upload is refused before its body is read. False when
 * there is room, no limit, or the database cannot tell (api_quota_reserve
 * decides in the end).
 */
bool api_quota_full(api_ctx_t *ctx, const char *tenant_id);

/* ---- offload.c: long work off the request threads ---- */

typedef void (*api_offload_fn)(void *arg);

EH_MUST_CHECK api_offload_t *api_offload_create(void);
/* Waits for the work still running, then frees. NULL is accepted. */
void api_offload_destroy(api_offload_t *o);
/*
 * From the access handler: suspends c and runs work(arg) on a thread of its
 * own, then resumes c (the handler is called again). EH_OK; EH_ERR when no
 * thread could be started: c is not suspended and the work has not run.
 */
EH_MUST_CHECK int api_offload_run(api_offload_t *o, struct MHD_Connection *c, api_offload_fn work, void *arg);
/*
 * Work of no connection (freeing what an aborted request left: a large spool
 * file, a cut S3 PUT) on a thread of its own; the drain waits for it too.
 * EH_OK; EH_ERR when no thread could be started (the work has not run).
 */
EH_MUST_CHECK int api_offload_detached(api_offload_t *o, api_offload_fn work, void *arg);
/* Returns once no work runs: the daemon must not stop while a connection is suspended. */
void api_offload_drain(api_offload_t *o);

/* ---- put_stream.c: the S3 PUT of an upload while its body arrives ---- */

typedef struct api_put_stream api_put_stream_t;

/*
 * Starts a thread that PUTs exactly len bytes under key: the first
 * prefix_len from the spool file fd, the rest as api_put_stream_push hands
 * them over (through a bounded ring; conn is suspended while it is full).
 * NULL when none could start (STREAMS_MAX rings in use, no memory, no
 * thread): the upload is then stored after it has arrived.
 */
api_put_stream_t *api_put_stream_start(eh_s3_t *s3, const char *key, int fd, uint64_t prefix_len, uint64_t len,
                                       struct MHD_Connection *conn);
/*
 * Hands over the next n bytes of the file, from conn's access handler only;
 * bytes past len are not taken (the caller keeps them). EH_OK, or EH_ERR
 * when the PUT has ended early (failed or cancelled).
 */
EH_MUST_CHECK int api_put_stream_push(api_put_stream_t *ps, const char *data, size_t n);
/*
 * At the end of an access handler call that pushed and will not answer:
 * suspends conn while the ring is full (the PUT thread resumes it). Never
 * called on a call that suspends conn otherwise (offload): a connection
 * must not be suspended twice.
 */
void api_put_stream_pace(api_put_stream_t *ps);
/* The length announced to S3. */
uint64_t api_put_stream_length(const api_put_stream_t *ps);
/*
 * Everything is handed over and checked: pads a PUT that was handed fewer
 * than len bytes with filler, lets the last byte go and waits for the PUT.
 * EH_OK or its error.
 */
EH_MUST_CHECK int api_put_stream_commit(api_put_stream_t *ps, eh_s3_error_t *err);
/* Cancels an uncommitted PUT and deletes what it may have left; frees. NULL is accepted. */
void api_put_stream_destroy(api_put_stream_t *ps);
/*
 * At shutdown: ends every PUT in flight (their connections are resumed,
 * their uploads refused) and waits up to timeout_ms for their uploads to be
 * cleaned up, so that the daemon stops with no connection suspended.
 */
void api_put_stream_stop_all(int timeout_ms);

/* ---- job_lookup.c: batched job status reads ---- */

EH_MUST_CHECK api_lookup_t *api_lookup_create(eh_db_pool_t *pool);
void api_lookup_destroy(api_lookup_t *l);
/*
 * Loads job id (a lowercase UUID) of tenant_id from a query that started
 * after this call, shared with the lookups that arrived meanwhile. EH_OK;
 * EH_DECLINED when the tenant has no such job; EH_AGAIN when the database
 * is unreachable; EH_ERR. Use api_job_load from handlers.
 */
EH_MUST_CHECK int api_lookup_job(api_lookup_t *l, const char *id, const char *tenant_id, eh_job_t *out);
/* Queries run so far (each answers one batch). */
uint64_t api_lookup_queries(api_lookup_t *l);
/*
 * A prepared statement spares PostgreSQL the parse and plan of every
 * request. It is prepared on first use on each pooled connection, and again
 * when a reconnect lost it (SQLSTATE 26000); other failures go through
 * eh_db_query, which logs them and tells a lost connection (EH_AGAIN).
 */
PGresult *api_query_prepared(eh_db_t *db, const char *name, const char *sql, int nparams, const char *const *params,
                             int *status);

/* ---- jobs.c: GET /api/v1/jobs/<id>[/errors], GET /ws/jobs/<id> without a relay ---- */

/*
 * The one way a handler gets the job of its path: checks rq->id, loads it
 * scoped to rq->caller.tenant_id (another tenant's job is 404 exactly like
 * an unknown one). True with job filled (eh_job_clear it), or false with the
 * error answer (400, 404, 503, 500) already queued in *answer.
 */
bool api_job_load(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, eh_job_t *job, enum MHD_Result *answer);

enum MHD_Result api_jobs_get(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_jobs_errors(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_jobs_ws_fallback(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
/*
 * The {id} of rq as a lowercase UUID into out: true; false with the 400
 * queued in *answer.
 */
bool api_jobs_request_id(struct MHD_Connection *c, api_request_t *rq, char out[EH_UUID_STRLEN + 1],
                         enum MHD_Result *answer);
/* Queues the answer to a failed job query: 404 (EH_DECLINED), 503 (EH_AGAIN) or 500. */
enum MHD_Result api_jobs_answer_failure(struct MHD_Connection *c, api_request_t *rq, int rc);

/* ---- graphql/gql_http.c: /graphql ---- */

/* The largest POST /graphql body: a 64 KiB document, JSON-escaped, and its variables. */
#define API_GRAPHQL_MAX_BODY (256 * 1024)

/*
 * Parses the embedded schema and checks the resolver table against it
 * (a field without a resolver, or a resolver without a field, is logged
 * and returns NULL: eh-api does not start).
 */
EH_MUST_CHECK api_graphql_t *api_graphql_create(void);
void api_graphql_destroy(api_graphql_t *g);
/* GET /graphql (queries only) and POST /graphql (application/json). */
enum MHD_Result api_graphql_handle(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);

/* ---- job_list.c: GET /api/v1/jobs, GET /api/v1/jobs/<id>/entries ---- */

enum MHD_Result api_jobs_list(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_jobs_entries(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);

/* ---- job_actions.c: POST /api/v1/jobs/<id>/cancel, DELETE /api/v1/jobs/<id> ---- */

enum MHD_Result api_jobs_cancel(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_jobs_delete(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);

/* ---- docs.c: GET /api/v1/openapi.json, /docs, /docs/<asset> ---- */

enum MHD_Result api_docs_openapi(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_docs_page(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_docs_asset(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
/* ---- admin.c: the /api/v1/admin/ endpoints (the admin token only) ---- */

enum MHD_Result api_admin_tenant_create(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_admin_tenant_list(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_admin_key_create(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_admin_key_revoke(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);

/* ---- health.c ---- */

enum MHD_Result api_health_live(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
enum MHD_Result api_health_ready(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);
/* Metrics collector (ud: the api_ctx_t): eh_ready and eh_ready_dependency{dependency}, checked now. */
int api_health_collect(eh_buf_t *out, void *ud);

/* ---- web.c: the web page (GET / and GET /web/<file>), compiled in from api/web/ ---- */

enum MHD_Result api_web_serve(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq);

/* ---- publisher.c: the broker connection, guarded by a mutex, and the re-publisher thread ---- */

/* Connects lazily. NULL on out of memory. */
EH_MUST_CHECK api_publisher_t *api_publisher_create(const eh_config_t *cfg, eh_db_pool_t *pool);
/* Stops the re-publisher (if started) and closes the connection. NULL is accepted. */
void api_publisher_destroy(api_publisher_t *pub);
/* Starts the thread that re-publishes queued jobs whose message was not confirmed. */
EH_MUST_CHECK int api_publisher_start(api_publisher_t *pub);
/* EH_OK when the connection is open or could be opened now; EH_AGAIN otherwise. */
EH_MUST_CHECK int api_publisher_check(api_publisher_t *pub);
/*
 * Publishes the job's message (request_id: the upload's X-Request-Id) with a confirm and stamps the job's row (a
 * pooled connection). EH_OK; EH_AGAIN when the broker did not confirm or
 * the database was not there (the re-publisher will publish it).
 */
EH_MUST_CHECK int api_publisher_publish(api_publisher_t *pub, const char *job_id, const char *object_key,
                                        const char *request_id);
/*
 * Publishes a job event (cancelled, deleted) on eh.progress with a confirm,
 * for the WebSocket relays of every eh-api process. EH_OK or EH_AGAIN,
 * logged here, so callers may ignore it: a relay re-reads its silent jobs
 * from PostgreSQL and makes the event up.
 */
int api_publisher_event(api_publisher_t *pub, const eh_job_t *job, eh_event_kind_t kind);

/* ---- util.c: pure helpers (unit-tested) ---- */

/*
 * Copies the UTF-8-valid part of src[0..len) into out (outlen > 0, always
 * NUL-terminated): invalid sequences and control characters are dropped.
 * Returns the length written.
 */
size_t api_util_clean_utf8(const char *src, size_t len, char *out, size_t outlen);

#define API_FILE_NAME_MAX 255
/*
 * The stored file name: the part after the last '/' or '\', cleaned as
 * above, at most API_FILE_NAME_MAX bytes (a longer name keeps its start and
 * its extension). Returns the length; 0 when nothing is left.
 */
size_t api_util_file_name(const char *raw, char out[API_FILE_NAME_MAX + 1]);
/* True when name ends in .jsonl or .ndjson, case-insensitively. */
bool api_util_has_jsonl_ext(const char *name);
/* Parses a whole decimal number in [min, max]; EH_OK or EH_DECLINED. */
EH_MUST_CHECK int api_util_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* The format sniff of an upload: first non-blank line a JSON object, no NUL in the first 64 KiB. */
#define API_SNIFF_NUL_WINDOW 65536
typedef struct api_sniff {
    uint64_t seen; /* bytes fed so far */
    int state;     /* private */
    int verdict;   /* 0: not decided yet; 1: accepted; -1: refused (reason says why) */
    const char *reason;
    eh_buf_t line; /* the first non-blank line so far */
    size_t max;
    unsigned bom; /* bytes of a leading UTF-8 BOM matched */
} api_sniff_t;

void api_sniff_init(api_sniff_t *s, size_t max_line);
/* Feeds bytes; returns the verdict so far (-1 as soon as the input is refused). */
int api_sniff_feed(api_sniff_t *s, const char *data, size_t len);
/* The end of the file: returns the final verdict, 1 or -1. */
int api_sniff_finish(api_sniff_t *s);
void api_sniff_free(api_sniff_t *s);

#endif
