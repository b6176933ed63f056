/* GET /healthz (the process serves) and GET /readyz (its three dependencies answer, as last checked). */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "readiness.h"

enum MHD_Result api_health_live(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    EH_UNUSED(ctx);
    return api_http_send_json(c, rq, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

int api_health_collect(eh_buf_t *out, void *ud)
{
    api_ctx_t *ctx = ud;
    api_check_result_t checks[API_CHECK_COUNT];
    bool all = api_readiness_read(ctx->ready, checks);
    if (eh_buf_append_str(out, "# HELP eh_ready_dependency Whether a dependency answers eh-api's readiness check "
                               "(the verdicts /readyz answers with).\n"
                               "# TYPE eh_ready_dependency gauge\n") != EH_OK)
        return EH_ERR;
    for (size_t i = 0; i < EH_ARRAY_LEN(checks); i++) {
        char line[96];
        snprintf(line, sizeof(line), "eh_ready_dependency{dependency=\"%s\"} %d\n", checks[i].name, checks[i].ok);
        if (eh_buf_append_str(out, line) != EH_OK)
            return EH_ERR;
    }
    return eh_metrics_write_sample(out, "eh_ready", "gauge", "1 when /readyz answers 200.", all ? 1 : 0);
}

enum MHD_Result api_health_ready(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    /* Verdicts kept fresh in the background (readiness.c): this never waits on a dependency. */
    api_check_result_t checks[API_CHECK_COUNT];
    (void)api_readiness_read(ctx->ready, checks);
    json_t *status = json_object();
    char failing[64] = "";
    for (size_t i = 0; i < EH_ARRAY_LEN(checks); i++) {
        json_object_set_new(status, checks[i].name, json_string(checks[i].ok ? "ok" : "unavailable"));
        if (!checks[i].ok) {
            if (failing[0] != '\0')
                strcat(failing, ", ");
            strcat(failing, checks[i].name);
        }
    }
    if (failing[0] == '\0')
        return api_http_send_json(c, rq, MHD_HTTP_OK, json_pack("{s:s, s:o}", "status", "ready", "checks", status));
    char msg[128];
    snprintf(msg, sizeof(msg), "not ready: %s unavailable", failing);
    eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "failing", failing), "readiness check failed");
    json_t *body = api_http_error_body("not_ready", msg);
    if (body != NULL)
        json_object_set_new(body, "checks", status);
    else
        json_decref(status);
    return api_http_send_json(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}
