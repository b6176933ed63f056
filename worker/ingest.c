/*
 * ingest.c - one claimed job from its checkpoint to its end.
 *
 * The object is read with ranged GETs of at most CHUNK_BYTES into a buffer
 * and fed to the splitter outside libs3's callback, so that the per-line
 * delay never keeps an HTTP request open. Lines go into a batch; a batch is
 * committed in ONE transaction:
 *
 *   BEGIN
 *   UPDATE jobs SET lease_until = ...  WHERE id AND lease_owner AND attempts   (the fence; locks the row)
 *   COPY log_entries ...  COPY job_errors ...
 *   UPDATE jobs SET lines_processed, bytes_processed, counters ... (fenced, RETURNING the row)
 *   COMMIT
 *
 * A worker that lost its lease (stalled past it, then another worker claimed
 * the job) finds 0 rows at the fence and writes nothing. The fence comes
 * first so that a stale worker blocks on the row lock rather than on the new
 * owner's uncommitted keys.
 *
 * Without a per-line delay (EH_LINE_DELAY_MAX_MS=0) the transaction is opened
 * at the start of the batch and the rows are streamed into COPY while the
 * next lines are parsed, so that parsing and PostgreSQL's insert overlap.
 * With a delay, rows are buffered and the transaction lasts only the commit,
 * so that no transaction stays open across sleeps.
 *
 * Failures: PostgreSQL or S3 down mid-batch -> roll back, wait, re-read the
 * checkpoint (fenced) and resume from it; lease lost -> abandon (the new
 * owner carries on); object missing or unreadable -> `failed`; stop request
 * -> commit the batch and give the job back to the queue.
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "copy_row.h"
#include "events.h"
#include "job_store.h"
#include "log.h"
#include "splitter.h"
#include "timefmt.h"
#include "validate.h"
#include "worker.h"
#include "worker_metrics.h"

#define CHUNK_BYTES (4u << 20)
/* Rows buffered before a commit (delay mode) or before a COPY write (streaming mode). */
#define BATCH_BYTES_MAX (8u << 20)
#define STREAM_FLUSH_BYTES (256u << 10)
#define EVENT_MIN_INTERVAL_MS 100
#define EVENT_IDLE_INTERVAL_MS 1000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000

/* Outcomes of the run's steps besides EH_OK / EH_AGAIN (retry from the checkpoint) / EH_ERR. */
#define RUN_LOST 1 /* the lease is gone: another worker owns the job */
#define RUN_STOP 2 /* stop requested: commit and give the job back */
#define RUN_FAIL 3 /* the job fails as a whole; run.fail_reason says why */

enum ck_mode { CK_BATCH, CK_COMPLETE, CK_RELEASE };

/*
 * Leases count from clock_timestamp(), not now(): now() is the start of the
 * transaction, and a streaming batch keeps its transaction open while it
 * fetches and parses, so a now()-based lease would be shorter than intended.
 */
static const char SQL_FENCE[] =
    "UPDATE jobs SET lease_until = clock_timestamp() + make_interval(secs => $4::double precision / 1000), updated_at = now() "
    "WHERE id = $1::uuid AND lease_owner = $2 AND attempts = $3::int AND status = 'processing' "
    "RETURNING lines_processed, bytes_processed";

static const char SQL_CHECKPOINT[] =
    "UPDATE jobs SET lines_processed = $4::bigint, bytes_processed = $5::bigint, "
    " entries_ingested = entries_ingested + $6::bigint, lines_invalid = lines_invalid + $7::bigint, "
    " lease_until = clock_timestamp() + make_interval(secs => $8::double precision / 1000), event_seq = event_seq + 1, "
    " updated_at = now() "
    "WHERE id = $1::uuid AND lease_owner = $2 AND attempts = $3::int AND status = 'processing' "
    "RETURNING " EH_JOB_COLUMNS;

static const char SQL_COMPLETE[] =
    "UPDATE jobs SET lines_processed = $4::bigint, bytes_processed = $5::bigint, "
    " entries_ingested = entries_ingested + $6::bigint, lines_invalid = lines_invalid + $7::bigint, "
    " status = 'completed', completed_at = now(), lease_owner = NULL, lease_until = NULL, "
    " event_seq = event_seq + 1, updated_at = now() "
    "WHERE id = $1::uuid AND lease_owner = $2 AND attempts = $3::int AND status = 'processing' "
    "RETURNING " EH_JOB_COLUMNS;

