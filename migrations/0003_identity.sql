-- API keys of the tenants (issue 10). A key is shown once at creation; the
-- table keeps its public prefix (to find the row) and the SHA-256 of the
-- whole key, never the key itself.

CREATE TABLE api_keys (
    id         uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    prefix     text        NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    hash       bytea       NOT NULL CHECK (length(hash) = 32),
    scope      text        NOT NULL CHECK (scope IN ('read', 'write')),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- One counter every API process polls (every 250 ms): it grows with every
-- revocation or deletion of a key, and a process that sees it grow re-reads
-- the keys it has cached before trusting them again.
CREATE TABLE auth_state (
    id          int    PRIMARY KEY CHECK (id = 1),
    revocations bigint NOT NULL
);

INSERT INTO auth_state (id, revocations) VALUES (1, 0);

CREATE FUNCTION eh_auth_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_state SET revocations = revocations + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_revoked AFTER UPDATE OF revoked_at OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION eh_auth_bump();
CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION eh_auth_bump();

-- The quota counts a tenant's active jobs inside the upload's transaction.
CREATE INDEX jobs_tenant_active ON jobs (tenant_id) WHERE status IN ('queued', 'processing');
