//! A `terrace` killed while its job's container runs: the next command takes the run
//! back and removes the container, through the recorded handle or the run's label.

use std::time::{Duration, Instant};

use crate::common::TestProject;
use crate::support::{containers_of, docker, shell_image};

#[test]
fn the_container_of_a_killed_terrace_is_removed_by_the_next_command() {
    let p = TestProject::new(&format!(
        "project: rec\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  j:\n    image: {}\n    entrypoint: [/bin/sh, -c]\n    events: [start]\n    commands: {{start: ['echo started; sleep 300']}}\n",
        shell_image()
    ));
    let mut child = p
        .command(&["up", "dev"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the job's container to run (its run is in the store before it starts).
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        assert!(Instant::now() < deadline, "the job's container never ran");
        let runs = p.json(&["runs"]);
        let run = runs.as_array().unwrap().first().map(|r| r["id"].as_str().unwrap().to_string());
        if let Some(run) = run {
            let running = docker(&["ps", "-q", "--filter", &format!("label=terrace.run={run}")]);
            if !running.trim().is_empty() {
                break run;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(containers_of(&run).len(), 1, "the container runs on after its terrace died");
    let status = p.json(&["runs"]);
    assert_eq!(status[0]["state"], "interrupted", "{status:#}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !containers_of(&run).is_empty() {
        assert!(Instant::now() < deadline, "the orphaned container was not removed");
        std::thread::sleep(Duration::from_millis(100));
    }
}