/*
 * A graceful stop is not the job's fault: the attempt is given back, and
 * published_at cleared so that the reaper publishes the job again at once.
 */
static const char SQL_RELEASE[] =
    "UPDATE jobs SET lines_processed = $4::bigint, bytes_processed = $5::bigint, "
    " entries_ingested = entries_ingested + $6::bigint, lines_invalid = lines_invalid + $7::bigint, "
    " status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_until = NULL, published_at = NULL, "
    " updated_at = now() "
    "WHERE id = $1::uuid AND lease_owner = $2 AND attempts = $3::int AND status = 'processing' "
    "RETURNING " EH_JOB_COLUMNS;

static const char SQL_FAIL[] =
    "UPDATE jobs SET status = 'failed', error = $4, completed_at = now(), lease_owner = NULL, lease_until = NULL, "
    " event_seq = event_seq + 1, updated_at = now() "
    "WHERE id = $1::uuid AND lease_owner = $2 AND attempts = $3::int AND status = 'processing' "
    "RETURNING " EH_JOB_COLUMNS;

static const char SQL_COPY_ENTRIES[] = "COPY log_entries (" WORKER_COPY_ENTRIES_COLUMNS ") FROM STDIN";
static const char SQL_COPY_ERRORS[] = "COPY job_errors (" WORKER_COPY_ERRORS_COLUMNS ") FROM STDIN";

/*
 * A worker that hangs (stopped, deadlocked) inside a batch must not keep the
 * job's row locked forever, or nobody could take the job over when its lease
 * runs out: the server ends such a statement or session after one lease.
 */
static const char SQL_TXN_LIMITS[] = "SELECT set_config('statement_timeout', $1, true), "
                                     "set_config('idle_in_transaction_session_timeout', $1, true)";

typedef struct run {
    worker_ctx_t *ctx;
    const eh_config_t *cfg;
    worker_claim_t *claim;
    char attempt[16];
    char lease[24];

    /* the committed checkpoint */
    int64_t ck_lines, ck_bytes;
    eh_job_t last; /* the row as of the last commit (events); owned */

    /* the open batch: lines after the checkpoint up to (pos_line, pos_offset) */
    bool stream;     /* no per-line delay: COPY rows are streamed inside an open transaction */
    bool txn_open;   /* BEGIN and the fence done */
    bool copy_open;  /* COPY log_entries in progress */
    eh_buf_t rows;   /* log_entries rows not yet sent */
    eh_buf_t errs;   /* job_errors rows of the batch */
    int64_t batch_lines, batch_entries, batch_invalid;
    int64_t batch_started_ms;
    int64_t pos_line, pos_offset;
    int64_t next_step_line; /* a commit happens at this line, so that no 10 % step is skipped */
    int64_t last_renew_ms;

    /* progress events */
    int64_t last_event_ms;
    int64_t last_event_step; /* the 10 % step (0..10) of the last event */
    int64_t last_event_lines;
    bool event_pending;

    int64_t started_ms; /* monotonic, of this attempt (eh_job_duration_seconds) */

    /* where the time went, for the completion log line */
    int64_t s3_ms, commit_ms;

    worker_entry_t entry;
    eh_buf_t chunk;
    char fail_reason[256];
} run_t;

/* ---- helpers ------------------------------------------------------------ */

