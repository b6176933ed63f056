/*
 * ingest.c - one claimed job from its checkpoint to its end, one step at a
 * time (see ingest.h).
 *
 * The object is read with ranged GETs of one chunk at a time into the job's
 * buffer and fed to the splitter outside libs3's callback, so that the
 * per-line delay never keeps an HTTP request open. Lines go into a batch; a
 * batch is committed in ONE transaction:
 *
 *   BEGIN
 *   UPDATE jobs SET lease_until = ...  WHERE id AND lease_owner AND attempts AND status='processing'
 *                                      (the fence; locks the row)
 *   COPY log_entries ...  COPY job_errors ...
 *   UPDATE jobs SET lines_processed, bytes_processed, counters ... (fenced, RETURNING the row)
 *   COMMIT
 *
 * A worker that lost its lease (stalled past it, then another worker claimed
 * the job), or whose job was cancelled, finds 0 rows at the fence and drops
 * the job without writing. The fence comes first so that a stale worker
 * blocks on the row lock rather than on the new owner's uncommitted keys.
 *
 * Steps. With a per-line delay a step processes lines until the first one
 * that is not blank, then asks to be woken when its delay is over (blank
 * lines are never delayed). Without a delay (bulk mode) a step processes
 * lines up to the next batch commit, with the transaction opened at the
 * start of the batch and rows streamed into COPY while the next lines are
 * parsed, so that parsing and PostgreSQL's insert overlap; then it yields,
 * so that the process works batch by batch across its jobs. Either way no
 * transaction and no S3 request outlives a step: one PostgreSQL connection
 * serves every job of the process.
 *
 * The splitter cannot be paused in the middle of a chunk, so a step that
 * stops after a line drops it and the next step makes a new one at
 * (pos_line + 1, pos_offset) over the rest of the chunk (a few bytes of
 * state; the line is complete, so nothing is pending in it).
 *
 * Failures: PostgreSQL or S3 down or a transient PostgreSQL error mid-batch
 * -> roll back, back off, re-read the checkpoint (fenced) and resume from
 * it; the same transient server error EH_MAX_ATTEMPTS times in a row, or a
 * permanent refusal -> `failed`; lease lost or job cancelled -> dropped
 * quietly (the new owner or the API carries on); object missing or
 * unreadable -> `failed`; release (stop or fair slice) -> commit the batch
 * and give the job back to the queue.
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "buf.h"
#include "copy_row.h"
#include "events.h"
#include "job_store.h"
#include "log.h"
#include "splitter.h"
#include "timefmt.h"
#include "validate.h"
#include "worker_metrics.h"

/* One ranged GET: small with a delay (a job then needs a few hundred bytes a second), larger in bulk mode. */
#define CHUNK_DELAY_BYTES (64u << 10)
#define CHUNK_BULK_MAX_BYTES (4u << 20)
#define CHUNK_BULK_MIN_BYTES (64u << 10)
/* Read-ahead of all bulk jobs of a process together: a job alone gets 4 MiB, 256 jobs 128 KiB each. */
#define CHUNK_BULK_BUDGET_BYTES (32u << 20)
/* Rows buffered before a commit (delay mode) or before a COPY write (streaming mode). */
#define BATCH_BYTES_MAX (8u << 20)
#define STREAM_FLUSH_BYTES (256u << 10)
#define EVENT_MIN_INTERVAL_MS 100
#define EVENT_IDLE_INTERVAL_MS 1000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000
#define PUBLISH_CONFIRM_MS 2000
/* Bulk mode: a step goes on past a commit until it has run this long (then the next job's turn). */
#define STEP_SHARE_MS 20

/* Outcomes of the run's steps besides EH_OK / EH_AGAIN (retry from the checkpoint) / EH_ERR. */
#define RUN_LOST 1  /* the lease is gone (or the job was cancelled): drop it */
#define RUN_FAIL 3  /* the job fails as a whole; fail_reason says why */
#define RUN_YIELD 4 /* the step ends here; the job goes on later */

enum ck_mode { CK_BATCH, CK_COMPLETE, CK_RELEASE };

enum state { ST_START, ST_RUN, ST_RETRY, ST_FAIL, ST_DONE };

/*
 * Leases count from clock_timestamp(), not now(): now() is the start of the
 * transaction, and a streaming batch keeps its transaction open while it
 * fetches and parses, so a now()-based lease would be shorter than intended.
 */
static const char SQL_FENCE[] =
    "UPDATE jobs SET lease_until = clock_timestamp() + make_interval(secs => $4::double precision / 1000), updated_at "
    "= now() "
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

