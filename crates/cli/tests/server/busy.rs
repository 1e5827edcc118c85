//! Two events of one environment at once: in both modes the second waits its turn and
//! says so, and `--no-wait` fails at once (exit 1) naming what it would wait for.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::*;

const HOLD: &str = "#!/bin/sh\necho holding\nwhile [ ! -e \"$RELEASE\" ]; do sleep 0.1; done\necho released\n";

fn fixture() -> (Fixture, std::path::PathBuf) {
    let f = one_job_project(HOLD);
    let release = f.dir.path().join("release");
    let yaml = format!(
        "project: shop\nvariables:\n  RELEASE: {}\nenvironments:\n  dev: {{}}\njobs:\n  app:\n    source: app\n    \
         events: [start]\n    commands:\n      start: ./start.sh\n",
        release.display()
    );
    f.write("proj/terrace.yaml", &yaml);
    (f, release)
}

/// `terrace up dev` with these extra arguments and variables, its stderr read line by line.
fn up(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(bin())
        .args(["up", "dev", "--project"])
        .arg(f.project())
        .args(args)
        .env_remove("TERRACE_SERVER")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits (bounded) for a line of `lines` containing every one of `words`.
fn line_with(lines: &mpsc::Receiver<String>, words: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|_| panic!("no line with {words:?} within 60s"));
        if words.iter().all(|w| line.contains(w)) {
            return line;
        }
    }
}

fn no_wait_fails(f: &Fixture, data: &[&str], env: &[(&str, &str)]) {
    let mut args = data.to_vec();
    args.push("--no-wait");
    let (child, lines) = up(f, &args, env);
    let out = child.wait_with_output().unwrap();
    let stderr: Vec<String> = lines.iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is busy") && stderr.contains("without --no-wait"), "{stderr}");
}

#[test]
fn a_second_local_up_waits_its_turn_and_no_wait_fails_at_once() {
    let (f, release) = fixture();
    let data = f.data().display().to_string();
    let (first, first_err) = up(&f, &["--data", &data], &[]);
    line_with(&first_err, &["app | holding"]);
    let (second, second_err) = up(&f, &["--data", &data], &[]);
    let waiting = line_with(&second_err, &["environment `dev` is busy", "waiting for it to finish"]);
    assert!(waiting.contains("another terrace process"), "{waiting}");
    no_wait_fails(&f, &["--data", &data], &[]);
    std::fs::write(&release, "").unwrap();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("environment `dev` is running"));
    }
}

#[test]
fn a_second_up_through_the_server_waits_its_turn_and_no_wait_fails_at_once() {
    let (f, release) = fixture();
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let env = [("TERRACE_SERVER", server.url.as_str()), ("TERRACE_TOKEN", token.as_str())];
    let (first, first_err) = up(&f, &[], &env);
    line_with(&first_err, &["app | holding"]);
    let (second, second_err) = up(&f, &[], &env);
    let waiting = line_with(&second_err, &["environment `dev` is busy", "waiting for it to finish"]);
    assert!(waiting.contains("is running on the server"), "{waiting}");
    no_wait_fails(&f, &[], &env);
    std::fs::write(&release, "").unwrap();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("environment `dev` is running"));
    }
    assert!(server.stop());
}
