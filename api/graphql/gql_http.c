/*
 * /graphql over HTTP (GraphQL over HTTP specification): POST with an
 * application/json body {"query", "variables", "operationName",
 * "extensions"}, GET with the same as query parameters (queries only: a
 * mutation by GET is 405). The answer is application/graphql-response+json
 * when the client accepts it, else application/json; the status follows
 * the specification for each: with application/json every well-formed
 * request gets 200 (errors in the body); with graphql-response+json a
 * document that does not parse or validate, or variables that do not
 * coerce, gets 400. A request that is not a GraphQL request at all
 * (JSON that is not an object, no query) is 400 under both, with a
 * GraphQL `errors` body; 405, 406 and 415 carry the API's error object.
 *
 * Authentication and tenant scope are the route table's (api_auth_request);
 * every resolver reads rq->caller.tenant_id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../api.h"
#include "gql.h"
#include "gql_app.h"
#include "gql_sdl.h"
#include "log.h"
#include "timefmt.h"

struct api_graphql {
    api_gql_schema_t *schema;
};

api_graphql_t *api_graphql_create(void)
{
    api_graphql_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    api_gql_error_t err;
    int rc = api_gql_schema_load(api_gql_sdl_text, api_gql_sdl_len(), &g->schema, &err);
    if (rc != EH_OK) {
        if (err.has_loc)
            eh_log_error("graphql: schema.graphql line %u column %u: %s", err.loc.line, err.loc.column, err.message);
        else
            eh_log_error("graphql: schema.graphql: %s", rc == EH_ERR ? "out of memory" : err.message);
        free(g);
        return NULL;
    }
    if (api_gql_bind(g->schema, api_gql_resolvers, api_gql_n_resolvers, &err) != EH_OK) {
        eh_log_error("graphql: the resolvers do not match schema.graphql: %s", err.message);
        api_graphql_destroy(g);
        return NULL;
    }
    return g;
}

void api_graphql_destroy(api_graphql_t *g)
{
    if (g == NULL)
        return;
    api_gql_schema_free(g->schema);
    free(g);
}

#define MEDIA_GQL "application/graphql-response+json; charset=utf-8"
#define MEDIA_JSON "application/json; charset=utf-8"

/* True when the media range list accepts type/sub (exactly, type/ * or * / *), with q > 0. */
static bool accepts(const char *accept, const char *type, bool wildcards)
{
    const char *p = accept;
    size_t tlen = strlen(type);
    const char *slash = strchr(type, '/');
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p + strcspn(p, ",");
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *rend = semi != NULL ? semi : end;
        while (rend > p && rend[-1] == ' ')
            rend--;
        size_t len = (size_t)(rend - p);
        bool q0 = false;
        for (const char *q = semi; q != NULL && q < end; q = memchr(q + 1, ';', (size_t)(end - q - 1))) {
            const char *v = q + 1;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "q=0", 3) == 0 && strspn(v + 3, ".0") == strcspn(v + 3, ",; "))
                q0 = true;
        }
        bool match = (len == tlen && strncasecmp(p, type, len) == 0) ||
                     (wildcards && len == 3 && strncmp(p, "*/*", 3) == 0) ||
                     (wildcards && slash != NULL && len == (size_t)(slash - type) + 2 &&
                      strncasecmp(p, type, (size_t)(slash - type) + 1) == 0 && p[len - 1] == '*');
        if (match && !q0)
            return true;
        p = end;
    }
    return false;
}

typedef struct {
    api_ctx_t *ctx;
    struct MHD_Connection *c;
    api_request_t *rq;
    const char *media; /* the answer's Content-Type */
    bool legacy;       /* application/json: 200 for every well-formed request */
} answer_t;

static enum MHD_Result reply(answer_t *a, int status, json_t *body, const char *hname, const char *hvalue)
{
    if (body == NULL)
        return MHD_NO;
    return api_http_send_json_as(a->c, a->rq, status, body, a->media, hname, hvalue);
}

/* A request that is not a well-formed GraphQL-over-HTTP request: 400 under either media type. */
static enum MHD_Result bad_request(answer_t *a, const char *message)
{
    return reply(a, MHD_HTTP_BAD_REQUEST, json_pack("{s:[{s:s}]}", "errors", "message", message), NULL, NULL);
}

/* A document refused before execution: 200 with application/json, 400 with graphql-response+json. */
static enum MHD_Result refused(answer_t *a, json_t *body)
{
    return reply(a, a->legacy ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST, body, NULL, NULL);
}

static enum MHD_Result syntax_error(answer_t *a, const api_gql_error_t *err)
{
    json_t *e = api_gql_error_json(err->message, err->has_loc ? &err->loc : NULL);
    return refused(a, e != NULL ? json_pack("{s:[o]}", "errors", e) : NULL);
}

typedef struct {
    const char *query;
    size_t query_len;
    json_t *variables; /* borrowed or owned (owned_vars) */
    const char *operation_name;
} gql_params_t;

/* The request's parameters from a POST body (json_t root kept by the caller). NULL on success, else the message. */
static const char *params_from_body(json_t *root, gql_params_t *p)
{
    if (!json_is_object(root))
        return "the request body must be a JSON object";
    json_t *q = json_object_get(root, "query");
    if (!json_is_string(q))
        return "\"query\" must be a string holding a GraphQL document";
    p->query = json_string_value(q);
    p->query_len = json_string_length(q);
    json_t *v = json_object_get(root, "variables");
    if (v != NULL && !json_is_null(v) && !json_is_object(v))
        return "\"variables\" must be an object or null";
    p->variables = json_is_object(v) ? v : NULL;
    json_t *o = json_object_get(root, "operationName");
    if (o != NULL && !json_is_null(o) && !json_is_string(o))
        return "\"operationName\" must be a string or null";
    p->operation_name = json_string_value(o);
    if (p->operation_name != NULL && p->operation_name[0] == '\0')
        p->operation_name = NULL; /* as graphql-js: an empty name selects the only operation */
    json_t *x = json_object_get(root, "extensions");
    if (x != NULL && !json_is_null(x) && !json_is_object(x))
        return "\"extensions\" must be an object or null";
    return NULL;
}

