//! Projects from git and plan-apply on push: a project registered from a repository and
//! branch (API and CLI) is read at the branch head; a push re-reads it and starts every
//! environment with `branch: main` pinned to the pushed commit (a later push does not
//! change what it applies); environments that follow no branch are left alone.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::git::Upstream;
use crate::payloads;
use crate::support::{Api, SECRET, Server, bin, eventually, github, one_job_project, sign};

const PROJECT: &str = "project: infra
environments:
  prod: {branch: main}
  dev: {}
jobs:
  app:
    source: app
    events: [start]
    commands: {start: ./deploy.sh}
";

const DEPLOY: &str = "#!/bin/sh\necho \"deploying version=$(cat version) commit=$TERRACE_COMMIT\"\n";

pub fn settled(api: &Api, key: &str) -> Value {
    eventually(Duration::from_secs(120), "the delivery to be processed", || {
        let d = api.ok("GET", &format!("/deliveries/{key}"), None);
        matches!(d["state"].as_str(), Some("done" | "failed")).then_some(d)
    })
}

#[test]
fn a_push_rereads_the_project_and_applies_the_followers_at_the_pushed_commit() {
    let upstream = Upstream::new();
    let c1 =
        upstream.commit("main", &[("terrace.yaml", PROJECT), ("app/deploy.sh", DEPLOY), ("app/version", "1")], "v1");
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)]);
    let api = server.api(Some(&admin));

    // Registered from the repository: read at the head of main.
    let out = Command::new(bin())
        .args(["--server", &server.url, "project", "add", "--git", &upstream.url(), "--branch", "main"])
        .env("TERRACE_TOKEN", &admin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("project `infra` registered from") && said.contains(&c1[..12]), "{said}");
    let project = api.ok("GET", "/projects/infra", None);
    assert_eq!((project["git"]["branch"].as_str(), project["git"]["commit"].as_str()), (Some("main"), Some(&*c1)));
    assert_eq!(project["environments"], serde_json::json!(["prod", "dev"]));

    // Two pushes; the webhook of the first arrives after the second was made.
    let c2 = upstream.commit("main", &[("app/version", "2")], "v2");
    let c3 = upstream.commit("main", &[("app/version", "3")], "v3");
    let push = payloads::push(&upstream.url(), "main", &c1, &c2);
    let (status, answer) = github(&server, "push", "p-1", &push, Some(sign(&push)));
    assert_eq!((status, answer["status"].as_str()), (202, Some("queued")), "{answer}");
    let done = settled(&api, "github:p-1");
    assert_eq!(done["state"], "done", "{done}");
    let infra = &done["outcome"]["pipelines"]["done"][0];
    assert_eq!(infra["project"], "infra", "{done}");
    assert_eq!(infra["read_at"], c3.as_str(), "the project is read again at the branch head: {done}");
    let starts = infra["starts"].as_array().unwrap();
    assert_eq!(starts.len(), 1, "only prod follows main: {done}");
    assert_eq!(starts[0]["environment"], "prod");

    // The start runs the pushed commit, not the head.
    let request = api.wait_request(starts[0]["request"].as_str().unwrap(), Duration::from_secs(120));
    assert_eq!(request["state"], "succeeded", "{request}");
    let run_id = request["run_ids"][0].as_str().unwrap();
    let run = api.ok("GET", &format!("/runs/{run_id}"), None);
    assert_eq!(run["commit"], c2.as_str(), "{run}");
    assert_eq!(run["inputs"]["command"], "plan-apply", "{run}");
    assert_eq!(run["inputs"]["repository"], "github.com/acme/infra", "{run}");
    let log = api.ok("GET", &format!("/runs/{run_id}/logs"), None).to_string();
    assert!(log.contains(&format!("deploying version=2 commit={c2}")), "{log}");
    assert_eq!(api.ok("GET", "/projects/infra", None)["git"]["commit"], c3.as_str());

    // A push to another branch starts nothing; nor does a repository no project follows.
    let other = upstream.commit("feature", &[("app/version", "4")], "wip");
    let push = payloads::push(&upstream.url(), "feature", &c3, &other);
    github(&server, "push", "p-2", &push, Some(sign(&push)));
    let done = settled(&api, "github:p-2");
    assert_eq!(done["outcome"]["pipelines"]["done"][0]["starts"], serde_json::json!([]), "{done}");
    let elsewhere = payloads::push("file:///nowhere/else.git", "main", &c3, &other);
    github(&server, "push", "p-3", &elsewhere, Some(sign(&elsewhere)));
    assert_eq!(settled(&api, "github:p-3")["outcome"]["pipelines"]["projects"], serde_json::json!([]));
    assert!(server.stop());
}

