//! Environments created at run time, through the real binary: `terrace env clone` makes one
//! from a declared or runtime environment (variables, parameters files; not outputs, not
//! state), every command treats it like a declared one, `terrace env list` shows where each
//! comes from, and `terrace env delete` runs every job's delete before forgetting it (a
//! failed delete keeps it, `failed`). A forced `delete` after `destroy` does not bring the
//! record back.

mod common;

use common::TestProject;
use serde_json::Value;

const PROJECT: &str = r#"project: p
environments:
  dev:
    variables: {SIZE: small, REGION: eu}
    inputs: {db: params/dev.json}
  prod: {}
jobs:
  db:
    input: params/default.json
    events: [start, delete]
    commands:
      start: 'echo "db size=$SIZE region=$REGION params=$(cat "$TERRACE_JOB_INPUT")"; printf "{\"DB_HOST\": {\"value\": \"db-%s\", \"sensitive\": false}}" "$TERRACE_ENVIRONMENT" > "$TERRACE_OUTPUT_FILE"'
      delete: 'if [ -e "$FAIL_DELETE" ]; then echo "cannot delete" >&2; exit 4; fi; echo "deleted db of $TERRACE_ENVIRONMENT"'
    variables: {FAIL_DELETE: "${env:FAIL_DELETE}"}
  seed:
    depends_on: [db]
    environments: [dev]
    events: [start, delete]
    commands: {start: 'echo "seeding $DB_HOST"', delete: 'echo unseeded'}
"#;

fn project() -> TestProject {
    let p = TestProject::new(PROJECT);
    p.write("params/dev.json", r#"{"p": "dev"}"#).write("params/default.json", r#"{"p": "default"}"#);
    p
}

fn fail_flag(p: &TestProject) -> String {
    p.root().join("fail-delete").display().to_string()
}

/// `terrace` with FAIL_DELETE pointing at the flag file (the delete fails while it exists).
fn run(p: &TestProject, args: &[&str]) -> common::Run {
    let flag = fail_flag(p);
    p.run_with(args, |c| {
        c.env("FAIL_DELETE", &flag);
    })
}

fn listed(p: &TestProject) -> Vec<Value> {
    run(p, &["env", "list", "--json"]).ok().json().as_array().unwrap().clone()
}

fn entry<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|e| e["name"] == name)
}

fn jobs(outcome: &Value) -> Vec<&str> {
    outcome["jobs"].as_array().unwrap().iter().map(|j| j["job"].as_str().unwrap()).collect()
}

