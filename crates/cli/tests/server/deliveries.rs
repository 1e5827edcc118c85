//! The delivery worker on the real server: a kept webhook delivery is processed once,
//! its outcome recorded (`GET /deliveries/{key}`); one claimed by a server that dies is
//! taken back when its lease ends and processed by the next server.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Api, SECRET, Server, eventually, fixture, github, one_job_project, sign};

fn delivery(api: &Api, key: &str) -> Value {
    api.ok("GET", &format!("/deliveries/{key}"), None)
}

fn settled(api: &Api, key: &str) -> Value {
    eventually(Duration::from_secs(60), "the delivery to be processed", || {
        let d = delivery(api, key);
        matches!(d["state"].as_str(), Some("done" | "failed")).then_some(d)
    })
}

#[test]
fn a_delivery_is_processed_once_and_one_held_by_a_dead_server_is_taken_back() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let token = f.token("viewer", "watcher");
    let secret = [("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)];
    let push = fixture("github", "push");

    // The first server claims the delivery and dies before doing anything with it.
    let held = [secret[0], ("FAILPOINTS", "delivery-claimed=return")];
    let mut first = Server::start_with_env(&f.project(), &f.data(), &["--lease", "3s"], &held);
    let (status, answer) = github(&first, "push", "w-1", &push, Some(sign(&push)));
    assert_eq!((status, answer["status"].as_str()), (202, Some("queued")), "{answer}");
    let api = first.api(Some(&token));
    eventually(Duration::from_secs(30), "the first server to claim it", || {
        (delivery(&api, "github:w-1")["state"] == "processing").then_some(())
    });
    first.kill9();

    // The next server takes it back once the dead one's lease ended, and processes it once.
    let mut next = Server::start_with_env(&f.project(), &f.data(), &["--lease", "3s"], &secret);
    let api = next.api(Some(&token));
    let done = settled(&api, "github:w-1");
    assert_eq!(done["state"], "done", "{done}");
    // Claimed by the dead server (again, if its own lease ran out first), then by this one.
    assert!(done["attempts"].as_u64().unwrap() >= 2, "{done}");
    assert_eq!(done["outcome"]["pipelines"]["repository"], "github.com/acme/infra", "{done}");
    assert!(done["finished_at"].is_string(), "{done}");

    // A new delivery is processed at once, once; a redelivery of it does nothing more.
    let (status, _) = github(&next, "push", "w-2", &push, Some(sign(&push)));
    assert_eq!(status, 202);
    let done = settled(&api, "github:w-2");
    assert_eq!((done["state"].as_str(), done["attempts"].as_u64()), (Some("done"), Some(1)), "{done}");
    let (_, again) = github(&next, "push", "w-2", &push, Some(sign(&push)));
    assert_eq!(again["status"], "duplicate");
    let listed = api.ok("GET", "/deliveries", None);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(delivery(&api, "github:w-2")["attempts"], 1);
    let (status, _) = api.json("GET", "/deliveries/github:nope", None);
    assert_eq!(status, 404);
    assert!(next.stop());
}
