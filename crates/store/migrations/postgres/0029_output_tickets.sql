-- Where a Kubernetes pod sends its output file back, as migrations/sqlite/0027_output_tickets.sql:
-- one ticket per step of an attempt, found by the hash of its token (never stored), good
-- for one upload while the attempt runs and until expires_at; output_enc is the uploaded
-- file, sealed with the master key, until the step's waiter takes it and the ticket goes.
CREATE TABLE output_tickets (
    id           TEXT    NOT NULL PRIMARY KEY,
    run_id       TEXT    NOT NULL,
    attempt      BIGINT  NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    uploaded_at  BIGINT,
    output_enc   BYTEA
);
CREATE INDEX output_tickets_by_run ON output_tickets (run_id);
