/*
 * json_scan_test.c - common/json_scan's own API: the member ranges and types
 * it reports, the member loop's end and failure, the error kinds and positions,
 * string decoding and exact number scaling. Which texts are JSON at all is
 * tested line by line (against jansson) in validate_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/json_scan.h"

#define MAX_SEEN 16

typedef struct {
    worker_json_member_t m[MAX_SEEN];
    size_t n;
} seen_t;

/*
 * The loop of json_scan.h's usage comment, `room` members at a time (the
 * table grows by `room`); returns WORKER_JSON_END or EH_DECLINED.
 */
static int scan_by(size_t room, const char *text, size_t len, seen_t *seen, worker_json_parser_t *ps,
                   worker_json_type_t *type)
{
    size_t cap = 0;
    int rc;

    worker_json_init(ps, text, len);
    rc = worker_json_begin(ps, type);
    while (rc == EH_OK) {
        size_t got = 99;
        if (seen->n == cap)
            cap += room;
        assert_true(cap <= MAX_SEEN);
        rc = worker_json_next_members(ps, seen->m + seen->n, cap - seen->n, &got);
        assert_true(got <= cap - seen->n);
        if (rc == EH_OK)
            assert_int_equal(got, cap - seen->n); /* EH_OK only when full */
        seen->n += got;
    }
    return rc;
}

static int scan(const char *text, size_t len, seen_t *seen, worker_json_parser_t *ps, worker_json_type_t *type)
{
    return scan_by(MAX_SEEN, text, len, seen, ps, type);
}

/* text[a..b) equals want */
static void assert_span(const char *text, size_t a, size_t b, const char *want)
{
    if (b - a != strlen(want) || memcmp(text + a, want, b - a) != 0)
        fail_msg("span %.*s, expected %s", (int)(b - a), text + a, want);
}

static void test_members_ranges_and_types(void **state)
{
    (void)state;
    static const char text[] = " { \"a\" : 1 , \"b\\u0041\":\"x\\ny\",\"c\":[1,{\"d\":null}],\"e\":true,"
                               "\"f\":false,\"g\":null,\"h\":{},\"a\":-2.5e3 } \r";
    static const struct {
        const char *member, *key, *value;
        worker_json_type_t type;
        bool key_escaped, value_escaped;
    } want[] = {
        {"\"a\" : 1", "\"a\"", "1", WORKER_JSON_NUMBER, false, false},
        {"\"b\\u0041\":\"x\\ny\"", "\"b\\u0041\"", "\"x\\ny\"", WORKER_JSON_STRING, true, true},
        {"\"c\":[1,{\"d\":null}]", "\"c\"", "[1,{\"d\":null}]", WORKER_JSON_ARRAY, false, false},
        {"\"e\":true", "\"e\"", "true", WORKER_JSON_TRUE, false, false},
        {"\"f\":false", "\"f\"", "false", WORKER_JSON_FALSE, false, false},
        {"\"g\":null", "\"g\"", "null", WORKER_JSON_NULL, false, false},
        {"\"h\":{}", "\"h\"", "{}", WORKER_JSON_OBJECT, false, false},
        {"\"a\":-2.5e3", "\"a\"", "-2.5e3", WORKER_JSON_NUMBER, false, false}, /* duplicates are all reported */
    };
    /* the same members whether the table has room for all of them or grows one, three or eight at a time */
    static const size_t rooms[] = {MAX_SEEN, 1, 3, 8};
    for (size_t r = 0; r < EH_ARRAY_LEN(rooms); r++) {
        seen_t seen = {0};
        worker_json_parser_t ps;
        worker_json_type_t type = WORKER_JSON_NULL;

        assert_int_equal(scan_by(rooms[r], text, sizeof(text) - 1, &seen, &ps, &type), WORKER_JSON_END);
        assert_int_equal(type, WORKER_JSON_OBJECT);
        assert_int_equal(ps.err, WORKER_JSON_ERR_NONE);
        assert_int_equal(seen.n, EH_ARRAY_LEN(want));
        for (size_t i = 0; i < seen.n; i++) {
            const worker_json_member_t *m = &seen.m[i];
            assert_span(text, m->start, m->end, want[i].member);
            assert_span(text, m->start, m->key_end, want[i].key);
            assert_span(text, m->value_start, m->end, want[i].value);
            assert_int_equal(m->type, want[i].type);
            assert_int_equal(m->key_escaped, want[i].key_escaped);
            assert_int_equal(m->value_escaped, want[i].value_escaped);
        }
    }
}

