#include "http_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"

struct api_metrics {
    eh_metrics_t *reg;
    eh_metrics_server_t *server;
    const char **route_names; /* the route table's distinct patterns, then "unmatched" */
    size_t *route_label;      /* route table index (and the table's length: no route) -> route_names index */
    eh_metric_t *requests;    /* route x method x code */
    eh_metric_t *duration;    /* route */
    eh_metric_t *upload_bytes;
    eh_metric_t *uploads;
    eh_metric_t *ws_clients;
    eh_metric_t *in_flight;
};

static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};
/* Every status the API answers with; anything else (and "no answer": a client that left) is "other". */
static const char *const CODES[] = {"200", "201", "202", "204", "304", "400", "401", "403", "404",
                                    "405", "406", "408", "409", "410", "411", "413", "414", "415",
                                    "422", "429", "431", "500", "501", "502", "503", "504", "other"};
/* From a cached status read (~1 ms) to a large upload stored in S3. */
static const double HTTP_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

static int declare(api_metrics_t *m)
{
    size_t nroutes = 0;
    const api_route_t *routes = api_http_routes(&nroutes);
    m->route_names = calloc(nroutes + 1, sizeof(*m->route_names));
    m->route_label = calloc(nroutes + 1, sizeof(*m->route_label));
    if (m->route_names == NULL || m->route_label == NULL)
        return EH_ERR;
    /* One label value per pattern: GET and DELETE /api/v1/jobs/{id} are one route label, two methods. */
    size_t nnames = 0;
    for (size_t i = 0; i < nroutes; i++) {
        size_t k = 0;
        while (k < nnames && strcmp(m->route_names[k], routes[i].pattern) != 0)
            k++;
        if (k == nnames)
            m->route_names[nnames++] = routes[i].pattern;
        m->route_label[i] = k;
    }
    m->route_label[nroutes] = nnames;
    m->route_names[nnames++] = "unmatched";
    eh_metrics_label_t route = {"route", m->route_names, nnames};
    eh_metrics_label_t labels[] = {
        route, {"method", METHODS, EH_ARRAY_LEN(METHODS)}, {"code", CODES, EH_ARRAY_LEN(CODES)}};
    m->requests = eh_metrics_counter(m->reg, "eh_http_requests_total",
                                     "HTTP requests answered, by route pattern, method and status code.", 3, labels);
    eh_metrics_sparse(m->requests); /* 8 methods x 27 codes per route: only the ones seen */
    m->duration = eh_metrics_histogram(m->reg, "eh_http_request_duration_seconds",
                                       "Time from the first byte of a request to its completion, by route pattern.", 1,
                                       &route, HTTP_BUCKETS, EH_ARRAY_LEN(HTTP_BUCKETS));
    m->upload_bytes = eh_metrics_counter(m->reg, "eh_upload_bytes_total", "Bytes of accepted uploaded files.", 0, NULL);
    m->uploads = eh_metrics_counter(m->reg, "eh_uploads_total", "Uploads accepted (202).", 0, NULL);
    m->ws_clients = eh_metrics_gauge(m->reg, "eh_ws_clients", "Open WebSocket connections following a job.", 0, NULL);
    m->in_flight = eh_metrics_gauge(m->reg, "eh_http_requests_in_flight",
                                    "HTTP requests between their first byte and their completion.", 0, NULL);
    if (m->requests == NULL || m->duration == NULL || m->upload_bytes == NULL || m->uploads == NULL ||
        m->ws_clients == NULL || m->in_flight == NULL)
        return EH_ERR;
    return EH_OK;
}

api_metrics_t *api_metrics_start(const eh_config_t *cfg, eh_metrics_collect_fn readiness, void *readiness_ud,
                                 bool *failed)
{
    *failed = false;
    if (!cfg->metrics)
        return NULL;
    api_metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->reg = eh_metrics_create()) == NULL || declare(m) != EH_OK ||
        eh_metrics_start(m->reg, 1, false) != EH_OK ||
        eh_metrics_add_collector(m->reg, eh_metrics_process_collect, NULL) != EH_OK ||
        (readiness != NULL && eh_metrics_add_collector(m->reg, readiness, readiness_ud) != EH_OK)) {
        eh_log_error("cannot set up the metrics registry");
        goto fail;
    }
    m->server = eh_metrics_server_start(cfg->api_metrics_addr, m->reg);
    if (m->server == NULL)
        goto fail;
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:i}", "addr", cfg->api_metrics_addr, "port", eh_metrics_server_port(m->server)),
              "metrics listener ready");
    return m;
fail:
    api_metrics_destroy(m);
    *failed = true;
    return NULL;
}

void api_metrics_destroy(api_metrics_t *m)
{
    if (m == NULL)
        return;
    eh_metrics_server_stop(m->server);
    eh_metrics_destroy(m->reg);
    free(m->route_names);
    free(m->route_label);
    free(m);
}

int api_metrics_port(const api_metrics_t *m)
{
    return m != NULL ? eh_metrics_server_port(m->server) : 0;
}

static size_t code_index(int status)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    for (size_t i = 0; i + 1 < EH_ARRAY_LEN(CODES); i++)
        if (strcmp(CODES[i], code) == 0)
            return i;
    return EH_ARRAY_LEN(CODES) - 1;
}

void api_metrics_request(api_metrics_t *m, const api_route_t *route, const char *method, int status, double seconds)
{
    if (m == NULL)
        return;
    size_t r = m->route_label[api_http_route_index(route)];
    size_t idx[3] = {r, eh_metrics_value_index(m->requests, 1, method), code_index(status)};
    eh_metrics_counter_add(m->requests, eh_metrics_series(m->requests, idx), 1);
    eh_metrics_histogram_observe(m->duration, eh_metrics_series(m->duration, &r), seconds);
}

void api_metrics_upload(api_metrics_t *m, uint64_t bytes)
{
    if (m == NULL)
        return;
    eh_metrics_counter_add(m->upload_bytes, 0, bytes);
    eh_metrics_counter_add(m->uploads, 0, 1);
}

void api_metrics_ws_clients(api_metrics_t *m, int delta)
{
    if (m != NULL)
        eh_metrics_gauge_add(m->ws_clients, 0, delta);
}

void api_metrics_in_flight(api_metrics_t *m, int delta)
{
    if (m != NULL)
        eh_metrics_gauge_add(m->in_flight, 0, delta);
}
