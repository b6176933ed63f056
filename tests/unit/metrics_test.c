/*
 * metrics_test.c - common/metrics.c: series addressing, counting from
 * several slots (one per forked worker) and threads, histogram buckets, the
 * text format 0.0.4 (escaping, cumulative buckets, sparse families), and
 * the process_* collector.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

static const char *const COLORS[] = {"red", "green", "other"};
static const char *const SIZES[] = {"s", "l"};

/* The rendering as a NUL-terminated string (freed by the caller). */
static char *render(eh_metrics_t *reg)
{
    eh_buf_t out = EH_BUF_INIT;
    assert_int_equal(eh_metrics_render(reg, &out), EH_OK);
    assert_int_equal(eh_buf_append(&out, "", 1), EH_OK);
    return out.p;
}

static void test_series_and_labels(void **state)
{
    (void)state;
    eh_metrics_t *reg = eh_metrics_create();
    assert_non_null(reg);
    eh_metrics_label_t labels[] = {{"color", COLORS, 3}, {"size", SIZES, 2}};
    eh_metric_t *c = eh_metrics_counter(reg, "t_things_total", "Things.", 2, labels);
    assert_non_null(c);
    /* bad declarations are refused */
    assert_null(eh_metrics_counter(reg, "1bad", "x", 0, NULL));
    eh_metrics_label_t le = {"le", SIZES, 2};
    assert_null(eh_metrics_counter(reg, "t_le", "x", 1, &le));
    const double unsorted[] = {1, 0.5};
    assert_null(eh_metrics_histogram(reg, "t_h", "x", 0, NULL, unsorted, 2));
    assert_int_equal(eh_metrics_start(reg, 1, false), EH_OK);
    /* no declaration after start */
    assert_null(eh_metrics_counter(reg, "t_late_total", "x", 0, NULL));

    assert_int_equal(eh_metrics_value_index(c, 0, "green"), 1);
    assert_int_equal(eh_metrics_value_index(c, 0, "blue"), 2); /* unknown -> the last value */
    size_t idx[] = {1, 1};
    size_t s = eh_metrics_series(c, idx);
    assert_int_equal(s, 3);
    eh_metrics_counter_add(c, s, 5);
    eh_metrics_counter_add(c, s, 2);
    assert_int_equal(eh_metrics_value(c, s), 7);
    eh_metrics_counter_add(NULL, 0, 1); /* metrics off: no-op */
    char *text = render(reg);
    assert_non_null(strstr(text, "# HELP t_things_total Things.\n# TYPE t_things_total counter\n"));
    assert_non_null(strstr(text, "t_things_total{color=\"green\",size=\"l\"} 7\n"));
    assert_non_null(strstr(text, "t_things_total{color=\"red\",size=\"s\"} 0\n")); /* known series start at 0 */
    free(text);
    eh_metrics_destroy(reg);
}

