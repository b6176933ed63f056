/*
 * bench/metrics/metrics_cost.c - the CPU cost of counting, independent of
 * the machine's load: nanoseconds per call of what a request (one counter,
 * one histogram observation, two gauge adds) and a committed batch (three
 * counter adds) cost, from 1 and from 4 threads hitting the same series
 * (the worst case: one cache line bouncing between cores). Prints figures.
 *
 *   build/release/bench/metrics_cost [CALLS]     default: 20000000
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "metrics.h"

typedef struct {
    eh_metric_t *counter, *histogram, *gauge;
    long calls;
} arg_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What api_metrics_request and the in-flight gauge do for one HTTP request. */
static void *request_loop(void *p)
{
    arg_t *a = p;
    for (long i = 0; i < a->calls; i++) {
        eh_metrics_gauge_add(a->gauge, 0, 1);
        eh_metrics_counter_add(a->counter, (size_t)(i & 7), 1);
        eh_metrics_histogram_observe(a->histogram, 0, 0.0012);
        eh_metrics_gauge_add(a->gauge, 0, -1);
    }
    return NULL;
}

static double run(arg_t *a, int threads)
{
    pthread_t t[8];
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, request_loop, a) != 0)
            exit(1);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return (now_s() - t0) * 1e9 / (double)a->calls; /* wall ns per call per thread */
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 20000000L;
    static const char *const codes[] = {"200", "201", "202", "204", "400", "404", "503", "other"};
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    eh_metrics_t *reg = eh_metrics_create();
    eh_metrics_label_t code = {"code", codes, 8};
    arg_t a = {eh_metrics_counter(reg, "c_total", "c", 1, &code),
               eh_metrics_histogram(reg, "h_seconds", "h", 0, NULL, bounds, 15),
               eh_metrics_gauge(reg, "g", "g", 0, NULL), calls};
    if (a.counter == NULL || a.histogram == NULL || a.gauge == NULL || eh_metrics_start(reg, 1, false) != EH_OK)
        return 1;
    arg_t off = {NULL, NULL, NULL, calls}; /* EH_METRICS=off: the same calls on NULL */
    printf("per HTTP request (gauge +1, counter, histogram, gauge -1):\n");
    printf("  metrics off, 1 thread : %6.1f ns\n", run(&off, 1));
    printf("  metrics on,  1 thread : %6.1f ns\n", run(&a, 1));
    printf("  metrics on,  4 threads: %6.1f ns (wall per call per thread, all on one series)\n", run(&a, 4));
    eh_metrics_destroy(reg);
    return 0;
}
