//! The server's own environment stays its own: `${env:NAME}` and `passthrough` reach only
//! the names `--allow-env` lists, never TERRACE_MASTER_KEY, and nothing of it leaks into
//! a log; `${secret:NAME}` reads the store's secrets through the server and in local mode
//! on the same store, and a missing one fails clearly.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

const KEY: &str = "7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a";

const LEAKY: &str = r#"project: shop
environments: {dev: {}}
variables:
  K: ${env:TERRACE_MASTER_KEY}
jobs:
  app:
    source: app
    events: [start]
    commands: {start: 'echo "k=$K"'}
"#;

const ALLOWED: &str = r#"project: shop
environments: {dev: {}}
jobs:
  dump:
    source: app
    events: [start]
    passthrough: [TERRACE_MASTER_KEY, ALLOWED_X, OTHER_Y]
    commands: {start: 'env; echo "x=$X p=$P p-length=${#P}"'}
    variables:
      X: ${env:ALLOWED_X}
      P: ${secret:PW}
  missing:
    source: app
    events: [start]
    commands: {start: 'true'}
    variables: {M: "${secret:NOPE}"}
"#;

fn job<'a>(request: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    request["outcome"]["jobs"].as_array().unwrap().iter().find(|j| j["job"] == name).unwrap()
}

const ENV: [(&str, &str); 3] = [("TERRACE_MASTER_KEY", KEY), ("ALLOWED_X", "x-value"), ("OTHER_Y", "y-not-for-jobs")];

#[test]
fn the_servers_master_key_never_reaches_a_job() {
    let f = Fixture::new(LEAKY);
    f.write("proj/app/.keep", "");
    let token = f.token_with_env("operator", "op", &ENV);
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &ENV);
    let op = server.api(Some(&token));
    // Refused by name, clearly, and the key appears nowhere.
    let accepted = op.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    let request = op.wait_request(accepted["request_id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(request["state"], "failed", "{request}");
    let reason = job(&request, "app")["reason"].as_str().unwrap().to_string();
    assert!(
        reason.starts_with("variable `K` of the project: `${env:TERRACE_MASTER_KEY}`: this server does not pass its environment to jobs: `TERRACE_MASTER_KEY` is not in its `allow_env` setting"),
        "{reason}"
    );
    let run = job(&request, "app")["run_id"].as_str().unwrap().to_string();
    let log = op.ok("GET", &format!("/runs/{run}/logs?offset=0"), None).to_string();
    for text in [&request.to_string(), &log, &server.log()] {
        assert!(!text.contains(KEY), "the master key leaked:\n{text}");
    }
    assert!(server.stop());
}

#[test]
fn jobs_read_only_allowed_variables_and_the_stores_secrets_in_both_modes() {
    let f = Fixture::new(ALLOWED);
    f.write("proj/app/.keep", "");
    let token = f.token_with_env("operator", "op", &ENV);
    let mut server = Server::start_with_env(&f.project(), &f.data(), &["--allow-env", "ALLOWED_X"], &ENV);
    let op = server.api(Some(&token));
    op.ok("PUT", "/projects/shop/environments/dev/secrets/PW", Some(r#"{"value": "pw-from-the-store-9"}"#));
    // An allowed name is read; passthrough is held to the same list; secrets come from the store.
    let accepted = op.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    let request = op.wait_request(accepted["request_id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(job(&request, "dump")["state"], "succeeded", "{request}");
    let run = job(&request, "dump")["run_id"].as_str().unwrap().to_string();
    let log = op.ok("GET", &format!("/runs/{run}/logs?offset=0"), None).to_string();
    assert!(log.contains("x=x-value p=*** p-length=19") && log.contains("ALLOWED_X=x-value"), "{log}");
    for name in ["TERRACE_MASTER_KEY", "OTHER_Y"] {
        assert!(log.contains(&format!("passthrough `{name}` is not inherited")), "{log}");
    }
    for leaked in [KEY, "y-not-for-jobs", "pw-from-the-store-9"] {
        assert!(!log.contains(leaked), "{leaked} in the log:\n{log}");
    }
    assert_eq!(
        job(&request, "missing")["reason"],
        "variable `M` of job `missing`: `${secret:NOPE}`: secret `NOPE` is not set for environment `dev`: set it with `terrace secret set NOPE --env dev` (or `terrace secret set NOPE` for every environment)"
    );
    assert!(server.stop());

    // Local mode on the same store reads the same secret.
    let out = Command::new(bin())
        .args(["up", "dev", "--json", "--project"])
        .arg(f.project())
        .arg("--data")
        .arg(f.data())
        .env("TERRACE_MASTER_KEY", KEY)
        .env("ALLOWED_X", "x-local")
        .env_remove("TERRACE_SERVER")
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dump = outcome["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "dump").unwrap();
    assert_eq!(dump["state"], "succeeded", "{outcome}");
    let logs = Command::new(bin())
        .args(["logs", dump["run_id"].as_str().unwrap(), "--project"])
        .arg(f.project())
        .arg("--data")
        .arg(f.data())
        .env("TERRACE_MASTER_KEY", KEY)
        .env_remove("TERRACE_SERVER")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&logs.stdout);
    assert!(log.contains("x=x-local p=*** p-length=19"), "{log}");
}