struct worker_job {
    worker_conn_t *conn; /* borrowed */
    const eh_config_t *cfg;
    worker_claim_t claim;
    char attempt[16];
    char lease[24];
    enum state state;
    int64_t claimed_ms;
    int64_t wake_ms;
    bool release;
    worker_release_t release_how;

    uint64_t size; /* the object's size, known after ST_START */
    bool size_known;

    /* the committed checkpoint */
    int64_t ck_lines, ck_bytes, ck_invalid;
    eh_job_t last; /* the row as of the last commit (events); owned */

    /* the open batch: lines after the checkpoint up to (pos_line, pos_offset) */
    bool stream;    /* no per-line delay: COPY rows are streamed inside an open transaction */
    bool txn_open;  /* BEGIN and the fence done */
    bool copy_open; /* COPY log_entries in progress */
    eh_buf_t rows;  /* log_entries rows not yet sent */
    eh_buf_t errs;  /* job_errors rows of the batch */
    int64_t batch_lines, batch_entries, batch_invalid;
    int64_t batch_started_ms;
    int64_t pos_line, pos_offset;
    int64_t next_step_line; /* a commit happens at this line, so that no 10 % step is skipped */
    int64_t last_renew_ms;
    int64_t delay_until_ms;  /* the per-line delay of the last line ends then */
    int64_t step_started_ms; /* bulk mode: a step yields after a commit once it ran STEP_SHARE_MS */

    /* the object as read: chunk holds bytes [chunk_base, chunk_base + chunk.len); fed up to `fed` */
    eh_buf_t chunk;
    uint64_t chunk_base;
    uint64_t fed;
    worker_splitter_t *sp; /* alive within a step only */

    /* retries */
    eh_backoff_t backoff; /* between retries from the checkpoint (common/backoff.h) */
    int transient_in_row; /* transient server errors since the last successful commit */

    /* progress events */
    int64_t last_event_ms;
    int64_t last_event_step; /* the 10 % step (0..10) of the last event */
    int64_t last_event_lines;
    bool event_pending;

    /* where the time went, for the completion log line */
    int64_t s3_ms, commit_ms;

    char fail_reason[256];
};

/* ---- helpers ------------------------------------------------------------ */

static int64_t step_of(const worker_job_t *r, int64_t lines)
{
    int64_t total = r->claim.job.lines_total;
    if (total <= 0)
        return 0;
    int64_t s = lines * 10 / total;
    return s > 10 ? 10 : s;
}

