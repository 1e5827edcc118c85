-- An approval is named like a run, `ENV#N`, its number taken from the same counter of its
-- project's environment (so one `dev#17` names one thing): `terrace approve prod#5`.
-- Existing approvals are numbered after each environment's runs, in the order they came.
ALTER TABLE approvals ADD COLUMN number BIGINT NOT NULL DEFAULT 0;
UPDATE approvals SET number = numbered.n + COALESCE(
    (SELECT newest FROM run_numbers r WHERE r.project = approvals.project AND r.environment = approvals.environment), 0)
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY project, environment ORDER BY created_at, id) AS n FROM approvals)
    AS numbered
WHERE numbered.id = approvals.id;
INSERT INTO run_numbers (project, environment, newest)
SELECT project, environment, MAX(number) FROM approvals WHERE 1 = 1 GROUP BY project, environment
ON CONFLICT (project, environment) DO UPDATE SET newest = excluded.newest;
CREATE INDEX approvals_by_number ON approvals (project, environment, number);
