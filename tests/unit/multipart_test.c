/*
 * multipart_test.c - api/multipart.c: the parts, their data and the
 * verdict do not depend on where the body is cut (every two-chunk split,
 * one byte at a time); delimiter look-alikes are data; quoting, folding and
 * case in part headers; the limits; the errors and their reasons; the
 * boundary of a Content-Type.
 *
 * Each run writes what the callbacks saw to a log: "B name|filename|type\n"
 * at a part's start, its data bytes, "\nE size\n" at its end, and
 * "=OK", "=DECLINED:reason" or "=ERR" from api_multipart_finish. Every
 * chunk is a fresh allocation of its exact size, so that AddressSanitizer
 * sees a read past it, and data not pointing into the chunk must be shorter
 * than the delimiter (the held-back bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/multipart.h"

typedef struct rec {
    char *log;
    size_t len, cap;
    const char *chunk; /* the chunk being fed */
    size_t chunk_len;
    size_t dlen;
    int stop_at; /* part_begin of this index returns EH_ERR; -1: never */
} rec_t;

static void put(rec_t *r, const char *s, size_t n)
{
    assert_true(r->len + n < r->cap);
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = '\0';
}

static void puts_(rec_t *r, const char *s)
{
    put(r, s, strlen(s));
}

static int on_begin(void *ud, const api_multipart_part_t *part)
{
    rec_t *r = ud;
    char line[512];
    snprintf(line, sizeof(line), "B %s|%s|%s\n", part->name, part->filename ? part->filename : "-",
             part->content_type ? part->content_type : "-");
    puts_(r, line);
    assert_int_equal(part->offset, 0);
    return (int)part->index == r->stop_at ? EH_ERR : EH_OK;
}

static int on_data(void *ud, const api_multipart_part_t *part, const char *data, size_t len)
{
    rec_t *r = ud;
    (void)part;
    assert_true(len > 0);
    bool inside = data >= r->chunk && data + len <= r->chunk + r->chunk_len;
    if (!inside)
        assert_true(len < r->dlen); /* only held-back bytes come from the parser's buffer */
    put(r, data, len);
    return EH_OK;
}

static int on_end(void *ud, const api_multipart_part_t *part)
{
    rec_t *r = ud;
    char line[64];
    snprintf(line, sizeof(line), "\nE %llu\n", (unsigned long long)part->offset);
    puts_(r, line);
    return EH_OK;
}

static const api_multipart_callbacks_t CB = {on_begin, on_data, on_end};

/* Parses body cut at the offsets cuts[0..ncuts) (ascending); returns the log (free it). */
static char *run_cuts(const char *boundary, const char *body, size_t len, const size_t *cuts, size_t ncuts, int stop_at)
{
    rec_t r = {.cap = 2 * len + 4096, .dlen = 4 + strlen(boundary), .stop_at = stop_at};
    r.log = malloc(r.cap);
    assert_non_null(r.log);
    r.log[0] = '\0';
    api_multipart_t mp;
    assert_int_equal(api_multipart_init(&mp, boundary, strlen(boundary), &CB, &r), EH_OK);
    size_t from = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : len;
        char *chunk = malloc(to - from + 1);
        assert_non_null(chunk);
        memcpy(chunk, body + from, to - from);
        r.chunk = chunk;
        r.chunk_len = to - from;
        int rc = api_multipart_feed(&mp, chunk, to - from);
        free(chunk);
        from = to;
        if (rc != EH_OK)
            break;
    }
    int rc = api_multipart_finish(&mp);
    if (rc == EH_OK)
        puts_(&r, "=OK");
    else if (rc == EH_DECLINED) {
        puts_(&r, "=DECLINED:");
        puts_(&r, api_multipart_reason(&mp));
    } else
        puts_(&r, "=ERR");
    api_multipart_free(&mp);
    api_multipart_free(&mp); /* twice is harmless */
    return r.log;
}

static char *run_whole(const char *boundary, const char *body, size_t len)
{
    return run_cuts(boundary, body, len, NULL, 0, -1);
}

