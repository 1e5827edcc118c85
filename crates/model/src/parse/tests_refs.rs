//! Tests of the checks added for chained outputs and environments: references between
//! variables (unknown, not upstream, cycles, notes), default events of the IaC
//! templates, jobs limited to environments with their per-environment inputs, and what
//! `check` reads before the YAML (size, UTF-8) and beside it (files on disk).

use std::path::Path;

use super::tests::{only, problems, with_job};
use super::{MAX_PROJECT_FILE_BYTES, ProjectFiles, check, parse_project};
use crate::event::Event;

/// Notes of a file that has no problem.
fn notes(text: &str) -> Vec<String> {
    let report = check(text.as_bytes(), None);
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    report.notes.iter().map(ToString::to_string).collect()
}

const CHAIN: &str = "project: p
environments: {dev: {}, prod: {variables: {DB_HOST: db.prod}}}
variables:
  VPC: ${outputs.net.vpc_id}
jobs:
  net: {template: terraform}
  app:
    depends_on: [net]
    events: [start]
    commands: {start: x}
    variables:
      TF_VAR_vpc_id: \"id=${outputs.net.vpc_id}\"
      URL: https://${TERRACE_ENVIRONMENT}.example/${VPC}
  other:
    events: [start]
    commands: {start: x}
";

#[test]
fn outputs_of_upstream_jobs_chain_and_the_rest_is_a_note() {
    let p = parse_project("t", CHAIN).unwrap();
    assert_eq!(p.jobs["app"].variables["TF_VAR_vpc_id"].value, "id=${outputs.net.vpc_id}");
    assert_eq!(
        notes(CHAIN),
        [
            "4:8: variable `VPC` of the project uses outputs of `net`, so only the jobs downstream of it get it; it is not set for `net`, `other`"
        ]
    );
}

#[test]
fn a_jobs_own_variable_may_use_only_upstream_outputs() {
    let text = CHAIN.replace("depends_on: [net]", "depends_on: []");
    let p = problems(&text);
    assert_eq!(
        p,
        [
            "12:26: `${outputs.net.vpc_id}` in variable `TF_VAR_vpc_id` of job `app`: job `net` is not upstream of `app`: add it to `depends_on` (directly or through another job) to use its outputs",
            "13:12: variable `URL` of job `app`: it cannot be set: variable `VPC` of the project uses `${outputs.net.vpc_id}`, and job `net` is not upstream of `app` (only jobs that depend on it, directly or not, may use its outputs)"
        ]
    );
}

#[test]
fn unknown_references_are_placed_and_explained() {
    let text = "project: p
variables:
  DSN: postgres://${DB_HOTS}:5432
  OUT: \"${outputs.nett.vpc}\"
  ENV_ONLY: ${DB_HOST}
environments:
  dev: {}
  prod: {variables: {DB_HOST: x}}
jobs:
  net: {events: [start], commands: {start: x}}
";
    assert_eq!(
        problems(text),
        [
            "3:19: `${DB_HOTS}` in variable `DSN` of the project: no variable `DB_HOTS` is defined in the project, an environment or a job, and it is not a built-in; did you mean `DB_HOST`?; a job's output is written `${outputs.JOB.NAME}`",
            "4:9: `${outputs.nett.vpc}` in variable `OUT` of the project: unknown job `nett`; the jobs are net; did you mean `net`?",
            "5:13: `${DB_HOST}` in variable `ENV_ONLY` of the project: `DB_HOST` is not defined for environment `dev`; define it in the project, or for every environment or job that uses this value"
        ]
    );
    // Defined by the job itself: fine in every environment.
    let ok = text.replace("net: {events", "net: {variables: {DB_HOST: y, DB_HOTS: z}, environments: [dev], events");
    let ok = ok.replace("nett", "net");
    assert!(check(ok.as_bytes(), None).problems.is_empty(), "{:#?}", check(ok.as_bytes(), None).problems);
}

