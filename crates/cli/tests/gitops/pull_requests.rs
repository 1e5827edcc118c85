//! Plans on a pull request: opened, then given a new commit, it plans (never applies)
//! every environment that follows its base branch at its head, with real Terraform
//! through the server's state backend; one comment on the pull request, edited in place,
//! says per environment and job what would be added, changed and destroyed, and each
//! environment gets a commit status, pending then success, through GitHub's API (a
//! recording stand-in on 127.0.0.1).

use crate::fake_github::FakeGitHub;
use crate::git::Upstream;
use crate::payloads;
use crate::pushes::settled;
use crate::support::{GITLAB_TOKEN, SECRET, Server, github, gitlab, one_job_project, sign};
use crate::tools::require_terraform;

const PROJECT: &str = "project: infra
environments:
  stage: {branch: main}
  prod: {branch: main}
  dev: {}
jobs:
  db:
    template: terraform
    source: db
    events: [start, delete]
";

const ONE: &str = "resource \"terraform_data\" \"a\" {\n  input = \"a\"\n}\n";
const TWO: &str = "resource \"terraform_data\" \"a\" {\n  input = \"a\"\n}\nresource \"terraform_data\" \"b\" {\n  input = \"b\"\n}\n";
const GITHUB_TOKEN: &str = "ghp_test_token_for_the_fake_api";

