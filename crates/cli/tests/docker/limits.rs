//! Resources and limits on containers: the CPU quota and memory limit the job gets (the
//! template's defaults when it sets none), a job killed for memory, max_duration.

use crate::common::TestProject;
use crate::support::{leftovers, shell_image};

fn project(job: &str) -> TestProject {
    let yaml = format!(
        "project: lim\nexecutor: docker\nenvironments:\n  dev: {{}}\njobs:\n  j:\n    image: {}\n    entrypoint: [/bin/sh, -c]\n    events: [start]\n{}",
        shell_image(),
        job.lines().map(|l| format!("    {l}\n")).collect::<String>()
    );
    TestProject::new(&yaml)
}

#[test]
fn cpu_and_memory_limits_are_the_jobs_else_the_templates() {
    let p = project(
        "resources: {cpu: 250m}\ncommands:\n  start: ['echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us) memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)']",
    );
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "j")["run_id"].as_str().unwrap());
    // 250m of a 100 ms period; memory: the shell template's default, 512Mi.
    assert!(log.contains(&format!("quota=25000 period=100000 memory={}", 512u64 << 20)), "{log}");
}

#[test]
fn a_job_killed_for_memory_fails_saying_so() {
    let p = project(
        "resources: {memory: 16Mi}\ncommands:\n  start: ['echo filling; x=$(head -c 64000000 /dev/zero | tr \"\\0\" a); echo survived']",
    );
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let job = TestProject::job_in(&out, "j");
    assert_eq!(job["state"], "failed");
    assert_eq!(job["reason"], "out of memory (limit 16Mi)", "{job}");
    assert_eq!(leftovers(&p), Vec::<String>::new());
}

/// Exit status 137 with a memory limit is not by itself an out-of-memory kill: the
/// daemon's event log is asked (it may tell the exit before the OOM), and here has none.
#[test]
fn a_job_killed_by_a_signal_of_its_own_is_not_called_out_of_memory() {
    let p = project("resources: {memory: 16Mi}\ncommands:\n  start: ['sh -c \"kill -9 \\$\\$\"; exit $?']");
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let job = TestProject::job_in(&out, "j");
    assert_eq!(job["state"], "failed");
    assert_eq!(job["reason"], "exited with status 137", "{job}");
    assert_eq!(leftovers(&p), Vec::<String>::new());
}

#[test]
fn max_duration_stops_the_container() {
    let p =
        project("max_duration: 1s\ncommands:\n  start: ['trap \"\" TERM; echo waiting; sleep 300 & wait; sleep 300']");
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let job = TestProject::job_in(&out, "j");
    assert_eq!(job["state"], "timed_out", "{job}");
    assert_eq!(leftovers(&p), Vec::<String>::new(), "the container outlived its max_duration");
}
