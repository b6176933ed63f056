/*
 * consumer.c - one worker process: one event loop with up to
 * EH_JOBS_PER_WORKER jobs in flight (the nginx way: a timer per job for its
 * next step, jobs as small state machines in worker/ingest.c).
 *
 * Each pass of the loop steps every job whose timer is due, once: a
 * delay-bound job processes a line and sleeps on its timer, a bulk job
 * commits one batch and goes to the back of the pass, so a 10-line job is
 * never stuck behind a 5M-line one. Between passes the loop waits on the
 * AMQP socket until the earliest timer; within a pass, while slots are
 * free, it looks at the socket (without waiting) between steps, so that a
 * job published behind bulk ones is claimed within one step, not one pass.
 *
 * The queue only wakes the process; the claim in PostgreSQL (worker/claim.h)
 * decides which job runs. The process consumes eh.jobs with a prefetch of
 * its free slots, acks each message right after the claim, and cancels its
 * consumer while it has no free slot, so that no message waits unacked in a
 * busy process (RabbitMQ's consumer_timeout would close the channel).
 *
 * Fair slices: while the process has no free slot and published jobs wait,
 * a job that held its slot for EH_JOB_SLICE_S commits its batch and goes
 * back to the end of the queue.
 *
 * Stop (SIGTERM): no more messages; every job commits its batch and is
 * given back, within EH_SHUTDOWN_TIMEOUT_S; whatever could not be given back
 * in time keeps its lease until it runs out (the reaper requeues it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "conn.h"
#include "ingest.h"
#include "job_queue.h"
#include "log.h"
#include "signals.h"
#include "timefmt.h"
#include "worker.h"
#include "worker_metrics.h"

/* The longest the loop waits without looking at the stop flag and its timers. */
#define WAIT_MAX_MS 250
/* How often a full process asks whether jobs wait for a slot. */
#define WAITING_CHECK_MS 1000
/* While jobs wait, at most slots / this + 1 jobs past their slice are given back per check. */
#define SLICE_RELEASES_PER_CHECK_DIVISOR 32
/* A message whose claim met a database that is down is retried this often, still unacked. */
#define CLAIM_RETRY_MS 500
/* Within a pass, the queue is looked at between steps at most this often (while slots are free). */
#define QUEUE_LOOK_BETWEEN_STEPS_MS 10

typedef struct slot {
    worker_job_t *job;
    int64_t wake_ms;
} slot_t;

typedef struct held_msg {
    uint64_t tag;
    uint64_t generation; /* of the broker connection the delivery came on */
    char job_id[EH_UUID_STRLEN + 1];
} held_msg_t;

typedef struct loop {
    const eh_config_t *cfg;
    worker_conn_t conn;
    slot_t *slots;
    size_t n, cap;
    held_msg_t *held; /* messages whose claim waits for the database (unacked) */
    size_t n_held;
    int64_t claim_retry_at_ms;
    int64_t waiting_check_at_ms;
    bool stopping;
    int64_t stop_deadline_ms;
} loop_t;

static size_t free_slots(const loop_t *l)
{
    size_t used = l->n + l->n_held;
    return used >= l->cap ? 0 : l->cap - used;
}

/* ---- jobs --------------------------------------------------------------- */

static void add_job(loop_t *l, worker_claim_t *claim)
{
    eh_log_set_request(claim->request_id);
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:i, s:s, s:I, s:i}", "job_id", claim->job.id, "attempt", claim->attempt, "lease_owner",
                        l->conn.owner, "resume_line", (json_int_t)claim->job.lines_processed + 1, "in_flight",
                        (int)l->n + 1),
              "job claimed");
    worker_job_t *job = worker_job_create(&l->conn, claim);
    eh_log_set_request(NULL);
    if (job == NULL) {
        /* The lease runs out and another process (or this one, later) takes the job. */
        eh_log_error("out of memory: claimed job left to its lease");
        eh_job_clear(&claim->job);
        return;
    }
    worker_metrics_job_running(1);
    l->slots[l->n].job = job;
    l->slots[l->n].wake_ms = 0;
    l->n++;
    worker_job_set_in_flight(l->n);
}

