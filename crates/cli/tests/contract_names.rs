//! The contract's names as a user's job sees them, through the real binary: the
//! parameters file reaches a job on the local executor as `TERRACE_JOB_INPUT` AND as
//! `JOB_INPUT`, the name the seed's lifecycle jobs read, as it does in a container; `status`
//! of an environment that does not exist is a usage error (exit 2), and `status --json` says
//! where each environment comes from, as through a server.

mod common;

use common::TestProject;

#[test]
fn a_local_job_reads_its_parameters_file_as_job_input_too() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  a:
    source: src
    input: params/values.json
    events: [start]
    commands:
      start: |
        echo "seed=$(cat "$JOB_INPUT") same=$([ "$JOB_INPUT" = "$TERRACE_JOB_INPUT" ] && echo yes)"
"#,
    );
    p.write("src/keep", "").write("params/values.json", r#"{"size": 3}"#);
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "a")["run_id"].as_str().unwrap());
    assert!(log.contains(r#"seed={"size": 3} same=yes"#), "{log}");
}

#[test]
fn status_of_an_environment_that_does_not_exist_is_a_usage_error() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a: {events: [start], commands: {start: 'true'}}\n",
    );
    let run = p.run(&["status", "nope"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("environment `nope` is not defined in the project file (defined: dev)"),
        "{}",
        run.stderr
    );
    // A declared environment that was never started is no error: it has no record yet.
    let run = p.run(&["status", "dev"]).ok();
    assert!(run.stdout.contains("environment `dev` has no record"), "{}", run.stdout);
}

#[test]
fn status_json_says_where_each_environment_comes_from_as_a_server_does() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a: {events: [start], commands: {start: 'true'}}\n",
    );
    p.run(&["up", "dev"]).ok();
    p.run(&["env", "clone", "dev", "--to", "dev-a"]).ok();
    let listed = p.json(&["status"]);
    let view: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].clone(), e["defined"].clone(), e["origin"].clone(), e["source"].clone()))
        .collect();
    let expected = serde_json::json!([["dev", true, "declared", null], ["dev-a", false, "clone", "dev"]]);
    assert_eq!(serde_json::to_value(view).unwrap(), expected, "{listed}");
}
