-- Terrace store schema, version 1, for PostgreSQL: the same tables as
-- migrations/sqlite/0001_init.sql. Ids are UUID text, timestamps BIGINT unix nanoseconds.
-- Text that is sorted or range-scanned is COLLATE "C": the code relies on byte order
-- (run-id prefix lookups, UUIDv7 tie-breaks, job and name order), as in SQLite.

CREATE TABLE environments (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    state       TEXT    NOT NULL,
    failed_job  TEXT,
    reason      TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (project, name)
);

CREATE TABLE pipelines (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    environment_id  TEXT COLLATE "C" NOT NULL,
    event           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    trigger         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    finished_at     BIGINT
);

CREATE INDEX pipelines_by_environment ON pipelines (environment_id, created_at);

CREATE TABLE runs (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    pipeline_id       TEXT COLLATE "C" REFERENCES pipelines (id),
    environment_id    TEXT COLLATE "C" NOT NULL,
    project           TEXT COLLATE "C" NOT NULL,
    environment       TEXT COLLATE "C" NOT NULL,
    job               TEXT COLLATE "C" NOT NULL,
    event             TEXT    NOT NULL,
    forced            BOOLEAN NOT NULL,
    trigger           TEXT    NOT NULL,
    state             TEXT COLLATE "C" NOT NULL,
    reason            TEXT,
    exit_code         BIGINT,
    inputs_hash       TEXT,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    owner             TEXT,
    lease_expires_at  BIGINT,
    created_at        BIGINT  NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT
);

CREATE INDEX runs_by_job ON runs (environment_id, job, created_at);
CREATE INDEX runs_by_state ON runs (state);
CREATE INDEX runs_by_environment_name ON runs (project, environment, created_at);
CREATE INDEX runs_by_created ON runs (created_at);

CREATE TABLE attempts (
    run_id       TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    number       BIGINT  NOT NULL,
    state        TEXT    NOT NULL,
    exit_code    BIGINT,
    reason       TEXT,
    pid          BIGINT,
    pid_start    BIGINT,
    started_at   BIGINT  NOT NULL,
    finished_at  BIGINT,
    PRIMARY KEY (run_id, number)
);

-- One row per append_logs batch, in the codec of src/sqlite/log_codec.rs.
CREATE TABLE log_chunks (
    run_id        TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    first_offset  BIGINT  NOT NULL,
    attempt       BIGINT  NOT NULL,
    line_count    BIGINT  NOT NULL CHECK (line_count > 0),
    data          BYTEA   NOT NULL,
    PRIMARY KEY (run_id, first_offset)
);

CREATE TABLE outputs (
    environment_id  TEXT COLLATE "C" NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    job             TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    value           TEXT,
    value_enc       BYTEA,
    sensitive       BOOLEAN NOT NULL,
    run_id          TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (environment_id, job, name),
    CHECK ((sensitive AND value IS NULL AND value_enc IS NOT NULL)
        OR (NOT sensitive AND value IS NOT NULL AND value_enc IS NULL))
);

CREATE TABLE events (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment_id  TEXT COLLATE "C" NOT NULL,
    run_id          TEXT COLLATE "C" REFERENCES runs (id),
    kind            TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    at              BIGINT  NOT NULL
);

CREATE INDEX events_by_environment ON events (environment_id, id);
