//! Local mode and client mode answer alike: the same commands on two copies of one project,
//! one with its own `.terrace/`, one through a `terrace server`, print the same JSON shapes
//! (keys and types; values where they are deterministic), the same text, and the same
//! errors with the same exit statuses.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const YAML: &str = "project: shop\nenvironments:\n  dev: {}\n  prod:\n    approval: required\njobs:\n  app:\n    \
                    source: app\n    events: [start, stop, delete]\n    commands:\n      start: ./start.sh\n      \
                    stop: \"true\"\n      delete: \"true\"\n";

const START: &str = "#!/bin/sh\necho hello\nprintf '{\"HOST\": {\"value\": \"db.internal\", \"sensitive\": false}, \
                     \"PW\": {\"value\": \"s3cr3t\", \"sensitive\": true}}' > \"$TERRACE_OUTPUT_FILE\"\n";

/// One project twice: `local` runs with its own data folder, `client` through `server`.
struct Modes {
    local: Fixture,
    client: Fixture,
    server: Server,
    token: String,
}

/// What one command did: exit status, stdout, stderr.
type Answer = (i32, String, String);

impl Modes {
    fn new() -> Modes {
        let (local, client) = (Fixture::new(YAML), Fixture::new(YAML));
        local.write("proj/app/start.sh", START);
        client.write("proj/app/start.sh", START);
        let token = client.token("admin", "op");
        let server = client.start(&[]);
        Modes { local, client, server, token }
    }

    fn local(&self, args: &[&str]) -> Answer {
        run_local(&self.local.project(), &self.local.data(), args, |_| {})
    }

    fn client(&self, args: &[&str]) -> Answer {
        terrace(&self.server, &self.token, &self.client.project(), args)
    }

    /// Runs `args` in both modes: (local, client).
    fn both(&self, args: &[&str]) -> (Answer, Answer) {
        (self.local(args), self.client(args))
    }

    /// `args --json` in both modes, each required to succeed.
    #[track_caller]
    fn json(&self, args: &[&str]) -> (Value, Value) {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let (l, c) = self.both(&args);
        (parse(&args, "local", &l), parse(&args, "client", &c))
    }

    /// Both copies started once (`dev`), and a start of `prod` awaiting approval.
    fn started(self) -> Modes {
        for mode in ["local", "client"] {
            let run = |args: &[&str]| if mode == "local" { self.local(args) } else { self.client(args) };
            let (code, out, err) = run(&["up", "dev"]);
            assert_eq!(code, 0, "{mode} up dev:\n{out}{err}");
            let (code, out, err) = run(&["up", "prod"]);
            assert_eq!(code, 0, "{mode} up prod (awaits approval):\n{out}{err}");
        }
        self
    }
}

fn run_local(project: &Path, data: &Path, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Answer {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(project)
        .env("TERRACE_DATA", data)
        .env_remove("TERRACE_SERVER")
        .env_remove("TERRACE_TOKEN");
    adjust(&mut c);
    let out = c.output().expect("run terrace");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn parse(args: &[&str], mode: &str, (code, out, err): &Answer) -> Value {
    assert_eq!(*code, 0, "{mode} `terrace {}`:\n{out}{err}", args.join(" "));
    serde_json::from_str(out)
        .unwrap_or_else(|e| panic!("{mode} `terrace {}` is not JSON ({e}):\n{out}", args.join(" ")))
}

/// Where two JSON values differ in shape: keys, array lengths, and the type of every value
/// (a null stands for any type: it is an optional value that is absent in one of them).
fn shape_diff(path: &str, local: &Value, client: &Value, out: &mut Vec<String>) {
    match (local, client) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(l), Value::Object(c)) => {
            for k in l.keys().filter(|k| !c.contains_key(*k)) {
                out.push(format!("{path}.{k}: only in local mode"));
            }
            for k in c.keys().filter(|k| !l.contains_key(*k)) {
                out.push(format!("{path}.{k}: only in client mode"));
            }
            for (k, v) in l.iter().filter_map(|(k, v)| c.get(k).map(|w| (k, (v, w)))) {
                shape_diff(&format!("{path}.{k}"), v.0, v.1, out);
            }
        }
        (Value::Array(l), Value::Array(c)) => {
            if l.len() != c.len() {
                out.push(format!("{path}: {} items in local mode, {} in client mode", l.len(), c.len()));
            }
            for (i, (v, w)) in l.iter().zip(c).enumerate() {
                shape_diff(&format!("{path}[{i}]"), v, w, out);
            }
        }
        (l, c) if std::mem::discriminant(l) == std::mem::discriminant(c) => {}
        (l, c) => out.push(format!("{path}: {l} in local mode, {c} in client mode")),
    }
}

#[track_caller]
fn assert_same_shape(what: &str, local: &Value, client: &Value) {
    let mut diffs = Vec::new();
    shape_diff("", local, client, &mut diffs);
    assert!(diffs.is_empty(), "`terrace {what}` differs between the modes:\n  {}", diffs.join("\n  "));
}

