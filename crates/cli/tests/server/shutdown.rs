//! Stopping: SIGTERM lets a running request finish within the grace period; past it the
//! request is stopped and put back in the queue, and the next server runs it. Cancel
//! stops a running request's jobs.

use std::time::Duration;

use crate::support::*;

const MARKED: &str = "#!/bin/sh\nif [ -e \"$MARKER\" ]; then echo retried; exit 0; fi\n\
touch \"$MARKER\"\necho first attempt; sleep 60\n";

fn marked_project() -> (Fixture, std::path::PathBuf) {
    let f = one_job_project(MARKED);
    let marker = f.dir.path().join("marker");
    let yaml = format!(
        "project: shop\nvariables:\n  MARKER: {}\nenvironments:\n  dev: {{}}\njobs:\n  app:\n    source: app\n    \
         events: [start]\n    commands:\n      start: ./start.sh\n",
        marker.display()
    );
    f.write("proj/terrace.yaml", &yaml);
    (f, marker)
}

fn submit_and_wait_running(api: &Api) -> (String, String) {
    let id = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = eventually(Duration::from_secs(30), "the job to be running", || {
        let r = api.ok("GET", &format!("/requests/{id}"), None);
        let run = r["run_ids"][0].as_str()?.to_string();
        (api.ok("GET", &format!("/runs/{run}"), None)["state"] == "running").then_some(run)
    });
    (id, run)
}

#[test]
fn sigterm_lets_a_running_request_finish_within_the_grace_period() {
    let f = one_job_project("#!/bin/sh\necho working\nsleep 2\necho done\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&["--shutdown-grace", "30s"]);
    let (id, _) = submit_and_wait_running(&server.api(Some(&token)));
    assert!(server.stop(), "clean exit:\n{}", server.log());
    let mut again = f.start(&[]);
    let request = again.api(Some(&token)).ok("GET", &format!("/requests/{id}"), None);
    assert_eq!(request["state"], "succeeded", "finished before the server stopped: {request}");
    assert!(again.stop());
}

#[test]
fn past_the_grace_period_a_request_goes_back_to_the_queue_for_the_next_server() {
    let (f, _) = marked_project();
    let token = f.token("operator", "op");
    let mut server = f.start(&["--shutdown-grace", "1s", "--kill-grace", "1s"]);
    let (id, first_run) = submit_and_wait_running(&server.api(Some(&token)));
    assert!(server.stop(), "clean exit:\n{}", server.log());
    let mut again = f.start(&[]);
    let api = again.api(Some(&token));
    let request = api.wait_request(&id, Duration::from_secs(60));
    assert_eq!(request["state"], "succeeded", "{request}");
    assert_eq!(request["attempts"], 1, "a release does not use an attempt: {request}");
    assert_eq!(api.ok("GET", &format!("/runs/{first_run}"), None)["state"], "cancelled");
    assert!(again.stop());
}

#[test]
fn cancelling_a_run_stops_its_request() {
    let (f, _) = marked_project();
    let token = f.token("operator", "op");
    let mut server = f.start(&["--kill-grace", "1s"]);
    let api = server.api(Some(&token));
    let (id, run) = submit_and_wait_running(&api);
    let (status, v) = api.json("POST", &format!("/runs/{run}/cancel"), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["cancel_requested"], true);
    let request = api.wait_request(&id, Duration::from_secs(30));
    assert_eq!(request["state"], "cancelled", "{request}");
    assert_eq!(api.ok("GET", &format!("/runs/{run}"), None)["state"], "cancelled");
    let (status, v) = api.json("POST", &format!("/requests/{id}/cancel"), None);
    assert_eq!(status, 409, "already ended: {v}");
    assert!(server.stop());
}
