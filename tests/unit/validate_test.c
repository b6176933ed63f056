/*
 * validate_test.c - common/validate: the contract's log-line table, line by
 * line: real loggers' lines, every alias, every kind of invalid line with
 * its exact reason, numeric levels through a whole line, and jansson as the
 * referee for what is JSON. The timestamp and level tables are in
 * timestamp_test.c and level_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/testutil.h"
#include "../../common/validate.h"

/* ------------------------------------------------------------- helpers */

typedef struct {
    const char *line;
    const char *ts;         /* expected entry.ts */
    const char *level;      /* expected level name */
    const char *message;    /* expected message (NUL-free in these rows) */
    const char *service;    /* NULL: no service */
    const char *attributes; /* expected attributes text, byte for byte */
} valid_row_t;

typedef struct {
    const char *line;
    const char *reason;
} invalid_row_t;

static void check_valid(const valid_row_t *row)
{
    worker_entry_t e = {0};
    char reason[WORKER_REASON_LEN] = "";
    int rc = worker_validate_line(row->line, strlen(row->line), &e, reason, sizeof(reason));
    if (rc != EH_OK)
        fail_msg("line %s: rc %d, reason: %s", row->line, rc, reason);
    assert_string_equal(e.ts, row->ts);
    assert_int_equal(e.ts_len, strlen(row->ts));
    assert_string_equal(worker_level_name(e.level), row->level);
    assert_int_equal(e.message.len, strlen(row->message));
    assert_memory_equal(e.message.p, row->message, e.message.len);
    if (row->service == NULL) {
        assert_null(e.service.p);
    } else {
        assert_non_null(e.service.p);
        assert_int_equal(e.service.len, strlen(row->service));
        assert_memory_equal(e.service.p, row->service, e.service.len);
    }
    if (e.attributes.len != strlen(row->attributes) || memcmp(e.attributes.p, row->attributes, e.attributes.len) != 0)
        fail_msg("line %s: attributes %.*s, expected %s", row->line, (int)e.attributes.len, e.attributes.p,
                 row->attributes);
    worker_entry_clear(&e);
}

static void check_invalid(const invalid_row_t *row, size_t len)
{
    worker_entry_t e = {0};
    char reason[WORKER_REASON_LEN] = "";
    int rc = worker_validate_line(row->line, len, &e, reason, sizeof(reason));
    if (rc != EH_DECLINED)
        fail_msg("line %s: rc %d, expected EH_DECLINED (%s)", row->line, rc, row->reason);
    if (strcmp(reason, row->reason) != 0)
        fail_msg("line %s:\n  reason   %s\n  expected %s", row->line, reason, row->reason);
    worker_entry_clear(&e);
}

/* ------------------------------------------------- real loggers' lines */

