-- Many jobs per worker process (issue 16). A worker with a free slot takes
-- the longest-waiting queued job of the tenant that has the fewest jobs
-- running: the queued jobs in waiting order, and the running jobs per
-- tenant, each answered from a small partial index.
CREATE INDEX jobs_queued_wait_idx ON jobs (updated_at) WHERE status = 'queued';
CREATE INDEX jobs_processing_tenant_idx ON jobs (tenant_id) WHERE status = 'processing';
