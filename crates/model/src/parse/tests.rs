//! Rule-by-rule tests of the parser: a full file round-trips, and each rule reports its
//! message at the right line and column.

use std::collections::BTreeMap;
use std::time::Duration;

use indexmap::IndexMap;

use super::*;
use crate::event::Event;
use crate::project::{Command, EnvironmentDef, Job, TemplateKind, VariableDef};

const FULL: &str = r#"# a complete project
project: shop
variables:
  REGION: eu-west-1
  DB_PASSWORD: { value: "${env:DB_PASSWORD}", secret: true }
environments:
  dev: {}
  stage:
  prod:
    variables: { REGION: us-east-1 }
jobs:
  base:
    events: [start]
    commands: { start: echo base }
  network:
    template: shell
    source: infra/network
    events: [start, stop, delete]
    commands:
      start: ./apply.sh
      stop: ./stop.sh
      delete: ["./destroy.sh", "--yes"]
    depends_on: [base]
    input: params.tfvars
    variables:
      PORT: 8080
      TOKEN: { value: abc, secret: false }
    max_duration: 10m
    max_restarts: 2
    passthrough: [AWS_PROFILE]
    skip_unchanged: true
"#;

fn var(value: &str, secret: bool) -> VariableDef {
    VariableDef { value: value.into(), secret }
}