static void wait_for_work(loop_t *l, int64_t deadline);

/* Steps every due job once. Returns the earliest wake time of the jobs left. */
static int64_t step_due(loop_t *l)
{
    int64_t earliest = INT64_MAX;
    int64_t looked_ms = eh_time_mono_ms();
    size_t i = 0;
    while (i < l->n) {
        int64_t before = eh_time_mono_ms();
        if (!l->stopping && !worker_stopping() && free_slots(l) > 0 &&
            before - looked_ms >= QUEUE_LOOK_BETWEEN_STEPS_MS) {
            wait_for_work(l, before); /* claims what came; a job it adds is stepped in this pass */
            looked_ms = eh_time_mono_ms();
        }
        slot_t *s = &l->slots[i];
        int64_t now = eh_time_mono_ms();
        if (s->wake_ms <= now) {
            if (worker_job_step(s->job, now, &s->wake_ms) == WORKER_JOB_DONE) {
                worker_job_destroy(s->job);
                worker_metrics_job_running(-1);
                l->slots[i] = l->slots[--l->n];
                worker_job_set_in_flight(l->n);
                continue; /* the job moved into slot i is looked at next */
            }
        }
        if (s->wake_ms < earliest)
            earliest = s->wake_ms;
        i++;
    }
    return earliest;
}

/* Fair share: when jobs wait for a slot, those past their slice give theirs back (oldest first). */
static void share_slots(loop_t *l, int64_t now)
{
    if (l->stopping || free_slots(l) > 0 || now < l->waiting_check_at_ms)
        return;
    l->waiting_check_at_ms = now + WAITING_CHECK_MS;
    int64_t slice_ms = l->cfg->job_slice_s * 1000;
    bool any = false;
    for (size_t i = 0; i < l->n && !any; i++)
        any = worker_job_releasable(l->slots[i].job) && now - worker_job_claimed_ms(l->slots[i].job) >= slice_ms;
    /* (worker_job_releasable also asks for a commit since the claim: a job that moved nothing is not rotated.) */
    if (!any)
        return;
    int64_t waiting = 0;
    if (worker_claim_waiting(&l->conn, &waiting) != EH_OK || waiting <= 0)
        return;
    /*
     * A few slots per check, not one per waiting job: under a backlog of
     * thousands, giving back every job past its slice at once would make the
     * process spend its time committing, publishing and claiming (jobs
     * rotating without progress) instead of ingesting.
     */
    int64_t most = (int64_t)(l->cap / SLICE_RELEASES_PER_CHECK_DIVISOR) + 1;
    if (waiting > most)
        waiting = most;
    while (waiting-- > 0) {
        slot_t *oldest = NULL;
        for (size_t i = 0; i < l->n; i++) {
            worker_job_t *j = l->slots[i].job;
            if (!worker_job_releasable(j) || now - worker_job_claimed_ms(j) < slice_ms)
                continue;
            if (oldest == NULL || worker_job_claimed_ms(j) < worker_job_claimed_ms(oldest->job))
                oldest = &l->slots[i];
        }
        if (oldest == NULL)
            return;
        eh_log_kv(EH_LOG_INFO,
                  json_pack("{s:s, s:I}", "job_id", worker_job_id(oldest->job), "held_ms",
                            (json_int_t)(now - worker_job_claimed_ms(oldest->job))),
                  "slice over while jobs wait: giving the job back");
        worker_job_release(oldest->job, WORKER_RELEASE_SLICE);
        oldest->wake_ms = 0;
    }
}

