-- Terrace store schema, version 1.
-- Portable layout (a PostgreSQL store uses the same tables): ids are UUID text
-- (lower-case, hyphenated; UUIDv7, so id order is creation order), timestamps are
-- INTEGER unix nanoseconds in UTC (BIGINT in PostgreSQL), booleans are 0/1.
-- Runs, pipelines, logs and events carry no foreign key to environments: they are
-- history and outlive the environment record.

CREATE TABLE environments (
    id          TEXT    NOT NULL PRIMARY KEY,
    project     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    failed_job  TEXT,
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (project, name)
) STRICT;

CREATE TABLE pipelines (
    id              TEXT    NOT NULL PRIMARY KEY,
    environment_id  TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    trigger         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;

CREATE INDEX pipelines_by_environment ON pipelines (environment_id, created_at);

CREATE TABLE runs (
    id                TEXT    NOT NULL PRIMARY KEY,
    pipeline_id       TEXT    REFERENCES pipelines (id),
    environment_id    TEXT    NOT NULL,
    project           TEXT    NOT NULL,
    -- The environment's name, kept so history reads well after the environment is gone.
    environment       TEXT    NOT NULL,
    job               TEXT    NOT NULL,
    event             TEXT    NOT NULL,
    forced            INTEGER NOT NULL CHECK (forced IN (0, 1)),
    trigger           TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    reason            TEXT,
    exit_code         INTEGER,
    inputs_hash       TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    owner             TEXT,
    lease_expires_at  INTEGER,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER
) STRICT;

CREATE INDEX runs_by_job ON runs (environment_id, job, created_at);
CREATE INDEX runs_by_state ON runs (state);
CREATE INDEX runs_by_environment_name ON runs (project, environment, created_at);
CREATE INDEX runs_by_created ON runs (created_at);

CREATE TABLE attempts (
    run_id       TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    exit_code    INTEGER,
    reason       TEXT,
    pid          INTEGER,
    pid_start    INTEGER,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    PRIMARY KEY (run_id, number)
) STRICT;

-- One row per append_logs batch, never per line: a job may write gigabytes of logs.
-- `data` holds the batch's lines in the codec of src/sqlite/log_codec.rs; offsets are
-- 0-based and continue across the attempts of a run.
CREATE TABLE log_chunks (
    run_id        TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    first_offset  INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    line_count    INTEGER NOT NULL CHECK (line_count > 0),
    data          BLOB    NOT NULL,
    PRIMARY KEY (run_id, first_offset)
) STRICT;

-- A sensitive value lives only in value_enc (encrypted with the master key); a plain
-- one only in value.
CREATE TABLE outputs (
    environment_id  TEXT    NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    job             TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    value           TEXT,
    value_enc       BLOB,
    sensitive       INTEGER NOT NULL CHECK (sensitive IN (0, 1)),
    run_id          TEXT    NOT NULL REFERENCES runs (id),
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (environment_id, job, name),
    CHECK ((sensitive = 1 AND value IS NULL AND value_enc IS NOT NULL)
        OR (sensitive = 0 AND value IS NOT NULL AND value_enc IS NULL))
) STRICT;

CREATE TABLE events (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    environment_id  TEXT    NOT NULL,
    run_id          TEXT    REFERENCES runs (id),
    kind            TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    at              INTEGER NOT NULL
) STRICT;

CREATE INDEX events_by_environment ON events (environment_id, id);