/* The first line whose commit reaches the next 10 % step after `lines`. */
static int64_t next_step_line(const worker_job_t *r, int64_t lines)
{
    int64_t total = r->claim.job.lines_total;
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

static void set_fail(worker_job_t *r, const char *reason)
{
    snprintf(r->fail_reason, sizeof(r->fail_reason), "%s", reason);
}

static void drop_splitter(worker_job_t *r)
{
    worker_splitter_destroy(r->sp);
    r->sp = NULL;
}

/* Back to the checkpoint: the batch, the read position and the chunk are dropped. */
static void discard_batch(worker_job_t *r)
{
    if (r->txn_open && r->conn->db != NULL)
        eh_db_rollback(r->conn->db);
    r->txn_open = false;
    r->copy_open = false;
    eh_buf_reset(&r->rows);
    eh_buf_reset(&r->errs);
    r->batch_lines = r->batch_entries = r->batch_invalid = 0;
    r->pos_line = r->ck_lines;
    r->pos_offset = r->ck_bytes;
    r->next_step_line = next_step_line(r, r->ck_lines);
    drop_splitter(r);
    eh_buf_reset(&r->chunk);
    r->chunk_base = (uint64_t)r->ck_bytes;
    r->fed = (uint64_t)r->ck_bytes;
    r->delay_until_ms = 0;
}

/* ---- events ------------------------------------------------------------- */

static void publish(worker_job_t *r, const eh_job_t *job, const char *event)
{
    /* A broker that went away is retried here (at most once per back-off), never in the middle of a batch. */
    if (worker_conn_mq(r->conn) == EH_OK)
        (void)worker_event_publish(r->conn->mq, job, event, false);
    r->last_event_ms = eh_time_mono_ms();
    r->last_event_step = step_of(r, job->lines_processed);
    r->last_event_lines = job->lines_processed;
    r->event_pending = false;
}

/*
 * After a commit: a progress event at every 10 % step, and at least every
 * second while lines move, but never two within 100 ms (a held-back one goes
 * out at its deadline: the job's timer wakes it).
 */
static void maybe_progress(worker_job_t *r)
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

/*
 * Server errors that say "try again" rather than "this cannot be stored":
 * serialization failure, deadlock, statement cancelled (57014), lock not
 * available, insufficient resources (disk full, out of memory, too many
 * connections), and anything about the connection or a server going away.
 */
static bool transient_sqlstate(const char *s)
{
    return strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strcmp(s, "57014") == 0 || strcmp(s, "55P03") == 0 ||
           strncmp(s, "53", 2) == 0 || strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0 || strcmp(s, "58030") == 0;
}

/* Maps a failed statement to EH_AGAIN (retry from the checkpoint) or EH_ERR (a refusal). */
static int db_status(worker_job_t *r, int rc)
{
    if (rc == EH_AGAIN)
        return EH_AGAIN;
    if (r->conn->db != NULL && transient_sqlstate(eh_db_last_sqlstate(r->conn->db))) {
        r->transient_in_row++;
        if (r->transient_in_row < r->cfg->max_attempts)
            return EH_AGAIN;
        snprintf(r->fail_reason, sizeof(r->fail_reason), "database error SQLSTATE %s, %d times in a row",
                 eh_db_last_sqlstate(r->conn->db), r->transient_in_row);
        return RUN_FAIL;
    }
    return EH_ERR;
}

/* BEGIN and the fence. EH_OK, RUN_LOST, EH_AGAIN or EH_ERR. */
static int txn_open(worker_job_t *r)
{
    if (worker_conn_db(r->conn) != EH_OK)
        return EH_AGAIN;
    eh_db_t *db = r->conn->db;
    int rc = eh_db_begin(db);
    if (rc != EH_OK)
        return db_status(r, rc);
    const char *params[] = {r->claim.job.id, r->conn->owner, r->attempt, r->lease};
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
static int flush_rows(worker_job_t *r)
{
    if (r->rows.len == 0)
        return EH_OK;
    int rc;
    if (!r->txn_open && (rc = txn_open(r)) != EH_OK)
        return rc;
    if (!r->copy_open) {
        if ((rc = eh_db_copy_begin(r->conn->db, SQL_COPY_ENTRIES)) != EH_OK)
            return db_status(r, rc);
        r->copy_open = true;
    }
    if ((rc = eh_db_copy_put(r->conn->db, r->rows.p, r->rows.len)) != EH_OK)
        return db_status(r, rc);
    eh_buf_reset(&r->rows);
    return EH_OK;
}

/* Runs the checkpoint statement of mode and keeps the returned row. */
static int checkpoint(worker_job_t *r, enum ck_mode mode)
{
    static const char *const sql[] = {SQL_CHECKPOINT, SQL_COMPLETE, SQL_RELEASE};
    char lines[24], bytes[24], entries[24], invalid[24];
    fmt_i64(lines, sizeof(lines), r->pos_line);
    fmt_i64(bytes, sizeof(bytes), r->pos_offset);
    fmt_i64(entries, sizeof(entries), r->batch_entries);
    fmt_i64(invalid, sizeof(invalid), r->batch_invalid);
    const char *params[] = {r->claim.job.id, r->conn->owner, r->attempt, lines, bytes, entries, invalid, r->lease};
    int status = EH_ERR;
    /* Only a batch renews the lease ($8); the other two end it. */
    PGresult *res = eh_db_query(r->conn->db, sql[mode], mode == CK_BATCH ? 8 : 7, params, &status);
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
 * With a per-line delay nothing is streamed: the transaction is opened here
 * and the fenced checkpoint UPDATE itself comes first (it locks the row, as
 * the fence does), which saves two round trips per commit; a process with
 * hundreds of delay-bound jobs spends its time in these commits.
 */
static int open_with_checkpoint(worker_job_t *r, enum ck_mode mode)
{
    if (worker_conn_db(r->conn) != EH_OK)
        return EH_AGAIN;
    int rc = eh_db_begin(r->conn->db);
    if (rc != EH_OK)
        return db_status(r, rc);
    r->txn_open = true;
    return checkpoint(r, mode);
}

static int commit_inner(worker_job_t *r, enum ck_mode mode)
{
    int rc;
    bool checkpointed = false;
    if (!r->txn_open && !r->stream) {
        if ((rc = open_with_checkpoint(r, mode)) != EH_OK)
            return rc;
        checkpointed = true;
    }
    if (!r->txn_open && (rc = txn_open(r)) != EH_OK)
        return rc;
    eh_db_t *db = r->conn->db;
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
    if (!checkpointed && (rc = checkpoint(r, mode)) != EH_OK)
        return rc;
    if ((rc = eh_db_commit(db)) != EH_OK)
        return db_status(r, rc);
    r->txn_open = false;
    r->ck_lines = r->pos_line;
    r->ck_bytes = r->pos_offset;
    r->ck_invalid += r->batch_invalid;
    worker_metrics_lines((uint64_t)r->batch_entries, (uint64_t)r->batch_invalid,
                         (uint64_t)(r->batch_lines - r->batch_entries - r->batch_invalid));
    eh_buf_reset(&r->errs);
    r->batch_lines = r->batch_entries = r->batch_invalid = 0;
    r->next_step_line = next_step_line(r, r->ck_lines);
    r->last_renew_ms = eh_time_mono_ms();
    r->transient_in_row = 0;
    eh_backoff_reset(&r->backoff);
    if (mode == CK_BATCH)
        maybe_progress(r);
    return EH_OK;
}

/*
 * Commits the batch (possibly empty: then it only renews the lease and moves
 * nothing). EH_OK, RUN_LOST, RUN_FAIL, EH_AGAIN (retry from the checkpoint)
 * or EH_ERR (refused: after_failed_commit tells why).
 */
static int commit(worker_job_t *r, enum ck_mode mode)
{
    int64_t t0 = eh_time_mono_ms();
    int rc = commit_inner(r, mode);
    r->commit_ms += eh_time_mono_ms() - t0;
    if (rc != EH_OK && r->txn_open) {
        eh_db_rollback(r->conn->db);
        r->txn_open = false;
        r->copy_open = false;
    }
    return rc;
}

/*
 * A commit was refused. That can mean the lease is gone (another owner's
 * rows) or a row PostgreSQL would not take; the fence tells which.
 */
static int after_failed_commit(worker_job_t *r, int rc)
{
    if (rc != EH_ERR)
        return rc;
    snprintf(r->fail_reason, sizeof(r->fail_reason), "could not store lines %lld to %lld: SQLSTATE %s",
             (long long)r->ck_lines + 1, (long long)r->pos_line, eh_db_last_sqlstate(r->conn->db));
    discard_batch(r);
    int fence = txn_open(r);
    if (fence != EH_OK)
        return fence == EH_ERR ? RUN_FAIL : fence;
    eh_db_rollback(r->conn->db);
    r->txn_open = false;
    return RUN_FAIL;
}

/* ---- lines -------------------------------------------------------------- */

static bool batch_full(const worker_job_t *r, int64_t now)
{
    return r->batch_lines >= r->cfg->batch_lines || now - r->batch_started_ms >= r->cfg->batch_ms ||
           r->pos_line >= r->next_step_line || r->rows.len + r->errs.len >= BATCH_BYTES_MAX;
}

/*
 * An invalid line: always counted (jobs.lines_invalid), its reason stored
 * only while the job has fewer than EH_MAX_ERRORS_STORED rows in job_errors,
 * so that a file of garbage cannot write a row per line.
 */
static int add_error(worker_job_t *r, uint64_t line_no, const char *reason)
{
    bool store = r->ck_invalid + r->batch_invalid < r->cfg->max_errors_stored;
    r->batch_invalid++;
    if (!store)
        return EH_OK;
    return worker_copy_row_error(&r->errs, r->claim.job.id, line_no, reason, strlen(reason)) == EH_OK ? EH_OK : EH_ERR;
}

/* Validates one line into the batch. EH_OK, WORKER_VALIDATE_BLANK, or EH_ERR (out of memory). */
static int add_line(worker_job_t *r, const worker_line_t *line)
{
    char reason[WORKER_REASON_LEN];
    if (line->too_long) {
        snprintf(reason, sizeof(reason), "line longer than %lld bytes", (long long)r->cfg->max_line_bytes);
        return add_error(r, line->line_no, reason);
    }
    worker_entry_t *entry = &r->conn->entry;
    int rc = worker_validate_line(line->text.p, line->text.len, entry, reason, sizeof(reason));
    if (rc == WORKER_VALIDATE_BLANK)
        return WORKER_VALIDATE_BLANK;
    if (rc == EH_DECLINED)
        return add_error(r, line->line_no, reason);
    if (rc != EH_OK)
        return EH_ERR;
    entry->line_no = line->line_no;
    r->batch_entries++;
    return worker_copy_row_entry(&r->rows, r->claim.job.id, entry) == EH_OK ? EH_OK : EH_ERR;
}

static int on_line(const worker_line_t *line, void *ud)
{
    worker_job_t *r = ud;
    int64_t now = eh_time_mono_ms();
    if (r->batch_lines == 0)
        r->batch_started_ms = now;
    int kind = add_line(r, line);
    if (kind == EH_ERR) {
        set_fail(r, "out of memory");
        return RUN_FAIL;
    }
    r->batch_lines++;
    r->pos_line = (int64_t)line->line_no;
    r->pos_offset = (int64_t)line->end_offset;
    int rc;
    if (r->stream && r->rows.len >= STREAM_FLUSH_BYTES && (rc = flush_rows(r)) != EH_OK)
        return after_failed_commit(r, rc);
    int64_t max = r->cfg->line_delay_max_ms;
    if (max > 0 && kind != WORKER_VALIDATE_BLANK) {
        r->delay_until_ms = now + (int64_t)(worker_conn_random(r->conn) % (uint64_t)(max + 1));
        return RUN_YIELD;
    }
    /* Bulk mode, or a blank line, which has no per-line work and so never waits for the delay. */
    if (batch_full(r, now)) {
        if ((rc = commit(r, CK_BATCH)) != EH_OK)
            return after_failed_commit(r, rc);
        /*
         * The next job's batch comes first, once this step has had its
         * share: a small job's commits at every 10 % step (one per line for
         * a 10-line file) must not each wait for a whole pass.
         */
        if (eh_time_mono_ms() - r->step_started_ms >= STEP_SHARE_MS)
            return RUN_YIELD;
    }
    return EH_OK;
}

/* ---- the object --------------------------------------------------------- */

typedef struct chunk_sink {
    eh_buf_t *buf;
    size_t want;
    bool overflow;
} chunk_sink_t;

/*
 * libs3 2.0 shows neither the status line nor Content-Range, so a server
 * that ignored the Range header (a 200 with the whole object) is caught by
 * eh_s3_get from its Content-Length (EH_S3_RANGE_NOT_HONOURED). An answer
 * without one (chunked) is caught here by its byte count: more than the
 * range asked aborts the GET at once.
 */
static int collect(const char *data, size_t len, void *ud)
{
    chunk_sink_t *sink = ud;
    if (len > sink->want - sink->buf->len) {
        sink->overflow = true;
        return EH_ERR;
    }
    return eh_buf_append(sink->buf, data, len) == EH_OK ? EH_OK : EH_ERR;
}

/* Maps a failed S3 call to the run's outcome; reason for a failed job. */
static int s3_outcome(worker_job_t *r, int rc, const eh_s3_error_t *err)
{
    if (rc == EH_DECLINED) {
        set_fail(r, "object missing from storage");
        return RUN_FAIL;
    }
    if (rc == EH_AGAIN) {
        eh_log_kv(
            EH_LOG_WARN,
            json_pack("{s:s, s:i, s:s}", "job_id", r->claim.job.id, "http_status", err->http_status, "code", err->code),
            "storage unreachable; retrying from the checkpoint");
        return EH_AGAIN;
    }
    snprintf(r->fail_reason, sizeof(r->fail_reason), "object unreadable: HTTP %d %s", err->http_status,
             err->code[0] ? err->code : "error");
    return RUN_FAIL;
}

static size_t chunk_size(const worker_job_t *r, size_t jobs_in_flight)
{
    if (!r->stream)
        return CHUNK_DELAY_BYTES;
    size_t n = jobs_in_flight > 0 ? jobs_in_flight : 1;
    size_t c = CHUNK_BULK_BUDGET_BYTES / n;
    return c > CHUNK_BULK_MAX_BYTES ? CHUNK_BULK_MAX_BYTES : c < CHUNK_BULK_MIN_BYTES ? CHUNK_BULK_MIN_BYTES : c;
}

static size_t jobs_in_flight_now;

/* Reads the next chunk of the object at r->fed (one ranged GET). EH_OK or the run's outcome. */
static int fetch_chunk(worker_job_t *r)
{
    size_t cs = chunk_size(r, jobs_in_flight_now);
    /* Never keep a buffer much larger than what the job may use now. */
    if (r->chunk.cap > 2 * cs)
        eh_buf_free(&r->chunk);
    eh_buf_reset(&r->chunk);
    r->chunk_base = r->fed;
    uint64_t want = r->size - r->fed < cs ? r->size - r->fed : cs;
    eh_s3_error_t err;
    memset(&err, 0, sizeof(err));
    int64_t t0 = eh_time_mono_ms();
    chunk_sink_t sink = {.buf = &r->chunk, .want = (size_t)want, .overflow = false};
    int rc = eh_s3_get(r->conn->s3, r->claim.object_key, r->fed, want, collect, &sink, &err);
    r->s3_ms += eh_time_mono_ms() - t0;
    if (sink.overflow || (rc == EH_ERR && strcmp(err.code, EH_S3_RANGE_NOT_HONOURED) == 0)) {
        eh_buf_reset(&r->chunk);
        if (!sink.overflow)
            eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "job_id", r->claim.job.id, "detail", err.message),
                      "storage ignored the Range header of a ranged read");
        set_fail(r, "storage ignored the Range header: a ranged read was answered with more bytes than the range");
        return RUN_FAIL;
    }
    if (rc != EH_OK) {
        eh_buf_reset(&r->chunk);
        return s3_outcome(r, rc, &err);
    }
    if (r->chunk.len != want) {
        /* A complete answer of another length: the object is not the one that was uploaded. */
        eh_buf_reset(&r->chunk);
        set_fail(r, "object shorter than its size");
        return RUN_FAIL;
    }
    return EH_OK;
}

/*
 * Feeds lines from the read position until the step ends: RUN_YIELD (a
 * delay or, in bulk mode, a committed batch), EH_OK when the object is
 * complete (the completion committed), or a failure outcome.
 */
static int feed_lines(worker_job_t *r)
{
    for (;;) {
        if (r->sp == NULL) {
            r->sp = worker_splitter_create((size_t)r->cfg->max_line_bytes, (uint64_t)r->pos_line + 1,
                                           (uint64_t)r->pos_offset);
            if (r->sp == NULL) {
                set_fail(r, "out of memory");
                return RUN_FAIL;
            }
            r->fed = (uint64_t)r->pos_offset;
        }
        uint64_t chunk_end = r->chunk_base + r->chunk.len;
        int rc;
        if (r->fed >= r->chunk_base && r->fed < chunk_end) {
            rc = worker_splitter_feed(r->sp, r->chunk.p + (r->fed - r->chunk_base), (size_t)(chunk_end - r->fed),
                                      on_line, r);
            if (rc == EH_OK) {
                r->fed = chunk_end;
                continue;
            }
            drop_splitter(r); /* a stopped splitter is only destroyed; the next one starts at pos */
            return rc == EH_ERR ? (set_fail(r, "out of memory"), RUN_FAIL) : rc;
        }
        if (r->fed >= r->size) {
            rc = worker_splitter_finish(r->sp, on_line, r);
            drop_splitter(r);
            if (rc != EH_OK)
                return rc == EH_ERR ? (set_fail(r, "out of memory"), RUN_FAIL) : rc;
            if ((rc = commit(r, CK_COMPLETE)) != EH_OK)
                return after_failed_commit(r, rc);
            return EH_OK;
        }
        if ((rc = fetch_chunk(r)) != EH_OK) {
            drop_splitter(r);
            return rc;
        }
    }
}

/* ---- steps -------------------------------------------------------------- */

/* Ends the job as failed (fenced). EH_OK when done with it, EH_AGAIN while the database is down. */
static int fail_job(worker_job_t *r)
{
    discard_batch(r);
    if (worker_conn_db(r->conn) != EH_OK)
        return EH_AGAIN;
    const char *params[] = {r->claim.job.id, r->conn->owner, r->attempt, r->fail_reason};
    int status = EH_ERR;
    PGresult *res = eh_db_query(r->conn->db, SQL_FAIL, 4, params, &status);
    if (res == NULL)
        return status == EH_AGAIN ? EH_AGAIN : EH_OK; /* refused: the lease runs out and the reaper decides */
    eh_job_t job;
    if (PQntuples(res) == 1 && eh_job_from_row(res, 0, &job) == EH_OK) {
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:s}", "job_id", r->claim.job.id, "error", r->fail_reason),
                  "job failed");
        publish(r, &job, "failed");
        worker_metrics_job_end("failed", (double)(eh_time_mono_ms() - r->claimed_ms) / 1000.0);
        eh_job_clear(&job);
    } else {
        eh_log_kv(EH_LOG_INFO, json_pack("{s:s}", "job_id", r->claim.job.id),
                  "job no longer ours (lease lost or cancelled) before it could be marked failed");
    }
    PQclear(res);
    return EH_OK;
}

