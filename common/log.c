#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "timefmt.h"
#include "utf8.h"

int eh_log_threshold = EH_LOG_INFO;

static const char *log_component = "eh";
static _Thread_local char log_job[EH_UUID_STRLEN + 1];
static _Thread_local char log_request[65]; /* EH_REQUEST_ID_MAX (job_queue.h) + 1 */

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

void eh_log_set_request(const char *request_id)
{
    snprintf(log_request, sizeof(log_request), "%s", request_id != NULL ? request_id : "");
}

/* ---- the line ---- */

#define LINE_MAX_BYTES 8192

/* Text being written into a fixed buffer; what does not fit sets full and is dropped. */
typedef struct line {
    char *text;
    size_t cap, len;
    bool full;
} line_t;

static void put(line_t *l, const char *s, size_t n)
{
    if (l->full || n > l->cap - l->len) {
        l->full = true;
        return;
    }
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void put_str(line_t *l, const char *s)
{
    put(l, s, strlen(s));
}

/* A JSON string in ASCII: what a client sent can neither break the line nor fool a terminal. */
static void put_json_string(line_t *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    put(l, "\"", 1);
    while (n > 0) {
        size_t run = 0;
        while (run < n && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '"' && p[run] != '\\')
            run++;
        put(l, (const char *)p, run);
        p += run;
        n -= run;
        if (n == 0)
            break;
        uint32_t cp;
        size_t len = eh_utf8_decode(p, n, &cp);
        if (len == 0) {
            cp = 0xFFFD; /* not UTF-8: the byte is replaced, the rest is kept */
            len = 1;
        }
        p += len;
        n -= len;
        if (cp == '"' || cp == '\\') {
            char esc[2] = {'\\', (char)cp};
            put(l, esc, 2);
            continue;
        }
        uint32_t units[2] = {cp, 0};
        int count = 1;
        if (cp >= 0x10000) {
            units[0] = 0xD800 + ((cp - 0x10000) >> 10);
            units[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
            count = 2;
        }
        for (int i = 0; i < count; i++) {
            char esc[6] = {'\\',
                           'u',
                           hex[(units[i] >> 12) & 0xF],
                           hex[(units[i] >> 8) & 0xF],
                           hex[(units[i] >> 4) & 0xF],
                           hex[units[i] & 0xF]};
            put(l, esc, sizeof(esc));
        }
    }
    put(l, "\"", 1);
}

static void put_key(line_t *l, const char *key)
{
    put(l, ",", 1);
    put_json_string(l, key);
    put(l, ":", 1);
}

static void put_int(line_t *l, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);
    put(l, num, (size_t)n);
}

static const char *const fixed_keys[] = {"ts", "level", "component", "pid", "msg"};

static void begin_line(line_t *l, char *buf, int level, const char *msg)
{
    char ts[EH_TIME_BUFLEN];
    eh_time_format_ms(eh_time_now_ms(), ts);
    *l = (line_t){.text = buf, .cap = LINE_MAX_BYTES - 2}; /* room for the closing "}\n" */
    put_str(l, "{\"ts\":\"");
    put_str(l, ts);
    put_str(l, "\",\"level\":\"");
    put_str(l, eh_log_level_name(level));
    put_str(l, "\"");
    put_key(l, "component");
    put_json_string(l, log_component);
    put_key(l, "pid");
    put_int(l, (int64_t)getpid());
    put_key(l, "msg");
    put_json_string(l, msg);
}

/* One write per line keeps lines from concurrent threads and processes whole. */
static void write_line(line_t *l)
{
    l->cap += 2;
    put(l, "}\n", 2);
    size_t off = 0;
    while (off < l->len) {
        ssize_t n = write(STDERR_FILENO, l->text + off, l->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
}

/* The message (at most 1 KiB, so it fits) without the fields that did not. */
static void write_line_truncated(line_t *l, char *buf, int level, const char *msg)
{
    begin_line(l, buf, level, msg);
    put_str(l, ",\"fields_dropped\":\"line too long\"");
    write_line(l);
}

void eh_log_emit(int level, json_t *fields, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    static _Thread_local char buf[LINE_MAX_BYTES];
    line_t line;
    begin_line(&line, buf, level, msg);
    if (log_job[0] != '\0' && !(fields != NULL && json_object_get(fields, "job_id") != NULL)) {
        put_key(&line, "job_id");
        put_json_string(&line, log_job);
    }
    if (log_request[0] != '\0' && !(fields != NULL && json_object_get(fields, "request_id") != NULL)) {
        put_key(&line, "request_id");
        put_json_string(&line, log_request);
    }
    if (json_is_object(fields) && json_object_size(fields) > 0) {
        for (size_t i = 0; i < EH_ARRAY_LEN(fixed_keys); i++)
            (void)json_object_del(fields, fixed_keys[i]); /* the fixed keys cannot be overwritten */
        char *text = json_dumps(fields, JSON_COMPACT | JSON_ENSURE_ASCII);
        size_t len = text != NULL ? strlen(text) : 0;
        if (len > 2) {
            /* The object's members, without its braces. */
            put(&line, ",", 1);
            put(&line, text + 1, len - 2);
        }
        free(text);
    }
    json_decref(fields);
    if (line.full)
        write_line_truncated(&line, buf, level, msg);
    else
        write_line(&line);
}

static void field_begin(eh_log_fields_t *f, line_t *l, const char *key)
{
    *l = (line_t){.text = f->text, .cap = sizeof(f->text), .len = f->len};
    put_key(l, key);
}

/* A field that does not fit whole is left out whole. */
static void field_end(eh_log_fields_t *f, const line_t *l)
{
    if (!l->full)
        f->len = l->len;
}

void eh_log_field_str(eh_log_fields_t *f, const char *key, const char *value)
{
    line_t l;
    field_begin(f, &l, key);
    put_json_string(&l, value);
    field_end(f, &l);
}

void eh_log_field_int(eh_log_fields_t *f, const char *key, int64_t value)
{
    line_t l;
    field_begin(f, &l, key);
    put_int(&l, value);
    field_end(f, &l);
}

void eh_log_emit_fields(int level, const eh_log_fields_t *f, const char *msg)
{
    static _Thread_local char buf[LINE_MAX_BYTES];
    line_t line;
    begin_line(&line, buf, level, msg);
    put(&line, f->text, f->len);
    if (line.full)
        write_line_truncated(&line, buf, level, msg);
    else
        write_line(&line);
}

void eh_log_errno(int level, int err, const char *what)
{
    if (level > eh_log_threshold)
        return;
    char buf[256];
    const char *text = strerror_r(err, buf, sizeof(buf));
    eh_log_emit(level, json_pack("{s:i}", "errno", err), "%s: %s", what, text);
}
