/*
 * copy_row_test.c - worker/copy_row (COPY text rows) and common/buf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/buf.h"
#include "../../worker/copy_row.h"
#include "../../common/validate.h"

#define JOB "4b0c6a52-52a4-4c1b-9a7e-0f6f1e1d2c3b"

/* ------------------------------------------------------------------ buf */

static void test_buf(void **state)
{
    (void)state;
    eh_buf_t b = EH_BUF_INIT;
    assert_int_equal(eh_buf_append(&b, NULL, 0), EH_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(eh_buf_append(&b, "abc", 3), EH_OK);
    assert_int_equal(eh_buf_append_str(&b, "def"), EH_OK);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.p, "abcdef", 6);
    /* growth keeps the contents */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(eh_buf_append(&b, "0123456789", 10), EH_OK);
    assert_int_equal(b.len, 10006);
    assert_true(b.cap >= b.len);
    assert_memory_equal(b.p + 10006 - 10, "0123456789", 10);

    /* an impossible request fails and leaves everything as it was */
    char *p = b.p;
    size_t len = b.len, cap = b.cap;
    assert_int_equal(eh_buf_reserve(&b, SIZE_MAX), EH_ERR);
    assert_int_equal(eh_buf_reserve(&b, SIZE_MAX - b.len + 1), EH_ERR);
    assert_int_equal(eh_buf_append(&b, "x", SIZE_MAX - 2), EH_ERR);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.len, len);
    assert_int_equal(b.cap, cap);
    assert_memory_equal(b.p, "abcdef", 6);

    /* reserve within capacity does not move the memory */
    assert_int_equal(eh_buf_reserve(&b, b.cap - b.len), EH_OK);
    assert_ptr_equal(b.p, p);

    eh_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.p, p);
    eh_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
    eh_buf_free(&b);
    eh_buf_free(NULL);
}

/* A bounded buffer: grows by doubling up to max, refuses past it and stays as it was. */
static void test_buf_append_max(void **state)
{
    (void)state;
    eh_buf_t b = EH_BUF_INIT;
    char chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    assert_int_equal(eh_buf_append_max(&b, chunk, 0, 150), EH_OK);
    assert_null(b.p);
    assert_int_equal(eh_buf_append_max(&b, chunk, 100, 150), EH_OK);
    assert_int_equal(b.len, 100);
    assert_true(b.cap >= 100 && b.cap <= 150);
    char *p = b.p;
    size_t cap = b.cap;
    assert_int_equal(eh_buf_append_max(&b, chunk, 51, 150), EH_DECLINED);
    assert_int_equal(b.len, 100);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.cap, cap);
    assert_int_equal(eh_buf_append_max(&b, "yz", 2, 150), EH_OK);
    assert_int_equal(eh_buf_append_max(&b, chunk, 48, 150), EH_OK);
    assert_int_equal(b.len, 150);
    assert_int_equal(b.cap, 150);
    assert_memory_equal(b.p + 100, "yz", 2);
    assert_int_equal(eh_buf_append_max(&b, "a", 1, 150), EH_DECLINED);
    assert_int_equal(eh_buf_append_max(&b, chunk, 1, SIZE_MAX), EH_OK);
    assert_int_equal(b.len, 151);
    eh_buf_free(&b);
}

/* ------------------------------------------------------------- escaping */

static void test_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } rows[] = {
        {"", ""},
        {"plain", "plain"},
        {"a\tb", "a\\tb"},
        {"a\nb", "a\\nb"},
        {"a\rb", "a\\rb"},
        {"a\\b", "a\\\\b"},
        {"\\N", "\\\\N"}, /* a literal \N is not NULL */
        {"\\.", "\\\\."}, /* nor the end-of-data marker */
        {"\t\n\r\\", "\\t\\n\\r\\\\"},
        {"\\\\", "\\\\\\\\"},
        {"\b\f\v\x01", "\b\f\v\x01"}, /* COPY reads other control bytes as they are */
        {"h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x82\xac", "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x82\xac"},
        {"{\"k\":\"v\\n\"}", "{\"k\":\"v\\\\n\"}"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        size_t n = strlen(rows[i].in);
        char *out = malloc(2 * n + 1);
        assert_non_null(out);
        size_t m = worker_copy_escape(out, rows[i].in, n);
        out[m] = '\0';
        assert_string_equal(out, rows[i].out);
        free(out);
    }
}

/* COPY text format's reading of one field (what the server does), for round trips. */
static size_t unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        i++;
        assert_true(i < n);
        switch (s[i]) {
        case 't':
            out[o++] = '\t';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        default:
            fail_msg("unexpected escape \\%c", s[i]);
        }
    }
    return o;
}

/* ----------------------------------------------------------------- rows */

static void validate(worker_entry_t *e, const char *line, uint64_t line_no)
{
    char reason[WORKER_REASON_LEN];
    int rc = worker_validate_line(line, strlen(line), e, reason, sizeof(reason));
    if (rc != EH_OK)
        fail_msg("%s: %s", line, reason);
    e->line_no = line_no;
}