static void test_other_documents(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        worker_json_type_t type;
    } rows[] = {
        {"[1,{\"a\":2}]", WORKER_JSON_ARRAY}, {" \"x\" ", WORKER_JSON_STRING}, {"42", WORKER_JSON_NUMBER},
        {"true", WORKER_JSON_TRUE},           {"false\t", WORKER_JSON_FALSE},  {"\nnull", WORKER_JSON_NULL},
        {"{}", WORKER_JSON_OBJECT},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        seen_t seen = {0};
        worker_json_parser_t ps;
        worker_json_type_t type = WORKER_JSON_OBJECT;
        if (scan(rows[i].text, strlen(rows[i].text), &seen, &ps, &type) != WORKER_JSON_END)
            fail_msg("%s refused: %s", rows[i].text, ps.err_msg ? ps.err_msg : "?");
        assert_int_equal(type, rows[i].type);
        assert_int_equal(seen.n, 0); /* only a top-level object has members */
    }
}

static void test_end_and_failure_stick(void **state)
{
    (void)state;
    worker_json_parser_t ps;
    worker_json_type_t type;
    worker_json_member_t v[4];
    size_t got = 99;

    /* a full table: the rest of the text is not scanned yet */
    worker_json_init(&ps, "{\"a\":1,\"b\":2 x", 15);
    assert_int_equal(worker_json_begin(&ps, &type), EH_OK);
    assert_int_equal(worker_json_next_members(&ps, v, 1, &got), EH_OK);
    assert_int_equal(got, 1);
    assert_int_equal(ps.err, WORKER_JSON_ERR_NONE);
    /* no room: no progress */
    assert_int_equal(worker_json_next_members(&ps, v, 0, &got), EH_OK);
    assert_int_equal(got, 0);
    /* going on stores the member before the error, then keeps failing */
    assert_int_equal(worker_json_next_members(&ps, v, 4, &got), EH_DECLINED);
    assert_int_equal(got, 1);
    assert_int_equal(v[0].start, 7);
    assert_int_equal(ps.err, WORKER_JSON_ERR_SYNTAX);
    assert_string_equal(ps.err_msg, "expected ',' or '}' after an object member");
    assert_int_equal(worker_json_next_members(&ps, v, 4, &got), EH_DECLINED);
    assert_int_equal(got, 0);

    /* an empty object ends at once, and keeps ending */
    worker_json_init(&ps, " {} ", 4);
    assert_int_equal(worker_json_begin(&ps, &type), EH_OK);
    assert_int_equal(type, WORKER_JSON_OBJECT);
    assert_int_equal(worker_json_next_members(&ps, v, 4, &got), WORKER_JSON_END);
    assert_int_equal(got, 0);
    assert_int_equal(worker_json_next_members(&ps, v, 0, &got), WORKER_JSON_END);

    /* a value that is not an object is judged by worker_json_begin itself */
    worker_json_init(&ps, "[1,]", 4);
    assert_int_equal(worker_json_begin(&ps, &type), EH_DECLINED);
    assert_int_equal(worker_json_next_members(&ps, v, 4, &got), EH_DECLINED);
    assert_int_equal(got, 0);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        worker_json_err_t err;
        size_t offset, column;
        const char *msg; /* WORKER_JSON_ERR_SYNTAX only */
        unsigned value;  /* the others */
    } rows[] = {
        {"", WORKER_JSON_ERR_SYNTAX, 0, 1, "unexpected end of line", 0},
        {"{\"a\":1} x", WORKER_JSON_ERR_SYNTAX, 8, 9, "unexpected characters after the JSON object", 0},
        {"[1] 2", WORKER_JSON_ERR_SYNTAX, 4, 5, "unexpected characters after the JSON value", 0},
        /* the column counts characters, the offset bytes */
        {"[\"\xe2\x82\xac\",x]", WORKER_JSON_ERR_SYNTAX, 7, 6, "unexpected character", 0},
        {"{\"a\":1,}", WORKER_JSON_ERR_SYNTAX, 7, 8, "expected a string key", 0},
        /* a stray byte that is not UTF-8 is reported as such, not as a syntax error */
        {"{\"a\":1,\xff}", WORKER_JSON_ERR_UTF8, 7, 8, NULL, 0xFF},
        {"[\"\xc3\"]", WORKER_JSON_ERR_UTF8, 2, 3, NULL, 0xC3},
        {"[\"\\u0000\"]", WORKER_JSON_ERR_NUL, 2, 3, NULL, 0},
        {"[\"\\udc00\"]", WORKER_JSON_ERR_SURROGATE, 2, 3, NULL, 0xDC00},
        {"[\"\t\"]", WORKER_JSON_ERR_CONTROL, 2, 3, NULL, 0x09},
        {"[1e10001]", WORKER_JSON_ERR_NUMBER, 1, 2, NULL, 0},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        seen_t seen = {0};
        worker_json_parser_t ps;
        worker_json_type_t type;
        const char *text = rows[i].text;
        if (scan(text, strlen(text), &seen, &ps, &type) != EH_DECLINED)
            fail_msg("%s accepted", text);
        assert_int_equal(ps.err, rows[i].err);
        assert_int_equal(worker_json_error_offset(&ps), rows[i].offset);
        assert_int_equal(worker_json_error_column(&ps), rows[i].column);
        if (rows[i].err == WORKER_JSON_ERR_SYNTAX)
            assert_string_equal(ps.err_msg, rows[i].msg);
        else
            assert_int_equal(ps.err_value, rows[i].value);
    }
}

