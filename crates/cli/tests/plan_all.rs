//! `terrace plan --all` on real Terraform (seed 003's test stage): every environment is
//! planned and one table says, per environment and job, what would be added, changed and
//! destroyed, or the error; `--json` says the same; a failed plan makes the exit status 1.
//! Environments created at run time (a clone) are planned with the declared ones.

mod common;

use common::TestProject;
use common::tools::require_terraform;

const MAIN_TF: &str = r#"
variable "name" { type = string }
resource "terraform_data" "one" { input = var.name }
resource "terraform_data" "two" { input = "${var.name}-2" }
output "name" { value = terraform_data.one.output }
"#;

fn project() -> TestProject {
    require_terraform();
    let p = TestProject::new(
        r#"project: tf
environments:
  dev: {}
  stage: {}
  broken:
    inputs: {net: net/broken.tfvars.json}
jobs:
  net:
    template: terraform
    source: net
    input: net/params.tfvars.json
    events: [start, delete]
  app:
    depends_on: [net]
    events: [start]
    commands: {start: 'true'}
"#,
    );
    p.write("net/main.tf", MAIN_TF)
        .write("net/params.tfvars.json", r#"{"name": "n"}"#)
        .write("net/broken.tfvars.json", "{}");
    p
}

#[test]
fn plan_all_prints_one_table_of_every_environment() {
    let p = project();
    p.run(&["up", "dev"]).ok();
    p.run(&["env", "clone", "stage", "--to", "stage-copy"]).ok();
    let out = p.run(&["plan", "--all", "--quiet"]).code(1);
    let line = |env: &str| {
        out.stdout.lines().find(|l| l.starts_with(env)).unwrap_or_else(|| panic!("no {env} row:\n{}", out.stdout))
    };
    let header: Vec<&str> = out.stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["ENVIRONMENT", "JOB", "ADD", "CHANGE", "DESTROY", "RESULT"], "{}", out.stdout);
    let dev: Vec<&str> = line("dev").split_whitespace().collect();
    assert_eq!(dev[..6], ["dev", "net", "0", "0", "0", "no"], "{}", out.stdout);
    let stage: Vec<&str> = line("stage").split_whitespace().collect();
    assert_eq!(stage[..6], ["stage", "net", "2", "0", "0", "changes"], "{}", out.stdout);
    assert!(line("broken").contains("failed") && line("broken").contains("terrace logs broken#"), "{}", out.stdout);
    let copy: Vec<&str> = line("stage-copy").split_whitespace().collect();
    assert_eq!(copy[..6], ["stage-copy", "net", "2", "0", "0", "changes"], "{}", out.stdout);
    assert!(out.stdout.contains("2 job(s) with changes, 1 environment(s) with an error"), "{}", out.stdout);

    let json = p.run(&["plan", "--all", "--json", "--quiet"]).code(1).json();
    let envs = json["environments"].as_array().unwrap();
    let names: Vec<&str> = envs.iter().map(|e| e["environment"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev", "stage", "broken", "stage-copy"]);
    // Still 2 to add in stage: the first plan applied nothing.
    assert_eq!((envs[1]["jobs"][0]["job"].as_str(), envs[1]["jobs"][0]["add"].as_u64()), (Some("net"), Some(2)));
    assert_eq!(envs[0]["jobs"][0]["empty"], true);
    assert_eq!(envs[2]["jobs"][0]["state"], "failed");
    assert_eq!((json["failed"].as_u64(), json["with_changes"].as_u64()), (Some(1), Some(2)));
    // Each plan is a run of its environment, kept like any other.
    let run = envs[1]["jobs"][0]["run_id"].as_str().unwrap();
    assert_eq!(p.json(&["run", "show", run])["event"], "plan");
}

#[test]
fn plan_needs_an_environment_or_all() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  j: {events: [start], commands: {start: 'true'}}\n",
    );
    let e = p.run(&["plan"]).code(2);
    assert!(e.stderr.contains("required arguments were not provided"), "{}", e.stderr);
    let e = p.run(&["plan", "dev", "--all"]).code(2);
    assert!(e.stderr.contains("cannot be used with"), "{}", e.stderr);
    let out = p.run(&["plan", "--all"]).ok();
    assert!(out.stdout.contains("no terraform or opentofu job to plan"), "{}", out.stdout);
}
