/* ws_event_test - the pure parts of the WebSocket relay: path and event parsing, the coalescing queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/ws_event.h"

#define ID "4b0c1d2e-3f40-4152-8364-758697a8b9ca"

static void test_path(void **state)
{
    (void)state;
    char id[EH_UUID_STRLEN + 1];
    assert_int_equal(api_ws_path_job("/ws/jobs/" ID, id), EH_OK);
    assert_string_equal(id, ID);
    assert_int_equal(api_ws_path_job("/ws/jobs/4B0C1D2E-3F40-4152-8364-758697A8B9CA", id), EH_OK);
    assert_string_equal(id, ID); /* lowercased, as PostgreSQL spells it */
    assert_int_equal(api_ws_path_job("/ws/jobs/abc", id), EH_DECLINED);
    assert_int_equal(api_ws_path_job("/ws/jobs/" ID "0", id), EH_DECLINED);
    assert_int_equal(api_ws_path_job("/ws/jobs/", id), EH_ERR);
    assert_int_equal(api_ws_path_job("/ws/jobs/" ID "/x", id), EH_ERR);
    assert_int_equal(api_ws_path_job("/ws/other/" ID, id), EH_ERR);
    assert_int_equal(api_ws_path_job("/ws/jobs", id), EH_ERR);
    assert_int_equal(api_ws_path_job("", id), EH_ERR);
}

static int parse(const char *body, char id[EH_UUID_STRLEN + 1], int64_t *seq, bool *term, bool *coal)
{
    return api_ws_event_parse(body, strlen(body), id, seq, term, coal);
}

static void test_event_parse(void **state)
{
    (void)state;
    char id[EH_UUID_STRLEN + 1];
    int64_t seq = 0;
    bool term = true, coal = false;
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"progress\",\"seq\":7,\"status\":\"processing\"}", id,
                           &seq, &term, &coal),
                     EH_OK);
    assert_string_equal(id, ID);
    assert_int_equal(seq, 7);
    assert_false(term);
    assert_true(coal);
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"started\",\"seq\":1}", id, &seq, &term, &coal), EH_OK);
    assert_true(coal);
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"completed\",\"seq\":9}", id, &seq, &term, &coal), EH_OK);
    assert_true(term);
    assert_false(coal);
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"failed\",\"seq\":9}", id, &seq, &term, &coal), EH_OK);
    assert_true(term);
    /* Refused: not JSON, wrong types, unknown or reserved events, a bad id. */
    assert_int_equal(parse("not json", id, &seq, &term, &coal), EH_DECLINED);
    assert_int_equal(parse("[1]", id, &seq, &term, &coal), EH_DECLINED);
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"progress\",\"seq\":\"7\"}", id, &seq, &term, &coal),
                     EH_DECLINED);
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"snapshot\",\"seq\":7}", id, &seq, &term, &coal),
                     EH_DECLINED);
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"bogus\",\"seq\":7}", id, &seq, &term, &coal),
                     EH_DECLINED);
    assert_int_equal(parse("{\"job_id\":\"nope\",\"event\":\"progress\",\"seq\":7}", id, &seq, &term, &coal),
                     EH_DECLINED);
    assert_int_equal(parse("{\"event\":\"progress\",\"seq\":7}", id, &seq, &term, &coal), EH_DECLINED);
}

static api_ws_frame_t *frame(int64_t seq, bool terminal, bool coalescable)
{
    char text[64];
    int n = snprintf(text, sizeof(text), "{\"seq\":%lld}", (long long)seq);
    api_ws_frame_t *f = api_ws_frame_new(text, (size_t)n, seq, terminal, coalescable);
    assert_non_null(f);
    return f;
}

/* Pushes a new frame and drops the caller's reference; returns whether the queue kept it. */
static bool push(api_ws_queue_t *q, int64_t seq, bool terminal, bool coalescable)
{
    api_ws_frame_t *f = frame(seq, terminal, coalescable);
    bool kept = api_ws_queue_push(q, f);
    api_ws_frame_unref(f);
    return kept;
}

