-- Terraform state and saved plans, as migrations/sqlite/0013_terraform_state.sql.
-- Every version of a state is kept, sealed with the master key (bound to its key and
-- version); `serial` and `lineage` are Terraform's own, copied out to list versions.
CREATE TABLE tf_states (
    project      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    job          TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    serial       BIGINT,
    lineage      TEXT,
    size         BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    body_enc     BYTEA   NOT NULL,
    run_id       TEXT,
    source       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (project, environment, job, version)
);

-- One lock per state, held by a run; gone when the run ends or is taken back.
CREATE TABLE tf_state_locks (
    project      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    job          TEXT    NOT NULL,
    lock_id      TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    info         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (project, environment, job)
);
CREATE INDEX tf_state_locks_by_run ON tf_state_locks (run_id);

-- A run's saved plan, sealed, with what it was made against.
CREATE TABLE tf_plans (
    run_id         TEXT    NOT NULL PRIMARY KEY,
    project        TEXT    NOT NULL,
    environment    TEXT    NOT NULL,
    job            TEXT    NOT NULL,
    commit_sha     TEXT,
    inputs_hash    TEXT    NOT NULL,
    state_version  BIGINT  NOT NULL,
    size           BIGINT  NOT NULL,
    body_enc       BYTEA   NOT NULL,
    created_at     BIGINT  NOT NULL
);
