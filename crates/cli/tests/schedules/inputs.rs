//! Every pipeline run records seed 002's inputs (repository, commit, environment,
//! command, user, pull request, TTL) and shows them in `runs --json`, the API and the
//! audit log; what does not apply is null.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8").trim().to_string()
}

/// The one-job project, committed to a git repository; returns the commit.
fn committed(f: &Fixture) -> String {
    let proj = f.project();
    git(&proj, &["init", "-q", "-b", "main"]);
    git(&proj, &["add", "."]);
    git(&proj, &["commit", "-q", "-m", "one"]);
    git(&proj, &["rev-parse", "HEAD"])
}

fn terrace(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .current_dir(f.project())
        .env("TERRACE_DATA", f.data())
        .env("USER", "alice")
        .env_remove("TERRACE_SERVER")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run terrace");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[track_caller]
fn check_inputs(inputs: &Value, command: &str, trigger: &str, user: &str, commit: &str) {
    assert_eq!(inputs["environment"], "dev", "{inputs:#}");
    assert_eq!(inputs["command"], command, "{inputs:#}");
    assert_eq!(inputs["trigger"], trigger, "{inputs:#}");
    assert_eq!(inputs["user"], user, "{inputs:#}");
    assert_eq!(inputs["commit"], commit, "{inputs:#}");
    for absent in ["repository", "pull_request", "ttl"] {
        assert!(inputs.get(absent).is_some_and(Value::is_null), "{absent} is present and null: {inputs:#}");
    }
}

#[test]
fn local_runs_record_their_inputs() {
    let f = one_job_project("#!/bin/sh\necho up\n");
    let commit = committed(&f);
    let (code, out, err) = terrace(&f, &["up", "dev", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let outcome: Value = serde_json::from_str(&out).expect("outcome JSON");
    check_inputs(&outcome["inputs"], "start", "cli", "alice", &commit);

    let (code, out, err) = terrace(&f, &["run", "app", "--env", "dev", "--event", "raw", "--", "a", "b"]);
    assert_eq!(code, 1, "a shell job has no raw command: {out}\n{err}");
    let (_, out, _) = terrace(&f, &["runs", "--json"]);
    let runs: Vec<Value> = serde_json::from_str(&out).expect("runs JSON");
    assert_eq!(runs.len(), 2, "{out}");
    let (raw, start) = (&runs[0], &runs[1]);
    check_inputs(&start["inputs"], "start", "cli", "alice", &commit);
    assert_eq!(start["commit"], commit.as_str());
    check_inputs(&raw["inputs"], "raw", "cli", "alice", &commit);
    assert_eq!(raw["inputs"]["job"], "app");
    assert_eq!(raw["inputs"]["args"], serde_json::json!(["a", "b"]));
}

#[test]
fn server_runs_show_their_inputs_in_the_api_and_the_audit_log() {
    let f = one_job_project("#!/bin/sh\necho up\n");
    let commit = committed(&f);
    let admin = f.token("admin", "root");
    let operator = f.token("operator", "deployer");
    let server = f.start(&[]);
    let op = server.api(Some(&operator));
    let (status, accepted) = op.json("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["request_id"].as_str().expect("request_id");
    let request = op.wait_request(id, Duration::from_secs(60));
    assert_eq!(request["state"], "succeeded", "{request}");
    check_inputs(&request["outcome"]["inputs"], "start", "api", "deployer", &commit);

    let runs = op.ok("GET", "/runs?project=shop", None);
    let run = &runs["items"][0];
    check_inputs(&run["inputs"], "start", "api", "deployer", &commit);
    assert_eq!(run["commit"], commit.as_str());

    let audit = server.api(Some(&admin)).ok("GET", "/audit", None);
    let entry = audit
        .as_array()
        .expect("audit array")
        .iter()
        .find(|a| a["action"] == "pipeline.start")
        .unwrap_or_else(|| panic!("a pipeline.start entry: {audit:#}"));
    assert_eq!(entry["actor"], "api:deployer");
    let detail: Value = serde_json::from_str(entry["detail"].as_str().expect("detail")).expect("detail is JSON");
    check_inputs(&detail, "start", "api", "deployer", &commit);

    // The CLI against the server prints the same fields.
    let out = Command::new(bin())
        .args(["--server", &server.url, "runs", "--json"])
        .current_dir(f.project())
        .env("TERRACE_TOKEN", &operator)
        .output()
        .expect("terrace runs");
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("runs JSON");
    check_inputs(&listed[0]["inputs"], "start", "api", "deployer", &commit);
}
