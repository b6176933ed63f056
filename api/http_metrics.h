/*
 * http_metrics.h - eh-api's Prometheus metrics (CONTRACT.md, Metrics): the
 * families, where they are counted, and the /metrics listener on
 * EH_API_METRICS_ADDR. With EH_METRICS=off nothing is created: every
 * api_metrics_* call takes NULL and does nothing.
 */
#ifndef EH_API_HTTP_METRICS_H
#define EH_API_HTTP_METRICS_H

#include <stdint.h>

#include "config.h"
#include "eh.h"
#include "metrics.h"

typedef struct api_metrics api_metrics_t;
struct api_route;

/*
 * Declares the families (route label values: the route table's patterns
 * plus "unmatched"), starts counting and the listener; readiness (called
 * with readiness_ud at each scrape) adds the readiness gauges. NULL with
 * cfg->metrics off; *failed set (after logging) when it was asked for and
 * could not be started.
 */
EH_MUST_CHECK api_metrics_t *api_metrics_start(const eh_config_t *cfg, eh_metrics_collect_fn readiness,
                                               void *readiness_ud, bool *failed);
/* Stops the listener and frees. NULL is accepted. */
void api_metrics_destroy(api_metrics_t *m);
/* The port the listener is bound to (0 when none). */
int api_metrics_port(const api_metrics_t *m);

/* One finished HTTP request: its route (NULL: none matched), method, status (0: none sent), duration. */
void api_metrics_request(api_metrics_t *m, const struct api_route *route, const char *method, int status,
                         double seconds);
/* An accepted upload of bytes (the file, not the multipart framing). */
void api_metrics_upload(api_metrics_t *m, uint64_t bytes);
/* A WebSocket client came (+1) or went (-1). */
void api_metrics_ws_clients(api_metrics_t *m, int delta);
/* Requests between their first byte and their completion. */
void api_metrics_in_flight(api_metrics_t *m, int delta);

#endif
