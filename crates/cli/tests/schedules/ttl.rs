//! Ephemeral environments: a destroy time from the environment's creation plus its
//! `ttl`, kept across a server restart, shown by `status`, extended by `env extend`,
//! warned about before, and a destroy that fails retried with backoff while the
//! environment stays visible as `failed`. Time moves through TERRACE_CLOCK_OFFSET.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const PROJECT: &str = "project: shop\nenvironments:\n  preview:\n    ttl: 1h\n  dev: {}\njobs:\n  app:\n    source: app\n    \
     events: [start, delete]\n    commands:\n      start: \"true\"\n      delete: ./delete.sh\n";

/// A project whose delete fails until the file `allow-delete` exists in the fixture.
fn fixture() -> Fixture {
    let f = Fixture::new(PROJECT);
    let allow = f.dir.path().join("allow-delete");
    let delete = format!(
        "#!/bin/sh\nif [ -e '{}' ]; then echo destroyed; exit 0; fi\necho 'cannot destroy yet' >&2\nexit 3\n",
        allow.display()
    );
    f.write("proj/app/delete.sh", &delete);
    f
}

pub(crate) fn terrace(f: &Fixture, args: &[&str], offset: Option<&str>) -> (i32, String, String) {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(f.project())
        .env("TERRACE_DATA", f.data())
        .env_remove("TERRACE_SERVER")
        .env_remove("TERRACE_CLOCK_OFFSET")
        .stdin(std::process::Stdio::null());
    if let Some(o) = offset {
        c.env("TERRACE_CLOCK_OFFSET", o);
    }
    let out = c.output().expect("run terrace");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn time(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(v.as_str().expect("a time"), &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

#[test]
fn a_server_restarted_before_the_ttl_ends_still_destroys_and_retries_a_failed_destroy() {
    let f = fixture();
    let offset = f.dir.path().join("clock-offset");
    let clock = format!("file:{}", offset.display());
    let env = [("TERRACE_CLOCK_OFFSET", clock.as_str())];
    let operator = f.token("operator", "deployer");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &env);
    let op = server.api(Some(&operator));
    let (status, accepted) =
        op.json("POST", "/projects/shop/environments/preview/events", Some(r#"{"event": "start"}"#));
    assert_eq!(status, 202, "{accepted}");
    let request = op.wait_request(accepted["request_id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(request["state"], "succeeded", "{request}");
    assert_eq!(request["outcome"]["inputs"]["ttl"], "1h");

    let shown = op.ok("GET", "/projects/shop/environments/preview", None);
    let ttl = &shown["ttl"];
    assert_eq!(ttl["ttl"], "1h", "{shown:#}");
    let destroy_at = time(&ttl["destroy_at"]);
    let created = time(&shown["updated_at"]);
    assert!(destroy_at > created && destroy_at <= created + Duration::from_secs(3600), "{ttl}");
    assert!(op.ok("GET", "/projects/shop/environments/dev", None)["ttl"].is_null(), "dev has no ttl");

    // The CLI against the server extends it: one hour more.
    let out = Command::new(bin())
        .args(["--server", &server.url, "env", "extend", "preview", "1h", "--json"])
        .current_dir(f.project())
        .env("TERRACE_TOKEN", &operator)
        .output()
        .expect("env extend");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let extended: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(time(&extended["destroy_at"]), destroy_at + Duration::from_secs(3600));

    // The server stops before the time to live ends; time passes while it is down.
    assert!(server.stop(), "clean stop");
    std::fs::write(&offset, "2h 30m").unwrap();
    let server = Server::start_with_env(&f.project(), &f.data(), &[], &env);
    let op = server.api(Some(&operator));
    // Its destroy fails: the environment stays, `failed`, with the error kept.
    let failed = eventually(Duration::from_secs(60), "the TTL destroy to fail", || {
        let e = op.ok("GET", "/projects/shop/environments/preview", None);
        (e["state"] == "failed" && e["ttl"]["last_error"].is_string()).then_some(e)
    });
    assert_eq!(failed["ttl"]["destroy_attempts"], 1, "{failed:#}");
    assert!(failed["ttl"]["warned_at"].is_string() || failed["ttl"]["warned_at"].is_null());
    let runs = op.ok("GET", "/runs?project=shop&environment=preview", None);
    let delete = &runs["items"][0];
    assert_eq!((delete["event"].as_str(), delete["trigger"].as_str()), (Some("delete"), Some("ttl")), "{delete:#}");
    assert_eq!(delete["inputs"]["command"], "ephemeral");
    assert_eq!(delete["state"], "failed");

    // Fixed, and past the backoff: the next destroy succeeds and the record goes.
    std::fs::write(f.dir.path().join("allow-delete"), "").unwrap();
    std::fs::write(&offset, "2h 33m").unwrap();
    eventually(Duration::from_secs(60), "the retried destroy", || {
        let e = op.ok("GET", "/projects/shop/environments/preview", None);
        (e["state"] == "absent").then_some(())
    });
    let runs = op.ok("GET", "/runs?project=shop&environment=preview", None);
    assert_eq!(runs["items"][0]["state"], "succeeded", "{runs:#}");
    assert_eq!(runs["items"][0]["trigger"], "ttl");
    // dev, without ttl, is untouched.
    assert!(op.ok("GET", "/projects/shop/environments/dev", None)["ttl"].is_null());
}

#[test]
fn local_mode_destroys_on_tick_and_extend_postpones_it() {
    let f = fixture();
    std::fs::write(f.dir.path().join("allow-delete"), "").unwrap();
    let (code, out, err) = terrace(&f, &["up", "preview"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = terrace(&f, &["status", "preview", "--json"], None);
    let status: Value = serde_json::from_str(&out).expect("status JSON");
    assert_eq!(status["ttl"]["ttl"], "1h", "{status:#}");
    let (_, out, _) = terrace(&f, &["status", "preview"], None);
    assert!(out.contains("ttl 1h: destroyed at"), "{out}");

    // Not due yet: nothing runs. Close to the end: a warning.
    let (code, out, err) = terrace(&f, &["tick", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    let ticked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ticked["ran"], serde_json::json!([]), "{ticked}");
    let (_, out, err) = terrace(&f, &["tick", "--json"], Some("57m"));
    let ticked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ticked["warned"][0]["environment"], "preview", "{ticked}\n{err}");
    assert!(err.contains("warning: environment `preview` is destroyed at"), "{err}");

    // Extended by 24h: two hours on, still nothing.
    let (code, out, err) = terrace(&f, &["env", "extend", "preview", "24h"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is now destroyed at"), "{out}");
    let (_, out, _) = terrace(&f, &["tick", "--json"], Some("2h"));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["ran"], serde_json::json!([]));
    // A day later it is destroyed, by `ttl`.
    let (code, out, err) = terrace(&f, &["tick", "--json"], Some("26h"));
    assert_eq!(code, 0, "{out}{err}");
    let ticked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ticked["ran"][0]["environment"], "preview");
    assert_eq!(ticked["ran"][0]["state"], "succeeded", "{ticked}");
    let (_, out, _) = terrace(&f, &["status", "preview", "--json"], None);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["state"], "absent");

    // Usage errors: no ttl, no record, a bad duration.
    let (code, _, err) = terrace(&f, &["up", "dev"], None);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = terrace(&f, &["env", "extend", "dev", "1h"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no `ttl`"), "{err}");
    let (code, _, err) = terrace(&f, &["env", "extend", "preview", "soon"], None);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = terrace(&f, &["tick"], Some("whenever"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TERRACE_CLOCK_OFFSET"), "{err}");
}
