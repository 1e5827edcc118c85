-- The time half of GitOps: what each pipeline run was asked to do (its inputs), when an
-- ephemeral environment is destroyed, cron schedules of jobs and drift checks, drift
-- history, and the durable outbox of notifications.

-- Seed 002's INPUTS of a pipeline run, as JSON (repository, commit, environment, command,
-- user, pull request, TTL), on the pipeline and on each of its runs (read with them).
ALTER TABLE pipelines ADD COLUMN inputs TEXT;
ALTER TABLE runs ADD COLUMN inputs TEXT;

-- An ephemeral environment's destroy time: its creation plus its `ttl`, kept across
-- restarts and extended by `terrace env extend`. `attempts` counts the destroys asked,
-- `retry_at` is when the next may be asked after one failed (backoff).
CREATE TABLE expiries (
    environment_id  TEXT    NOT NULL PRIMARY KEY,
    project         TEXT    NOT NULL,
    environment     TEXT    NOT NULL,
    expires_at      INTEGER NOT NULL,
    warned_at       INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    retry_at        INTEGER,
    last_error      TEXT,
    UNIQUE (project, environment)
) STRICT;

CREATE INDEX expiries_by_time ON expiries (expires_at);

-- Cron schedules: a job's `schedule` (kind `job`) and an environment's `drift` (kind
-- `drift`), each with the next tick it fires at. A tick fires by moving `next_at` past
-- it in the statement that checks it (compare and set): once, whatever the replicas.
CREATE TABLE schedules (
    key            TEXT    NOT NULL PRIMARY KEY,
    kind           TEXT    NOT NULL CHECK (kind IN ('job', 'drift')),
    project        TEXT    NOT NULL,
    environment    TEXT    NOT NULL,
    job            TEXT,
    cron           TEXT    NOT NULL,
    next_at        INTEGER NOT NULL,
    last_fired_at  INTEGER
) STRICT;

CREATE INDEX schedules_by_time ON schedules (next_at);

-- Each drift check of an environment and what it found: `in_sync`, `drifted` (with the
-- resources that changed, JSON) or `failed`.
CREATE TABLE drift_checks (
    id           TEXT    NOT NULL PRIMARY KEY,
    project      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    resources    TEXT    NOT NULL,
    run_ids      TEXT    NOT NULL,
    reason       TEXT,
    checked_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX drift_checks_by_environment ON drift_checks (project, environment, checked_at);

-- Notifications to send (Slack, webhooks), durable: delivered, or retried with backoff
-- until out of attempts. `endpoint` names the endpoint in terrace.yaml; its URL and
-- secret are read at delivery, never stored here.
CREATE TABLE notifications (
    id            TEXT    NOT NULL PRIMARY KEY,
    project       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    endpoint      TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,
    owner         TEXT,
    lease_expires_at INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    delivered_at  INTEGER
) STRICT;

CREATE INDEX notifications_by_state ON notifications (state, next_at);

-- What asked for a queued request beyond `requested_by` (repository, pull request,
-- pipeline command, pinned commit), as JSON; it becomes the runs' inputs.
ALTER TABLE requests ADD COLUMN origin TEXT;
