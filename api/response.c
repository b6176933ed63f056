/*
 * response.c - the one way eh-api writes an answer: JSON bodies through
 * libmicrohttpd, and the same error answers, byte for byte in their
 * headers, for the paths that write to a socket themselves (an upload
 * refused before its body ended, a refused WebSocket request).
 *
 * What every error answer carries: Server, Content-Type application/json,
 * the body {"error":{"code":...,"message":...}}, and on 503 a Retry-After.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

const char *api_http_status_header(int status, const char **value)
{
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        *value = API_RETRY_AFTER;
        return "Retry-After";
    }
    *value = NULL;
    return NULL;
}

json_t *api_http_error_body(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

static enum MHD_Result queue(struct MHD_Connection *c, api_request_t *rq, int status, char *text, size_t len,
                             const char *content_type, const char *hname, const char *hvalue)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_YES;
    if (MHD_add_response_header(resp, "Content-Type", content_type != NULL ? content_type : "application/json") !=
            MHD_YES ||
        MHD_add_response_header(resp, "Server", "event-horizon") != MHD_YES)
        ok = MHD_NO;
    const char *svalue = NULL;
    const char *sname = api_http_status_header(status, &svalue);
    if (ok == MHD_YES && sname != NULL && MHD_add_response_header(resp, sname, svalue) != MHD_YES)
        ok = MHD_NO;
    if (ok == MHD_YES && hname != NULL && MHD_add_response_header(resp, hname, hvalue) != MHD_YES)
        ok = MHD_NO;
    /* The request's id (client.h), so that a client can quote it and find the log lines. */
    if (ok == MHD_YES && rq->request_id[0] != '\0' &&
        MHD_add_response_header(resp, "X-Request-Id", rq->request_id) != MHD_YES)
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

enum MHD_Result api_http_send_json_as(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body,
                                      const char *content_type, const char *hname, const char *hvalue)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return MHD_NO;
    return queue(c, rq, status, text, strlen(text), content_type, hname, hvalue);
}

enum MHD_Result api_http_send_json_header(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body,
                                          const char *hname, const char *hvalue)
{
    return api_http_send_json_as(c, rq, status, body, NULL, hname, hvalue);
}

enum MHD_Result api_http_send_json(struct MHD_Connection *c, api_request_t *rq, int status, json_t *body)
{
    return api_http_send_json_header(c, rq, status, body, NULL, NULL);
}

enum MHD_Result api_http_send_empty(struct MHD_Connection *c, api_request_t *rq, int status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(resp, "Server", "event-horizon");
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES)
        rq->status = status;
    return ok;
}

enum MHD_Result api_http_send_error(struct MHD_Connection *c, api_request_t *rq, int status, const char *code,
                                    const char *message)
{
    return api_http_send_json(c, rq, status, api_http_error_body(code, message));
}

char *api_http_error_raw(int status, const char *code, const char *message, const char *hname, const char *hvalue,
                         size_t *len)
{
    json_t *body = api_http_error_body(code, message);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return NULL;
    const char *reason = MHD_get_reason_phrase_for((unsigned)status);
    const char *svalue = NULL;
    const char *sname = api_http_status_header(status, &svalue);
    char *out = NULL;
    int n = asprintf(&out,
                     "HTTP/1.1 %d %s\r\nServer: event-horizon\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s%s%s%s%s%s%sConnection: close\r\n\r\n%s",
                     status, reason != NULL && reason[0] != '\0' ? reason : "Error", strlen(text),
                     sname != NULL ? sname : "", sname != NULL ? ": " : "", sname != NULL ? svalue : "",
                     sname != NULL ? "\r\n" : "", hname != NULL ? hname : "", hname != NULL ? ": " : "",
                     hname != NULL ? hvalue : "", hname != NULL ? "\r\n" : "", text);
    free(text);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return out;
}
