//! Plans of pull requests run in parallel (a plan reads the state and takes no
//! environment lock): two pull requests against one environment plan at once, each gets
//! its own one comment. A pull request's comment shows its newest plan: an older plan
//! that finishes after a newer one leaves the comment alone. Comments and commit
//! statuses link to the runs under the server's public URL.
//!
//! Each plan reads a named pipe of the test (`file()` of a FIFO, in the configuration at
//! the pull request's head): a plan blocked there is seen by the test (opening the pipe's
//! write end succeeds only while a reader waits), held, then let through.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::fake_github::FakeGitHub;
use crate::git::Upstream;
use crate::payloads;
use crate::pushes::settled;
use crate::support::{SECRET, Server, eventually, github, one_job_project, sign};

const PROJECT: &str = "project: infra
environments:
  stage: {branch: main}
jobs:
  db:
    template: terraform
    source: db
    events: [start]
";

const PLAIN: &str = "resource \"terraform_data\" \"a\" {\n  input = \"a\"\n}\n";
const GITHUB_TOKEN: &str = "ghp_parallel_plans_token";
const PUBLIC: &str = "https://terrace.example.com";

/// A configuration whose plan reads the pipe `gate`.
fn gated(gate: &Gate) -> String {
    format!("resource \"terraform_data\" \"a\" {{\n  input = trimspace(file(\"{}\"))\n}}\n", gate.path.display())
}

