-- One store for both databases: booleans are integers 0/1 here as in SQLite, so the same
-- statements (`forced = 1`, `cancel_requested = 1`) and the same row reading serve both.
ALTER TABLE runs ALTER COLUMN forced TYPE BIGINT USING CASE WHEN forced THEN 1 ELSE 0 END;
ALTER TABLE runs ADD CONSTRAINT runs_forced_is_0_or_1 CHECK (forced IN (0, 1));

-- The check of 0001 names `sensitive` as a boolean: replaced with the integer form.
ALTER TABLE outputs DROP CONSTRAINT outputs_check;
ALTER TABLE outputs ALTER COLUMN sensitive TYPE BIGINT USING CASE WHEN sensitive THEN 1 ELSE 0 END;
ALTER TABLE outputs ADD CONSTRAINT outputs_check CHECK (
    (sensitive = 1 AND value IS NULL AND value_enc IS NOT NULL)
    OR (sensitive = 0 AND value IS NOT NULL AND value_enc IS NULL));

ALTER TABLE requests ALTER COLUMN cancel_requested DROP DEFAULT;
ALTER TABLE requests ALTER COLUMN cancel_requested TYPE BIGINT USING CASE WHEN cancel_requested THEN 1 ELSE 0 END;
ALTER TABLE requests ALTER COLUMN cancel_requested SET DEFAULT 0;
ALTER TABLE requests ADD CONSTRAINT requests_cancel_requested_is_0_or_1 CHECK (cancel_requested IN (0, 1));