fn vars(list: &[(&str, VariableDef)]) -> IndexMap<String, VariableDef> {
    list.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Every problem as "line:column: message".
pub(super) fn problems(text: &str) -> Vec<String> {
    match parse_project("terrace.yaml", text) {
        Ok(p) => panic!("expected problems, got {p:?}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// The single problem of `text`.
pub(super) fn only(text: &str) -> String {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.into_iter().next().unwrap()
}

/// A project with one job `db` whose body is `body` (indented under the job).
pub(super) fn with_job(body: &str) -> String {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("project: p\njobs:\n  db:\n{body}")
}

#[test]
fn full_file_round_trips() {
    let project = parse_project("terrace.yaml", FULL).unwrap();
    let base = Job {
        name: "base".into(),
        template: TemplateKind::Shell,
        source: ".".into(),
        git: None,
        events: vec![Event::Start],
        commands: BTreeMap::from([(Event::Start, Command::Shell("echo base".into()))]),
        depends_on: vec![],
        input: None,
        variables: IndexMap::new(),
        max_duration: None,
        max_restarts: 0,
        passthrough: vec![],
        skip_unchanged: false,
        iac: Default::default(),
        environments: None,
        executor: None,
        pool: None,
        container: Default::default(),
        artifacts: vec![],
        schedule: None,
    };
    let network = Job {
        name: "network".into(),
        source: "infra/network".into(),
        events: vec![Event::Start, Event::Stop, Event::Delete],
        commands: BTreeMap::from([
            (Event::Start, Command::Shell("./apply.sh".into())),
            (Event::Stop, Command::Shell("./stop.sh".into())),
            (Event::Delete, Command::Argv(vec!["./destroy.sh".into(), "--yes".into()])),
        ]),
        depends_on: vec!["base".into()],
        input: Some("params.tfvars".into()),
        variables: vars(&[("PORT", var("8080", false)), ("TOKEN", var("abc", false))]),
        max_duration: Some(Duration::from_secs(600)),
        max_restarts: 2,
        passthrough: vec!["AWS_PROFILE".into()],
        skip_unchanged: true,
        ..base.clone()
    };
    let env = |name: &str, variables| {
        (
            name.to_string(),
            EnvironmentDef {
                name: name.into(),
                variables,
                inputs: IndexMap::new(),
                executor: None,
                pool: None,
                approval: Default::default(),
                branch: None,
                on_failure: Default::default(),
                ttl: None,
                drift: None,
                skip_unchanged: false,
            },
        )
    };
    let expected = Project {
        name: "shop".into(),
        variables: vars(&[("REGION", var("eu-west-1", false)), ("DB_PASSWORD", var("${env:DB_PASSWORD}", true))]),
        environments: [
            env("dev", IndexMap::new()),
            env("stage", IndexMap::new()),
            env("prod", vars(&[("REGION", var("us-east-1", false))])),
        ]
        .into_iter()
        .collect(),
        jobs: [("base".to_string(), base), ("network".to_string(), network)].into_iter().collect(),
        executor: None,
        artifacts: IndexMap::new(),
        previews: IndexMap::new(),
        notifications: IndexMap::new(),
    };
    assert_eq!(project, expected);
    // File order is kept.
    assert_eq!(project.environments.keys().collect::<Vec<_>>(), ["dev", "stage", "prod"]);
}

#[test]
fn minimal_files_are_valid() {
    let p = parse_project("t", "project: p\njobs: {}\n").unwrap();
    assert!(p.jobs.is_empty() && p.environments.is_empty());
    assert!(parse_project("t", "project: p\njobs:\nenvironments:\nvariables:\n").is_ok());
}

#[test]
fn missing_project_is_reported_at_the_start() {
    assert_eq!(
        only("jobs: {}\n"),
        "1:1: missing the required key `project` (the project's name, e.g. `project: shop`)"
    );
}

#[test]
fn names_follow_the_resource_rule() {
    assert!(only("project: Shop\n").starts_with("1:10: invalid project name `Shop`: expected lowercase letters"));
    assert!(only("project: p\nenvironments:\n  Dev: {}\n").starts_with("3:3: invalid environment name `Dev`"));
    assert!(
        only(&format!("project: p\njobs:\n  {}: {{events: [start], commands: {{start: x}}}}\n", "a".repeat(64)))
            .starts_with("3:3: invalid job name")
    );
}

#[test]
fn unknown_keys_list_the_allowed_ones_and_suggest() {
    assert_eq!(
        only("project: p\njob: {}\n"),
        "2:1: unknown key `job` in the top level: expected one of project, variables, environments, jobs, executor, artifacts, previews, notifications; did you mean `jobs`?"
    );
    let message = only(&with_job("events: [start]\ncommands: {start: x}\ncomands: {}"));
    assert!(
        message.starts_with("6:5: unknown key `comands` in job `db`: expected one of template, source, events"),
        "{message}"
    );
    assert!(message.ends_with("; did you mean `commands`?"), "{message}");
    assert_eq!(
        only("project: p\nenvironments:\n  dev: {vars: {}}\n"),
        "3:9: unknown key `vars` in environment `dev`: expected one of variables, inputs, executor, pool, branch, on_failure, approval, ttl, drift"
    );
}

#[test]
fn wrong_types_say_what_was_expected_and_found() {
    assert_eq!(
        only(&with_job("events:\n  start: x\ncommands: {start: x}")),
        "4:5: `events` of job `db` must be a list of strings, found a mapping"
    );
    assert_eq!(only("project: [a]\n"), "1:1: `project` must be the project's name, found a list");
    assert_eq!(only("project: p\njobs: [a, b]\n"), "2:1: `jobs` must be a mapping of job names to jobs, found a list");
    assert_eq!(
        only(&with_job("events: [start, [x]]\ncommands: {start: x}")),
        "4:5: item 2 of `events` of job `db` must be a string, found a list"
    );
    assert_eq!(
        only(&with_job("events: start\ncommands: {start: x}")),
        "4:13: `events` of job `db` must be a list of strings, found `start` (write `[start]` for a list)"
    );
}

#[test]
fn booleans_are_only_true_and_false() {
    let base = "events: [start]\ncommands: {start: x}\n";
    assert_eq!(
        only(&with_job(&format!("{base}skip_unchanged: yes"))),
        "6:21: `skip_unchanged` of job `db` must be true or false (only these two words are booleans here), found `yes`"
    );
    assert!(only(&with_job(&format!("{base}skip_unchanged: \"true\""))).starts_with("6:21: "));
    assert!(
        only("project: p\nvariables:\n  A: {value: x, secret: True}\n").starts_with("3:25: `secret` of variable `A`")
    );
}

#[test]
fn integers_are_plain_digits_up_to_the_limit() {
    let base = "events: [start]\ncommands: {start: x}\n";
    for bad in ["-1", "1.5", "101", "0x2", "\"2\"", "99999999999999999999"] {
        assert_eq!(
            only(&with_job(&format!("{base}max_restarts: {bad}"))),
            format!(
                "6:19: `max_restarts` of job `db` must be a whole number from 0 to 100 written as plain digits, found `{}`",
                bad.trim_matches('"')
            )
        );
    }
}

#[test]
fn variable_names_and_values() {
    assert_eq!(
        only("project: p\nvariables:\n  my-var: x\n"),
        "3:3: invalid variable name `my-var` in the project: expected letters, digits and `_`, not starting with a digit"
    );
    assert_eq!(
        only("project: p\nenvironments:\n  dev:\n    variables:\n      TERRACE_JOB: x\n"),
        "5:7: variable name `TERRACE_JOB` in environment `dev` uses the reserved prefix `TERRACE_` (kept for built-ins and job outputs)"
    );
    assert_eq!(
        only("project: p\nvariables:\n  A: \"${env:HOME\"\n"),
        "3:7: variable `A` of the project: unterminated `${` (write `$${` for a literal `${`)"
    );
    assert_eq!(
        only("project: p\nvariables:\n  A: { value: \"${vault:x}\" }\n"),
        "3:16: variable `A` of the project: unknown reference `${vault:x}`: expected `${NAME}`, `${outputs.JOB.NAME}`, `${secret:NAME}` or `${env:NAME}` (write `$${` for a literal `${`)"
    );
    assert_eq!(
        only("project: p\nvariables:\n  A: {secret: true}\n"),
        "3:3: variable `A` of the project is missing the required key `value`"
    );
    assert_eq!(
        only("project: p\nvariables:\n  A: {value: x, secert: true}\n"),
        "3:17: unknown key `secert` in variable `A` of the project: expected one of value, secret; did you mean `secret`?"
    );
    assert_eq!(
        only("project: p\nvariables:\n  A:\n"),
        "3:3: variable `A` of the project has no value; write `A: \"\"` for an empty string"
    );
    assert_eq!(
        only("project: p\nvariables:\n  A: [x]\n"),
        "3:3: variable `A` of the project must be a string or a mapping with `value` and `secret`, found a list"
    );
    // A bad `secret` does not hide a bad value.
    let p = problems("project: p\nvariables:\n  A: {value: \"${x:y}\", secret: 1}\n");
    assert!(
        p[0].starts_with("3:15: variable `A` of the project: unknown reference `${x:y}`")
            && p[1].starts_with("3:32: `secret`"),
        "{p:#?}"
    );
    assert!(parse_project("t", "project: p\nvariables:\n  A: \"\"\n  B: \"$${literal}\"\n").is_ok());
}

#[test]
fn five_problems_are_all_reported_in_file_order() {
    let text = "project: Shop\nvariables:\n  BAD-NAME: x\njobs:\n  db:\n    events: [start, stop]\n    commands: {start: x}\n    max_restarts: many\n    depends_on: [nope]\n";
    let p = problems(text);
    let at: Vec<&str> = p.iter().map(|m| m.split(": ").next().unwrap()).collect();
    assert_eq!(at, ["1:10", "3:3", "6:21", "8:19", "9:18"], "{p:#?}");
    assert!(p[2].contains("no `commands.stop`") && p[4].contains("unknown job `nope`"), "{p:#?}");
}

#[test]
fn error_display_is_one_problem_per_line() {
    let err = parse_project("infra/terrace.yaml", "project: P\nx: 1\n").unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("infra/terrace.yaml:1:10: invalid project name `P`"));
    assert!(lines[1].starts_with("infra/terrace.yaml:2:1: unknown key `x`"));
    let _: &dyn std::error::Error = &err;
}

#[test]
fn approval_is_a_word_or_a_mapping() {
    let env = |text: &str| {
        let yaml = format!("project: p\nenvironments:\n  prod:\n    approval: {text}\njobs: {{}}\n");
        parse_project("terrace.yaml", &yaml).map(|p| p.environments["prod"].approval)
    };
    let required = crate::ApprovalPolicy { required: true, distinct_approver: false };
    assert_eq!(env("required").unwrap(), required);
    assert_eq!(env("none").unwrap(), crate::ApprovalPolicy::default());
    assert_eq!(env("{required: true}").unwrap(), required);
    let both = env("{required: true, distinct_approver: true}").unwrap();
    assert!(both.required && both.distinct_approver);
    assert!(both.gates(crate::Event::Start) && both.gates(crate::Event::Delete) && !both.gates(crate::Event::Plan));
    let e = env("maybe").unwrap_err().to_string();
    assert!(e.contains("4:15: `approval` of environment `prod` must be `required`, `none`"), "{e}");
    let e = env("{required: yes}").unwrap_err().to_string();
    assert!(e.contains("`required` of `approval` of environment `prod` must be true or false"), "{e}");
    let e = env("{required: true, by: x}").unwrap_err().to_string();
    assert!(e.contains("unknown key `by`"), "{e}");
}

#[test]
fn artifacts_name_a_repository_a_tag_pattern_and_an_order() {
    let yaml = "project: p\nartifacts:\n  software:\n    image: 127.0.0.1:5000/library/software\n    order: [dev, prod]\n  \
                web:\n    image: nexus.acme.com/web\n    tag: \"{env}-live\"\n    credentials: {username: u, password: \"${secret:P}\"}\n\
                environments:\n  dev: {}\n  prod: {}\njobs:\n  svc:\n    artifacts: [software, web]\n    events: [start]\n    commands: {start: 'true'}\n";
    let p = parse_project("terrace.yaml", yaml).unwrap();
    let sw = &p.artifacts["software"];
    assert_eq!((sw.tag_for("dev").as_str(), sw.variable_prefix().as_str()), ("dev", "SOFTWARE"));
    assert_eq!(sw.order, ["dev", "prod"]);
    assert_eq!(p.artifacts["web"].tag_for("prod"), "prod-live");
    assert_eq!(p.artifacts["web"].credentials.as_ref().unwrap().password, "${secret:P}");
    assert!(!format!("{:?}", p.artifacts["web"].credentials).contains("secret:P"), "Debug hides the password");
    assert_eq!(p.jobs["svc"].artifacts, ["software", "web"]);
    let bad = "project: p\nartifacts:\n  a: {image: \"reg.io/app:1.0\", tag: \"-{env}\", order: [qa]}\n  b: {}\nenvironments:\n  dev: {}\njobs: {}\n";
    let e = parse_project("terrace.yaml", bad).unwrap_err().to_string();
    assert!(e.contains("without a tag or digest"), "{e}");
    assert!(e.contains("must give a valid tag"), "{e}");
    assert!(e.contains("names unknown environment `qa`"), "{e}");
    assert!(e.contains("artifact `b` has no `image`"), "{e}");
}

#[test]
fn ttl_drift_and_schedule_parse_and_bad_ones_say_why() {
    let project = parse_project(
        "t.yaml",
        "project: p\nenvironments:\n  pr:\n    ttl: 72h\n    drift: \"*/30 * * * *\"\njobs:\n  db:\n    events: [start]\n    \
         commands: {start: x}\n    schedule: \"0 3 * * *\"\n",
    )
    .unwrap();
    let pr = project.environment("pr").unwrap();
    assert_eq!(
        pr.ttl.as_ref().map(|t| (t.duration, t.declared.as_str())),
        Some((Duration::from_secs(72 * 3600), "72h"))
    );
    assert_eq!(pr.drift.as_ref().map(|c| c.as_str()), Some("*/30 * * * *"));
    assert_eq!(project.jobs["db"].schedule.as_ref().map(|c| c.as_str()), Some("0 3 * * *"));
    let message = only("project: p\nenvironments:\n  pr:\n    ttl: soon\n");
    assert!(message.starts_with("4:10: `ttl` of environment `pr` `soon` is not a duration"), "{message}");
    let message = only("project: p\nenvironments:\n  pr:\n    drift: every hour\n");
    assert!(message.contains("`drift` of environment `pr` `every hour` is not a cron expression"), "{message}");
    let message = only(&with_job("events: [start]\ncommands: {start: x}\nschedule: \"61 * * * *\""));
    assert!(message.contains("`schedule` of job `db`"), "{message}");
}
