-- Preview environments, one row per pull request that has (or had) one, kept after its
-- environment is deleted (state `deleted`) so a reopen finds the same id. A webhook
-- writes what the pull request asks (`wanted`, `head_sha`, `variables`); the reconciler
-- drives the environment towards it and writes what it did (`state`, `deployed_sha`,
-- `deployed_variables`, the event request in flight and the head and variables it
-- deploys: `pending_*`). `version` grows on every write:
-- each change is a compare-and-set on the version read, so of two writers one wins.
CREATE TABLE previews (
    project             TEXT    NOT NULL,
    environment         TEXT    NOT NULL,
    class               TEXT    NOT NULL,
    preview_id          TEXT    NOT NULL,
    forge               TEXT    NOT NULL,
    repository          TEXT    NOT NULL,
    full_name           TEXT    NOT NULL,
    number              INTEGER NOT NULL,
    head_sha            TEXT    NOT NULL,
    branch              TEXT    NOT NULL,
    wanted              INTEGER NOT NULL,
    why                 TEXT,
    variables           TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    reason              TEXT,
    deployed_sha        TEXT,
    deployed_variables  TEXT,
    pending_sha         TEXT,
    pending_variables   TEXT,
    request_id          TEXT,
    comment_id          INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_at             INTEGER NOT NULL DEFAULT 0,
    version             INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    expires_at          INTEGER,
    PRIMARY KEY (project, environment)
) STRICT;

CREATE INDEX previews_by_class ON previews (project, class, state);
