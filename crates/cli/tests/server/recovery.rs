//! Nothing accepted is lost by a crash: `kill -9` of the server while a job runs, then a
//! new server finds the request (its holder is dead), marks the run interrupted, and runs
//! the request again to its end.

use std::time::Duration;

use crate::support::*;

/// The first attempt sleeps long (the server is killed meanwhile); the retry is quick.
const START: &str = "#!/bin/sh\nif [ -e \"$MARKER\" ]; then echo retried; exit 0; fi\n\
touch \"$MARKER\"\necho first attempt; sleep 60\n";

#[test]
fn a_request_survives_kill_9_of_the_server_and_is_retried() {
    let f = one_job_project(START);
    let marker = f.dir.path().join("marker");
    let yaml = format!(
        "project: shop\nvariables:\n  MARKER: {}\nenvironments:\n  dev: {{}}\njobs:\n  app:\n    source: app\n    \
         events: [start]\n    commands:\n      start: ./start.sh\n",
        marker.display()
    );
    f.write("proj/terrace.yaml", &yaml);
    let token = f.token("operator", "op");
    let mut server = f.start(&["--lease", "2s", "--max-attempts", "2"]);
    let api = server.api(Some(&token));
    let id = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let first_run = eventually(Duration::from_secs(30), "the job to be running", || {
        let r = api.ok("GET", &format!("/requests/{id}"), None);
        let run = r["run_ids"][0].as_str()?.to_string();
        let run_state = api.ok("GET", &format!("/runs/{run}"), None)["state"].clone();
        (run_state == "running" && marker.exists()).then_some(run)
    });
    server.kill9();

    let mut again = f.start(&["--lease", "2s", "--max-attempts", "2"]);
    let api = again.api(Some(&token));
    let request = api.wait_request(&id, Duration::from_secs(60));
    assert_eq!(request["state"], "succeeded", "{request}\n{}", again.log());
    assert_eq!(request["attempts"], 2, "claimed twice: {request}");
    let first = api.ok("GET", &format!("/runs/{first_run}"), None);
    assert_eq!(first["state"], "interrupted", "{first}");
    assert!(first["reason"].as_str().unwrap().contains("stopped before the run finished"), "{first}");
    let runs = request["run_ids"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one run per attempt: {request}");
    let retry = api.ok("GET", &format!("/runs/{}", runs[1].as_str().unwrap()), None);
    assert_eq!(retry["state"], "succeeded");
    let log = api.ok("GET", &format!("/runs/{}/logs", runs[1].as_str().unwrap()), None);
    assert!(log.to_string().contains("retried"), "{log}");
    assert!(again.stop());
}

#[test]
fn a_request_out_of_attempts_ends_interrupted_with_the_reason() {
    let f = one_job_project("#!/bin/sh\necho working; sleep 60\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&["--lease", "2s", "--max-attempts", "1"]);
    let api = server.api(Some(&token));
    let id = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(Duration::from_secs(30), "the job to be running", || {
        let r = api.ok("GET", &format!("/requests/{id}"), None);
        let run = r["run_ids"][0].as_str()?.to_string();
        (api.ok("GET", &format!("/runs/{run}"), None)["state"] == "running").then_some(())
    });
    server.kill9();
    let mut again = f.start(&["--lease", "2s", "--max-attempts", "1"]);
    let api = again.api(Some(&token));
    let request = api.wait_request(&id, Duration::from_secs(30));
    assert_eq!(request["state"], "interrupted", "{request}");
    assert!(request["reason"].as_str().unwrap().contains("attempts used"), "{request}");
    let env = api.ok("GET", "/projects/shop/environments/dev", None);
    assert_eq!(env["state"], "failed", "{env}");
    assert!(again.stop());
}

fn start_event(api: &Api) -> String {
    api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_panic_in_a_request_task_fails_the_request_and_its_runs_with_the_message() {
    let f = one_job_project("#!/bin/sh\necho started\nsleep 60\n");
    let token = f.token("operator", "op");
    let env = [("FAILPOINTS", "request-job-started=1*panic(boom in the request task)")];
    let mut server = Server::start_with_env(&f.project(), &f.data(), &["--lease", "1s"], &env);
    let api = server.api(Some(&token));
    let request = api.wait_request(&start_event(&api), Duration::from_secs(60));
    assert_eq!(request["state"], "failed", "{request}");
    assert!(request["reason"].as_str().unwrap().contains("boom in the request task"), "{request}");
    let run = request["run_ids"][0].as_str().expect("the run was recorded");
    let run = api.ok("GET", &format!("/runs/{run}"), None);
    assert_eq!(run["state"], "failed", "{run}");
    let env = api.ok("GET", "/projects/shop/environments/dev", None);
    assert_eq!(env["state"], "failed", "{env}");
    // The server goes on: the next event of the same environment runs (the job sleeps, so
    // cancel it once it started).
    let next = start_event(&api);
    eventually(Duration::from_secs(30), "the next request to run its job", || {
        let r = api.ok("GET", &format!("/requests/{next}"), None);
        (r["state"] == "running" && !r["run_ids"].as_array().unwrap().is_empty()).then_some(())
    });
    api.ok("POST", &format!("/requests/{next}/cancel"), None);
    assert_eq!(api.wait_request(&next, Duration::from_secs(60))["state"], "cancelled");
    assert!(server.stop());
}

#[test]
fn a_request_the_server_holds_without_a_task_is_ended_not_renewed_forever() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let token = f.token("operator", "op");
    // The request's end is never written, as if the store had refused it.
    let env = [("FAILPOINTS", "request-finish=1*return")];
    let mut server = Server::start_with_env(&f.project(), &f.data(), &["--lease", "1s"], &env);
    let api = server.api(Some(&token));
    let request = api.wait_request(&start_event(&api), Duration::from_secs(60));
    assert_eq!(request["state"], "failed", "{request}");
    assert!(request["reason"].as_str().unwrap().contains("no longer runs it"), "{request}");
    assert_eq!(api.wait_request(&start_event(&api), Duration::from_secs(60))["state"], "succeeded");
    assert!(server.stop());
}