static void test_entry_rows(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        uint64_t line_no;
        const char *row;
    } rows[] = {
        {"{\"ts\":1700000000.5,\"level\":30,\"msg\":\"hi\"}", 1,
         JOB "\t1\t2023-11-14 22:13:20.500000+00\tinfo\t\\N\thi\t{}\n"},
        {"{\"time\":\"2026-11-21T10:00:00Z\",\"level\":\"ERROR\",\"msg\":\"a\\tb\\nc\\rd\\\\e\",\"app\":\"s\\tv\","
         "\"path\":\"C:\\\\tmp\",\"note\":\"x\\ty\"}",
         18446744073709551615u,
         JOB "\t18446744073709551615\t2026-11-21 10:00:00.000000+00\terror\ts\\tv\ta\\tb\\nc\\rd\\\\e\t"
             "{\"path\":\"C:\\\\\\\\tmp\",\"note\":\"x\\\\ty\"}\n"},
        /* raw tabs and CRs between JSON tokens are whitespace and get escaped too */
        {"{\"ts\":0,\"level\":\"info\",\"msg\":\"\xc3\xa9\",\"k\"\r:\t1\r}", 42,
         JOB "\t42\t1970-01-01 00:00:00.000000+00\tinfo\t\\N\t\xc3\xa9\t{\"k\"\\r:\\t1}\n"},
        /* empty service and message are empty strings, not NULL */
        {"{\"ts\":0,\"level\":\"warn\",\"msg\":\"\",\"service\":\"\"}", 7,
         JOB "\t7\t1970-01-01 00:00:00.000000+00\twarn\t\t\t{}\n"},
    };
    worker_entry_t e = {0};
    eh_buf_t b = EH_BUF_INIT;
    size_t total = 0;
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        validate(&e, rows[i].line, rows[i].line_no);
        size_t before = b.len;
        assert_int_equal(worker_copy_row_entry(&b, JOB, &e), EH_OK);
        size_t n = b.len - before;
        if (n != strlen(rows[i].row) || memcmp(b.p + before, rows[i].row, n) != 0)
            fail_msg("row %zu:\n  got  %.*s\n  want %s", i, (int)n, b.p + before, rows[i].row);
        total += n;
    }
    /* rows accumulate */
    assert_int_equal(b.len, total);
    worker_entry_clear(&e);
    eh_buf_free(&b);
}

static void test_entry_round_trip(void **state)
{
    (void)state;
    /* every byte that needs escaping, in every text column; unescaped fields equal the entry's */
    const char *line = "{\"ts\":0,\"level\":\"info\",\"msg\":\"\\\\\\t\\n\\r\\\\N end\",\"logger\":\"\\t\\\\\","
                       "\"a\":\"\\\\\\\\\",\"b\":[\"\\n\"]}";
    worker_entry_t e = {0};
    eh_buf_t b = EH_BUF_INIT;
    validate(&e, line, 3);
    assert_int_equal(worker_copy_row_entry(&b, JOB, &e), EH_OK);
    assert_true(b.len > 0 && b.p[b.len - 1] == '\n');
    assert_null(memchr(b.p, '\n', b.len - 1));
    assert_null(memchr(b.p, '\r', b.len));

    const char *fields[7];
    size_t lens[7];
    size_t f = 0;
    const char *start = b.p;
    for (const char *p = b.p; p < b.p + b.len; p++) {
        if (*p == '\t' || *p == '\n') {
            assert_true(f < 7);
            fields[f] = start;
            lens[f++] = (size_t)(p - start);
            start = p + 1;
        }
    }
    assert_int_equal(f, 7);
    char tmp[256];
    size_t n = unescape(fields[4], lens[4], tmp);
    assert_int_equal(n, e.service.len);
    assert_memory_equal(tmp, e.service.p, n);
    n = unescape(fields[5], lens[5], tmp);
    assert_int_equal(n, e.message.len);
    assert_memory_equal(tmp, "\\\t\n\r\\N end", n);
    n = unescape(fields[6], lens[6], tmp);
    assert_int_equal(n, e.attributes.len);
    assert_memory_equal(tmp, e.attributes.p, n);
    worker_entry_clear(&e);
    eh_buf_free(&b);
}

static void test_error_rows(void **state)
{
    (void)state;
    eh_buf_t b = EH_BUF_INIT;
    const char *r1 = "missing field: timestamp";
    const char *r2 = "field level: unknown level \"a\\tb\"\tand\nmore\r";
    assert_int_equal(worker_copy_row_error(&b, JOB, 7, r1, strlen(r1)), EH_OK);
    assert_int_equal(worker_copy_row_error(&b, JOB, 12, r2, strlen(r2)), EH_OK);
    const char *want =
        JOB "\t7\tmissing field: timestamp\n" JOB "\t12\tfield level: unknown level \"a\\\\tb\"\\tand\\nmore\\r\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.p, want, b.len);
    eh_buf_free(&b);
}

static void test_failure_leaves_buffer(void **state)
{
    (void)state;
    /* sizes that cannot be reserved: EH_ERR and the rows already written stay as they were */
    eh_buf_t b = EH_BUF_INIT;
    const char *r1 = "first";
    assert_int_equal(worker_copy_row_error(&b, JOB, 1, r1, strlen(r1)), EH_OK);
    size_t len = b.len;
    char *p = b.p;

    worker_entry_t e = {0};
    validate(&e, "{\"ts\":0,\"level\":\"info\",\"msg\":\"m\"}", 2);
    worker_entry_t huge = e;
    huge.message.len = SIZE_MAX / 2 + 1;
    assert_int_equal(worker_copy_row_entry(&b, JOB, &huge), EH_ERR);
    huge.message.len = SIZE_MAX / 4;
    huge.attributes.len = SIZE_MAX / 4;
    assert_int_equal(worker_copy_row_entry(&b, JOB, &huge), EH_ERR);
    assert_int_equal(worker_copy_row_error(&b, JOB, 3, "x", SIZE_MAX / 2 + 1), EH_ERR);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.p, JOB "\t1\tfirst\n", len);

    /* and the buffer still works */
    assert_int_equal(worker_copy_row_entry(&b, JOB, &e), EH_OK);
    assert_true(b.len > len);
    worker_entry_clear(&e);
    eh_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_buf_append_max),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_entry_rows),
        cmocka_unit_test(test_entry_round_trip),
        cmocka_unit_test(test_error_rows),
        cmocka_unit_test(test_failure_leaves_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
