//! Approvals on the server: an event of an environment with `approval` required is
//! committed as a request in `awaiting_approval` (never claimed), survives a restart,
//! shows in the environment and the approvals listing, and runs once approved through
//! the API or `terrace approve`; a rejected one is cancelled; who decided is recorded and
//! audited; `distinct_approver` refuses the token that asked.

use std::time::Duration;

use crate::support::*;

const YAML: &str = "project: shop\nenvironments:\n  prod:\n    approval: {required: true, distinct_approver: true}\n\
jobs:\n  app:\n    source: app\n    events: [start]\n    commands:\n      start: ./start.sh\n";

fn fixture() -> Fixture {
    let f = Fixture::new(YAML);
    let marks = f.dir.path().join("marks");
    f.write("proj/app/start.sh", &format!("#!/bin/sh\necho started >> '{}'\n", marks.display()));
    f
}

fn marks(f: &Fixture) -> usize {
    std::fs::read_to_string(f.dir.path().join("marks")).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn an_event_awaits_approval_across_a_restart_and_runs_once_approved() {
    let f = fixture();
    let (alice, bob, viewer) = (f.token("operator", "alice"), f.token("operator", "bob"), f.token("viewer", "v"));
    let mut server = f.start(&[]);
    let api = server.api(Some(&alice));
    let accepted = api.ok("POST", "/projects/shop/environments/prod/events", Some(r#"{"event": "start"}"#));
    assert_eq!(accepted["state"], "awaiting_approval", "{accepted}");
    let request = accepted["request_id"].as_str().unwrap().to_string();
    let approval = accepted["approval_id"].as_str().unwrap().to_string();
    assert_eq!(api.ok("GET", &format!("/requests/{request}"), None)["state"], "awaiting_approval");

    assert!(server.stop(), "the server stops");
    let server = f.start(&[]);
    let api = server.api(Some(&alice));
    let env = api.ok("GET", "/projects/shop/environments/prod", None);
    assert_eq!(env["approvals"][0]["id"], approval.as_str(), "{env}");
    let waiting = api.ok("GET", "/approvals?state=awaiting_approval", None);
    assert_eq!(waiting.as_array().unwrap().len(), 1);
    assert_eq!(waiting[0]["requested_by"], "api:alice");
    assert_eq!(api.ok("GET", &format!("/requests/{request}"), None)["state"], "awaiting_approval");
    assert_eq!(marks(&f), 0, "nothing ran while it waited");

    let (status, body) = server.api(Some(&viewer)).json("POST", &format!("/approvals/{approval}/approve"), None);
    assert_eq!(status, 403, "{body}");
    let (status, body) = api.json("POST", &format!("/approvals/{approval}/approve"), None);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("needs an approver other than api:alice"), "{body}");

    let bob_api = server.api(Some(&bob));
    let decided = bob_api.ok("POST", &format!("/approvals/{}/approve", &request[..13]), Some(r#"{"reason": "ok"}"#));
    assert_eq!(decided["state"], "approved");
    assert_eq!(decided["decided_by"], "api:bob");
    let done = bob_api.wait_request(&request, Duration::from_secs(60));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(marks(&f), 1);
    let (status, _) = bob_api.json("POST", &format!("/approvals/{approval}/reject"), None);
    assert_eq!(status, 409, "decided once");

    // Rejected: the request is cancelled and never runs.
    let again = api.ok("POST", "/projects/shop/environments/prod/events", Some(r#"{"event": "start"}"#));
    let id = again["approval_id"].as_str().unwrap();
    let rejected = api.ok("POST", &format!("/approvals/{id}/reject"), Some(r#"{"reason": "freeze"}"#));
    assert_eq!(rejected["state"], "rejected");
    let cancelled = api.ok("GET", &format!("/requests/{}", again["request_id"].as_str().unwrap()), None);
    assert_eq!(cancelled["state"], "cancelled");
    assert!(cancelled["reason"].as_str().unwrap().contains("rejected by api:alice: freeze"), "{cancelled}");
    assert_eq!(marks(&f), 1);

    let audit = server.api(Some(&f.token("admin", "root"))).ok("GET", "/audit", None);
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("approval."))
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("approval.reject", "api:alice"), ("approval.approve", "api:bob")]);
}

#[test]
fn the_cli_in_client_mode_waits_for_and_gives_approvals() {
    let f = fixture();
    let (alice, bob) = (f.token("operator", "alice"), f.token("operator", "bob"));
    let server = f.start(&[]);
    let cwd = f.project();
    let (code, stdout, stderr) = terrace(&server, &alice, &cwd, &["up", "prod"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("environment `prod` requires approval: start of `prod` awaits approval prod#1"),
        "{stdout}"
    );
    assert!(stdout.contains("terrace approve prod#1"), "{stdout}");
    let (code, stdout, _) = terrace(&server, &alice, &cwd, &["approvals", "--json"]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["number"], 1);
    let (code, _, stderr) = terrace(&server, &alice, &cwd, &["approve", &id]);
    assert_eq!(code, 1, "the one who asked may not approve: {stderr}");
    // Named as listings name it, as runs are.
    let (code, stdout, stderr) = terrace(&server, &bob, &cwd, &["approve", "prod#1"]);
    assert!(stderr.contains("approved approval prod#1"), "{stderr}");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("environment `prod` is running (1 succeeded"), "{stdout}");
    assert_eq!(marks(&f), 1);
}
