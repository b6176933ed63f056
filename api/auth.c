/*
 * auth.c - who is calling: the one place that turns a request (REST or a
 * WebSocket upgrade) into a caller (tenant, key, scope) or a refusal.
 * Every handler reads rq->caller and passes its tenant to the job queries;
 * none identifies anyone itself.
 *
 * Order of checks (CONTRACT.md): 401 (no, malformed, unknown or revoked
 * key), then 403 (scope; a tenant key on an admin route; a browser Origin
 * not allowed on the WebSocket), then 429 (the key's token bucket), then the
 * request itself. With EH_AUTH=off every key route is the default tenant
 * with write scope; admin routes still need EH_ADMIN_TOKEN.
 *
 * Nothing here logs a key, a hash, an Authorization header or a query
 * string: the request log line carries the path only (libmicrohttpd hands
 * the URL without its query).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "keyring.h"
#include "log.h"
#include "tenant.h"

#define BEARER "Bearer"

int api_auth_bearer(const char *header, const char **token, size_t *len)
{
    if (header == NULL || strncasecmp(header, BEARER, strlen(BEARER)) != 0)
        return EH_DECLINED;
    const char *p = header + strlen(BEARER);
    if (*p != ' ')
        return EH_DECLINED;
    while (*p == ' ')
        p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == ' ')
        n--;
    if (n == 0)
        return EH_DECLINED;
    *token = p;
    *len = n;
    return EH_OK;
}

bool api_auth_origin_allowed(const char *allowed, const char *origin)
{
    if (origin == NULL)
        return true; /* not a browser: a page's script cannot omit Origin */
    size_t olen = strlen(origin);
    for (const char *s = allowed; *s != '\0';) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *end = strchr(s, ',');
        size_t n = end != NULL ? (size_t)(end - s) : strlen(s);
        size_t trimmed = n;
        while (trimmed > 0 && s[trimmed - 1] == ' ')
            trimmed--;
        if (trimmed > 0 && trimmed == olen && strncasecmp(s, origin, olen) == 0)
            return true;
        s += n;
    }
    return false;
}

static void set_default_caller(api_caller_t *caller)
{
    memset(caller, 0, sizeof(*caller));
    snprintf(caller->tenant_id, sizeof(caller->tenant_id), "%s", EH_DEFAULT_TENANT_ID);
    caller->scope = API_SCOPE_WRITE;
}

static void refusal(api_auth_refusal_t *r, int status, const char *code, const char *message)
{
    r->status = status;
    r->code = code;
    r->message = message;
}

/* A tenant key, checked for scope and rate: EH_OK with caller set, else the refusal. */
static int key_caller(const eh_config_t *cfg, api_keyring_t *keys, const api_auth_input_t *in, const char *token,
                      size_t len, api_caller_t *caller, api_auth_refusal_t *r)
{
    api_key_info_t info;
    int rc = api_keyring_verify(keys, token, len, &info);
    if (rc == EH_AGAIN) {
        refusal(r, 503, "database_unavailable", "the database is not reachable; try again later");
        return EH_AGAIN;
    }
    if (rc != EH_OK) {
        refusal(r, 401, "unauthorized", "the API key is not valid");
        return EH_DECLINED;
    }
    if (in->websocket && !api_auth_origin_allowed(cfg->allowed_origins, in->origin)) {
        refusal(r, 403, "forbidden", "this Origin may not open a WebSocket (EH_ALLOWED_ORIGINS)");
        return EH_DECLINED;
    }
    if (in->scope == API_SCOPE_WRITE && !info.write) {
        refusal(r, 403, "forbidden", "this key has the read scope; this endpoint needs a write key");
        return EH_DECLINED;
    }
    if (!api_keyring_take(keys, &info, &r->retry_after_s)) {
        refusal(r, 429, "rate_limited", "too many requests for this key; retry after the given delay");
        return EH_DECLINED;
    }
    memset(caller, 0, sizeof(*caller));
    memcpy(caller->tenant_id, info.tenant_id, sizeof(caller->tenant_id));
    memcpy(caller->key_id, info.key_id, sizeof(caller->key_id));
    caller->scope = info.write ? API_SCOPE_WRITE : API_SCOPE_READ;
    return EH_OK;
}