/* The log of body fed whole, checked to be the same for every two-chunk split, bytewise and in 7-byte steps. */
static char *run_all(const char *boundary, const char *body, size_t len)
{
    char *whole = run_whole(boundary, body, len);
    for (size_t cut = 0; cut <= len; cut++) {
        char *split = run_cuts(boundary, body, len, &cut, 1, -1);
        if (strcmp(split, whole) != 0)
            fail_msg("split at %zu:\n%s\n---- whole:\n%s", cut, split, whole);
        free(split);
    }
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t step = 1; step <= 7; step += 6) {
        size_t n = 0;
        for (size_t at = step; at < len; at += step)
            cuts[n++] = at;
        char *split = run_cuts(boundary, body, len, cuts, n, -1);
        if (strcmp(split, whole) != 0)
            fail_msg("in %zu-byte chunks:\n%s\n---- whole:\n%s", step, split, whole);
        free(split);
    }
    free(cuts);
    return whole;
}

static void expect(const char *boundary, const char *body, const char *want)
{
    char *got = run_all(boundary, body, strlen(body));
    assert_string_equal(got, want);
    free(got);
}

static void test_fields_file_preamble_epilogue(void **state)
{
    (void)state;
    expect("bound",
           "This is the preamble.\r\n--boun is not\r\n"
           "--bound\r\n"
           "Content-Disposition: form-data; name=\"title\"\r\n"
           "\r\n"
           "hello\r\n"
           "--bound\r\n"
           "Content-Disposition: form-data; name=\"file\"; filename=\"app.log\"\r\n"
           "Content-Type: application/x-ndjson\r\n"
           "\r\n"
           "{\"a\":1}\n{\"b\":2}\n\r\n"
           "--bound\r\n"
           "Content-Disposition: form-data; name=\"after\"\r\n"
           "\r\n"
           "x\r\n"
           "--bound--\r\n"
           "epilogue, ignored\r\n--bound\r\ngarbage",
           "B title|-|-\nhello\nE 5\n"
           "B file|app.log|application/x-ndjson\n{\"a\":1}\n{\"b\":2}\n\nE 16\n"
           "B after|-|-\nx\nE 1\n"
           "=OK");
}

static void test_delimiter_lookalikes_are_data(void **state)
{
    (void)state;
    /* Every prefix of "\r\n--bound" but the whole; "--bound" after a bare CR or LF, or mid-line. */
    const char *data = "a\r\r\nb\r\n-c\r\n--d\r\n--b\r\n--boune\r\n--boun\n--bound\r--bound x--bound\r\n-bound\r";
    char body[512], want[512];
    snprintf(body, sizeof(body),
             "--bound\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n%s\r\n--bound--", data);
    snprintf(want, sizeof(want), "B file|f|-\n%s\nE %zu\n=OK", data, strlen(data));
    expect("bound", body, want);
    /* The data ends with a prefix of the delimiter, right before the real one. */
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=x\r\n\r\n\r\n--boun\r\n--bound--",
           "B x|-|-\n\r\n--boun\nE 8\n=OK");
}

static void test_empty_parts_and_no_parts(void **state)
{
    (void)state;
    expect("bound",
           "--bound\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--bound\r\n"
           "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n\r\n--bound--\r\n",
           "B empty|-|-\n\nE 0\nB file||-\n\nE 0\n=OK");
    expect("bound", "--bound--", "=OK");
    expect("bound", "preamble\r\n--bound--\r\n", "=OK");
}

static void test_padding_and_case(void **state)
{
    (void)state;
    expect("b-1",
           "--b-1 \t \r\n"
           "content-disposition:Form-Data ; NAME=plain;FileName = \"x y.txt\" ; filename*=UTF-8''x%20y.txt\r\n"
           "CONTENT-TYPE:   text/plain; charset=utf-8  \r\n"
           "X-Other: ignored\r\n"
           "\r\n"
           "data\r\n--b-1\t\r\n"
           "Content-Disposition: form-data;\r\n name=\"folded\"\r\n\r\n"
           "y\r\n--b-1--  trailing",
           "B plain|x y.txt|text/plain; charset=utf-8\ndata\nE 4\nB folded|-|-\ny\nE 1\n=OK");
}

static void test_quoted_strings(void **state)
{
    (void)state;
    expect("bound",
           "--bound\r\n"
           "Content-Disposition: form-data; name=\"a\\\"b;c\"; filename=\"C:\\\\dir\\\\f;x=\\\"y\\\".txt\"\r\n"
           "\r\n"
           "1\r\n--bound--",
           "B a\"b;c|C:\\dir\\f;x=\"y\".txt|-\n1\nE 1\n=OK");
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n1\r\n--bound--",
           "B |-|-\n1\nE 1\n=OK");
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=\"open\r\n\r\n1\r\n--bound--",
           "=DECLINED:malformed Content-Disposition");
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=\"open\\\"\r\n\r\n1\r\n--bound--",
           "=DECLINED:malformed Content-Disposition");
}

