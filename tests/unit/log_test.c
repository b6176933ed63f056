/*
 * log_test.c - common/log: every line is one JSON object that jansson reads
 * back with the same values, whatever bytes the message and the fields hold;
 * the fixed keys cannot be overwritten; a line too long keeps its message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Runs emit with stderr sent to a file; returns the lines written (caller frees). */
static char *capture(void (*emit)(void *), void *arg)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    emit(arg);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    long size = ftell(tmp);
    assert_true(size >= 0);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(tmp);
    assert_int_equal(fread(text, 1, (size_t)size, tmp), (size_t)size);
    fclose(tmp);
    return text;
}

/* The one line of text, parsed; fails unless there is exactly one line and it is valid JSON. */
static json_t *one_line(const char *text)
{
    const char *nl = strchr(text, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    json_error_t err;
    json_t *o = json_loadb(text, (size_t)(nl - text), 0, &err);
    if (o == NULL)
        fail_msg("not JSON (%s): %s", err.text, text);
    /* ASCII only: nothing a client sent reaches a terminal as raw bytes. */
    for (const char *p = text; p < nl; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F)
            fail_msg("raw byte 0x%02x in %s", (unsigned char)*p, text);
    return o;
}

static const char TRICKY[] = "quote\" backslash\\ nl\n cr\r tab\t nul-less \x01 del\x7f caf\xc3\xa9 "
                             "\xe2\x82\xac emoji\xf0\x9f\x98\x80 bad\xff\xfe end";
static const char TRICKY_DECODED[] = "quote\" backslash\\ nl\n cr\r tab\t nul-less \x01 del\x7f caf\xc3\xa9 "
                                     "\xe2\x82\xac emoji\xf0\x9f\x98\x80 bad\xef\xbf\xbd\xef\xbf\xbd end";

static void emit_tricky_kv(void *arg)
{
    (void)arg;
    eh_log_emit(EH_LOG_WARN,
                json_pack("{s:s, s:i, s:s, s:s}", "path", "/x\"y", "status", 404, "msg", "overwrite", "level", "debug"),
                "%s", TRICKY);
}

static void test_message_and_jansson_fields(void **state)
{
    (void)state;
    char *text = capture(emit_tricky_kv, NULL);
    json_t *o = one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), TRICKY_DECODED);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "component")), "log_test");
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), getpid());
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/x\"y");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 404);
    assert_non_null(json_string_value(json_object_get(o, "ts")));
    json_decref(o);
    /* The fixed keys appear once: the fields could not add a second "msg" or "level". */
    assert_null(strstr(text, "overwrite"));
    assert_null(strstr(strstr(text, "\"level\"") + 1, "\"level\""));
    free(text);
}

static void emit_builder(void *arg)
{
    (void)arg;
    eh_log_fields_t f = EH_LOG_FIELDS_INIT;
    eh_log_field_str(&f, "method", "GET");
    eh_log_field_str(&f, "path", TRICKY);
    eh_log_field_int(&f, "bytes", INT64_MAX);
    eh_log_field_int(&f, "delta", -7);
    eh_log_emit_fields(EH_LOG_INFO, &f, "request");
}

static void test_field_builder(void **state)
{
    (void)state;
    char *text = capture(emit_builder, NULL);
    json_t *o = one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "request");
    assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(o, "path")), TRICKY_DECODED);
    assert_true(json_integer_value(json_object_get(o, "bytes")) == INT64_MAX);
    assert_int_equal(json_integer_value(json_object_get(o, "delta")), -7);
    json_decref(o);
    free(text);
}

/* A field that does not fit is left out whole; the line stays valid. */
static void emit_builder_overflow(void *arg)
{
    (void)arg;
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    eh_log_fields_t f = EH_LOG_FIELDS_INIT;
    eh_log_field_str(&f, "first", "kept");
    eh_log_field_str(&f, "big", big);
    eh_log_field_int(&f, "after", 1);
    eh_log_emit_fields(EH_LOG_INFO, &f, "overflow");
}

static void test_field_builder_overflow(void **state)
{
    (void)state;
    char *text = capture(emit_builder_overflow, NULL);
    json_t *o = one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "first")), "kept");
    assert_null(json_object_get(o, "big"));
    assert_int_equal(json_integer_value(json_object_get(o, "after")), 1);
    json_decref(o);
    free(text);
}

/* Fields too long for a line: the message stays, the fields go, and the line says so. */
static void emit_too_long(void *arg)
{
    (void)arg;
    char *big = malloc(20000);
    assert_non_null(big);
    memset(big, '\x01', 19999); /* six bytes each once escaped */
    big[19999] = '\0';
    eh_log_emit(EH_LOG_ERROR, json_pack("{s:s}", "big", big), "the message");
    free(big);
}

static void test_line_too_long(void **state)
{
    (void)state;
    char *text = capture(emit_too_long, NULL);
    json_t *o = one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "the message");
    assert_null(json_object_get(o, "big"));
    assert_non_null(json_object_get(o, "fields_dropped"));
    json_decref(o);
    free(text);
}

static void emit_job(void *arg)
{
    (void)arg;
    eh_log_set_job("0b0e6c5e-9a1f-4a55-9b7e-7f3c2a1d0e11");
    eh_log_emit(EH_LOG_INFO, NULL, "with job");
    eh_log_emit(EH_LOG_INFO, json_pack("{s:s}", "job_id", "other"), "own job");
    eh_log_set_job(NULL);
    eh_log_emit(EH_LOG_INFO, json_object(), "no job");
}

static void test_job_id(void **state)
{
    (void)state;
    char *text = capture(emit_job, NULL);
    char *second = strchr(text, '\n') + 1;
    char *third = strchr(second, '\n') + 1;
    char *end = strchr(third, '\n') + 1;
    assert_int_equal(*end, '\0');
    *strchr(text, '\n') = '\0';
    *strchr(second, '\n') = '\0';
    json_error_t err;
    json_t *a = json_loads(text, 0, &err), *b = json_loads(second, 0, &err), *c = json_loads(third, 0, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(a, "job_id")), "0b0e6c5e-9a1f-4a55-9b7e-7f3c2a1d0e11");
    assert_string_equal(json_string_value(json_object_get(b, "job_id")), "other");
    assert_null(json_object_get(c, "job_id"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    free(text);
}

static void emit_request(void *arg)
{
    (void)arg;
    eh_log_set_job("0b0e6c5e-9a1f-4a55-9b7e-7f3c2a1d0e11");
    eh_log_set_request("req-\"1");
    eh_log_emit(EH_LOG_INFO, NULL, "with request");
    eh_log_set_request(NULL);
    eh_log_emit(EH_LOG_INFO, NULL, "without request");
    eh_log_set_job(NULL);
}

/* The request id rides on every line next to the job id (escaped), until cleared. */
static void test_request_id(void **state)
{
    (void)state;
    char *text = capture(emit_request, NULL);
    char *second = strchr(text, '\n') + 1;
    *strchr(text, '\n') = '\0';
    *strchr(second, '\n') = '\0';
    json_error_t err;
    json_t *a = json_loads(text, 0, &err), *b = json_loads(second, 0, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(a, "request_id")), "req-\"1");
    assert_non_null(json_object_get(a, "job_id"));
    assert_null(json_object_get(b, "request_id"));
    json_decref(a);
    json_decref(b);
    free(text);
}

int main(void)
{
    eh_log_init("log_test");
    eh_log_set_level(EH_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_and_jansson_fields),
        cmocka_unit_test(test_field_builder),
        cmocka_unit_test(test_field_builder_overflow),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_job_id),
        cmocka_unit_test(test_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