#[test]
fn a_pull_request_is_planned_never_applied_and_reported_in_one_comment() {
    require_terraform();
    let upstream = Upstream::new();
    let base = upstream.commit("main", &[("terrace.yaml", PROJECT), ("db/main.tf", ONE)], "one resource");
    let head = upstream.commit("feature", &[("db/main.tf", TWO)], "two resources");
    let api_stub = FakeGitHub::start();
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let env = [("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET), ("TERRACE_GITHUB_TOKEN", GITHUB_TOKEN)];
    let mut server = Server::start_with_env(&f.project(), &f.data(), &["--github-api-url", &api_stub.url], &env);
    let api = server.api(Some(&admin));
    let body = format!(r#"{{"git": "{}", "branch": "main"}}"#, upstream.url());
    assert_eq!(api.ok("POST", "/projects", Some(&body))["git"]["commit"], base.as_str());

    let opened = payloads::pull_request(&upstream.url(), "opened", 7, "feature", &head, "main");
    let (status, _) = github(&server, "pull_request", "pr-1", &opened, Some(sign(&opened)));
    assert_eq!(status, 202);
    let done = settled(&api, "github:pr-1");
    assert_eq!(done["state"], "done", "{done}");
    let plans = done["outcome"]["pipelines"]["done"]["plans"].as_array().unwrap().clone();
    let envs: Vec<&str> = plans.iter().map(|p| p["environment"].as_str().unwrap()).collect();
    assert_eq!(envs, ["stage", "prod"], "the environments that follow main, in file order: {done}");
    for plan in &plans {
        assert_eq!(plan["state"], "succeeded", "{done}");
        let request = api.ok("GET", &format!("/requests/{}", plan["request"].as_str().unwrap()), None);
        assert_eq!(request["event"], "plan", "{request}");
        let run = api.ok("GET", &format!("/runs/{}", request["run_ids"][0].as_str().unwrap()), None);
        assert_eq!(run["commit"], head.as_str(), "planned at the head of the pull request: {run}");
        assert_eq!(run["inputs"]["pull_request"], 7, "{run}");
        assert_eq!(run["plan"]["add"], 2, "{run}");
    }
    // Nothing was applied: no environment ran a start.
    for env in ["prod", "stage"] {
        let view = api.ok("GET", &format!("/projects/infra/environments/{env}"), None);
        assert!(view["jobs"].as_array().unwrap().iter().all(|j| j["event"] == "plan"), "{view}");
    }

    // One comment, and a status per environment: pending, then success.
    let comments = api_stub.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    let comment = &comments[0];
    assert!(comment.starts_with("<!-- terrace:pr-comment -->"), "{comment}");
    assert!(comment.contains(&head[..12]), "{comment}");
    assert!(comment.contains("| `prod` | `db` | **2 to add, 0 to change, 0 to destroy** | `prod#"), "{comment}");
    assert!(comment.contains("| `stage` | `db` | **2 to add, 0 to change, 0 to destroy** | `stage#"), "{comment}");
    for env in ["prod", "stage"] {
        assert_eq!(api_stub.statuses(&head, &format!("terrace/{env}")), ["pending", "success"], "{env}");
    }
    let calls = api_stub.calls();
    assert!(calls.iter().all(|c| c.authorization == format!("Bearer {GITHUB_TOKEN}")));
    assert!(!server.log().contains(GITHUB_TOKEN), "the token reached the log");

    // New commits on the pull request: planned again, the same comment edited in place.
    let next = upstream.commit("feature", &[("db/main.tf", ONE)], "back to one");
    let sync = payloads::pull_request(&upstream.url(), "synchronize", 7, "feature", &next, "main");
    github(&server, "pull_request", "pr-2", &sync, Some(sign(&sync)));
    assert_eq!(settled(&api, "github:pr-2")["state"], "done");
    let comments = api_stub.comments(7);
    assert_eq!(comments.len(), 1, "edited in place: {comments:?}");
    assert!(comments[0].contains(&next[..12]), "{}", comments[0]);
    assert!(comments[0].contains("| `prod` | `db` | **1 to add, 0 to change, 0 to destroy**"), "{}", comments[0]);
    assert!(api_stub.calls().iter().any(|c| c.method == "PATCH"), "the comment was edited, not posted again");
    assert_eq!(api_stub.statuses(&next, "terrace/prod"), ["pending", "success"]);
    assert!(server.stop());
}

#[test]
fn a_gitlab_merge_request_is_planned_and_noted_the_same_way() {
    require_terraform();
    let upstream = Upstream::new();
    upstream.commit("main", &[("terrace.yaml", PROJECT), ("db/main.tf", ONE)], "one resource");
    let head = upstream.commit("feature", &[("db/main.tf", TWO)], "two resources");
    let api_stub = FakeGitHub::start();
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let gitlab_api = format!("{}/api/v4", api_stub.url);
    let flags = ["--gitlab-webhook-token", GITLAB_TOKEN, "--gitlab-api-url", &gitlab_api];
    let mut server = Server::start_with_env(&f.project(), &f.data(), &flags, &[("TERRACE_GITLAB_TOKEN", "glpat-test")]);
    let api = server.api(Some(&admin));
    api.ok("POST", "/projects", Some(&format!(r#"{{"git": "{}", "branch": "main"}}"#, upstream.url())));

    let opened = payloads::merge_request(&upstream.url(), 7, "feature", &head, "main");
    let (status, answer) = gitlab(&server, "Merge Request Hook", "mr-1", &opened, GITLAB_TOKEN);
    assert_eq!((status, answer["status"].as_str()), (202, Some("queued")), "{answer}");
    let done = settled(&api, "gitlab:mr-1");
    assert_eq!(done["state"], "done", "{done}");
    let notes = api_stub.comments(7);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("| `stage` | `db` | **2 to add, 0 to change, 0 to destroy** | `stage#"), "{}", notes[0]);
    for env in ["prod", "stage"] {
        assert_eq!(api_stub.statuses(&head, &format!("terrace/{env}")), ["pending", "success"], "{env}");
    }
    let calls = api_stub.calls();
    assert!(
        calls.iter().any(|c| c.path == "/api/v4/projects/acme%2Fplatform%2Finfra/merge_requests/7/notes"),
        "{calls:?}"
    );
    assert!(calls.iter().all(|c| c.authorization == "Bearer glpat-test"));
    assert!(server.stop());
}