static uint64_t next_random(worker_ctx_t *ctx)
{
    /* xorshift64*: cheap, and good enough for spreading delays */
    uint64_t x = ctx->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ctx->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t step_of(const run_t *r, int64_t lines)
{
    int64_t total = r->claim->job.lines_total;
    if (total <= 0)
        return 0;
    int64_t s = lines * 10 / total;
    return s > 10 ? 10 : s;
}

/* The first line whose commit reaches the next 10 % step after `lines`. */
static int64_t next_step_line(const run_t *r, int64_t lines)
{
    int64_t total = r->claim->job.lines_total;
    if (total <= 0)
        return INT64_MAX;
    int64_t s = step_of(r, lines) + 1;
    if (s > 10)
        return INT64_MAX;
    return (s * total + 9) / 10; /* ceil(s * total / 10) */
}

static void fmt_i64(char *buf, size_t len, int64_t v)
{
    snprintf(buf, len, "%lld", (long long)v);
}

static void set_fail(run_t *r, const char *reason)
{
    snprintf(r->fail_reason, sizeof(r->fail_reason), "%s", reason);
}

static void discard_batch(run_t *r)
{
    if (r->txn_open && r->ctx->db != NULL)
        eh_db_rollback(r->ctx->db);
    r->txn_open = false;
    r->copy_open = false;
    eh_buf_reset(&r->rows);
    eh_buf_reset(&r->errs);
    r->batch_lines = r->batch_entries = r->batch_invalid = 0;
    r->pos_line = r->ck_lines;
    r->pos_offset = r->ck_bytes;
    r->next_step_line = next_step_line(r, r->ck_lines);
}

/* ---- events ------------------------------------------------------------- */

static void publish(run_t *r, const eh_job_t *job, const char *event)
{
    /* A broker that went away is retried here, between batches, never in the middle of one. */
    if (r->ctx->mq == NULL || !eh_mq_is_open(r->ctx->mq))
        (void)worker_mq_ensure(r->ctx, false);
    (void)worker_event_publish(r->ctx->mq, job, event, false);
    r->last_event_ms = eh_time_mono_ms();
    r->last_event_step = step_of(r, job->lines_processed);
    r->last_event_lines = job->lines_processed;
    r->event_pending = false;
}

/*
 * After a commit (or between lines when one is pending): a progress event at
 * every 10 % step, and at least every second while lines move, but never two
 * within 100 ms.
 */
static void maybe_progress(run_t *r)
{
    if (r->last.lines_processed == r->last_event_lines)
        return;
    int64_t now = eh_time_mono_ms();
    bool step = step_of(r, r->last.lines_processed) > r->last_event_step;
    bool stale = now - r->last_event_ms >= EVENT_IDLE_INTERVAL_MS;
    if (!step && !stale)
        return;
    if (now - r->last_event_ms < EVENT_MIN_INTERVAL_MS) {
        r->event_pending = true;
        return;
    }
    publish(r, &r->last, "progress");
}

/* ---- the transaction ---------------------------------------------------- */

/* Distinguishes a lost connection (retry) from a refusal, which also means the lease may be gone. */
static int db_status(run_t *r, int rc)
{
    EH_UNUSED(r);
    return rc == EH_AGAIN ? EH_AGAIN : EH_ERR;
}

/* BEGIN and the fence. EH_OK, RUN_LOST, EH_AGAIN or EH_ERR. */
static int txn_open(run_t *r)
{
    eh_db_t *db = r->ctx->db;
    int rc = eh_db_begin(db);
    if (rc != EH_OK)
        return db_status(r, rc);
    const char *limits[] = {r->lease};
    if ((rc = eh_db_exec(db, SQL_TXN_LIMITS, 1, limits)) != EH_OK) {
        eh_db_rollback(db);
        return db_status(r, rc);
    }
    const char *params[] = {r->claim->job.id, r->ctx->owner, r->attempt, r->lease};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_FENCE, 4, params, &status);
    if (res == NULL) {
        eh_db_rollback(db);
        return db_status(r, status);
    }
    int n = PQntuples(res);
    PQclear(res);
    if (n != 1) {
        eh_db_rollback(db);
        return RUN_LOST;
    }
    r->txn_open = true;
    r->last_renew_ms = eh_time_mono_ms();
    return EH_OK;
}

/* Sends the buffered entry rows into the open COPY (opening both when needed). */
static int flush_rows(run_t *r)
{
    if (r->rows.len == 0)
        return EH_OK;
    int rc;
    if (!r->txn_open && (rc = txn_open(r)) != EH_OK)
        return rc;
    if (!r->copy_open) {
        if ((rc = eh_db_copy_begin(r->ctx->db, SQL_COPY_ENTRIES)) != EH_OK)
            return db_status(r, rc);
        r->copy_open = true;
    }
    if ((rc = eh_db_copy_put(r->ctx->db, r->rows.p, r->rows.len)) != EH_OK)
        return db_status(r, rc);
    eh_buf_reset(&r->rows);
    return EH_OK;
}

