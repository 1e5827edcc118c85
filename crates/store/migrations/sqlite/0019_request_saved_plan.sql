-- A force run of `start` queued through the API may apply the plan a `plan` run saved
-- (`terrace run JOB --env ENV --event start --plan RUN` in client mode): that run's id.
ALTER TABLE requests ADD COLUMN saved_plan TEXT;
