//! Cancelling a run (Ctrl-C to `terrace up`) stops its job's container and everything it
//! started, and removes it: the run ends `cancelled` and Docker has nothing of it left.

use std::time::{Duration, Instant};

use crate::common::TestProject;
use crate::support::{containers_of, shell_image, up_until_its_container_runs};

#[test]
fn cancelling_a_run_stops_and_removes_its_container() {
    let p = TestProject::new(&format!(
        "project: cancel\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  j:\n    image: {}\n    entrypoint: [/bin/sh, -c]\n    events: [start]\n    commands: {{start: ['echo started; sleep 300 & wait']}}\n",
        shell_image()
    ));
    let (mut child, run) = up_until_its_container_runs(&p);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "terrace did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "a cancelled run is not a success: {status}");
    let runs = p.json(&["runs"]);
    assert_eq!(runs[0]["state"], "cancelled", "{runs:#}");
    assert_eq!(containers_of(&run), Vec::<String>::new(), "the cancelled run's container is gone when terrace exits");
}