/* Runs the checkpoint statement of mode and keeps the returned row. */
static int checkpoint(run_t *r, enum ck_mode mode)
{
    static const char *const sql[] = {SQL_CHECKPOINT, SQL_COMPLETE, SQL_RELEASE};
    char lines[24], bytes[24], entries[24], invalid[24];
    fmt_i64(lines, sizeof(lines), r->pos_line);
    fmt_i64(bytes, sizeof(bytes), r->pos_offset);
    fmt_i64(entries, sizeof(entries), r->batch_entries);
    fmt_i64(invalid, sizeof(invalid), r->batch_invalid);
    const char *params[] = {r->claim->job.id, r->ctx->owner, r->attempt, lines, bytes, entries, invalid, r->lease};
    int status = EH_ERR;
    /* Only a batch renews the lease ($8); the other two end it. */
    PGresult *res = eh_db_query(r->ctx->db, sql[mode], mode == CK_BATCH ? 8 : 7, params, &status);
    if (res == NULL)
        return db_status(r, status);
    int rc = RUN_LOST;
    if (PQntuples(res) == 1) {
        eh_job_t job;
        rc = eh_job_from_row(res, 0, &job);
        if (rc == EH_OK) {
            eh_job_clear(&r->last);
            r->last = job;
        }
    }
    PQclear(res);
    return rc;
}

/*
 * Commits the batch (possibly empty: then it only renews the lease and moves
 * nothing). EH_OK, RUN_LOST, EH_AGAIN (connection) or EH_ERR (refused).
 */
static int commit_inner(run_t *r, enum ck_mode mode);

static int commit(run_t *r, enum ck_mode mode)
{
    int64_t t0 = eh_time_mono_ms();
    int rc = commit_inner(r, mode);
    r->commit_ms += eh_time_mono_ms() - t0;
    return rc;
}

static int commit_inner(run_t *r, enum ck_mode mode)
{
    eh_db_t *db = r->ctx->db;
    int rc;
    if (!r->txn_open && (rc = txn_open(r)) != EH_OK)
        return rc;
    if ((rc = flush_rows(r)) != EH_OK)
        return rc;
    if (r->copy_open) {
        if ((rc = eh_db_copy_end(db)) != EH_OK)
            return db_status(r, rc);
        r->copy_open = false;
    }
    if (r->errs.len > 0) {
        if ((rc = eh_db_copy_begin(db, SQL_COPY_ERRORS)) != EH_OK)
            return db_status(r, rc);
        if ((rc = eh_db_copy_put(db, r->errs.p, r->errs.len)) != EH_OK)
            return db_status(r, rc);
        if ((rc = eh_db_copy_end(db)) != EH_OK)
            return db_status(r, rc);
    }
    if ((rc = checkpoint(r, mode)) != EH_OK)
        return rc;
    if ((rc = eh_db_commit(db)) != EH_OK)
        return db_status(r, rc);
    r->txn_open = false;
    worker_metrics_lines((uint64_t)r->batch_entries, (uint64_t)r->batch_invalid,
                         (uint64_t)(r->batch_lines - r->batch_entries - r->batch_invalid));
    r->ck_lines = r->pos_line;
    r->ck_bytes = r->pos_offset;
    eh_buf_reset(&r->errs);
    r->batch_lines = r->batch_entries = r->batch_invalid = 0;
    r->next_step_line = next_step_line(r, r->ck_lines);
    r->last_renew_ms = eh_time_mono_ms();
    if (mode == CK_BATCH)
        maybe_progress(r);
    return EH_OK;
}

/*
 * A commit failed. A refusal (EH_ERR) can mean the lease is gone (another
 * owner's rows) or a row PostgreSQL would not take; the fence tells which.
 */
static int after_failed_commit(run_t *r, int rc)
{
    if (rc != EH_ERR)
        return rc;
    snprintf(r->fail_reason, sizeof(r->fail_reason), "could not store lines %lld to %lld: SQLSTATE %s",
             (long long)r->ck_lines + 1, (long long)r->pos_line, eh_db_last_sqlstate(r->ctx->db));
    discard_batch(r);
    int fence = txn_open(r);
    if (fence != EH_OK)
        return fence;
    eh_db_rollback(r->ctx->db);
    r->txn_open = false;
    return RUN_FAIL;
}

/* ---- lines -------------------------------------------------------------- */

