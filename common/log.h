/*
 * log.h - structured logs: one JSON object per line on stderr.
 *
 * {"ts":"2026-11-21T10:00:00.123Z","level":"info","component":"api","pid":12,
 *  "msg":"upload accepted","job_id":"…", …fields}
 *
 * The level is tested before any formatting happens. Values that come from
 * clients go into fields (JSON-escaped, non-ASCII as \\u escapes), never
 * into the format.
 */
#ifndef EH_LOG_H
#define EH_LOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "eh.h"

enum { EH_LOG_ERROR = 0, EH_LOG_WARN = 1, EH_LOG_INFO = 2, EH_LOG_DEBUG = 3 };

extern int eh_log_threshold;

/* Names the program in every line ("api", "worker", "supervisor", …). Borrowed; keep it alive. */
void eh_log_init(const char *component);
void eh_log_set_level(int level);
/* "error", "warn", "info" or "debug" (case-insensitive); -1 when unknown. */
int eh_log_level_parse(const char *name);
const char *eh_log_level_name(int level);

/* A job id added to every line this thread logs until cleared with NULL. */
void eh_log_set_job(const char *job_id);
/* The same for a request id (the request that made the job: X-Request-Id); NULL or "" clears it. */
void eh_log_set_request(const char *request_id);

/* Writes one line. fields (a JSON object, may be NULL) is stolen. */
void eh_log_emit(int level, json_t *fields, const char *fmt, ...) EH_PRINTF(3, 4);

/*
 * Fields written straight into text, without jansson: for the lines of hot
 * paths (one per HTTP request). Start from EH_LOG_FIELDS_INIT; a field that
 * does not fit is left out.
 */
typedef struct eh_log_fields {
    char text[1024];
    size_t len;
} eh_log_fields_t;
#define EH_LOG_FIELDS_INIT                                                                                             \
    {                                                                                                                  \
        .len = 0                                                                                                       \
    }

void eh_log_field_str(eh_log_fields_t *f, const char *key, const char *value);
void eh_log_field_int(eh_log_fields_t *f, const char *key, int64_t value);
/* Writes one line with msg (a plain string, not a format) and the fields. Test the level first. */
void eh_log_emit_fields(int level, const eh_log_fields_t *f, const char *msg);

#define eh_log(level, ...)                                                                                             \
    do {                                                                                                               \
        if ((level) <= eh_log_threshold)                                                                               \
            eh_log_emit((level), NULL, __VA_ARGS__);                                                                   \
    } while (0)

/* Like eh_log with extra fields; fields is consumed whether or not the line is written. */
#define eh_log_kv(level, fields, ...)                                                                                  \
    do {                                                                                                               \
        json_t *eh_log_fields_ = (fields);                                                                             \
        if ((level) <= eh_log_threshold)                                                                               \
            eh_log_emit((level), eh_log_fields_, __VA_ARGS__);                                                         \
        else                                                                                                           \
            json_decref(eh_log_fields_);                                                                               \
    } while (0)

#define eh_log_error(...) eh_log(EH_LOG_ERROR, __VA_ARGS__)
#define eh_log_warn(...) eh_log(EH_LOG_WARN, __VA_ARGS__)
#define eh_log_info(...) eh_log(EH_LOG_INFO, __VA_ARGS__)
#define eh_log_debug(...) eh_log(EH_LOG_DEBUG, __VA_ARGS__)

/* Logs "what: strerror(err)" with the errno value in a field. */
void eh_log_errno(int level, int err, const char *what);

#endif