#[test]
fn cycles_are_reported_once_with_their_scopes() {
    let text = "project: p
variables:
  A: ${B}
  B: x${A}
  C: ${A}
environments:
  dev: {variables: {D: \"${E}\"}}
jobs:
  j:
    events: [start]
    commands: {start: x}
    variables: {E: \"${D}\"}
";
    let p = problems(text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].starts_with("4:7: `${A}` in variable `B` of the project: variables refer to each other in a cycle: `A` (the project) → `B` (the project) → `A`"), "{p:#?}");
    assert!(p[1].contains("cycle") && p[1].contains("(environment `dev`)") && p[1].contains("(job `j`)"), "{p:#?}");
}

#[test]
fn iac_templates_run_on_every_event_by_default() {
    let p = parse_project(
        "t",
        "project: p\njobs:\n  net: {template: terraform}\n  stack: {template: cloudformation, template_file: s.yaml}\n",
    )
    .unwrap();
    assert_eq!(p.jobs["net"].events, [Event::Start, Event::Stop, Event::Delete]);
    assert_eq!(p.jobs["stack"].events, Event::LIFECYCLE);
    let p = parse_project("t", "project: p\njobs:\n  net: {template: opentofu, events: [start]}\n").unwrap();
    assert_eq!(p.jobs["net"].events, [Event::Start]);
}

#[test]
fn commands_must_be_text_not_numbers_or_booleans() {
    let base = "events: [start]\ncommands: {start: ";
    assert_eq!(
        only(&with_job(&format!("{base}42}}"))),
        "5:23: `commands.start` of job `db` must be a command string or a list of strings (the program and its arguments), found the number `42` (quote it, `\"42\"`, if it is the program's name)"
    );
    for bad in ["true", "1.5", "-3", "0x1f", "1e3", ".inf"] {
        assert!(only(&with_job(&format!("{base}{bad}}}"))).contains("found the"), "{bad}");
    }
    for fine in ["\"42\"", "./42.sh", "v1.2.3", "1.2.3"] {
        assert!(parse_project("t", &with_job(&format!("{base}{fine}}}"))).is_ok(), "{fine}");
    }
}

const ENVS: &str = "project: p
environments:
  dev: {}
  prod:
    inputs:
      db: params/prod.json
jobs:
  db:
    input: params/dev.json
    events: [start]
    commands: {start: x}
  seed:
    depends_on: [db]
    environments: [dev]
    events: [start]
    commands: {start: x}
";

#[test]
fn jobs_limited_to_environments_with_their_own_inputs() {
    let p = parse_project("t", ENVS).unwrap();
    let dev = p.jobs_for("dev");
    let prod = p.jobs_for("prod");
    assert_eq!(dev.keys().collect::<Vec<_>>(), ["db", "seed"]);
    assert_eq!(prod.keys().collect::<Vec<_>>(), ["db"]);
    assert_eq!(dev["db"].input.as_deref(), Some(Path::new("params/dev.json")));
    assert_eq!(prod["db"].input.as_deref(), Some(Path::new("params/prod.json")));
}

#[test]
fn environments_and_inputs_are_checked_against_each_other() {
    let text = ENVS
        .replace("environments: [dev]", "environments: [dev, qa]")
        .replace("      db: params/prod.json", "      db: params/prod.json\n      seed: s.json\n      dbb: x.json")
        .replace("  db:\n    input", "  db:\n    environments: [prod]\n    input");
    assert_eq!(
        problems(&text),
        [
            "7:7: `inputs` of environment `prod` gives a parameters file to job `seed`, which does not run in `prod` (its `environments`: dev, qa)",
            "8:7: `inputs` of environment `prod` names unknown job `dbb`; did you mean `db`?",
            "16:18: job `seed` runs in environment `dev` but depends on job `db`, which does not run there: add dev to the `environments` of `db`, or remove dev from those of `seed`",
            "17:25: job `seed` lists unknown environment `qa`; the environments are dev, prod",
        ]
    );
    assert!(only(&with_job("events: [start]\ncommands: {start: x}\nenvironments: []")).contains("is empty"));
}

struct Disk(&'static [&'static str]);

impl ProjectFiles for Disk {
    fn is_dir(&self, p: &Path) -> bool {
        p == Path::new(".") || self.0.iter().any(|f| Path::new(f).starts_with(p) && Path::new(f) != p)
    }
    fn is_file(&self, p: &Path) -> bool {
        self.0.iter().any(|f| Path::new(f) == p || Path::new(".").join(f) == p)
    }
}

#[test]
fn missing_files_are_problems_with_positions_beside_every_other() {
    let text = "project: p
environments:
  prod: {inputs: {a: prod.json}}
jobs:
  a:
    source: nowhere
    input: params.json
    events: [start]
    commands: {start: 42}
  b:
    template: cloudformation
    template_file: stack.yaml
";
    let report = check(text.as_bytes(), Some(&Disk(&["other/x"])));
    let p: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        p,
        [
            "3:22: environment `prod`: parameters file `prod.json` of job `a` does not exist",
            "6:13: job `a`: source folder `nowhere` does not exist (paths are relative to the project file)",
            "7:12: job `a`: parameters file `params.json` does not exist",
            "9:23: `commands.start` of job `a` must be a command string or a list of strings (the program and its arguments), found the number `42` (quote it, `\"42\"`, if it is the program's name)",
            "12:20: job `b`: template_file `stack.yaml` does not exist in its source folder `.`",
        ]
    );
    let fixed = text.replace("42", "x");
    let report = check(fixed.as_bytes(), Some(&Disk(&["nowhere/x", "params.json", "prod.json", "stack.yaml"])));
    assert!(report.problems.is_empty() && report.project.is_some(), "{:#?}", report.problems);
}

