//! Tests of the job rules: events, commands, paths, durations, templates, and the
//! checks across jobs (unknown dependencies, cycles, clashing output prefixes).

use super::parse_project;
use super::tests::{only, problems, with_job};

#[test]
fn events_are_a_non_empty_subset_without_duplicates() {
    assert_eq!(
        only("project: p\njobs:\n  db:\n    commands: {start: x}\n"),
        "3:3: job `db` is missing the required key `events` (a list of start, stop, delete); only the terraform, opentofu and cloudformation templates have default events"
    );
    assert_eq!(
        only(&with_job("events: []")),
        "4:5: `events` of job `db` is empty: list at least one of start, stop, delete"
    );
    assert_eq!(
        only(&with_job("events: [strat]\ncommands: {start: x}")),
        "4:14: unknown event `strat` in `events` of job `db`: expected one of start, stop, delete; did you mean `start`?"
    );
    assert!(
        only(&with_job("events: [start, plan]\ncommands: {start: x}"))
            .starts_with("4:21: `plan` in `events` of job `db` is not a lifecycle event: a job runs on start, stop and delete (plan and raw are reserved")
    );
    assert_eq!(
        only(&with_job("events: [start, start]\ncommands: {start: x}")),
        "4:21: event `start` is listed twice in `events` of job `db`"
    );
}

#[test]
fn every_event_needs_a_command() {
    let p = problems(&with_job("events: [start, stop]\ncommands:\n  start: ./up.sh"));
    assert_eq!(p, ["4:21: job `db` runs on `stop` but has no `commands.stop`"]);
    // A broken command is reported once, not also as missing.
    assert_eq!(
        only(&with_job("events: [start]\ncommands: {start: []}")),
        "5:16: `commands.start` of job `db` is an empty list: give the program and its arguments"
    );
}

#[test]
fn command_keys_and_values() {
    assert!(
        only(&with_job("events: [start]\ncommands: {start: x, raw: y}"))
            .starts_with("5:26: `raw` in `commands` of job `db` is not a lifecycle event")
    );
    assert_eq!(
        only(&with_job("events: [start]\ncommands: {start: x, destroy: y}")),
        "5:26: unknown event `destroy` in `commands` of job `db`: expected one of start, stop, delete"
    );
    assert_eq!(
        only(&with_job("events: [start]\ncommands:\n  start: {run: x}")),
        "6:7: `commands.start` of job `db` must be a command string or a list of strings (the program and its arguments), found a mapping"
    );
    assert_eq!(
        only(&with_job("events: [start]\ncommands: {start: \"  \"}")),
        "5:23: `commands.start` of job `db` is empty"
    );
    // A command for an event the job does not list is kept: a force run may use it.
    let p = parse_project("t", &with_job("events: [start]\ncommands: {start: a, delete: b}")).unwrap();
    assert_eq!(p.jobs["db"].commands.len(), 2);
}

#[test]
fn paths_stay_inside_the_project() {
    let base = "events: [start]\ncommands: {start: x}\n";
    assert_eq!(
        only(&with_job(&format!("{base}source: /etc"))),
        "6:13: `source` of job `db` must be relative to the project file, found an absolute path"
    );
    assert_eq!(
        only(&with_job(&format!("{base}source: infra/../../x"))),
        "6:13: `source` of job `db` must stay inside the project folder: `..` is not allowed"
    );
    assert_eq!(
        only(&with_job(&format!("{base}input: ../secrets.tfvars"))),
        "6:12: `input` of job `db` must stay inside the project folder: `..` is not allowed"
    );
    assert_eq!(
        only(&with_job(&format!("{base}source: \"\""))),
        "6:13: `source` of job `db` is empty; write `.` for the project folder"
    );
    assert_eq!(
        only(&with_job(&format!("{base}input: [a, b]"))),
        "6:5: `input` of job `db` must be a path relative to the project file, found a list"
    );
}

#[test]
fn durations_and_templates() {
    let base = "events: [start]\ncommands: {start: x}\n";
    assert!(
        only(&with_job(&format!("{base}max_duration: 600")))
            .starts_with("6:19: `max_duration` of job `db` `600` is not a duration (")
    );
    assert_eq!(
        only(&with_job(&format!("{base}max_duration: 0s"))),
        "6:19: `max_duration` of job `db` must be longer than zero"
    );
    assert_eq!(
        only(&with_job(&format!("{base}template: shel"))),
        "6:15: unknown template `shel` in job `db`: expected one of shell, terraform, opentofu, cloudformation; did you mean `shell`?"
    );
    assert_eq!(
        only(&with_job(&format!("{base}passthrough: [AWS_PROFILE, 9LIVES]"))),
        "6:32: invalid variable name `9LIVES` in `passthrough` of job `db`: expected letters, digits and `_`, not starting with a digit"
    );
}

