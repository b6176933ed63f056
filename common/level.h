/*
 * level.h - a log line's level: the seven levels we store and the names and
 * numbers loggers use for them.
 *
 * Rules, where the contract leaves a choice:
 * - A string, case-insensitive: trace/verbose -> trace; debug/debug1..debug5
 *   -> debug; info/information/informational/log -> info; notice -> notice;
 *   warn/warning -> warn; error/err -> error;
 *   fatal/critical/crit/panic/dpanic/emerg/emergency/alert -> fatal;
 *   anything else is invalid.
 * - Or a number (pino/bunyan) in [10, 60]: floor to its band of ten (10
 *   trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal).
 */
#ifndef EH_WORKER_LEVEL_H
#define EH_WORKER_LEVEL_H

#include <stddef.h>

#include "eh.h"

typedef enum {
    WORKER_LEVEL_TRACE,
    WORKER_LEVEL_DEBUG,
    WORKER_LEVEL_INFO,
    WORKER_LEVEL_NOTICE,
    WORKER_LEVEL_WARN,
    WORKER_LEVEL_ERROR,
    WORKER_LEVEL_FATAL
} worker_level_t;

/* "trace", "debug", "info", "notice", "warn", "error" or "fatal". */
const char *worker_level_name(worker_level_t level);

/* A level name as in the rules (case-insensitive). EH_OK or EH_DECLINED. */
EH_MUST_CHECK int worker_level_from_text(const char *s, size_t len, worker_level_t *out);

/* The text of a JSON number (already valid JSON) as a pino/bunyan level, as in the rules. EH_OK or EH_DECLINED. */
EH_MUST_CHECK int worker_level_from_number(const char *s, size_t len, worker_level_t *out);

#endif
