//! Checkouts of a project's repository are bounded: every push reads the project at a new
//! commit (one folder per commit under `<data>/checkouts/<repository>/`), and the oldest
//! ones nothing uses any more are removed, the project's current commit kept.

use crate::git::Upstream;
use crate::payloads;
use crate::pushes::settled;
use crate::support::{SECRET, Server, github, one_job_project, sign};

const PROJECT: &str = "project: infra
environments:
  dev: {}
jobs:
  app:
    events: [start]
    commands: {start: 'true'}
";

/// The commits checked out for the one repository of the test.
fn checked_out(data: &std::path::Path) -> Vec<String> {
    let root = data.join("checkouts");
    let mut names = Vec::new();
    for repo in std::fs::read_dir(&root).unwrap() {
        for c in std::fs::read_dir(repo.unwrap().path()).unwrap() {
            let name = c.unwrap().file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn old_checkouts_are_removed_and_the_current_one_kept() {
    let upstream = Upstream::new();
    let mut head = upstream.commit("main", &[("terrace.yaml", PROJECT), ("v", "0")], "v0");
    let first = head.clone();
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)]);
    let api = server.api(Some(&admin));
    api.ok("POST", "/projects", Some(&format!(r#"{{"git": "{}", "branch": "main"}}"#, upstream.url())));
    for i in 1..=12 {
        let next = upstream.commit("main", &[("v", &i.to_string())], &format!("v{i}"));
        let push = payloads::push(&upstream.url(), "main", &head, &next);
        let key = format!("p-{i}");
        github(&server, "push", &key, &push, Some(sign(&push)));
        assert_eq!(settled(&api, &format!("github:{key}"))["state"], "done");
        head = next;
    }
    let kept = checked_out(&f.data());
    assert!(kept.len() <= 8, "at most 8 checkouts kept, not one per commit: {kept:?}");
    assert!(kept.contains(&head), "the project's current commit stays: {kept:?}");
    assert!(!kept.contains(&first), "the first commit's checkout went: {kept:?}");
    assert_eq!(api.ok("GET", "/projects/infra", None)["git"]["commit"], head.as_str());
    assert!(server.stop());
}
