/*
 * multipart_bench.c - MiB/s of the upload's multipart parser (api/multipart.c):
 * a 256 MiB body (a short field, then one file part of ~220-byte JSON log
 * lines, then the close delimiter) fed in 64 KiB chunks, as libmicrohttpd
 * hands the body over. The file is given once with LF line ends and once
 * with CRLF (every line then has a CR the delimiter search must look at).
 * For scale, one memchr pass for '\n' over the same bytes (what the spool
 * stage already does to count lines). Median and best of ROUNDS runs.
 *
 *   make MODE=release build/release/bench/multipart_bench && build/release/bench/multipart_bench [MiB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../api/multipart.h"

#define CHUNK (64 * 1024)
#define ROUNDS 5
#define BOUNDARY "------------------------d74496d66958873e"

static const char LINE[] =
    "{\"timestamp\":\"2026-11-21T10:00:00.123Z\",\"level\":\"info\",\"service\":\"checkout\","
    "\"message\":\"order placed for customer\",\"request_id\":\"9f1c2a7e-4b6d-4c3a-8e21-0d5f6a7b8c9d\","
    "\"user_id\":48213,\"duration_ms\":12.5}";

typedef struct {
    size_t bytes; /* file bytes seen */
    unsigned parts;
} count_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_data(void *ud, const api_multipart_part_t *part, const char *data, size_t len)
{
    count_t *c = ud;
    (void)part;
    (void)data;
    c->bytes += len;
    return EH_OK;
}

static int on_end(void *ud, const api_multipart_part_t *part)
{
    count_t *c = ud;
    (void)part;
    c->parts++;
    return EH_OK;
}

/* The body into buf (cap bytes): head, log lines ended by eol up to about file bytes, tail. Its length. */
static size_t make_body(char *buf, size_t cap, size_t file, const char *eol)
{
    size_t n =
        (size_t)snprintf(buf, cap,
                         "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\nfalse\r\n"
                         "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"app.log\"\r\n"
                         "Content-Type: application/x-ndjson\r\n\r\n");
    size_t ll = strlen(LINE), el = strlen(eol);
    for (size_t start = n; n - start + ll + el <= file; n += ll + el) {
        memcpy(buf + n, LINE, ll);
        memcpy(buf + n + ll, eol, el);
    }
    n += (size_t)snprintf(buf + n, cap - n, "\r\n--" BOUNDARY "--\r\n");
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Seconds to parse body[0..len) in CHUNK pieces; exits on a wrong result. */
static double parse_once(const char *body, size_t len, size_t want_file)
{
    static const api_multipart_callbacks_t cb = {NULL, on_data, on_end};
    count_t c = {0, 0};
    api_multipart_t mp;
    if (api_multipart_init(&mp, BOUNDARY, strlen(BOUNDARY), &cb, &c) != EH_OK) {
        fprintf(stderr, "multipart_bench: init failed\n");
        exit(1);
    }
    double t0 = now_s();
    int rc = EH_OK;
    for (size_t off = 0; off < len && rc == EH_OK; off += CHUNK)
        rc = api_multipart_feed(&mp, body + off, len - off < CHUNK ? len - off : CHUNK);
    if (rc == EH_OK)
        rc = api_multipart_finish(&mp);
    double t = now_s() - t0;
    if (rc != EH_OK || c.parts != 2 || c.bytes != want_file + 5) {
        fprintf(stderr, "multipart_bench: wrong result (%s, %u parts, %zu bytes)\n",
                rc != EH_OK ? api_multipart_reason(&mp) : "ok", c.parts, c.bytes);
        exit(1);
    }
    api_multipart_free(&mp);
    return t;
}

static double memchr_once(const char *body, size_t len)
{
    double t0 = now_s();
    size_t lines = 0;
    for (const char *p = body, *end = body + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines++;
    double t = now_s() - t0;
    if (lines == 0)
        exit(1);
    return t;
}

static void report(const char *what, double mib, double *t)
{
    qsort(t, ROUNDS, sizeof(*t), cmp_double);
    printf("%-34s %8.0f MiB/s median, %8.0f MiB/s best (%d runs)\n", what, mib / t[ROUNDS / 2], mib / t[0], ROUNDS);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    size_t file = mib << 20;
    size_t cap = file + 4096;
    char *body = malloc(cap);
    if (mib == 0 || body == NULL) {
        fprintf(stderr, "usage: multipart_bench [MiB > 0]\n");
        return 2;
    }
    const char *eols[] = {"\n", "\r\n"};
    const char *names[] = {"multipart, LF lines, 64 KiB chunks", "multipart, CRLF lines, 64 KiB chunks"};
    for (int v = 0; v < 2; v++) {
        size_t len = make_body(body, cap, file, eols[v]);
        const char *head_end = strstr(body, "\r\n\r\n{");
        size_t want = len - (size_t)(head_end + 4 - body) - strlen("\r\n--" BOUNDARY "--\r\n");
        double t[ROUNDS];
        double body_mib = (double)len / (1 << 20);
        (void)parse_once(body, len, want); /* warm the pages */
        for (int r = 0; r < ROUNDS; r++)
            t[r] = parse_once(body, len, want);
        report(names[v], body_mib, t);
        if (v == 0) {
            for (int r = 0; r < ROUNDS; r++)
                t[r] = memchr_once(body, len);
            report("for scale: memchr '\\n' count", body_mib, t);
        }
    }
    free(body);
    return 0;
}
