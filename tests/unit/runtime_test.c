/*
 * runtime_test.c - the runtime layer of common/: back-off with jitter, the
 * stop token (threads, signal handlers, sleeps cut short) and the keepalive
 * (reconnect with back-off until connected, stopped or out of time).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/testutil.h"
#include "backoff.h"
#include "keepalive.h"
#include "stop.h"
#include "timefmt.h"

static void test_backoff_doubles_within_jitter(void **state)
{
    (void)state;
    eh_backoff_t b;
    eh_backoff_init(&b, 100, 1600);
    int64_t ceilings[] = {100, 200, 400, 800, 1600, 1600, 1600};
    for (size_t i = 0; i < EH_ARRAY_LEN(ceilings); i++) {
        int64_t d = eh_backoff_next(&b);
        assert_true(d >= ceilings[i] / 2);
        assert_true(d <= ceilings[i]);
    }
    assert_int_equal(b.failures, 7);
    eh_backoff_reset(&b);
    int64_t d = eh_backoff_next(&b);
    assert_true(d >= 50 && d <= 100);
}

static void test_backoff_jitter_spreads(void **state)
{
    (void)state;
    /* Many clients failing together must not all retry at the same moment. */
    int64_t seen_min = INT64_MAX, seen_max = 0;
    for (int i = 0; i < 200; i++) {
        eh_backoff_t b;
        eh_backoff_init(&b, 1000, 1000);
        int64_t d = eh_backoff_next(&b);
        assert_true(d >= 500 && d <= 1000);
        seen_min = d < seen_min ? d : seen_min;
        seen_max = d > seen_max ? d : seen_max;
    }
    assert_true(seen_max - seen_min >= 200);
}

static void test_backoff_clamps_and_schedules(void **state)
{
    (void)state;
    eh_backoff_t b;
    eh_backoff_init(&b, 0, -5); /* nonsense bounds are clamped to 1 ms */
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(b.max_ms, 1);
    assert_int_equal(eh_backoff_next(&b), 1);

    eh_backoff_init(&b, 100, 100);
    assert_true(eh_backoff_ready(&b, 0));
    int64_t d = eh_backoff_fail(&b, 1000);
    assert_false(eh_backoff_ready(&b, 1000 + d - 1));
    assert_true(eh_backoff_ready(&b, 1000 + d));
    eh_backoff_reset(&b);
    assert_true(eh_backoff_ready(&b, 0));

    /* A huge max never overflows while doubling. */
    eh_backoff_init(&b, 1, INT64_MAX);
    for (int i = 0; i < 200; i++)
        assert_true(eh_backoff_next(&b) >= 1);
}

static void test_stop_null_token_sleeps(void **state)
{
    (void)state;
    assert_false(eh_stop_requested(NULL));
    assert_int_equal(eh_stop_fd(NULL), -1);
    eh_stop_request(NULL);
    int64_t t0 = eh_time_mono_ms();
    assert_false(eh_stop_sleep_ms(NULL, 30));
    assert_true(eh_time_mono_ms() - t0 >= 30);
    eh_stop_destroy(NULL);
}

static void test_stop_sleep_full_then_cut(void **state)
{
    (void)state;
    eh_stop_t *s = eh_stop_create();
    assert_non_null(s);
    int64_t t0 = eh_time_mono_ms();
    assert_false(eh_stop_sleep_ms(s, 40));
    assert_true(eh_time_mono_ms() - t0 >= 40);
    eh_stop_request(s);
    eh_stop_request(s); /* idempotent */
    assert_true(eh_stop_requested(s));
    t0 = eh_time_mono_ms();
    assert_true(eh_stop_sleep_ms(s, 10000));
    assert_true(eh_stop_sleep_until(s, eh_time_mono_ms() + 10000));
    assert_true(eh_stop_sleep_ms(s, 0));
    assert_true(eh_time_mono_ms() - t0 < 1000);
    eh_stop_destroy(s);
}

static void *request_later(void *arg)
{
    usleep(100 * 1000);
    eh_stop_request(arg);
    return NULL;
}

static void test_stop_from_another_thread(void **state)
{
    (void)state;
    eh_stop_t *s = eh_stop_create();
    assert_non_null(s);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, request_later, s), 0);
    int64_t t0 = eh_time_mono_ms();
    assert_true(eh_stop_sleep_ms(s, 20000));
    int64_t took = eh_time_mono_ms() - t0;
    assert_true(took >= 50 && took < 5000);
    assert_int_equal(pthread_join(t, NULL), 0);
    eh_stop_destroy(s);
}

static eh_stop_t *signal_token;
static void on_alarm(int sig)
{
    (void)sig;
    eh_stop_request(signal_token);
}

static void test_stop_from_signal_handler(void **state)
{
    (void)state;
    signal_token = eh_stop_create();
    assert_non_null(signal_token);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    struct sigaction old;
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    alarm(1);
    int64_t t0 = eh_time_mono_ms();
    assert_true(eh_stop_sleep_ms(signal_token, 30000));
    assert_true(eh_time_mono_ms() - t0 < 10000);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
    eh_stop_destroy(signal_token);
    signal_token = NULL;
}

/* A connection kind whose server is "down" for the first fail_first opens. */
typedef struct fake_server {
    int opens;
    int fail_first;
    int closes;
    bool healthy;
    int conn; /* the handle handed out: its address */
} fake_server_t;