static void test_gauges_histograms_sparse(void **state)
{
    (void)state;
    static const char *const odd[] = {"a\"b\\c\nd", "plain"};
    eh_metrics_t *reg = eh_metrics_create();
    eh_metrics_label_t l = {"v", odd, 2};
    eh_metric_t *g = eh_metrics_gauge(reg, "t_gauge", "A gauge\\with\nnewline.", 1, &l);
    const double bounds[] = {0.1, 1, 10};
    eh_metric_t *h = eh_metrics_histogram(reg, "t_seconds", "Durations.", 0, NULL, bounds, 3);
    eh_metric_t *sp = eh_metrics_counter(reg, "t_sparse_total", "Sparse.", 1, &l);
    eh_metrics_sparse(sp);
    assert_non_null(g);
    assert_non_null(h);
    assert_non_null(sp);
    assert_int_equal(eh_metrics_start(reg, 1, false), EH_OK);
    eh_metrics_gauge_add(g, 0, 3);
    eh_metrics_gauge_add(g, 0, -5);
    eh_metrics_gauge_set(g, 1, 42);
    eh_metrics_histogram_observe(h, 0, 0.05);
    eh_metrics_histogram_observe(h, 0, 0.1); /* le is inclusive */
    eh_metrics_histogram_observe(h, 0, 5);
    eh_metrics_histogram_observe(h, 0, 100);
    eh_metrics_counter_add(sp, 1, 1);
    char *text = render(reg);
    assert_non_null(strstr(text, "# HELP t_gauge A gauge\\\\with\\nnewline.\n"));
    assert_non_null(strstr(text, "t_gauge{v=\"a\\\"b\\\\c\\nd\"} -2\n"));
    assert_non_null(strstr(text, "t_gauge{v=\"plain\"} 42\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.1\"} 2\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"10\"} 3\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "t_seconds_sum 105.15000000000001\n"));
    assert_non_null(strstr(text, "t_seconds_count 4\n"));
    assert_non_null(strstr(text, "t_sparse_total{v=\"plain\"} 1\n"));
    assert_null(strstr(text, "t_sparse_total{v=\"a")); /* never counted: not rendered */
    free(text);
    eh_metrics_destroy(reg);
}

/* Forked children each add to their own slot of a shared registry; the parent's rendering sums them. */
static void test_shared_slots_across_fork(void **state)
{
    (void)state;
    eh_metrics_t *reg = eh_metrics_create();
    eh_metric_t *c = eh_metrics_counter(reg, "t_lines_total", "Lines.", 0, NULL);
    eh_metric_t *g = eh_metrics_gauge(reg, "t_running", "Running.", 0, NULL);
    assert_int_equal(eh_metrics_start(reg, 4, true), EH_OK);
    eh_metrics_counter_add(c, 0, 1); /* slot 0: the parent */
    for (int child = 1; child <= 3; child++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            eh_metrics_set_slot(reg, (size_t)child);
            for (int i = 0; i < 1000; i++)
                eh_metrics_counter_add(c, 0, (uint64_t)child);
            eh_metrics_gauge_add(g, 0, 1);
            _exit(0);
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(eh_metrics_value(c, 0), 1 + 1000 * (1 + 2 + 3));
    assert_int_equal(eh_metrics_value(g, 0), 3);
    /* a dead child's gauges go, its counts stay */
    eh_metrics_reset_slot_gauges(reg, 2);
    assert_int_equal(eh_metrics_value(g, 0), 2);
    assert_int_equal(eh_metrics_value(c, 0), 6001);
    eh_metrics_destroy(reg);
}

typedef struct {
    eh_metric_t *c;
    eh_metric_t *h;
} thread_arg_t;

static void *adder(void *arg)
{
    thread_arg_t *a = arg;
    for (int i = 0; i < 100000; i++) {
        eh_metrics_counter_add(a->c, 0, 1);
        eh_metrics_histogram_observe(a->h, 0, 0.5);
    }
    return NULL;
}

/* No count is lost between threads (atomics, no lock). */
static void test_threads(void **state)
{
    (void)state;
    eh_metrics_t *reg = eh_metrics_create();
    const double bounds[] = {1};
    thread_arg_t a = {eh_metrics_counter(reg, "t_total", "T.", 0, NULL),
                      eh_metrics_histogram(reg, "t_h", "H.", 0, NULL, bounds, 1)};
    assert_int_equal(eh_metrics_start(reg, 1, false), EH_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, adder, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(eh_metrics_value(a.c, 0), 400000);
    char *text = render(reg);
    assert_non_null(strstr(text, "t_h_count 400000\n"));
    assert_non_null(strstr(text, "t_h_sum 200000\n"));
    free(text);
    eh_metrics_destroy(reg);
}

static void test_process_collector(void **state)
{
    (void)state;
    eh_proc_stats_t st;
    assert_int_equal(eh_metrics_proc_read(0, &st), EH_OK);
    assert_true(st.rss_bytes > 0);
    assert_true(st.vsize_bytes >= st.rss_bytes);
    assert_true(st.open_fds >= 3);
    assert_true(st.max_fds > 0);
    assert_true(st.start_time_s > 1.5e9);
    assert_int_equal(eh_metrics_proc_read(getppid(), &st), EH_OK);
    assert_int_equal(st.max_fds, -1);
    eh_metrics_t *reg = eh_metrics_create();
    assert_int_equal(eh_metrics_start(reg, 1, false), EH_OK);
    assert_int_equal(eh_metrics_add_collector(reg, eh_metrics_process_collect, NULL), EH_OK);
    char *text = render(reg);
    const char *names[] = {"process_cpu_seconds_total ",
                           "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ",
                           "process_start_time_seconds ",
                           "process_open_fds ",
                           "process_max_fds "};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_non_null(strstr(text, names[i]));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    free(text);
    eh_metrics_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_and_labels),        cmocka_unit_test(test_gauges_histograms_sparse),
        cmocka_unit_test(test_shared_slots_across_fork), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_process_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