static char *nested_arrays(size_t depth, size_t *len)
{
    char *b = malloc(2 * depth);
    assert_non_null(b);
    memset(b, '[', depth);
    memset(b + depth, ']', depth);
    *len = 2 * depth;
    return b;
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* the top-level value is depth 1 */
    size_t len;
    worker_json_parser_t ps;
    worker_json_type_t type;
    seen_t seen = {0};
    char *ok = nested_arrays(WORKER_JSON_MAX_DEPTH, &len);
    assert_int_equal(scan(ok, len, &seen, &ps, &type), WORKER_JSON_END);
    free(ok);

    char *deep = nested_arrays(WORKER_JSON_MAX_DEPTH + 1, &len);
    assert_int_equal(scan(deep, len, &seen, &ps, &type), EH_DECLINED);
    assert_int_equal(ps.err, WORKER_JSON_ERR_DEPTH);
    assert_int_equal(worker_json_error_offset(&ps), WORKER_JSON_MAX_DEPTH);
    free(deep);
}

static void test_decode_string(void **state)
{
    (void)state;
    static const struct {
        const char *body, *want;
    } rows[] = {
        {"plain", "plain"},
        {"", ""},
        {"a\\tb\\\\c\\\"d\\/e\\n\\r\\b\\f", "a\tb\\c\"d/e\n\r\b\f"},
        {"\\u0041\\u00e9\\u20AC\\ud83d\\ude00", "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
        {"raw \xc3\xa9 kept", "raw \xc3\xa9 kept"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        char out[64];
        size_t n = worker_json_decode_string(rows[i].body, strlen(rows[i].body), out);
        assert_true(n <= strlen(rows[i].body));
        assert_int_equal(n, strlen(rows[i].want));
        assert_memory_equal(out, rows[i].want, n);
    }
}

static void test_number_scaled(void **state)
{
    (void)state;
    static const struct {
        const char *num;
        int scale;
        bool ok;
        uint64_t want;
        bool inexact;
    } rows[] = {
        {"0", 0, true, 0, false},
        {"1.5", 3, true, 1500, false},
        {"-1.5", 3, true, 1500, false}, /* the magnitude */
        {"0.0001", 3, true, 0, true},
        {"12.345e1", 1, true, 1234, true},
        {"1700000000.123", 6, true, UINT64_C(1700000000123000), false},
        {"170000000000000e-5", 6, true, UINT64_C(1700000000000000), false},
        {"1e18", 0, true, UINT64_C(1000000000000000000), false},
        {"1e19", 0, false, 0, false},
        {"1e-400", 6, true, 0, true},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        uint64_t n = 42;
        bool inexact = false;
        bool ok = worker_json_number_scaled(rows[i].num, strlen(rows[i].num), rows[i].scale, &n, &inexact);
        if (ok != rows[i].ok)
            fail_msg("%s: %s", rows[i].num, ok ? "accepted" : "refused");
        if (!ok)
            continue;
        if (n != rows[i].want || inexact != rows[i].inexact)
            fail_msg("%s * 10^%d: %llu%s", rows[i].num, rows[i].scale, (unsigned long long)n,
                     inexact ? " (inexact)" : "");
    }
}

static void test_blank_and_type_names(void **state)
{
    (void)state;
    assert_true(worker_json_is_blank("", 0));
    assert_true(worker_json_is_blank(" \t\r\n", 4));
    assert_false(worker_json_is_blank(" x", 2));
    assert_false(worker_json_is_blank("\f", 1)); /* not JSON whitespace */
    assert_false(worker_json_is_blank(" \0", 2));
    assert_string_equal(worker_json_type_name(WORKER_JSON_OBJECT), "an object");
    assert_string_equal(worker_json_type_name(WORKER_JSON_ARRAY), "an array");
    assert_string_equal(worker_json_type_name(WORKER_JSON_STRING), "a string");
    assert_string_equal(worker_json_type_name(WORKER_JSON_NUMBER), "a number");
    assert_string_equal(worker_json_type_name(WORKER_JSON_TRUE), "true");
    assert_string_equal(worker_json_type_name(WORKER_JSON_FALSE), "false");
    assert_string_equal(worker_json_type_name(WORKER_JSON_NULL), "null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_ranges_and_types),
        cmocka_unit_test(test_other_documents),
        cmocka_unit_test(test_end_and_failure_stick),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_decode_string),
        cmocka_unit_test(test_number_scaled),
        cmocka_unit_test(test_blank_and_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