static int64_t pop_seq(api_ws_queue_t *q)
{
    api_ws_frame_t *f = api_ws_queue_peek(q);
    assert_non_null(f);
    int64_t seq = f->seq;
    assert_memory_equal(api_ws_frame_payload(f), "{\"seq\":", 7);
    api_ws_queue_pop(q);
    return seq;
}

static void test_queue_order_and_stale(void **state)
{
    (void)state;
    api_ws_queue_t q;
    assert_int_equal(api_ws_queue_init(&q, 8), EH_OK);
    assert_true(push(&q, 5, false, false)); /* snapshot at seq 5 */
    assert_false(push(&q, 4, false, true)); /* older than the snapshot */
    assert_false(push(&q, 5, false, true)); /* already reflected by it */
    assert_true(push(&q, 6, false, true));
    assert_true(push(&q, 8, false, true));
    assert_false(push(&q, 7, false, true)); /* out of order: behind what was queued */
    assert_int_equal(pop_seq(&q), 5);
    assert_int_equal(pop_seq(&q), 6);
    assert_int_equal(pop_seq(&q), 8);
    assert_null(api_ws_queue_peek(&q));
    api_ws_queue_free(&q);
}

static void test_queue_coalesces_but_keeps_terminal(void **state)
{
    (void)state;
    api_ws_queue_t q;
    assert_int_equal(api_ws_queue_init(&q, 4), EH_OK);
    assert_true(push(&q, 1, false, false)); /* snapshot */
    for (int64_t s = 2; s <= 50; s++)
        assert_true(push(&q, s, false, true)); /* a client that never reads */
    assert_int_equal(q.count, 4);
    assert_true(push(&q, 51, true, false)); /* completed: never dropped */
    assert_int_equal(q.count, 4);
    assert_false(push(&q, 52, false, true)); /* nothing after the end */
    assert_true(q.ended);
    assert_int_equal(pop_seq(&q), 1); /* the snapshot stays first */
    assert_int_equal(pop_seq(&q), 2); /* the oldest progress events stay... */
    assert_int_equal(pop_seq(&q), 3);
    assert_int_equal(pop_seq(&q), 51); /* ...the newest gave way to the terminal event */
    assert_true(q.coalesced > 0);
    api_ws_queue_free(&q);
}

static void test_queue_minimum_capacity(void **state)
{
    (void)state;
    api_ws_queue_t q;
    assert_int_equal(api_ws_queue_init(&q, 2), EH_OK);
    assert_true(push(&q, 1, false, false));
    assert_true(push(&q, 2, false, true));
    assert_true(push(&q, 3, false, true));
    assert_true(push(&q, 4, true, false));
    assert_int_equal(pop_seq(&q), 1);
    assert_int_equal(pop_seq(&q), 4);
    api_ws_queue_free(&q);
    /* A queue freed with frames still in it drops their references (ASan checks for leaks). */
    assert_int_equal(api_ws_queue_init(&q, 2), EH_OK);
    assert_true(push(&q, 1, false, false));
    assert_true(push(&q, 2, false, true));
    api_ws_queue_free(&q);
}

static void test_frame_shared_refs(void **state)
{
    (void)state;
    api_ws_queue_t a, b;
    assert_int_equal(api_ws_queue_init(&a, 4), EH_OK);
    assert_int_equal(api_ws_queue_init(&b, 4), EH_OK);
    api_ws_frame_t *f = frame(3, false, true);
    assert_true(api_ws_queue_push(&a, f));
    assert_true(api_ws_queue_push(&b, f));
    assert_int_equal(f->refs, 3);
    api_ws_frame_unref(f);
    api_ws_queue_free(&a);
    assert_int_equal(api_ws_queue_peek(&b)->refs, 1);
    api_ws_queue_free(&b);
}