static void test_real_loggers(void **state)
{
    (void)state;
    static const valid_row_t rows[] = {
        /* pino: numeric level, epoch milliseconds, msg */
        {"{\"level\":30,\"time\":1700000000000,\"pid\":1,\"hostname\":\"h\",\"msg\":\"hi\"}",
         "2023-11-14 22:13:20.000000+00", "info", "hi", NULL, "{\"pid\":1,\"hostname\":\"h\"}"},
        /* bunyan: name is the service */
        {"{\"name\":\"app\",\"hostname\":\"h\",\"pid\":1,\"level\":30,\"msg\":\"hi\","
         "\"time\":\"2026-11-21T10:00:00.000Z\",\"v\":0}",
         "2026-11-21 10:00:00.000000+00", "info", "hi", "app", "{\"hostname\":\"h\",\"pid\":1,\"v\":0}"},
        /* zap: fractional epoch seconds, kept exactly */
        {"{\"level\":\"info\",\"ts\":1700000000.123,\"caller\":\"x.go:1\",\"msg\":\"hi\"}",
         "2023-11-14 22:13:20.123000+00", "info", "hi", NULL, "{\"caller\":\"x.go:1\"}"},
        /* Elastic ECS: @timestamp and the literal dotted key log.level */
        {"{\"@timestamp\":\"2026-11-21T10:00:00.000Z\",\"log.level\":\"info\",\"message\":\"hi\","
         "\"ecs.version\":\"1.6.0\"}",
         "2026-11-21 10:00:00.000000+00", "info", "hi", NULL, "{\"ecs.version\":\"1.6.0\"}"},
        /* PostgreSQL jsonlog: " UTC" zone, error_severity LOG */
        {"{\"timestamp\":\"2026-11-21 10:00:00.123 UTC\",\"user\":\"postgres\",\"dbname\":\"postgres\",\"pid\":1,"
         "\"error_severity\":\"LOG\",\"message\":\"checkpoint starting: time\"}",
         "2026-11-21 10:00:00.123000+00", "info", "checkpoint starting: time", NULL,
         "{\"user\":\"postgres\",\"dbname\":\"postgres\",\"pid\":1}"},
        /* RabbitMQ-style offset and microseconds */
        {"{\"time\":\"2026-11-21 10:00:00.123456+01:00\",\"level\":\"warning\",\"msg\":\"x\",\"pid\":\"<0.1.0>\"}",
         "2026-11-21 09:00:00.123456+00", "warn", "x", NULL, "{\"pid\":\"<0.1.0>\"}"},
        /* nested attributes are kept byte for byte, whitespace included */
        {"{ \"ts\" : 1700000000 , \"level\" : \"error\" , \"msg\" : \"boom\" , \"err\" : { \"code\" : [1, 2.5e3, "
         "null, true] } , \"svc\" : \"x\" }",
         "2023-11-14 22:13:20.000000+00", "error", "boom", NULL,
         "{\"err\" : { \"code\" : [1, 2.5e3, null, true] },\"svc\" : \"x\"}"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++)
        check_valid(&rows[i]);
}

/* ------------------------------------------------------------- aliases */

#define TAIL_TS "\"timestamp\":\"2026-11-21T10:00:00Z\""
#define TAIL_LEVEL "\"level\":\"info\""
#define TAIL_MSG "\"message\":\"m\""
#define TS0 "2026-11-21 10:00:00.000000+00"

static void test_every_alias(void **state)
{
    (void)state;
    static const valid_row_t rows[] = {
        /* timestamp */
        {"{\"timestamp\":\"2026-11-21T10:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}", TS0, "info", "m", NULL, "{}"},
        {"{\"time\":\"2026-11-21T10:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}", TS0, "info", "m", NULL, "{}"},
        {"{\"ts\":\"2026-11-21T10:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}", TS0, "info", "m", NULL, "{}"},
        {"{\"@timestamp\":\"2026-11-21T10:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}", TS0, "info", "m", NULL, "{}"},
        /* level */
        {"{" TAIL_TS ",\"level\":\"debug\"," TAIL_MSG "}", TS0, "debug", "m", NULL, "{}"},
        {"{" TAIL_TS ",\"severity\":\"debug\"," TAIL_MSG "}", TS0, "debug", "m", NULL, "{}"},
        {"{" TAIL_TS ",\"lvl\":\"debug\"," TAIL_MSG "}", TS0, "debug", "m", NULL, "{}"},
        {"{" TAIL_TS ",\"log.level\":\"debug\"," TAIL_MSG "}", TS0, "debug", "m", NULL, "{}"},
        {"{" TAIL_TS ",\"error_severity\":\"debug\"," TAIL_MSG "}", TS0, "debug", "m", NULL, "{}"},
        /* message */
        {"{" TAIL_TS "," TAIL_LEVEL ",\"message\":\"hello\"}", TS0, "info", "hello", NULL, "{}"},
        {"{" TAIL_TS "," TAIL_LEVEL ",\"msg\":\"hello\"}", TS0, "info", "hello", NULL, "{}"},
        /* service */
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"service\":\"s\"}", TS0, "info", "m", "s", "{}"},
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"logger\":\"s\"}", TS0, "info", "m", "s", "{}"},
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"name\":\"s\"}", TS0, "info", "m", "s", "{}"},
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"app\":\"s\"}", TS0, "info", "m", "s", "{}"},
        /* service null: SQL NULL, and the key is used up */
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"service\":null}", TS0, "info", "m", NULL, "{}"},
        /* lookup order: the first alias present wins; the others stay as attributes */
        {"{\"@timestamp\":\"2000-01-01T00:00:00Z\",\"ts\":1,\"time\":\"x\",\"timestamp\":\"2026-11-21T10:00:"
         "00Z\"," TAIL_LEVEL "," TAIL_MSG "}",
         TS0, "info", "m", NULL, "{\"@timestamp\":\"2000-01-01T00:00:00Z\",\"ts\":1,\"time\":\"x\"}"},
        {"{" TAIL_TS ",\"error_severity\":\"LOG\",\"log.level\":\"x\",\"lvl\":1,\"severity\":\"error\"," TAIL_MSG "}",
         TS0, "error", "m", NULL, "{\"error_severity\":\"LOG\",\"log.level\":\"x\",\"lvl\":1}"},
        {"{" TAIL_TS "," TAIL_LEVEL ",\"msg\":\"second\",\"message\":\"first\"}", TS0, "info", "first", NULL,
         "{\"msg\":\"second\"}"},
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"app\":\"a\",\"name\":\"n\",\"logger\":\"l\"}", TS0, "info", "m",
         "l", "{\"app\":\"a\",\"name\":\"n\"}"},
        /* an unused alias may have any type: it is just an attribute */
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"msg\":{\"a\":1},\"service\":\"s\",\"name\":[1]}", TS0, "info", "m",
         "s", "{\"msg\":{\"a\":1},\"name\":[1]}"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++)
        check_valid(&rows[i]);
}