/*
 * Commits what the batch holds and gives the job back to the queue. A fair
 * slice publishes the job's message again at once, so that it waits at the
 * end of the queue; a stop leaves that to the reaper (published_at cleared).
 */
static void release_job(worker_job_t *r)
{
    /* A line whose delay is still running is done; what waits is only its pause. */
    int rc = commit(r, CK_RELEASE);
    if (rc != EH_OK) {
        discard_batch(r);
        eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:i}", "job_id", r->claim.job.id, "status", rc),
                  "release: the batch could not be committed; the lease runs out and the job is retried");
        return;
    }
    const char *why = r->release_how == WORKER_RELEASE_SLICE ? "slice" : "stop";
    if (r->release_how == WORKER_RELEASE_SLICE && worker_conn_mq(r->conn) == EH_OK &&
        eh_job_queue_publish(r->conn->db, r->conn->mq, r->claim.job.id, r->claim.object_key, NULL,
                             PUBLISH_CONFIRM_MS) != EH_OK)
        eh_log_warn("released job not published; the reaper publishes it");
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:s, s:I}", "job_id", r->claim.job.id, "reason", why, "lines_processed",
                        (json_int_t)r->ck_lines),
              "batch committed, job given back to the queue");
}

/*
 * After a failure of PostgreSQL or S3 (the back-off is over): re-reads the
 * checkpoint through the fence, which also renews the lease. EH_OK to
 * resume, EH_AGAIN to wait more, RUN_LOST.
 */
