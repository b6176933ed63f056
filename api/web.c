/*
 * The web page: GET / (index.html) and GET /web/<file>, served from the
 * table compiled into the binary (web_assets.h). Every answer carries the
 * Content-Security-Policy: scripts and styles only from this origin, no
 * inline script, connections (fetch, WebSocket) only to this origin, no
 * framing. Files are revalidated on each use (no-cache + ETag, 304 when
 * unchanged): their names carry no version, and a new eh-api must not keep
 * serving a browser yesterday's script.
 */
#include <string.h>

#include "api.h"
#include "web_assets.h"

#define CSP                                                                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "              \
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

static const api_web_asset_t *find(const char *name, size_t len)
{
    for (size_t i = 0; i < api_web_assets_count; i++)
        if (strlen(api_web_assets[i].name) == len && memcmp(api_web_assets[i].name, name, len) == 0)
            return &api_web_assets[i];
    return NULL;
}

static bool etag_matches(struct MHD_Connection *c, const char *etag)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    return inm != NULL && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0);
}

enum MHD_Result api_web_serve(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    EH_UNUSED(ctx);
    const api_web_asset_t *a = rq->id != NULL ? find(rq->id, rq->id_len) : find("index.html", strlen("index.html"));
    if (a == NULL)
        return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such file");
    bool unchanged = etag_matches(c, a->etag);
    int status = unchanged ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(unchanged ? 0 : a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_YES;
    const char *headers[][2] = {
        {"Content-Type", a->content_type}, {"Cache-Control", "no-cache"},         {"ETag", a->etag},
        {"Content-Security-Policy", CSP},  {"X-Content-Type-Options", "nosniff"}, {"Referrer-Policy", "no-referrer"},
        {"Server", "event-horizon"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(headers) && ok == MHD_YES; i++)
        if (!(unchanged && i == 0)) /* a 304 has no body to describe */
            ok = MHD_add_response_header(resp, headers[i][0], headers[i][1]);
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) {
        rq->status = status;
        rq->bytes = unchanged ? 0 : a->len;
    }
    return ok;
}
