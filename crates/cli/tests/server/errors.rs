//! Error shapes: every failure is `{"error": {"code", "message", "field"?}}` with the
//! right status, for bad JSON, wrong types, unknown names, huge or odd ids, oversized
//! bodies; and an event for an environment being deleted is refused with 409.

use std::time::Duration;

use crate::support::*;

/// method, path, body, expected status, expected code, expected field.
type Case<'a> = (&'a str, String, Option<String>, u16, &'a str, Option<&'a str>);

#[test]
fn bad_input_gets_the_right_status_and_names_the_field() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let token = f.token("admin", "root");
    // Hundreds of requests in a row: the per-client rate limit (tested in limits.rs) is off
    // here, or a fast machine gets 429 where this test checks the answer to bad input.
    let mut server = f.start(&["--rate-limit", "0"]);
    let api = server.api(Some(&token));
    let events = "/projects/shop/environments/dev/events";
    let huge = "9".repeat(10_000);
    let cases: Vec<Case> = vec![
        ("POST", events.into(), Some("{not json".into()), 400, "bad_request", Some("body")),
        ("POST", events.into(), Some(r#"{"event": 5}"#.into()), 400, "bad_request", Some("event")),
        ("POST", events.into(), Some(r#"{"event": "start", "args": [1]}"#.into()), 400, "bad_request", Some("args[0]")),
        ("POST", events.into(), Some(r#"{"event": "explode"}"#.into()), 400, "bad_request", Some("event")),
        ("POST", events.into(), Some(r#"{"event": "start", "extra": 1}"#.into()), 400, "bad_request", None),
        ("POST", events.into(), Some(r#"{"event": "start", "job": "nope"}"#.into()), 422, "unprocessable", Some("job")),
        ("POST", events.into(), Some(r#"{"event": "raw"}"#.into()), 422, "unprocessable", Some("job")),
        ("POST", events.into(), Some("[]".into()), 400, "bad_request", Some("body")),
        ("POST", events.into(), Some("{}".into()), 400, "bad_request", None),
        ("POST", events.into(), Some("".into()), 400, "bad_request", Some("body")),
        (
            "POST",
            "/projects/shop/environments/nope/events".into(),
            Some(r#"{"event": "start"}"#.into()),
            404,
            "not_found",
            None,
        ),
        (
            "POST",
            "/projects/nope/environments/dev/events".into(),
            Some(r#"{"event": "start"}"#.into()),
            404,
            "not_found",
            None,
        ),
        ("GET", "/projects/shop/environments/%E2%9C%93%F0%9F%9A%80".into(), None, 404, "not_found", None),
        ("GET", format!("/runs/{huge}"), None, 400, "bad_request", Some("id")),
        ("GET", "/runs/01a2".into(), None, 404, "not_found", None),
        ("GET", "/runs/dev%2399".into(), None, 404, "not_found", None),
        ("GET", "/runs/dev%23x".into(), None, 400, "bad_request", Some("id")),
        ("GET", "/runs/zz%00".into(), None, 400, "bad_request", Some("id")),
        ("GET", format!("/requests/{huge}"), None, 400, "bad_request", Some("id")),
        ("GET", "/runs?limit=abc".into(), None, 400, "bad_request", Some("limit")),
        ("GET", "/runs?limit=0".into(), None, 400, "bad_request", Some("limit")),
        ("GET", "/runs?state=weird".into(), None, 400, "bad_request", Some("state")),
        ("GET", "/runs?limit=1001".into(), None, 400, "bad_request", Some("limit")),
        ("GET", "/runs?before=abc".into(), None, 400, "bad_request", Some("before")),
        ("GET", "/runs?before=1.2".into(), None, 400, "bad_request", Some("before")),
        (
            "GET",
            "/runs?before=99999999999999999999.0190a0b0-0000-7000-8000-000000000000".into(),
            None,
            400,
            "bad_request",
            Some("before"),
        ),
        ("GET", "/projects/shop/environments?limit=-1".into(), None, 400, "bad_request", Some("limit")),
        ("GET", "/projects/shop/environments?limit=0".into(), None, 400, "bad_request", Some("limit")),
        ("GET", "/projects/shop/environments?limit=5000".into(), None, 400, "bad_request", Some("limit")),
        ("GET", "/projects/shop/environments?after=a%00b".into(), None, 400, "bad_request", Some("after")),
        (
            "PUT",
            "/projects/shop/environments/dev/secrets/1BAD".into(),
            Some(r#"{"value": "x"}"#.into()),
            400,
            "bad_request",
            Some("name"),
        ),
        (
            "PUT",
            "/projects/shop/environments/dev/secrets/OK".into(),
            Some(r#"{"value": null}"#.into()),
            400,
            "bad_request",
            Some("value"),
        ),
        ("POST", "/tokens".into(), Some(r#"{"name": "x", "role": "god"}"#.into()), 400, "bad_request", Some("role")),
        ("POST", "/tokens".into(), Some(r#"{"name": "root", "role": "viewer"}"#.into()), 409, "conflict", None),
        ("POST", "/projects".into(), Some(r#"{"path": "relative/path"}"#.into()), 400, "bad_request", Some("path")),
        ("POST", "/projects".into(), Some(r#"{"path": "/does/not/exist"}"#.into()), 422, "unprocessable", Some("path")),
        ("GET", "/no/such/route".into(), None, 404, "not_found", None),
        ("GET", events.into(), None, 405, "method_not_allowed", None),
    ];
    for (method, path, body, status, code, field) in &cases {
        let (got, v) = api.json(method, path, body.as_deref());
        assert_eq!(got, *status, "{method} {path} {body:?}: {v}");
        assert_eq!(v["error"]["code"], *code, "{method} {path}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        if let Some(field) = field {
            assert_eq!(v["error"]["field"], *field, "{method} {path} {body:?}: {v}");
        }
    }
    // No serde wording reaches a client: which key, what was expected, in Terrace's words.
    for (method, path, body, expected) in [
        ("POST", events, Some("[1]"), "the body must be a JSON object, found an array"),
        ("POST", events, Some("{}"), "the body lacks the required key `event`"),
        ("PUT", "/projects/shop/environments/dev/secrets/OK", Some("{}"), "the body lacks the required key `value`"),
        ("GET", "/runs?limit=abc", None, "query parameter `limit`: expected a whole number (0 or more, plain digits)"),
    ] {
        let (_, v) = api.json(method, path, body);
        assert_eq!(v["error"]["message"], expected, "{method} {path} {body:?}");
    }
    // A secret that is not a string is refused without being repeated; the message says
    // which key and what was expected, in Terrace's words (no Rust type names).
    for body in [r#"{"value": 987654321}"#, r#"{"value": ["s3cr3t-in-array"]}"#, r#"{"value": {"k": "s3cr3t-obj"}}"#] {
        let (got, v) = api.json("PUT", "/projects/shop/environments/dev/secrets/OK", Some(body));
        assert_eq!(got, 400, "{v}");
        assert_eq!(v["error"]["field"], "value", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("field `value`: expected a string, found "), "{message}");
        assert!(!["987654321", "s3cr3t"].iter().any(|s| message.contains(s)), "{message}");
    }
    let (_, v) = api.json("POST", events, Some("[]"));
    assert!(!v["error"]["message"].as_str().unwrap().contains("struct"), "{v}");
    // A body over 1 MiB is refused with 413 before it is parsed, and the connection is
    // closed (`Connection: close`), since the rest of the body was never read. Spoken over
    // a raw socket: an HTTP client still sending the body when the answer comes may or
    // may not see it, depending on how fast each side runs.
    let announced = format!(
        "POST /api/v1{events} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{{\"event\": ",
        2 * 1024 * 1024
    );
    let chunked = format!(
        "POST /api/v1{events} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: \
         application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n",
        1024 * 1024 + 1,
        "a".repeat(1024 * 1024 + 1)
    );
    for request in [announced, chunked] {
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        std::io::Write::write_all(&mut s, request.as_bytes()).unwrap();
        let answer = read_answer(&mut s);
        assert_eq!(answer.status, 413, "{}", answer.body);
        assert!(answer.body.contains("payload_too_large"), "{}", answer.body);
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(closed_by_server(&mut s));
    }
    // Odd input never makes the server fail: always a JSON error below 500.
    let bodies = [
        "",
        "null",
        "{}",
        "\u{0}",
        "{\"event\": {}}",
        "{\"event\": \"start\", \"args\": \"x\"}",
        "💥",
        "[[[[[[[[",
        "1e999",
    ];
    let paths = [
        "/projects/%FF%FE/environments/dev/events",
        "/projects/shop/environments/🚀/events",
        "/projects/shop/environments/dev%2F..%2F..%2Fetc/events",
        "/projects/shop/environments/dev/events?x=%ZZ",
        "/projects/shop/environments/dev/secrets/%00",
    ];
    for path in paths {
        for body in bodies {
            for method in ["POST", "PUT", "GET", "DELETE"] {
                let (got, v) = api.json(method, path, Some(body));
                assert!((400..500).contains(&got), "{method} {path} {body:?}: {got} {v}");
                assert!(v["error"]["code"].is_string(), "{method} {path} {body:?}: {v}");
            }
        }
    }
    // The server survived all of it.
    assert_eq!(api.json("GET", "/projects", None).0, 200);
    assert!(server.stop());
}

#[test]
fn events_wait_in_order_and_an_environment_being_deleted_refuses_new_ones() {
    let f = one_job_project("#!/bin/sh\nsleep 1\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let api = server.api(Some(&token));
    let events = "/projects/shop/environments/dev/events";
    let first = api.ok("POST", events, Some(r#"{"event": "start"}"#))["request_id"].as_str().unwrap().to_string();
    let delete = api.ok("POST", events, Some(r#"{"event": "delete"}"#))["request_id"].as_str().unwrap().to_string();
    let (status, v) = api.json("POST", events, Some(r#"{"event": "start"}"#));
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    let first = api.wait_request(&first, Duration::from_secs(60));
    let delete = api.wait_request(&delete, Duration::from_secs(60));
    assert_eq!(first["state"], "succeeded", "{first}");
    assert_eq!(delete["state"], "succeeded", "{delete}");
    let at = |v: &serde_json::Value| {
        time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert!(at(&delete["started_at"]) >= at(&first["finished_at"]), "the delete waited for the start");
    // Once deleted, events are accepted again.
    assert_eq!(api.json("POST", events, Some(r#"{"event": "start"}"#)).0, 202);
    assert!(server.stop());
}

#[test]
fn a_request_waits_while_a_local_terrace_holds_the_environment() {
    let f = one_job_project("#!/bin/sh\necho run by $TERRACE_RUN_ID\nsleep 3\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let api = server.api(Some(&token));
    let mut local = std::process::Command::new(bin())
        .args(["up", "dev", "--quiet", "--project"])
        .arg(f.project())
        .arg("--data")
        .arg(f.data())
        .env_remove("TERRACE_SERVER")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(30), "the local run to start", || {
        let runs = api.ok("GET", "/runs?state=running", None);
        (runs["items"].as_array().unwrap().len() == 1).then_some(())
    });
    let id = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(700));
    let waiting = api.ok("GET", &format!("/requests/{id}"), None);
    assert_eq!(waiting["run_ids"].as_array().unwrap().len(), 0, "waits for the local run: {waiting}");
    assert!(local.wait().unwrap().success());
    let request = api.wait_request(&id, Duration::from_secs(60));
    assert_eq!(request["state"], "succeeded", "{request}");
    assert!(server.stop());
}
