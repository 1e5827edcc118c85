//! A job removed from `terrace.yaml` is not forgotten: the environment keeps what it
//! applied, `plan` and `status` show it as removed, `up` and `destroy` run its delete
//! with its last applied definition before the jobs it depended on are touched, its
//! outputs go only when that delete succeeds, `terrace job delete` runs it alone, and
//! `--keep-removed` forgets it on purpose and says what it leaves behind.

mod common;

use std::path::Path;

use common::TestProject;

/// `old` depends on `base` and exports OLD_URL; its delete appends to `marker` with
/// its own variable and base's output, and fails while `flag` exists. `base` appends
/// `base-start` to the marker on each start.
fn with_old(marker: &Path, flag: &Path) -> String {
    format!(
        r#"project: p
environments: {{dev: {{}}}}
jobs:
  base:
    events: [start, delete]
    commands:
      start: 'echo base-start >> {m}; printf "{{\"BASE\": {{\"value\": \"b1\", \"sensitive\": false}}}}" > "$TERRACE_OUTPUT_FILE"'
      delete: 'echo base-delete >> {m}'
  old:
    depends_on: [base]
    events: [start, delete]
    variables: {{COLOR: blue}}
    commands:
      start: 'printf "{{\"OLD_URL\": {{\"value\": \"http://old\", \"sensitive\": false}}}}" > "$TERRACE_OUTPUT_FILE"'
      delete: 'if [ -e {f} ]; then echo refusing >&2; exit 3; fi; echo "old-delete color=$COLOR base=$BASE" >> {m}'
  app:
    depends_on: [base]
    events: [start]
    commands: {{start: 'echo "app sees OLD_URL=${{OLD_URL-unset}}"'}}
"#,
        m = marker.display(),
        f = flag.display()
    )
}

/// The same project without `old`.
fn without_old(marker: &Path) -> String {
    format!(
        r#"project: p
environments: {{dev: {{}}}}
jobs:
  base:
    events: [start, delete]
    commands:
      start: 'echo base-start >> {m}; printf "{{\"BASE\": {{\"value\": \"b1\", \"sensitive\": false}}}}" > "$TERRACE_OUTPUT_FILE"'
      delete: 'echo base-delete >> {m}'
  app:
    depends_on: [base]
    events: [start]
    commands: {{start: 'echo "app sees OLD_URL=${{OLD_URL-unset}}"'}}
"#,
        m = marker.display()
    )
}

struct Setup {
    p: TestProject,
    _tmp: tempfile::TempDir,
    marker: std::path::PathBuf,
    flag: std::path::PathBuf,
}

/// `dev` started with `old`, then `old` removed from the file.
fn applied_then_removed() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let (marker, flag) = (tmp.path().join("marker"), tmp.path().join("fail"));
    let p = TestProject::new(&with_old(&marker, &flag));
    p.run(&["up", "dev"]).ok();
    assert!(output_names(&p).contains(&"OLD_URL".to_string()));
    p.write("terrace.yaml", &without_old(&marker));
    Setup { p, _tmp: tmp, marker, flag }
}

fn output_names(p: &TestProject) -> Vec<String> {
    let all = p.json(&["outputs", "dev"]);
    all.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect()
}

fn marker_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

fn removed_in_status(p: &TestProject) -> Vec<String> {
    let status = p.json(&["status", "dev"]);
    status["removed_jobs"].as_array().unwrap().iter().map(|r| r["job"].as_str().unwrap().to_string()).collect()
}

