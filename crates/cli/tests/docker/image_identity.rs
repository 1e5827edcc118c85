//! Each container run records the image it ran: the image id of an image built from a
//! Dockerfile or found only locally, the registry digest (`repo@sha256:...`) of one
//! pulled from a registry (Debian's docker-registry on 127.0.0.1); shown by `runs --json`
//! and `run show --json`, and checked here against what Docker and the registry say.

use crate::common::TestProject;
use crate::common::registry::Registry;
use crate::support::{BUSYBOX_BASE, build, busybox, docker, shell_image, write_files};

/// The recorded image of `job`'s newest run, seen by `runs --json` and `run show --json`
/// alike.
fn recorded_image(p: &TestProject, job: &str) -> String {
    let runs = p.runs_of(job);
    let run = runs.first().unwrap_or_else(|| panic!("no run of {job}"));
    let image = run["image"].as_str().unwrap_or_else(|| panic!("no image recorded: {run:#}")).to_string();
    let shown = p.json(&["run", "show", run["id"].as_str().unwrap()]);
    assert_eq!(shown["image"], image, "{shown:#}");
    image
}

fn image_id(reference: &str) -> String {
    docker(&["image", "inspect", "--format", "{{.Id}}", reference]).trim().to_string()
}

#[test]
fn a_run_records_the_id_of_a_local_image_and_of_one_built_from_its_dockerfile() {
    let yaml = format!(
        "project: ids\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  local:\n    image: {}\n    \
         entrypoint: [/bin/sh, -c]\n    events: [start]\n    commands: {{start: ['echo local']}}\n  built:\n    \
         source: built\n    dockerfile: Dockerfile\n    events: [start]\n    commands: {{start: ['echo built']}}\n  \
         plain:\n    executor: local\n    events: [start]\n    commands: {{start: [echo, plain]}}\n",
        shell_image()
    );
    let p = TestProject::new(&yaml);
    let dir = p.root().join("built");
    let dockerfile =
        format!("{BUSYBOX_BASE}LABEL terrace.test.marker=image-identity\nENTRYPOINT [\"/bin/sh\", \"-c\"]\n");
    write_files(&dir, &[("Dockerfile", dockerfile.as_bytes(), 0o644)]);
    std::fs::copy(busybox(), dir.join("busybox")).unwrap();
    p.run(&["up", "dev", "--json"]).ok();

    let local = recorded_image(&p, "local");
    assert_eq!(local, image_id(&shell_image()));
    assert!(local.starts_with("sha256:"), "{local}");

    let built = recorded_image(&p, "built");
    assert!(built.starts_with("sha256:"), "{built}");
    // The image the run names is the one built from the job's Dockerfile.
    let marker = docker(&["image", "inspect", "--format", "{{index .Config.Labels \"terrace.test.marker\"}}", &built]);
    assert_eq!(marker.trim(), "image-identity");

    let plain = &p.runs_of("plain")[0];
    assert!(plain["image"].is_null(), "a local run ran no image: {plain:#}");
    // `status ENV --json` shows each job's last run with its image too.
    let status = p.json(&["status", "dev"]);
    let job = |name: &str| status["jobs"].as_array().unwrap().iter().find(|j| j["job"] == name).cloned().unwrap();
    assert_eq!(job("local")["image"], local, "{status:#}");
    assert_eq!(job("built")["image"], built, "{status:#}");
}

#[test]
fn a_run_records_the_registry_digest_of_an_image_it_pulled() {
    let registry = Registry::start();
    let reference = format!("{}/terrace-test/pulled:1", registry.host);
    // A label of its own makes it an image no other test names.
    let dockerfile = format!("{BUSYBOX_BASE}LABEL terrace.test.pulled={}\n", registry.host);
    build(&reference, &dockerfile, &[]);
    docker(&["push", "-q", &reference]);
    let digest = registry.tag_digest("terrace-test/pulled", "1").expect("the pushed tag");
    // Gone from this host, the run must pull it.
    docker(&["image", "rm", &reference]);

    let yaml = format!(
        "project: pulled\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  j:\n    image: {reference}\n    \
         entrypoint: [/bin/sh, -c]\n    events: [start]\n    commands: {{start: ['echo pulled']}}\n"
    );
    let p = TestProject::new(&yaml);
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "j")["run_id"].as_str().unwrap());
    assert!(log.contains(&format!("pulling image {reference}")), "{log}");
    assert_eq!(recorded_image(&p, "j"), format!("{}/terrace-test/pulled@{digest}", registry.host));

    // Found on the host the second time: the same digest, not pulled again.
    p.run(&["up", "dev", "--json"]).ok();
    assert_eq!(p.runs_of("j").len(), 2);
    assert_eq!(recorded_image(&p, "j"), format!("{}/terrace-test/pulled@{digest}", registry.host));
    let _ = std::process::Command::new("docker").args(["image", "rm", &reference]).output();
}
