/*
 * multipart_fuzz.c - libFuzzer harness for the multipart/form-data parser
 * (api/multipart.c) that the upload path feeds the request body to.
 *
 * Input: byte 0 picks the boundary (low 2 bits) and the part a stopping
 * callback refuses (next 3 bits); bytes 1..4 are two cut offsets (16 bits
 * each); the rest is the body. For every input:
 * - the parts (name, filename, content type), their data, their ends and
 *   the verdict with its reason are the same whether the body is fed whole,
 *   cut at the two offsets, in chunks of 1..64 bytes drawn from the body,
 *   or (short bodies) one byte at a time;
 * - every chunk is its own allocation of its exact size (AddressSanitizer
 *   sees any read past it), and data not pointing into the chunk is shorter
 *   than the delimiter (only held-back bytes are copied);
 * - callbacks come in order (begin, data of that part, end; indexes count
 *   up; offsets add up), never after the parser stopped;
 * - a callback that refuses part k stops the parser right there: the log is
 *   the whole run's up to that begin, and the verdict is EH_ERR;
 * - api_multipart_boundary on the body as a Content-Type value yields a
 *   boundary that init accepts, or declines.
 * Any disagreement aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const BOUNDARIES[] = {
    "b",
    "bound",
    "----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "0123456789012345678901234567890123456789012345678901234567890123456789",
};

typedef struct rec {
    char *log;
    size_t len, cap;
    const char *chunk; /* the chunk being fed */
    size_t chunk_len;
    size_t dlen;
    int stop_at; /* part_begin of this index refuses; -1: never */
    bool in_part, stopped;
    unsigned next_index;
    uint64_t bytes;                                  /* of the current part */
    size_t after_begin[API_MULTIPART_PARTS_MAX + 1]; /* log length after each part's begin record */
} rec_t;

static void die(const char *what)
{
    fprintf(stderr, "multipart_fuzz: %s\n", what);
    abort();
}

static void put(rec_t *r, const void *s, size_t n)
{
    if (r->len + n > r->cap)
        die("log overflow");
    memcpy(r->log + r->len, s, n);
    r->len += n;
}

/* A string with its length first (NULL as length SIZE_MAX), so that no two logs are confused. */
static void put_str(rec_t *r, const char *s)
{
    size_t n = s != NULL ? strlen(s) : SIZE_MAX;
    put(r, &n, sizeof(n));
    if (s != NULL)
        put(r, s, n);
}

static int on_begin(void *ud, const api_multipart_part_t *part)
{
    rec_t *r = ud;
    if (r->stopped || r->in_part || part->index != r->next_index || part->name == NULL || part->offset != 0)
        die("part_begin out of order");
    put(r, "B", 1);
    put_str(r, part->name);
    put_str(r, part->filename);
    put_str(r, part->content_type);
    r->after_begin[part->index] = r->len;
    r->in_part = true;
    r->bytes = 0;
    r->next_index++;
    if ((int)part->index == r->stop_at) {
        r->stopped = true;
        return EH_ERR;
    }
    return EH_OK;
}

static int on_data(void *ud, const api_multipart_part_t *part, const char *data, size_t len)
{
    rec_t *r = ud;
    if (r->stopped || !r->in_part || len == 0 || part->offset != r->bytes)
        die("part_data out of order");
    bool inside = data >= r->chunk && data + len <= r->chunk + r->chunk_len;
    if (!inside && len >= r->dlen)
        die("more than the held-back bytes copied");
    put(r, data, len); /* consecutive data calls of one part merge: the log does not depend on the cuts */
    r->bytes += len;
    return EH_OK;
}

static int on_end(void *ud, const api_multipart_part_t *part)
{
    rec_t *r = ud;
    if (r->stopped || !r->in_part || part->offset != r->bytes)
        die("part_end out of order");
    put(r, "E", 1);
    put(r, &part->offset, sizeof(part->offset));
    r->in_part = false;
    return EH_OK;
}

static const api_multipart_callbacks_t CB = {on_begin, on_data, on_end};

