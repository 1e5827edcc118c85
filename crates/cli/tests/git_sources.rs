//! Jobs whose `source` is a git repository, on real repositories (bare, `file://`):
//! each run checks out the exact commit its ref names when the pipeline opens, records it
//! (`runs --json` `commit`) and exports it as TERRACE_COMMIT; a push during a pipeline
//! does not change what it runs; errors name the source and the rule.

mod common;

use common::TestProject;
use common::git::{Upstream, git};

const RUN_SH: &str =
    "#!/bin/sh\necho \"version=$(cat version) commit=$TERRACE_COMMIT git=$(test -e .git && echo yes || echo no)\"\n";

fn project(upstream: &Upstream, extra_jobs: &str) -> TestProject {
    TestProject::new(&format!(
        r#"project: gitsrc
environments: {{dev: {{}}}}
jobs:
  app:
    source: {{git: "{url}", ref: main, path: app}}
    events: [start]
    commands: {{start: ./run.sh}}
{extra_jobs}"#,
        url = upstream.url()
    ))
}

fn run_of(p: &TestProject, job: &str) -> serde_json::Value {
    p.runs_of(job).into_iter().next().unwrap_or_else(|| panic!("no run of {job}"))
}

#[test]
fn each_run_checks_out_the_commit_its_ref_names_and_records_it() {
    let upstream = Upstream::new();
    let c1 = upstream.commit("main", &[("app/run.sh", RUN_SH), ("app/version", "1"), ("README", "x")], "one");
    let p = project(&upstream, "");
    p.run(&["validate"]).ok();

    p.run(&["up", "dev"]).ok();
    let run = run_of(&p, "app");
    assert_eq!(run["commit"], c1.as_str(), "{run:#}");
    let log = p.log(run["id"].as_str().unwrap());
    assert!(log.contains(&format!("version=1 commit={c1} git=no")), "{log}");

    let c2 = upstream.commit("main", &[("app/version", "2")], "two");
    p.run(&["up", "dev"]).ok();
    let run = run_of(&p, "app");
    assert_eq!(run["commit"], c2.as_str());
    let log = p.log(run["id"].as_str().unwrap());
    assert!(log.contains(&format!("version=2 commit={c2} git=no")), "{log}");

    // One mirror for the repository, kept in the data folder between runs.
    let mirrors: Vec<_> = std::fs::read_dir(p.data.join("mirrors"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir() && e.file_name().len() == 64)
        .collect();
    assert_eq!(mirrors.len(), 1);

    // A tag and a commit id name exact commits too.
    git(&upstream.work, &["tag", "v1", &c1]);
    git(&upstream.work, &["push", "--quiet", "origin", "v1"]);
    for reference in ["v1", &c1[..12]] {
        let yaml = std::fs::read_to_string(p.root().join("terrace.yaml")).unwrap();
        p.write("terrace.yaml", &yaml.replace("ref: main", &format!("ref: {reference}")));
        p.run(&["up", "dev"]).ok();
        assert_eq!(run_of(&p, "app")["commit"], c1.as_str(), "{reference}");
        p.write("terrace.yaml", &yaml);
    }
}

#[test]
fn a_push_during_a_pipeline_does_not_change_what_it_runs() {
    let upstream = Upstream::new();
    let c1 = upstream.commit("main", &[("app/run.sh", RUN_SH), ("app/version", "1")], "one");
    // `app` pushes a new commit while the pipeline runs; `after` still runs the first one.
    let p = project(
        &upstream,
        &format!(
            r#"    variables:
      WORK: "{work}"
      GIT_AUTHOR_NAME: Dev
      GIT_AUTHOR_EMAIL: dev@example.com
      GIT_COMMITTER_NAME: Dev
      GIT_COMMITTER_EMAIL: dev@example.com
      GIT_CONFIG_GLOBAL: /dev/null
  after:
    source: {{git: "{url}", ref: main, path: app}}
    depends_on: [app]
    events: [start]
    commands: {{start: ./run.sh}}
"#,
            work = upstream.work.display(),
            url = upstream.url()
        ),
    );
    let yaml = std::fs::read_to_string(p.root().join("terrace.yaml")).unwrap();
    p.write(
        "terrace.yaml",
        &yaml.replace(
            "commands: {start: ./run.sh}\n    variables:",
            "commands: {start: 'echo 2 > \"$WORK/app/version\" && git -C \"$WORK\" commit -qam two && git -C \"$WORK\" push -q origin HEAD:main'}\n    variables:",
        ),
    );
    p.run(&["up", "dev"]).ok();
    let pushed = git(&upstream.work, &["rev-parse", "HEAD"]);
    assert_ne!(pushed, c1, "the job pushed");
    for job in ["app", "after"] {
        assert_eq!(run_of(&p, job)["commit"], c1.as_str(), "{job} runs the pinned commit");
    }
    let log = p.log(run_of(&p, "after")["id"].as_str().unwrap());
    assert!(log.contains(&format!("version=1 commit={c1}")), "{log}");
}

#[test]
fn a_source_that_cannot_be_checked_out_fails_its_run_with_the_reason() {
    let upstream = Upstream::new();
    upstream.commit("main", &[("app/run.sh", RUN_SH), ("app/version", "1")], "one");
    let p = project(&upstream, "");
    let yaml = std::fs::read_to_string(p.root().join("terrace.yaml")).unwrap();

    p.write("terrace.yaml", &yaml.replace("ref: main", "ref: nope"));
    let out = p.run(&["up", "dev"]).code(1);
    let reason = run_of(&p, "app")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("`nope` is not a branch, tag or commit") && reason.contains("main"), "{reason}");
    assert!(out.stdout.contains("nope") || out.stderr.contains("nope"), "{}{}", out.stdout, out.stderr);

    p.write("terrace.yaml", &yaml.replace("path: app", "path: missing"));
    p.run(&["up", "dev"]).code(1);
    let reason = run_of(&p, "app")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("path `missing` does not exist"), "{reason}");

    p.write("terrace.yaml", &yaml.replace("path: app}", "path: app, token: \"${secret:GIT_TOKEN}\"}"));
    p.run(&["up", "dev"]).code(1);
    let reason = run_of(&p, "app")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("`token` names secret `GIT_TOKEN`, which is not set"), "{reason}");

    // A URL with credentials in it is refused before anything runs, without showing them.
    p.write("terrace.yaml", &yaml.replace(&upstream.url(), "https://me:hunter22@example.com/r.git"));
    let out = p.run(&["validate"]).code(2);
    assert!(out.stderr.contains("holds credentials") && !out.stderr.contains("hunter22"), "{}", out.stderr);
}
