//! Drift checks (`drift:` on an environment) on real Terraform: a scheduled plan finds a
//! resource whose inputs changed outside Terrace (a file the configuration reads, edited
//! by hand: Terraform's built-in resources need no provider download), marks the
//! environment drifted with that resource, keeps the history, ignores output-only
//! changes, and clears once an apply brings it back. Time moves by TERRACE_CLOCK_OFFSET.

use std::time::Duration;

use serde_json::Value;

use crate::cron::past_next_tick;
use crate::support::*;
use crate::ttl::terrace;

fn fixture() -> Fixture {
    crate::tools::require_terraform();
    let f = Fixture::new(
        "project: shop\nenvironments:\n  dev:\n    drift: \"0 3 1 1 *\"\n  stage: {}\njobs:\n  net:\n    \
         template: terraform\n    source: net\n    events: [start, delete]\n",
    );
    let outside = f.dir.path().join("outside");
    let main_tf = format!(
        "resource \"terraform_data\" \"config\" {{\n  input = trimspace(file(\"{0}/size\"))\n}}\n\
         output \"size\" {{ value = terraform_data.config.output }}\n\
         output \"note\" {{ value = trimspace(file(\"{0}/note\")) }}\n",
        outside.display()
    );
    f.write("proj/net/main.tf", &main_tf);
    f.write("outside/size", "small\n");
    f.write("outside/note", "first\n");
    f
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A tick `years` years after the next drift check is due; returns the check's finding.
fn check(f: &Fixture, years: u64) -> Value {
    let offset = past_next_tick(Duration::from_secs(60 + years * 366 * 86_400));
    let (code, out, err) = terrace(f, &["tick", "--json"], Some(&offset));
    let ticked = json(&out);
    let [one] = ticked["ran"].as_array().unwrap().clone().try_into().unwrap_or_else(|_| panic!("{ticked:#}\n{err}"));
    assert_eq!((one["environment"].as_str(), one["event"].as_str()), (Some("dev"), Some("plan")), "{one}");
    assert_eq!(one["trigger"], "drift", "{one}");
    assert_eq!(code, 0, "{out}{err}");
    one
}

#[test]
fn a_scheduled_plan_finds_drift_keeps_its_history_and_clears() {
    let f = fixture();
    let (code, out, err) = terrace(&f, &["up", "dev"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = terrace(&f, &["up", "stage"], None);
    assert_eq!(code, 0, "{out}{err}");
    let status = json(&terrace(&f, &["status", "dev", "--json"], None).1);
    assert_eq!(status["drift"]["cron"], "0 3 1 1 *", "{status:#}");
    assert!(status["drift"]["last"].is_null(), "{status:#}");
    assert!(json(&terrace(&f, &["status", "stage", "--json"], None).1)["drift"].is_null(), "stage has no drift:");

    // The first tick after the deploy starts the schedule; nothing is due yet.
    let ticked = json(&terrace(&f, &["tick", "--json"], None).1);
    assert_eq!(ticked["ran"], serde_json::json!([]), "{ticked}");
    // Nothing changed: in sync. stage, without `drift:`, is never checked.
    assert_eq!(check(&f, 0)["drift"], "in_sync");
    // Only an output changes: still in sync (the plan exits 2, but no resource changes).
    f.write("outside/note", "second\n");
    assert_eq!(check(&f, 1)["drift"], "in_sync");

    // The resource's input changes outside Terrace: drifted, with that resource.
    f.write("outside/size", "large\n");
    assert_eq!(check(&f, 2)["drift"], "drifted");
    let (code, out, err) = terrace(&f, &["drift", "dev", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    let history = json(&out);
    assert_eq!(history["drifted"], true, "{history:#}");
    let checks = history["checks"].as_array().unwrap();
    assert_eq!(
        checks.iter().map(|c| c["state"].as_str().unwrap()).collect::<Vec<_>>(),
        ["drifted", "in_sync", "in_sync"]
    );
    let resources = checks[0]["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{history:#}");
    assert_eq!(
        (resources[0]["job"].as_str(), resources[0]["address"].as_str()),
        (Some("net"), Some("terraform_data.config"))
    );
    assert_eq!(history["drift"]["last"]["state"], "drifted");
    let (_, out, _) = terrace(&f, &["drift", "dev"], None);
    assert!(out.contains("drifted: 1 resource(s) changed outside Terrace: net terraform_data.config"), "{out}");
    let (_, out, _) = terrace(&f, &["status", "dev"], None);
    assert!(out.contains("drift (0 3 1 1 *): drifted"), "{out}");
    // The check's runs are plans, triggered by `drift`; the environment stays running.
    let runs = json(&terrace(&f, &["runs", "--env", "dev", "--json"], None).1);
    assert_eq!((runs[0]["event"].as_str(), runs[0]["trigger"].as_str()), (Some("plan"), Some("drift")), "{runs:#}");
    assert_eq!(runs[0]["inputs"]["command"], "drift");
    assert_eq!(json(&terrace(&f, &["status", "dev", "--json"], None).1)["state"], "running");

    // Applied again: the next check finds none, and the drift clears.
    let (code, out, err) = terrace(&f, &["up", "dev"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(check(&f, 3)["drift"], "in_sync");
    let history = json(&terrace(&f, &["drift", "dev", "--json"], None).1);
    assert_eq!(history["drifted"], false, "{history:#}");
    assert_eq!(history["checks"].as_array().unwrap().len(), 4);

    // Not a usage error to ask about an environment without drift:, but one that is not defined is.
    let (code, out, _) = terrace(&f, &["drift", "stage"], None);
    assert_eq!(code, 0);
    assert!(out.contains("has no `drift:` schedule"), "{out}");
    let (code, _, err) = terrace(&f, &["drift", "nowhere"], None);
    assert_eq!(code, 2, "{err}");
}

/// A clone of an environment with `drift:` is checked on the same schedule, on its own.
#[test]
fn a_clone_is_checked_for_drift_like_the_environment_it_copies() {
    let f = fixture();
    let (code, out, err) = terrace(&f, &["env", "clone", "dev", "--to", "dev-2"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = terrace(&f, &["up", "dev-2"], None);
    assert_eq!(code, 0, "{out}{err}");
    let status = json(&terrace(&f, &["status", "dev-2", "--json"], None).1);
    assert_eq!(status["drift"]["cron"], "0 3 1 1 *", "the clone has its drift schedule: {status:#}");
    let ticked = json(&terrace(&f, &["tick", "--json"], None).1);
    assert_eq!(ticked["ran"], serde_json::json!([]), "{ticked}");

    // Only the clone is deployed: its check runs, and finds the drift in its own state.
    f.write("outside/size", "large\n");
    let offset = past_next_tick(Duration::from_secs(60));
    let (code, out, err) = terrace(&f, &["tick", "--json"], Some(&offset));
    let ticked = json(&out);
    let [one] = ticked["ran"].as_array().unwrap().clone().try_into().unwrap_or_else(|_| panic!("{ticked:#}\n{err}"));
    assert_eq!((one["environment"].as_str(), one["trigger"].as_str()), (Some("dev-2"), Some("drift")), "{one}");
    assert_eq!(one["drift"], "drifted", "{one}");
    assert_eq!(code, 0, "{out}{err}");
    let history = json(&terrace(&f, &["drift", "dev-2", "--json"], None).1);
    assert_eq!(history["drifted"], true, "{history:#}");
}