static void log_request(const api_request_t *rq, const gql_params_t *p, const api_gql_app_t *app, int64_t start)
{
    eh_log_fields_t f = EH_LOG_FIELDS_INIT;
    eh_log_field_str(&f, "operation", p->operation_name != NULL ? p->operation_name : "");
    eh_log_field_int(&f, "db_queries", app->queries);
    eh_log_field_int(&f, "status", rq->status);
    eh_log_field_int(&f, "duration_ms", eh_time_mono_ms() - start);
    eh_log_emit_fields(EH_LOG_DEBUG, &f, "graphql");
}

static enum MHD_Result run(answer_t *a, gql_params_t *p, bool is_get)
{
    const api_gql_schema_t *schema = a->ctx->graphql->schema;
    api_gql_document_t *doc = NULL;
    api_gql_error_t err;
    int rc = api_gql_parse(p->query, p->query_len, &doc, &err);
    if (rc == EH_ERR)
        return MHD_NO;
    if (rc != EH_OK)
        return syntax_error(a, &err);
    /* A GET may only read: a mutation by GET is 405 before anything else is said about it. */
    const api_gql_operation_t *op = api_gql_select_operation(doc, p->operation_name, &err);
    if (is_get && op != NULL && op->kind != GQL_OP_QUERY) {
        api_gql_document_free(doc);
        return api_http_send_json_header(
            a->c, a->rq, MHD_HTTP_METHOD_NOT_ALLOWED,
            api_http_error_body("method_not_allowed", "only queries may be sent with GET; use POST"), "Allow", "POST");
    }
    json_t *errors = json_array();
    if (errors == NULL) {
        api_gql_document_free(doc);
        return MHD_NO;
    }
    rc = api_gql_validate(schema, doc, errors);
    if (rc != EH_OK) {
        api_gql_document_free(doc);
        if (rc == EH_ERR) {
            json_decref(errors);
            return MHD_NO;
        }
        return refused(a, json_pack("{s:o}", "errors", errors));
    }
    json_decref(errors);
    api_gql_app_t app = {.ctx = a->ctx, .tenant_id = a->rq->caller.tenant_id};
    api_gql_request_t req = {.operation_name = p->operation_name, .variables = p->variables, .app = &app};
    int64_t start = eh_time_mono_ms();
    bool request_error = false;
    json_t *result = api_gql_execute(schema, api_gql_resolvers, doc, &req, &request_error);
    if (app.db != NULL)
        eh_db_pool_release(a->ctx->db, app.db);
    api_gql_document_free(doc);
    if (result == NULL)
        return MHD_NO;
    enum MHD_Result res = request_error ? refused(a, result) : reply(a, MHD_HTTP_OK, result, NULL, NULL);
    log_request(a->rq, p, &app, start);
    return res;
}

enum MHD_Result api_graphql_handle(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    answer_t a = {.ctx = ctx, .c = c, .rq = rq, .media = MEDIA_JSON, .legacy = true};
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    if (accept != NULL && accepts(accept, "application/graphql-response+json", false)) {
        a.media = MEDIA_GQL;
        a.legacy = false;
    } else if (accept != NULL && !accepts(accept, "application/json", true) &&
               !accepts(accept, "application/graphql-response+json", true)) {
        return api_http_send_error(c, rq, MHD_HTTP_NOT_ACCEPTABLE, "not_acceptable",
                                   "the answer is application/graphql-response+json or application/json");
    } /* a wildcard or no Accept at all: application/json, as the audit SHOULDs ask */
    gql_params_t p = {0};
    bool is_get = strcmp(rq->method, "POST") != 0;
    if (is_get) {
        p.query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "query");
        if (p.query == NULL)
            return bad_request(&a, "the query parameter \"query\" is missing");
        p.query_len = strlen(p.query);
        p.operation_name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "operationName");
        if (p.operation_name != NULL && p.operation_name[0] == '\0')
            p.operation_name = NULL;
        const char *vars = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "variables");
        json_t *v = NULL;
        if (vars != NULL && vars[0] != '\0') {
            v = json_loads(vars, JSON_DECODE_ANY, NULL);
            if (v == NULL || (!json_is_object(v) && !json_is_null(v))) {
                json_decref(v);
                return bad_request(&a, "the query parameter \"variables\" must be a JSON object");
            }
        }
        p.variables = json_is_object(v) ? v : NULL;
        enum MHD_Result res = run(&a, &p, true);
        json_decref(v);
        return res;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t ctlen = ct != NULL ? strcspn(ct, "; ") : 0;
    if (ct == NULL || ctlen != strlen("application/json") || strncasecmp(ct, "application/json", ctlen) != 0)
        return api_http_send_error(c, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                   "the request body must be application/json");
    json_error_t jerr;
    json_t *root = json_loadb(rq->body.p != NULL ? rq->body.p : "", rq->body.len, 0, &jerr);
    if (root == NULL)
        return bad_request(&a, "the request body is not valid JSON");
    const char *problem = params_from_body(root, &p);
    enum MHD_Result res = problem != NULL ? bad_request(&a, problem) : run(&a, &p, false);
    json_decref(root);
    return res;
}
