/*
 * params.h - the query parameters of the job API, checked one way for every
 * route: present at most once, never empty, in range. A bad value is a 400
 * whose code and message name the parameter (api_params_refuse).
 *
 * The parsers are pure (unit-tested); api_params_get reads libmicrohttpd's
 * arguments.
 */
#ifndef EH_API_PARAMS_H
#define EH_API_PARAMS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "eh.h"

struct api_request;

/* The parameter is absent (api_params_get). */
#define API_PARAM_ABSENT 1

/*
 * The one value of query parameter name: EH_OK with *value (borrowed from
 * the connection); API_PARAM_ABSENT; EH_DECLINED when it is repeated or empty.
 */
EH_MUST_CHECK int api_params_get(struct MHD_Connection *c, const char *name, const char **value);

/*
 * An RFC 3339 date-time ("2026-11-21T10:00:00Z", "…T10:00:00.123456+02:00";
 * 't' or a space for 'T', 'z' for 'Z'; at most 9 fraction digits, kept to
 * the microsecond) as epoch microseconds. EH_OK or EH_DECLINED.
 */
EH_MUST_CHECK int api_params_parse_time(const char *s, int64_t *epoch_us);

/*
 * A comma-separated list of normalized levels (API_JOBQ_LEVEL_NAMES), each
 * at least once, no empty item: the bit set. EH_OK or EH_DECLINED.
 */
EH_MUST_CHECK int api_params_parse_levels(const char *s, unsigned *bits);

/*
 * Query parameter name as a whole number in [min, max], def when absent:
 * EH_OK, or EH_DECLINED with the 400 naming it queued in *answer.
 */
EH_MUST_CHECK int api_params_int(struct MHD_Connection *c, struct api_request *rq, const char *name, int64_t def,
                                 int64_t min, int64_t max, int64_t *out, enum MHD_Result *answer);

/* Queues the 400 {"error":{"code":"invalid_<name>","message":"<name>: <what>"}}. */
enum MHD_Result api_params_refuse(struct MHD_Connection *c, struct api_request *rq, const char *name, const char *what);

#endif
