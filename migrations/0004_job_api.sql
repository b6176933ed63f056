-- Job list, entries, cancel and delete (issue 12, part a).

-- 'cancelled': a fifth, terminal state. The worker's fenced statements all
-- require status = 'processing', so a cancelled job stops at its worker's
-- next batch boundary; the reaper only takes 'queued' and 'processing' rows.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled'));

-- GET /api/v1/jobs: a tenant's jobs newest first, keyset on (created_at, id),
-- with and without a status filter (both scanned backwards). The jobs table
-- takes a few writes per job batch, not per line: these cost ingest nothing
-- measurable (bench/ingest/indexes.sh).
CREATE INDEX jobs_tenant_created_idx ON jobs (tenant_id, created_at, id);
CREATE INDEX jobs_tenant_status_created_idx ON jobs (tenant_id, status, created_at, id);

-- Retention (EH_RETENTION_DAYS): terminal jobs by the time they ended.
CREATE INDEX jobs_terminal_completed_idx ON jobs (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- A deleted job's leftovers. DELETE /api/v1/jobs/<id> removes the job row and
-- inserts its purge in one statement, so the job is gone (404) at once; the
-- worker's purger then deletes entries and errors in small line_no ranges
-- (purged_through moves forward with each committed batch) and the stored
-- object, and last this row. No foreign keys: the job row is already gone.
CREATE TABLE job_purges (
    job_id         uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    object_key     text        NOT NULL,
    lines_total    bigint      NOT NULL CHECK (lines_total >= 0),
    purged_through bigint      NOT NULL DEFAULT 0,
    reason         text        NOT NULL CHECK (reason IN ('delete', 'retention')),
    requested_at   timestamptz NOT NULL DEFAULT now()
);
