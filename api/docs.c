/*
 * The API's description and its browser: GET /api/v1/openapi.json (the
 * OpenAPI 3.1 document api/openapi.json, embedded in the binary at build
 * time, so that no file has to travel with eh-api) and GET /docs (Swagger
 * UI, its assets read from EH_SWAGGER_UI_DIR: the npm package
 * swagger-ui-dist, copied into the image; nothing comes from a CDN).
 *
 * Only a fixed list of assets is served, by name: the {id} of the route is
 * compared with the list, never joined to a path as it came.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "log.h"

/* The document's bytes, between two symbols: the assembler includes the file as it is in the repository. */
__asm__(".section .rodata\n"
        ".balign 16\n"
        ".global api_openapi_json_start\n"
        "api_openapi_json_start:\n"
        ".incbin \"api/openapi.json\"\n"
        ".global api_openapi_json_end\n"
        "api_openapi_json_end:\n"
        ".byte 0\n"
        ".previous\n");
extern const char api_openapi_json_start[];
extern const char api_openapi_json_end[];

/* The page loads everything from /docs/ (same origin); the start-up script is a file too (no inline script). */
static const char PAGE[] = "<!DOCTYPE html>\n"
                           "<html lang=\"en\">\n"
                           "<head>\n"
                           "<meta charset=\"utf-8\">\n"
                           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                           "<title>Event Horizon API</title>\n"
                           "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n"
                           "<link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\" sizes=\"32x32\">\n"
                           "</head>\n"
                           "<body>\n"
                           "<div id=\"swagger-ui\"></div>\n"
                           "<script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
                           "<script src=\"/docs/swagger-ui-standalone-preset.js\"></script>\n"
                           "<script src=\"/docs/init.js\"></script>\n"
                           "</body>\n"
                           "</html>\n";

static const char INIT_JS[] = "window.onload = function () {\n"
                              "  window.ui = SwaggerUIBundle({\n"
                              "    url: '/api/v1/openapi.json',\n"
                              "    dom_id: '#swagger-ui',\n"
                              "    deepLinking: true,\n"
                              "    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],\n"
                              "    plugins: [SwaggerUIBundle.plugins.DownloadUrl],\n"
                              "    layout: 'StandaloneLayout'\n"
                              "  });\n"
                              "};\n";

#define CSP                                                                                                            \
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "                  \
    "connect-src 'self'; frame-ancestors 'none'"
/* The assets' names carry no version: a day of caching, then a revalidation. */
#define ASSET_CACHE "public, max-age=86400"

typedef struct asset {
    const char *name;
    const char *type;
} asset_t;

static const asset_t ASSETS[] = {
    {"swagger-ui.css", "text/css; charset=utf-8"},
    {"swagger-ui-bundle.js", "application/javascript; charset=utf-8"},
    {"swagger-ui-standalone-preset.js", "application/javascript; charset=utf-8"},
    {"favicon-32x32.png", "image/png"},
    {"favicon-16x16.png", "image/png"},
};

static enum MHD_Result send_response(struct MHD_Connection *c, api_request_t *rq, struct MHD_Response *resp, size_t len,
                                     const char *type, const char *cache)
{
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_YES;
    if (MHD_add_response_header(resp, "Content-Type", type) != MHD_YES ||
        MHD_add_response_header(resp, "Cache-Control", cache) != MHD_YES ||
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
        MHD_add_response_header(resp, "Server", "event-horizon") != MHD_YES)
        ok = MHD_NO;
    if (ok == MHD_YES && strncmp(type, "text/html", 9) == 0 &&
        MHD_add_response_header(resp, "Content-Security-Policy", CSP) != MHD_YES)
        ok = MHD_NO;
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) {
        rq->status = MHD_HTTP_OK;
        rq->bytes = len;
    }
    return ok;
}

static enum MHD_Result send_static(struct MHD_Connection *c, api_request_t *rq, const char *p, size_t len,
                                   const char *type, const char *cache)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)p, MHD_RESPMEM_PERSISTENT);
    return send_response(c, rq, resp, len, type, cache);
}

enum MHD_Result api_docs_openapi(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    EH_UNUSED(ctx);
    /* no-cache: a client revalidates, so a new release's document is seen at once. */
    return send_static(c, rq, api_openapi_json_start, (size_t)(api_openapi_json_end - api_openapi_json_start),
                       "application/json", "no-cache");
}

enum MHD_Result api_docs_page(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    EH_UNUSED(ctx);
    return send_static(c, rq, PAGE, sizeof(PAGE) - 1, "text/html; charset=utf-8", "no-cache");
}

static bool is_name(const api_request_t *rq, const char *name)
{
    return strlen(name) == rq->id_len && memcmp(rq->id, name, rq->id_len) == 0;
}

enum MHD_Result api_docs_asset(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    if (is_name(rq, "init.js"))
        return send_static(c, rq, INIT_JS, sizeof(INIT_JS) - 1, "application/javascript; charset=utf-8", "no-cache");
    const asset_t *a = NULL;
    for (size_t i = 0; i < EH_ARRAY_LEN(ASSETS) && a == NULL; i++)
        if (is_name(rq, ASSETS[i].name))
            a = &ASSETS[i];
    if (a == NULL)
        return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such documentation asset");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", ctx->cfg->swagger_ui_dir, a->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "path", path, "errno", err),
                  "Swagger UI asset missing (EH_SWAGGER_UI_DIR)");
        return api_http_send_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "documentation asset not installed");
    }
    /* MHD owns fd from here, on success and failure alike. */
    struct MHD_Response *resp = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (resp == NULL)
        close(fd);
    return send_response(c, rq, resp, (size_t)st.st_size, a->type, ASSET_CACHE);
}
