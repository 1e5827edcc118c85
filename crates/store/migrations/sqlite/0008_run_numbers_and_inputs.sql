-- Run ids a person can type: every run gets a number in its environment (`dev#17`),
-- counted per project and environment name (an environment deleted and started again
-- goes on counting, so a number names one run for good). Existing runs are numbered in
-- the order they were created.
ALTER TABLE runs ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET number = numbered.n
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY project, environment ORDER BY created_at, id) AS n FROM runs)
    AS numbered
WHERE numbered.id = runs.id;
CREATE UNIQUE INDEX runs_by_number ON runs (project, environment, number);

CREATE TABLE run_numbers (
    project     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    newest      INTEGER NOT NULL,
    PRIMARY KEY (project, environment)
) STRICT;
INSERT INTO run_numbers (project, environment, newest)
SELECT project, environment, MAX(number) FROM runs GROUP BY project, environment;

-- skip_unchanged says which input changed: each input's hash apart (source, parameters
-- file, each variable, each upstream output; hashes only, never values) and, on a run
-- that ran, what changed since the last successful start (a JSON list of labels).
ALTER TABLE runs ADD COLUMN input_parts TEXT;
ALTER TABLE runs ADD COLUMN inputs_changed TEXT;
