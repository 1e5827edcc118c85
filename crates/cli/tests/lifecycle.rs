//! up / down / destroy / run: order, state, force runs, exit codes, parallelism.

mod common;

use common::TestProject;

/// Three jobs in a chain plus one independent, each appending "<job> <event>" to a file.
fn chain(order_file: &str) -> String {
    let job = |name: &str, deps: &str| {
        format!(
            "  {name}:\n    depends_on: [{deps}]\n    events: [start, stop, delete]\n    commands:\n      start: echo \"{name} $TERRACE_EVENT\" >> {order_file}\n      stop: echo \"{name} $TERRACE_EVENT\" >> {order_file}\n      delete: echo \"{name} $TERRACE_EVENT\" >> {order_file}\n"
        )
    };
    format!(
        "project: shop\nenvironments:\n  dev: {{}}\njobs:\n{}{}{}",
        job("app", "db"),
        job("db", "net"),
        job("net", "")
    )
}

fn order(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    std::fs::write(path, "").unwrap();
    lines
}

#[test]
fn up_down_destroy_follow_the_dependency_order() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("order.txt");
    let p = TestProject::new(&chain(&file.display().to_string()));

    p.run(&["up", "dev"]).ok();
    assert_eq!(order(&file), ["net start", "db start", "app start"]);
    assert_eq!(p.json(&["status", "dev"])["state"], "running");

    p.run(&["down", "dev"]).ok();
    assert_eq!(order(&file), ["app stop", "db stop", "net stop"]);
    assert_eq!(p.json(&["status", "dev"])["state"], "stopped");

    // start fires on redeploy too
    p.run(&["up", "dev"]).ok();
    p.run(&["up", "dev"]).ok();
    assert_eq!(order(&file).len(), 6);

    let out = p.run(&["destroy", "dev"]).ok();
    assert!(out.stdout.contains("deleted"), "{}", out.stdout);
    assert_eq!(order(&file), ["app delete", "db delete", "net delete"]);
    assert_eq!(p.json(&["status", "dev"])["state"], "absent");
    let envs = p.json(&["status"]);
    assert_eq!(envs.as_array().unwrap().len(), 0);
    // history survives the environment
    assert!(p.json(&["runs", "--env", "dev"]).as_array().unwrap().len() >= 12);
}

#[test]
fn a_failed_job_skips_its_dependents_but_not_its_siblings() {
    let p = TestProject::new(
        "project: shop\nenvironments: {dev: {}}\njobs:\n  base:\n    events: [start]\n    commands: {start: 'echo broken >&2; exit 3'}\n  child:\n    depends_on: [base]\n    events: [start]\n    commands: {start: 'true'}\n  grandchild:\n    depends_on: [child]\n    events: [start]\n    commands: {start: 'true'}\n  sibling:\n    events: [start]\n    commands: {start: 'echo sibling ran'}\n",
    );
    let out = p.run(&["up", "dev", "--json"]).code(1);
    let o = out.json();
    let base = TestProject::job_in(&o, "base");
    assert_eq!(base["state"], "failed");
    assert_eq!(base["reason"], "exited with status 3");
    let child = TestProject::job_in(&o, "child");
    assert_eq!(child["state"], "skipped");
    assert!(child["reason"].as_str().unwrap().contains("dependency `base`"), "{child}");
    let grandchild = TestProject::job_in(&o, "grandchild");
    assert_eq!(grandchild["state"], "skipped");
    assert!(grandchild["reason"].as_str().unwrap().contains("`child`"), "{grandchild}");
    assert_eq!(TestProject::job_in(&o, "sibling")["state"], "succeeded");
    let status = p.json(&["status", "dev"]);
    assert_eq!(status["state"], "failed");
    assert_eq!(status["failed_job"], "base");
    let log = p.log(base["run_id"].as_str().unwrap());
    assert!(log.contains("stderr  broken"), "{log}");
}

#[test]
fn independent_jobs_run_at_the_same_time_up_to_the_limit() {
    // Each job announces itself and waits for the other: only concurrent runs both finish.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let job = |me: &str, other: &str| {
        format!(
            "  {me}:\n    events: [start]\n    max_duration: 20s\n    commands:\n      start: 'touch {dir}/{me}; for i in $(seq 1 100); do [ -e {dir}/{other} ] && exit 0; sleep 0.1; done; exit 1'\n"
        )
    };
    let yaml =
        format!("project: p\nenvironments: {{dev: {{}}, solo: {{}}}}\njobs:\n{}{}", job("a", "b"), job("b", "a"));
    let p = TestProject::new(&yaml);
    p.run(&["up", "dev", "--parallel", "2"]).ok();
    std::fs::remove_file(tmp.path().join("a")).unwrap();
    std::fs::remove_file(tmp.path().join("b")).unwrap();
    // With one at a time, the first job waits for the other in vain.
    let out = p.run(&["up", "solo", "--parallel", "1", "--json"]).code(1).json();
    assert_eq!(TestProject::job_in(&out, "a")["state"], "failed");
}

