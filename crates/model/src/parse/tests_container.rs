//! Tests of a job's container settings: `image`, `dockerfile`, `entrypoint`,
//! `resources`, and the rule that the first three need a container executor.

use super::tests::{only, problems, with_job};
use super::{check, parse_project};

const SHELL: &str = "events: [start]\ncommands: {start: [start]}";

#[test]
fn container_settings_are_read_when_the_executor_runs_containers() {
    let text = "project: p
executor: local
environments:
  dev: {executor: docker}
jobs:
  cf:
    events: [start]
    commands: {start: [start]}
    image: 127.0.0.1:5000/team/cfn:1.2
    entrypoint: [/usr/bin/dumb-init, '--', /data/entrypoint.sh]
    resources: {cpu: 250m, memory: 64Mi}
";
    let report = check(text.as_bytes(), None);
    let p = report.project.unwrap_or_else(|| panic!("{:?}", report.problems));
    let c = &p.jobs["cf"].container;
    assert_eq!(c.image.as_deref(), Some("127.0.0.1:5000/team/cfn:1.2"));
    assert_eq!(c.entrypoint.as_deref().unwrap(), ["/usr/bin/dumb-init", "--", "/data/entrypoint.sh"]);
    assert_eq!((c.resources.cpu.as_deref(), c.resources.memory.as_deref()), (Some("250m"), Some("64Mi")));
    // A string entrypoint is one program, never split.
    let text = "project: p
executor: docker
jobs:
  a:
    events: [start]
    commands: {start: [start]}
    dockerfile: build/Dockerfile
    entrypoint: /data/entry point.sh
    resources: {cpu: 2}
";
    let p = parse_project("t", text).unwrap_or_else(|e| panic!("{e}"));
    let c = &p.jobs["a"].container;
    assert_eq!(c.dockerfile.as_deref(), Some(std::path::Path::new("build/Dockerfile")));
    assert_eq!(c.entrypoint.as_deref().unwrap(), ["/data/entry point.sh"]);
    assert_eq!((c.resources.cpu.as_deref(), c.resources.memory.as_deref()), (Some("2"), None));
}

#[test]
fn container_keys_on_the_local_executor_are_errors_naming_the_environments() {
    let text = "project: p
environments:
  dev: {}
  prod: {executor: docker}
jobs:
  a:
    events: [start]
    commands: {start: [start]}
    image: busybox
";
    assert_eq!(
        only(text),
        "9:5: job `a` sets `image`, which only a container executor (docker, kubernetes) uses, but it runs on the `local` executor in environment `dev`: add `executor: docker` to the job, its environment or the project"
    );
    // Resources alone are fine anywhere: the local executor does not enforce them.
    let text = with_job(&format!("{SHELL}\nresources: {{memory: 1Gi}}"));
    assert_eq!(check(text.as_bytes(), None).problems, []);
}

#[test]
fn container_values_are_checked_with_their_place() {
    let job = |extra: &str| {
        format!(
            "project: p\nexecutor: docker\njobs:\n  db:\n    events: [start]\n    commands: {{start: [x]}}\n{}",
            extra.lines().map(|l| format!("    {l}\n")).collect::<String>()
        )
    };
    assert_eq!(
        only(&job("image: Team/Tool")),
        "7:12: `image` of job `db` `Team/Tool` is not an image reference: the name part `Team` must be lowercase letters and digits, separated by `.`, `_` or `-`"
    );
    assert_eq!(
        only(&job("image: a\ndockerfile: Dockerfile")),
        "8:17: `dockerfile` of job `db` and `image` exclude each other: a job runs an image from a registry, or one built from its source folder"
    );
    assert_eq!(
        only(&job("dockerfile: ../Dockerfile")),
        "7:17: `dockerfile` of job `db` must stay inside the project folder: `..` is not allowed"
    );
    assert_eq!(
        only(&job("entrypoint: []")),
        "7:5: `entrypoint` of job `db` is empty: leave it out to use the image's own entrypoint"
    );
    assert_eq!(
        only(&job("resources: {cpu: 0}")),
        "7:22: `cpu` in `resources` of job `db`: CPU `0` is zero: give at least `1m`"
    );
    assert_eq!(
        problems(&job("resources: {cpu: lots, mem: 1Gi}")),
        [
            "7:22: `cpu` in `resources` of job `db`: CPU `lots` is not a quantity: write cores such as `1` or `0.5`, or millicores such as `500m`",
            "7:28: unknown key `mem` in `resources` of job `db`: expected one of cpu, memory",
        ]
    );
}
