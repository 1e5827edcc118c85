//! `terrace run JOB --env ENV --event debug` on the docker executor: a shell in the job's
//! own container (same image, mounts, variables), fed here through a pipe as a person's
//! keystrokes would be; nothing is left when it exits.

use crate::common::{Run, TestProject};
use crate::support::{containers_of, shell_image};

/// Runs a debug session of `job` in `dev` with `input` as what the person types.
pub fn session(p: &TestProject, job: &str, input: &str) -> Run {
    use std::io::Write;
    let mut child = p
        .command(&["run", job, "--env", "dev", "--event", "debug"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Run::from_output(child.wait_with_output().unwrap())
}

#[test]
fn a_debug_shell_runs_in_the_jobs_container_and_leaves_nothing() {
    let p = TestProject::new(&format!(
        "project: dbg\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  j:\n    image: {}\n    input: params.json\n    events: [start]\n    commands: {{start: [start]}}\n    resources: {{memory: 32Mi}}\n    variables:\n      TOKEN: {{value: tok-0123456789, secret: true}}\n",
        shell_image()
    ));
    p.write("params.json", "{\"size\": \"small\"}\n");
    let out = session(
        &p,
        "j",
        "echo \"event=$TERRACE_EVENT input=$JOB_INPUT token=$TOKEN\"; cat $JOB_INPUT; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exit 3\n",
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    // The operator sees the job's variables, secrets included, and its parameters file.
    assert!(out.stdout.contains("event=debug input=/data/input/params.json token=tok-0123456789"), "{}", out.stdout);
    assert!(out.stdout.contains("{\"size\": \"small\"}"), "{}", out.stdout);
    assert!(out.stdout.contains(&(32u64 << 20).to_string()), "{}", out.stdout);
    assert!(out.stderr.contains("the shell exited with status 3"), "{}", out.stderr);
    // Nothing recorded, nothing left: no run, no container, no working copy.
    assert_eq!(p.json(&["runs"]).as_array().unwrap().len(), 0);
    let at = out.stderr.find("debug session ").expect("the session's id") + "debug session ".len();
    let id = out.stderr[at..].split_whitespace().next().unwrap();
    assert_eq!(containers_of(id), Vec::<String>::new());
    let work: Vec<_> = std::fs::read_dir(p.data.join("work")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(work.is_empty(), "{work:?}");
    // A clean exit is success.
    session(&p, "j", "exit 0\n").ok();
}