static void test_truncated_bodies(void **state)
{
    (void)state;
    const char *why = "=DECLINED:body ends before the closing delimiter";
    expect("bound", "", why);
    expect("bound", "no delimiter at all", why);
    expect("bound", "--bound", why);
    expect("bound", "--bound-", why);
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=a\r\n", why);
    /* A part cut short: its data so far was given, but it gets no end. */
    const char *cut_short = "--bound\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--bou";
    char *got = run_all("bound", cut_short, strlen(cut_short));
    assert_string_equal(got, "B a|-|-\nabc=DECLINED:body ends before the closing delimiter");
    free(got);
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--bound\r\n",
           "B a|-|-\nabc\nE 3\n=DECLINED:body ends before the closing delimiter");
}

static void test_malformed(void **state)
{
    (void)state;
    struct {
        const char *body, *reason;
    } cases[] = {
        {"--boundX\r\n", "malformed delimiter line"},
        {"--bound -\r\n", "malformed delimiter line"},
        {"--bound\rX", "malformed delimiter line"},
        {"--bound-X", "malformed delimiter line"},
        {"--bound\r\n\r\nx\r\n--bound--", "part without Content-Disposition"},
        {"--bound\r\nContent-Type: text/plain\r\n\r\nx\r\n--bound--", "part without Content-Disposition"},
        {"--bound\r\nContent-Disposition: form-data\r\n\r\nx\r\n--bound--", "part without a name"},
        {"--bound\r\nContent-Disposition: attachment; name=a\r\n\r\n--bound--", "part is not form-data"},
        {"--bound\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\n",
         "repeated Content-Disposition"},
        {"--bound\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n",
         "repeated parameter in Content-Disposition"},
        {"--bound\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a\r\nContent-type: b\r\n\r\n",
         "repeated Content-Type"},
        {"--bound\r\nContent-Disposition: form-data; name=\r\n\r\n", "malformed Content-Disposition"},
        {"--bound\r\nContent-Disposition: form-data; name\r\n\r\n", "malformed Content-Disposition"},
        {"--bound\r\nContent-Disposition: form-data; name=a b\r\n\r\n", "malformed Content-Disposition"},
        {"--bound\r\nContent-Disposition: form-data;; name=a\r\n\r\n", "malformed Content-Disposition"},
        {"--bound\r\nContent-Disposition form-data; name=a\r\n\r\n", "malformed part header"},
        {"--bound\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n", "bare CR or LF in part headers"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "=DECLINED:%s", cases[i].reason);
        expect("bound", cases[i].body, want);
    }
    /* A NUL inside the header block (strlen cannot carry it). */
    static const char nul[] = "--bound\r\nContent-Disposition: form-data; name=a\0b\r\n\r\nx\r\n--bound--";
    char *got = run_all("bound", nul, sizeof(nul) - 1);
    assert_string_equal(got, "=DECLINED:NUL byte in part headers");
    free(got);
    /* After a part began, its data was given. */
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--bound!\r\n",
           "B a|-|-\nx=DECLINED:malformed delimiter line");
    /* A trailing ';' in the parameters is tolerated. */
    expect("bound", "--bound\r\nContent-Disposition: form-data; name=a;\r\n\r\nx\r\n--bound--", "B a|-|-\nx\nE 1\n=OK");
}

/* n parts named p0, p1, ... each holding "v". */
static char *many_parts(unsigned n)
{
    size_t cap = 64 + (size_t)n * 80;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len +=
            (size_t)snprintf(b + len, cap - len, "--bound\r\nContent-Disposition: form-data; name=p%u\r\n\r\nv\r\n", i);
    snprintf(b + len, cap - len, "--bound--\r\n");
    return b;
}

static void test_part_limit(void **state)
{
    (void)state;
    char *body = many_parts(API_MULTIPART_PARTS_MAX);
    char *got = run_whole("bound", body, strlen(body));
    assert_true(strstr(got, "B p63|-|-\nv\nE 1\n=OK") != NULL);
    free(got);
    free(body);
    body = many_parts(API_MULTIPART_PARTS_MAX + 1);
    got = run_whole("bound", body, strlen(body));
    assert_true(strstr(got, "B p63|-|-\nv\nE 1\n=DECLINED:too many parts") != NULL);
    free(got);
    free(body);
}