static void test_frame_from_job(void **state)
{
    (void)state;
    eh_job_t job;
    memset(&job, 0, sizeof(job));
    memcpy(job.id, ID, sizeof(job.id));
    job.file_name = strdup("app.jsonl");
    assert_non_null(job.file_name);
    job.status = EH_JOB_PROCESSING;
    job.lines_total = 10;
    job.lines_processed = 4;
    job.seq = 12;
    job.created_at_ms = job.started_at_ms = 1700000000000;
    job.completed_at_ms = EH_TIME_NULL;
    api_ws_frame_t *f = api_ws_frame_from_job(&job, true, 1700000000123);
    assert_non_null(f);
    assert_int_equal(f->seq, 12);
    assert_false(f->terminal);
    assert_false(f->coalescable);
    char *text = strndup((const char *)api_ws_frame_payload(f), f->len);
    assert_non_null(strstr(text, "\"event\":\"snapshot\""));
    assert_non_null(strstr(text, "\"seq\":12"));
    assert_non_null(strstr(text, "\"emitted_at\":\"2023-11-14T22:13:20.123Z\""));
    free(text);
    api_ws_frame_unref(f);

    job.status = EH_JOB_COMPLETED;
    f = api_ws_frame_from_job(&job, false, 1700000000123);
    assert_non_null(f);
    assert_true(f->terminal);
    text = strndup((const char *)api_ws_frame_payload(f), f->len);
    assert_non_null(strstr(text, "\"event\":\"completed\""));
    free(text);
    api_ws_frame_unref(f);

    job.status = EH_JOB_PROCESSING;
    f = api_ws_frame_from_job(&job, false, 1700000000123);
    assert_non_null(f);
    assert_true(f->coalescable);
    text = strndup((const char *)api_ws_frame_payload(f), f->len);
    assert_non_null(strstr(text, "\"event\":\"progress\""));
    free(text);
    api_ws_frame_unref(f);
    eh_job_clear(&job);
}

/* Cancel and delete (issue 12): both end a stream; a cancelled job's synthetic event is "cancelled". */
static void test_cancelled_and_deleted(void **state)
{
    (void)state;
    char id[EH_UUID_STRLEN + 1];
    int64_t seq = 0;
    bool term = false, coal = true;
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"cancelled\",\"seq\":5}", id, &seq, &term, &coal), EH_OK);
    assert_true(term);
    assert_false(coal);
    term = false;
    assert_int_equal(parse("{\"job_id\":\"" ID "\",\"event\":\"deleted\",\"seq\":6}", id, &seq, &term, &coal), EH_OK);
    assert_true(term);

    eh_job_t job;
    memset(&job, 0, sizeof(job));
    memcpy(job.id, ID, sizeof(job.id));
    job.file_name = strdup("app.jsonl");
    assert_non_null(job.file_name);
    job.status = EH_JOB_CANCELLED;
    job.seq = 3;
    job.created_at_ms = job.completed_at_ms = 1700000000000;
    job.started_at_ms = EH_TIME_NULL;
    api_ws_frame_t *f = api_ws_frame_from_job(&job, false, 1700000000123);
    assert_non_null(f);
    assert_true(f->terminal);
    char *text = strndup((const char *)api_ws_frame_payload(f), f->len);
    assert_non_null(strstr(text, "\"event\":\"cancelled\""));
    assert_non_null(strstr(text, "\"status\":\"cancelled\""));
    free(text);
    api_ws_frame_unref(f);
    eh_job_clear(&job);

    f = api_ws_frame_gone(ID, 8, 1700000000123);
    assert_non_null(f);
    assert_true(f->terminal);
    assert_int_equal(f->seq, 8);
    text = strndup((const char *)api_ws_frame_payload(f), f->len);
    assert_string_equal(text, "{\"job_id\":\"" ID "\",\"event\":\"deleted\",\"seq\":8,"
                              "\"emitted_at\":\"2023-11-14T22:13:20.123Z\"}");
    free(text);
    api_ws_frame_unref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_event_parse),
        cmocka_unit_test(test_queue_order_and_stale),
        cmocka_unit_test(test_queue_coalesces_but_keeps_terminal),
        cmocka_unit_test(test_queue_minimum_capacity),
        cmocka_unit_test(test_frame_shared_refs),
        cmocka_unit_test(test_frame_from_job),
        cmocka_unit_test(test_cancelled_and_deleted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
