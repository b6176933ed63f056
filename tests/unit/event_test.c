/*
 * event_test.c - common/event: the one progress-event format (names, kinds,
 * routing key, encode and parse round trip).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

#define JOB_ID "4b0c6a52-52a4-4c1b-9a7e-0f6f1e1d2c3b"

static void test_names_and_kinds(void **state)
{
    (void)state;
    for (int k = 0; k < EH_EVENT_KIND_COUNT; k++) {
        eh_event_kind_t back;
        assert_int_equal(eh_event_kind(eh_event_name((eh_event_kind_t)k), &back), EH_OK);
        assert_int_equal(back, k);
    }
    eh_event_kind_t k;
    assert_int_equal(eh_event_kind("finished", &k), EH_DECLINED);
    assert_string_equal(eh_event_name(EH_EVENT_KIND_COUNT), "");
    assert_true(eh_event_terminal(EH_EVENT_COMPLETED) && eh_event_terminal(EH_EVENT_FAILED));
    assert_false(eh_event_terminal(EH_EVENT_PROGRESS) || eh_event_terminal(EH_EVENT_SNAPSHOT));
    assert_true(eh_event_coalescable(EH_EVENT_STARTED) && eh_event_coalescable(EH_EVENT_PROGRESS));
    assert_false(eh_event_coalescable(EH_EVENT_COMPLETED) || eh_event_coalescable(EH_EVENT_SNAPSHOT));
    assert_int_equal(eh_event_for_status(EH_JOB_COMPLETED), EH_EVENT_COMPLETED);
    assert_int_equal(eh_event_for_status(EH_JOB_FAILED), EH_EVENT_FAILED);
    assert_int_equal(eh_event_for_status(EH_JOB_PROCESSING), EH_EVENT_PROGRESS);
    char key[EH_EVENT_ROUTING_KEY_LEN];
    eh_event_routing_key(JOB_ID, key);
    assert_string_equal(key, "job." JOB_ID);
}

static void test_encode_parse_round_trip(void **state)
{
    (void)state;
    eh_job_t job;
    memset(&job, 0, sizeof(job));
    memcpy(job.id, JOB_ID, sizeof(JOB_ID));
    job.file_name = "app.jsonl";
    job.status = EH_JOB_PROCESSING;
    job.seq = 42;
    job.lines_total = 10;
    job.lines_processed = 5;
    size_t len = 0;
    char *text = eh_event_encode(&job, EH_EVENT_PROGRESS, 1795255202000LL, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "\"event\":\"progress\""));
    assert_non_null(strstr(text, "\"emitted_at\":\"2026-11-21T"));
    char id[EH_UUID_STRLEN + 1];
    int64_t seq = 0;
    eh_event_kind_t kind;
    assert_int_equal(eh_event_parse(text, len, id, &seq, &kind), EH_OK);
    assert_string_equal(id, JOB_ID);
    assert_int_equal(seq, 42);
    assert_int_equal(kind, EH_EVENT_PROGRESS);
    free(text);
    /* A snapshot never travels on the broker; junk is declined. */
    text = eh_event_encode(&job, EH_EVENT_SNAPSHOT, 0, &len);
    assert_non_null(text);
    assert_int_equal(eh_event_parse(text, len, id, &seq, &kind), EH_DECLINED);
    free(text);
    static const char *const bad[] = {"", "[]", "{\"job_id\":\"x\",\"seq\":1,\"event\":\"progress\"}",
                                      "{\"job_id\":\"" JOB_ID "\",\"seq\":\"1\",\"event\":\"progress\"}",
                                      "{\"job_id\":\"" JOB_ID "\",\"seq\":1,\"event\":\"other\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(eh_event_parse(bad[i], strlen(bad[i]), id, &seq, &kind), EH_DECLINED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_kinds),
        cmocka_unit_test(test_encode_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