static void test_alias_wrong_type_does_not_fall_through(void **state)
{
    (void)state;
    static const invalid_row_t rows[] = {
        {"{\"timestamp\":null,\"time\":\"2026-11-21T10:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}",
         "field timestamp: expected a string or a number, found null"},
        {"{" TAIL_TS ",\"level\":{},\"severity\":\"info\"," TAIL_MSG "}",
         "field level: expected a string or a number, found an object"},
        {"{" TAIL_TS "," TAIL_LEVEL ",\"message\":1,\"msg\":\"m\"}",
         "field message: expected a string, found a number"},
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"service\":7,\"app\":\"a\"}",
         "field service: expected a string, found a number"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++)
        check_invalid(&rows[i], strlen(rows[i].line));
}

static void test_keys_and_strings(void **state)
{
    (void)state;
    static const valid_row_t rows[] = {
        /* duplicates: the last wins (as in jsonb), and every copy of a used key leaves the attributes */
        {"{\"level\":\"info\"," TAIL_TS ",\"level\":\"error\"," TAIL_MSG ",\"a\":1,\"a\":2}", TS0, "error", "m", NULL,
         "{\"a\":1,\"a\":2}"},
        /* an escaped key is the same key */
        {"{" TAIL_TS ",\"lev\\u0065l\":\"warn\"," TAIL_MSG "}", TS0, "warn", "m", NULL, "{}"},
        /* keys are case-sensitive */
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"Level\":\"x\",\"MSG\":1}", TS0, "info", "m", NULL,
         "{\"Level\":\"x\",\"MSG\":1}"},
        /* escapes decoded in message and service; attributes keep their JSON text */
        {"{" TAIL_TS "," TAIL_LEVEL
         ",\"msg\":\"a\\tb\\\\c\\\"d\\/e\\u00e9\\ud83d\\ude00\\n\\r\\b\\f\",\"app\":\"x\\u0041\","
         "\"k\":\"v\\n\\u00e9\"}",
         TS0, "info", "a\tb\\c\"d/e\xc3\xa9\xf0\x9f\x98\x80\n\r\b\f", "xA", "{\"k\":\"v\\n\\u00e9\"}"},
        /* raw UTF-8 everywhere */
        {"{" TAIL_TS "," TAIL_LEVEL
         ",\"msg\":\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\",\"cl\xc3\xa9\":\"\xe2\x82\xac\"}",
         TS0, "info", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", NULL, "{\"cl\xc3\xa9\":\"\xe2\x82\xac\"}"},
        /* empty message is a string; an empty service is a service */
        {"{" TAIL_TS "," TAIL_LEVEL ",\"msg\":\"\",\"service\":\"\"}", TS0, "info", "", "", "{}"},
        /* whitespace around the object (spaces, tabs, a CR) */
        {" \t{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG "}\t \r", TS0, "info", "m", NULL, "{}"},
        /* numbers jansson refuses but jsonb stores (beyond 64 bits, beyond double) */
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"id\":18446744073709551616,\"big\":1e400,\"tiny\":-1.5E-400}", TS0,
         "info", "m", NULL, "{\"id\":18446744073709551616,\"big\":1e400,\"tiny\":-1.5E-400}"},
        /* the nested {"log":{"level":..}} form is not looked into */
        {"{" TAIL_TS ",\"log\":{\"level\":\"error\"}," TAIL_LEVEL "," TAIL_MSG "}", TS0, "info", "m", NULL,
         "{\"log\":{\"level\":\"error\"}}"},
        /* ECS service.name is an attribute */
        {"{" TAIL_TS "," TAIL_LEVEL "," TAIL_MSG ",\"service.name\":\"api\"}", TS0, "info", "m", NULL,
         "{\"service.name\":\"api\"}"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++)
        check_valid(&rows[i]);
}

/* -------------------------------------------------------- invalid lines */

#define OK3 TAIL_TS "," TAIL_LEVEL "," TAIL_MSG