static int resync(worker_job_t *r)
{
    discard_batch(r);
    if (worker_conn_db(r->conn) != EH_OK)
        return EH_AGAIN;
    const char *params[] = {r->claim.job.id, r->conn->owner, r->attempt, r->lease};
    int status = EH_ERR;
    PGresult *res = eh_db_query(r->conn->db, SQL_FENCE, 4, params, &status);
    if (res == NULL)
        return EH_AGAIN;
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
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:I}", "job_id", r->claim.job.id, "resume_line", (json_int_t)r->ck_lines + 1),
              "resuming from the checkpoint");
    return EH_OK;
}

static void log_completed(worker_job_t *r, int64_t now)
{
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "job_id", r->claim.job.id, "lines_processed",
                        (json_int_t)r->last.lines_processed, "entries_ingested", (json_int_t)r->last.entries_ingested,
                        "lines_invalid", (json_int_t)r->last.lines_invalid, "elapsed_ms",
                        (json_int_t)(now - r->claimed_ms), "storage_ms", (json_int_t)r->s3_ms, "commit_ms",
                        (json_int_t)r->commit_ms),
              "job completed");
}

/* Where a RUN step's outcome leads. */
static void after_run(worker_job_t *r, int rc, int64_t now)
{
    switch (rc) {
    case RUN_YIELD:
        break;
    case EH_OK:
        log_completed(r, now);
        worker_metrics_job_end("completed", (double)(now - r->claimed_ms) / 1000.0);
        publish(r, &r->last, "completed");
        r->state = ST_DONE;
        break;
    case RUN_FAIL:
        r->state = ST_FAIL;
        break;
    case RUN_LOST:
        eh_log_kv(EH_LOG_INFO, json_pack("{s:s}", "job_id", r->claim.job.id),
                  "lost the lease (another worker owns the job) or the job was cancelled: dropped without writing");
        discard_batch(r);
        r->state = ST_DONE;
        break;
    default: /* EH_AGAIN, EH_ERR of a dependency: back off, then resume from the checkpoint */
        discard_batch(r);
        r->state = ST_RETRY;
        r->wake_ms = now + eh_backoff_fail(&r->backoff, now);
        break;
    }
}

