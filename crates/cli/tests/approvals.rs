//! Approvals through the real binary in local mode: an event of an environment with
//! `approval: required` is recorded as awaiting approval (exit 0, nothing runs), survives
//! other commands, shows in `status`, and runs once `terrace approve` is given; a rejected
//! one never runs; `distinct_approver` refuses the one who asked; both decisions audited.

mod common;

use common::TestProject;
use serde_json::Value;

const PROJECT: &str = r#"project: p
environments:
  dev: {}
  prod:
    approval: required
  vault:
    approval: {required: true, distinct_approver: true}
jobs:
  app:
    events: [start, stop]
    commands: {start: 'echo started >> "$MARKS"', stop: 'echo stopped'}
"#;

fn project() -> TestProject {
    let p = TestProject::new(PROJECT);
    let marks = p.root().join("marks");
    let yaml = PROJECT.replace("project: p\n", &format!("project: p\nvariables:\n  MARKS: {}\n", marks.display()));
    p.write("terrace.yaml", &yaml);
    p
}

fn marks(p: &TestProject) -> usize {
    std::fs::read_to_string(p.root().join("marks")).map(|s| s.lines().count()).unwrap_or(0)
}

fn as_user(user: &'static str) -> impl FnOnce(&mut std::process::Command) {
    move |c| {
        c.env("USER", user);
    }
}

#[test]
fn an_event_of_an_approval_environment_waits_then_runs_once_approved() {
    let p = project();
    p.run(&["validate"]).ok();
    p.run(&["up", "dev"]).ok();
    assert_eq!(marks(&p), 1, "dev needs no approval");

    let asked = p.run_with(&["up", "prod"], as_user("alice")).ok();
    assert!(
        asked.stdout.contains("environment `prod` requires approval: start of `prod` awaits approval"),
        "{}",
        asked.stdout
    );
    assert!(asked.stdout.contains("terrace approve prod#1"), "named as runs are: {}", asked.stdout);
    assert_eq!(marks(&p), 1, "nothing ran");
    let pending = p.json(&["approvals"]);
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1);
    let id = pending[0]["id"].as_str().unwrap().to_string();
    assert_eq!(pending[0]["state"], "awaiting_approval");
    assert_eq!(pending[0]["requested_by"], "cli:alice");
    assert_eq!(pending[0]["subject"]["event"], "start");

    let status = p.json(&["status", "prod"]);
    assert_eq!(status["state"], "absent");
    assert_eq!(status["approvals"][0]["id"], id.as_str());
    let text = p.run(&["status", "prod"]).ok();
    assert!(text.stdout.contains("awaiting approval prod#1"), "{}", text.stdout);
    assert!(p.run(&["approvals"]).ok().stdout.contains("prod#1"));

    // A plan needs no approval.
    let planned = p.run(&["plan", "prod"]).ok();
    assert!(!planned.stdout.contains("requires approval"), "{}", planned.stdout);

    // Its short form is taken where its id is (the id and prefixes of it too: below).
    let approved = p.run_with(&["approve", "prod#1", "--json"], as_user("bob")).ok();
    assert!(approved.stderr.contains("approved approval prod#1"), "{}", approved.stderr);
    let outcome: Value = approved.json();
    assert_eq!(outcome["jobs"][0]["number"], 2, "the run it made is prod#2");
    assert_eq!(outcome["environment"], "prod");
    assert_eq!(outcome["environment_state"], "running");
    assert_eq!(marks(&p), 2, "the approved start ran once");

    let all = p.json(&["approvals", "--all"]);
    let decided = &all.as_array().unwrap()[0];
    assert_eq!(decided["state"], "approved");
    assert_eq!(decided["decided_by"], "cli:bob");
    assert!(decided["decided_at"].is_string());
    assert_eq!(decided["outcome"]["succeeded"], true);

    let again = p.run(&["approve", &id[..8]]).code(1);
    assert!(again.stderr.contains("is already approved by cli:bob"), "{}", again.stderr);
    assert!(p.json(&["approvals"]).as_array().unwrap().is_empty());

    let audit = p.json(&["audit"]);
    let entry = &audit.as_array().unwrap()[0];
    assert_eq!(entry["action"], "approval.approve");
    assert_eq!(entry["actor"], "cli:bob");
    assert_eq!(entry["target"], format!("approval:{id}"));
}

#[test]
fn a_rejected_event_never_runs_and_the_reason_is_kept() {
    let p = project();
    p.run(&["up", "prod"]).ok();
    let id = p.json(&["approvals"])[0]["id"].as_str().unwrap().to_string();
    let rejected = p.run_with(&["reject", &id, "--reason", "change freeze"], as_user("carol")).ok();
    assert!(rejected.stdout.contains("rejected approval"), "{}", rejected.stdout);
    assert_eq!(marks(&p), 0);
    let all = p.json(&["approvals", "--all"]);
    assert_eq!(all[0]["state"], "rejected");
    assert_eq!(all[0]["reason"], "change freeze");
    assert_eq!(all[0]["decided_by"], "cli:carol");
    p.run(&["approve", &id]).code(1);
    assert_eq!(marks(&p), 0);
    let audit = p.json(&["audit"]);
    assert_eq!(audit[0]["action"], "approval.reject");
    assert!(audit[0]["detail"].as_str().unwrap().contains("change freeze"));
}

#[test]
fn a_distinct_approver_is_someone_else_than_who_asked() {
    let p = project();
    p.run_with(&["up", "vault"], as_user("alice")).ok();
    let id = p.json(&["approvals", "--env", "vault"])[0]["id"].as_str().unwrap().to_string();
    let refused = p.run_with(&["approve", &id], as_user("alice")).code(1);
    assert!(refused.stderr.contains("needs an approver other than cli:alice"), "{}", refused.stderr);
    assert_eq!(marks(&p), 0);
    p.run_with(&["approve", &id], as_user("bob")).ok();
    assert_eq!(marks(&p), 1);
}

#[test]
fn unknown_ids_and_bad_policies_are_clear_errors() {
    let p = project();
    let missing = p.run(&["approve", "0123abcd"]).code(2);
    assert!(
        missing.stderr.contains("no approval with an id (or a request id) starting with `0123abcd`"),
        "{}",
        missing.stderr
    );
    p.write("terrace.yaml", "project: p\nenvironments:\n  prod:\n    approval: maybe\njobs: {}\n");
    let bad = p.run(&["validate"]).code(2);
    assert!(
        bad.stdout.contains("`approval` of environment `prod` must be `required`")
            || bad.stderr.contains("`approval` of environment `prod` must be `required`"),
        "{}{}",
        bad.stdout,
        bad.stderr
    );
    p.write(
        "terrace.yaml",
        "project: p\nenvironments:\n  prod:\n    approval: {required: true, approver: x}\njobs: {}\n",
    );
    let bad = p.run(&["validate"]).code(2);
    let all = format!("{}{}", bad.stdout, bad.stderr);
    assert!(all.contains("approver"), "{all}");
}
