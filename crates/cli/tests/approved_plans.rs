//! A `start` of an environment with `approval: required` is approved on saved plans (local
//! mode, real Terraform through the store's state backend): `terrace up` plans every
//! Terraform job first and waits with the plan summary; `terrace approve` applies exactly
//! those plans; a plan made at another commit or stale against the state is refused with
//! nothing applied and the approval still waiting.

mod common;

use common::git::git;
use common::tools::require_terraform;
use common::{Run, TestProject};
use serde_json::Value;

const MAIN_TF: &str = r#"
variable "size" {
  type    = string
  default = "s"
}
resource "terraform_data" "net" {
  input = var.size
}
output "size" {
  value = terraform_data.net.output
}
"#;

const PROJECT: &str = r#"project: plans
environments:
  prod:
    approval: required
jobs:
  net:
    template: terraform
    source: net
    events: [start, delete]
  app:
    depends_on: [net]
    events: [start]
    commands: {start: 'echo "app sees size=$size"'}
"#;

fn project() -> TestProject {
    require_terraform();
    let p = TestProject::new(PROJECT);
    p.write("net/main.tf", MAIN_TF);
    p
}

/// The one approval awaiting in `prod`.
fn awaiting(p: &TestProject) -> Value {
    let list = p.json(&["approvals", "--env", "prod"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:#?}");
    list[0].clone()
}

fn start_runs(p: &TestProject, job: &str) -> Vec<Value> {
    p.runs_of(job).into_iter().filter(|r| r["event"] == "start").collect()
}

fn up(p: &TestProject) -> Run {
    p.run(&["up", "prod"]).ok()
}

#[test]
fn a_start_waits_on_its_saved_plans_and_approving_applies_exactly_them() {
    let p = project();
    let asked = up(&p);
    assert!(asked.stdout.contains("awaits approval prod#"), "{}", asked.stdout);
    assert!(asked.stdout.contains("net: 1 to add, 0 to change, 0 to destroy"), "the plan summary: {}", asked.stdout);
    assert!(start_runs(&p, "net").is_empty() && start_runs(&p, "app").is_empty(), "nothing applied yet");

    let approval = awaiting(&p);
    let plans = approval["plans"].as_array().expect("the approval lists its plans").clone();
    assert_eq!(plans.len(), 1, "{approval:#}");
    assert_eq!((plans[0]["job"].as_str(), plans[0]["state"].as_str()), (Some("net"), Some("succeeded")));
    assert_eq!(plans[0]["plan"]["add"], 1);
    let plan_run = plans[0]["run_id"].as_str().unwrap().to_string();
    let listed = p.run(&["approvals"]).ok();
    assert!(listed.stdout.contains("plan net: 1 to add"), "{}", listed.stdout);
    let status = p.run(&["status", "prod"]).ok();
    assert!(status.stdout.contains("plan net: 1 to add"), "{}", status.stdout);

    let id = approval["id"].as_str().unwrap();
    let applied = p.run(&["approve", id]).ok();
    assert!(applied.stdout.contains("environment `prod` is running"), "{}", applied.stdout);
    let net = &start_runs(&p, "net")[0];
    assert_eq!(net["state"], "succeeded");
    assert_eq!(net["inputs"]["saved_plans"]["net"], plan_run.as_str(), "the run names the plan it applied: {net:#}");
    let log = p.log(net["id"].as_str().unwrap());
    assert!(log.contains("applying the saved plan kept in the store"), "{log}");
    assert!(!log.contains("terraform plan") || !log.contains("-out="), "no new plan was made: {log}");
    let app = &start_runs(&p, "app")[0];
    assert!(p.log(app["id"].as_str().unwrap()).contains("app sees size=s"), "other jobs just run after");
    let decided = p.json(&["approvals", "--all"]);
    assert_eq!(decided[0]["state"], "approved");
    assert!(decided[0]["decided_by"].as_str().unwrap().starts_with("cli:"));
}

#[test]
fn a_plan_stale_against_the_state_is_refused_and_nothing_is_applied() {
    let p = project();
    up(&p);
    let first = awaiting(&p)["id"].as_str().unwrap().to_string();
    // A second start is planned against the same state, approved and applied first.
    p.write(
        "terrace.yaml",
        &PROJECT
            .replace("    events: [start, delete]\n", "    events: [start, delete]\n    variables: {TF_VAR_size: m}\n"),
    );
    up(&p);
    let list = p.json(&["approvals", "--env", "prod"]);
    let second = list.as_array().unwrap().iter().find(|a| a["id"] != first.as_str()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    p.run(&["approve", &second]).ok();
    assert_eq!(start_runs(&p, "net").len(), 1);

    let refused = p.run(&["approve", &first]).code(1);
    assert!(refused.stderr.contains("cannot be approved"), "{}", refused.stderr);
    assert!(refused.stderr.contains("the state has moved"), "{}", refused.stderr);
    assert!(refused.stderr.contains("nothing was applied"), "{}", refused.stderr);
    assert_eq!(start_runs(&p, "net").len(), 1, "nothing applied");
    assert_eq!(awaiting(&p)["id"], first.as_str(), "still awaiting: it may be rejected");
    p.run(&["reject", &first, "--reason", "stale"]).ok();
    assert!(p.json(&["approvals", "--env", "prod"]).as_array().unwrap().is_empty());
}

#[test]
fn a_plan_made_at_another_commit_is_refused() {
    let p = project();
    git(p.root(), &["init", "--quiet"]);
    std::fs::write(p.root().join(".gitignore"), ".terrace/\n").unwrap();
    git(p.root(), &["add", "-A"]);
    git(p.root(), &["commit", "--quiet", "-m", "one"]);
    let planned_at = git(p.root(), &["rev-parse", "HEAD"]);
    up(&p);
    let id = awaiting(&p)["id"].as_str().unwrap().to_string();
    assert_eq!(awaiting(&p)["plans"][0]["commit"], planned_at.as_str());
    git(p.root(), &["commit", "--quiet", "--allow-empty", "-m", "two"]);

    let refused = p.run(&["approve", &id]).code(1);
    assert!(refused.stderr.contains(&format!("was made at commit {planned_at}")), "{}", refused.stderr);
    assert!(start_runs(&p, "net").is_empty(), "nothing applied");
}

#[test]
fn a_git_source_is_applied_at_the_commit_its_plan_was_made_at_whatever_was_pushed_since() {
    require_terraform();
    let upstream = common::git::Upstream::new();
    let planned_at = upstream.commit("main", &[("net/main.tf", MAIN_TF)], "one");
    let yaml = PROJECT
        .replace("    source: net\n", &format!("    source: {{git: \"{}\", ref: main, path: net}}\n", upstream.url()));
    let p = TestProject::new(&yaml);
    up(&p);
    let approval = awaiting(&p);
    assert_eq!(approval["plans"][0]["commit"], planned_at.as_str());
    let pushed =
        upstream.commit("main", &[("net/main.tf", &MAIN_TF.replace("default = \"s\"", "default = \"xl\""))], "two");

    p.run(&["approve", approval["id"].as_str().unwrap()]).ok();
    let net = &start_runs(&p, "net")[0];
    assert_eq!(net["commit"], planned_at.as_str(), "not {pushed}: {net:#}");
    assert_eq!(net["state"], "succeeded");
    let app = &start_runs(&p, "app")[0];
    assert!(p.log(app["id"].as_str().unwrap()).contains("app sees size=s"), "the planned commit's value");
}
