#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "timefmt.h"

int eh_log_threshold = EH_LOG_INFO;

static const char *log_component = "eh";
static _Thread_local char log_job[EH_UUID_STRLEN + 1];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void eh_log_init(const char *component)
{
    log_component = component;
}

void eh_log_set_level(int level)
{
    if (level >= EH_LOG_ERROR && level <= EH_LOG_DEBUG)
        eh_log_threshold = level;
}

int eh_log_level_parse(const char *name)
{
    for (size_t i = 0; i < EH_ARRAY_LEN(level_names); i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(name, "warning") == 0)
        return EH_LOG_WARN;
    return -1;
}

const char *eh_log_level_name(int level)
{
    if (level < EH_LOG_ERROR || level > EH_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

void eh_log_set_job(const char *job_id)
{
    if (job_id == NULL) {
        log_job[0] = '\0';
        return;
    }
    snprintf(log_job, sizeof(log_job), "%s", job_id);
}

/* The last resort when jansson cannot build the line: never lose the message. */
static void write_fallback(int level, const char *msg)
{
    dprintf(STDERR_FILENO, "{\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"log line lost (out of memory)\"}\n",
            eh_log_level_name(level), log_component);
    (void)msg;
}

void eh_log_emit(int level, json_t *fields, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char ts[EH_TIME_BUFLEN];
    eh_time_format_ms(eh_time_now_ms(), ts);

    json_t *line = json_object();
    if (line == NULL) {
        write_fallback(level, msg);
        json_decref(fields);
        return;
    }
    /* The fixed keys come first so that the lines are easy to scan by eye. */
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(eh_log_level_name(level)));
    json_object_set_new(line, "component", json_string(log_component));
    json_object_set_new(line, "pid", json_integer((json_int_t)getpid()));
    json_t *text_msg = json_string(msg);
    json_object_set_new(line, "msg", text_msg != NULL ? text_msg : json_string("(message is not valid UTF-8)"));
    if (log_job[0] != '\0' && !(fields != NULL && json_object_get(fields, "job_id") != NULL))
        json_object_set_new(line, "job_id", json_string(log_job));
    if (json_is_object(fields))
        json_object_update_missing(line, fields); /* the fixed keys cannot be overwritten */
    json_decref(fields);

    char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(line);
    if (text == NULL) {
        write_fallback(level, msg);
        return;
    }
    /* One write per line keeps lines from concurrent threads and processes whole. */
    size_t len = strlen(text);
    text[len] = '\n';
    ssize_t off = 0;
    while ((size_t)off < len + 1) {
        ssize_t n = write(STDERR_FILENO, text + off, len + 1 - (size_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += n;
    }
    free(text);
}

void eh_log_errno(int level, int err, const char *what)
{
    if (level > eh_log_threshold)
        return;
    char buf[256];
    const char *text = strerror_r(err, buf, sizeof(buf));
    eh_log_emit(level, json_pack("{s:i}", "errno", err), "%s: %s", what, text);
}
