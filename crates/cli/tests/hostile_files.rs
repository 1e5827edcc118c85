//! Hostile or broken files around a run (issue #10): an output file that is a FIFO, one
//! too big, values too big, a secret too big, symlinks out of the project, a working copy
//! that cannot be made, a data folder inside the source, a relative data folder. Each
//! fails that job cleanly (or works), names the limit or the path, and leaves the
//! environment usable.

mod common;

use std::time::{Duration, Instant};

use common::TestProject;

/// Runs `terrace ARGS`, failing the test (not hanging it) past `limit`.
fn run_within(p: &TestProject, args: &[&str], limit: Duration) -> common::Run {
    let mut child = p
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn terrace");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("terrace {args:?} hung:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    common::Run::from_output(child.wait_with_output().expect("output"))
}

fn reason(out: &serde_json::Value, job: &str) -> String {
    TestProject::job_in(out, job)["reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_fifo_as_the_output_file_fails_the_run_and_never_hangs_it() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  a:
    events: [start]
    max_duration: 10m
    commands: {start: 'rm -f "$TERRACE_OUTPUT_FILE"; mkfifo "$TERRACE_OUTPUT_FILE"; echo made'}
  b:
    events: [start]
    commands: {start: 'true'}
"#,
    );
    let out = run_within(&p, &["up", "dev", "--json"], Duration::from_secs(120)).code(1).json();
    let why = reason(&out, "a");
    assert!(why.contains("is a FIFO, not a regular file; nothing was read"), "{why}");
    assert!(!why.contains("/work/"), "the error must not cite the removed work folder: {why}");
    assert_eq!(TestProject::job_in(&out, "b")["state"], "succeeded");
    // The environment is not left locked: the next event runs.
    let again = run_within(&p, &["up", "dev", "--json"], Duration::from_secs(120)).code(1).json();
    assert_eq!(TestProject::job_in(&again, "b")["state"], "succeeded");
}

#[test]
fn sizes_past_their_limits_are_refused_naming_the_limit() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  huge-file:
    events: [start]
    commands: {start: 'head -c 2000000 /dev/zero > "$TERRACE_OUTPUT_FILE"'}
  big-value:
    events: [start]
    commands:
      start: |
        v=$(head -c 140000 /dev/zero | tr '\0' v)
        printf '{"BIG": {"value": "%s", "sensitive": false}}' "$v" > "$TERRACE_OUTPUT_FILE"
  big-secret:
    events: [start]
    variables: {CERT: {value: "${env:TERRACE_TEST_BIG}", secret: true}}
    commands: {start: 'echo never'}
  later:
    depends_on: [ok]
    events: [start]
    commands: {start: 'echo "later sees ${BIG-no big value}"'}
  ok:
    events: [start]
    commands: {start: 'true'}
"#,
    );
    let big = "c".repeat(70_000);
    let out = p.command(&["up", "dev", "--json"]).env("TERRACE_TEST_BIG", &big).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = reason(&out, "huge-file");
    assert!(why.contains("2000000 bytes, over the limit of 1 MiB"), "{why}");
    let kept = why.split_once("the file is kept as ").map(|(_, p)| p.trim().to_string()).unwrap();
    assert_eq!(std::fs::metadata(&kept).unwrap().len(), 2_000_000, "kept whole, as the job wrote it");
    let why = reason(&out, "big-value");
    assert!(why.contains("`BIG` holds 140000 bytes, over the limit of 64 KiB"), "{why}");
    let why = reason(&out, "big-secret");
    assert!(why.contains("`CERT` holds 70000 bytes, over the limit of 64 KiB"), "{why}");
    assert!(!why.contains("ccccc"), "{why}");
    // Nothing of the refused values reaches later jobs (no "Argument list too long").
    let later = p.log(TestProject::job_in(&out, "later")["run_id"].as_str().unwrap());
    assert!(later.contains("later sees no big value"), "{later}");
}

#[test]
fn files_outside_the_project_are_refused_by_name() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("shadow"), "root:$6$hash").unwrap();
    std::fs::create_dir_all(outside.path().join("dir")).unwrap();
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  params:
    source: app
    input: params.json
    events: [start]
    commands: {start: 'cat "$TERRACE_JOB_INPUT"'}
  inner-link:
    source: leaky
    events: [start]
    commands: {start: 'cat secret'}
  sibling:
    source: app
    events: [start]
    commands: {start: 'echo fine'}
"#,
    );
    p.write("app/run.sh", "#!/bin/sh\n").write("leaky/ok.txt", "ok");
    std::os::unix::fs::symlink(outside.path().join("shadow"), p.root().join("params.json")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("shadow"), p.root().join("leaky/secret")).unwrap();
    let run = p.run(&["up", "dev", "--json"]).code(1);
    assert!(!run.stdout.contains("root:$6$") && !run.stderr.contains("root:$6$"), "{}", run.stderr);
    let out = run.json();
    let why = reason(&out, "params");
    assert!(why.starts_with("parameters file `params.json` resolves to "), "{why}");
    assert!(why.contains("outside the project folder"), "{why}");
    let why = reason(&out, "inner-link");
    assert!(
        why.contains("`secret` is a symbolic link to ") && why.contains("outside the job's source folder"),
        "{why}"
    );
    assert_eq!(TestProject::job_in(&out, "sibling")["state"], "succeeded");
    assert_eq!(out["environment_state"], "failed");
    assert!(p.json(&["runs"]).as_array().unwrap().iter().all(|r| r["state"] != "running" && r["state"] != "queued"));
}

#[test]
fn a_source_link_to_a_folder_works_and_the_data_folder_is_never_copied() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  linked:
    source: current
    events: [start]
    commands: {start: 'cat version.txt'}
  whole:
    events: [start]
    commands: {start: 'echo "copied: $(find . -name master.key -o -name terrace.db | wc -l) $(find . -type d | wc -l)"'}
"#,
    );
    p.write("releases/v2/version.txt", "v2");
    std::os::unix::fs::symlink("releases/v2", p.root().join("current")).unwrap();
    // The data folder inside the source (`source: .`), under a name nothing skips.
    let data = p.root().join("state-data");
    let out = p.command(&["up", "dev", "--json"]).env("TERRACE_DATA", &data).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let o: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logs = |job: &str| {
        let run = TestProject::job_in(&o, job)["run_id"].as_str().unwrap().to_string();
        let out = p.command(&["logs", &run]).env("TERRACE_DATA", &data).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(logs("linked").contains("v2"));
    let whole = logs("whole");
    assert!(whole.contains("copied: 0 "), "the data folder was copied: {whole}");
}

#[test]
fn a_relative_data_folder_works_for_a_terraform_parameters_file() {
    common::tools::require_terraform();
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  net:
    template: terraform
    source: net
    input: net/params.tfvars.json
    events: [start]
"#,
    );
    p.write("net/main.tf", "variable \"cidr\" { type = string }\noutput \"cidr\" { value = var.cidr }\n")
        .write("net/params.tfvars.json", r#"{"cidr": "10.1.0.0/16"}"#);
    for args in [vec!["--data", "rel-data", "up", "dev"], vec!["up", "dev"]] {
        let mut c = p.command(&args);
        if args[0] != "--data" {
            c.env("TERRACE_DATA", "env-rel-data");
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(p.root().join("rel-data/terrace.db").is_file() && p.root().join("env-rel-data/terrace.db").is_file());
}
