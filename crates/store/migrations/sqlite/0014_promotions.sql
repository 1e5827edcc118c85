-- Promotion of artifact versions between environments: each promotion (asked, awaiting
-- approval, started, done, failed, rejected) with the digests it moved, and per
-- environment and artifact the pin it left (with the pin before it, for `--previous`).
CREATE TABLE promotions (
    id              TEXT    NOT NULL PRIMARY KEY,
    project         TEXT    NOT NULL,
    artifact        TEXT    NOT NULL,
    from_env        TEXT,
    to_env          TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    digest          TEXT    NOT NULL,
    old_version     TEXT,
    old_digest      TEXT,
    kind            TEXT    NOT NULL,
    skip_order      INTEGER NOT NULL DEFAULT 0 CHECK (skip_order IN (0, 1)),
    state           TEXT    NOT NULL,
    reason          TEXT,
    requested_by    TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;

CREATE INDEX promotions_by_target ON promotions (project, to_env, artifact, state);

CREATE TABLE artifact_pins (
    project           TEXT    NOT NULL,
    environment       TEXT    NOT NULL,
    artifact          TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    digest            TEXT    NOT NULL,
    previous_version  TEXT,
    previous_digest   TEXT,
    held              INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)),
    promotion_id      TEXT    NOT NULL,
    updated_by        TEXT    NOT NULL,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (project, environment, artifact)
) STRICT;
