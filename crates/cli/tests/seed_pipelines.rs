//! Seed 002's workflows end to end on a real `terrace server`, driven through its API as a
//! git event would drive it: a real repository (`file://`) holds the Terraform, applied
//! through the server's state backend.
//! - PLAN-APPLY: a commit is planned, waits for approval with its plan, and approving
//!   applies exactly that plan;
//! - on error, the last working commit is checked out and applied again (`on_failure:
//!   rollback`), the rollback linked to the failed pipeline in the runs and the audit log;
//! - APPLY EPHEMERAL: an environment with a `ttl` is destroyed by it after the server
//!   restarts (time moved with TERRACE_CLOCK_OFFSET), and its failed apply is destroyed
//!   (`on_failure: destroy`).

#[path = "server/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "common/git.rs"]
#[allow(dead_code)]
mod git;

use std::time::Duration;

use serde_json::Value;

use git::Upstream;
use support::*;

fn main_tf(size: &str, fail: bool) -> String {
    // A new resource whose provisioner fails: Terraform's apply itself fails.
    let broken = if fail {
        "resource \"terraform_data\" \"broken\" {\n  provisioner \"local-exec\" {\n    command = \"exit 3\"\n  }\n}\n"
    } else {
        ""
    };
    format!(
        "resource \"terraform_data\" \"net\" {{\n  input = \"{size}\"\n}}\n{broken}output \"size\" {{\n  value = \
         terraform_data.net.output\n}}\n"
    )
}

fn yaml(url: &str) -> String {
    format!(
        "project: infra\nenvironments:\n  prod:\n    branch: main\n    approval: required\n    on_failure: rollback\n  \
         test-1:\n    ttl: 1h\n    on_failure: destroy\njobs:\n  net:\n    template: terraform\n    \
         source: {{git: \"{url}\", ref: main, path: net}}\n    events: [start, delete]\n"
    )
}

const WAIT: Duration = Duration::from_secs(120);

