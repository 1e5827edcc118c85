//! Client mode: `terrace --server URL` runs the same commands against the server, with
//! the same output and exit statuses as local mode; `terrace secret set` reads stdin.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::*;

fn terrace(server: &Server, token: &str, cwd: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("TERRACE_SERVER", &server.url)
        .env("TERRACE_TOKEN", token)
        .output()
        .expect("run terrace");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_talks_to_the_server_with_the_same_output_and_exit_codes() {
    let f = one_job_project(
        "#!/bin/sh\necho \"pw=$API_KEY\"\nprintf '{\"HOST\": {\"value\": \"db.internal\", \"sensitive\": false}}' > \"$TERRACE_OUTPUT_FILE\"\n",
    );
    f.write("proj/fail/fail.sh", "#!/bin/sh\necho broken >&2\nexit 3\n");
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
