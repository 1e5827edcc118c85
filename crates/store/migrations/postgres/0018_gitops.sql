-- Webhook deliveries as a durable work queue: a replica claims one under a lease (owner,
-- expiry, fencing token), records the steps done so far (`progress`, JSON) so a retry
-- does none twice, and ends it `done` or `failed` with what it did (`outcome`). A
-- transient failure puts it back `queued` with `next_at` (backoff); a lease that expired
-- (its replica died) makes it claimable again.
ALTER TABLE webhook_deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN next_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN owner TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE webhook_deliveries ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN progress TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN outcome TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN last_error TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN finished_at BIGINT;
CREATE INDEX webhook_deliveries_claimable ON webhook_deliveries (state, next_at);

-- Projects registered from git: the repository, the branch they follow, the folder of
-- terrace.yaml in it, and the commit of the branch head they were last read at (moved by
-- every push to the branch). `path` stays the file read, in the server's checkout.
ALTER TABLE projects ADD COLUMN git_url TEXT;
ALTER TABLE projects ADD COLUMN git_branch TEXT;
ALTER TABLE projects ADD COLUMN git_path TEXT;
ALTER TABLE projects ADD COLUMN git_commit TEXT;
