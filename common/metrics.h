/*
 * metrics.h - a small Prometheus registry: counters, gauges and histograms
 * with fixed buckets, labels drawn from fixed lists of values, rendered in
 * the text format 0.0.4.
 *
 * Life cycle, in two phases:
 *   1. eh_metrics_create(), then eh_metrics_counter/gauge/histogram() declare
 *      every family with its label names and the complete list of values of
 *      each label. Nothing is counted yet.
 *   2. eh_metrics_start(reg, nslots, shared) allocates the values: one copy
 *      of every series per slot, in shared memory (MAP_SHARED) when asked, so
 *      that a supervisor maps it before fork and its children write their own
 *      slot. Rendering sums the slots.
 *
 * Counting is one relaxed atomic add on the slot's cell: no lock, ever. The
 * calls accept a NULL metric and do nothing, so that EH_METRICS=off costs a
 * test and a branch at each call site.
 *
 * Series are addressed by an index: eh_metrics_series() turns one value
 * index per label into it (mixed radix, first label most significant). A
 * label value outside the declared list cannot be expressed: the set of
 * series is bounded by construction, and every series is rendered from
 * the start (zero until counted), as Prometheus recommends for known series.
 */
#ifndef EH_METRICS_H
#define EH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "eh.h"

#define EH_METRICS_MAX_LABELS 3
#define EH_METRICS_MAX_BUCKETS 24

typedef struct eh_metrics eh_metrics_t;
typedef struct eh_metric eh_metric_t;

/* One label: its name and every value it may take (borrowed: static strings). */
typedef struct eh_metrics_label {
    const char *name;
    const char *const *values;
    size_t nvalues;
} eh_metrics_label_t;

/* New empty registry; NULL on out of memory. */
EH_MUST_CHECK eh_metrics_t *eh_metrics_create(void);
/* Frees the registry and its values (unmaps shared memory). NULL is accepted. */
void eh_metrics_destroy(eh_metrics_t *reg);

/*
 * Declares a family (phase 1). name and help are borrowed (static strings);
 * labels (nlabels <= EH_METRICS_MAX_LABELS) are copied, their value lists
 * borrowed. Returns the family, owned by the registry; NULL when called
 * after eh_metrics_start, with a bad name, or out of memory.
 */
EH_MUST_CHECK eh_metric_t *eh_metrics_counter(eh_metrics_t *reg, const char *name, const char *help, size_t nlabels,
                                              const eh_metrics_label_t *labels);
EH_MUST_CHECK eh_metric_t *eh_metrics_gauge(eh_metrics_t *reg, const char *name, const char *help, size_t nlabels,
                                            const eh_metrics_label_t *labels);
/* bounds: nbounds increasing upper bounds (le), at most EH_METRICS_MAX_BUCKETS; +Inf is implied. Copied. */
EH_MUST_CHECK eh_metric_t *eh_metrics_histogram(eh_metrics_t *reg, const char *name, const char *help, size_t nlabels,
                                                const eh_metrics_label_t *labels, const double *bounds, size_t nbounds);

/*
 * Renders only the series of m counted at least once: for a family whose
 * label product is large and mostly unused (route x method x code). Phase 1.
 */
void eh_metrics_sparse(eh_metric_t *m);

/*
 * Allocates the values of every declared family, nslots copies (>= 1); with
 * shared, in an anonymous MAP_SHARED mapping that forked children share.
 * EH_OK or EH_ERR (nothing allocated; the registry may be destroyed).
 */
EH_MUST_CHECK int eh_metrics_start(eh_metrics_t *reg, size_t nslots, bool shared);

/* The slot this process writes (0 by default); a forked child sets its own. Out of range: ignored. */
void eh_metrics_set_slot(eh_metrics_t *reg, size_t slot);
/*
 * Zeroes the gauges of slot (a child that died left its in-flight gauges
 * behind). Counters and histograms keep their values: a sum over slots must
 * never go down.
 */
void eh_metrics_reset_slot_gauges(eh_metrics_t *reg, size_t slot);