/* The object's size (once per claim). EH_OK or the run's outcome. */
static int object_size(worker_job_t *r)
{
    eh_s3_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = eh_s3_head(r->conn->s3, r->claim.object_key, &r->size, &err);
    if (rc != EH_OK)
        return s3_outcome(r, rc, &err);
    r->size_known = true;
    return EH_OK;
}

/* A RUN step: timers first (lease, held-back event), then lines once the delay is over. */
static int run_step(worker_job_t *r, int64_t now)
{
    int rc;
    r->step_started_ms = now;
    if (!r->size_known && (rc = object_size(r)) != EH_OK)
        return rc;
    if (r->event_pending && now - r->last_event_ms >= EVENT_MIN_INTERVAL_MS)
        publish(r, &r->last, "progress");
    if (r->delay_until_ms > now) {
        /* Woken during a delay: the lease wants renewing (an empty commit, or the batch so far). */
        if (now - r->last_renew_ms >= r->cfg->lease_ms / 2 && (rc = commit(r, CK_BATCH)) != EH_OK)
            return after_failed_commit(r, rc);
        return RUN_YIELD;
    }
    if (r->batch_lines > 0 && !r->stream && batch_full(r, now) && (rc = commit(r, CK_BATCH)) != EH_OK)
        return after_failed_commit(r, rc);
    return feed_lines(r);
}