/// Text with every digit as `0`: times, durations and numbers of two runs a moment apart
/// compare equal, while words, columns and widths still must match.
fn masked(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect()
}

#[test]
fn unknown_environments_jobs_and_runs_fail_alike_in_both_modes() {
    let m = Modes::new();
    let unknown_env = "error: environment `nope` is not defined in the project file (defined: dev, prod)\n";
    let unknown_job = "error: job `nope` is not defined in the project file (defined: app)\n";
    let unknown_run = "error: no run `nope#1` (see `terrace runs`: a run is named by its short form ENV#N, its id or a unique prefix \
         of it)\n";
    let declared = "error: environment `dev` is not one made at run time: `terrace destroy dev` deletes its resources \
                    and its record, and a declared environment stays declared until you remove it from terrace.yaml\n";
    let unknown_approval =
        "error: no approval with an id (or a request id) starting with `0123abcd` (see `terrace approvals`)\n";
    let cases: [(&[&str], &str); 18] = [
        (&["approve", "0123abcd"], unknown_approval),
        (&["reject", "0123abcd"], unknown_approval),
        (&["env", "clone", "nope", "--to", "x"], unknown_env),
        (&["env", "delete", "nope"], unknown_env),
        (&["env", "delete", "dev"], declared),
        (&["env", "extend", "nope", "1h"], unknown_env),
        (&["state", "list", "nope", "app"], unknown_env),
        (&["status", "nope"], unknown_env),
        (&["status", "nope", "--json"], unknown_env),
        (&["outputs", "nope"], unknown_env),
        (&["up", "nope"], unknown_env),
        (&["runs", "--env", "nope"], unknown_env),
        (&["runs", "--job", "nope"], unknown_job),
        (&["approvals", "--env", "nope"], unknown_env),
        (&["promotions", "--env", "nope"], unknown_env),
        (&["logs", "nope#1"], unknown_run),
        (&["run", "app", "--env", "nope", "--event", "start"], unknown_env),
        (&["run", "nope", "--env", "dev", "--event", "start"], unknown_job),
    ];
    for (args, expected) in cases {
        let (local, client) = m.both(args);
        let cmd = args.join(" ");
        assert_eq!((local.0, local.2.as_str()), (2, expected), "local `terrace {cmd}`:\n{}", local.1);
        assert_eq!((client.0, client.2.as_str()), (2, expected), "client `terrace {cmd}`:\n{}", client.1);
    }
}

#[test]
fn listings_and_shows_print_one_json_shape_in_both_modes() {
    let m = Modes::new().started();
    for args in [
        &["status"][..],
        &["status", "dev"],
        &["status", "prod"],
        &["runs"],
        &["runs", "--env", "dev"],
        &["run", "show", "dev#1"],
        &["outputs", "dev"],
        &["approvals"],
        &["env", "list"],
    ] {
        let (local, client) = m.json(args);
        assert_same_shape(&format!("{} --json", args.join(" ")), &local, &client);
    }

    // The same meaning: what does not depend on ids and clocks is equal.
    let (local, client) = m.json(&["status", "dev"]);
    for key in ["project", "name", "state", "failed_job", "reason", "defined", "origin", "source", "secrets"] {
        assert_eq!(local[key], client[key], "status dev: {key}");
    }
    for v in [&local, &client] {
        assert!(v["id"].is_string() && v["created_at"].is_string() && v["updated_at"].is_string(), "{v:#}");
        assert_eq!(v["outputs"][1]["value"], "***", "secrets stay masked: {v:#}");
    }
    let run_keys = ["job", "event", "number", "state", "attempts", "forced", "exit_code", "environment", "project"];
    for key in run_keys {
        assert_eq!(local["jobs"][0][key], client["jobs"][0][key], "status dev: jobs[0].{key}");
    }
    let (local, client) = m.json(&["status"]);
    assert_eq!(local[0]["name"], "dev");
    assert!(local[0]["id"].is_string() && client[0]["id"].is_string(), "{local:#}\n{client:#}");
    let (local, client) = m.json(&["status", "prod"]);
    assert_eq!((&local["state"], &client["state"]), (&"absent".into(), &"absent".into()));
    assert_eq!(local["approvals"][0]["summary"], client["approvals"][0]["summary"]);

    // A run is shown by its public fields only: the lease and its holder are the store's.
    let (local, client) = m.json(&["run", "show", "dev#1"]);
    for v in [&local, &client] {
        for internal in ["owner", "lease_token", "lease_expires_at", "inputs_hash", "environment_id", "artifacts"] {
            assert!(v.get(internal).is_none(), "`run show --json` shows `{internal}`: {v:#}");
        }
    }
    for key in run_keys {
        assert_eq!(local[key], client[key], "run show: {key}");
    }
    // Each key is documented.
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/json-output.md")).unwrap();
    let (status, _) = m.json(&["status", "dev"]);
    for key in status.as_object().unwrap().keys().chain(local.as_object().unwrap().keys()) {
        assert!(doc.contains(&format!("`{key}`")), "docs/json-output.md does not document `{key}`");
    }
    let (local, client) = m.json(&["outputs", "dev"]);
    let values = |v: &Value| -> Vec<(Value, Value, Value)> {
        v.as_array().unwrap().iter().map(|o| (o["name"].clone(), o["value"].clone(), o["variable"].clone())).collect()
    };
    assert_eq!(values(&local), values(&client));

    // Logs: one JSON object a line, the same keys; the same lines but for the run's id.
    let log_lines = |(code, out, err): Answer, id: &str| -> Vec<Value> {
        assert_eq!(code, 0, "{out}{err}");
        out.lines().map(|l| serde_json::from_str(&l.replace(id, "RUN")).expect("a JSON line")).collect()
    };
    let (lr, cr) = m.json(&["run", "show", "dev#1"]);
    let local_logs = log_lines(m.local(&["logs", "dev#1", "--json"]), lr["id"].as_str().unwrap());
    let client_logs = log_lines(m.client(&["logs", "dev#1", "--json"]), cr["id"].as_str().unwrap());
    assert_same_shape("logs dev#1 --json", &Value::from(local_logs.clone()), &Value::from(client_logs.clone()));
    let text = |lines: &[Value]| -> Vec<(Value, Value)> {
        lines.iter().map(|l| (l["stream"].clone(), l["text"].clone())).collect()
    };
    assert_eq!(text(&local_logs), text(&client_logs));

    // An environment made at run time: the clone's answer and its status alike.
    let (local, client) = m.json(&["env", "clone", "dev", "--to", "dev-copy", "--var", "SIZE=large"]);
    assert_same_shape("env clone --json", &local, &client);
    let (local, client) = m.json(&["status", "dev-copy"]);
    assert_same_shape("status dev-copy --json", &local, &client);
    for v in [&local, &client] {
        assert_eq!(
            (&v["origin"], &v["base"], &v["variables"]["SIZE"]),
            (&"clone".into(), &"dev".into(), &"large".into())
        );
    }
}

