//! `on_failure` of an environment, through the real binary in local mode with a real git
//! repository (`file://`) and real Terraform: `rollback` re-applies the last commit that
//! applied successfully (the job checked out at that commit, the run linked to the failed
//! pipeline in `runs --json` and the audit log), a rollback that fails stops there;
//! `destroy` runs the delete event; `none` leaves the environment failed.

mod common;

use common::TestProject;
use common::git::Upstream;
use common::tools::require_terraform;
use serde_json::Value;

fn main_tf(size: &str, fail: bool) -> String {
    // A new resource whose provisioner fails: Terraform's apply itself fails.
    let broken = if fail {
        "resource \"terraform_data\" \"broken\" {\n  provisioner \"local-exec\" {\n    command = \"exit 3\"\n  }\n}\n"
    } else {
        ""
    };
    format!(
        "resource \"terraform_data\" \"net\" {{\n  input = \"{size}\"\n}}\n{broken}output \"size\" {{\n  value = \
         terraform_data.net.output\n}}\n"
    )
}

fn project(upstream: &Upstream) -> TestProject {
    require_terraform();
    let url = upstream.url();
    let p = TestProject::new(&format!(
        r#"project: rb
environments:
  prod:
    on_failure: rollback
jobs:
  net:
    template: terraform
    source: {{git: "{url}", ref: main, path: net}}
    events: [start, delete]
  check:
    depends_on: [net]
    events: [start]
    commands: {{start: 'echo "size=$size"; test ! -e "{root}/broken"'}}
"#,
        root = "ROOT"
    ));
    let yaml = std::fs::read_to_string(p.root().join("terrace.yaml")).unwrap();
    p.write("terrace.yaml", &yaml.replace("ROOT", &p.root().display().to_string()));
    p
}

fn starts(p: &TestProject, job: &str) -> Vec<Value> {
    p.runs_of(job).into_iter().filter(|r| r["event"] == "start").collect()
}

fn size(p: &TestProject) -> String {
    let out = p.json(&["outputs", "prod"]);
    out.as_array().unwrap().iter().find(|o| o["name"] == "size").unwrap()["value"].as_str().unwrap().to_string()
}

#[test]
fn a_failed_start_rolls_back_to_the_last_good_commit_and_a_failed_rollback_stops() {
    let upstream = Upstream::new();
    let c1 = upstream.commit("main", &[("net/main.tf", &main_tf("one", false))], "one");
    let p = project(&upstream);
    p.run(&["up", "prod"]).ok();
    assert_eq!(size(&p), "one");

    // Commit two applies, then a later job fails: the rollback re-applies commit one, and
    // fails the same way (the later job still fails): it stops there, no loop.
    let c2 = upstream.commit("main", &[("net/main.tf", &main_tf("two", false))], "two");
    p.write("broken", "");
    let failed = p.run(&["up", "prod", "--json"]).code(1).json();
    assert_eq!(failed["failed_job"], "check");
    assert_eq!(failed["on_failure"]["action"], "rollback");
    let rollback = &failed["on_failure"]["outcome"];
    assert_eq!(rollback["inputs"]["on_failure_of"], failed["pipeline_id"], "{failed:#}");
    assert_eq!(rollback["inputs"]["command"], "rollback");
    assert_eq!(rollback["failed_job"], "check", "the rollback failed too");
    assert!(rollback.get("on_failure").is_none(), "a failed rollback leads to nothing more");
    let nets = starts(&p, "net");
    assert_eq!(nets.len(), 3, "the first start, the failed one, its rollback: {nets:#?}");
    assert_eq!(nets[0]["commit"], c1.as_str(), "the rollback checked out the last good commit");
    assert_eq!(nets[0]["inputs"]["on_failure_of"], failed["pipeline_id"]);
    assert_eq!(nets[1]["commit"], c2.as_str());
    assert_eq!(size(&p), "one");
    let status = p.json(&["status", "prod"]);
    assert_eq!(status["state"], "failed", "{status:#}");

    // Commit two applies cleanly now; commit three fails in Terraform itself: the rollback
    // goes back to two, the newest good commit, and the environment runs again.
    std::fs::remove_file(p.root().join("broken")).unwrap();
    p.run(&["up", "prod"]).ok();
    assert_eq!(size(&p), "two");
    upstream.commit("main", &[("net/main.tf", &main_tf("three", true))], "three");
    let run = p.run(&["up", "prod"]).code(1);
    assert!(run.stdout.contains("on_failure rollback to commit"), "{}", run.stdout);
    assert!(run.stdout.contains("environment `prod` is running"), "{}", run.stdout);
    let nets = starts(&p, "net");
    assert_eq!(nets[0]["commit"], c2.as_str(), "rolled back to two: {:#}", nets[0]);
    assert_eq!(nets[0]["state"], "succeeded");
    assert_eq!(size(&p), "two");
    assert_eq!(p.json(&["status", "prod"])["state"], "running");
}

const DESTROY: &str = r#"project: eph
environments:
  preview:
    on_failure: destroy
  keep:
    on_failure: none
jobs:
  app:
    events: [start, delete]
    commands: {start: 'echo up; exit 4', delete: 'echo "deleted $TERRACE_ENVIRONMENT" >> "$MARKS"'}
"#;

#[test]
fn destroy_runs_the_delete_event_and_none_leaves_the_environment_failed() {
    let p = TestProject::new(DESTROY);
    let marks = p.root().join("marks");
    p.write(
        "terrace.yaml",
        &DESTROY.replace("project: eph\n", &format!("project: eph\nvariables: {{MARKS: {}}}\n", marks.display())),
    );
    let failed = p.run(&["up", "preview", "--json"]).code(1).json();
    assert_eq!(failed["on_failure"]["action"], "destroy");
    assert_eq!(failed["on_failure"]["outcome"]["environment_state"], "deleted", "{failed:#}");
    assert_eq!(failed["on_failure"]["outcome"]["inputs"]["on_failure_of"], failed["pipeline_id"]);
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "deleted preview\n");
    let audit = p.json(&["audit"]);
    let entry = audit.as_array().unwrap().iter().find(|a| a["action"] == "pipeline.on_failure").expect("audited");
    let detail: Value = serde_json::from_str(entry["detail"].as_str().unwrap()).unwrap();
    assert_eq!((detail["action"].as_str(), detail["succeeded"].as_bool()), (Some("destroy"), Some(true)), "{entry}");
    assert_eq!(detail["on_failure_of"], failed["pipeline_id"]);

    let kept = p.run(&["up", "keep", "--json"]).code(1).json();
    assert!(kept.get("on_failure").is_none(), "{kept:#}");
    assert_eq!(p.json(&["status", "keep"])["state"], "failed");
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "deleted preview\n", "no delete in `keep`");
}
