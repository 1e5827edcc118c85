//! A Docker daemon that cannot be reached and an image that cannot be found fail the
//! run at once with a message naming the image, never a hang.

use crate::common::TestProject;

fn project(image: &str) -> TestProject {
    TestProject::new(&format!(
        "project: err\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  j:\n    image: {image}\n    events: [start]\n    commands: {{start: [start]}}\n"
    ))
}

#[test]
fn a_daemon_that_is_down_fails_the_run_naming_the_image() {
    let p = project("registry.invalid/team/tool:1");
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let out = p.run_with(&["up", "dev", "--json"], |c| {
        c.env("DOCKER_HOST", &host);
    });
    let out = out.code(1).json();
    let reason = TestProject::job_in(&out, "j")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("image `registry.invalid/team/tool:1`"), "{reason}");
    assert!(reason.contains("cannot reach the Docker daemon") && reason.contains("DOCKER_HOST"), "{reason}");
}

#[test]
fn an_image_that_cannot_be_pulled_fails_the_run_naming_it() {
    // Port 9 on the loopback: nothing listens, so the pull fails at once.
    let p = project("127.0.0.1:9/team/missing:1");
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let reason = TestProject::job_in(&out, "j")["reason"].as_str().unwrap().to_string();
    assert!(
        reason.starts_with("image `127.0.0.1:9/team/missing:1` is not on this Docker host and could not be pulled"),
        "{reason}"
    );
}
