#include "worker_metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "mq.h"

static const char *const LINE_RESULTS[] = {"valid", "invalid", "blank"};
static const char *const END_STATUSES[] = {"completed", "failed", "cancelled"};
static const char *const WAIT_STATUSES[] = {"queued", "processing"};
static const char *const QUEUES[] = {EH_MQ_JOBS_QUEUE};
/* A job of a few lines takes well under a second; one of millions with the per-line delay, hours. */
static const double JOB_BUCKETS[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400};

#define MAX_CHILDREN 1024

static struct {
    eh_metrics_t *reg;
    eh_metrics_server_t *server;
    eh_metric_t *lines, *jobs, *job_duration, *running, *processes, *restarts, *queue_messages, *queue_consumers,
        *jobs_waiting;
    int nchildren;
    _Atomic pid_t *pids; /* child slot -> pid, read by the listener thread's collector */
    bool pid_seen[MAX_CHILDREN];
} wm;

static int declare(void)
{
    eh_metrics_label_t result = {"result", LINE_RESULTS, EH_ARRAY_LEN(LINE_RESULTS)};
    eh_metrics_label_t end = {"status", END_STATUSES, EH_ARRAY_LEN(END_STATUSES)};
    eh_metrics_label_t wait = {"status", WAIT_STATUSES, EH_ARRAY_LEN(WAIT_STATUSES)};
    eh_metrics_label_t queue = {"queue", QUEUES, EH_ARRAY_LEN(QUEUES)};
    wm.lines = eh_metrics_counter(wm.reg, "eh_ingest_lines_total",
                                  "Lines of uploaded files committed by the workers, by outcome.", 1, &result);
    wm.jobs = eh_metrics_counter(wm.reg, "eh_jobs_total", "Jobs that reached a terminal status.", 1, &end);
    wm.job_duration = eh_metrics_histogram(wm.reg, "eh_job_duration_seconds",
                                           "Time a worker ran a job, from its claim to its end, per attempt.", 0, NULL,
                                           JOB_BUCKETS, EH_ARRAY_LEN(JOB_BUCKETS));
    wm.running =
        eh_metrics_gauge(wm.reg, "eh_worker_jobs_in_flight", "Jobs the worker processes are running.", 0, NULL);
    wm.processes = eh_metrics_gauge(wm.reg, "eh_worker_processes", "Live worker (consumer) processes.", 0, NULL);
    wm.restarts = eh_metrics_counter(wm.reg, "eh_worker_restarts_total",
                                     "Child processes started again after one exited.", 0, NULL);
    wm.queue_messages = eh_metrics_gauge(
        wm.reg, "eh_queue_messages",
        "Messages ready in the job queue (the reaper's last look, every EH_REAPER_INTERVAL_MS).", 1, &queue);
    wm.queue_consumers = eh_metrics_gauge(wm.reg, "eh_queue_consumers",
                                          "Consumers of the job queue (the reaper's last look).", 1, &queue);
    wm.jobs_waiting = eh_metrics_gauge(wm.reg, "eh_jobs_current",
                                       "Jobs queued or processing in PostgreSQL (the reaper's last look).", 1, &wait);
    return wm.lines && wm.jobs && wm.job_duration && wm.running && wm.processes && wm.restarts && wm.queue_messages &&
                   wm.queue_consumers && wm.jobs_waiting
               ? EH_OK
               : EH_ERR;
}

/* The children's memory and CPU, read from /proc at scrape time (their own process_* are not scraped). */
static int children_collect(eh_buf_t *out, void *ud)
{
    EH_UNUSED(ud);
    double rss = 0, cpu = 0;
    for (int i = 0; i < wm.nchildren; i++) {
        pid_t pid = atomic_load_explicit(&wm.pids[i], memory_order_relaxed);
        eh_proc_stats_t st;
        if (pid > 0 && eh_metrics_proc_read(pid, &st) == EH_OK) {
            rss += (double)st.rss_bytes;
            cpu += st.cpu_seconds;
        }
    }
    if (eh_metrics_write_sample(out, "eh_worker_children_resident_memory_bytes", "gauge",
                                "Resident memory of the supervisor's live children, summed.", rss) != EH_OK ||
        eh_metrics_write_sample(out, "eh_worker_children_cpu_seconds", "gauge",
                                "CPU seconds of the supervisor's live children, summed (drops when one restarts).",
                                cpu) != EH_OK)
        return EH_ERR;
    return EH_OK;
}

