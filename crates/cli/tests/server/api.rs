//! Events end to end: 202, then the run succeeds; secrets injected and masked; outputs
//! masked, revealed by an admin only, and every reveal audited; logs followed as SSE;
//! secrets not in clear in the database file; graceful stop on SIGTERM.

use std::io::Read;
use std::time::Duration;

use crate::support::*;

const START: &str = "#!/bin/sh\necho \"using $DB_PASSWORD\"\nfor i in 1 2 3 4 5; do echo \"line $i\"; sleep 0.3; done\n\
printf '{\"URL\": {\"value\": \"http://shop\", \"sensitive\": false}, \"KEY\": {\"value\": \"out-secret-42\"}}' > \"$TERRACE_OUTPUT_FILE\"\n";

#[test]
fn an_event_is_accepted_then_runs_with_its_secrets_and_its_outputs_are_masked() {
    let f = one_job_project(START);
    // API secrets reach a job through `${secret:NAME}`, as in local mode.
    let yaml = std::fs::read_to_string(f.project().join("terrace.yaml"))
        .unwrap()
        .replace("project: shop\n", "project: shop\nvariables:\n  DB_PASSWORD: ${secret:DB_PASSWORD}\n");
    f.write("proj/terrace.yaml", &yaml);
    let admin = f.token("admin", "root");
    let operator = f.token("operator", "deployer");
    let mut server = f.start(&[]);
    let op = server.api(Some(&operator));
    let root = server.api(Some(&admin));

    let (status, _) =
        op.json("PUT", "/projects/shop/environments/dev/secrets/DB_PASSWORD", Some(r#"{"value": "pw-s3cr3t-value"}"#));
    assert_eq!(status, 204);
    let (status, accepted) = op.json("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["request_id"].as_str().expect("request_id").to_string();

    // Follow the log live while it runs (SSE), from the first line.
    let run_id = eventually(Duration::from_secs(30), "the run to start", || {
        let r = op.ok("GET", &format!("/requests/{id}"), None);
        r["run_ids"].as_array().and_then(|a| a.first()).and_then(|v| v.as_str()).map(str::to_string)
    });
    let mut sse = String::new();
    op.http
        .get(format!("{}/runs/{run_id}/logs?follow=true&offset=0", op.base))
        .bearer_auth(&operator)
        .send()
        .expect("follow")
        .read_to_string(&mut sse)
        .expect("read stream");
    let positions: Vec<usize> = (1..=5).map(|i| sse.find(&format!("line {i}")).expect("every line streamed")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "lines in order:\n{sse}");
    assert!(sse.contains("event: end") && sse.contains("succeeded"), "ends with the final state:\n{sse}");
    assert!(sse.contains("using ***") && !sse.contains("pw-s3cr3t-value"), "secret masked in the log:\n{sse}");

    let request = op.wait_request(&id, Duration::from_secs(60));
    assert_eq!(request["state"], "succeeded", "{request}");
    assert_eq!(request["outcome"]["environment_state"], "running");

    // Resuming from an offset gives only the lines after it.
    let page = op.ok("GET", &format!("/runs/{run_id}/logs?offset=3"), None);
    assert_eq!(page["lines"][0]["offset"], 3);

    let env = op.ok("GET", "/projects/shop/environments/dev", None);
    assert_eq!(env["state"], "running");
    let key = env["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "KEY").expect("KEY output").clone();
    assert_eq!(key["value"], "***");
    let url = env["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "URL").expect("URL output").clone();
    assert_eq!(url["value"], "http://shop");
    assert!(!env.to_string().contains("pw-s3cr3t-value"));

    let (status, denied) = op.json("GET", "/projects/shop/environments/dev?reveal=true", None);
    assert_eq!(status, 403, "{denied}");
    let revealed = root.ok("GET", "/projects/shop/environments/dev?reveal=true", None);
    assert!(revealed.to_string().contains("out-secret-42"));
    let audit = root.ok("GET", "/audit", None);
    let reveal = audit.as_array().unwrap().iter().find(|a| a["action"] == "outputs.reveal").expect("reveal audited");
    assert_eq!(reveal["actor"], "api:root");
    assert!(reveal["detail"].as_str().unwrap().contains("app.KEY"));

    // Metrics reflect what ran.
    let metrics = client().get(format!("{}/metrics", server.url)).send().unwrap().text().unwrap();
    assert!(metrics.contains("terrace_runs{state=\"succeeded\"} 1"), "{metrics}");
    assert!(metrics.contains("terrace_queue_depth 0"));
    assert!(metrics.contains("terrace_request_duration_seconds_count{event=\"start\",state=\"succeeded\"} 1"));
    assert!(metrics.contains("terrace_http_request_duration_seconds_count"));

    assert!(server.stop(), "SIGTERM stops the server cleanly:\n{}", server.log());

    // At rest: neither the API secret nor the sensitive output is in clear in any file of the store.
    for entry in std::fs::read_dir(f.data()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("terrace.db") {
            let bytes = std::fs::read(&path).unwrap();
            for needle in [&b"pw-s3cr3t-value"[..], b"out-secret-42"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds a secret in clear",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn health_readiness_and_the_openapi_document_need_no_token() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let mut server = f.start(&[]);
    let http = client();
    assert_eq!(http.get(format!("{}/healthz", server.url)).send().unwrap().status(), 200);
    let ready: serde_json::Value = http.get(format!("{}/readyz", server.url)).send().unwrap().json().unwrap();
    assert_eq!(ready["status"], "ready");
    let doc: serde_json::Value =
        http.get(format!("{}/api/v1/openapi.json", server.url)).send().unwrap().json().unwrap();
    assert!(doc["paths"]["/api/v1/projects/{project}/environments/{environment}/events"]["post"].is_object());
    assert!(server.stop());
}

/// `terrace_project_parses_total` from `/metrics`.
fn parses(server: &Server) -> u64 {
    let text = client().get(format!("{}/metrics", server.url)).send().unwrap().text().unwrap();
    let line = text.lines().find(|l| l.starts_with("terrace_project_parses_total ")).expect("the parse counter");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_project_is_parsed_again_only_when_its_file_changes() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let file = f.project().join("terrace.yaml");
    // Older than the two seconds within which a file is always read again.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    let age =
        |file: &std::path::Path| std::fs::File::options().write(true).open(file).unwrap().set_modified(old).unwrap();
    age(&file);
    let token = f.token("viewer", "v");
    let mut server = f.start(&[]);
    let api = server.api(Some(&token));
    let registered = parses(&server);
    for _ in 0..5 {
        assert_eq!(api.ok("GET", "/projects", None)[0]["name"], "shop");
        api.ok("GET", "/projects/shop", None);
    }
    assert_eq!(parses(&server), registered, "read once when registered, then kept");
    let text = std::fs::read_to_string(&file).unwrap().replace("dev: {}", "dev: {}\n  qa: {}");
    std::fs::write(&file, text).unwrap();
    age(&file);
    assert_eq!(api.ok("GET", "/projects/shop", None)["environments"], serde_json::json!(["dev", "qa"]));
    assert_eq!(api.ok("GET", "/projects", None)[0]["environments"], serde_json::json!(["dev", "qa"]));
    assert_eq!(parses(&server), registered + 1, "read again once it changed");
    assert!(server.stop());
}

#[test]
fn the_root_says_where_things_are_and_the_log_has_no_colour_codes() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let mut server = f.start(&[]);
    let root: serde_json::Value = client().get(format!("{}/", server.url)).send().unwrap().json().unwrap();
    assert_eq!(root["api"], "/api/v1", "{root}");
    assert_eq!(root["links"]["openapi"], "/api/v1/openapi.json", "{root}");
    assert_eq!(root["links"]["health"], "/healthz", "{root}");
    assert!(root["version"].is_string(), "{root}");
    for link in ["openapi", "health", "ready", "metrics"] {
        let path = root["links"][link].as_str().unwrap();
        assert_eq!(client().get(format!("{}{path}", server.url)).send().unwrap().status(), 200, "{path}");
    }
    assert!(server.stop());
    // The server's stderr is a file here, not a terminal: plain text (it logs at info).
    let log = server.log();
    assert!(log.contains("project registered"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file:\n{log}");
}