static void begin_stop(loop_t *l, int64_t now)
{
    l->stopping = true;
    l->stop_deadline_ms = now + l->cfg->shutdown_grace_ms * 3 / 4;
    eh_log_kv(EH_LOG_INFO, json_pack("{s:i}", "in_flight", (int)l->n),
              "stopping: every job commits its batch and is given back");
    if (l->conn.mq != NULL && l->conn.consuming) {
        if (eh_mq_cancel(l->conn.mq) != EH_OK)
            eh_log_warn("consumer cancel failed; unacked messages return when the connection closes");
        l->conn.consuming = false;
    }
    for (size_t i = 0; i < l->n; i++) {
        worker_job_release(l->slots[i].job, WORKER_RELEASE_STOP);
        l->slots[i].wake_ms = 0;
    }
}

/* ---- messages ----------------------------------------------------------- */

/* Claims for a message. true when the message is settled (acked or rejected), false to hold it. */
static bool claim_for(loop_t *l, uint64_t tag, const char *job_id, bool redelivered)
{
    worker_claim_t claim;
    memset(&claim, 0, sizeof(claim));
    int rc = worker_claim_next(&l->conn, job_id, &claim);
    if (rc == EH_AGAIN || rc == EH_ERR)
        return false;
    if (eh_mq_ack(l->conn.mq, tag) != EH_OK)
        eh_log_warn("ack failed; a redelivery will find the job claimed");
    if (rc == EH_OK) {
        add_job(l, &claim);
    } else {
        eh_log_kv(EH_LOG_INFO, json_pack("{s:s, s:b}", "job_id", job_id, "redelivered", redelivered),
                  "job not claimable (unknown, leased, finished or out of attempts) and no other job waits: "
                  "message dropped");
    }
    return true;
}

static void handle_message(loop_t *l, const eh_mq_msg_t *msg)
{
    eh_job_message_t jm;
    if (eh_job_message_read(msg->body, msg->len, &jm) != EH_OK) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:I}", "bytes", (json_int_t)msg->len),
                  "unparseable job message: dead-lettered");
        if (eh_mq_reject(l->conn.mq, msg->delivery_tag) != EH_OK)
            eh_log_warn("reject failed; the message comes back on reconnect");
        return;
    }
    const char *job_id = jm.job_id;
    if (claim_for(l, msg->delivery_tag, job_id, msg->redelivered))
        return;
    eh_log_warn("claim failed (database unreachable or statement refused); "
                "retried while the message stays unacknowledged");
    l->held[l->n_held].tag = msg->delivery_tag;
    l->held[l->n_held].generation = l->conn.mq_generation;
    snprintf(l->held[l->n_held].job_id, sizeof(l->held[l->n_held].job_id), "%s", job_id);
    l->n_held++;
    l->claim_retry_at_ms = eh_time_mono_ms() + CLAIM_RETRY_MS;
}

static void retry_held(loop_t *l, int64_t now)
{
    if (l->n_held == 0 || now < l->claim_retry_at_ms)
        return;
    if (l->conn.mq == NULL || !eh_mq_is_open(l->conn.mq)) {
        l->n_held = 0; /* the broker requeued them when the connection went */
        return;
    }
    size_t i = 0;
    while (i < l->n_held) {
        if (l->held[i].generation != l->conn.mq_generation) {
            l->held[i] = l->held[--l->n_held]; /* came on a connection that is gone: requeued by the broker */
            continue;
        }
        if (!claim_for(l, l->held[i].tag, l->held[i].job_id, false)) {
            l->claim_retry_at_ms = now + CLAIM_RETRY_MS;
            return;
        }
        l->held[i] = l->held[--l->n_held];
    }
}

/*
 * Keeps the consumer's prefetch at the free slots: consume when slots are
 * free, cancel when none is, and start again with a larger prefetch when
 * many slots were freed.
 */
static void adjust_consumer(loop_t *l)
{
    worker_conn_t *c = &l->conn;
    if (c->mq == NULL || !eh_mq_is_open(c->mq))
        return;
    size_t want = l->stopping ? 0 : free_slots(l);
    bool resize = c->consuming && want > 2 * (size_t)c->consuming_prefetch;
    if (c->consuming && (want == 0 || resize)) {
        if (eh_mq_cancel(c->mq) != EH_OK)
            return;
        c->consuming = false;
    }
    if (!c->consuming && want > 0) {
        int prefetch = want > 65535 ? 65535 : (int)want;
        if (eh_mq_consume(c->mq, EH_MQ_JOBS_QUEUE, prefetch) == EH_OK) {
            c->consuming = true;
            c->consuming_prefetch = prefetch;
        }
    }
}