static int64_t next_wake(const worker_job_t *r, int64_t now)
{
    if (r->state != ST_RUN)
        return r->state == ST_RETRY || r->state == ST_FAIL ? r->wake_ms : now;
    int64_t wake = r->stream ? now : r->delay_until_ms;
    int64_t renew = r->last_renew_ms + r->cfg->lease_ms / 2;
    if (renew < wake)
        wake = renew;
    if (r->event_pending && r->last_event_ms + EVENT_MIN_INTERVAL_MS < wake)
        wake = r->last_event_ms + EVENT_MIN_INTERVAL_MS;
    return wake;
}

static int job_step(worker_job_t *r, int64_t now, int64_t *wake_ms);

/* One process runs many jobs: the log's request id is the stepped job's, for the step's lines only. */
int worker_job_step(worker_job_t *r, int64_t now, int64_t *wake_ms)
{
    eh_log_set_request(r->claim.request_id);
    int rc = job_step(r, now, wake_ms);
    eh_log_set_request(NULL);
    return rc;
}

static int job_step(worker_job_t *r, int64_t now, int64_t *wake_ms)
{
    if (r->release && (r->state == ST_RUN || r->state == ST_START)) {
        release_job(r);
        r->state = ST_DONE;
    } else if (r->release && r->state == ST_RETRY) {
        /* Nothing uncommitted; the lease runs out (or a stop lets the reaper requeue it). */
        eh_log_kv(EH_LOG_INFO, json_pack("{s:s}", "job_id", r->claim.job.id),
                  "given up while retrying; the lease runs out and the job is retried");
        r->state = ST_DONE;
    }
    switch (r->state) {
    case ST_START:
        publish(r, &r->claim.job, "started");
        r->state = ST_RUN;
        /* fallthrough */
    case ST_RUN:
        after_run(r, run_step(r, now), now);
        break;
    case ST_RETRY: {
        int rc = resync(r);
        if (rc == EH_OK) {
            r->state = ST_RUN;
            after_run(r, run_step(r, eh_time_mono_ms()), eh_time_mono_ms());
        } else {
            after_run(r, rc, now);
        }
        break;
    }
    case ST_FAIL:
        if (fail_job(r) == EH_OK || r->release) {
            r->state = ST_DONE;
        } else {
            r->wake_ms = now + eh_backoff_fail(&r->backoff, now);
        }
        break;
    case ST_DONE:
        break;
    }
    if (r->state == ST_DONE)
        return WORKER_JOB_DONE;
    *wake_ms = next_wake(r, eh_time_mono_ms());
    return WORKER_JOB_RUNNING;
}

