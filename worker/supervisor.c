/*
 * supervisor.c - the parent of eh-worker, after nginx's master process.
 *
 * The supervisor opens no connection, socket or handle: it only forks the
 * children (EH_WORKERS consumers and one reaper), reaps them and respawns the
 * ones that die, with an exponential back-off so that a child that crashes at
 * start does not spin. Signals are blocked and taken synchronously with
 * sigtimedwait(), so there is no handler and no race between checking a flag
 * and going to sleep.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"
#include "signals.h"
#include "worker.h"
#include "worker_metrics.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
/* A child that lived this long was healthy: its next crash restarts it at once again. */
#define STABLE_AFTER_MS 30000
/* The longest the supervisor sleeps without looking at its children. */
#define TICK_MS 1000

typedef enum { SLOT_CONSUMER, SLOT_REAPER } slot_kind_t;

typedef struct slot {
    slot_kind_t kind;
    int index;
    pid_t pid;             /* 0 while not running */
    int64_t started_ms;    /* monotonic, of the running child */
    int64_t backoff_ms;    /* delay before the next respawn; 0 after a healthy run */
    int64_t respawn_at_ms; /* monotonic; meaningful while pid is 0 */
    bool given_up;         /* exited with WORKER_EXIT_FATAL: never respawned */
} slot_t;

static const char *slot_kind_name(slot_kind_t kind)
{
    return kind == SLOT_REAPER ? "reaper" : "worker";
}

/* The metrics slot of a child: the reaper first, then the consumers (supervisor.c's own order of slots). */
static int slot_metrics_index(const slot_t *slot)
{
    return slot->kind == SLOT_REAPER ? 0 : slot->index + 1;
}

/* Live consumers, for eh_worker_processes. */
static void count_consumers(const slot_t *slots, int n)
{
    int live = 0;
    for (int i = 0; i < n; i++)
        live += slots[i].kind == SLOT_CONSUMER && slots[i].pid != 0;
    worker_metrics_processes(live);
}

static void noop_handler(int sig)
{
    EH_UNUSED(sig);
}

/* In the child: never outlive the supervisor (a SIGKILLed supervisor would leave orphans holding leases). */
static int child_start(const eh_config_t *cfg, const slot_t *slot, pid_t parent)
{
    worker_metrics_child(slot_metrics_index(slot)); /* first: it releases what the parent held across fork */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
        eh_log_errno(EH_LOG_ERROR, errno, "prctl(PR_SET_PDEATHSIG)");
        return WORKER_EXIT_FATAL;
    }
    if (getppid() != parent) /* the supervisor died between fork and prctl */
        return 0;
    if (worker_child_signals() != EH_OK) {
        eh_log_errno(EH_LOG_ERROR, errno, "sigaction");
        return WORKER_EXIT_FATAL;
    }
    eh_log_init(slot_kind_name(slot->kind));
    return slot->kind == SLOT_REAPER ? worker_reaper_run(cfg) : worker_consumer_run(cfg);
}

/* Forks the child of slot. Returns -1 in the parent, or the child's exit status in the child. */
static int spawn(slot_t *slot, int64_t now, const eh_config_t *cfg, bool *is_child)
{
    pid_t parent = getpid();
    worker_metrics_fork_prepare();
    pid_t pid = fork();
    if (pid != 0)
        worker_metrics_fork_parent();
    if (pid < 0) {
        eh_log_errno(EH_LOG_ERROR, errno, "fork");
        slot->backoff_ms = BACKOFF_MAX_MS;
        slot->respawn_at_ms = now + slot->backoff_ms;
        return -1;
    }
    if (pid == 0) {
        *is_child = true;
        return child_start(cfg, slot, parent);
    }
    slot->pid = pid;
    slot->started_ms = now;
    worker_metrics_child_pid(slot_metrics_index(slot), pid);
    eh_log_kv(
        EH_LOG_INFO,
        json_pack("{s:i, s:s, s:i}", "child_pid", (int)pid, "kind", slot_kind_name(slot->kind), "slot", slot->index),
        "child started");
    return -1;
}

static slot_t *find_slot(slot_t *slots, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (slots[i].pid == pid)
            return &slots[i];
    return NULL;
}

static void log_exit(const slot_t *slot, pid_t pid, int st, int64_t lived_ms)
{
    json_t *f = json_pack("{s:i, s:s, s:i, s:I}", "child_pid", (int)pid, "kind", slot_kind_name(slot->kind), "slot",
                          slot->index, "lived_ms", (json_int_t)lived_ms);
    if (WIFEXITED(st)) {
        int code = WEXITSTATUS(st);
        if (f != NULL)
            json_object_set_new(f, "exit_code", json_integer(code));
        eh_log_kv(code == 0 ? EH_LOG_INFO : EH_LOG_WARN, f, "child exited");
    } else if (WIFSIGNALED(st)) {
        if (f != NULL) {
            json_object_set_new(f, "signal", json_integer(WTERMSIG(st)));
            json_object_set_new(f, "core_dumped", json_boolean(WCOREDUMP(st)));
        }
        eh_log_kv(EH_LOG_WARN, f, "child killed by signal %d", WTERMSIG(st));
    } else {
        json_decref(f);
    }
}

