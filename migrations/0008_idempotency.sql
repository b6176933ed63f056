-- Idempotency-Key of uploads (CONTRACT.md, "Idempotent upload"; the IETF
-- httpapi draft "The Idempotency-Key HTTP Header Field" is the model).
--
-- A row is made when a request with a key has arrived whole and passed its
-- checks, before anything is stored (the primary key makes concurrent
-- identical requests race-free: one inserts, the others find its row). It
-- holds the SHA-256 of the file, so that the same key with other content is
-- told apart, and, once the job exists, the body of the 202 answer, written
-- in the job's own transaction. A request that ends without a job deletes its
-- row, so that the key is not used up; a row whose request died without
-- doing so is taken over once lease_until has passed.

CREATE TABLE idempotency_keys (
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key            text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256 text        NOT NULL CHECK (length(request_sha256) = 64),
    job_id         uuid,
    response       text,       -- the first 202's body; NULL while the first request is in flight
    created_at     timestamptz NOT NULL DEFAULT now(),
    lease_until    timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- Expired rows are purged in small batches by the uploads themselves.
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
