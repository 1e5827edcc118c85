//! `terrace run JOB --env ENV --event debug` on the local executor: a shell with the job's
//! variables in a fresh working copy of its source, removed when the shell exits.

mod common;

use common::{Run, TestProject};

fn session(p: &TestProject, job: &str, input: &str) -> Run {
    use std::io::Write;
    let mut child = p
        .command(&["run", job, "--env", "dev", "--event", "debug"])
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Run::from_output(child.wait_with_output().unwrap())
}

#[test]
fn a_local_debug_shell_has_the_jobs_environment_and_working_copy() {
    let p = TestProject::new(
        "project: dbg\nenvironments:\n  dev:\n    variables: {REGION: eu-west-3}\njobs:\n  j:\n    source: app\n    input: app/params.json\n    events: [start]\n    commands: {start: ./run.sh}\n",
    );
    p.write("app/run.sh", "#!/bin/sh\necho run\n");
    p.write("app/params.json", "{}\n");
    let out = session(
        &p,
        "j",
        "echo \"event=$TERRACE_EVENT region=$REGION\"; ls; case \"$PWD\" in */work/debug-*/src) echo in-copy;; esac; cat \"$TERRACE_JOB_INPUT\"\n",
    );
    let out = out.ok();
    assert!(out.stdout.contains("event=debug region=eu-west-3"), "{}", out.stdout);
    assert!(out.stdout.contains("run.sh") && out.stdout.contains("in-copy"), "{}", out.stdout);
    assert_eq!(p.json(&["runs"]).as_array().unwrap().len(), 0);
    let work: Vec<_> = std::fs::read_dir(p.data.join("work")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(work.is_empty(), "{work:?}");
    // Unknown jobs are a usage error, and client mode refuses: the shell is on this machine.
    assert_eq!(session(&p, "nope", "").code, 2);
    let client = p.run(&["run", "j", "--env", "dev", "--event", "debug", "--server", "http://127.0.0.1:9"]);
    assert_eq!(client.code, 2, "{}", client.stderr);
    assert!(client.stderr.contains("without --server"), "{}", client.stderr);
}
