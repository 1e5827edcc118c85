//! A kill -9 of `terrace` mid-run: the next command marks the run interrupted with the
//! reason, kills the orphaned job, and the environment can be used again.

mod common;

use std::time::{Duration, Instant};

use common::{TestProject, alive};

#[test]
fn kill_9_mid_run_is_found_and_resolved_by_the_next_command() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("job.pid");
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  slow:\n    events: [start]\n    commands: {{start: 'echo $$ > {pid}; sleep 300'}}\n  after:\n    depends_on: [slow]\n    events: [start]\n    commands: {{start: 'true'}}\n",
        pid = pid_file.display()
    );
    let p = TestProject::new(&yaml);
    let mut child = p.start_up("dev", &pid_file);
    let job_pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();

    let status = p.run(&["status", "dev", "--json"]).ok();
    assert!(status.stderr.contains("marked interrupted"), "{}", status.stderr);
    let s = status.json();
    assert_eq!(s["state"], "failed");
    assert_eq!(s["failed_job"], "slow");
    let slow = p.runs_of("slow");
    assert_eq!(slow[0]["state"], "interrupted");
    assert!(slow[0]["reason"].as_str().unwrap().contains("killed or crashed"), "{}", slow[0]);
    let after = p.runs_of("after");
    assert_eq!(after[0]["state"], "interrupted");
    assert!(p.json(&["runs"]).as_array().unwrap().iter().all(|r| r["state"] != "running" && r["state"] != "queued"));

    // The orphaned job was killed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(job_pid) {
        assert!(Instant::now() < deadline, "the orphaned job {job_pid} is still alive");
        std::thread::sleep(Duration::from_millis(50));
    }
    // And the environment works again.
    std::fs::write(p.root().join("terrace.yaml"), yaml.replace("sleep 300", "true")).unwrap();
    p.run(&["up", "dev"]).ok();
    assert_eq!(p.json(&["status", "dev"])["state"], "running");
}

#[test]
fn a_second_event_on_a_busy_environment_with_no_wait_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let started = tmp.path().join("started");
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  slow:\n    events: [start]\n    commands: {{start: 'echo started > {s}; sleep 3'}}\n",
        s = started.display()
    );
    let p = TestProject::new(&yaml);
    let mut first = p.start_up("dev", &started);
    // Without --no-wait it would wait its turn (tests/server/busy.rs).
    let second = p.run(&["up", "dev", "--no-wait"]).code(1);
    assert!(second.stderr.contains("busy"), "{}", second.stderr);
    // reading while it runs does not disturb it
    assert_eq!(p.runs_of("slow")[0]["state"], "running");
    assert!(first.wait().unwrap().success());
    assert_eq!(p.runs_of("slow")[0]["state"], "succeeded");
}

#[test]
fn ctrl_c_stops_the_jobs_and_marks_their_runs_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("job.pid");
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  slow:\n    events: [start]\n    commands: {{start: 'echo $$ > {pid}; sleep 300'}}\n  after:\n    depends_on: [slow]\n    events: [start]\n    commands: {{start: 'true'}}\n",
        pid = pid_file.display()
    );
    let p = TestProject::new(&yaml);
    let mut child = p.start_up("dev", &pid_file);
    let job_pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a cancelled run is a failed run");
    assert_eq!(p.runs_of("slow")[0]["state"], "cancelled");
    assert_eq!(p.runs_of("after")[0]["state"], "skipped");
    assert!(!alive(job_pid), "the job survived Ctrl-C");
}