#[test]
fn dependencies_must_name_known_jobs() {
    let text = "project: p\njobs:\n  base: {events: [start], commands: {start: x}}\n  app: {events: [start], commands: {start: x}, depends_on: [bse]}\n";
    assert_eq!(
        only(text),
        "4:61: job `app` depends on unknown job `bse`; the jobs are base, app; did you mean `base`?"
    );
    assert_eq!(
        only(&with_job("events: [start]\ncommands: {start: x}\ndepends_on: [db]")),
        "6:18: job `db` depends on itself (db → db)"
    );
}

#[test]
fn cycles_name_every_job_of_the_cycle() {
    let job = |deps: &str| format!("{{events: [start], commands: {{start: x}}, depends_on: [{deps}]}}");
    let text = format!(
        "project: p\njobs:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n  e: {}\n",
        job("b"),
        job("c"),
        job("a"),
        job("e"),
        job("d")
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].starts_with("3:59: dependency cycle: a → b → c → a;"), "{}", p[0]);
    assert!(p[1].starts_with("6:59: dependency cycle: d → e → d;"), "{}", p[1]);
}

#[test]
fn output_prefixes_never_clash() {
    let job = "{events: [start], commands: {start: x}}";
    assert_eq!(
        only(&format!("project: p\njobs:\n  db-x: {job}\n  db_x: {job}\n")),
        "4:3: jobs `db-x` and `db_x` would both publish outputs as `TERRACE_OUTPUT_JOB_DB_X_<NAME>`; rename one of them"
    );
}

#[test]
fn iac_templates_need_no_commands_and_take_their_settings() {
    let text = "project: p\njobs:\n  net:\n    template: terraform\n    events: [start, delete]\n    backend_config: {bucket: b, key: k}\n  stack:\n    template: cloudformation\n    events: [start]\n    template_file: stack.yaml\n    capabilities: [CAPABILITY_IAM]\n    sensitive_outputs: [Password]\n";
    let p = crate::parse::parse_project("terrace.yaml", text).unwrap();
    assert_eq!(p.jobs["net"].template, crate::project::TemplateKind::Terraform);
    assert_eq!(p.jobs["net"].iac.backend_config["bucket"], "b");
    assert_eq!(p.jobs["stack"].iac.template_file.as_deref(), Some(std::path::Path::new("stack.yaml")));
    assert_eq!(p.jobs["stack"].iac.capabilities, ["CAPABILITY_IAM"]);
    assert_eq!(p.jobs["stack"].iac.sensitive_outputs, ["Password"]);
}

#[test]
fn iac_settings_are_refused_on_the_wrong_template_and_template_file_is_required() {
    let text = "project: p\njobs:\n  a:\n    events: [start]\n    commands: {start: x}\n    template_file: t.yaml\n  b:\n    template: cloudformation\n    events: [start]\n    binary: tofu\n    capabilities: [CAPABILITY_EVERYTHING]\n";
    let e = crate::parse::parse_project("terrace.yaml", text).unwrap_err().to_string();
    assert!(e.contains("terrace.yaml:6:20: `template_file` of job `a` applies to cloudformation jobs only"), "{e}");
    assert!(e.contains("terrace.yaml:7:3: job `b` uses the cloudformation template and needs `template_file`"), "{e}");
    assert!(e.contains("terrace.yaml:10:13: `binary` of job `b` applies to terraform and opentofu jobs only"), "{e}");
    assert!(e.contains("unknown capability `CAPABILITY_EVERYTHING`"), "{e}");
}

#[test]
fn executors_are_named_at_any_level_and_unknown_ones_are_errors_with_their_place() {
    let p = crate::parse::parse_project(
        "terrace.yaml",
        "project: p\nexecutor: local\nenvironments:\n  dev: {executor: local}\njobs:\n  a: {executor: local, commands: {start: 'true'}, events: [start]}\n  b: {commands: {start: 'true'}, events: [start]}\n",
    )
    .unwrap();
    assert_eq!(p.executor.as_deref(), Some("local"));
    assert_eq!(p.environments["dev"].executor.as_deref(), Some("local"));
    assert_eq!(p.jobs["a"].executor.as_deref(), Some("local"));
    assert_eq!(p.jobs["b"].executor, None);
    assert_eq!(p.executor_of("dev", &p.jobs["b"]), "local");
    assert_eq!(p.jobs_for("dev")["b"].executor.as_deref(), Some("local"), "the environment's, decided");

    let err = crate::parse::parse_project(
        "terrace.yaml",
        "project: p\nexecutor: dockr\nenvironments:\n  dev: {executor: k8s}\njobs:\n  a:\n    executor: 42x\n    events: [start]\n    commands: {start: 'true'}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("terrace.yaml:2:11: unknown executor `dockr` in `executor`: expected one of local"), "{err}");
    assert!(err.contains("terrace.yaml:4:19: unknown executor `k8s` in `executor` of environment `dev`"), "{err}");
    assert!(err.contains("terrace.yaml:7:15: unknown executor `42x` in `executor` of job `a`"), "{err}");
}