static void test_invalid_lines(void **state)
{
    (void)state;
    static const invalid_row_t rows[] = {
        /* not an object */
        {"[1,2]", "not a JSON object (found an array)"},
        {"\"x\"", "not a JSON object (found a string)"},
        {"42", "not a JSON object (found a number)"},
        {"null", "not a JSON object (found null)"},
        {"true", "not a JSON object (found true)"},
        {"hello", "invalid JSON at column 1: unexpected character"},
        {"nul", "invalid JSON at column 1: invalid literal"},
        {"x", "invalid JSON at column 1: unexpected character"},
        {"[1,]", "invalid JSON at column 4: unexpected character"},
        {"[1] 2", "invalid JSON at column 5: unexpected characters after the JSON value"},
        /* syntax */
        {"{", "invalid JSON at column 2: unexpected end of line"},
        {"{\"a\":1", "invalid JSON at column 7: unexpected end of line"},
        {"{\"a\" 1}", "invalid JSON at column 6: expected ':' after an object key"},
        {"{\"a\":1,}", "invalid JSON at column 8: expected a string key"},
        {"{a:1}", "invalid JSON at column 2: expected a string key"},
        {"{'a':1}", "invalid JSON at column 2: expected a string key"},
        {"{\"a\":1} x", "invalid JSON at column 9: unexpected characters after the JSON object"},
        {"{\"a\":1}{\"b\":2}", "invalid JSON at column 8: unexpected characters after the JSON object"},
        {"{\"a\":01}", "invalid JSON at column 7: expected ',' or '}' after an object member"},
        {"{\"a\":1.}", "invalid JSON at column 6: invalid number"},
        {"{\"a\":-}", "invalid JSON at column 6: invalid number"},
        {"{\"a\":+1}", "invalid JSON at column 6: unexpected character"},
        {"{\"a\":.5}", "invalid JSON at column 6: unexpected character"},
        {"{\"a\":1e}", "invalid JSON at column 6: invalid number"},
        {"{\"a\":NaN}", "invalid JSON at column 6: unexpected character"},
        {"{\"a\":tru}", "invalid JSON at column 6: invalid literal"},
        {"{\"a\":[1 2]}", "invalid JSON at column 9: expected ',' or ']' after an array element"},
        {"{\"a\":{\"b\"}}", "invalid JSON at column 10: expected ':' after an object key"},
        {"{\"a\":\"abc", "invalid JSON at column 6: unterminated string"},
        {"{\"a\":\"abc\\", "invalid JSON at column 6: unterminated string"},
        {"{\"a\":\"\\x\"}", "invalid JSON at column 7: invalid escape in a string"},
        {"{\"a\":\"\\u12G4\"}", "invalid JSON at column 7: invalid \\u escape"},
        {"{\"a\":\"\t\"}", "invalid JSON at column 7: unescaped control character U+0009 in a string"},
        {"{\"\xc3\xa9\":x}", "invalid JSON at column 6: unexpected character"}, /* column counts characters */
        /* PostgreSQL's limits */
        {"{\"a\":\"\\u0000\"}", "string contains \\u0000 at column 7"},
        {"{\"a\\u0000\":1}", "string contains \\u0000 at column 4"},
        {"{\"a\":\"\\ud800\"}", "string contains a lone surrogate \\uD800 at column 7"},
        {"{\"a\":\"\\udc00\\ud800\"}", "string contains a lone surrogate \\uDC00 at column 7"},
        {"{\"a\":\"\\ud800\\u0041\"}", "string contains a lone surrogate \\uD800 at column 7"},
        {"{\"a\":\"\\uD83D\"}", "string contains a lone surrogate \\uD83D at column 7"},
        {"{\"a\":1e10001}", "number out of range at column 6 (more than 4000 digits or an exponent beyond 10000)"},
        /* invalid UTF-8, in and out of strings */
        {"{\"a\":\"\xff\"}", "invalid UTF-8 at byte 7"},
        {"{\"a\":\"\xc0\xaf\"}", "invalid UTF-8 at byte 7"},         /* overlong '/' */
        {"{\"a\":\"\xe0\x80\xaf\"}", "invalid UTF-8 at byte 7"},     /* overlong, 3 bytes */
        {"{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8 at byte 7"},     /* encoded surrogate */
        {"{\"a\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8 at byte 7"}, /* above U+10FFFF */
        {"{\"a\":\"\xc3\"}", "invalid UTF-8 at byte 7"},             /* truncated sequence */
        {"{\"a\":\"\xe2\x82\"}", "invalid UTF-8 at byte 7"},
        {"{\"a\":1,\xff}", "invalid UTF-8 at byte 8"},
        {"{\"a\":1,\xc3\xa9}", "invalid JSON at column 8: expected a string key"},
        /* fields */
        {"{}", "missing field: timestamp"},
        {"{" TAIL_LEVEL "," TAIL_MSG "}", "missing field: timestamp"},
        {"{" TAIL_TS "," TAIL_MSG "}", "missing field: level"},
        {"{" TAIL_TS "," TAIL_LEVEL "}", "missing field: message"},
        {"{\"Timestamp\":\"2026-11-21T10:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}", "missing field: timestamp"},
        {"{\"ts\":true," TAIL_LEVEL "," TAIL_MSG "}", "field ts: expected a string or a number, found true"},
        {"{\"time\":[1]," TAIL_LEVEL "," TAIL_MSG "}", "field time: expected a string or a number, found an array"},
        {"{\"ts\":\"yesterday\"," TAIL_LEVEL "," TAIL_MSG "}", "field ts: not an RFC 3339 timestamp: \"yesterday\""},
        {"{\"ts\":\"2026-13-01T00:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}",
         "field ts: month out of range: \"2026-13-01T00:00:00Z\""},
        {"{\"ts\":\"2026-02-29T00:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}",
         "field ts: day out of range: \"2026-02-29T00:00:00Z\""},
        {"{\"ts\":\"2026-11-21T24:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}",
         "field ts: hour out of range: \"2026-11-21T24:00:00Z\""},
        {"{\"ts\":\"2026-11-21T10:00:00\"," TAIL_LEVEL "," TAIL_MSG "}",
         "field ts: missing time zone: \"2026-11-21T10:00:00\""},
        {"{\"ts\":1e300," TAIL_LEVEL "," TAIL_MSG "}", "field ts: timestamp out of range: 1e300"},
        {"{\"ts\":-1e300," TAIL_LEVEL "," TAIL_MSG "}", "field ts: timestamp out of range: -1e300"},
        {"{\"ts\":\"0000-01-01T00:00:00Z\"," TAIL_LEVEL "," TAIL_MSG "}",
         "field ts: timestamp out of range: \"0000-01-01T00:00:00Z\""},
        {"{" TAIL_TS ",\"level\":\"verbose!\"," TAIL_MSG "}", "field level: unknown level \"verbose!\""},
        {"{" TAIL_TS ",\"level\":\"\"," TAIL_MSG "}", "field level: unknown level \"\""},
        {"{" TAIL_TS ",\"level\":\"information technology\"," TAIL_MSG "}",
         "field level: unknown level \"information technology\""},
        {"{" TAIL_TS ",\"level\":70," TAIL_MSG "}", "field level: level number out of range (10 to 60): 70"},
        {"{" TAIL_TS ",\"lvl\":9.5," TAIL_MSG "}", "field lvl: level number out of range (10 to 60): 9.5"},
        {"{" TAIL_TS ",\"level\":true," TAIL_MSG "}", "field level: expected a string or a number, found true"},
        {"{" TAIL_TS "," TAIL_LEVEL ",\"msg\":null}", "field msg: expected a string, found null"},
        {"{" TAIL_TS "," TAIL_LEVEL ",\"msg\":[\"a\"]}", "field msg: expected a string, found an array"},
        {"{" OK3 ",\"name\":{\"first\":\"x\"}}", "field name: expected a string, found an object"},
        {"{" OK3 ",\"logger\":false}", "field logger: expected a string, found false"},
        /* the first problem in field order is reported */
        {"{\"ts\":true,\"level\":true}", "field ts: expected a string or a number, found true"},
        {"{\"level\":true,\"msg\":1}", "missing field: timestamp"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++)
        check_invalid(&rows[i], strlen(rows[i].line));
}

static void test_long_value_in_reason_is_cut(void **state)
{
    (void)state;
    /* The quoted value is cut after 40 bytes of its JSON text: the quote and 38 a's make 39, and the two-byte
     * character that would end at byte 41 is left out whole. */
    static const invalid_row_t row = {
        "{" TAIL_TS ",\"level\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9zzzzzzzzzz\"," TAIL_MSG "}",
        "field level: unknown level \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."};
    check_invalid(&row, strlen(row.line));
}

static void test_small_reason_buffer_keeps_utf8(void **state)
{
    (void)state;
    const char *line = "{\"ts\":\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\"," TAIL_LEVEL "," TAIL_MSG "}";
    worker_entry_t e = {0};
    /* "field ts: not an RFC 3339 timestamp: \"" is 38 bytes; 40 bytes of room cut the euro sign in half */
    char reason[41];
    memset(reason, 'x', sizeof(reason));
    assert_int_equal(worker_validate_line(line, strlen(line), &e, reason, sizeof(reason)), EH_DECLINED);
    assert_string_equal(reason, "field ts: not an RFC 3339 timestamp: \"");
    /* no room at all is fine too */
    assert_int_equal(worker_validate_line(line, strlen(line), &e, NULL, 0), EH_DECLINED);
    worker_entry_clear(&e);
}

static void test_blank_lines(void **state)
{
    (void)state;
    static const char *const blanks[] = {"", " ", "\t", "\r", "  \t \r"};
    worker_entry_t e = {0};
    char reason[WORKER_REASON_LEN] = "untouched";
    for (size_t i = 0; i < EH_ARRAY_LEN(blanks); i++)
        assert_int_equal(worker_validate_line(blanks[i], strlen(blanks[i]), &e, reason, sizeof(reason)),
                         WORKER_VALIDATE_BLANK);
    assert_string_equal(reason, "untouched");
    /* a form feed is not JSON whitespace */
    assert_int_equal(worker_validate_line("\f", 1, &e, reason, sizeof(reason)), EH_DECLINED);
    /* an embedded NUL byte is not whitespace either */
    assert_int_equal(worker_validate_line(" \0", 2, &e, reason, sizeof(reason)), EH_DECLINED);
    assert_string_equal(reason, "invalid JSON at column 2: unexpected character");
    worker_entry_clear(&e);
}

static void test_nul_byte_inside_line(void **state)
{
    (void)state;
    static const char line[] = "{\"a\":\"x\0y\"}";
    invalid_row_t row = {line, "invalid JSON at column 8: unescaped control character U+0000 in a string"};
    check_invalid(&row, sizeof(line) - 1);
}

/* ------------------------------------------------------------- nesting */

static char *nested(size_t arrays, const char *inner, size_t *len)
{
    size_t n = 0;
    char *b = malloc(2 * arrays + strlen(inner) + 128);
    assert_non_null(b);
    n += (size_t)sprintf(b, "{" OK3 ",\"a\":");
    memset(b + n, '[', arrays);
    n += arrays;
    n += (size_t)sprintf(b + n, "%s", inner);
    memset(b + n, ']', arrays);
    n += arrays;
    b[n++] = '}';
    *len = n;
    return b;
}

static void test_nesting_limit_matches_jansson(void **state)
{
    (void)state;
    /* the object is depth 1, "a"'s value 2: 2047 arrays put the innermost at 2048 */
    static const struct {
        size_t arrays;
        const char *inner;
        int rc;
    } rows[] = {{2047, "", EH_OK}, {2048, "", EH_DECLINED}, {2046, "1", EH_OK}, {2047, "1", EH_DECLINED}};
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        size_t len;
        char *line = nested(rows[i].arrays, rows[i].inner, &len);
        worker_entry_t e = {0};
        char reason[WORKER_REASON_LEN] = "";
        int rc = worker_validate_line(line, len, &e, reason, sizeof(reason));
        assert_int_equal(rc, rows[i].rc);
        if (rc == EH_DECLINED)
            assert_non_null(strstr(reason, "JSON nested deeper than 2048 levels"));
        json_error_t err;
        json_t *j = json_loadb(line, len, 0, &err);
        assert_int_equal(j != NULL, rc == EH_OK);
        json_decref(j);
        worker_entry_clear(&e);
        free(line);
    }
}

