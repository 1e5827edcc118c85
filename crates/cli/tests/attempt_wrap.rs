//! `terrace attempt-wrap` (the kubernetes executor's wrapper in a pod), run for real as a
//! local process: the program's stdio passes through, its exit status is the wrapper's
//! (128 + the signal when it was killed), a signal sent to the wrapper reaches the
//! program, and `--copy-to` copies the binary. Its upload to a server is tested in
//! `server/kubernetes_outputs.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn wrap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_terrace"));
    c.arg("attempt-wrap").env_remove("TERRACE_OUTPUT_URL").env_remove("TERRACE_OUTPUT_TOKEN");
    c
}

#[test]
fn the_programs_output_and_status_pass_through() {
    let out = wrap().args(["--", "/bin/sh", "-c", "echo out; echo err >&2; exit 7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let killed = wrap().args(["--", "/bin/sh", "-c", "kill -KILL $$"]).output().unwrap();
    assert_eq!(killed.status.code(), Some(128 + 9));
    let missing = wrap().args(["--", "/no/such/program"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot start `/no/such/program`"));
    let nothing = wrap().output().unwrap();
    assert_eq!(nothing.status.code(), Some(2), "no program: a usage error");
}

#[test]
fn a_signal_to_the_wrapper_reaches_the_program() {
    let mut child = wrap()
        // Bounded: a wrapper that died leaves no program running for ever.
        .args([
            "--",
            "/bin/sh",
            "-c",
            "trap 'echo got TERM; exit 42' TERM; echo ready; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready", "the trap is set");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got TERM");
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn copy_to_copies_the_binary_executable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("terrace");
    let out = wrap().arg("--copy-to").arg(&target).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o755);
    let copied = Command::new(&target).args(["attempt-wrap", "--", "/bin/sh", "-c", "exit 5"]).status().unwrap();
    assert_eq!(copied.code(), Some(5), "the copy runs");
}
