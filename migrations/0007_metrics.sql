-- Request correlation (issue 14): the id of the upload request that made a
-- job (X-Request-Id), so that a job message published again later (the
-- re-publisher, the reaper) still carries it to the worker's log lines.
-- NULL for jobs made before it existed.

ALTER TABLE jobs ADD COLUMN request_id text CHECK (length(request_id) BETWEEN 1 AND 64);
