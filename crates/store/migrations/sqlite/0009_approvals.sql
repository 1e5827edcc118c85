-- Approvals: an event, a promotion (or, later, a set of saved plans) of an environment
-- whose `approval` is required waits here until someone approves or rejects it. The
-- subject is what runs once approved: `request` (a queued server request, held in state
-- `awaiting_approval`), `pipeline` (a local event), `promotion`; `subject` holds its
-- details as JSON.
CREATE TABLE approvals (
    id                 TEXT    NOT NULL PRIMARY KEY,
    project            TEXT    NOT NULL,
    environment        TEXT    NOT NULL,
    subject_kind       TEXT    NOT NULL,
    subject_id         TEXT,
    subject            TEXT    NOT NULL,
    summary            TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    requested_by       TEXT    NOT NULL,
    distinct_approver  INTEGER NOT NULL DEFAULT 0 CHECK (distinct_approver IN (0, 1)),
    decided_by         TEXT,
    decided_at         INTEGER,
    reason             TEXT,
    outcome            TEXT,
    created_at         INTEGER NOT NULL
) STRICT;

CREATE INDEX approvals_by_environment ON approvals (project, environment, state);
CREATE INDEX approvals_by_subject ON approvals (subject_id);
