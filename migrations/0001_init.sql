-- The job table is the source of truth about every upload; the queue only
-- wakes workers. log_entries and job_errors are keyed by (job_id, line_no),
-- so that a replayed batch can never duplicate a row.

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    file_name        text        NOT NULL,
    object_key       text        NOT NULL,
    size_bytes       bigint      NOT NULL CHECK (size_bytes >= 0),
    lines_total      bigint      NOT NULL CHECK (lines_total >= 0),
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    -- checkpoint: everything before these offsets is committed
    lines_processed  bigint      NOT NULL DEFAULT 0,
    bytes_processed  bigint      NOT NULL DEFAULT 0,
    entries_ingested bigint      NOT NULL DEFAULT 0,
    lines_invalid    bigint      NOT NULL DEFAULT 0,
    -- lease: the worker (lease_owner) that claimed attempt number `attempts`
    -- may write until lease_until; every batch commit renews it
    attempts         integer     NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    -- grows with every event published for the job (WebSocket ordering)
    event_seq        bigint      NOT NULL DEFAULT 0,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- when the broker last confirmed a message for the job; NULL = never
    published_at     timestamptz,
    started_at       timestamptz,
    completed_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The reaper's two questions: whose lease expired, and which queued job was
-- never (or long ago) published.
CREATE INDEX jobs_processing_lease_idx ON jobs (lease_until) WHERE status = 'processing';
CREATE INDEX jobs_queued_idx ON jobs (published_at NULLS FIRST) WHERE status = 'queued';

-- No foreign key to jobs: it would add a trigger call per COPY row on the
-- hot path; rows are only ever written by the worker holding the job's lease.
CREATE TABLE log_entries (
    job_id     uuid        NOT NULL,
    line_no    bigint      NOT NULL CHECK (line_no > 0),
    ts         timestamptz NOT NULL,
    level      text        NOT NULL,
    service    text,
    message    text        NOT NULL,
    attributes jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (job_id, line_no)
);

CREATE TABLE job_errors (
    job_id  uuid   NOT NULL,
    line_no bigint NOT NULL CHECK (line_no > 0),
    reason  text   NOT NULL,
    PRIMARY KEY (job_id, line_no)
);