/* A part whose header block (empty line included) is exactly size bytes. */
static char *header_of(size_t size)
{
    const char *head = "--bound\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ";
    size_t fixed = strlen(head) - strlen("--bound\r\n") + strlen("\r\n\r\n");
    char *b = malloc(size + 64);
    assert_non_null(b);
    size_t pad = size - fixed;
    strcpy(b, head);
    memset(b + strlen(head), 'p', pad);
    strcpy(b + strlen(head) + pad, "\r\n\r\nx\r\n--bound--");
    return b;
}

static void test_header_limit(void **state)
{
    (void)state;
    char *body = header_of(API_MULTIPART_HEADER_MAX);
    char *got = run_whole("bound", body, strlen(body));
    assert_string_equal(got, "B a|-|-\nx\nE 1\n=OK");
    free(got);
    size_t cut = strlen(body) / 2;
    got = run_cuts("bound", body, strlen(body), &cut, 1, -1);
    assert_string_equal(got, "B a|-|-\nx\nE 1\n=OK");
    free(got);
    free(body);
    body = header_of(API_MULTIPART_HEADER_MAX + 1);
    got = run_whole("bound", body, strlen(body));
    assert_string_equal(got, "=DECLINED:part headers too long");
    free(got);
    free(body);
    /* No end of the header block at all. */
    size_t n = 3 * API_MULTIPART_HEADER_MAX;
    body = malloc(n + 1);
    assert_non_null(body);
    memcpy(body, "--bound\r\n", 9);
    memset(body + 9, 'h', n - 9);
    body[n] = '\0';
    got = run_whole("bound", body, n);
    assert_string_equal(got, "=DECLINED:part headers too long");
    free(got);
    free(body);
}

static void test_callback_stops(void **state)
{
    (void)state;
    const char *body = "--bound\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--bound\r\n"
                       "Content-Disposition: form-data; name=b\r\n\r\n2\r\n--bound--";
    char *got = run_cuts("bound", body, strlen(body), NULL, 0, 1);
    assert_string_equal(got, "B a|-|-\n1\nE 1\nB b|-|-\n=ERR");
    free(got);
    /* Once stopped, feeding does nothing and says so again. */
    rec_t r = {.cap = 4096, .dlen = 9, .stop_at = 0};
    r.log = malloc(r.cap);
    assert_non_null(r.log);
    r.log[0] = '\0';
    api_multipart_t mp;
    assert_int_equal(api_multipart_init(&mp, "bound", 5, &CB, &r), EH_OK);
    r.chunk = body;
    r.chunk_len = strlen(body);
    assert_int_equal(api_multipart_feed(&mp, body, strlen(body)), EH_ERR);
    assert_int_equal(api_multipart_feed(&mp, body, strlen(body)), EH_ERR);
    assert_int_equal(api_multipart_finish(&mp), EH_ERR);
    assert_string_equal(r.log, "B a|-|-\n");
    assert_non_null(api_multipart_reason(&mp));
    api_multipart_free(&mp);
    free(r.log);
}

/* A 1 MiB file part in 4 KiB chunks, with CR and delimiter prefixes straddling chunk ends: zero copy but a few bytes. */
static void test_large_part_zero_copy(void **state)
{
    (void)state;
    const char *head = "--bound\r\nContent-Disposition: form-data; name=file; filename=big\r\n\r\n";
    size_t hl = strlen(head), n = 1u << 20;
    char *body = malloc(hl + n + 32);
    assert_non_null(body);
    memcpy(body, head, hl);
    for (size_t i = 0; i < n; i++)
        body[hl + i] = "line\r\n--boun"[i % 12];
    strcpy(body + hl + n, "\r\n--bound--\r\n");
    size_t len = strlen(body);
    size_t ncuts = len / 4096;
    size_t *cuts = malloc(ncuts * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t k = 0; k < ncuts; k++)
        cuts[k] = (k + 1) * 4096;
    char *got = run_cuts("bound", body, len, cuts, ncuts, -1);
    char *whole = run_whole("bound", body, len);
    assert_string_equal(got, whole);
    assert_true(strncmp(got, "B file|big|-\n", 13) == 0);
    assert_memory_equal(got + 13, body + hl, n);
    assert_true(strstr(got + 13 + n, "\nE 1048576\n=OK") == got + 13 + n);
    free(whole);
    free(got);
    free(cuts);
    free(body);
}

