-- Agents, as migrations/sqlite/0019_agents.sql. A pool token lets an agent pull
-- the steps of one pool and report on them, nothing else; it is stored by its hash.
CREATE TABLE pool_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    pool        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

-- One step of an attempt handed to a pool: queued until an agent claims it under a
-- lease with a fencing token (bumped by every claim and take-back), then ended once.
-- spec_enc (its command, variables and files) and output_enc (its output file) are
-- sealed with the master key, bound to the step's id.
CREATE TABLE agent_steps (
    id                TEXT    NOT NULL PRIMARY KEY,
    pool              TEXT    NOT NULL,
    run_id            TEXT    NOT NULL,
    attempt           BIGINT  NOT NULL,
    spec_enc          BYTEA   NOT NULL,
    state             TEXT    NOT NULL,
    agent             TEXT,
    lease_expires_at  BIGINT,
    lease_token       BIGINT  NOT NULL DEFAULT 0,
    cancel_requested  BIGINT  NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    result            TEXT,
    output_enc        BYTEA,
    created_at        BIGINT  NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT
);
CREATE INDEX agent_steps_by_pool ON agent_steps (pool, state, created_at);

-- Log lines an agent sent for a step (already masked), until the server that waits on
-- the step moves them into the run's log.
CREATE TABLE agent_step_logs (
    step_id  TEXT    NOT NULL,
    seq      BIGINT  NOT NULL,
    batch    TEXT    NOT NULL,
    PRIMARY KEY (step_id, seq)
);
