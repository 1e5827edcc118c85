//! A job removed from `terrace.yaml` shows wherever a person decides what runs next:
//! `terrace plan --all` lists it per environment ("removed: its delete will run"), and
//! the summary of an approval names it, so the approver sees the delete they approve.

mod common;

use std::path::Path;

use common::TestProject;

fn project(marker: &Path, with_old: bool) -> String {
    let old = match with_old {
        true => format!(
            "  old:\n    events: [start, delete]\n    commands: {{start: 'true', delete: 'echo old-delete >> {}'}}\n",
            marker.display()
        ),
        false => String::new(),
    };
    format!(
        "project: p\nenvironments:\n  dev: {{}}\n  prod:\n    approval: required\njobs:\n  app:\n    events: [start]\n    \
         commands: {{start: 'true'}}\n{old}"
    )
}

fn marker_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn plan_all_lists_the_removed_jobs_of_each_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let p = TestProject::new(&project(&marker, true));
    p.run(&["up", "dev"]).ok();
    p.write("terrace.yaml", &project(&marker, false));

    let text = p.run(&["plan", "--all"]).ok().stdout;
    let row = text.lines().find(|l| l.starts_with("dev") && l.contains("old")).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("removed: its delete will run"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("prod") && l.contains("old")), "prod never applied it: {text}");
    assert!(text.contains("1 removed job(s) whose delete will run"), "{text}");

    let doc = p.json(&["plan", "--all"]);
    let dev = doc["environments"].as_array().unwrap().iter().find(|e| e["environment"] == "dev").unwrap();
    assert_eq!(dev["removed"][0]["job"], "old", "{doc:#}");
    assert_eq!(dev["removed"][0]["action"], "will_delete");
    assert_eq!(dev["removed"][0]["note"], "removed: its delete will run");
    assert_eq!(doc["removed"], 1);
    assert!(marker_lines(&marker).is_empty(), "a plan deletes nothing");
}

#[test]
fn an_approval_names_the_removed_jobs_whose_delete_it_lets_run() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let p = TestProject::new(&project(&marker, true));
    p.run(&["up", "prod"]).ok();
    p.run(&["approve", "prod#1"]).ok();
    p.write("terrace.yaml", &project(&marker, false));

    let asked = p.run(&["up", "prod"]).ok();
    assert!(
        asked.stdout.contains("start of `prod`; old: removed: its delete will run awaits approval"),
        "{}",
        asked.stdout
    );
    let pending = p.json(&["approvals"]);
    let summary = pending[0]["summary"].as_str().unwrap().to_string();
    assert_eq!(summary, "start of `prod`; old: removed: its delete will run");
    assert!(marker_lines(&marker).is_empty(), "nothing ran before the approval");
    let id = pending[0]["id"].as_str().unwrap().to_string();
    p.run(&["approve", &id]).ok();
    assert_eq!(marker_lines(&marker), ["old-delete"]);

    // `--keep-removed`: the approver is told it is forgotten, not deleted.
    p.write("terrace.yaml", &project(&marker, true));
    p.run(&["up", "prod"]).ok();
    let id = p.json(&["approvals"])[0]["id"].as_str().unwrap().to_string();
    p.run(&["approve", &id]).ok();
    p.write("terrace.yaml", &project(&marker, false));
    p.run(&["up", "prod", "--keep-removed"]).ok();
    let summary = p.json(&["approvals"])[0]["summary"].as_str().unwrap().to_string();
    assert_eq!(summary, "start of `prod`; old: removed: forgotten without its delete (--keep-removed)");
    // Approved, it does what the summary said: forgets, deletes nothing.
    let id = p.json(&["approvals"])[0]["id"].as_str().unwrap().to_string();
    let approved = p.run(&["approve", &id]).ok();
    assert!(approved.stdout.contains("old: removed and forgotten"), "{}", approved.stdout);
    assert_eq!(marker_lines(&marker), ["old-delete"], "no second delete");
    assert!(p.json(&["status", "prod"])["removed_jobs"].as_array().is_none_or(|r| r.is_empty()));
}