void worker_job_release(worker_job_t *r, worker_release_t how)
{
    if (r->release)
        return;
    r->release = true;
    r->release_how = how;
}

bool worker_job_releasable(const worker_job_t *r)
{
    /* Only a job that committed lines in this slot: rotating jobs that never moved would be all cost. */
    return r->state == ST_RUN && !r->release && r->ck_lines > r->claim.job.lines_processed;
}

const char *worker_job_id(const worker_job_t *r)
{
    return r->claim.job.id;
}

int64_t worker_job_claimed_ms(const worker_job_t *r)
{
    return r->claimed_ms;
}

size_t worker_job_memory(const worker_job_t *r)
{
    return sizeof(*r) + r->rows.cap + r->errs.cap + r->chunk.cap;
}

void worker_job_set_in_flight(size_t n)
{
    jobs_in_flight_now = n;
}

worker_job_t *worker_job_create(worker_conn_t *conn, worker_claim_t *claim)
{
    worker_job_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->conn = conn;
    r->cfg = conn->cfg;
    r->claim = *claim;
    memset(claim, 0, sizeof(*claim));
    snprintf(r->attempt, sizeof(r->attempt), "%d", r->claim.attempt);
    fmt_i64(r->lease, sizeof(r->lease), r->cfg->lease_ms);
    r->ck_lines = r->claim.job.lines_processed;
    r->ck_bytes = r->claim.bytes_processed;
    r->ck_invalid = r->claim.job.lines_invalid;
    r->stream = r->cfg->line_delay_max_ms == 0;
    r->claimed_ms = eh_time_mono_ms();
    r->last_renew_ms = r->claimed_ms;
    r->last_event_step = -1;
    r->last_event_lines = -1;
    r->state = ST_START;
    eh_backoff_init(&r->backoff, RETRY_MIN_MS, RETRY_MAX_MS);
    discard_batch(r);
    return r;
}

void worker_job_destroy(worker_job_t *r)
{
    if (r == NULL)
        return;
    discard_batch(r);
    eh_job_clear(&r->last);
    eh_job_clear(&r->claim.job);
    eh_buf_free(&r->rows);
    eh_buf_free(&r->errs);
    eh_buf_free(&r->chunk);
    free(r);
}
