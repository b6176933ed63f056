/*
 * validate.c - one log line to one entry; see validate.h for the rules.
 *
 * One pass over the line (json_scan.h) validates all of it and records
 * where each top-level member starts and ends. The field values are then
 * read from their recorded spans, and the attributes are the remaining
 * members' bytes, copied as they are (PostgreSQL's jsonb input normalises
 * them).
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* ---------------------------------------------------------------- limits */

#define SNIPPET_MAX 40   /* bytes of a value quoted in a reason */
#define SMALL_DECODE 256 /* timestamps and levels longer than this (as JSON text) cannot be valid */

/* ------------------------------------------------------------ the fields */

enum { F_TS, F_LEVEL, F_MESSAGE, F_SERVICE, F_COUNT };

enum {
    A_TIMESTAMP,
    A_TIME,
    A_TS,
    A_AT_TIMESTAMP,
    A_LEVEL,
    A_SEVERITY,
    A_LVL,
    A_LOG_LEVEL,
    A_ERROR_SEVERITY,
    A_MESSAGE,
    A_MSG,
    A_SERVICE,
    A_LOGGER,
    A_NAME,
    A_APP,
    A_COUNT
};

/* Aliases of field f are FIELD_FIRST[f] .. FIELD_FIRST[f + 1] - 1, in lookup order. */
static const unsigned char FIELD_FIRST[F_COUNT + 1] = {A_TIMESTAMP, A_LEVEL, A_MESSAGE, A_SERVICE, A_COUNT};
static const char *const FIELD_NAME[F_COUNT] = {"timestamp", "level", "message", "service"};
static const char *const ALIAS_NAME[A_COUNT] = {
    "timestamp",      "time",    "ts",  "@timestamp", "level",  "severity", "lvl", "log.level",
    "error_severity", "message", "msg", "service",    "logger", "name",     "app",
};

/* A string member's text, decoded into tmp (SMALL_DECODE bytes) when it holds escapes; false if too long. */
static bool small_string(const unsigned char *base, const worker_json_member_t *m, char *tmp, eh_str_t *out)
{
    const unsigned char *s = base + m->value_start + 1;
    size_t n = m->end - m->value_start - 2;

    if (!m->value_escaped) {
        out->p = (const char *)s;
        out->len = n;
        return true;
    }
    if (n > SMALL_DECODE)
        return false;
    out->p = tmp;
    out->len = worker_json_decode_string((const char *)s, n, tmp);
    return true;
}

/* ----------------------------------------------------------- key lookup */

static int match_alias(const unsigned char *k, size_t n)
{
#define IS(word) (memcmp(k, word, sizeof(word) - 1) == 0)
    switch (n) {
    case 2:
        return IS("ts") ? A_TS : -1;
    case 3:
        if (IS("msg"))
            return A_MSG;
        if (IS("lvl"))
            return A_LVL;
        return IS("app") ? A_APP : -1;
    case 4:
        if (IS("time"))
            return A_TIME;
        return IS("name") ? A_NAME : -1;
    case 5:
        return IS("level") ? A_LEVEL : -1;
    case 6:
        return IS("logger") ? A_LOGGER : -1;
    case 7:
        if (IS("message"))
            return A_MESSAGE;
        return IS("service") ? A_SERVICE : -1;
    case 8:
        return IS("severity") ? A_SEVERITY : -1;
    case 9:
        if (IS("timestamp"))
            return A_TIMESTAMP;
        return IS("log.level") ? A_LOG_LEVEL : -1;
    case 10:
        return IS("@timestamp") ? A_AT_TIMESTAMP : -1;
    case 14:
        return IS("error_severity") ? A_ERROR_SEVERITY : -1;
    default:
        return -1;
    }
#undef IS
}

/* The alias a key names; k..k+n is the key's JSON body (without quotes). */
static int key_alias(const unsigned char *k, size_t n, bool escaped)
{
    char tmp[96];

    if (!escaped)
        return match_alias(k, n);
    /* An escaped key ("lev\u0065l") means the same key to jsonb, so it must to us. */
    if (n > sizeof(tmp))
        return -1;
    size_t dn = worker_json_decode_string((const char *)k, n, tmp);
    return match_alias((const unsigned char *)tmp, dn);
}