#[test]
fn a_push_whose_repository_cannot_be_read_is_retried_with_backoff() {
    let upstream = Upstream::new();
    let c1 =
        upstream.commit("main", &[("terrace.yaml", PROJECT), ("app/deploy.sh", DEPLOY), ("app/version", "1")], "v1");
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)]);
    let api = server.api(Some(&admin));
    api.ok("POST", "/projects", Some(&format!(r#"{{"git": "{}", "branch": "main"}}"#, upstream.url())));
    let c2 = upstream.commit("main", &[("app/version", "2")], "v2");

    // The repository is away when the push arrives: the delivery waits and says why.
    let away = upstream.bare.with_extension("away");
    std::fs::rename(&upstream.bare, &away).unwrap();
    let push = payloads::push(&upstream.url(), "main", &c1, &c2);
    github(&server, "push", "p-9", &push, Some(sign(&push)));
    let waiting = eventually(Duration::from_secs(60), "a failed attempt", || {
        let d = api.ok("GET", "/deliveries/github:p-9", None);
        d["last_error"].is_string().then_some(d)
    });
    assert_eq!(waiting["state"], "queued", "back in the queue for a retry: {waiting}");
    assert!(waiting["last_error"].as_str().unwrap().contains("git"), "{waiting}");

    // Back again: the retry reads it and starts prod at the pushed commit, once.
    std::fs::rename(&away, &upstream.bare).unwrap();
    let done = settled(&api, "github:p-9");
    assert_eq!(done["state"], "done", "{done}");
    assert!(done["attempts"].as_u64().unwrap() >= 2, "{done}");
    let starts = done["outcome"]["pipelines"]["done"][0]["starts"].as_array().unwrap().clone();
    assert_eq!(starts.len(), 1, "{done}");
    let request = api.wait_request(starts[0]["request"].as_str().unwrap(), Duration::from_secs(120));
    assert_eq!(request["state"], "succeeded", "{request}");
    let prod = api.ok("GET", "/requests?project=infra&environment=prod", None);
    assert_eq!(prod.as_array().map(Vec::len), Some(1), "one start, whatever the attempts: {prod}");
    assert!(server.stop());
}

const APPROVED: &str = "project: infra
environments:
  prod: {branch: main, approval: required}
jobs:
  db:
    template: terraform
    source: db
    events: [start, delete]
notifications:
  ops:
    webhook: HOOK_URL
    on: [approval_needed]
";

/// `approval: required`: the push plans at its commit and waits (the `approval_needed`
/// notification says so); approving applies that saved plan at that commit, whatever was
/// pushed since.
#[test]
fn a_push_to_an_approval_environment_plans_and_applies_once_approved_at_the_pushed_commit() {
    crate::tools::require_terraform();
    let upstream = Upstream::new();
    let tf = |input: &str| format!("resource \"terraform_data\" \"a\" {{\n  input = \"{input}\"\n}}\n");
    let hook = crate::fake_github::FakeGitHub::start();
    let file = APPROVED.replace("HOOK_URL", &format!("{}/hook", hook.url));
    let c1 = upstream.commit("main", &[("terrace.yaml", &file), ("db/main.tf", &tf("one"))], "one");
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)]);
    let api = server.api(Some(&admin));
    api.ok("POST", "/projects", Some(&format!(r#"{{"git": "{}", "branch": "main"}}"#, upstream.url())));
    let c2 = upstream.commit("main", &[("db/main.tf", &tf("two"))], "two");

    let push = payloads::push(&upstream.url(), "main", &c1, &c2);
    github(&server, "push", "p-a", &push, Some(sign(&push)));
    let done = settled(&api, "github:p-a");
    let start = &done["outcome"]["pipelines"]["done"][0]["starts"][0];
    assert_eq!(start["state"], "awaiting_approval", "{done}");
    let planned = api.wait_request(start["request"].as_str().unwrap(), Duration::from_secs(120));
    assert_eq!((planned["event"].as_str(), planned["state"].as_str()), (Some("plan"), Some("succeeded")), "{planned}");
    let told = eventually(Duration::from_secs(60), "the approval_needed notification", || {
        hook.calls().into_iter().find(|c| c.path == "/hook" && c.body["kind"] == "approval_needed")
    });
    assert_eq!(told.body["environment"], "prod", "{:?}", told.body);
    let short = told.body["detail"]["approval"].as_str().unwrap_or_default().to_string();
    assert!(told.body["text"].as_str().unwrap().contains(&format!("terrace approve {short}")), "{:?}", told.body);

    // Pushed meanwhile: the approved apply still runs the commit it was planned at.
    upstream.commit("main", &[("db/main.tf", &tf("three"))], "three");
    let approval = start["approval"].as_str().unwrap();
    let decided = api.ok("POST", &format!("/approvals/{approval}/approve"), Some(r#"{"reason": "reviewed"}"#));
    let applied = api.wait_request(decided["outcome"]["request_id"].as_str().unwrap(), Duration::from_secs(120));
    assert_eq!(applied["state"], "succeeded", "{applied}");
    let run = api.ok("GET", &format!("/runs/{}", applied["run_ids"][0].as_str().unwrap()), None);
    assert_eq!((run["event"].as_str(), run["commit"].as_str()), (Some("start"), Some(&*c2)), "{run}");
    assert_eq!(run["inputs"]["command"], "plan-apply", "{run}");
    assert!(server.stop());
}