int worker_metrics_start(const eh_config_t *cfg, int nchildren)
{
    if (!cfg->metrics)
        return EH_OK;
    if (nchildren > MAX_CHILDREN)
        nchildren = MAX_CHILDREN;
    wm.nchildren = nchildren;
    wm.pids = calloc((size_t)nchildren, sizeof(*wm.pids));
    wm.reg = eh_metrics_create();
    if (wm.pids == NULL || wm.reg == NULL || declare() != EH_OK ||
        eh_metrics_start(wm.reg, (size_t)nchildren + 1, true) != EH_OK ||
        eh_metrics_add_collector(wm.reg, eh_metrics_process_collect, NULL) != EH_OK ||
        eh_metrics_add_collector(wm.reg, children_collect, NULL) != EH_OK) {
        eh_log_error("cannot set up the metrics registry");
        goto fail;
    }
    wm.server = eh_metrics_server_start(cfg->worker_metrics_addr, wm.reg);
    if (wm.server == NULL)
        goto fail;
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:i}", "addr", cfg->worker_metrics_addr, "port", eh_metrics_server_port(wm.server)),
              "metrics listener ready");
    return EH_OK;
fail:
    worker_metrics_stop();
    return EH_ERR;
}

void worker_metrics_stop(void)
{
    eh_metrics_server_stop(wm.server);
    eh_metrics_destroy(wm.reg);
    free((void *)wm.pids);
    memset(&wm, 0, sizeof(wm));
}

int worker_metrics_port(void)
{
    return eh_metrics_server_port(wm.server);
}

void worker_metrics_fork_prepare(void)
{
    eh_metrics_server_fork_prepare(wm.server);
}

void worker_metrics_fork_parent(void)
{
    eh_metrics_server_fork_parent(wm.server);
}

void worker_metrics_child(int slot)
{
    eh_metrics_server_forget(wm.server); /* the listener's thread stayed in the supervisor */
    wm.server = NULL;
    eh_metrics_set_slot(wm.reg, (size_t)slot + 1);
}

void worker_metrics_child_pid(int slot, pid_t pid)
{
    if (wm.reg == NULL || slot < 0 || slot >= wm.nchildren)
        return;
    if (pid > 0) {
        eh_metrics_reset_slot_gauges(wm.reg, (size_t)slot + 1);
        if (wm.pid_seen[slot])
            eh_metrics_counter_add(wm.restarts, 0, 1);
        wm.pid_seen[slot] = true;
    }
    atomic_store_explicit(&wm.pids[slot], pid, memory_order_relaxed);
}

void worker_metrics_processes(int consumers)
{
    eh_metrics_gauge_set(wm.processes, 0, consumers);
}

void worker_metrics_lines(uint64_t valid, uint64_t invalid, uint64_t blank)
{
    eh_metrics_counter_add(wm.lines, 0, valid);
    eh_metrics_counter_add(wm.lines, 1, invalid);
    eh_metrics_counter_add(wm.lines, 2, blank);
}

void worker_metrics_job_running(int delta)
{
    eh_metrics_gauge_add(wm.running, 0, delta);
}

void worker_metrics_job_end(const char *status, double seconds)
{
    eh_metrics_counter_add(wm.jobs, eh_metrics_value_index(wm.jobs, 0, status), 1);
    if (seconds >= 0)
        eh_metrics_histogram_observe(wm.job_duration, 0, seconds);
}

void worker_metrics_queue(int64_t messages, int64_t consumers)
{
    if (messages >= 0)
        eh_metrics_gauge_set(wm.queue_messages, 0, messages);
    if (consumers >= 0)
        eh_metrics_gauge_set(wm.queue_consumers, 0, consumers);
}

void worker_metrics_jobs_waiting(int64_t queued, int64_t processing)
{
    if (queued >= 0)
        eh_metrics_gauge_set(wm.jobs_waiting, 0, queued);
    if (processing >= 0)
        eh_metrics_gauge_set(wm.jobs_waiting, 1, processing);
}
