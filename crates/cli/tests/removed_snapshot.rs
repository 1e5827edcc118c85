//! A removed job's delete runs from the source its last successful start applied: the
//! folder's content is kept (a compressed, sealed snapshot, once per content) and
//! restored into the delete's working copy, so the delete runs the old scripts even when
//! the folder changed or is gone.

mod common;

use std::path::Path;

use common::TestProject;

/// `old` runs from the folder `old-src`, with a parameters file inside it; its delete
/// runs the folder's `down.sh`, which appends its version and the parameters to `marker`.
fn with_old(marker: &Path) -> String {
    format!(
        r#"project: p
environments: {{dev: {{}}}}
jobs:
  keep:
    events: [start]
    commands: {{start: 'true'}}
  old:
    source: old-src
    input: old-src/params.txt
    events: [start, delete]
    variables: {{MARKER: "{m}"}}
    commands:
      start: 'sh up.sh'
      delete: 'sh down.sh'
"#,
        m = marker.display()
    )
}

const WITHOUT_OLD: &str = r#"project: p
environments: {dev: {}}
jobs:
  keep:
    events: [start]
    commands: {start: 'true'}
"#;

fn write_source(p: &TestProject, version: &str) {
    p.write("old-src/up.sh", &format!("echo \"up {version}\" >> \"$MARKER\"\n"));
    p.write(
        "old-src/down.sh",
        &format!("echo \"down {version} params=$(cat \"$TERRACE_JOB_INPUT\")\" >> \"$MARKER\"\n"),
    );
    p.write("old-src/params.txt", &format!("p-{version}"));
}

fn marker_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

fn delete_log(p: &TestProject, up: &serde_json::Value) -> String {
    let old = TestProject::job_in(up, "old");
    assert_eq!(old["state"], "succeeded", "{up:#}");
    p.log(old["run_id"].as_str().unwrap())
}

#[test]
fn a_removed_jobs_delete_runs_from_its_snapshot_when_its_folder_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let p = TestProject::new(&with_old(&marker));
    write_source(&p, "v1");
    p.run(&["up", "dev"]).ok();
    // A redeploy of the same content keeps the one snapshot it has.
    p.run(&["up", "dev"]).ok();
    assert_eq!(marker_lines(&marker), ["up v1", "up v1"]);

    p.write("terrace.yaml", WITHOUT_OLD);
    std::fs::remove_dir_all(p.root().join("old-src")).unwrap();
    let up = p.run(&["up", "dev", "--json"]).ok().json();
    assert_eq!(marker_lines(&marker), ["up v1", "up v1", "down v1 params=p-v1"], "the old script ran");
    let log = delete_log(&p, &up);
    assert!(log.contains("source: restored from the snapshot its last successful start kept (sha256 "), "{log}");
    assert!(TestProject::job_in(&up, "keep")["state"] == "succeeded", "{up:#}");
}

#[test]
fn a_removed_jobs_delete_runs_the_source_it_applied_not_the_folder_as_it_is_now() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let p = TestProject::new(&with_old(&marker));
    write_source(&p, "v1");
    p.run(&["up", "dev"]).ok();
    write_source(&p, "v2");
    p.run(&["up", "dev"]).ok();
    // Changed after its last start: the delete runs what v2's start applied.
    write_source(&p, "v3");
    p.write("terrace.yaml", WITHOUT_OLD);
    p.run(&["up", "dev"]).ok();
    assert_eq!(marker_lines(&marker), ["up v1", "up v2", "down v2 params=p-v2"]);
}

#[test]
fn job_delete_runs_a_removed_jobs_delete_from_its_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let p = TestProject::new(&with_old(&marker));
    write_source(&p, "v1");
    p.run(&["up", "dev"]).ok();
    p.write("terrace.yaml", WITHOUT_OLD);
    std::fs::remove_dir_all(p.root().join("old-src")).unwrap();
    let out = p.run(&["job", "delete", "old", "--env", "dev", "--json"]).ok().json();
    assert_eq!(marker_lines(&marker), ["up v1", "down v1 params=p-v1"]);
    let log = delete_log(&p, &out);
    assert!(log.contains("removed: its delete will run"), "{log}");
    assert!(log.contains("source: restored from the snapshot"), "{log}");
}
