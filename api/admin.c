/*
 * admin.c - the admin endpoints (CONTRACT.md "Identity, tenants and keys"):
 * tenants and their keys, behind EH_ADMIN_TOKEN (api_auth_request checks
 * it: these handlers run for the admin only). The work itself is
 * common/identity.c, shared with eh-admin.
 */
#include <string.h>

#include "api.h"
#include "identity.h"
#include "log.h"
#include "uuid.h"

typedef int (*db_work_fn)(eh_db_t *db, void *arg, json_t **out);

static enum MHD_Result db_unavailable(struct MHD_Connection *c, api_request_t *rq)
{
    return api_http_send_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "database_unavailable",
                               "the database is not reachable; try again later");
}

/* Runs work on a pooled connection: EH_OK with *out, or the work's (or the pool's) failure. */
static int with_db(api_ctx_t *ctx, db_work_fn work, void *arg, json_t **out)
{
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return EH_AGAIN;
    int rc = work(db, arg, out);
    eh_db_pool_release(ctx->db, db);
    return rc;
}

static enum MHD_Result answer_failure(struct MHD_Connection *c, api_request_t *rq, int rc)
{
    if (rc == EH_AGAIN)
        return db_unavailable(c, rq);
    return api_http_send_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "the request could not be done");
}

/* The body's JSON object, or NULL after queueing a 400. */
static json_t *body_object(struct MHD_Connection *c, api_request_t *rq, enum MHD_Result *answer)
{
    json_error_t jerr;
    json_t *o = rq->body.len > 0 ? json_loadb(rq->body.p, rq->body.len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        *answer = api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, "invalid_body", "the body must be a JSON object");
        return NULL;
    }
    return o;
}

static int tenant_create(eh_db_t *db, void *arg, json_t **out)
{
    return eh_identity_tenant_create(db, arg, out);
}

enum MHD_Result api_admin_tenant_create(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    enum MHD_Result answer;
    json_t *body = body_object(c, rq, &answer);
    if (body == NULL)
        return answer;
    const char *name = json_string_value(json_object_get(body, "name"));
    if (name == NULL || !eh_identity_name_valid(name)) {
        json_decref(body);
        return api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, "invalid_name",
                                   "name must be 1 to 100 characters of A-Z, a-z, 0-9, '.', '_', '-'");
    }
    json_t *out = NULL;
    int rc = with_db(ctx, tenant_create, (void *)name, &out);
    json_decref(body);
    if (rc == EH_DECLINED)
        return api_http_send_error(c, rq, MHD_HTTP_CONFLICT, "conflict", "a tenant with this name exists");
    if (rc != EH_OK)
        return answer_failure(c, rq, rc);
    eh_log_kv(EH_LOG_INFO, json_pack("{s:O}", "tenant_id", json_object_get(out, "tenant_id")), "tenant created");
    return api_http_send_json(c, rq, MHD_HTTP_CREATED, out);
}

static int tenant_list(eh_db_t *db, void *arg, json_t **out)
{
    EH_UNUSED(arg);
    return eh_identity_tenant_list(db, out);
}

enum MHD_Result api_admin_tenant_list(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    json_t *out = NULL;
    int rc = with_db(ctx, tenant_list, NULL, &out);
    if (rc != EH_OK)
        return answer_failure(c, rq, rc);
    return api_http_send_json(c, rq, MHD_HTTP_OK, out);
}

/* The {id} of the path, lowercased, when it is a UUID; else false after queueing a 404. */
static bool path_uuid(struct MHD_Connection *c, api_request_t *rq, char out[EH_UUID_STRLEN + 1], const char *code,
                      const char *message, enum MHD_Result *answer)
{
    if (!eh_uuid_valid(rq->id, rq->id_len)) {
        *answer = api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, code, message);
        return false;
    }
    for (size_t i = 0; i < EH_UUID_STRLEN; i++)
        out[i] = (char)(rq->id[i] >= 'A' && rq->id[i] <= 'F' ? rq->id[i] + ('a' - 'A') : rq->id[i]);
    out[EH_UUID_STRLEN] = '\0';
    return true;
}

typedef struct key_args {
    const char *tenant_id;
    const char *scope;
} key_args_t;

static int key_create(eh_db_t *db, void *arg, json_t **out)
{
    key_args_t *a = arg;
    return eh_identity_key_create(db, a->tenant_id, a->scope, out);
}

enum MHD_Result api_admin_key_create(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    char tenant_id[EH_UUID_STRLEN + 1];
    enum MHD_Result answer;
    if (!path_uuid(c, rq, tenant_id, "tenant_not_found", "no tenant with this id", &answer))
        return answer;
    json_t *body = body_object(c, rq, &answer);
    if (body == NULL)
        return answer;
    const char *scope = json_string_value(json_object_get(body, "scope"));
    if (scope == NULL || (strcmp(scope, "read") != 0 && strcmp(scope, "write") != 0)) {
        json_decref(body);
        return api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, "invalid_scope", "scope must be \"read\" or \"write\"");
    }
    key_args_t args = {.tenant_id = tenant_id, .scope = scope};
    json_t *out = NULL;
    int rc = with_db(ctx, key_create, &args, &out);
    json_decref(body);
    if (rc == EH_DECLINED)
        return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "tenant_not_found", "no tenant with this id");
    if (rc != EH_OK)
        return answer_failure(c, rq, rc);
    eh_log_kv(EH_LOG_INFO, json_pack("{s:O, s:s}", "key_id", json_object_get(out, "key_id"), "tenant_id", tenant_id),
              "API key created");
    return api_http_send_json(c, rq, MHD_HTTP_CREATED, out);
}

static int key_revoke(eh_db_t *db, void *arg, json_t **out)
{
    *out = NULL;
    return eh_identity_key_revoke(db, arg);
}

enum MHD_Result api_admin_key_revoke(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    char key_id[EH_UUID_STRLEN + 1];
    enum MHD_Result answer;
    if (!path_uuid(c, rq, key_id, "key_not_found", "no key with this id", &answer))
        return answer;
    json_t *out = NULL;
    int rc = with_db(ctx, key_revoke, key_id, &out);
    if (rc == EH_DECLINED)
        return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "key_not_found", "no key with this id");
    if (rc != EH_OK)
        return answer_failure(c, rq, rc);
    eh_log_kv(EH_LOG_INFO, json_pack("{s:s}", "key_id", key_id), "API key revoked");
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(resp, "Server", "event-horizon");
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES)
        rq->status = MHD_HTTP_NO_CONTENT;
    return ok;
}
