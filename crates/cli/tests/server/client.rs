//! Client mode: `terrace --server URL` runs the same commands against the server, with
//! the same output and exit statuses as local mode; `terrace secret set` reads stdin.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::*;

#[test]
fn the_cli_talks_to_the_server_with_the_same_output_and_exit_codes() {
    let f = one_job_project(
        "#!/bin/sh\necho \"pw=$API_KEY\"\nprintf '{\"HOST\": {\"value\": \"db.internal\", \"sensitive\": false}}' > \"$TERRACE_OUTPUT_FILE\"\n",
    );
    f.write("proj/fail/fail.sh", "#!/bin/sh\necho broken >&2\nexit 3\n");
    let yaml = std::fs::read_to_string(f.project().join("terrace.yaml"))
        .unwrap()
        .replace("project: shop\n", "project: shop\nvariables:\n  API_KEY: ${secret:API_KEY}\n");
    f.write("proj/terrace.yaml", &yaml);
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let cwd = f.dir.path();

    let mut set = Command::new(bin())
        .args(["secret", "set", "API_KEY", "--env", "dev", "--project"])
        .arg(f.project())
        .env("TERRACE_SERVER", &server.url)
        .env("TERRACE_TOKEN", &token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin.take().unwrap().write_all(b"k3y-from-stdin\n").unwrap();
    let out = set.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (code, stdout, stderr) = terrace(&server, &token, cwd, &["up", "dev"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("environment `dev` is running (1 succeeded, 0 failed, 0 skipped;"), "{stdout}");

    let (code, stdout, _) = terrace(&server, &token, cwd, &["status"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("dev") && stdout.contains("running"), "{stdout}");
    let (_, stdout, _) = terrace(&server, &token, cwd, &["outputs", "dev"]);
    assert!(stdout.contains("HOST") && stdout.contains("db.internal"), "{stdout}");
    let (code, _, stderr) = terrace(&server, &token, cwd, &["outputs", "dev", "--reveal"]);
    assert_eq!(code, 2, "an operator may not reveal: {stderr}");
    let (code, stdout, _) = terrace(&server, &token, cwd, &["runs", "--json"]);
    assert_eq!(code, 0);
    let runs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let run = runs[0]["id"].as_str().unwrap().to_string();
    let (code, stdout, _) = terrace(&server, &token, cwd, &["logs", &run[..13]]);
    assert_eq!(code, 0);
    assert!(stdout.contains("pw=***") && !stdout.contains("k3y-from-stdin"), "secret injected and masked:\n{stdout}");

    // A failing job: exit 1 and the same summary line as local mode.
    let yaml = std::fs::read_to_string(f.project().join("terrace.yaml")).unwrap()
        + "  broken:\n    source: fail\n    events: [start]\n    commands:\n      start: ./fail.sh\n";
    f.write("proj/terrace.yaml", &yaml);
    let (code, stdout, stderr) = terrace(&server, &token, cwd, &["up", "dev"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("job `broken`"), "{stdout}");
    // Usage errors stay exit 2; a missing token too.
    assert_eq!(terrace(&server, &token, cwd, &["up", "nope"]).0, 2);
    assert_eq!(terrace(&server, "", cwd, &["status"]).0, 2);
    assert!(server.stop());
}

#[test]
fn settings_come_from_flags_then_environment_then_the_config_file() {
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let token = f.token("operator", "op");
    // The file's listen address is taken by the flag; its max_attempts by the environment.
    let toml = f.dir.path().join("server.toml");
    std::fs::write(&toml, "listen = \"127.0.0.1:1\"\nmax_attempts = 5\nmax_runs = 3\n").unwrap();
    let config = toml.display().to_string();
    let mut server =
        Server::start_with_env(&f.project(), &f.data(), &["--config", &config], &[("TERRACE_MAX_ATTEMPTS", "4")]);
    let api = server.api(Some(&token));
    let id = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(api.wait_request(&id, std::time::Duration::from_secs(30))["max_attempts"], 4);
    assert!(server.stop());
    // Without the environment variable the file's value applies; YAML works too.
    let yaml = f.dir.path().join("server.yaml");
    std::fs::write(&yaml, "max_attempts: 5\n").unwrap();
    let mut server = Server::start(&f.project(), &f.data(), &["--config", &yaml.display().to_string()]);
    let api = server.api(Some(&token));
    let id = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "stop"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(api.wait_request(&id, std::time::Duration::from_secs(30))["max_attempts"], 5);
    assert!(server.stop());
    // A bad config file is a usage error (exit 2) naming the key.
    std::fs::write(&yaml, "max_attempts: many\n").unwrap();
    let out = Command::new(bin()).args(["server", "--config"]).arg(&yaml).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_attempts"));
    let help = Command::new(bin()).args(["server", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for documented in ["--config", "TERRACE_LISTEN", "--max-runs", "--shutdown-grace", "409"] {
        assert!(help.contains(documented), "`terrace server --help` documents {documented}:\n{help}");
    }
}

#[test]
fn ctrl_c_in_client_mode_cancels_the_request_on_the_server() {
    let f = one_job_project("#!/bin/sh\necho long job\nsleep 60\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&["--kill-grace", "1s"]);
    let api = server.api(Some(&token));
    let child = Command::new(bin())
        .args(["up", "dev"])
        .current_dir(f.dir.path())
        .env("TERRACE_SERVER", &server.url)
        .env("TERRACE_TOKEN", &token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(std::time::Duration::from_secs(30), "the job to run", || {
        let runs = api.ok("GET", "/runs?state=running", None);
        (runs["items"].as_array().unwrap().len() == 1).then_some(())
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("cancelled"), "{stdout}");
    let requests = api.ok("GET", "/requests", None);
    assert_eq!(requests[0]["state"], "cancelled", "{requests}");
    assert!(server.stop());
}

#[test]
fn every_api_operation_has_its_verb() {
    let f = one_job_project("#!/bin/sh\necho started\nsleep 60\n");
    let admin = f.token("admin", "root");
    let mut server = f.start(&[]);
    let project = f.project();
    let cwd = project.as_path();
    let run = |args: &[&str]| {
        let (code, stdout, stderr) = terrace(&server, &admin, cwd, args);
        assert_eq!(code, 0, "terrace {args:?}: {stdout}{stderr}");
        stdout
    };
    let json = |args: &[&str]| -> serde_json::Value {
        let stdout = run(args);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("terrace {args:?}: {e}: {stdout}"))
    };
    // Tokens: create, list, revoke.
    let other = run(&["token", "create", "--role", "viewer", "--name", "ci"]).trim().to_string();
    let tokens = json(&["token", "list", "--json"]);
    let ci = tokens.as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap()["id"].as_str().unwrap().to_string();
    run(&["token", "revoke", &ci]);
    let (code, _, stderr) = terrace(&server, &other, cwd, &["status"]);
    assert_eq!(code, 2, "a revoked token is refused: {stderr}");
    // Secrets: set (stdin), list, delete.
    let mut set = Command::new(bin())
        .args(["secret", "set", "DB_PW", "--env", "dev"])
        .current_dir(cwd)
        .env("TERRACE_SERVER", &server.url)
        .env("TERRACE_TOKEN", &admin)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin.take().unwrap().write_all(b"pw").unwrap();
    assert!(set.wait().unwrap().success());
    assert_eq!(json(&["secret", "list", "--env", "dev", "--json"])[0]["name"], "DB_PW");
    run(&["secret", "delete", "DB_PW", "--env", "dev"]);
    assert_eq!(json(&["secret", "list", "--env", "dev", "--json"]), serde_json::json!([]));
    // Projects.
    assert_eq!(json(&["project", "list", "--json"])[0]["name"], "shop");
    assert_eq!(json(&["project", "show", "shop", "--json"])["jobs"], serde_json::json!(["app"]));
    assert!(run(&["project", "list"]).contains("shop"));
    // Requests and runs: a start whose job sleeps, shown, then cancelled through its run.
    let api = server.api(Some(&admin));
    let id = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run_id = eventually(std::time::Duration::from_secs(30), "the job to start", || {
        let r = api.ok("GET", &format!("/requests/{id}"), None);
        r["run_ids"][0].as_str().map(str::to_string).filter(|_| r["state"] == "running")
    });
    assert_eq!(json(&["request", "list", "--json"])[0]["id"], id.as_str());
    assert!(run(&["request", "list"]).contains(&id));
    assert_eq!(json(&["request", "show", &id, "--json"])["state"], "running");
    assert_eq!(json(&["run", "show", &run_id[..13], "--json"])["job"], "app");
    // Named as listings name it: the environment's first run.
    assert_eq!(json(&["run", "show", "dev#1", "--json"])["id"], run_id.as_str());
    assert!(run(&["run", "cancel", "dev#1"]).contains("cancel asked"));
    assert_eq!(api.wait_request(&id, std::time::Duration::from_secs(60))["state"], "cancelled");
    let (code, _, stderr) = terrace(&server, &admin, cwd, &["request", "cancel", &id]);
    assert_eq!(code, 1, "an ended request cannot be cancelled: {stderr}");
    // The audit log has the revoke, the secret changes and the cancel.
    let audit = json(&["audit", "--json"]);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["token.revoke", "secret.delete", "run.cancel"] {
        assert!(actions.iter().any(|a| a.starts_with(action)), "{action} in {actions:?}");
    }
    assert!(run(&["audit"]).contains("run.cancel"));
    assert!(server.stop());
}

/// Run ids, times and durations vary between two runs: the rest must not.
fn normalized(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut out = String::new();
            let mut rest = l;
            // [2026-11-30 01:02:03] → [T]
            if rest.starts_with('[') && rest.len() > 21 && &rest[20..21] == "]" {
                out.push_str("[T]");
                rest = &rest[21..];
            }
            let words: Vec<String> = rest
                .split(' ')
                .map(|w| {
                    let core = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
                    if core.len() == 36 && core.chars().filter(|c| *c == '-').count() == 4 {
                        w.replace(core, "RUN")
                    } else if let Some(n) = core.strip_suffix('s').filter(|n| n.parse::<f64>().is_ok()) {
                        w.replace(&format!("{n}s"), "Ns")
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            out.push_str(&words.join(" "));
            out
        })
        .collect()
}

#[test]
fn client_mode_prints_the_progress_local_mode_prints_in_the_same_order() {
    let yaml = "project: shop\nenvironments:\n  dev: {}\njobs:\n  base:\n    events: [start]\n    commands:\n      \
                start: echo hello from base\n  app:\n    depends_on: [base]\n    events: [start]\n    max_restarts: 1\n    \
                commands:\n      start: |\n        if [ ! -e \"$MARKS/$TERRACE_RUN_ID\" ]; then touch \"$MARKS/$TERRACE_RUN_ID\"; \
                echo first try >&2; exit 3; fi\n        echo second try\n  web:\n    depends_on: [app]\n    events: [start]\n    \
                commands:\n      start: exit 4\n  dns:\n    depends_on: [web]\n    events: [start]\n    commands:\n      \
                start: \"true\"\n";
    let f = Fixture::new(yaml);
    let marks = f.dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // Jobs see only the variables the project gives them (and PATH, HOME...).
    f.write(
        "proj/terrace.yaml",
        &yaml.replace("jobs:\n", &format!("variables:\n  MARKS: {}\njobs:\n", marks.display())),
    );
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let local = Command::new(bin())
        .args(["up", "dev", "--project"])
        .arg(f.project())
        .arg("--data")
        .arg(f.dir.path().join("local-data"))
        .env_remove("TERRACE_SERVER")
        .output()
        .unwrap();
    let (code, stdout, stderr) = terrace(&server, &token, &f.project(), &["up", "dev"]);
    assert_eq!(local.status.code(), Some(1));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let local_err = String::from_utf8_lossy(&local.stderr);
    assert_eq!(normalized(&stderr), normalized(&local_err), "client:\n{stderr}\nlocal:\n{local_err}");
    assert_eq!(normalized(&stdout), normalized(&String::from_utf8_lossy(&local.stdout)));
    for expected in
        ["plan: base → app → web → dns", "app: retrying (attempt 2) after: ", "app | ! first try", "dns: skipped"]
    {
        assert!(local_err.contains(expected), "{expected} in:\n{local_err}");
    }
    assert!(server.stop());
}

#[test]
fn runs_are_named_env_hash_number_in_client_mode_too() {
    let f = one_job_project("#!/bin/sh\necho hello from app\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let project = f.project();
    let (code, _, stderr) = terrace(&server, &token, &project, &["up", "dev"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("app: started (run dev#1, attempt 1)"), "{stderr}");
    let (code, stdout, _) = terrace(&server, &token, &project, &["runs"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("dev#1"), "{stdout}");
    let (_, stdout, _) = terrace(&server, &token, &project, &["status", "dev"]);
    assert!(stdout.contains("dev#1"), "{stdout}");
    let (code, stdout, stderr) = terrace(&server, &token, &project, &["logs", "dev#1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("hello from app"), "{stdout}");
    let (code, stdout, _) = terrace(&server, &token, &project, &["run", "show", "dev#1", "--json"]);
    assert_eq!(code, 0);
    let show: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((show["job"].as_str(), show["number"].as_u64()), (Some("app"), Some(1)));
    let (code, _, stderr) = terrace(&server, &token, &project, &["logs", "dev#7"]);
    assert_eq!(code, 2, "{stderr}");
    // The API takes the short form too (`#` encoded), within a project when given.
    let api = server.api(Some(&token));
    assert_eq!(api.ok("GET", "/runs/dev%231?project=shop", None)["job"], "app");
    assert!(server.stop());
}

/// A job skipped as unchanged is shown only as skipped, in both modes alike (never
/// `started` first), and the progress of each mode is the other's.
#[test]
fn a_skipped_job_is_shown_the_same_in_client_and_local_mode() {
    let yaml = "project: shop\nenvironments:\n  dev: {}\njobs:\n  base:\n    events: [start]\n    skip_unchanged: true\n    \
                commands:\n      start: echo hello from base\n  app:\n    depends_on: [base]\n    events: [start]\n    \
                commands:\n      start: echo hello from app\n";
    let f = Fixture::new(yaml);
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let local = |_: usize| {
        let out = Command::new(bin())
            .args(["up", "dev", "--project"])
            .arg(f.project())
            .arg("--data")
            .arg(f.dir.path().join("local-data"))
            .env_remove("TERRACE_SERVER")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let client = |_: usize| {
        let (code, stdout, stderr) = terrace(&server, &token, &f.project(), &["up", "dev"]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        stderr
    };
    assert_eq!(normalized(&client(1)), normalized(&local(1)));
    let (second_client, second_local) = (client(2), local(2));
    assert_eq!(
        normalized(&second_client),
        normalized(&second_local),
        "client:\n{second_client}\nlocal:\n{second_local}"
    );
    assert!(second_local.contains("base: skipped: unchanged since its last successful start, dev#1"), "{second_local}");
    assert!(!second_client.contains("base: started"), "a skipped job is not shown started:\n{second_client}");
    assert!(second_client.contains("app: started (run dev#4, attempt 1)"), "{second_client}");
    assert!(server.stop());
}