#[test]
fn a_clone_runs_like_a_declared_environment_and_is_deleted_resources_first() {
    let p = project();
    run(&p, &["up", "dev"]).ok();
    let made = run(&p, &["env", "clone", "dev", "--to", "dev-2", "--var", "SIZE=large"]).ok();
    assert!(made.stdout.contains("environment `dev-2` created from `dev` (stopped): start it with `terrace up dev-2`"));

    let list = listed(&p);
    let clone = entry(&list, "dev-2").expect("the clone is listed");
    assert_eq!(
        (clone["origin"].as_str(), clone["source"].as_str(), clone["state"].as_str()),
        (Some("clone"), Some("dev"), Some("stopped"))
    );
    let dev = entry(&list, "dev").unwrap();
    assert_eq!((dev["origin"].as_str(), dev["state"].as_str()), (Some("declared"), Some("running")));
    assert_eq!(entry(&list, "prod").unwrap()["state"], "absent");
    let table = run(&p, &["env", "list"]).ok().stdout;
    assert!(table.lines().any(|l| l.starts_with("dev-2") && l.contains("clone") && l.contains("dev")), "{table}");

    // Not the outputs: the clone starts with none, and makes its own.
    let none = run(&p, &["outputs", "dev-2", "--json"]).ok().json();
    assert_eq!(none, serde_json::json!([]), "outputs are not copied");
    let up = run(&p, &["up", "dev-2", "--json"]).ok().json();
    assert_eq!(jobs(&up), ["db", "seed"], "a job limited to dev runs in its clone");
    let log = p.log(TestProject::job_in(&up, "db")["run_id"].as_str().unwrap());
    assert!(
        log.contains(r#"db size=large region=eu params={"p": "dev"}"#),
        "variables over the source's, its parameters file: {log}"
    );
    let log = p.log(TestProject::job_in(&up, "seed")["run_id"].as_str().unwrap());
    assert!(log.contains("seeding db-dev-2"), "{log}");
    let outputs = run(&p, &["outputs", "dev-2", "--json"]).ok().json();
    assert_eq!(outputs[0]["value"], "db-dev-2");
    let status = run(&p, &["status", "dev-2", "--json"]).ok().json();
    assert_eq!(
        (status["state"].as_str(), status["origin"].as_str(), status["base"].as_str()),
        (Some("running"), Some("clone"), Some("dev"))
    );
    assert_eq!(status["variables"]["SIZE"], "large");
    let runs = run(&p, &["runs", "--env", "dev-2", "--json"]).ok().json();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    run(&p, &["run", "db", "--env", "dev-2", "--event", "start"]).ok();

    // A clone of the clone keeps the declared base and the variables, over them its own.
    run(&p, &["env", "clone", "dev-2", "--to", "dev-3", "--var", "REGION=us"]).ok();
    let up = run(&p, &["up", "dev-3", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&up, "db")["run_id"].as_str().unwrap());
    assert!(log.contains("db size=large region=us"), "{log}");

    // A failed delete keeps it, `failed`; run again, the rest of the delete runs and it goes.
    std::fs::write(fail_flag(&p), "").unwrap();
    let failed = run(&p, &["env", "delete", "dev-2"]).code(1);
    assert!(failed.stdout.contains("environment `dev-2` failed at job `db`"), "{}", failed.stdout);
    let kept = listed(&p);
    assert_eq!(entry(&kept, "dev-2").expect("kept after a failed delete")["state"], "failed");
    assert_eq!(run(&p, &["outputs", "dev-2", "--json"]).ok().json()[0]["value"], "db-dev-2", "its outputs stay too");
    std::fs::remove_file(fail_flag(&p)).unwrap();
    let deleted = run(&p, &["env", "delete", "dev-2"]).ok();
    assert!(deleted.stdout.contains("environment `dev-2` deleted"), "{}", deleted.stdout);
    assert!(entry(&listed(&p), "dev-2").is_none(), "gone once every delete succeeded");
    let gone = run(&p, &["up", "dev-2"]).code(2);
    assert!(gone.stderr.contains("environment `dev-2` is not defined"), "{}", gone.stderr);
    assert!(entry(&listed(&p), "dev-3").is_some(), "its own clone stays");
    // `destroy` of a runtime environment is the same delete.
    run(&p, &["destroy", "dev-3"]).ok();
    assert!(entry(&listed(&p), "dev-3").is_none());
    assert_eq!(entry(&listed(&p), "dev").unwrap()["state"], "running", "the source is untouched");
}

#[test]
fn clone_and_delete_refuse_what_they_cannot_do() {
    let p = project();
    let e = run(&p, &["env", "clone", "nope", "--to", "x"]).code(2).stderr;
    assert!(e.contains("environment `nope` is not defined in the project file (defined: dev, prod)"), "{e}");
    let e = run(&p, &["env", "clone", "dev", "--to", "prod"]).code(2).stderr;
    assert!(e.contains("environment `prod` already exists"), "{e}");
    let e = run(&p, &["env", "clone", "dev", "--to", "Bad Name"]).code(2).stderr;
    assert!(e.contains("`Bad Name` is not a valid environment name"), "{e}");
    let e = run(&p, &["env", "clone", "dev", "--to", "x", "--var", "1A=b"]).code(2).stderr;
    assert!(e.contains("variable `1A`"), "{e}");
    let e = run(&p, &["env", "clone", "dev", "--to", "x", "--var", "novalue"]).code(2).stderr;
    assert!(e.contains("`novalue` is not NAME=VALUE"), "{e}");
    run(&p, &["env", "clone", "dev", "--to", "x"]).ok();
    let e = run(&p, &["env", "clone", "prod", "--to", "x"]).code(2).stderr;
    assert!(e.contains("environment `x` already exists"), "{e}");
    let e = run(&p, &["env", "delete", "dev"]).code(2).stderr;
    assert!(e.contains("environment `dev` is not one made at run time: `terrace destroy dev`"), "{e}");
    let e = run(&p, &["env", "delete", "zzz"]).code(2).stderr;
    assert!(e.contains("environment `zzz` is not defined in the project file"), "{e}");
    // A clone never started is deleted at once: its jobs' deletes have nothing to undo but run.
    run(&p, &["env", "delete", "x"]).ok();
    assert!(entry(&listed(&p), "x").is_none());
}

#[test]
fn a_forced_delete_after_destroy_does_not_bring_the_environment_back() {
    let p = project();
    run(&p, &["up", "dev"]).ok();
    run(&p, &["destroy", "dev"]).ok();
    let forced = run(&p, &["run", "db", "--env", "dev", "--event", "delete"]).ok();
    assert!(!forced.stdout.contains("stopped"), "{}", forced.stdout);
    let status = run(&p, &["status", "dev", "--json"]).ok().json();
    assert_eq!(status["state"], "absent", "{status}");
    assert!(entry(&listed(&p), "dev").is_some_and(|e| e["state"] == "absent"));
    let runs = run(&p, &["runs", "--env", "dev", "--json"]).ok().json();
    assert_eq!(runs[0]["event"], "delete");
    assert_eq!(runs[0]["forced"], true);
    assert_eq!(runs[0]["state"], "succeeded");
}
