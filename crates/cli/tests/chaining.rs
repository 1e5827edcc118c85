//! Values that reference outputs, variables and built-ins, through the real binary:
//! a job's variables built from an upstream job's outputs, late-bound per environment,
//! secret when made from a sensitive output; a project variable some jobs do not get;
//! output aliases that never replace PATH, LD_PRELOAD or TERRACE_*; `validate` placing
//! every problem of a file in one pass.

mod common;

use common::{TestProject, contains};

const NET: &str = r#"#!/bin/sh
printf '{"vpc_id": {"value": "vpc-123", "sensitive": false}, "token": {"value": "tok-s3cr3t-77", "sensitive": true}}' > "$TERRACE_OUTPUT_FILE"
"#;

const CHAIN: &str = r#"project: chain
variables:
  DSN: postgres://app@${DB_HOST}:5432/${TERRACE_ENVIRONMENT}
  VPC: ${outputs.net.vpc_id}
environments:
  dev: {variables: {DB_HOST: db.dev}}
  prod: {variables: {DB_HOST: db.prod}}
jobs:
  net:
    source: net
    events: [start]
    commands: {start: ./net.sh}
  app:
    depends_on: [net]
    events: [start]
    commands: {start: 'echo "vpc=$TF_VAR_vpc_id dsn=$DSN vpc2=$VPC url=$URL lit=$LIT"'}
    variables:
      TF_VAR_vpc_id: ${outputs.net.vpc_id}
      URL: "https://admin:${outputs.net.token}@api.internal"
      LIT: "$${outputs.net.vpc_id}"
  other:
    events: [start]
    commands: {start: 'echo "other vpc=[${VPC:-unset}]"'}
"#;

#[test]
fn values_chain_upstream_outputs_and_are_secret_when_made_of_secrets() {
    let p = TestProject::new(CHAIN);
    p.write("net/net.sh", NET);
    let check = p.run(&["validate"]).ok();
    assert!(
        check.stderr.contains(
            "terrace.yaml:4:8: variable `VPC` of the project uses outputs of `net`, so only the jobs downstream of it get it; it is not set for `net`, `other` (note)"
        ),
        "{}",
        check.stderr
    );
    let up = p.run(&["up", "dev", "--json"]).ok();
    let out = up.json();
    let app = p.log(TestProject::job_in(&out, "app")["run_id"].as_str().unwrap());
    assert!(
        app.contains("vpc=vpc-123 dsn=postgres://app@db.dev:5432/dev vpc2=vpc-123 url=*** lit=${outputs.net.vpc_id}"),
        "{app}"
    );
    let other = p.log(TestProject::job_in(&out, "other")["run_id"].as_str().unwrap());
    assert!(other.contains("other vpc=[unset]"), "{other}");
    assert!(other.contains("variable `VPC` of the project is not set for job `other`"), "{other}");
    // The secret made from a sensitive output is masked, and never stored in clear.
    let url = "https://admin:tok-s3cr3t-77@api.internal";
    for text in [&up.stdout, &up.stderr, &app] {
        assert!(!text.contains("tok-s3cr3t-77"), "{text}");
    }
    assert!(!contains(&p.store_bytes(), url) && !contains(&p.store_bytes(), "tok-s3cr3t-77"));

    // Late binding: the project's DSN uses each environment's DB_HOST.
    let out = p.run(&["up", "prod", "--json"]).ok().json();
    let app = p.log(TestProject::job_in(&out, "app")["run_id"].as_str().unwrap());
    assert!(app.contains("dsn=postgres://app@db.prod:5432/prod"), "{app}");
}

#[test]
fn a_missing_upstream_output_fails_the_job_naming_the_variable() {
    let p = TestProject::new(CHAIN);
    p.write(
        "net/net.sh",
        "#!/bin/sh\nprintf '{\"other\": {\"value\": \"x\", \"sensitive\": false}}' > \"$TERRACE_OUTPUT_FILE\"\n",
    );
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let reason = TestProject::job_in(&out, "app")["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains(
            "`${outputs.net.vpc_id}`: job `net` has no output `vpc_id` in environment `dev` (its outputs: other)"
        ),
        "{reason}"
    );
}