/* Waits until deadline (monotonic) for messages, taking those that come while slots are free. */
static void wait_for_work(loop_t *l, int64_t deadline)
{
    worker_conn_t *c = &l->conn;
    for (;;) {
        int64_t left = deadline - eh_time_mono_ms();
        if (left < 0)
            left = 0;
        if (left > WAIT_MAX_MS)
            left = WAIT_MAX_MS;
        if (worker_conn_mq(c) != EH_OK) {
            (void)eh_stop_sleep_ms(worker_stop, left);
            return;
        }
        adjust_consumer(l);
        if (!c->consuming) {
            if (eh_mq_idle(c->mq, left) != EH_OK)
                eh_log_warn("broker connection lost; reconnecting");
            return;
        }
        eh_mq_msg_t msg;
        int rc = eh_mq_next(c->mq, &msg, left);
        if (rc == EH_DECLINED)
            return;
        if (rc != EH_OK) {
            eh_log_warn("broker connection lost; reconnecting");
            l->n_held = 0;
            return;
        }
        if (l->stopping || free_slots(l) == 0) {
            /* Raced the cancel: back to the queue, for a process with a free slot. */
            if (eh_mq_requeue(c->mq, msg.delivery_tag) != EH_OK)
                eh_log_warn("requeue failed; the message comes back when the connection closes");
            eh_mq_msg_free(&msg);
            return;
        }
        handle_message(l, &msg);
        eh_mq_msg_free(&msg);
        if (worker_stopping())
            return;
        /* More messages may be waiting: take them at once, without sleeping. */
        deadline = eh_time_mono_ms();
    }
}

/* ---- the process -------------------------------------------------------- */

int worker_consumer_run(const eh_config_t *cfg)
{
    if (eh_s3_global_init() != EH_OK) {
        eh_log_error("S3 library initialisation failed");
        return WORKER_EXIT_FATAL;
    }
    loop_t l;
    memset(&l, 0, sizeof(l));
    l.cfg = cfg;
    l.cap = (size_t)cfg->jobs_per_worker;
    l.slots = calloc(l.cap, sizeof(*l.slots));
    l.held = calloc(l.cap, sizeof(*l.held));
    if (l.slots == NULL || l.held == NULL || worker_conn_init(&l.conn, cfg) != EH_OK) {
        eh_log_error("worker initialisation failed");
        free(l.slots);
        free(l.held);
        worker_conn_close(&l.conn);
        eh_s3_global_cleanup();
        return WORKER_EXIT_FATAL;
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:s, s:i}", "lease_owner", l.conn.owner, "jobs_per_worker", (int)l.cap),
              "worker started");
    for (;;) {
        int64_t now = eh_time_mono_ms();
        if (worker_stopping() && !l.stopping)
            begin_stop(&l, now);
        if (l.stopping && (l.n == 0 || now >= l.stop_deadline_ms))
            break;
        int64_t earliest = step_due(&l);
        now = eh_time_mono_ms();
        share_slots(&l, now);
        retry_held(&l, now);
        if (l.stopping)
            earliest = now + 10 < earliest ? now + 10 : earliest;
        wait_for_work(&l, earliest);
    }
    if (l.n > 0)
        eh_log_kv(EH_LOG_WARN, json_pack("{s:i}", "in_flight", (int)l.n),
                  "stop: jobs not given back in time keep their lease until it runs out");
    eh_log_info("worker stopping");
    for (size_t i = 0; i < l.n; i++)
        worker_job_destroy(l.slots[i].job);
    free(l.slots);
    free(l.held);
    worker_conn_close(&l.conn);
    eh_s3_global_cleanup();
    return 0;
}
