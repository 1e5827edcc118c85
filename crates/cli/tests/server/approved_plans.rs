//! On the server, a `start` of an environment with `approval: required` waits on saved
//! plans: the event queues a plan request and answers `awaiting_approval`; approving before
//! the plans are made is refused (409, nothing applied, still awaiting); once
//! planned, the approval shows each job's plan summary, and approving applies exactly
//! those plans (real Terraform through the server's state backend).

use std::time::Duration;

use crate::support::*;

const YAML: &str = "project: shop\nenvironments:\n  dev: {}\n  prod:\n    approval: required\njobs:\n  net:\n    \
template: terraform\n    source: net\n    events: [start]\n    environments: [prod]\n  hold:\n    source: hold\n    \
events: [start]\n    environments: [dev]\n    commands:\n      start: ./hold.sh\n";

const MAIN_TF: &str = "resource \"terraform_data\" \"net\" {\n  input = \"s\"\n}\n";

#[test]
fn a_start_waits_on_saved_plans_refused_while_they_are_made_then_applied_exactly() {
    let f = Fixture::new(YAML);
    let held = f.dir.path().join("held");
    std::fs::write(&held, "").unwrap();
    f.write("proj/net/main.tf", MAIN_TF);
    // With one request at a time, `dev`'s `hold` keeps the plan request queued until the
    // test lets it go.
    f.write("proj/hold/hold.sh", &format!("#!/bin/sh\nwhile [ -e '{}' ]; do sleep 0.05; done\n", held.display()));
    let alice = f.token("operator", "alice");
    let server = f.start(&["--max-runs", "1"]);
    let api = server.api(Some(&alice));
    let hold = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    let hold = hold["request_id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(60), "dev's start to run", || {
        (api.ok("GET", &format!("/requests/{hold}"), None)["state"] == "running").then_some(())
    });

    let accepted = api.ok("POST", "/projects/shop/environments/prod/events", Some(r#"{"event": "start"}"#));
    assert_eq!(accepted["state"], "awaiting_approval", "{accepted}");
    let approval = accepted["approval_id"].as_str().unwrap().to_string();
    let plan_request = accepted["request_id"].as_str().unwrap().to_string();
    assert_eq!(api.ok("GET", &format!("/requests/{plan_request}"), None)["state"], "queued");

    let (status, body) = api.json("POST", &format!("/approvals/{approval}/approve"), None);
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("still being made") && message.contains("nothing was applied"), "{message}");
    assert_eq!(api.ok("GET", &format!("/approvals/{approval}"), None)["state"], "awaiting_approval");

    std::fs::remove_file(&held).unwrap();
    let planned = api.wait_request(&plan_request, Duration::from_secs(120));
    assert_eq!(planned["state"], "succeeded", "{planned}");
    let waiting = api.ok("GET", &format!("/approvals/{approval}"), None);
    let plans = waiting["plans"].as_array().expect("plans shown").clone();
    let net = plans.iter().find(|p| p["job"] == "net").expect("net planned");
    assert_eq!((net["state"].as_str(), net["plan"]["add"].as_u64()), (Some("succeeded"), Some(1)), "{waiting}");
    let plan_run = net["run_id"].as_str().unwrap().to_string();

    let decided = api.ok("POST", &format!("/approvals/{approval}/approve"), Some(r#"{"reason": "plan looks right"}"#));
    assert_eq!(decided["decided_by"], "api:alice");
    let start = decided["outcome"]["request_id"].as_str().expect("the start was queued").to_string();
    let done = api.wait_request(&start, Duration::from_secs(120));
    assert_eq!(done["state"], "succeeded", "{done}");
    let runs = api.ok("GET", "/runs?project=shop&environment=prod&job=net", None);
    let items = runs["items"].as_array().unwrap_or_else(|| runs.as_array().unwrap());
    let applied = items.iter().find(|r| r["event"] == "start").expect("net started");
    assert_eq!(applied["inputs"]["saved_plans"]["net"], plan_run.as_str(), "{applied}");
    assert_eq!(applied["state"], "succeeded");
}
