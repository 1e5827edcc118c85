//! max_duration kills the whole process tree; max_restarts retries; every attempt keeps its log.

mod common;

use common::{TestProject, alive};

#[test]
fn max_duration_kills_a_tree_that_ignores_sigterm_and_marks_it_timed_out() {
    let tmp = tempfile::tempdir().unwrap();
    let pids = tmp.path().join("pids");
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  stuck:\n    events: [start]\n    max_duration: 1s\n    commands:\n      start: |\n        trap '' TERM\n        sh -c 'trap \"\" TERM; sleep 300' &\n        echo $! >> {pids}\n        echo $$ >> {pids}\n        echo waiting\n        while true; do sleep 1; done\n",
        pids = pids.display()
    );
    let p = TestProject::new(&yaml);
    let started = std::time::Instant::now();
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let job = TestProject::job_in(&out, "stuck");
    assert_eq!(job["state"], "timed_out");
    assert!(job["reason"].as_str().unwrap().contains("max_duration"), "{job}");
    assert!(started.elapsed().as_secs() < 60, "the kill took too long");
    let pids: Vec<u32> = std::fs::read_to_string(&pids).unwrap().lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(!alive(pid), "process {pid} of the job's tree survived");
    }
    let attempts = p.runs_of("stuck")[0]["attempts"].as_u64().unwrap();
    assert_eq!(attempts, 1);
}

#[test]
fn max_restarts_retries_and_each_attempt_keeps_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let counter = tmp.path().join("count");
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  flaky:\n    events: [start]\n    max_restarts: 2\n    commands:\n      start: |\n        echo x >> {c}\n        n=$(wc -l < {c})\n        echo \"attempt-output-$n\"\n        [ \"$n\" -ge 3 ]\n",
        c = counter.display()
    );
    let p = TestProject::new(&yaml);
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let run = TestProject::job_in(&out, "flaky")["run_id"].as_str().unwrap().to_string();
    assert_eq!(p.runs_of("flaky")[0]["attempts"], 3);
    for n in 1..=3 {
        let attempt = p.run(&["logs", &run, "--attempt", &n.to_string()]).ok().stdout;
        assert!(attempt.contains(&format!("attempt-output-{n}")), "attempt {n}: {attempt}");
        assert!(!attempt.contains(&format!("attempt-output-{}", n % 3 + 1)), "attempt {n}: {attempt}");
    }
    // one restart too few: the run fails after 2 attempts
    std::fs::write(&counter, "").unwrap();
    let yaml =
        std::fs::read_to_string(p.root().join("terrace.yaml")).unwrap().replace("max_restarts: 2", "max_restarts: 1");
    p.write("terrace.yaml", &yaml);
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    assert_eq!(TestProject::job_in(&out, "flaky")["state"], "failed");
    assert_eq!(p.runs_of("flaky")[0]["attempts"], 2);
}