/* --------------------------------------------------------------- levels */

static void test_levels_number(void **state)
{
    (void)state;
    const eh_test_level_row_t *rows = eh_test_level_numbers;
    for (size_t i = 0; i < eh_test_level_numbers_len; i++) {
        char line[256];
        snprintf(line, sizeof(line), "{" TAIL_TS ",\"level\":%s," TAIL_MSG "}", rows[i].num);
        worker_entry_t e = {0};
        char reason[WORKER_REASON_LEN] = "";
        int rc = worker_validate_line(line, strlen(line), &e, reason, sizeof(reason));
        if (rows[i].out == NULL) {
            if (rc != EH_DECLINED)
                fail_msg("level %s accepted", rows[i].num);
            assert_non_null(strstr(reason, "level number out of range"));
        } else {
            if (rc != EH_OK)
                fail_msg("level %s: %s", rows[i].num, reason);
            assert_string_equal(worker_level_name(e.level), rows[i].out);
        }
        worker_entry_clear(&e);
    }
}

/* ------------------------------------------- jansson as the JSON referee */

/* Lines on the edge of the grammar; for each, our "is it JSON" verdict must be jansson's. */
static const char *const JSON_EDGE[] = {
    "{\"a\":[]}",
    "{\"a\":{}}",
    "{\"a\":[{}]}",
    "{\"a\":[[]]}",
    "{\"a\":-0}",
    "{\"a\":-0.0e-0}",
    "{\"a\":0e0}",
    "{\"a\":1E+2}",
    "{\"a\":1e-2}",
    "{\"a\":0.1}",
    "{\"a\":00}",
    "{\"a\":-01}",
    "{\"a\":1.e1}",
    "{\"a\":.1}",
    "{\"a\":1e+}",
    "{\"a\":--1}",
    "{\"a\":0x1}",
    "{\"a\":Infinity}",
    "{\"a\":true }",
    "{\"a\":trueX}",
    "{\"a\":nul}",
    "{\"a\":\"\\/\"}",
    "{\"a\":\"\\'\"}",
    "{\"a\":\"\\U0041\"}",
    "{\"a\":\"\\u004\"}",
    "{\"a\":\"\\uDBFF\\uDFFF\"}",
    "{\"a\":\"\\uD800\\uD800\"}",
    "{\"a\":\"\x7f\"}",
    "{\"a\":\"\xef\xbf\xbf\"}",
    "{\"a\":\"\xf0\x90\x80\x80\"}",
    "{\"a\":\"\xf0\x80\x80\x80\"}",
    "{\"a\":\"\xf8\x88\x80\x80\x80\"}",
    "{\"a\":\"\xc2\x80\"}",
    "{\"a\":\"\xc1\xbf\"}",
    "{\"a\":\"\xe0\xa0\x80\"}",
    "{\"a\":\"\xed\x9f\xbf\"}",
    "{\"a\":\"\xee\x80\x80\"}",
    "{\"a\":\"\x80\"}",
    "{\"a\":1,\"a\":2}",
    "{\"\":1}",
    "{\"a\":[1,[2,[3]]]}",
    "{\"a\"\t:\r1\n}",
    "{\"a\":1}\n",
    "{\"a\":\"x\"\"y\"}",
    "{\"a\":[1,2,]}",
    "{\"a\":{\"b\":1,}}",
    "{,}",
    "{\"a\":1,,\"b\":2}",
    "{\"a\"::1}",
    "{\"a\":1 \"b\":2}",
    "{\"a\":[}",
    "{\"a\":]}",
    "{\"a\":\"\\",
    "{\"a\":\"\\u\"}",
    "{\"a\":\"\\ud83d\\ude0\"}",
    "{\"a\":\"\\ud83d\\\"}",
};