static bool batch_full(const run_t *r, int64_t now)
{
    return r->batch_lines >= r->cfg->batch_lines || now - r->batch_started_ms >= r->cfg->batch_ms ||
           r->pos_line >= r->next_step_line || r->rows.len + r->errs.len >= BATCH_BYTES_MAX;
}

/* The per-line delay, renewing the lease (an empty commit) when the sleep would take half of it. */
static int line_delay(run_t *r)
{
    int64_t max = r->cfg->line_delay_max_ms;
    int64_t left = (int64_t)(next_random(r->ctx) % (uint64_t)(max + 1));
    int64_t slice_max = r->cfg->lease_ms / 3;
    while (left > 0 && !worker_stop_requested) {
        int64_t slice = left < slice_max ? left : slice_max;
        int64_t now = eh_time_mono_ms();
        if (now + slice - r->last_renew_ms > r->cfg->lease_ms / 2) {
            int rc = commit(r, CK_BATCH);
            if (rc != EH_OK)
                return after_failed_commit(r, rc);
        }
        /* A held-back step event goes out when its 100 ms are up, not after the line: late events pile up. */
        if (r->event_pending) {
            int64_t due = r->last_event_ms + EVENT_MIN_INTERVAL_MS - now;
            if (due <= 0) {
                publish(r, &r->last, "progress");
            } else if (due < slice) {
                slice = due;
            }
        }
        worker_idle(r->ctx, slice);
        left -= slice;
    }
    return EH_OK;
}

static int add_error(run_t *r, uint64_t line_no, const char *reason)
{
    r->batch_invalid++;
    return worker_copy_row_error(&r->errs, r->claim->job.id, line_no, reason, strlen(reason)) == EH_OK ? EH_OK
                                                                                                      : EH_ERR;
}

/* Validates one line into the batch. EH_OK or EH_ERR (out of memory). */
static int add_line(run_t *r, const worker_line_t *line)
{
    char reason[WORKER_REASON_LEN];
    if (line->too_long) {
        snprintf(reason, sizeof(reason), "line longer than %lld bytes", (long long)r->cfg->max_line_bytes);
        return add_error(r, line->line_no, reason);
    }
    int rc = worker_validate_line(line->text.p, line->text.len, &r->entry, reason, sizeof(reason));
    if (rc == WORKER_VALIDATE_BLANK)
        return EH_OK;
    if (rc == EH_DECLINED)
        return add_error(r, line->line_no, reason);
    if (rc != EH_OK)
        return EH_ERR;
    r->entry.line_no = line->line_no;
    r->batch_entries++;
    return worker_copy_row_entry(&r->rows, r->claim->job.id, &r->entry) == EH_OK ? EH_OK : EH_ERR;
}

static int on_line(const worker_line_t *line, void *ud)
{
    run_t *r = ud;
    int64_t now = eh_time_mono_ms();
    if (r->batch_lines == 0)
        r->batch_started_ms = now;
    if (add_line(r, line) != EH_OK) {
        set_fail(r, "out of memory");
        return RUN_FAIL;
    }
    r->batch_lines++;
    r->pos_line = (int64_t)line->line_no;
    r->pos_offset = (int64_t)line->end_offset;
    int rc;
    if (r->stream && r->rows.len >= STREAM_FLUSH_BYTES && (rc = flush_rows(r)) != EH_OK)
        return after_failed_commit(r, rc);
    if (r->cfg->line_delay_max_ms > 0 && (rc = line_delay(r)) != EH_OK)
        return rc;
    if (worker_stop_requested)
        return RUN_STOP;
    now = eh_time_mono_ms();
    if (batch_full(r, now) && (rc = commit(r, CK_BATCH)) != EH_OK)
        return after_failed_commit(r, rc);
    if (r->event_pending && now - r->last_event_ms >= EVENT_MIN_INTERVAL_MS)
        publish(r, &r->last, "progress");
    return EH_OK;
}

/* ---- the object --------------------------------------------------------- */

static int collect(const char *data, size_t len, void *ud)
{
    return eh_buf_append(ud, data, len) == EH_OK ? EH_OK : EH_ERR;
}

