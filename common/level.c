/*
 * level.c - the level rules; see level.h.
 */
#include "level.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json_scan.h"

static const char *const LEVEL_NAME[] = {"trace", "debug", "info", "notice", "warn", "error", "fatal"};

const char *worker_level_name(worker_level_t level)
{
    if ((unsigned)level >= EH_ARRAY_LEN(LEVEL_NAME))
        return "info";
    return LEVEL_NAME[level];
}

int worker_level_from_text(const char *s, size_t len, worker_level_t *out)
{
    static const struct {
        const char *name;
        worker_level_t level;
    } names[] = {
        {"info", WORKER_LEVEL_INFO},
        {"error", WORKER_LEVEL_ERROR},
        {"warn", WORKER_LEVEL_WARN},
        {"debug", WORKER_LEVEL_DEBUG},
        {"warning", WORKER_LEVEL_WARN},
        {"trace", WORKER_LEVEL_TRACE},
        {"fatal", WORKER_LEVEL_FATAL},
        {"log", WORKER_LEVEL_INFO},
        {"notice", WORKER_LEVEL_NOTICE},
        {"critical", WORKER_LEVEL_FATAL},
        {"panic", WORKER_LEVEL_FATAL},
        {"err", WORKER_LEVEL_ERROR},
        {"crit", WORKER_LEVEL_FATAL},
        {"emerg", WORKER_LEVEL_FATAL},
        {"emergency", WORKER_LEVEL_FATAL},
        {"alert", WORKER_LEVEL_FATAL},
        {"information", WORKER_LEVEL_INFO},
        {"informational", WORKER_LEVEL_INFO},
        {"verbose", WORKER_LEVEL_TRACE},
        {"debug1", WORKER_LEVEL_DEBUG},
        {"debug2", WORKER_LEVEL_DEBUG},
        {"debug3", WORKER_LEVEL_DEBUG},
        {"debug4", WORKER_LEVEL_DEBUG},
        {"debug5", WORKER_LEVEL_DEBUG},
        /* zap's "development panic": logged at a level above error, panics only in development */
        {"dpanic", WORKER_LEVEL_FATAL},
    };
    char low[16];

    if (len == 0 || len >= sizeof(low))
        return EH_DECLINED;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
    for (size_t i = 0; i < EH_ARRAY_LEN(names); i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, low, len) == 0) {
            *out = names[i].level;
            return EH_OK;
        }
    }
    return EH_DECLINED;
}

/* pino/bunyan: [10, 60], floored to a band of ten. */
int worker_level_from_number(const char *s, size_t len, worker_level_t *out)
{
    uint64_t n;
    bool cut;

    if (!worker_json_number_scaled(s, len, 0, &n, &cut) || s[0] == '-' || n < 10 || n > 60 || (n == 60 && cut))
        return EH_DECLINED;
    *out = (worker_level_t)(WORKER_LEVEL_TRACE + (n / 10 - 1) + (n >= 40)); /* no number maps to notice */
    return EH_OK;
}