/* The series of one value index per label (0 for a family without labels). Out of range: the last value. */
size_t eh_metrics_series(const eh_metric_t *m, const size_t *value_idx);
/* The index of value in the list of label `label` of m; the last index (by convention "other") when absent. */
size_t eh_metrics_value_index(const eh_metric_t *m, size_t label, const char *value);

/* Counters: add v to the series. m NULL: no-op. */
void eh_metrics_counter_add(eh_metric_t *m, size_t series, uint64_t v);
/* Gauges: set or add to this process's slot. m NULL: no-op. */
void eh_metrics_gauge_set(eh_metric_t *m, size_t series, int64_t v);
void eh_metrics_gauge_add(eh_metric_t *m, size_t series, int64_t delta);
/* Histograms: one observation (seconds, bytes, ...; negative counts as 0). m NULL: no-op. */
void eh_metrics_histogram_observe(eh_metric_t *m, size_t series, double v);

/* The sum over slots of a counter or gauge series (tests, and collectors that derive values). */
int64_t eh_metrics_value(const eh_metric_t *m, size_t series);

/* Writes extra text at the end of every rendering (process_* metrics, values read at scrape time). */
typedef int (*eh_metrics_collect_fn)(eh_buf_t *out, void *ud);
/* Registers a collector (at most 8), called in order of registration. EH_OK or EH_ERR. */
EH_MUST_CHECK int eh_metrics_add_collector(eh_metrics_t *reg, eh_metrics_collect_fn fn, void *ud);

/* Appends the whole registry in the text format 0.0.4. EH_OK or EH_ERR (out of memory; out may hold part). */
EH_MUST_CHECK int eh_metrics_render(eh_metrics_t *reg, eh_buf_t *out);

/* Appends "# HELP/# TYPE" and one sample without labels: for collectors. EH_OK or EH_ERR. */
EH_MUST_CHECK int eh_metrics_write_sample(eh_buf_t *out, const char *name, const char *type, const char *help,
                                          double value);

/* ---- process_* (metrics_process.c) ---- */

/* What /proc says about one process. */
typedef struct eh_proc_stats {
    double cpu_seconds;  /* user + system */
    double start_time_s; /* since the epoch */
    uint64_t rss_bytes;
    uint64_t vsize_bytes;
    int64_t open_fds; /* -1 when the fd folder cannot be read */
    int64_t max_fds;  /* soft RLIMIT_NOFILE; -1 for another process */
} eh_proc_stats_t;

/* Reads the stats of pid (0: this process). EH_OK, or EH_ERR when /proc has no such process. */
EH_MUST_CHECK int eh_metrics_proc_read(pid_t pid, eh_proc_stats_t *out);
/* Collector: the standard process_* metrics of this process (ud unused). */
int eh_metrics_process_collect(eh_buf_t *out, void *ud);

/* ---- the /metrics listener (metrics_http.c) ---- */

typedef struct eh_metrics_server eh_metrics_server_t;

/*
 * Listens on addr ("host:port", "[v6]:port"; port 0 picks one) and serves
 * GET /metrics from a thread of its own, one short connection at a time
 * (a scraper, not the public). NULL after logging why.
 */
EH_MUST_CHECK eh_metrics_server_t *eh_metrics_server_start(const char *addr, eh_metrics_t *reg);
/* The bound port. */
int eh_metrics_server_port(const eh_metrics_server_t *s);
/* Stops the thread, closes the socket, frees. NULL is accepted. */
void eh_metrics_server_stop(eh_metrics_server_t *s);
/*
 * Around fork(): prepare before it (waits for a render in progress and
 * holds the next one back, so the child inherits no half-built memory),
 * parent after it in the parent, forget after it in the child. NULL is
 * accepted.
 */
void eh_metrics_server_fork_prepare(eh_metrics_server_t *s);
void eh_metrics_server_fork_parent(eh_metrics_server_t *s);
/*
 * In a forked child, after fork_prepare in the parent: closes the inherited
 * sockets and frees the copy, without touching the thread (which does not
 * exist in the child).
 */
void eh_metrics_server_forget(eh_metrics_server_t *s);

#endif