static void test_init(void **state)
{
    (void)state;
    api_multipart_t mp;
    char b71[72];
    memset(b71, 'a', 71);
    b71[71] = '\0';
    assert_int_equal(api_multipart_init(&mp, "", 0, &CB, NULL), EH_DECLINED);
    assert_int_equal(api_multipart_init(&mp, b71, 71, &CB, NULL), EH_DECLINED);
    assert_int_equal(api_multipart_init(&mp, "a\rb", 3, &CB, NULL), EH_DECLINED);
    assert_int_equal(api_multipart_init(&mp, "ab ", 3, &CB, NULL), EH_DECLINED);
    api_multipart_free(&mp);
    api_multipart_free(NULL);
    assert_int_equal(api_multipart_init(&mp, b71, 70, NULL, NULL), EH_OK);
    assert_int_equal(api_multipart_feed(&mp, NULL, 0), EH_OK);
    assert_null(api_multipart_reason(&mp));
    api_multipart_free(&mp);
    /* A 70-character boundary with spaces and every other allowed character; no callbacks. */
    const char *b = "'()+_,-./:=? 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU";
    assert_int_equal(strlen(b), 70);
    char body[256];
    snprintf(body, sizeof(body), "--%s\r\nContent-Disposition: form-data; name=a\r\n\r\nz\r\n--%s--", b, b);
    expect(b, body, "B a|-|-\nz\nE 1\n=OK");
}

static void test_boundary_of_content_type(void **state)
{
    (void)state;
    struct {
        const char *ct, *want; /* want NULL: declined */
    } cases[] = {
        {"multipart/form-data; boundary=abc", "abc"},
        {"multipart/form-data;boundary=abc;charset=utf-8", "abc"},
        {"multipart/form-data; BOUNDARY = abc ", "abc"},
        {"multipart/form-data; boundary=\"a b:c\"", "a b:c"},
        {"multipart/form-data; boundary=\"a\\bc\"", "abc"},
        {"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
         "----WebKitFormBoundary7MA4YWxkTrZu0gW"},
        {"multipart/form-data; charset=\"x;boundary=evil\"; boundary=good", "good"},
        {"multipart/form-data; xboundary=no; boundary=yes", "yes"},
        {"multipart/form-data; boundary=a=b", "a=b"},
        {"multipart/form-data", NULL},
        {"multipart/form-data; xboundary=no", NULL},
        {"multipart/form-data; boundary=a; boundary=b", NULL},
        {"multipart/form-data; boundary=", NULL},
        {"multipart/form-data; boundary=\"\"", NULL},
        {"multipart/form-data; boundary=\"abc", NULL},
        {"multipart/form-data; boundary=\"abc \"", NULL},
        {"multipart/form-data; boundary=a@b", NULL},
        {"multipart/form-data; boundary=\"a\\\"b\"", NULL},
        {"multipart/form-data; boundary=abc junk", NULL},
        {"multipart/form-data; charset=\"unterminated; boundary=abc", NULL},
        {"multipart/form-data; boundary=12345678901234567890123456789012345678901234567890123456789012345678901", NULL},
        {"multipart/form-data; boundary=1234567890123456789012345678901234567890123456789012345678901234567890",
         "1234567890123456789012345678901234567890123456789012345678901234567890"},
    };
    char none[API_MULTIPART_BOUNDARY_MAX + 1];
    assert_int_equal(api_multipart_boundary(NULL, none), EH_DECLINED);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[API_MULTIPART_BOUNDARY_MAX + 1];
        int rc = api_multipart_boundary(cases[i].ct, out);
        if (cases[i].want == NULL) {
            if (rc != EH_DECLINED)
                fail_msg("accepted: %s", cases[i].ct);
        } else {
            if (rc != EH_OK)
                fail_msg("declined: %s", cases[i].ct);
            assert_string_equal(out, cases[i].want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_file_preamble_epilogue),
        cmocka_unit_test(test_delimiter_lookalikes_are_data),
        cmocka_unit_test(test_empty_parts_and_no_parts),
        cmocka_unit_test(test_padding_and_case),
        cmocka_unit_test(test_quoted_strings),
        cmocka_unit_test(test_truncated_bodies),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_part_limit),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_large_part_zero_copy),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_boundary_of_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
