-- The exact commit each run's source was checked out at (a git source's commit, or the
-- commit of the project's checkout), shown as `commit` by `runs --json` and the API.
ALTER TABLE runs ADD COLUMN commit_sha TEXT;