#[test]
fn force_run_runs_one_job_for_any_event_with_extra_arguments() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    commands:\n      start: ['sh', '-c', 'echo start-args: \"$@\"', 'sh']\n      delete: 'echo deleting'\n  b:\n    events: [start]\n    commands: {start: 'echo b'}\n",
    );
    let out = p.run(&["run", "a", "--env", "dev", "--event", "start", "--json", "--", "x", "y z"]).ok().json();
    assert_eq!(out["jobs"].as_array().unwrap().len(), 1);
    let run = TestProject::job_in(&out, "a")["run_id"].as_str().unwrap().to_string();
    assert!(p.log(&run).contains("start-args: x y z"));
    // delete is not in `events`, but a force run may pick any event
    let out = p.run(&["run", "a", "--env", "dev", "--event", "delete", "--json"]).ok().json();
    assert_eq!(TestProject::job_in(&out, "a")["state"], "succeeded");
    assert_eq!(p.runs_of("a")[0]["forced"], true);
    // unknown job or environment: usage errors
    let bad = p.run(&["run", "nope", "--env", "dev", "--event", "start"]).code(2);
    assert!(bad.stderr.contains("job `nope` is not defined"), "{}", bad.stderr);
    let bad = p.run(&["up", "staging"]).code(2);
    assert!(
        bad.stderr.contains("environment `staging` is not defined") && bad.stderr.contains("dev"),
        "{}",
        bad.stderr
    );
}

#[test]
fn usage_errors_exit_2_and_missing_project_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin()).arg("status").current_dir(tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no project file"));
    let out = std::process::Command::new(common::bin()).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = std::process::Command::new(common::bin()).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("terrace up dev"));
}

#[test]
fn a_failed_destroy_leaves_the_environment_failed_and_a_second_destroy_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("db-delete-works");
    let count = tmp.path().join("app-deletes");
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  db:\n    events: [start, delete]\n    commands:\n      start: 'true'\n      delete: 'test -e {flag} || {{ echo db is still in use >&2; exit 1; }}'\n  app:\n    depends_on: [db]\n    events: [start, delete]\n    commands:\n      start: 'true'\n      delete: 'echo x >> {count}'\n",
        flag = flag.display(),
        count = count.display()
    );
    let p = TestProject::new(&yaml);
    p.run(&["up", "dev"]).ok();
    let out = p.run(&["destroy", "dev"]).code(1);
    assert!(out.stdout.contains("db"), "{}", out.stdout);
    let status = p.json(&["status", "dev"]);
    assert_eq!(status["state"], "failed");
    assert_eq!(status["failed_job"], "db");
    assert!(status["reason"].as_str().unwrap().contains("exited with status 1"), "{status}");

    std::fs::write(&flag, "").unwrap();
    let out = p.run(&["destroy", "dev", "--json"]).ok().json();
    let app = TestProject::job_in(&out, "app");
    assert_eq!(app["state"], "skipped");
    assert!(app["reason"].as_str().unwrap().contains("already deleted"), "{app}");
    assert_eq!(TestProject::job_in(&out, "db")["state"], "succeeded");
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1, "app's delete ran once");
    assert_eq!(p.json(&["status", "dev"])["state"], "absent");
}

#[test]
fn logs_follow_streams_a_running_job_until_it_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let started = tmp.path().join("started");
    let yaml = format!(
        "project: p\nenvironments: {{dev: {{}}}}\njobs:\n  slow:\n    events: [start]\n    commands: {{start: 'echo first; echo started > {s}; sleep 1; echo last'}}\n",
        s = started.display()
    );
    let p = TestProject::new(&yaml);
    let mut up = p.start_up("dev", &started);
    let run = p.runs_of("slow")[0]["id"].as_str().unwrap().to_string();
    let followed = p.run(&["logs", &run, "--follow"]).ok().stdout;
    assert!(up.wait().unwrap().success());
    assert!(followed.contains("first") && followed.contains("last"), "{followed}");
    assert!(followed.contains("attempt 1 succeeded"), "{followed}");
}
