//! A `terrace` killed while its job's container runs: the next command takes the run
//! back and removes the container, through the recorded handle or the run's label.

use std::time::{Duration, Instant};

use crate::common::TestProject;
use crate::support::{containers_of, shell_image, up_until_its_container_runs};

#[test]
fn the_container_of_a_killed_terrace_is_removed_by_the_next_command() {
    let p = TestProject::new(&format!(
        "project: rec\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  j:\n    image: {}\n    entrypoint: [/bin/sh, -c]\n    events: [start]\n    commands: {{start: ['echo started; sleep 300']}}\n",
        shell_image()
    ));
    let (mut child, run) = up_until_its_container_runs(&p);
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