#[test]
fn up_runs_a_removed_jobs_delete_with_its_old_definition_and_drops_its_outputs_only_when_it_succeeds() {
    let s = applied_then_removed();
    let p = &s.p;

    // plan and status name it.
    let plan = p.run(&["plan", "dev"]).ok();
    assert!(plan.stdout.contains("old: removed: its delete will run"), "{}", plan.stdout);
    let plan = p.json(&["plan", "dev"]);
    assert_eq!(plan["removed"][0]["job"], "old");
    assert_eq!(plan["removed"][0]["action"], "will_delete");
    assert_eq!(removed_in_status(p), ["old"]);
    let status = p.run(&["status", "dev"]).ok().stdout;
    assert!(
        status.lines().any(|l| l.starts_with("old")
            && l.contains("removed: its delete will run")
            && l.contains("applied by run dev#")),
        "{status}"
    );

    // A failing delete keeps the outputs (still exported) and the record.
    std::fs::write(&s.flag, "").unwrap();
    let failed = p.run(&["up", "dev"]).code(1);
    assert!(failed.stdout.contains("environment `dev` failed at job `old`"), "{}", failed.stdout);
    assert!(failed.stderr.contains("removed: its delete will run"), "{}", failed.stderr);
    assert!(
        failed.stdout.contains("old: removed from terrace.yaml: its delete did not succeed; its outputs stay exported"),
        "{}",
        failed.stdout
    );
    assert!(output_names(p).contains(&"OLD_URL".to_string()));
    assert_eq!(removed_in_status(p), ["old"]);
    let lines = marker_lines(&s.marker);
    assert_eq!(lines, ["base-start"], "base, which old depended on, was not touched before old's delete");

    // Once it succeeds: ran with the old command and variables, before base's start, and
    // its outputs are gone from `outputs` and from what later jobs get.
    std::fs::remove_file(&s.flag).unwrap();
    let up = p.run(&["up", "dev", "--json"]).ok().json();
    let old = TestProject::job_in(&up, "old");
    assert_eq!(old["state"], "succeeded");
    assert_eq!(up["removed"][0]["action"], "deleted");
    let lines = marker_lines(&s.marker);
    assert_eq!(lines, ["base-start", "old-delete color=blue base=b1", "base-start"]);
    assert!(!output_names(p).contains(&"OLD_URL".to_string()));
    let app = TestProject::job_in(&up, "app")["run_id"].as_str().unwrap().to_string();
    assert!(p.log(&app).contains("app sees OLD_URL=unset"), "{}", p.log(&app));
    let run = old["run_id"].as_str().unwrap().to_string();
    let shown = p.json(&["run", "show", &run]);
    assert_eq!(shown["event"], "delete", "{shown:#}");
    assert!(removed_in_status(p).is_empty());

    // Forgotten once deleted: the next up has nothing removed.
    let again = p.run(&["up", "dev", "--json"]).ok().json();
    assert!(again.get("removed").is_none(), "{again:#}");
    assert_eq!(marker_lines(&s.marker).iter().filter(|l| l.starts_with("old-delete")).count(), 1);
}

#[test]
fn destroy_runs_removed_jobs_deletes_and_deletes_the_environment_only_when_they_succeeded() {
    let s = applied_then_removed();
    let p = &s.p;
    std::fs::write(&s.flag, "").unwrap();
    let failed = p.run(&["destroy", "dev"]).code(1);
    assert!(failed.stdout.contains("environment `dev` failed at job `old`"), "{}", failed.stdout);
    let status = p.json(&["status", "dev"]);
    assert_eq!(status["state"], "failed");
    assert!(output_names(p).contains(&"OLD_URL".to_string()));
    assert!(!marker_lines(&s.marker).contains(&"base-delete".to_string()), "base waits for old's delete");

    std::fs::remove_file(&s.flag).unwrap();
    let done = p.run(&["destroy", "dev"]).ok();
    assert!(done.stdout.contains("environment `dev` deleted"), "{}", done.stdout);
    assert_eq!(marker_lines(&s.marker), ["base-start", "old-delete color=blue base=b1", "base-delete"]);
    assert_eq!(p.json(&["status", "dev"])["state"], "absent");
}

#[test]
fn job_delete_runs_one_jobs_delete_alone_removed_or_not() {
    let s = applied_then_removed();
    let p = &s.p;
    let out = p.run(&["job", "delete", "old", "--env", "dev"]).ok();
    assert!(out.stdout.contains("environment `dev` is running"), "{}", out.stdout);
    assert_eq!(marker_lines(&s.marker), ["base-start", "old-delete color=blue base=b1"]);
    assert!(!output_names(p).contains(&"OLD_URL".to_string()));
    assert!(removed_in_status(p).is_empty());

    // A job of the file: its delete alone, its outputs gone.
    p.run(&["job", "delete", "base", "--env", "dev"]).ok();
    assert_eq!(marker_lines(&s.marker).last().unwrap(), "base-delete");
    assert!(output_names(p).is_empty());

    let unknown = p.run(&["job", "delete", "nope", "--env", "dev"]).code(2);
    assert!(unknown.stderr.contains("job `nope` is not defined"), "{}", unknown.stderr);
    // Deleted already: nothing removed is left to delete.
    let again = p.run(&["job", "delete", "old", "--env", "dev"]).code(2);
    assert!(again.stderr.contains("job `old` is not defined"), "{}", again.stderr);
}

#[test]
fn keep_removed_forgets_on_purpose_and_says_what_it_leaves_behind() {
    let s = applied_then_removed();
    let p = &s.p;
    let wrong = p.run(&["down", "dev", "--keep-removed"]).code(2);
    assert!(wrong.stderr.contains("--keep-removed goes with"), "{}", wrong.stderr);

    let up = p.run(&["up", "dev", "--keep-removed"]).ok();
    assert!(
        up.stdout.contains(
            "old: removed and forgotten: its delete did not run, whatever it made is left behind; outputs dropped: \
             OLD_URL"
        ),
        "{}",
        up.stdout
    );
    assert!(!marker_lines(&s.marker).iter().any(|l| l.starts_with("old-delete")));
    assert!(!output_names(p).contains(&"OLD_URL".to_string()));
    assert!(removed_in_status(p).is_empty());
}
