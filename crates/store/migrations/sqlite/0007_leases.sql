-- Leases that decide: every run and request carries the fencing token of its lease,
-- bumped by every claim or take-back; a write under an older token is refused.
-- A run is held from its creation (queued) by the process that created it.
ALTER TABLE runs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