static void test_json_verdicts_match_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < EH_ARRAY_LEN(JSON_EDGE); i++) {
        /* Append the three fields so that only JSON-ness decides. */
        const char *edge = JSON_EDGE[i];
        size_t el = strlen(edge);
        char line[512];
        int n;
        if (el >= 2 && edge[el - 1] == '}' && strncmp(edge, "{\"a\":", 5) == 0 && edge[el - 2] != ',')
            n = snprintf(line, sizeof(line), "{" OK3 ",%s", edge + 1);
        else
            n = snprintf(line, sizeof(line), "%s", edge);
        assert_true(n > 0 && (size_t)n < sizeof(line));

        worker_entry_t e = {0};
        char reason[WORKER_REASON_LEN] = "";
        int rc = worker_validate_line(line, (size_t)n, &e, reason, sizeof(reason));
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)n, 0, &err);
        bool ours_json = rc == EH_OK || (rc == EH_DECLINED && strncmp(reason, "missing field", 13) == 0);
        if (ours_json != (j != NULL))
            fail_msg("line %s: ours %d (%s), jansson %s", line, rc, reason, j ? "accepts" : err.text);
        json_decref(j);
        worker_entry_clear(&e);
    }
}

/* The attributes are the input object minus the used keys, as jansson sees both. */
static void test_attributes_equal_input_minus_fields(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *removed[4];
    } rows[] = {
        {"{\"level\":30,\"time\":1700000000000,\"pid\":1,\"hostname\":\"h\",\"msg\":\"hi\",\"o\":{\"x\":[1,{}]}}",
         {"level", "time", "msg", NULL}},
        {"{\"name\":\"app\",\"hostname\":\"h\",\"pid\":1,\"level\":30,\"msg\":\"hi\",\"time\":\"2026-11-21T10:00:00."
         "000Z\","
         "\"v\":0,\"message\":\"m\"}",
         {"name", "level", "message", "time"}},
        {"{\"ts\":1,\"time\":2,\"timestamp\":\"2026-11-21T10:00:00Z\",\"lvl\":\"x\",\"severity\":\"info\","
         "\"message\":\"m\",\"msg\":\"n\",\"app\":\"a\",\"name\":\"b\"}",
         {"timestamp", "severity", "message", "name"}},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        worker_entry_t e = {0};
        char reason[WORKER_REASON_LEN] = "";
        const char *line = rows[i].line;
        json_error_t err;
        int rc = worker_validate_line(line, strlen(line), &e, reason, sizeof(reason));
        if (rc != EH_OK)
            fail_msg("%s: %s", line, reason);
        json_t *want = json_loads(line, 0, &err);
        assert_non_null(want);
        for (size_t k = 0; k < 4 && rows[i].removed[k] != NULL; k++)
            assert_int_equal(json_object_del(want, rows[i].removed[k]), 0);
        json_t *got = json_loadb(e.attributes.p, e.attributes.len, 0, &err);
        if (got == NULL)
            fail_msg("attributes %.*s: %s", (int)e.attributes.len, e.attributes.p, err.text);
        assert_true(json_equal(got, want));
        json_decref(got);
        json_decref(want);
        worker_entry_clear(&e);
    }
}