#[test]
fn size_and_encoding_are_checked_before_the_yaml() {
    let big = vec![b'#'; MAX_PROJECT_FILE_BYTES + 1];
    let report = check(&big, None);
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].message.contains("at most 4 MiB (4194304 bytes)"), "{:?}", report.problems);
    let report = check(b"project: p\nvariables:\n  A: \"caf\xe9\"\n", None);
    assert_eq!(report.problems.len(), 1);
    assert_eq!((report.problems[0].line, report.problems[0].column), (3, 10));
    assert!(report.problems[0].message.contains("not valid UTF-8"));
}

/// A file of `envs` environments, a chain of `chain` project variables, and `jobs` jobs
/// whose own variable uses the chain.
fn chained(envs: usize, chain: usize, jobs: usize) -> String {
    let mut text = String::from("project: p\nvariables:\n");
    for i in 0..chain {
        text.push_str(&format!("  V{i}: x${{V{}}}\n", i + 1));
    }
    text.push_str(&format!("  V{chain}: end\nenvironments:\n"));
    for e in 0..envs {
        text.push_str(&format!("  e{e}: {{variables: {{E: \"${{V0}}\"}}}}\n"));
    }
    text.push_str("jobs:\n");
    for j in 0..jobs {
        text.push_str(&format!(
            "  j{j}: {{events: [start], commands: {{start: x}}, variables: {{J: \"${{E}}${{V5}}\"}}}}\n"
        ));
    }
    text
}

#[test]
fn the_reference_checks_stay_linear_and_bounded() {
    // Each job reuses what its environment found: not environments × jobs × chain.
    assert!(check(chained(40, 1_000, 40).as_bytes(), None).problems.is_empty());
    // Past the bound the file is refused at once, with the reason.
    let p = problems(&chained(1_000, 2_500, 1));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("1:1: the variables reference each other too much to be checked (more than 2000000"),
        "{p:#?}"
    );
}
