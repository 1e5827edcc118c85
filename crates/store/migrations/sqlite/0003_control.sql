-- The control plane's tables (terrace server): registered projects, the durable queue
-- of event requests, API tokens (hashed), secrets set through the API (encrypted) and
-- the audit log. Same portable layout as 0001: UUID text ids, unix-nanosecond times.

CREATE TABLE projects (
    name           TEXT    NOT NULL PRIMARY KEY,
    path           TEXT    NOT NULL,
    registered_at  INTEGER NOT NULL
) STRICT;

-- One row per accepted event request. A request is claimed by one server (owner) with a
-- lease it renews; a request whose lease expired is re-queued or ended by the reaper.
CREATE TABLE requests (
    id                TEXT    NOT NULL PRIMARY KEY,
    project           TEXT    NOT NULL,
    environment       TEXT    NOT NULL,
    event             TEXT    NOT NULL,
    job               TEXT,
    args              TEXT    NOT NULL,
    requested_by      TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    reason            TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    owner             TEXT,
    lease_expires_at  INTEGER,
    cancel_requested  INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    run_ids           TEXT    NOT NULL DEFAULT '[]',
    outcome           TEXT,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER
) STRICT;

CREATE INDEX requests_by_state ON requests (state, created_at);
CREATE INDEX requests_by_environment ON requests (project, environment, state);

CREATE TABLE api_tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;

-- value_enc is sealed with the master key and bound to (project, environment, name).
CREATE TABLE secrets (
    project      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    value_enc    BLOB    NOT NULL,
    updated_by   TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (project, environment, name)
) STRICT;

CREATE TABLE audit_log (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT
) STRICT;