/* -------------------------------------------------------------- reasons */

/* Cuts s (NUL-terminated, n = strlen) back to a UTF-8 boundary: a truncated sequence goes. */
static void trim_utf8(char *s, size_t n)
{
    s[eh_utf8_trim(s, n)] = '\0';
}

static int decline(char *reason, size_t reason_len, const char *fmt, ...) EH_PRINTF(3, 4);

static int decline(char *reason, size_t reason_len, const char *fmt, ...)
{
    va_list ap;

    if (reason == NULL || reason_len == 0)
        return EH_DECLINED;
    va_start(ap, fmt);
    int n = vsnprintf(reason, reason_len, fmt, ap);
    va_end(ap);
    if (n < 0)
        reason[0] = '\0';
    else if ((size_t)n >= reason_len)
        trim_utf8(reason, reason_len - 1);
    return EH_DECLINED;
}

/* The first SNIPPET_MAX bytes of a value's JSON text, cut at a character boundary, "..." when cut. */
static void snippet(const unsigned char *p, size_t n, char out[SNIPPET_MAX + 4])
{
    if (n <= SNIPPET_MAX) {
        memcpy(out, p, n);
        out[n] = '\0';
        return;
    }
    n = SNIPPET_MAX;
    while (n > 0 && (p[n] & 0xC0) == 0x80)
        n--;
    memcpy(out, p, n);
    memcpy(out + n, "...", 4);
}

static int decline_parse(const worker_json_parser_t *ps, char *reason, size_t reason_len)
{
    size_t col = worker_json_error_column(ps);
    size_t byte = worker_json_error_offset(ps) + 1;

    switch (ps->err) {
    case WORKER_JSON_ERR_UTF8: /* also a stray byte that is not even UTF-8 where the syntax wanted something else */
        return decline(reason, reason_len, "invalid UTF-8 at byte %zu", byte);
    case WORKER_JSON_ERR_NUL:
        return decline(reason, reason_len, "string contains \\u0000 at column %zu", col);
    case WORKER_JSON_ERR_SURROGATE:
        return decline(reason, reason_len, "string contains a lone surrogate \\u%04X at column %zu", ps->err_value,
                       col);
    case WORKER_JSON_ERR_CONTROL:
        return decline(reason, reason_len, "invalid JSON at column %zu: unescaped control character U+%04X in a string",
                       col, ps->err_value);
    case WORKER_JSON_ERR_DEPTH:
        return decline(reason, reason_len, "JSON nested deeper than %d levels at column %zu", WORKER_JSON_MAX_DEPTH,
                       col);
    case WORKER_JSON_ERR_NUMBER:
        return decline(reason, reason_len,
                       "number out of range at column %zu (more than %d digits or an exponent beyond %d)", col,
                       WORKER_JSON_NUM_MAX_DIGITS, WORKER_JSON_NUM_MAX_EXP);
    default:
        return decline(reason, reason_len, "invalid JSON at column %zu: %s", col, ps->err_msg);
    }
}

/* -------------------------------------------------------------- the line */

void worker_entry_clear(worker_entry_t *e)
{
    if (e == NULL)
        return;
    eh_buf_free(&e->scratch);
    free(e->members);
    free(e->member_alias);
    memset(e, 0, sizeof(*e));
}

/* Doubles the member tables (32 members at first). */
static int grow_members(worker_entry_t *e)
{
    size_t cap = e->members_cap ? e->members_cap * 2 : 32;
    worker_json_member_t *nm = realloc(e->members, cap * sizeof(*nm));
    if (nm == NULL)
        return EH_ERR;
    e->members = nm;
    signed char *na = realloc(e->member_alias, cap);
    if (na == NULL)
        return EH_ERR; /* members_cap stays: both tables hold at least that many */
    e->member_alias = na;
    e->members_cap = cap;
    return EH_OK;
}

/*
 * Scans the rest of the top-level object into e->members, then finds which
 * field alias each key is. *count gets the number of members.
 */