/* Collects every exited child and schedules its respawn (unless stopping or fatal). */
static void reap(slot_t *slots, int n, bool stopping)
{
    for (;;) {
        int st = 0;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        slot_t *slot = find_slot(slots, n, pid);
        if (slot == NULL)
            continue;
        int64_t now = eh_time_mono_ms();
        int64_t lived = now - slot->started_ms;
        log_exit(slot, pid, st, lived);
        slot->pid = 0;
        worker_metrics_child_pid(slot_metrics_index(slot), 0);
        if (stopping)
            continue;
        if (WIFEXITED(st) && WEXITSTATUS(st) == WORKER_EXIT_FATAL) {
            slot->given_up = true;
            eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "kind", slot_kind_name(slot->kind), "slot", slot->index),
                      "child cannot start; not respawning it");
            continue;
        }
        if (lived >= STABLE_AFTER_MS || slot->backoff_ms == 0)
            slot->backoff_ms = BACKOFF_MIN_MS;
        else
            slot->backoff_ms = slot->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : slot->backoff_ms * 2;
        slot->respawn_at_ms = now + slot->backoff_ms;
    }
}

static int live_children(const slot_t *slots, int n)
{
    int live = 0;
    for (int i = 0; i < n; i++)
        live += slots[i].pid != 0;
    return live;
}

static void signal_all(const slot_t *slots, int n, int sig)
{
    for (int i = 0; i < n; i++)
        if (slots[i].pid != 0 && kill(slots[i].pid, sig) != 0 && errno != ESRCH)
            eh_log_errno(EH_LOG_WARN, errno, "kill");
}

static bool consumers_left(const slot_t *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (slots[i].kind == SLOT_CONSUMER && !slots[i].given_up)
            return true;
    return false;
}

static int setup_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, set, NULL) != 0)
        return EH_ERR;
    /* With SIG_DFL (ignore) a SIGCHLD could be discarded; a handler keeps it pending for sigtimedwait. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = noop_handler;
    sa.sa_flags = SA_NOCLDSTOP; /* a SIGSTOPped child is not a dead one */
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        return EH_ERR;
    return EH_OK;
}

/* Waits for a signal until deadline_ms (monotonic). Returns the signal, or 0 on timeout. */
static int wait_signal(const sigset_t *set, int64_t deadline_ms)
{
    int64_t left = deadline_ms - eh_time_mono_ms();
    if (left < 0)
        left = 0;
    struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig < 0 ? 0 : sig;
}

int worker_supervisor_run(const eh_config_t *cfg)
{
    int n = (int)cfg->workers + 1;
    slot_t *slots = calloc((size_t)n, sizeof(*slots));
    if (slots == NULL) {
        eh_log_error("out of memory");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        slots[i].kind = i == 0 ? SLOT_REAPER : SLOT_CONSUMER;
        slots[i].index = i == 0 ? 0 : i - 1;
    }
    int status = 0;
    sigset_t set;
    if (setup_signals(&set) != EH_OK) {
        eh_log_errno(EH_LOG_ERROR, errno, "signal setup");
        status = 1;
        goto out;
    }
    if (worker_metrics_start(cfg, n) != EH_OK) {
        status = 1;
        goto out;
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:i, s:i}", "workers", (int)cfg->workers, "metrics_port", worker_metrics_port()),
              "supervisor ready");

    bool stopping = false, killed = false;
    int64_t kill_at = 0;
    for (;;) {
        int64_t now = eh_time_mono_ms();
        int64_t deadline = now + TICK_MS;
        for (int i = 0; i < n && !stopping; i++) {
            slot_t *s = &slots[i];
            if (s->pid != 0 || s->given_up)
                continue;
            if (s->respawn_at_ms <= now) {
                bool is_child = false;
                int rc = spawn(s, now, cfg, &is_child);
                if (is_child) {
                    worker_metrics_stop(); /* this process's mapping and copy of the registry */
                    free(slots);
                    return rc;
                }
                count_consumers(slots, n);
            }
            if (s->pid == 0 && s->respawn_at_ms < deadline)
                deadline = s->respawn_at_ms;
        }
        if (!stopping && !consumers_left(slots, n)) {
            eh_log_error("no worker can start; stopping");
            stopping = true;
            status = 1;
            signal_all(slots, n, SIGTERM);
            kill_at = now + cfg->shutdown_grace_ms;
        }
        if (stopping) {
            if (live_children(slots, n) == 0)
                break;
            if (!killed && now >= kill_at) {
                eh_log_warn("grace period over; killing %d children", live_children(slots, n));
                signal_all(slots, n, SIGKILL);
                killed = true;
            }
            if (!killed && kill_at < deadline)
                deadline = kill_at;
        }
        int sig = wait_signal(&set, deadline);
        if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping) {
                eh_log_kv(EH_LOG_INFO, json_pack("{s:i}", "signal", sig), "stopping: children finish their batch");
                stopping = true;
                kill_at = eh_time_mono_ms() + cfg->shutdown_grace_ms;
                signal_all(slots, n, SIGTERM);
            } else if (!killed) {
                eh_log_warn("second stop signal: killing the children now");
                signal_all(slots, n, SIGKILL);
                killed = true;
            }
        } else if (sig == SIGHUP) {
            eh_log_info("SIGHUP ignored (nothing to reload)");
        }
        reap(slots, n, stopping);
        count_consumers(slots, n);
    }
    eh_log_info("supervisor stopped");
out:
    worker_metrics_stop();
    free(slots);
    return status;
}
