//! The role × endpoint matrix: every endpoint answers 401 without a valid token, 403 to
//! a role below its own, and lets its role (and those above) through. The agent endpoints
//! take pool tokens only: every API token, whatever its role, gets 401 there.

use std::time::Duration;

use crate::support::*;

const ROLES: [&str; 3] = ["viewer", "operator", "admin"];

#[test]
fn every_endpoint_checks_the_role() {
    let f = one_job_project("#!/bin/sh\necho hi\n");
    let tokens: Vec<String> = ROLES.iter().map(|r| f.token(r, &format!("t-{r}"))).collect();
    let mut server = f.start(&[]);
    let admin = server.api(Some(&tokens[2]));
    let done = admin.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    let req = done["request_id"].as_str().unwrap().to_string();
    let finished = admin.wait_request(&req, Duration::from_secs(60));
    let run = finished["run_ids"][0].as_str().unwrap().to_string();
    let project_path = f.project().display().to_string();
    let register = format!(r#"{{"path": "{project_path}"}}"#);
    let missing_token = "01a20000-0000-7000-8000-000000000000";

    // (method, path, body, the lowest role allowed)
    let matrix: Vec<(&str, String, Option<String>, &str)> = vec![
        ("GET", "/projects".into(), None, "viewer"),
        ("POST", "/projects".into(), Some(register), "admin"),
        ("GET", "/projects/shop".into(), None, "viewer"),
        ("GET", "/projects/shop/environments".into(), None, "viewer"),
        ("GET", "/projects/shop/environments/dev".into(), None, "viewer"),
        ("GET", "/projects/shop/environments/dev?reveal=true".into(), None, "admin"),
        ("GET", "/projects/shop/environments/dev/drift".into(), None, "viewer"),
        ("POST", "/projects/shop/environments/dev/clone".into(), Some(r#"{"to": "dev-copy"}"#.into()), "operator"),
        ("DELETE", "/projects/shop/environments/dev".into(), None, "operator"),
        ("POST", "/projects/shop/environments/dev/extend".into(), Some(r#"{"by": "1h"}"#.into()), "operator"),
        ("POST", "/projects/shop/environments/dev/events".into(), Some(r#"{"event": "plan"}"#.into()), "operator"),
        ("GET", "/projects/shop/previews".into(), None, "viewer"),
        ("GET", "/requests".into(), None, "viewer"),
        ("GET", format!("/requests/{req}"), None, "viewer"),
        ("POST", format!("/requests/{req}/cancel"), None, "operator"),
        ("GET", "/runs".into(), None, "viewer"),
        ("GET", format!("/runs/{run}"), None, "viewer"),
        ("POST", format!("/runs/{run}/cancel"), None, "operator"),
        ("GET", format!("/runs/{run}/logs"), None, "viewer"),
        ("GET", "/projects/shop/environments/dev/secrets".into(), None, "viewer"),
        ("PUT", "/projects/shop/environments/dev/secrets/TOKEN".into(), Some(r#"{"value": "x"}"#.into()), "operator"),
        ("DELETE", "/projects/shop/environments/dev/secrets/NOPE".into(), None, "operator"),
        ("GET", "/projects/shop/secrets".into(), None, "viewer"),
        ("PUT", "/projects/shop/secrets/TOKEN".into(), Some(r#"{"value": "x"}"#.into()), "operator"),
        ("DELETE", "/projects/shop/secrets/NOPE".into(), None, "operator"),
        ("GET", "/projects/shop/environments/dev/states/app/versions".into(), None, "viewer"),
        ("GET", "/projects/shop/environments/dev/states/app".into(), None, "viewer"),
        ("GET", "/projects/shop/environments/dev/states/app/raw".into(), None, "admin"),
        ("GET", "/tokens".into(), None, "admin"),
        ("POST", "/tokens".into(), Some(r#"{"name": "made-by-api", "role": "viewer"}"#.into()), "admin"),
        ("DELETE", format!("/tokens/{missing_token}"), None, "admin"),
        ("GET", "/audit".into(), None, "admin"),
        ("GET", "/approvals".into(), None, "viewer"),
        ("GET", format!("/approvals/{missing_token}"), None, "viewer"),
        ("POST", format!("/approvals/{missing_token}/approve"), None, "operator"),
        ("POST", format!("/approvals/{missing_token}/reject"), None, "operator"),
        ("GET", "/deliveries".into(), None, "viewer"),
        ("GET", "/deliveries/github:none".into(), None, "viewer"),
        (
            "POST",
            "/projects/shop/environments/dev/promotions".into(),
            Some(r#"{"artifact": "software", "version": "1.0.0"}"#.into()),
            "operator",
        ),
        ("GET", "/promotions?project=shop".into(), None, "viewer"),
        ("GET", "/pool-tokens".into(), None, "admin"),
        ("POST", "/pool-tokens".into(), Some(r#"{"name": "b1", "pool": "builds"}"#.into()), "admin"),
        ("DELETE", format!("/pool-tokens/{missing_token}"), None, "admin"),
        ("POST", "/agent/pull".into(), Some(r#"{"agent": "a1", "pool": "builds"}"#.into()), "pool"),
        ("POST", format!("/agent/steps/{missing_token}/renew"), Some(r#"{"token": 1}"#.into()), "pool"),
        ("POST", format!("/agent/steps/{missing_token}/logs"), Some(r#"{"token": 1, "batches": []}"#.into()), "pool"),
        ("POST", format!("/agent/steps/{missing_token}/finish"), Some(r#"{"token": 1}"#.into()), "pool"),
        ("PUT", format!("/runs/{missing_token}/attempts/1/output"), Some("{}".into()), "pod"),
    ];
    let anonymous = server.api(None);
    let bogus = server.api(Some("trc_not-a-real-token"));
    for (method, path, body, needed) in &matrix {
        for api in [&anonymous, &bogus] {
            let (status, v) = api.json(method, path, body.as_deref());
            assert_eq!(status, 401, "{method} {path} without a valid token: {v}");
            assert_eq!(v["error"]["code"], "unauthenticated");
        }
        // Agents' endpoints take pool tokens; a pod's output upload, its attempt's token.
        if *needed == "pool" || *needed == "pod" {
            for (rank, token) in tokens.iter().enumerate() {
                let (status, v) = server.api(Some(token)).json(method, path, body.as_deref());
                assert_eq!(
                    status, 401,
                    "{method} {path} as {}: an API token opens no agent or pod endpoint: {v}",
                    ROLES[rank]
                );
            }
            continue;
        }
        let needed_rank = ROLES.iter().position(|r| r == needed).unwrap();
        for (rank, token) in tokens.iter().enumerate() {
            let (status, v) = server.api(Some(token)).json(method, path, body.as_deref());
            if rank < needed_rank {
                assert_eq!(status, 403, "{method} {path} as {}: {v}", ROLES[rank]);
                assert_eq!(v["error"]["code"], "forbidden");
            } else {
                assert!(status != 401 && status != 403, "{method} {path} as {}: {status} {v}", ROLES[rank]);
            }
        }
    }
    // The matrix covers every operation of the OpenAPI document.
    let doc: serde_json::Value =
        client().get(format!("{}/api/v1/openapi.json", server.url)).send().unwrap().json().unwrap();
    let mut operations = 0;
    for (_, item) in doc["paths"].as_object().unwrap() {
        operations += item.as_object().unwrap().len();
    }
    let distinct: std::collections::BTreeSet<(String, String)> =
        matrix.iter().map(|(m, p, _, _)| (m.to_string(), p.split('?').next().unwrap().to_string())).collect();
    assert_eq!(distinct.len(), operations, "one row per operation of the API");
    assert!(server.stop());
}

/// A token revoked on this server stops working at once, though the server keeps
/// tokens it has just seen for a second (docs/server.md).
#[test]
fn a_revoked_token_stops_working_at_once() {
    let f = one_job_project("#!/bin/sh\necho hi\n");
    let admin_token = f.token("admin", "root");
    let mut server = f.start(&[]);
    let admin = server.api(Some(&admin_token));
    let made = admin.ok("POST", "/tokens", Some(r#"{"name": "ci", "role": "viewer"}"#));
    let (secret, id) = (made["token"].as_str().unwrap(), made["id"].as_str().unwrap());
    let viewer = server.api(Some(secret));
    // Used twice: the second answer may come from the server's memory of the first.
    assert_eq!(viewer.json("GET", "/projects", None).0, 200);
    assert_eq!(viewer.json("GET", "/projects", None).0, 200);
    let (status, v) = admin.json("DELETE", &format!("/tokens/{id}"), None);
    assert!((200..300).contains(&status), "{status} {v}");
    let (status, v) = viewer.json("GET", "/projects", None);
    assert_eq!(status, 401, "{v}");
    assert_eq!(admin.json("GET", "/projects", None).0, 200, "other tokens still work");
    assert!(server.stop());
}
