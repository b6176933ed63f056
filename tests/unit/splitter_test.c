/*
 * splitter_test.c - common/splitter: line numbers, CRLF, the final line,
 * blank lines, the BOM, overlong lines, resuming from a checkpoint, and the
 * same result whatever the chunking of the stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/splitter.h"

/* ------------------------------------------------------------- helpers */

typedef struct {
    uint64_t line_no;
    char *text; /* NUL-terminated copy; NULL when too_long */
    size_t len;
    uint64_t length;
    bool too_long;
    uint64_t end_offset;
} rec_t;

typedef struct {
    rec_t *v;
    size_t n, cap;
    /* zero-copy check: the chunk being fed, and how many lines were slices of it */
    const char *chunk;
    size_t chunk_len;
    size_t sliced;
    size_t stop_after; /* return EH_DECLINED after this many lines (0: never) */
} recs_t;

static int collect(const worker_line_t *line, void *ud)
{
    recs_t *r = ud;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        assert_non_null(r->v);
    }
    rec_t *x = &r->v[r->n++];
    x->line_no = line->line_no;
    x->length = line->length;
    x->too_long = line->too_long;
    x->end_offset = line->end_offset;
    x->len = line->text.len;
    x->text = NULL;
    if (!line->too_long) {
        assert_int_equal(line->length, line->text.len);
        x->text = malloc(line->text.len + 1);
        assert_non_null(x->text);
        if (line->text.len > 0)
            memcpy(x->text, line->text.p, line->text.len);
        x->text[line->text.len] = '\0';
        if (r->chunk != NULL && line->text.p >= r->chunk && line->text.p + line->text.len <= r->chunk + r->chunk_len)
            r->sliced++;
    } else {
        assert_null(line->text.p);
        assert_int_equal(line->text.len, 0);
    }
    if (r->stop_after != 0 && r->n == r->stop_after)
        return EH_DECLINED;
    return EH_OK;
}

static void recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].text);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* Splits data fed in chunks of the given sizes (cycled); sizes NULL: one chunk. */
static void split(const char *data, size_t len, size_t max, const size_t *sizes, size_t nsizes, recs_t *out,
                  uint64_t first_line, uint64_t start_offset)
{
    worker_splitter_t *s = worker_splitter_create(max, first_line, start_offset);
    assert_non_null(s);
    size_t off = 0, k = 0;
    do {
        size_t n = sizes == NULL ? len - off : sizes[k++ % nsizes];
        if (n > len - off)
            n = len - off;
        out->chunk = data + off;
        out->chunk_len = n;
        assert_int_equal(worker_splitter_feed(s, data + off, n, collect, out), EH_OK);
        off += n;
    } while (off < len);
    out->chunk = NULL;
    assert_int_equal(worker_splitter_offset(s), start_offset + len);
    assert_int_equal(worker_splitter_finish(s, collect, out), EH_OK);
    worker_splitter_destroy(s);
}

static void assert_same(const recs_t *a, const recs_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->v[i].line_no, b->v[i].line_no);
        assert_int_equal(a->v[i].length, b->v[i].length);
        assert_int_equal(a->v[i].too_long, b->v[i].too_long);
        assert_int_equal(a->v[i].end_offset, b->v[i].end_offset);
        assert_int_equal(a->v[i].len, b->v[i].len);
        if (a->v[i].text != NULL || b->v[i].text != NULL)
            assert_memory_equal(a->v[i].text, b->v[i].text, a->v[i].len);
    }
}

typedef struct {
    const char *text; /* NULL: too long */
    uint64_t length;
    uint64_t end_offset;
} want_t;

static void assert_lines(const recs_t *r, const want_t *want, size_t n, uint64_t first_line)
{
    if (r->n != n)
        fail_msg("%zu lines, expected %zu", r->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r->v[i].line_no, first_line + i);
        assert_int_equal(r->v[i].end_offset, want[i].end_offset);
        assert_int_equal(r->v[i].length, want[i].length);
        if (want[i].text == NULL) {
            assert_true(r->v[i].too_long);
        } else {
            assert_false(r->v[i].too_long);
            assert_string_equal(r->v[i].text, want[i].text);
        }
    }
}

