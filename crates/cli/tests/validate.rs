//! `terrace validate` reports every problem with file, line and column; `terrace schema`.

mod common;

use common::TestProject;

#[test]
fn validate_reports_every_problem_at_once_with_positions() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    comand: {start: 'true'}\n    max_duration: soon\n  b:\n    depends_on: [c, nope]\n    events: [start]\n    commands: {start: 'true'}\n  c:\n    depends_on: [b]\n    events: [start]\n    commands: {start: 'true'}\n",
    );
    let out = p.run(&["validate"]).code(2);
    let e = &out.stderr;
    assert!(e.contains("terrace.yaml:6:5:") && e.contains("comand") && e.contains("commands"), "{e}");
    assert!(e.contains("terrace.yaml:7:") && e.contains("soon"), "{e}");
    assert!(e.contains("terrace.yaml:9:") && e.contains("nope"), "{e}");
    assert!(e.contains("b → c → b") || e.contains("c → b → c"), "{e}");
    let json = p.run(&["validate", "--json"]).code(2).json();
    assert_eq!(json["valid"], false);
    assert!(json["problems"].as_array().unwrap().len() >= 4, "{json}");
    // every other command refuses the same file with the same report
    let up = p.run(&["up", "dev"]).code(2);
    assert!(up.stderr.contains("comand"), "{}", up.stderr);
}

#[test]
fn validate_accepts_the_quickstart_and_schema_is_json() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/terrace.yaml");
    let out = std::process::Command::new(common::bin()).args(["validate", "--project"]).arg(&root).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let schema = std::process::Command::new(common::bin()).arg("schema").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert!(v["properties"]["jobs"].is_object(), "{v}");
}

#[test]
fn validate_reports_files_the_project_names_but_that_are_missing() {
    let p = TestProject::new(
        "project: p\njobs:\n  a:\n    source: nowhere\n    input: params.json\n    events: [start]\n    commands: {start: 'true'}\n  b:\n    template: cloudformation\n    events: [start]\n    template_file: stack.yaml\n",
    );
    let out = p.run(&["validate"]).code(2);
    assert!(out.stderr.contains("job `a`: source folder `nowhere` does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("job `a`: parameters file `params.json` does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("job `b`: template_file `stack.yaml` does not exist"), "{}", out.stderr);
    p.write("nowhere/x", "").write("params.json", "{}").write("stack.yaml", "");
    p.run(&["validate"]).ok();
}

#[test]
fn executors_are_chosen_by_name_and_unknown_names_are_refused_where_written() {
    let p = TestProject::new(
        "project: p\nexecutor: local\nenvironments:\n  dev: {executor: local}\n  prod: {executor: nomad}\njobs:\n  a:\n    executor: dockerr\n    events: [start]\n    commands: {start: 'echo ran'}\n",
    );
    let out = p.run(&["validate"]).code(2);
    let e = &out.stderr;
    assert!(
        e.contains(
            "terrace.yaml:5:20: unknown executor `nomad` in `executor` of environment `prod`: expected one of local"
        ),
        "{e}"
    );
    assert!(e.contains("terrace.yaml:8:15: unknown executor `dockerr` in `executor` of job `a`"), "{e}");
    assert!(!e.contains(":2:"), "`local` is known: {e}");
    p.write(
        "terrace.yaml",
        "project: p\nexecutor: local\nenvironments:\n  dev: {executor: local}\njobs:\n  a:\n    executor: local\n    events: [start]\n    commands: {start: 'echo ran'}\n",
    );
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "a")["run_id"].as_str().unwrap());
    assert!(log.contains("ran"), "{log}");
}

/// One pass reports a number given as a command and a missing source folder, each with its
/// line and column, in Terrace's words (no library wording).
#[test]
fn validate_reports_a_number_as_command_and_a_missing_source_in_one_pass() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    source: gone\n    events: [start]\n    commands: {start: 42}\n",
    );
    let out = p.run(&["validate"]).code(2);
    assert!(out.stderr.contains("terrace.yaml:5:13: job `a`: source folder `gone` does not exist"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("terrace.yaml:7:23: `commands.start` of job `a` must be a command string or a list of strings"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("2 problems found"), "{}", out.stderr);
    for library in ["invalid type", "expected struct", "missing field", "serde"] {
        assert!(!out.stderr.contains(library), "{library}: {}", out.stderr);
    }
}