#[test]
fn an_output_never_replaces_path_or_other_reserved_names() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  evil:
    events: [start]
    commands:
      start: >-
        printf '{"PATH": {"value": "/nowhere", "sensitive": false},
        "LD_PRELOAD": {"value": "/nowhere/evil.so", "sensitive": false},
        "TERRACE_JOB": {"value": "forged", "sensitive": false},
        "BASH_ENV": {"value": "/nowhere/rc", "sensitive": false},
        "REGION": {"value": "eu-west-1", "sensitive": false}}' > "$TERRACE_OUTPUT_FILE"
  victim:
    depends_on: [evil]
    events: [start]
    commands:
      start: 'ls / >/dev/null && echo "ok job=$TERRACE_JOB preload=[${LD_PRELOAD:-}] region=$REGION full=$TERRACE_OUTPUT_JOB_EVIL_PATH"'
"#,
    );
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "victim")["run_id"].as_str().unwrap());
    assert!(log.contains("ok job=victim preload=[] region=eu-west-1 full=/nowhere"), "{log}");
    for name in ["PATH", "LD_PRELOAD", "TERRACE_JOB", "BASH_ENV"] {
        assert!(
            log.contains(&format!("alias `{name}` (output of job `evil`) is not set: `{name}` is a reserved name")),
            "{name}:\n{log}"
        );
    }
    assert!(log.contains("use TERRACE_OUTPUT_JOB_EVIL_PATH"), "{log}");
}

#[test]
fn validate_reports_every_reference_problem_with_its_position_in_one_pass() {
    let p = TestProject::new(
        r#"project: p
variables:
  DSN: postgres://${DB_HOTS}:5432
  A: ${B}
  B: x-${A}
environments:
  dev: {variables: {DB_HOST: h}}
  dev: {}
jobs:
  net:
    events: [start]
    commands: {start: 42}
  app:
    events: [start]
    commands: {start: x}
    variables:
      VPC: "${outputs.net.vpc_id}"
      Q: ${outputs.nett.x}
    source: nowhere
"#,
    );
    let out = p.run(&["validate"]).code(2);
    let e = &out.stderr;
    for expected in [
        "terrace.yaml:3:19: `${DB_HOTS}` in variable `DSN` of the project: no variable `DB_HOTS` is defined",
        "terrace.yaml:5:8: `${A}` in variable `B` of the project: variables refer to each other in a cycle: `A` (the project) → `B` (the project) → `A`",
        "terrace.yaml:8:3: duplicate key `dev`: it is already set at line 7, column 3",
        "terrace.yaml:12:23: `commands.start` of job `net` must be a command string or a list of strings (the program and its arguments), found the number `42`",
        "terrace.yaml:17:13: `${outputs.net.vpc_id}` in variable `VPC` of job `app`: job `net` is not upstream of `app`",
        "terrace.yaml:18:10: `${outputs.nett.x}` in variable `Q` of job `app`: unknown job `nett`",
        "terrace.yaml:19:13: job `app`: source folder `nowhere` does not exist",
    ] {
        assert!(e.contains(expected), "missing {expected:?} in:\n{e}");
    }
    assert!(e.contains("7 problems found"), "{e}");
    let json = p.run(&["validate", "--json"]).code(2).json();
    assert_eq!(json["problems"].as_array().unwrap().len(), 7, "{json}");
    assert_eq!(json["problems"][0]["line"], 3);
    assert_eq!(json["problems"][0]["column"], 19);
    // Every other command refuses the file too (without the disk checks, which are validate's).
    assert!(p.run(&["up", "dev"]).code(2).stderr.contains("terrace.yaml:5:8: `${A}`"));
}

#[test]
fn invalid_utf8_and_oversized_files_are_refused_with_a_position_or_the_limit() {
    let p = TestProject::new("project: p\n");
    std::fs::write(p.root().join("terrace.yaml"), b"project: p\nvariables:\n  A: \"caf\xe9\"\n").unwrap();
    for args in [&["validate"][..], &["up", "dev"]] {
        let out = p.run(args).code(2);
        assert!(
            out.stderr.contains("terrace.yaml:3:10: the file is not valid UTF-8: byte 0xe9 (at byte offset 31)"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // 200 MB (sparse: nothing written) is refused from its size, before it is read.
    let f = std::fs::File::create(p.root().join("terrace.yaml")).unwrap();
    f.set_len(200 * 1024 * 1024).unwrap();
    for args in [&["validate"][..], &["up", "dev"]] {
        let out = p.run(args).code(2);
        assert!(
            out.stderr.contains(
                "terrace.yaml:1:1: the project file is 209715200 bytes; a project file may be at most 4 MiB (4194304 bytes)"
            ),
            "{args:?}: {}",
            out.stderr
        );
    }
}
