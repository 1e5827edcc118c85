-- The template phase of the step an attempt runs now (`run` for a job's single command;
-- `init`, `plan`, `apply` ... for a template's phases): recovery follows a step that
-- outlived its holder (a Kubernetes Job) to the run's end only when it is the last one.
ALTER TABLE attempts ADD COLUMN phase TEXT;
