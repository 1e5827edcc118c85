-- Approvals: an event, a promotion (or, later, a set of saved plans) of an environment
-- whose `approval` is required waits here until someone approves or rejects it. The
-- subject is what runs once approved: `request` (a queued server request, held in state
-- `awaiting_approval`), `pipeline` (a local event), `promotion`; `subject` holds its
-- details as JSON.
CREATE TABLE approvals (
    id                 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project            TEXT COLLATE "C" NOT NULL,
    environment        TEXT COLLATE "C" NOT NULL,
    subject_kind       TEXT    NOT NULL,
    subject_id         TEXT COLLATE "C",
    subject            TEXT    NOT NULL,
    summary            TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    requested_by       TEXT    NOT NULL,
    distinct_approver  BIGINT  NOT NULL DEFAULT 0 CHECK (distinct_approver IN (0, 1)),
    decided_by         TEXT,
    decided_at         BIGINT,
    reason             TEXT,
    outcome            TEXT,
    created_at         BIGINT  NOT NULL
);

CREATE INDEX approvals_by_environment ON approvals (project, environment, state);
CREATE INDEX approvals_by_subject ON approvals (subject_id);
