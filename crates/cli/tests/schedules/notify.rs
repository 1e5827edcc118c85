//! Notifications: a generic webhook gets the JSON body signed with HMAC-SHA256 of the
//! exact bytes (`X-Terrace-Signature: sha256=<hex>`), Slack gets `{"text"}`; URLs and keys
//! come from `${secret:NAME}` and never reach a log; an endpoint that fails is retried
//! after its backoff and gets the message once; nothing fails the run. A local listener
//! on 127.0.0.1 stands in for Slack and the webhook.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::listener::{Call, Listener};
use crate::support::*;
use crate::ttl::terrace;

const HOOK_KEY: &str = "k3y-for-signing-77";
const SLACK_PATH: &str = "/services/T0001/B0002/slacktoken4242";

fn project(listener: &Listener, extra_env: &str) -> Fixture {
    let f = Fixture::new(&format!(
        "project: shop\nenvironments:\n  dev: {{}}\n{extra_env}jobs:\n  app:\n    source: app\n    \
         events: [start, delete]\n    commands:\n      start: ./start.sh\n      delete: \"true\"\n\
         notifications:\n  hook:\n    webhook: {}/hook\n    secret: ${{secret:HOOK_KEY}}\n    \
         on: [run_failed, applied, ttl_warning, ttl_destroy]\n  chat:\n    slack: ${{secret:SLACK_URL}}\n    \
         on: [run_failed]\n",
        listener.url
    ));
    let flag = f.dir.path().join("fail");
    f.write(
        "proj/app/start.sh",
        &format!("#!/bin/sh\nif [ -e '{}' ]; then echo 'broken on purpose' >&2; exit 4; fi\necho up\n", flag.display()),
    );
    f
}

#[track_caller]
fn signed_json(call: &Call) -> Value {
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_KEY.as_bytes()).unwrap();
    mac.update(&call.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(call.headers.get("x-terrace-signature"), Some(&expected), "signature of {call:?}");
    assert_eq!(call.headers.get("content-type").map(String::as_str), Some("application/json"));
    serde_json::from_slice(&call.body).expect("a JSON body")
}

#[test]
fn a_server_signs_webhooks_retries_a_failing_endpoint_and_never_logs_secrets() {
    let listener = Listener::start();
    let f = project(&listener, "");
    let offset = f.dir.path().join("clock-offset");
    let clock = format!("file:{}", offset.display());
    let operator = f.token("operator", "deployer");
    let server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_CLOCK_OFFSET", clock.as_str())]);
    let op = server.api(Some(&operator));
    let slack_url = format!("{}{SLACK_PATH}", listener.url);
    for (name, value) in [("HOOK_KEY", HOOK_KEY), ("SLACK_URL", slack_url.as_str())] {
        let body = serde_json::json!({"value": value}).to_string();
        op.ok("PUT", &format!("/projects/shop/environments/dev/secrets/{name}"), Some(&body));
    }
    // The webhook fails its first delivery.
    listener.answer("/hook", &[500]);
    let start = |op: &Api| {
        let (status, accepted) =
            op.json("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
        assert_eq!(status, 202, "{accepted}");
        op.wait_request(accepted["request_id"].as_str().unwrap(), Duration::from_secs(60))
    };
    assert_eq!(start(&op)["state"], "succeeded", "a failing endpoint fails no run");
    let first = eventually(Duration::from_secs(60), "the first delivery", || {
        let calls = listener.calls("/hook");
        (!calls.is_empty()).then_some(calls)
    });
    assert_eq!(first[0].status, 500);
    // Past the backoff, the same message again, delivered once.
    std::fs::write(&offset, "2m").unwrap();
    let calls = eventually(Duration::from_secs(60), "the retried delivery", || {
        let calls = listener.calls("/hook");
        (calls.len() >= 2).then_some(calls)
    });
    assert_eq!((calls[0].status, calls[1].status), (500, 200));
    assert_eq!(calls[0].body, calls[1].body, "the same message");
    let applied = signed_json(&calls[1]);
    assert_eq!(
        (applied["kind"].as_str(), applied["environment"].as_str()),
        (Some("applied"), Some("dev")),
        "{applied:#}"
    );
    assert_eq!(applied["project"], "shop");
    assert!(listener.calls(SLACK_PATH).is_empty(), "chat wants run_failed only");

    // A failed start: both endpoints hear of it, Slack as text.
    std::fs::write(f.dir.path().join("fail"), "").unwrap();
    assert_eq!(start(&op)["state"], "failed");
    let slack = eventually(Duration::from_secs(60), "the Slack message", || {
        let calls = listener.calls(SLACK_PATH);
        (!calls.is_empty()).then_some(calls)
    });
    let text: Value = serde_json::from_slice(&slack[0].body).unwrap();
    assert_eq!(text.as_object().map(|o| o.len()), Some(1), "Slack gets {{text}} only: {text}");
    assert!(text["text"].as_str().unwrap().contains("failed at job `app`"), "{text}");
    assert!(!slack[0].headers.contains_key("x-terrace-signature"), "Slack is not signed");
    let failed = eventually(Duration::from_secs(60), "the run_failed webhook", || {
        listener.calls("/hook").iter().map(signed_json).find(|b| b["kind"] == "run_failed")
    });
    assert!(
        failed["text"].as_str().unwrap().contains("broken on purpose") || failed["detail"]["runs"].is_array(),
        "{failed:#}"
    );
    assert_eq!(listener.calls("/hook").len(), 3, "each message once");

    // Secrets stay secret: not in the server's log.
    let log = server.log();
    for secret in ["slacktoken4242", HOOK_KEY] {
        assert!(!log.contains(secret), "{secret} in the server log");
    }
}

#[test]
fn local_ticks_deliver_ttl_warnings_and_destroys() {
    let listener = Listener::start();
    let f = project(&listener, "  preview:\n    ttl: 1h\n");
    let slack_url = format!("{}{SLACK_PATH}", listener.url);
    for (name, value) in [("HOOK_KEY", HOOK_KEY), ("SLACK_URL", slack_url.as_str())] {
        let out = std::process::Command::new(bin())
            .args(["secret", "set", name, "--env", "preview"])
            .current_dir(f.project())
            .env("TERRACE_DATA", f.data())
            .env_remove("TERRACE_SERVER")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(value.as_bytes())?;
                c.wait_with_output()
            })
            .expect("secret set");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (code, out, err) = terrace(&f, &["up", "preview"], None);
    assert_eq!(code, 0, "{out}{err}");
    // The apply was queued; the tick delivers it, then the warning, then the destroy.
    let (code, out, err) = terrace(&f, &["tick", "--json"], Some("57m"));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = terrace(&f, &["tick", "--json"], Some("2h"));
    assert_eq!(code, 0, "{out}{err}");
    let kinds: Vec<String> =
        listener.calls("/hook").iter().map(|c| signed_json(c)["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["applied", "ttl_warning", "ttl_destroy"], "{out}{err}");
    let ticked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ticked["notifications"][0]["state"], "delivered", "{ticked:#}");
    assert!(!out.contains("slacktoken4242") && !err.contains(HOOK_KEY));
}
