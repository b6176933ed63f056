/* model_test.c - uuid, time formatting, the job's JSON shapes and the job message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "event.h"
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "job_queue.h"
#include "timefmt.h"
#include "uuid.h"

static void uuid_v4_is_well_formed_and_random(void **state)
{
    (void)state;
    char a[EH_UUID_STRLEN + 1], b[EH_UUID_STRLEN + 1];
    assert_int_equal(eh_uuid_v4(a), EH_OK);
    assert_int_equal(eh_uuid_v4(b), EH_OK);
    assert_int_equal(strlen(a), EH_UUID_STRLEN);
    assert_true(eh_uuid_valid(a, strlen(a)));
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    assert_string_not_equal(a, b);
}

static void uuid_validation(void **state)
{
    (void)state;
    static const char *good[] = {"4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3", "4B0C1D2E-3F40-4A5B-8C6D-7E8F90A1B2C3",
                                 "00000000-0000-0000-0000-000000000000"};
    static const char *bad[] = {"",
                                "4b0c1d2e3f404a5b8c6d7e8f90a1b2c3",
                                "4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c",
                                "4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3a",
                                "4b0c1d2e-3f40-4a5b-8c6d_7e8f90a1b2c3",
                                "g b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c",
                                "../../../../etc/passwd-0000-000000000"};
    for (size_t i = 0; i < EH_ARRAY_LEN(good); i++)
        assert_true(eh_uuid_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < EH_ARRAY_LEN(bad); i++)
        assert_false(eh_uuid_valid(bad[i], strlen(bad[i])));
    assert_false(eh_uuid_valid(NULL, 36));
}

static void time_formats_rfc3339_ms_utc(void **state)
{
    (void)state;
    char buf[EH_TIME_BUFLEN];
    assert_int_equal(eh_time_format_ms(0, buf), 24);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    eh_time_format_ms(1795255200123LL, buf);
    assert_string_equal(buf, "2026-11-21T10:00:00.123Z");
    eh_time_format_ms(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    eh_time_format_ms(951782400000LL, buf); /* leap day 2000 */
    assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
    assert_true(eh_time_now_ms() > 1700000000000LL);
}

static eh_job_t sample_job(void)
{
    eh_job_t job;
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3");
    job.file_name = strdup("app.jsonl");
    job.size_bytes = 1048576;
    job.status = EH_JOB_PROCESSING;
    job.lines_total = 10000;
    job.lines_processed = 4200;
    job.entries_ingested = 4150;
    job.lines_invalid = 50;
    job.created_at_ms = 1795255200000LL;
    job.started_at_ms = 1795255201500LL;
    job.completed_at_ms = EH_TIME_NULL;
    job.seq = 7;
    return job;
}

static void job_json_matches_the_contract(void **state)
{
    (void)state;
    eh_job_t job = sample_job();
    json_t *o = eh_job_to_json(&job);
    assert_non_null(o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"completed_at\":null,\"created_at\":\"2026-11-21T10:00:00.000Z\",\"entries_ingested\":"
                              "4150,\"error\":null,\"file_name\":\"app.jsonl\",\"job_id\":\"4b0c1d2e-3f40-4a5b-8c6d-"
                              "7e8f90a1b2c3\",\"lines_invalid\":50,\"lines_processed\":4200,\"lines_total\":10000,"
                              "\"progress\":42.0,\"size_bytes\":1048576,\"started_at\":\"2026-11-21T10:00:01.500Z\","
                              "\"status\":\"processing\"}");
    free(text);
    json_decref(o);
    eh_job_clear(&job);
}

static void job_event_adds_event_seq_and_time(void **state)
{
    (void)state;
    eh_job_t job = sample_job();
    job.status = EH_JOB_FAILED;
    job.error = strdup("object missing from storage");
    json_t *o = eh_event_json(&job, EH_EVENT_FAILED, 1795255202000LL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "event")), "failed");
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), 7);
    assert_string_equal(json_string_value(json_object_get(o, "emitted_at")), "2026-11-21T10:00:02.000Z");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(o, "error")), "object missing from storage");
    json_decref(o);
    eh_job_clear(&job);
}

