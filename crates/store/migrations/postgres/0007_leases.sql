-- Leases that decide, as migrations/sqlite/0007_leases.sql: the fencing token of every
-- run's and request's lease, bumped by every claim or take-back.
ALTER TABLE runs ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
