//! Environments that differ in more than variables, through the real binary: a job's
//! parameters file per environment (`environments.ENV.inputs.JOB`) and jobs limited to
//! some environments (`environments: [...]` on the job), both checked by `validate`.

mod common;

use common::TestProject;

const PROJECT: &str = r#"project: p
environments:
  dev: {}
  prod:
    inputs:
      db: params/prod.json
jobs:
  db:
    input: params/dev.json
    events: [start]
    commands: {start: 'echo "params: $(cat "$TERRACE_JOB_INPUT")"'}
  seed:
    depends_on: [db]
    environments: [dev]
    events: [start]
    commands: {start: 'echo seeded'}
"#;

fn project() -> TestProject {
    let p = TestProject::new(PROJECT);
    p.write("params/dev.json", r#"{"size": "small"}"#).write("params/prod.json", r#"{"size": "large"}"#);
    p
}

fn jobs(outcome: &serde_json::Value) -> Vec<String> {
    outcome["jobs"].as_array().unwrap().iter().map(|j| j["job"].as_str().unwrap().to_string()).collect()
}

#[test]
fn each_environment_runs_its_jobs_with_its_parameters_files() {
    let p = project();
    p.run(&["validate"]).ok();
    let dev = p.run(&["up", "dev", "--json"]).ok().json();
    assert_eq!(jobs(&dev), ["db", "seed"]);
    let log = p.log(TestProject::job_in(&dev, "db")["run_id"].as_str().unwrap());
    assert!(log.contains(r#"params: {"size": "small"}"#), "{log}");

    let prod = p.run(&["up", "prod", "--json"]).ok().json();
    assert_eq!(jobs(&prod), ["db"], "seed runs in dev only");
    let log = p.log(TestProject::job_in(&prod, "db")["run_id"].as_str().unwrap());
    assert!(log.contains(r#"params: {"size": "large"}"#), "{log}");

    let refused = p.run(&["run", "seed", "--env", "prod", "--event", "start"]).code(2);
    assert!(
        refused.stderr.contains("job `seed` does not run in environment `prod` (its `environments`: dev)"),
        "{}",
        refused.stderr
    );
}

#[test]
fn validate_checks_environments_inputs_and_their_files() {
    let p = project();
    let broken = PROJECT
        .replace("      db: params/prod.json", "      db: params/missing.json\n      dbb: x.json")
        .replace("  db:\n    input", "  db:\n    environments: [prod, qa]\n    input");
    p.write("terrace.yaml", &broken);
    let out = p.run(&["validate"]).code(2);
    let e = &out.stderr;
    for expected in [
        "terrace.yaml:6:11: environment `prod`: parameters file `params/missing.json` of job `db` does not exist",
        "terrace.yaml:7:7: `inputs` of environment `prod` names unknown job `dbb`; did you mean `db`?",
        "terrace.yaml:7:12: environment `prod`: parameters file `x.json` of job `dbb` does not exist",
        "terrace.yaml:10:26: job `db` lists unknown environment `qa`; the environments are dev, prod",
        "terrace.yaml:15:18: job `seed` runs in environment `dev` but depends on job `db`, which does not run there",
    ] {
        assert!(e.contains(expected), "missing {expected:?} in:\n{e}");
    }
    assert!(e.contains("5 problems found"), "{e}");
}