/* Maps a failed S3 call to the run's outcome; reason for a failed job. */
static int s3_outcome(run_t *r, int rc, const eh_s3_error_t *err)
{
    if (rc == EH_DECLINED) {
        set_fail(r, "object missing from storage");
        return RUN_FAIL;
    }
    if (rc == EH_AGAIN) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:i, s:s}", "http_status", err->http_status, "code", err->code),
                  "storage unreachable; retrying from the checkpoint");
        return EH_AGAIN;
    }
    snprintf(r->fail_reason, sizeof(r->fail_reason), "object unreadable: HTTP %d %s", err->http_status,
             err->code[0] ? err->code : "error");
    return RUN_FAIL;
}

/* Streams the object from the checkpoint to its end and commits the last batch with the completion. */
static int stream_object(run_t *r, uint64_t size)
{
    worker_splitter_t *sp =
        worker_splitter_create((size_t)r->cfg->max_line_bytes, (uint64_t)r->ck_lines + 1, (uint64_t)r->ck_bytes);
    if (sp == NULL) {
        set_fail(r, "out of memory");
        return RUN_FAIL;
    }
    int rc = EH_OK;
    uint64_t off = (uint64_t)r->ck_bytes;
    while (off < size) {
        uint64_t want = size - off < CHUNK_BYTES ? size - off : CHUNK_BYTES;
        eh_s3_error_t err;
        memset(&err, 0, sizeof(err));
        eh_buf_reset(&r->chunk);
        int64_t t0 = eh_time_mono_ms();
        rc = eh_s3_get(r->ctx->s3, r->claim->object_key, off, want, collect, &r->chunk, &err);
        r->s3_ms += eh_time_mono_ms() - t0;
        if (rc != EH_OK) {
            rc = s3_outcome(r, rc, &err);
            goto out;
        }
        if (r->chunk.len == 0) {
            set_fail(r, "object shorter than its size");
            rc = RUN_FAIL;
            goto out;
        }
        rc = worker_splitter_feed(sp, r->chunk.p, r->chunk.len, on_line, r);
        if (rc != EH_OK)
            goto out;
        off += r->chunk.len;
    }
    rc = worker_splitter_finish(sp, on_line, r);
    if (rc != EH_OK)
        goto out;
    rc = commit(r, CK_COMPLETE);
    if (rc != EH_OK)
        rc = after_failed_commit(r, rc);
out:
    worker_splitter_destroy(sp);
    if (rc == EH_ERR) {
        set_fail(r, "out of memory");
        rc = RUN_FAIL;
    }
    return rc;
}

/* ---- recovery and endings ----------------------------------------------- */

/*
 * After a failure of PostgreSQL or S3: waits, reconnects, and re-reads the
 * checkpoint through the fence (which also renews the lease). EH_OK to
 * resume, RUN_LOST, or RUN_STOP.
 */
static int resync(run_t *r, int64_t *backoff)
{
    discard_batch(r);
    for (;;) {
        if (worker_stop_requested)
            return RUN_STOP;
        worker_idle(r->ctx, *backoff);
        *backoff = *backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *backoff * 2;
        if (worker_db_ensure(r->ctx) != EH_OK)
            continue;
        const char *params[] = {r->claim->job.id, r->ctx->owner, r->attempt, r->lease};
        int status = EH_ERR;
        PGresult *res = eh_db_query(r->ctx->db, SQL_FENCE, 4, params, &status);
        if (res == NULL)
            continue;
        int n = PQntuples(res);
        if (n == 1) {
            r->ck_lines = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            r->ck_bytes = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        }
        PQclear(res);
        if (n != 1)
            return RUN_LOST;
        r->last_renew_ms = eh_time_mono_ms();
        discard_batch(r);
        eh_log_kv(EH_LOG_INFO, json_pack("{s:I}", "resume_line", (json_int_t)r->ck_lines + 1),
                  "resuming from the checkpoint");
        return EH_OK;
    }
}