fn event(api: &Api, env: &str, event: &str) -> Value {
    let path = format!("/projects/infra/environments/{env}/events");
    api.ok("POST", &path, Some(&format!(r#"{{"event": "{event}"}}"#)))
}

/// PLAN-APPLY: start → plan request → approval with the plan → approve → the applied start.
fn plan_apply(api: &Api) -> (Value, Value) {
    let accepted = event(api, "prod", "start");
    assert_eq!(accepted["state"], "awaiting_approval", "{accepted}");
    let planned = api.wait_request(accepted["request_id"].as_str().unwrap(), WAIT);
    assert_eq!(planned["state"], "succeeded", "{planned}");
    let approval = accepted["approval_id"].as_str().unwrap();
    let waiting = api.ok("GET", &format!("/approvals/{approval}"), None);
    let decided = api.ok("POST", &format!("/approvals/{approval}/approve"), Some(r#"{"reason": "plan reviewed"}"#));
    let start = decided["outcome"]["request_id"].as_str().expect("the start queued");
    (waiting, api.wait_request(start, WAIT))
}

fn net_starts(api: &Api, env: &str) -> Vec<Value> {
    let runs = api.ok("GET", &format!("/runs?project=infra&environment={env}&job=net"), None);
    runs["items"].as_array().unwrap().iter().filter(|r| r["event"] == "start").cloned().collect()
}

fn size(api: &Api, env: &str) -> String {
    let shown = api.ok("GET", &format!("/projects/infra/environments/{env}"), None);
    let list = shown["outputs"].as_array().cloned().unwrap_or_default();
    list.iter().find(|o| o["name"] == "size").map(|o| o["value"].as_str().unwrap().to_string()).unwrap_or_default()
}

#[test]
fn plan_apply_with_approval_rollback_to_the_last_good_commit_and_an_ephemeral_environment_destroyed_by_its_ttl() {
    assert!(
        std::process::Command::new("terraform").arg("version").output().is_ok_and(|o| o.status.success()),
        "terraform is not on PATH: run the tests with scripts/test, which installs it"
    );
    let upstream = Upstream::new();
    let good = upstream.commit("main", &[("net/main.tf", &main_tf("one", false))], "one");
    let f = Fixture::new(&yaml(&upstream.url()));
    let offset = f.dir.path().join("clock-offset");
    let clock = format!("file:{}", offset.display());
    let env = [("TERRACE_CLOCK_OFFSET", clock.as_str())];
    let alice = f.token("operator", "alice");
    let auditor = f.token("admin", "auditor");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &env);
    let api = server.api(Some(&alice));

    // PLAN-APPLY of the first commit.
    let (waiting, applied) = plan_apply(&api);
    let plan = &waiting["plans"][0];
    assert_eq!((plan["job"].as_str(), plan["commit"].as_str()), (Some("net"), Some(good.as_str())), "{waiting:#}");
    assert_eq!(plan["plan"]["add"], 1);
    assert_eq!(applied["state"], "succeeded", "{applied}");
    assert_eq!(net_starts(&api, "prod")[0]["inputs"]["saved_plans"]["net"], plan["run_id"]);
    assert_eq!(size(&api, "prod"), "one");

    // A commit whose apply fails: its plan is approved, the apply fails, and the last
    // working commit is checked out and applied again.
    let bad = upstream.commit("main", &[("net/main.tf", &main_tf("two", true))], "two");
    let (waiting, failed) = plan_apply(&api);
    assert_eq!(waiting["plans"][0]["commit"], bad.as_str());
    assert_eq!(failed["state"], "failed", "{failed}");
    let outcome = &failed["outcome"];
    assert_eq!(outcome["on_failure"]["action"], "rollback", "{outcome:#}");
    assert_eq!(outcome["on_failure"]["commit"], good.as_str());
    let rollback = &outcome["on_failure"]["outcome"];
    assert_eq!(rollback["environment_state"], "running", "{rollback:#}");
    let starts = net_starts(&api, "prod");
    let (newest, before) = (&starts[0], &starts[1]);
    assert_eq!((newest["commit"].as_str(), newest["state"].as_str()), (Some(good.as_str()), Some("succeeded")));
    assert_eq!(newest["inputs"]["command"], "rollback");
    assert_eq!(newest["inputs"]["on_failure_of"], outcome["pipeline_id"], "linked to the failed pipeline");
    assert_eq!((before["commit"].as_str(), before["state"].as_str()), (Some(bad.as_str()), Some("failed")));
    assert_eq!(size(&api, "prod"), "one");
    let audit = server.api(Some(&auditor)).ok("GET", "/audit?limit=50", None);
    let audit = audit.as_array().cloned().or_else(|| audit["items"].as_array().cloned()).unwrap_or_default();
    let linked = audit.iter().any(|a| {
        a["action"] == "pipeline.start"
            && a["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("\"on_failure_of\":{}", outcome["pipeline_id"])))
    });
    assert!(linked, "the audit log has the rollback's inputs: {audit:#?}");
    assert!(audit.iter().any(|a| a["action"] == "pipeline.on_failure"), "{audit:#?}");

    // APPLY EPHEMERAL of a fixed commit: applied, then destroyed by its TTL after the
    // server restarts.
    upstream.commit("main", &[("net/main.tf", &main_tf("three", false))], "three");
    let accepted = event(&api, "test-1", "start");
    let done = api.wait_request(accepted["request_id"].as_str().unwrap(), WAIT);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["outcome"]["inputs"]["ttl"], "1h");
    assert!(server.stop(), "clean stop");
    std::fs::write(&offset, "2h").unwrap();
    let server = Server::start_with_env(&f.project(), &f.data(), &[], &env);
    let api = server.api(Some(&alice));
    eventually(WAIT, "the TTL destroy of test-1", || {
        let e = api.ok("GET", "/projects/infra/environments/test-1", None);
        (e["state"] == "absent").then_some(())
    });
    let runs = api.ok("GET", "/runs?project=infra&environment=test-1&job=net", None);
    let delete = &runs["items"][0];
    assert_eq!((delete["event"].as_str(), delete["trigger"].as_str()), (Some("delete"), Some("ttl")), "{delete:#}");
    assert_eq!(delete["state"], "succeeded");
    assert_eq!(size(&api, "prod"), "one", "prod is untouched");

    // APPLY EPHEMERAL on error: the failed apply is destroyed.
    std::fs::write(&offset, "0s").unwrap();
    upstream.commit("main", &[("net/main.tf", &main_tf("four", true))], "four");
    let accepted = event(&api, "test-1", "start");
    let failed = api.wait_request(accepted["request_id"].as_str().unwrap(), WAIT);
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["outcome"]["on_failure"]["action"], "destroy");
    assert_eq!(failed["outcome"]["on_failure"]["outcome"]["environment_state"], "deleted", "{failed:#}");
}
