-- Tenants own jobs. Every job made before tenants existed, and every job of a
-- service run with EH_AUTH=off, belongs to the 'default' tenant (its id is
-- EH_DEFAULT_TENANT_ID in common/tenant.h).

CREATE TABLE tenants (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO tenants (id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'default');

ALTER TABLE jobs
    ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES tenants (id);
