/* GET /healthz (the process serves) and GET /readyz (its three dependencies answer). */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "log.h"

static const char SQL_PING[] = "SELECT 1";

enum MHD_Result api_health_live(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    EH_UNUSED(ctx);
    return api_http_send_json(c, rq, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

static bool postgres_ok(api_ctx_t *ctx)
{
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(ctx->db, API_DB_WAIT_MS, &status);
    if (db == NULL)
        return false;
    bool ok = eh_db_exec(db, SQL_PING, 0, NULL) == EH_OK;
    eh_db_pool_release(ctx->db, db);
    return ok;
}

/* A probe only: a bucket gone missing is a broken deployment to report, not to repair from here. */
static bool s3_ok(api_ctx_t *ctx)
{
    eh_s3_error_t err;
    return eh_s3_bucket_exists(ctx->s3_probe, &err) == EH_OK;
}

typedef struct check {
    const char *name;
    bool ok;
} check_t;

/* The three dependencies /readyz and eh_ready report on. */
static void run_checks(api_ctx_t *ctx, check_t checks[3])
{
    checks[0] = (check_t){"postgres", postgres_ok(ctx)};
    checks[1] = (check_t){"rabbitmq", api_publisher_check(ctx->pub) == EH_OK};
    checks[2] = (check_t){"s3", s3_ok(ctx)};
}

int api_health_collect(eh_buf_t *out, void *ud)
{
    check_t checks[3];
    run_checks(ud, checks);
    bool all = true;
    if (eh_buf_append_str(out, "# HELP eh_ready_dependency Whether a dependency answers eh-api's readiness check "
                               "(the checks of /readyz, run at scrape time).\n"
                               "# TYPE eh_ready_dependency gauge\n") != EH_OK)
        return EH_ERR;
    for (size_t i = 0; i < EH_ARRAY_LEN(checks); i++) {
        char line[96];
        snprintf(line, sizeof(line), "eh_ready_dependency{dependency=\"%s\"} %d\n", checks[i].name, checks[i].ok);
        if (eh_buf_append_str(out, line) != EH_OK)
            return EH_ERR;
        all = all && checks[i].ok;
    }
    return eh_metrics_write_sample(out, "eh_ready", "gauge", "1 when /readyz would answer 200.", all ? 1 : 0);
}

enum MHD_Result api_health_ready(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq)
{
    check_t checks[3];
    run_checks(ctx, checks);
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