/* Ends the job as failed (fenced). Retries while the database is down. */
static void fail_job(run_t *r)
{
    discard_batch(r);
    eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "error", r->fail_reason), "job failed");
    int64_t backoff = RETRY_MIN_MS;
    for (;;) {
        if (worker_db_ensure(r->ctx) == EH_OK) {
            const char *params[] = {r->claim->job.id, r->ctx->owner, r->attempt, r->fail_reason};
            int status = EH_ERR;
            PGresult *res = eh_db_query(r->ctx->db, SQL_FAIL, 4, params, &status);
            if (res != NULL) {
                eh_job_t job;
                if (PQntuples(res) == 1 && eh_job_from_row(res, 0, &job) == EH_OK) {
                    worker_metrics_job_end("failed", (double)(eh_time_mono_ms() - r->started_ms) / 1000.0);
                    publish(r, &job, "failed");
                    eh_job_clear(&job);
                } else {
                    eh_log_warn("lease lost before the job could be marked failed");
                }
                PQclear(res);
                return;
            }
        }
        if (worker_stop_requested)
            return; /* the lease runs out and the reaper retries the job */
        worker_idle(r->ctx, backoff);
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
}

/* Stop requested: commit what the batch holds and give the job back to the queue. */
static void release_job(run_t *r)
{
    int rc = commit(r, CK_RELEASE);
    if (rc != EH_OK) {
        discard_batch(r);
        eh_log_warn("stop: the batch could not be committed; the lease runs out and the job is retried");
        return;
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:I}", "lines_processed", (json_int_t)r->ck_lines),
              "stop: batch committed, job given back to the queue");
}

/* The object's size, retried while storage is unreachable. EH_OK, RUN_FAIL, RUN_LOST or RUN_STOP. */
static int object_size(run_t *r, uint64_t *size)
{
    int64_t backoff = RETRY_MIN_MS;
    for (;;) {
        eh_s3_error_t err;
        memset(&err, 0, sizeof(err));
        int rc = eh_s3_head(r->ctx->s3, r->claim->object_key, size, &err);
        if (rc == EH_OK)
            return EH_OK;
        rc = s3_outcome(r, rc, &err);
        if (rc != EH_AGAIN)
            return rc;
        if ((rc = resync(r, &backoff)) != EH_OK)
            return rc;
    }
}

void worker_ingest_run(worker_ctx_t *ctx, worker_claim_t *claim)
{
    run_t r;
    memset(&r, 0, sizeof(r));
    r.ctx = ctx;
    r.cfg = ctx->cfg;
    r.claim = claim;
    snprintf(r.attempt, sizeof(r.attempt), "%d", claim->attempt);
    fmt_i64(r.lease, sizeof(r.lease), ctx->cfg->lease_ms);
    r.ck_lines = claim->job.lines_processed;
    r.ck_bytes = claim->bytes_processed;
    r.stream = ctx->cfg->line_delay_max_ms == 0;
    r.last_renew_ms = eh_time_mono_ms();
    r.last_event_step = -1;
    r.last_event_lines = -1;
    discard_batch(&r);

    publish(&r, &claim->job, "started");
    int64_t t0 = eh_time_mono_ms();
    r.started_ms = t0;
    uint64_t size = 0;
    int rc = object_size(&r, &size);
    int64_t backoff = RETRY_MIN_MS;
    while (rc == EH_OK) {
        rc = stream_object(&r, size);
        if (rc != EH_AGAIN)
            break;
        rc = resync(&r, &backoff);
    }
    switch (rc) {
    case EH_OK:
        eh_log_kv(EH_LOG_INFO,
                  json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "lines_processed",
                            (json_int_t)r.last.lines_processed, "entries_ingested",
                            (json_int_t)r.last.entries_ingested, "lines_invalid", (json_int_t)r.last.lines_invalid,
                            "elapsed_ms", (json_int_t)(eh_time_mono_ms() - t0), "storage_ms", (json_int_t)r.s3_ms,
                            "commit_ms", (json_int_t)r.commit_ms),
                  "job completed");
        worker_metrics_job_end("completed", (double)(eh_time_mono_ms() - t0) / 1000.0);
        publish(&r, &r.last, "completed");
        break;
    case RUN_FAIL:
        fail_job(&r);
        break;
    case RUN_STOP:
        release_job(&r);
        break;
    case RUN_LOST:
        eh_log_warn("lost the lease (another worker owns the job now): abandoned without writing");
        break;
    default:
        eh_log_warn("job abandoned (status %d); the reaper retries it when the lease runs out", rc);
        break;
    }
    discard_batch(&r);
    eh_job_clear(&r.last);
    worker_entry_clear(&r.entry);
    eh_buf_free(&r.rows);
    eh_buf_free(&r.errs);
    eh_buf_free(&r.chunk);
}