/* An admin route: the admin token, or 403 for a valid tenant key, or 401. */
static int admin_caller(const eh_config_t *cfg, api_keyring_t *keys, const char *token, size_t len,
                        api_caller_t *caller, api_auth_refusal_t *r)
{
    if (cfg->admin_token[0] != '\0' && eh_apikey_secret_equal(token, len, cfg->admin_token)) {
        set_default_caller(caller);
        caller->tenant_id[0] = '\0'; /* the admin acts on tenants, not as one */
        caller->admin = true;
        return EH_OK;
    }
    api_key_info_t info;
    if (cfg->auth != 0 && api_keyring_verify(keys, token, len, &info) == EH_OK) {
        refusal(r, 403, "forbidden", "the admin endpoints take EH_ADMIN_TOKEN, not an API key");
        return EH_DECLINED;
    }
    refusal(r, 401, "unauthorized", "the admin token is missing or wrong");
    return EH_DECLINED;
}

int api_auth_decide(const eh_config_t *cfg, api_keyring_t *keys, const api_auth_input_t *in, api_caller_t *caller,
                    api_auth_refusal_t *r)
{
    memset(r, 0, sizeof(*r));
    set_default_caller(caller);
    if (in->auth == API_AUTH_NONE)
        return EH_OK;
    if (in->auth == API_AUTH_KEY && cfg->auth == 0) {
        if (in->websocket && !api_auth_origin_allowed(cfg->allowed_origins, in->origin)) {
            refusal(r, 403, "forbidden", "this Origin may not open a WebSocket (EH_ALLOWED_ORIGINS)");
            return EH_DECLINED;
        }
        return EH_OK;
    }
    if (in->token_in_query && !in->websocket) {
        refusal(r, 401, "unauthorized",
                "access_token is accepted on the WebSocket upgrade only; send Authorization: Bearer <key>");
        return EH_DECLINED;
    }
    const char *token = NULL;
    size_t len = 0;
    if (in->authorization != NULL) {
        if (api_auth_bearer(in->authorization, &token, &len) != EH_OK) {
            refusal(r, 401, "unauthorized", "the Authorization header must be: Bearer <key>");
            return EH_DECLINED;
        }
    } else if (in->websocket && in->query_token != NULL && in->query_token[0] != '\0') {
        token = in->query_token;
        len = strlen(token);
    } else {
        refusal(r, 401, "unauthorized", "an API key is required: Authorization: Bearer <key>");
        return EH_DECLINED;
    }
    if (in->auth == API_AUTH_ADMIN)
        return admin_caller(cfg, keys, token, len, caller, r);
    return key_caller(cfg, keys, in, token, len, caller, r);
}

int api_auth_request(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, enum MHD_Result *res)
{
    *res = MHD_YES;
    api_auth_input_t in = {
        .auth = rq->route->auth,
        /* A dry run stores nothing: any scope may ask for one (CONTRACT.md, "Dry run"). */
        .scope = rq->route->body == API_BODY_STREAM ? api_upload_scope(c) : rq->route->scope,
        .authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .token_in_query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "access_token") != NULL,
    };
    api_auth_refusal_t r;
    if (api_auth_decide(ctx->cfg, ctx->keys, &in, &rq->caller, &r) == EH_OK)
        return EH_OK;
    json_t *body = api_http_error_body(r.code, r.message);
    if (r.status == 401) {
        *res = api_http_send_json_header(c, rq, r.status, body, "WWW-Authenticate", BEARER);
    } else if (r.status == 429) {
        char after[24];
        snprintf(after, sizeof(after), "%lld", (long long)r.retry_after_s);
        *res = api_http_send_json_header(c, rq, r.status, body, "Retry-After", after);
    } else {
        *res = api_http_send_json(c, rq, r.status, body); /* a 503 gets its Retry-After there */
    }
    return EH_DECLINED;
}

void api_auth_log_mode(const eh_config_t *cfg)
{
    if (cfg->auth == 0)
        eh_log_warn("EH_AUTH=off: no API keys are checked; every caller is the default tenant with write scope. "
                    "Never expose this service like this");
    if (cfg->admin_token[0] == '\0')
        eh_log_info("EH_ADMIN_TOKEN is not set: the admin endpoints answer 401 (use eh-admin)");
}