/* The contract's lines_total: every '\n' ends a line, a non-empty final piece is one more. */
static size_t count_lines(const char *data, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += data[i] == '\n';
    if (len > 0 && data[len - 1] != '\n')
        n++;
    return n;
}

/* Every chunking of data gives what one chunk gives. */
static void assert_chunking_invariant(const char *data, size_t len, size_t max)
{
    recs_t whole = {0};
    split(data, len, max, NULL, 0, &whole, 1, 0);
    assert_int_equal(whole.n, count_lines(data, len));

    static const size_t one[] = {1};
    static const size_t odd[] = {3, 1, 7, 2, 64, 5};
    const size_t *plans[] = {one, odd};
    size_t plan_n[] = {1, EH_ARRAY_LEN(odd)};
    for (size_t p = 0; p < EH_ARRAY_LEN(plans); p++) {
        recs_t r = {0};
        split(data, len, max, plans[p], plan_n[p], &r, 1, 0);
        assert_same(&whole, &r);
        recs_free(&r);
    }
    unsigned seed = 12345;
    for (int round = 0; round < 50; round++) {
        size_t sizes[16];
        for (size_t i = 0; i < EH_ARRAY_LEN(sizes); i++) {
            seed = seed * 1103515245u + 12345u;
            sizes[i] = 1 + (seed >> 16) % 40;
        }
        recs_t r = {0};
        split(data, len, max, sizes, EH_ARRAY_LEN(sizes), &r, 1, 0);
        assert_same(&whole, &r);
        recs_free(&r);
    }
    recs_free(&whole);
}

/* --------------------------------------------------------------- tests */

static void test_basic_lines(void **state)
{
    (void)state;
    static const char data[] = "{\"a\":1}\n\n  \nlast";
    recs_t r = {0};
    split(data, sizeof(data) - 1, 100, NULL, 0, &r, 1, 0);
    static const want_t want[] = {{"{\"a\":1}", 7, 8}, {"", 0, 9}, {"  ", 2, 12}, {"last", 4, 16}};
    assert_lines(&r, want, EH_ARRAY_LEN(want), 1);
    recs_free(&r);
    assert_chunking_invariant(data, sizeof(data) - 1, 100);
}

static void test_crlf(void **state)
{
    (void)state;
    /* one '\r' before '\n' goes; a lone '\r' elsewhere stays; "\r\r\n" keeps one */
    static const char data[] = "a\r\nb\rc\r\n\r\nd\r\r\ne\r";
    recs_t r = {0};
    split(data, sizeof(data) - 1, 100, NULL, 0, &r, 1, 0);
    static const want_t want[] = {{"a", 1, 3}, {"b\rc", 3, 8}, {"", 0, 10}, {"d\r", 2, 14}, {"e", 1, 16}};
    assert_lines(&r, want, EH_ARRAY_LEN(want), 1);
    recs_free(&r);
    assert_chunking_invariant(data, sizeof(data) - 1, 100);
}

static void test_final_piece(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        size_t lines;
    } rows[] = {
        {"", 0}, {"\n", 1}, {"a", 1}, {"a\n", 1}, {"a\nb", 2}, {"\n\n", 2}, {"\r", 1}, {"a\n\r", 2}, {" ", 1},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        recs_t r = {0};
        size_t len = strlen(rows[i].data);
        split(rows[i].data, len, 100, NULL, 0, &r, 1, 0);
        if (r.n != rows[i].lines)
            fail_msg("\"%s\": %zu lines, expected %zu", rows[i].data, r.n, rows[i].lines);
        assert_int_equal(r.n, count_lines(rows[i].data, len));
        if (r.n > 0)
            assert_int_equal(r.v[r.n - 1].end_offset, len);
        recs_free(&r);
    }
    /* finish twice, or on an empty stream, emits nothing more */
    worker_splitter_t *s = worker_splitter_create(10, 1, 0);
    assert_non_null(s);
    recs_t r = {0};
    assert_int_equal(worker_splitter_feed(s, "x", 1, collect, &r), EH_OK);
    assert_int_equal(worker_splitter_finish(s, collect, &r), EH_OK);
    assert_int_equal(worker_splitter_finish(s, collect, &r), EH_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(worker_splitter_next_line_no(s), 2);
    worker_splitter_destroy(s);
    recs_free(&r);
}