/* Parses body in chunks of sizes[0..n) (the rest in one); the log ends with the verdict and reason. */
static void run(rec_t *r, const char *boundary, const char *body, size_t size, const size_t *sizes, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->cap = 2 * size + 64 * 128 + 256;
    r->log = malloc(r->cap);
    if (r->log == NULL)
        die("out of memory");
    r->dlen = 4 + strlen(boundary);
    r->stop_at = -1;
    api_multipart_t mp;
    if (api_multipart_init(&mp, boundary, strlen(boundary), &CB, r) != EH_OK)
        die("init refused a valid boundary");
    int rc = EH_OK;
    for (size_t off = 0, k = 0; off < size && rc == EH_OK; k++) {
        size_t len = k < n && sizes[k] < size - off ? sizes[k] : size - off;
        char *chunk = malloc(len);
        if (chunk == NULL)
            die("out of memory");
        memcpy(chunk, body + off, len);
        r->chunk = chunk;
        r->chunk_len = len;
        rc = api_multipart_feed(&mp, chunk, len);
        free(chunk);
        off += len;
    }
    int fin = api_multipart_finish(&mp);
    if (rc != EH_OK && fin != rc)
        die("finish forgot the stop");
    if (api_multipart_feed(&mp, "x", 1) != (fin == EH_OK ? EH_OK : fin))
        die("a fed parser changed its verdict");
    const char *why = api_multipart_reason(&mp);
    if ((fin == EH_OK) != (why == NULL))
        die("a reason without an error, or an error without one");
    put(r, "=", 1);
    put(r, &fin, sizeof(fin));
    put_str(r, why);
    api_multipart_free(&mp);
}

static void same(const rec_t *a, const rec_t *b, const char *what)
{
    if (a->len != b->len || memcmp(a->log, b->log, a->len) != 0)
        die(what);
}

/* The stopping run: the whole run's log up to part k's begin, then EH_ERR. */
static void check_stop(const rec_t *whole, const char *boundary, const char *body, size_t size, int k)
{
    if ((unsigned)k >= whole->next_index)
        return;
    rec_t r;
    memset(&r, 0, sizeof(r));
    r.cap = whole->cap;
    r.log = malloc(r.cap);
    if (r.log == NULL)
        die("out of memory");
    r.dlen = whole->dlen;
    r.stop_at = k;
    api_multipart_t mp;
    if (api_multipart_init(&mp, boundary, strlen(boundary), &CB, &r) != EH_OK)
        die("init refused a valid boundary");
    r.chunk = body;
    r.chunk_len = size;
    if (api_multipart_feed(&mp, body, size) != EH_ERR || api_multipart_finish(&mp) != EH_ERR)
        die("a refusing callback did not stop the parser");
    if (r.len != whole->after_begin[k] || memcmp(r.log, whole->log, r.len) != 0)
        die("the stopped run saw other callbacks");
    api_multipart_free(&mp);
    free(r.log);
}

static void check_boundary_helper(const uint8_t *data, size_t size)
{
    char *ct = malloc(size + 1);
    if (ct == NULL)
        die("out of memory");
    memcpy(ct, data, size);
    ct[size] = '\0';
    char out[API_MULTIPART_BOUNDARY_MAX + 1];
    if (api_multipart_boundary(ct, out) == EH_OK) {
        size_t n = strnlen(out, sizeof(out));
        api_multipart_t mp;
        if (n == 0 || n > API_MULTIPART_BOUNDARY_MAX || api_multipart_init(&mp, out, n, NULL, NULL) != EH_OK)
            die("api_multipart_boundary gave a boundary init refuses");
        api_multipart_free(&mp);
    }
    free(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_boundary_helper(data, size);
    if (size < 5)
        return 0;
    const char *boundary = BOUNDARIES[data[0] & 3];
    int stop_at = (data[0] >> 2) & 7;
    size_t cut1 = (size_t)data[1] << 8 | data[2], cut2 = (size_t)data[3] << 8 | data[4];
    const char *body = (const char *)data + 5;
    size = size - 5;

    rec_t whole, other;
    run(&whole, boundary, body, size, NULL, 0);

    /* Two cuts at fuzzer-chosen offsets. */
    cut1 %= size + 1;
    cut2 %= size + 1;
    size_t lo = cut1 < cut2 ? cut1 : cut2, hi = cut1 < cut2 ? cut2 : cut1;
    size_t two[2] = {lo, hi - lo};
    run(&other, boundary, body, size, two, 2);
    same(&whole, &other, "cut at two offsets: not the same as whole");
    free(other.log);

    /* Chunk sizes 1..64 drawn from the body's own bytes. */
    size_t sizes[256];
    size_t n = 0;
    for (size_t k = 0; k < size && n < sizeof(sizes) / sizeof(sizes[0]); k += 5)
        sizes[n++] = (size_t)((unsigned char)body[k] % 64) + 1;
    run(&other, boundary, body, size, sizes, n);
    same(&whole, &other, "in small chunks: not the same as whole");
    free(other.log);

    if (size <= 512) {
        size_t ones[512];
        for (size_t k = 0; k < size; k++)
            ones[k] = 1;
        run(&other, boundary, body, size, ones, size);
        same(&whole, &other, "byte by byte: not the same as whole");
        free(other.log);
    }
    check_stop(&whole, boundary, body, size, stop_at);
    free(whole.log);
    return 0;
}