#[test]
fn listings_print_the_same_text_in_both_modes() {
    let m = Modes::new().started();
    for args in [&["status"][..], &["status", "dev"], &["runs"], &["outputs", "dev"], &["env", "list"]] {
        let (local, client) = m.both(args);
        let cmd = args.join(" ");
        assert_eq!((local.0, client.0), (0, 0), "`terrace {cmd}`:\n{}{}\n{}{}", local.1, local.2, client.1, client.2);
        assert_eq!(masked(&local.1), masked(&client.1), "`terrace {cmd}` prints differently in the two modes");
    }
    // `status ENV` shows what awaits approval in both (who asked differs: `cli:` or `api:`).
    let (local, client) = m.both(&["status", "prod"]);
    for (mode, out) in [("local", &local.1), ("client", &client.1)] {
        assert!(out.contains("has no record") && out.contains("awaiting approval prod#1"), "{mode}:\n{out}");
    }
    // `run show` lists the same keys in the same order.
    let keys =
        |out: &str| -> Vec<String> { out.lines().filter_map(|l| l.split_once(": ")).map(|(k, _)| k.into()).collect() };
    let (local, client) = m.both(&["run", "show", "dev#1"]);
    assert_eq!(keys(&local.1), keys(&client.1), "{}\n{}", local.1, client.1);
}

#[test]
fn without_user_or_logname_the_local_actor_is_the_account_of_the_uid() {
    let f = Fixture::new(YAML);
    f.write("proj/app/start.sh", START);
    let (code, out, err) = run_local(&f.project(), &f.data(), &["up", "dev"], |c| {
        c.env_remove("USER").env_remove("LOGNAME");
    });
    assert_eq!(code, 0, "{out}{err}");
    let uid = nix::unistd::Uid::current();
    let account = nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| format!("uid:{uid}"), |u| u.name);
    let (code, out, err) = run_local(&f.project(), &f.data(), &["runs", "--json"], |_| {});
    assert_eq!(code, 0, "{out}{err}");
    let runs: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(runs[0]["trigger"], format!("cli:{account}"), "{runs:#}");
    assert_eq!(runs[0]["inputs"]["user"], account.as_str(), "{runs:#}");
    // $LOGNAME, when set, is the name ($USER first).
    let (code, out, err) = run_local(&f.project(), &f.data(), &["up", "dev"], |c| {
        c.env_remove("USER").env("LOGNAME", "ops-lead");
    });
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = run_local(&f.project(), &f.data(), &["runs", "--json"], |_| {});
    let runs: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(runs[0]["trigger"], "cli:ops-lead", "{runs:#}");
}