static int scan_top(worker_json_parser_t *ps, worker_entry_t *e, size_t *count, int last[A_COUNT])
{
    size_t n = 0;
    size_t got;
    int rc;

    do {
        if (n == e->members_cap && grow_members(e) != EH_OK)
            return EH_ERR;
        rc = worker_json_next_members(ps, e->members + n, e->members_cap - n, &got);
        n += got;
    } while (rc == EH_OK);
    if (rc != WORKER_JSON_END)
        return rc;

    for (size_t i = 0; i < n; i++) {
        const worker_json_member_t *m = &e->members[i];
        int alias = key_alias(ps->base + m->start + 1, m->key_end - m->start - 2, m->key_escaped);
        e->member_alias[i] = (signed char)alias;
        if (alias >= 0)
            last[alias] = (int)i; /* a later duplicate wins, as in jsonb */
    }
    *count = n;
    return EH_OK;
}

static int take_timestamp(const worker_json_parser_t *ps, const worker_json_member_t *m, const char *key,
                          worker_entry_t *e, char *reason, size_t reason_len)
{
    const unsigned char *v = ps->base + m->value_start;
    size_t vn = m->end - m->value_start;
    const char *why;
    char tmp[SMALL_DECODE];
    char snip[SNIPPET_MAX + 4];
    int rc;

    if (m->type == WORKER_JSON_STRING) {
        eh_str_t s;
        if (small_string(ps->base, m, tmp, &s)) {
            rc = worker_ts_parse_text(s.p, s.len, &e->ts_us, &why);
        } else {
            rc = EH_DECLINED;
            why = "not an RFC 3339 timestamp";
        }
    } else if (m->type == WORKER_JSON_NUMBER) {
        rc = worker_ts_parse_number((const char *)v, vn, &e->ts_us, &why);
    } else {
        return decline(reason, reason_len, "field %s: expected a string or a number, found %s", key,
                       worker_json_type_name(m->type));
    }
    if (rc != EH_OK) {
        snippet(v, vn, snip);
        return decline(reason, reason_len, "field %s: %s: %s", key, why, snip);
    }
    e->ts_len = worker_ts_format(e->ts_us, e->ts);
    return EH_OK;
}

static int take_level(const worker_json_parser_t *ps, const worker_json_member_t *m, const char *key, worker_entry_t *e,
                      char *reason, size_t reason_len)
{
    const unsigned char *v = ps->base + m->value_start;
    size_t vn = m->end - m->value_start;
    char tmp[SMALL_DECODE];
    char snip[SNIPPET_MAX + 4];

    if (m->type == WORKER_JSON_STRING) {
        eh_str_t s = {NULL, 0};
        if (small_string(ps->base, m, tmp, &s) && worker_level_from_text(s.p, s.len, &e->level) == EH_OK)
            return EH_OK;
        snippet(v, vn, snip);
        return decline(reason, reason_len, "field %s: unknown level %s", key, snip);
    }
    if (m->type == WORKER_JSON_NUMBER) {
        if (worker_level_from_number((const char *)v, vn, &e->level) == EH_OK)
            return EH_OK;
        snippet(v, vn, snip);
        return decline(reason, reason_len, "field %s: level number out of range (10 to 60): %s", key, snip);
    }
    return decline(reason, reason_len, "field %s: expected a string or a number, found %s", key,
                   worker_json_type_name(m->type));
}

/* A string value into out: a slice of the line, or decoded into scratch when it holds escapes. */
static void take_string(const worker_json_parser_t *ps, const worker_json_member_t *m, eh_buf_t *scratch, eh_str_t *out)
{
    const unsigned char *s = ps->base + m->value_start + 1;
    size_t n = m->end - m->value_start - 2;

    if (!m->value_escaped) {
        out->p = (const char *)s;
        out->len = n;
        return;
    }
    /* scratch has room: see the reservation in worker_validate_line */
    char *o = scratch->p + scratch->len;
    out->len = worker_json_decode_string((const char *)s, n, o);
    out->p = o;
    scratch->len += out->len;
}

/*
 * Checks the fields in the contract's order, so that the reason names the
 * first one that is missing or wrong. chosen[f] is the member index of
 * field f, or -1. Fills the timestamp and the level.
 */