static void test_bom(void **state)
{
    (void)state;
    /* skipped at offset 0 only: not on line 2, and not when resuming past the start */
    static const char data[] = "\xEF\xBB\xBF{\"a\":1}\n\xEF\xBB\xBFx\n";
    recs_t r = {0};
    split(data, sizeof(data) - 1, 100, NULL, 0, &r, 1, 0);
    static const want_t want[] = {{"{\"a\":1}", 7, 11}, {"\xEF\xBB\xBFx", 4, 16}};
    assert_lines(&r, want, EH_ARRAY_LEN(want), 1);
    recs_free(&r);
    assert_chunking_invariant(data, sizeof(data) - 1, 100);

    /* a stream fed from offset 11 (a resumed job) never strips one */
    recs_t tail = {0};
    split(data + 11, sizeof(data) - 1 - 11, 100, NULL, 0, &tail, 2, 11);
    static const want_t want_tail[] = {{"\xEF\xBB\xBFx", 4, 16}};
    assert_lines(&tail, want_tail, 1, 2);
    recs_free(&tail);

    /* a BOM-only line is blank; a partial BOM is kept */
    static const char only[] = "\xEF\xBB\xBF\r\n";
    split(only, sizeof(only) - 1, 100, NULL, 0, &r, 1, 0);
    static const want_t want_only[] = {{"", 0, 5}};
    assert_lines(&r, want_only, 1, 1);
    recs_free(&r);
    static const char partial[] = "\xEF\xBBx\n";
    split(partial, sizeof(partial) - 1, 100, NULL, 0, &r, 1, 0);
    static const want_t want_partial[] = {{"\xEF\xBBx", 3, 4}};
    assert_lines(&r, want_partial, 1, 1);
    recs_free(&r);
    assert_chunking_invariant(only, sizeof(only) - 1, 100);
    assert_chunking_invariant(partial, sizeof(partial) - 1, 100);
}

static void test_overlong_lines(void **state)
{
    (void)state;
    /* max 8: exactly 8 fits, 8 + CRLF fits, 9 is too long; later lines keep coming with the right numbers */
    static const char data[] = "12345678\n"                                   /* 1: fits */
                               "12345678\r\n"                                 /* 2: fits, CR not counted */
                               "123456789\n"                                  /* 3: too long by one */
                               "short\n"                                      /* 4 */
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n" /* 5: 40 + CR */
                               "after\n"                                      /* 6 */
                               "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy";              /* 7: final, 30, no newline */
    recs_t r = {0};
    split(data, sizeof(data) - 1, 8, NULL, 0, &r, 1, 0);
    static const want_t want[] = {
        {"12345678", 8, 9}, {"12345678", 8, 19}, {NULL, 9, 29},   {"short", 5, 35},
        {NULL, 40, 77},     {"after", 5, 83},    {NULL, 30, 113},
    };
    assert_lines(&r, want, EH_ARRAY_LEN(want), 1);
    recs_free(&r);
    assert_chunking_invariant(data, sizeof(data) - 1, 8);
}

