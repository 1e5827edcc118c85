-- Terraform state and saved plans in the store (DESIGN.md "Terraform state and plans").
-- Every version of a state is kept, sealed with the master key (bound to its key and
-- version); `serial` and `lineage` are Terraform's own, copied out to list versions.
CREATE TABLE tf_states (
    project      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    job          TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    serial       INTEGER,
    lineage      TEXT,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    body_enc     BLOB    NOT NULL,
    run_id       TEXT,
    source       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (project, environment, job, version)
) STRICT;

-- One lock per state, held by a run; gone when the run ends or is taken back.
CREATE TABLE tf_state_locks (
    project      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    job          TEXT    NOT NULL,
    lock_id      TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    info         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (project, environment, job)
) STRICT;
CREATE INDEX tf_state_locks_by_run ON tf_state_locks (run_id);

-- A run's saved plan, sealed, with what it was made against.
CREATE TABLE tf_plans (
    run_id         TEXT    NOT NULL PRIMARY KEY,
    project        TEXT    NOT NULL,
    environment    TEXT    NOT NULL,
    job            TEXT    NOT NULL,
    commit_sha     TEXT,
    inputs_hash    TEXT    NOT NULL,
    state_version  INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    body_enc       BLOB    NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;
