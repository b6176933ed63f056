/*
 * validate_bench.c - lines/s of the worker's per-line CPU work: validate a
 * ~224-byte log line (3-6 attributes) and append its COPY row. For scale it
 * also runs the jansson way (json_loadb, alias lookups, delete the used keys,
 * json_dumps the rest, escape into the same row) that the machine's jansson ceiling was measured with.
 *
 * Built by hand, not by `make`:
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Icommon bench/validate_bench.c common/validate.c common/json_scan.c \
 *      common/timestamp.c common/level.c worker/copy_row.c common/buf.c -ljansson -o /tmp/validate_bench \
 *      && /tmp/validate_bench
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/buf.h"
#include "../worker/copy_row.h"
#include "../common/validate.h"

#define JOB "4b0c6a52-52a4-4c1b-9a7e-0f6f1e1d2c3b"
#define LINES 1000000
#define ROUNDS 5
#define BATCH 10000 /* rows per COPY buffer before it is reset, as the worker's batches */

static const char *const SAMPLE[] = {
    "{\"timestamp\":\"2026-11-21T10:00:00.123Z\",\"level\":\"info\",\"service\":\"checkout\","
    "\"message\":\"order placed for customer\",\"request_id\":\"9f1c2a7e-4b6d-4c3a-8e21-0d5f6a7b8c9d\","
    "\"user_id\":48213,\"duration_ms\":12.5}",
    "{\"timestamp\":\"2026-11-21T10:00:00.456Z\",\"level\":\"warn\",\"service\":\"payments\","
    "\"message\":\"card declined, retrying\",\"request_id\":\"1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b\","
    "\"attempt\":2,\"gateway\":\"stripe\",\"code\":\"do_not_honor\"}",
    "{\"timestamp\":\"2026-11-21T10:00:01.789Z\",\"level\":\"error\",\"service\":\"api\","
    "\"message\":\"upstream timeout\",\"request_id\":\"aa11bb22-cc33-4d44-8e55-ff6677889900\","
    "\"path\":\"/api/v1/orders\",\"status\":504,\"duration_ms\":30000,\"retry\":true}",
    "{\"timestamp\":\"2026-11-21T10:00:02.001Z\",\"level\":\"debug\",\"service\":\"worker\","
    "\"message\":\"batch committed\",\"job_id\":\"0f0e0d0c-0b0a-4908-8706-050403020100\","
    "\"rows\":10000,\"bytes\":2240000,\"ms\":41.7,\"queue\":\"eh.jobs\",\"host\":\"w-1\"}",
};
#define NSAMPLE (sizeof(SAMPLE) / sizeof(SAMPLE[0]))

/* CPU time of this process, so that a busy shared machine skews the figures less than wall time would. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_ours(eh_buf_t *rows, worker_entry_t *e, const size_t *lens)
{
    char reason[WORKER_REASON_LEN];
    for (size_t i = 0; i < LINES; i++) {
        const char *line = SAMPLE[i % NSAMPLE];
        if (worker_validate_line(line, lens[i % NSAMPLE], e, reason, sizeof(reason)) != EH_OK)
            return -1;
        e->line_no = i + 1;
        if (worker_copy_row_entry(rows, JOB, e) != EH_OK)
            return -1;
        if ((i + 1) % BATCH == 0)
            eh_buf_reset(rows);
    }
    return 0;
}

static const char *first(json_t *o, const char *const *keys, size_t n, json_t **v)
{
    for (size_t i = 0; i < n; i++)
        if ((*v = json_object_get(o, keys[i])) != NULL)
            return keys[i];
    return NULL;
}

/* The prototype's way, for comparison: the same checks and the same row, through jansson. */
static int run_jansson(eh_buf_t *rows, const size_t *lens)
{
    static const char *const tk[] = {"timestamp", "time", "ts", "@timestamp"};
    static const char *const lk[] = {"level", "severity", "lvl", "log.level", "error_severity"};
    static const char *const mk[] = {"message", "msg"};
    static const char *const sk[] = {"service", "logger", "name", "app"};
    worker_entry_t e = {0};
    for (size_t i = 0; i < LINES; i++) {
        json_error_t err;
        json_t *o = json_loadb(SAMPLE[i % NSAMPLE], lens[i % NSAMPLE], 0, &err);
        json_t *t, *l, *m, *s = NULL;
        const char *tn = first(o, tk, 4, &t), *ln = first(o, lk, 5, &l), *mn = first(o, mk, 2, &m);
        const char *sn = first(o, sk, 4, &s);
        const char *why;
        if (o == NULL || !json_is_object(o) || tn == NULL || ln == NULL || mn == NULL || !json_is_string(t) ||
            !json_is_string(l) || !json_is_string(m) ||
            worker_ts_parse_text(json_string_value(t), json_string_length(t), &e.ts_us, &why) != EH_OK ||
            worker_level_from_text(json_string_value(l), json_string_length(l), &e.level) != EH_OK)
            return -1;
        e.ts_len = worker_ts_format(e.ts_us, e.ts);
        e.message.p = json_string_value(m);
        e.message.len = json_string_length(m);
        e.service.p = s ? json_string_value(s) : NULL;
        e.service.len = s ? json_string_length(s) : 0;
        json_incref(m);
        if (s)
            json_incref(s);
        json_object_del(o, tn);
        json_object_del(o, ln);
        json_object_del(o, mn);
        if (sn)
            json_object_del(o, sn);
        char *attrs = json_object_size(o) ? json_dumps(o, JSON_COMPACT) : NULL;
        e.attributes.p = attrs ? attrs : "{}";
        e.attributes.len = strlen(e.attributes.p);
        e.line_no = i + 1;
        int rc = worker_copy_row_entry(rows, JOB, &e);
        free(attrs);
        json_decref(m);
        json_decref(s);
        json_decref(o);
        if (rc != EH_OK)
            return -1;
        if ((i + 1) % BATCH == 0)
            eh_buf_reset(rows);
    }
    return 0;
}

int main(void)
{
    size_t lens[NSAMPLE];
    size_t total = 0;
    for (size_t i = 0; i < NSAMPLE; i++) {
        lens[i] = strlen(SAMPLE[i]);
        total += lens[i];
    }
    printf("sample lines: %zu, mean %zu bytes; %d lines per round, best of %d, CPU time\n", NSAMPLE, total / NSAMPLE,
           LINES, ROUNDS);

    eh_buf_t rows = EH_BUF_INIT;
    worker_entry_t e = {0};
    double best_ours = 0, best_jansson = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        if (run_ours(&rows, &e, lens) != 0) {
            fprintf(stderr, "validation failed\n");
            return 1;
        }
        double t1 = now_s();
        if (run_jansson(&rows, lens) != 0) {
            fprintf(stderr, "jansson path failed\n");
            return 1;
        }
        double t2 = now_s();
        double ours = LINES / (t1 - t0), jans = LINES / (t2 - t1);
        if (ours > best_ours)
            best_ours = ours;
        if (jans > best_jansson)
            best_jansson = jans;
    }
    printf("validate + COPY row (worker_validate_line):  %8.0f lines/s  (%.2f us/line)\n", best_ours, 1e6 / best_ours);
    printf("jansson load + dumps + COPY row (reference):  %8.0f lines/s  (%.2f us/line)\n", best_jansson,
           1e6 / best_jansson);
    worker_entry_clear(&e);
    eh_buf_free(&rows);
    return 0;
}
