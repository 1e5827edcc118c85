-- What each environment has applied: per job, the definition its last successful
-- `start` (or `redeploy`) ran with, so a job removed from terrace.yaml is still known
-- and its `delete` runs with that definition. Written when a job's start succeeds,
-- removed when its delete succeeds (with its outputs) or when `--keep-removed` forgets
-- it; goes with the environment's record. `definition_enc` is the job as JSON
-- (terrace_model::applied) sealed with the master key, bound to its environment and job
-- (its commands and variables may hold secrets), `git_commit` the commit its git source
-- was checked out at.
CREATE TABLE applied_jobs (
    environment_id  TEXT    NOT NULL,
    job             TEXT    NOT NULL,
    definition_enc  BLOB    NOT NULL,
    git_commit      TEXT,
    run_id          TEXT    NOT NULL,
    applied_at      INTEGER NOT NULL,
    PRIMARY KEY (environment_id, job)
) STRICT;