/// A named pipe a plan reads; the test sees the plan waiting there and lets it through.
struct Gate {
    path: PathBuf,
    held: Option<File>,
    stop: Arc<AtomicBool>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Gate {
    fn new(dir: &Path, name: &str) -> Gate {
        let path = dir.join(name);
        let made = std::process::Command::new("mkfifo").arg(&path).status().expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", path.display());
        Gate { path, held: None, stop: Arc::new(AtomicBool::new(false)), feeder: None }
    }

    /// The write end, when a reader waits (never blocks).
    fn try_writer(path: &Path) -> Option<File> {
        std::fs::OpenOptions::new().write(true).custom_flags(nix::libc::O_NONBLOCK).open(path).ok()
    }

    /// Waits until a plan reads the pipe, and keeps it reading (blocked) until `release`.
    fn hold(&mut self, what: &str) {
        let path = self.path.clone();
        self.held = Some(eventually(Duration::from_secs(180), what, || Gate::try_writer(&path)));
    }

    /// Lets the held read and every later read of the pipe through.
    fn release(&mut self) {
        if let Some(mut held) = self.held.take() {
            let _ = held.write_all(b"x");
        }
        let (path, stop) = (self.path.clone(), self.stop.clone());
        self.feeder = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match Gate::try_writer(&path) {
                    Some(mut w) => drop(w.write_all(b"x")),
                    // Polls for the next reader (a plan evaluates the configuration more than once).
                    None => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }));
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

struct Setup {
    upstream: Upstream,
    pipes: tempfile::TempDir,
    api_stub: FakeGitHub,
    server: Server,
    api: crate::support::Api,
    _fixture: crate::support::Fixture,
}

fn setup() -> Setup {
    crate::tools::require_terraform();
    let pipes = tempfile::tempdir().unwrap();
    let upstream = Upstream::new();
    upstream.commit("main", &[("terrace.yaml", PROJECT), ("db/main.tf", PLAIN)], "one resource");
    let api_stub = FakeGitHub::start();
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let env = [("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET), ("TERRACE_GITHUB_TOKEN", GITHUB_TOKEN)];
    let flags = ["--github-api-url", &api_stub.url, "--public-url", PUBLIC];
    let server = Server::start_with_env(&f.project(), &f.data(), &flags, &env);
    let api = server.api(Some(&admin));
    api.ok("POST", "/projects", Some(&format!(r#"{{"git": "{}", "branch": "main"}}"#, upstream.url())));
    Setup { upstream, pipes, api_stub, server, api, _fixture: f }
}

impl Setup {
    fn gate(&self, name: &str) -> Gate {
        Gate::new(self.pipes.path(), name)
    }

    fn pull_request(&self, action: &str, number: u64, branch: &str, head: &str, delivery: &str) {
        let body = payloads::pull_request(&self.upstream.url(), action, number, branch, head, "main");
        let (status, _) = github(&self.server, "pull_request", delivery, &body, Some(sign(&body)));
        assert_eq!(status, 202);
    }
}

#[test]
fn plans_of_two_pull_requests_run_at_once_each_with_its_own_comment() {
    let mut s = setup();
    let (mut gate_a, mut gate_b) = (s.gate("a"), s.gate("b"));
    let a = s.upstream.commit("feature-a", &[("db/main.tf", &gated(&gate_a))], "a");
    s.upstream.checkout("main");
    let b = s.upstream.commit("feature-b", &[("db/main.tf", &gated(&gate_b))], "b");
    s.pull_request("opened", 7, "feature-a", &a, "pr-7");
    s.pull_request("opened", 8, "feature-b", &b, "pr-8");
    // Both plans wait in their configurations at the same time: one after the other, the
    // second would never start while the first is held.
    gate_a.hold("the plan of pull request 7 to read its pipe");
    gate_b.hold("the plan of pull request 8 to read its pipe while the other one waits");
    gate_a.release();
    gate_b.release();
    for (key, number, head) in [("github:pr-7", 7, &a), ("github:pr-8", 8, &b)] {
        let done = settled(&s.api, key);
        assert_eq!(done["state"], "done", "{done}");
        let plan = &done["outcome"]["pipelines"]["done"]["plans"][0];
        assert_eq!(plan["state"], "succeeded", "{done}");
        let comments = s.api_stub.comments(number);
        assert_eq!(comments.len(), 1, "one comment per pull request: {comments:?}");
        assert!(comments[0].contains(&head[..12]), "{}", comments[0]);
        let link = format!("]({PUBLIC}/api/v1/runs/");
        assert!(comments[0].contains("[`stage#") && comments[0].contains(&link), "{}", comments[0]);
        let request = plan["request"].as_str().unwrap();
        let status = s
            .api_stub
            .calls()
            .into_iter()
            .rfind(|c| c.path.ends_with(&format!("/statuses/{head}")))
            .expect("a commit status");
        assert_eq!(status.body["state"], "success", "{:?}", status.body);
        assert_eq!(status.body["target_url"], format!("{PUBLIC}/api/v1/requests/{request}"), "{:?}", status.body);
    }
    assert!(s.server.stop());
}

#[test]
fn an_older_plan_that_finishes_last_does_not_overwrite_the_newer_comment() {
    let mut s = setup();
    let mut gate = s.gate("old");
    let old = s.upstream.commit("feature", &[("db/main.tf", &gated(&gate))], "first");
    s.pull_request("opened", 9, "feature", &old, "pr-9-open");
    gate.hold("the first plan to read its pipe");

    // A new commit while the first plan runs: planned at once, reported first.
    let new = s.upstream.commit("feature", &[("db/main.tf", PLAIN)], "second");
    s.pull_request("synchronize", 9, "feature", &new, "pr-9-sync");
    let done = settled(&s.api, "github:pr-9-sync");
    assert_eq!(done["state"], "done", "{done}");
    let comments = s.api_stub.comments(9);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains(&new[..12]) && !comments[0].contains("planning"), "{}", comments[0]);

    // The older plan ends last: its commit gets its status, the comment stays the newer's.
    gate.release();
    let done = settled(&s.api, "github:pr-9-open");
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["outcome"]["pipelines"]["done"]["superseded"], true, "{done}");
    let comments = s.api_stub.comments(9);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains(&new[..12]), "the newer plan's comment was overwritten: {}", comments[0]);
    assert!(!comments[0].contains(&old[..12]), "{}", comments[0]);
    assert_eq!(s.api_stub.statuses(&old, "terrace/stage"), ["pending", "success"]);
    assert_eq!(s.api_stub.statuses(&new, "terrace/stage"), ["pending", "success"]);
    assert!(s.server.stop());
}
