-- Where a Kubernetes pod sends its output file back: one ticket per step of an attempt,
-- found by the hash of its token (the token itself is never stored), good for one upload
-- while the attempt runs and until expires_at. output_enc is the uploaded file, sealed
-- with the master key bound to the ticket's id, until the step's waiter takes it (which
-- removes the ticket, revoking its token).
CREATE TABLE output_tickets (
    id           TEXT    NOT NULL PRIMARY KEY,
    run_id       TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    uploaded_at  INTEGER,
    output_enc   BLOB
) STRICT;
CREATE INDEX output_tickets_by_run ON output_tickets (run_id);
