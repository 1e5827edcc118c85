-- Run lists newest first, in index order. `terrace runs` and the API's run list of a
-- project read the project's every run and sorted them to return 100 (about half a
-- second with 100,000 runs; docs/PERFORMANCE.md, scenario E). Both indexes end with
-- the id, the tie-break of the order, so neither query sorts; the one per environment
-- is rebuilt with it, or the planner would prefer the project index and scan it.
CREATE INDEX runs_by_project ON runs (project, created_at, id);
DROP INDEX runs_by_environment_name;
CREATE INDEX runs_by_environment_name ON runs (project, environment, created_at, id);
