-- Run lists newest first, in index order, as migrations/sqlite/0004_runs_by_project.sql:
-- both indexes end with the id, the tie-break of the order, so neither query sorts.
CREATE INDEX runs_by_project ON runs (project, created_at, id);
DROP INDEX runs_by_environment_name;
CREATE INDEX runs_by_environment_name ON runs (project, environment, created_at, id);