static void test_overlong_is_not_buffered(void **state)
{
    (void)state;
    /* 10 MB of one line through a 1 KiB splitter, in 4 KiB chunks: reported once, with its length */
    size_t big = 10u << 20;
    char *chunk = malloc(4096);
    assert_non_null(chunk);
    memset(chunk, 'z', 4096);
    worker_splitter_t *s = worker_splitter_create(1024, 1, 0);
    assert_non_null(s);
    recs_t r = {0};
    for (size_t off = 0; off < big; off += 4096)
        assert_int_equal(worker_splitter_feed(s, chunk, 4096, collect, &r), EH_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(worker_splitter_feed(s, "\nok\n", 4, collect, &r), EH_OK);
    assert_int_equal(worker_splitter_finish(s, collect, &r), EH_OK);
    static const want_t want[] = {{NULL, 10u << 20, (10u << 20) + 1}, {"ok", 2, (10u << 20) + 4}};
    assert_lines(&r, want, EH_ARRAY_LEN(want), 1);
    worker_splitter_destroy(s);
    recs_free(&r);
    free(chunk);
}

static void test_zero_copy_within_a_chunk(void **state)
{
    (void)state;
    static const char data[] = "aaa\nbbb\nccc\nddd";
    recs_t r = {0};
    split(data, sizeof(data) - 1, 100, NULL, 0, &r, 1, 0);
    /* the three newline-terminated lines are slices of the chunk; the final one was buffered */
    assert_int_equal(r.n, 4);
    assert_int_equal(r.sliced, 3);
    recs_free(&r);
}

static void test_resume_from_checkpoint(void **state)
{
    (void)state;
    static const char data[] = "\xEF\xBB\xBF"
                               "l1\r\n\nl3 is longer than the limit\nl4\n  \nl6";
    recs_t full = {0};
    split(data, sizeof(data) - 1, 10, NULL, 0, &full, 1, 0);
    assert_int_equal(full.n, 6);
    /* resuming after any line, from its end_offset, gives the rest exactly */
    for (size_t k = 0; k < full.n; k++) {
        uint64_t off = full.v[k].end_offset;
        recs_t rest = {0};
        static const size_t sizes[] = {2, 5};
        split(data + off, sizeof(data) - 1 - off, 10, sizes, 2, &rest, full.v[k].line_no + 1, off);
        assert_int_equal(rest.n, full.n - k - 1);
        recs_t tail = {full.v + k + 1, full.n - k - 1, 0, NULL, 0, 0, 0};
        assert_same(&tail, &rest);
        recs_free(&rest);
    }
    recs_free(&full);
}

static void test_callback_stops(void **state)
{
    (void)state;
    static const char data[] = "a\nb\nc\nd\n";
    worker_splitter_t *s = worker_splitter_create(10, 1, 0);
    assert_non_null(s);
    recs_t r = {.stop_after = 2};
    assert_int_equal(worker_splitter_feed(s, data, sizeof(data) - 1, collect, &r), EH_DECLINED);
    assert_int_equal(r.n, 2);
    worker_splitter_destroy(s);
    recs_free(&r);

    /* a stop from a buffered line, and from finish */
    s = worker_splitter_create(10, 1, 0);
    assert_non_null(s);
    r = (recs_t){.stop_after = 1};
    assert_int_equal(worker_splitter_feed(s, "a", 1, collect, &r), EH_OK);
    assert_int_equal(worker_splitter_feed(s, "b\nc\n", 4, collect, &r), EH_DECLINED);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.v[0].text, "ab");
    worker_splitter_destroy(s);
    recs_free(&r);

    s = worker_splitter_create(10, 1, 0);
    assert_non_null(s);
    r = (recs_t){.stop_after = 1};
    assert_int_equal(worker_splitter_feed(s, "tail", 4, collect, &r), EH_OK);
    assert_int_equal(worker_splitter_finish(s, collect, &r), EH_DECLINED);
    worker_splitter_destroy(s);
    recs_free(&r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(worker_splitter_create(0, 1, 0));
    assert_null(worker_splitter_create(10, 0, 0));
    assert_null(worker_splitter_create(SIZE_MAX, 1, 0));
    worker_splitter_destroy(NULL);
}

static void test_random_streams(void **state)
{
    (void)state;
    /* random bytes from a small alphabet rich in '\n', '\r' and BOM bytes, various limits */
    static const char alphabet[] = "ab\n\n\r \xEF\xBB\xBF{}";
    unsigned seed = 777;
    for (int round = 0; round < 200; round++) {
        char data[300];
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof(data);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            data[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        if (round % 3 == 0 && len >= 3)
            memcpy(data, "\xEF\xBB\xBF", 3);
        size_t max = 1 + (size_t)round % 12;
        assert_chunking_invariant(data, len, max);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_lines),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_final_piece),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_overlong_lines),
        cmocka_unit_test(test_overlong_is_not_buffered),
        cmocka_unit_test(test_zero_copy_within_a_chunk),
        cmocka_unit_test(test_resume_from_checkpoint),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_random_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
