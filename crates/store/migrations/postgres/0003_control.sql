-- The control plane's tables (terrace server), as migrations/sqlite/0003_control.sql:
-- projects, the durable request queue, API tokens (hashed), secrets (encrypted), audit.

CREATE TABLE projects (
    name           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    path           TEXT    NOT NULL,
    registered_at  BIGINT  NOT NULL
);

CREATE TABLE requests (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project           TEXT COLLATE "C" NOT NULL,
    environment       TEXT COLLATE "C" NOT NULL,
    event             TEXT    NOT NULL,
    job               TEXT,
    args              TEXT    NOT NULL,
    requested_by      TEXT    NOT NULL,
    state             TEXT COLLATE "C" NOT NULL,
    reason            TEXT,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    max_attempts      BIGINT  NOT NULL,
    owner             TEXT,
    lease_expires_at  BIGINT,
    cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    run_ids           TEXT    NOT NULL DEFAULT '[]',
    outcome           TEXT,
    created_at        BIGINT  NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT
);

CREATE INDEX requests_by_state ON requests (state, created_at);
CREATE INDEX requests_by_environment ON requests (project, environment, state);
-- The rule "one running request per environment" held by the database itself, whatever
-- the replicas' claims race on: a claim that would break it fails instead.
CREATE UNIQUE INDEX requests_one_running_per_environment ON requests (project, environment)
    WHERE state = 'running';

CREATE TABLE api_tokens (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE secrets (
    project      TEXT COLLATE "C" NOT NULL,
    environment  TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    value_enc    BYTEA   NOT NULL,
    updated_by   TEXT    NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (project, environment, name)
);

CREATE TABLE audit_log (
    id      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT  NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT
);