/* ------------------------------------------------------- entry lifetime */

static void test_entry_reuse(void **state)
{
    (void)state;
    worker_entry_t e = {0};
    char reason[WORKER_REASON_LEN];
    /* a long escaped message grows the scratch; a later short line reuses it */
    size_t big = 100000;
    char *line = malloc(big + 256);
    assert_non_null(line);
    size_t n = (size_t)sprintf(line, "{" TAIL_TS "," TAIL_LEVEL ",\"msg\":\"");
    for (size_t i = 0; i < big / 2; i++) {
        line[n++] = '\\';
        line[n++] = 'n';
    }
    n += (size_t)sprintf(line + n, "\",\"k\":\"v\"}");
    assert_int_equal(worker_validate_line(line, n, &e, reason, sizeof(reason)), EH_OK);
    assert_int_equal(e.message.len, big / 2);
    assert_true(e.message.p[0] == '\n' && e.message.p[big / 2 - 1] == '\n');
    assert_int_equal(e.attributes.len, strlen("{\"k\":\"v\"}"));
    char *scratch = e.scratch.p;
    size_t cap = e.scratch.cap;

    const char *small = "{" OK3 ",\"service\":\"s\\u0041\",\"x\":1}";
    assert_int_equal(worker_validate_line(small, strlen(small), &e, reason, sizeof(reason)), EH_OK);
    assert_ptr_equal(e.scratch.p, scratch);
    assert_int_equal(e.scratch.cap, cap);
    assert_int_equal(e.service.len, 2);
    assert_memory_equal(e.service.p, "sA", 2);
    /* an unescaped message is a slice of the line itself */
    assert_true(e.message.p >= small && e.message.p < small + strlen(small));
    assert_memory_equal(e.attributes.p, "{\"x\":1}", 7);

    /* a declined line between two valid ones leaves nothing behind */
    assert_int_equal(worker_validate_line("{\"ts\":1}", 8, &e, reason, sizeof(reason)), EH_DECLINED);
    assert_int_equal(worker_validate_line(small, strlen(small), &e, reason, sizeof(reason)), EH_OK);
    assert_memory_equal(e.service.p, "sA", 2);

    worker_entry_clear(&e);
    assert_null(e.scratch.p);
    assert_null(e.members);
    worker_entry_clear(&e);
    worker_entry_clear(NULL);
    free(line);
}