static void *fake_open(void *ud)
{
    fake_server_t *f = ud;
    f->opens++;
    return f->opens > f->fail_first ? &f->conn : NULL;
}

static bool fake_healthy(void *conn, void *ud)
{
    fake_server_t *f = ud;
    assert_ptr_equal(conn, &f->conn);
    return f->healthy;
}

static void fake_close(void *conn, void *ud)
{
    fake_server_t *f = ud;
    assert_ptr_equal(conn, &f->conn);
    f->closes++;
}

static const eh_keepalive_ops_t FAKE_OPS = {
    .what = "fake", .open = fake_open, .healthy = fake_healthy, .close = fake_close};

static void test_keepalive_waits_through_failures(void **state)
{
    (void)state;
    fake_server_t f = {.fail_first = 3, .healthy = true};
    eh_keepalive_t *ka = eh_keepalive_create(&FAKE_OPS, &f, 10, 40);
    assert_non_null(ka);
    int64_t t0 = eh_time_mono_ms();
    void *c = eh_keepalive_wait(ka, NULL, 5000);
    assert_ptr_equal(c, &f.conn);
    assert_int_equal(f.opens, 4);
    /* Three failures: at least 5 + 10 + 20 ms of jittered back-off in between. */
    assert_true(eh_time_mono_ms() - t0 >= 35);
    assert_int_equal(eh_keepalive_failures(ka), 0);
    assert_true(eh_keepalive_is_open(ka));
    /* Healthy: the same connection, no new open. */
    assert_ptr_equal(eh_keepalive_get(ka), &f.conn);
    assert_int_equal(f.opens, 4);
    eh_keepalive_destroy(ka);
    assert_int_equal(f.closes, 1);
}

static void test_keepalive_get_respects_backoff(void **state)
{
    (void)state;
    fake_server_t f = {.fail_first = 1000, .healthy = true};
    eh_keepalive_t *ka = eh_keepalive_create(&FAKE_OPS, &f, 60000, 60000);
    assert_non_null(ka);
    assert_null(eh_keepalive_get(ka));
    assert_int_equal(f.opens, 1);
    /* Within the back-off delay no attempt is made: a caller on a request path answers at once. */
    for (int i = 0; i < 100; i++)
        assert_null(eh_keepalive_get(ka));
    assert_int_equal(f.opens, 1);
    assert_int_equal(eh_keepalive_failures(ka), 1);
    /* wait with 0 ms makes no further attempt either. */
    assert_null(eh_keepalive_wait(ka, NULL, 0));
    assert_int_equal(f.opens, 1);
    eh_keepalive_destroy(ka);
    assert_int_equal(f.closes, 0);
}

static void test_keepalive_broken_reopens(void **state)
{
    (void)state;
    fake_server_t f = {.fail_first = 0, .healthy = true};
    eh_keepalive_t *ka = eh_keepalive_create(&FAKE_OPS, &f, 10, 10);
    assert_non_null(ka);
    assert_ptr_equal(eh_keepalive_get(ka), &f.conn);
    eh_keepalive_broken(ka);
    assert_int_equal(f.closes, 1);
    assert_false(eh_keepalive_is_open(ka));
    assert_ptr_equal(eh_keepalive_get(ka), &f.conn);
    assert_int_equal(f.opens, 2);
    f.healthy = false; /* the health check closes it; the next attempt opens a fresh one */
    assert_ptr_equal(eh_keepalive_get(ka), &f.conn);
    assert_int_equal(f.closes, 2);
    assert_int_equal(f.opens, 3);
    f.healthy = true;
    eh_keepalive_destroy(ka);
    assert_int_equal(f.closes, 3);
}

static void test_keepalive_stop_ends_wait(void **state)
{
    (void)state;
    fake_server_t f = {.fail_first = 1 << 30, .healthy = true};
    eh_keepalive_t *ka = eh_keepalive_create(&FAKE_OPS, &f, 50, 200);
    eh_stop_t *s = eh_stop_create();
    assert_non_null(ka);
    assert_non_null(s);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, request_later, s), 0);
    int64_t t0 = eh_time_mono_ms();
    assert_null(eh_keepalive_wait(ka, s, -1));
    assert_true(eh_time_mono_ms() - t0 < 5000);
    assert_true(f.opens >= 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    /* The deadline also ends it. */
    t0 = eh_time_mono_ms();
    assert_null(eh_keepalive_wait(ka, NULL, 300));
    int64_t took = eh_time_mono_ms() - t0;
    assert_true(took >= 250 && took < 5000);
    eh_stop_destroy(s);
    eh_keepalive_destroy(ka);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_within_jitter),  cmocka_unit_test(test_backoff_jitter_spreads),
        cmocka_unit_test(test_backoff_clamps_and_schedules),   cmocka_unit_test(test_stop_null_token_sleeps),
        cmocka_unit_test(test_stop_sleep_full_then_cut),       cmocka_unit_test(test_stop_from_another_thread),
        cmocka_unit_test(test_stop_from_signal_handler),       cmocka_unit_test(test_keepalive_waits_through_failures),
        cmocka_unit_test(test_keepalive_get_respects_backoff), cmocka_unit_test(test_keepalive_broken_reopens),
        cmocka_unit_test(test_keepalive_stop_ends_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