static int check_fields(const worker_json_parser_t *ps, worker_entry_t *e, const int chosen[F_COUNT], char *reason,
                        size_t reason_len)
{
    for (int f = 0; f < F_COUNT; f++) {
        if (chosen[f] < 0) {
            if (f == F_SERVICE)
                return EH_OK;
            return decline(reason, reason_len, "missing field: %s", FIELD_NAME[f]);
        }
        const worker_json_member_t *m = &e->members[chosen[f]];
        const char *key = ALIAS_NAME[(int)e->member_alias[chosen[f]]];
        int rc = EH_OK;
        if (f == F_TS)
            rc = take_timestamp(ps, m, key, e, reason, reason_len);
        else if (f == F_LEVEL)
            rc = take_level(ps, m, key, e, reason, reason_len);
        else if (m->type != WORKER_JSON_STRING && !(f == F_SERVICE && m->type == WORKER_JSON_NULL))
            rc = decline(reason, reason_len, "field %s: expected a string, found %s", key,
                         worker_json_type_name(m->type));
        if (rc != EH_OK)
            return rc;
    }
    return EH_OK;
}

int worker_validate_line(const char *line, size_t len, worker_entry_t *e, char *reason, size_t reason_len)
{
    worker_json_parser_t ps;
    worker_json_type_t type;
    int last[A_COUNT];
    int chosen[F_COUNT];
    unsigned used = 0; /* bit per alias chosen for a field */
    size_t count = 0;
    int rc;

    if (worker_json_is_blank(line, len))
        return WORKER_VALIDATE_BLANK;
    worker_json_init(&ps, line, len);
    if (worker_json_begin(&ps, &type) != EH_OK)
        return decline_parse(&ps, reason, reason_len);
    /* A line that is not an object was scanned whole: it is JSON, just not an object. */
    if (type != WORKER_JSON_OBJECT)
        return decline(reason, reason_len, "not a JSON object (found %s)", worker_json_type_name(type));

    for (int a = 0; a < A_COUNT; a++)
        last[a] = -1;
    rc = scan_top(&ps, e, &count, last);
    if (rc == EH_ERR)
        goto oom;
    if (rc != EH_OK || ps.err != WORKER_JSON_ERR_NONE)
        return decline_parse(&ps, reason, reason_len);

    for (int f = 0; f < F_COUNT; f++) {
        chosen[f] = -1;
        for (int a = FIELD_FIRST[f]; a < FIELD_FIRST[f + 1]; a++) {
            if (last[a] >= 0) {
                chosen[f] = last[a];
                used |= 1u << a;
                break;
            }
        }
    }
    rc = check_fields(&ps, e, chosen, reason, reason_len);
    if (rc != EH_OK)
        return rc;
    const worker_json_member_t *msg = &e->members[chosen[F_MESSAGE]];
    const worker_json_member_t *svc = chosen[F_SERVICE] >= 0 ? &e->members[chosen[F_SERVICE]] : NULL;

    /*
     * Everything written below fits in len + 2 bytes: the message, the service
     * and the kept members are disjoint pieces of the line, and the kept
     * members need no more commas than the line had, plus the two braces.
     * Reserving once keeps the slices valid (no realloc behind them).
     */
    eh_buf_reset(&e->scratch);
    if (eh_buf_reserve(&e->scratch, len + 2) != EH_OK)
        goto oom;
    take_string(&ps, msg, &e->scratch, &e->message);
    e->service.p = NULL;
    e->service.len = 0;
    if (svc != NULL && svc->type == WORKER_JSON_STRING)
        take_string(&ps, svc, &e->scratch, &e->service);

    char *attrs = e->scratch.p + e->scratch.len;
    char *o = attrs;
    *o++ = '{';
    for (size_t i = 0; i < count; i++) {
        const worker_json_member_t *m = &e->members[i];
        int alias = e->member_alias[i];
        if (alias >= 0 && (used >> alias & 1u))
            continue;
        if (o - attrs > 1)
            *o++ = ',';
        memcpy(o, line + m->start, m->end - m->start);
        o += m->end - m->start;
    }
    *o++ = '}';
    e->attributes.p = attrs;
    e->attributes.len = (size_t)(o - attrs);
    e->scratch.len += e->attributes.len;
    return EH_OK;

oom:
    if (reason != NULL && reason_len > 0)
        snprintf(reason, reason_len, "out of memory");
    return EH_ERR;
}