static void test_many_members(void **state)
{
    (void)state;
    /* more members than the first allocation of the member table */
    char line[8192];
    size_t n = (size_t)sprintf(line, "{" OK3);
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(line + n, ",\"k%d\":%d", i, i);
    line[n++] = '}';
    worker_entry_t e = {0};
    char reason[WORKER_REASON_LEN];
    assert_int_equal(worker_validate_line(line, n, &e, reason, sizeof(reason)), EH_OK);
    json_error_t err;
    json_t *attrs = json_loadb(e.attributes.p, e.attributes.len, 0, &err);
    assert_non_null(attrs);
    assert_int_equal(json_object_size(attrs), 300);
    assert_int_equal(json_integer_value(json_object_get(attrs, "k299")), 299);
    json_decref(attrs);
    worker_entry_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_loggers),
        cmocka_unit_test(test_every_alias),
        cmocka_unit_test(test_alias_wrong_type_does_not_fall_through),
        cmocka_unit_test(test_keys_and_strings),
        cmocka_unit_test(test_invalid_lines),
        cmocka_unit_test(test_long_value_in_reason_is_cut),
        cmocka_unit_test(test_small_reason_buffer_keeps_utf8),
        cmocka_unit_test(test_blank_lines),
        cmocka_unit_test(test_nul_byte_inside_line),
        cmocka_unit_test(test_nesting_limit_matches_jansson),
        cmocka_unit_test(test_levels_number),
        cmocka_unit_test(test_json_verdicts_match_jansson),
        cmocka_unit_test(test_attributes_equal_input_minus_fields),
        cmocka_unit_test(test_entry_reuse),
        cmocka_unit_test(test_many_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