static void progress_is_rounded_down_and_bounded(void **state)
{
    (void)state;
    eh_job_t job = sample_job();
    job.lines_processed = 9996;
    assert_true(eh_job_progress(&job) == 99.9);
    job.lines_total = 0;
    assert_true(eh_job_progress(&job) == 0.0);
    job.status = EH_JOB_COMPLETED;
    assert_true(eh_job_progress(&job) == 100.0);
    eh_job_clear(&job);
}

static void status_names_round_trip(void **state)
{
    (void)state;
    for (int s = EH_JOB_QUEUED; s <= EH_JOB_FAILED; s++) {
        eh_job_status_t back;
        assert_int_equal(eh_job_status_parse(eh_job_status_name((eh_job_status_t)s), &back), EH_OK);
        assert_int_equal(back, s);
    }
    eh_job_status_t ignored;
    assert_int_equal(eh_job_status_parse("done", &ignored), EH_DECLINED);
    assert_true(eh_job_status_final(EH_JOB_COMPLETED));
    assert_false(eh_job_status_final(EH_JOB_QUEUED));
}

static void job_message_round_trip_and_rejects(void **state)
{
    (void)state;
    const char *id = "4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";
    char key[EH_OBJECT_KEY_MAX];
    eh_job_object_key(id, key);
    assert_string_equal(key, "uploads/4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3.jsonl");
    char *body = eh_job_message_build(id, key, NULL);
    assert_non_null(body);
    char got_id[EH_UUID_STRLEN + 1], got_key[EH_OBJECT_KEY_MAX];
    assert_int_equal(eh_job_message_parse(body, strlen(body), got_id, got_key), EH_OK);
    assert_string_equal(got_id, id);
    assert_string_equal(got_key, key);
    free(body);

    static const char *bad[] = {"",
                                "not json",
                                "[]",
                                "{\"job_id\":\"x\",\"object_key\":\"k\"}",
                                "{\"job_id\":\"4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3\"}",
                                "{\"job_id\":\"4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3\",\"object_key\":\"\"}",
                                "{\"job_id\":1,\"object_key\":\"k\"}"};
    for (size_t i = 0; i < EH_ARRAY_LEN(bad); i++)
        assert_int_equal(eh_job_message_parse(bad[i], strlen(bad[i]), got_id, got_key), EH_DECLINED);
}

/* The upload's request id rides along; messages without it (published before it existed) still parse. */
static void job_message_request_id(void **state)
{
    (void)state;
    const char *id = "4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3", *key = "uploads/x.jsonl";
    char *body = eh_job_message_build(id, key, "req-42");
    assert_non_null(body);
    assert_non_null(strstr(body, "\"request_id\":\"req-42\""));
    eh_job_message_t msg;
    assert_int_equal(eh_job_message_read(body, strlen(body), &msg), EH_OK);
    assert_string_equal(msg.job_id, id);
    assert_string_equal(msg.object_key, key);
    assert_string_equal(msg.request_id, "req-42");
    free(body);
    const char *old = "{\"job_id\":\"4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3\",\"object_key\":\"uploads/x.jsonl\"}";
    assert_int_equal(eh_job_message_read(old, strlen(old), &msg), EH_OK);
    assert_string_equal(msg.request_id, "");
    /* a request_id that is not a string, or too long, is dropped, not the message */
    const char *odd = "{\"job_id\":\"4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3\",\"object_key\":\"k\",\"request_id\":7}";
    assert_int_equal(eh_job_message_read(odd, strlen(odd), &msg), EH_OK);
    assert_string_equal(msg.request_id, "");
    body = eh_job_message_build(id, key, "");
    assert_null(strstr(body, "request_id"));
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uuid_v4_is_well_formed_and_random),
        cmocka_unit_test(uuid_validation),
        cmocka_unit_test(time_formats_rfc3339_ms_utc),
        cmocka_unit_test(job_json_matches_the_contract),
        cmocka_unit_test(job_event_adds_event_seq_and_time),
        cmocka_unit_test(progress_is_rounded_down_and_bounded),
        cmocka_unit_test(status_names_round_trip),
        cmocka_unit_test(job_message_round_trip_and_rejects),
        cmocka_unit_test(job_message_request_id),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
