-- Plans read the state and change nothing: they no longer count in "one running request
-- per environment", so plans of pull requests and drift checks run beside each other and
-- beside an apply. The rule stays, held by the database, for every other event.
DROP INDEX requests_one_running_per_environment;
CREATE UNIQUE INDEX requests_one_running_per_environment ON requests (project, environment)
    WHERE state = 'running' AND event <> 'plan';
