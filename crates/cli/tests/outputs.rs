//! The output-file contract and variables: outputs flow to later jobs, non-string values,
//! aliases and clashes, malformed files refused whole, the allow-list, the params file.

mod common;

use common::TestProject;

#[test]
fn outputs_flow_to_later_jobs_as_full_names_and_aliases() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  net-work:
    events: [start, delete]
    commands:
      start: |
        cat > "$TERRACE_OUTPUT_FILE" <<'JSON'
        {"VPC_ID": {"value": "vpc-1", "sensitive": false, "type": "string"},
         "PORTS": {"value": [80, 443], "sensitive": false},
         "TAGS": {"value": {"team": "infra"}, "sensitive": false},
         "COUNT": {"value": 3, "sensitive": false}}
        JSON
      delete: 'true'
  app:
    depends_on: [net-work]
    events: [start]
    commands:
      start: 'echo "alias=$VPC_ID full=$TERRACE_OUTPUT_JOB_NET_WORK_VPC_ID ports=$PORTS tags=$TAGS count=$COUNT"'
"#,
    );
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let run = TestProject::job_in(&out, "app")["run_id"].as_str().unwrap().to_string();
    let log = p.log(&run);
    assert!(log.contains(r#"alias=vpc-1 full=vpc-1 ports=[80,443] tags={"team":"infra"} count=3"#), "{log}");
    let outputs = p.json(&["outputs", "dev"]);
    let vpc = outputs.as_array().unwrap().iter().find(|o| o["name"] == "VPC_ID").unwrap();
    assert_eq!(vpc["variable"], "TERRACE_OUTPUT_JOB_NET_WORK_VPC_ID");
    assert_eq!(vpc["value"], "vpc-1");
    assert_eq!(vpc["job"], "net-work");

    // Outputs stay with the environment for force runs, until the job's delete removes them.
    let again = p.run(&["run", "app", "--env", "dev", "--event", "start", "--json"]).ok().json();
    let run = TestProject::job_in(&again, "app")["run_id"].as_str().unwrap().to_string();
    assert!(p.log(&run).contains("alias=vpc-1"));
    p.run(&["run", "net-work", "--env", "dev", "--event", "delete"]).ok();
    assert_eq!(p.json(&["outputs", "dev"]).as_array().unwrap().len(), 0);
}

/// A run that writes nothing to its output file (a `stop` that pauses, a start that
/// changed nothing) keeps the job's outputs: they go only with its delete. `{}` says "no
/// outputs any more". The quickstart's `down` then `destroy` failed on this.
#[test]
fn a_run_that_writes_no_output_file_keeps_the_jobs_outputs() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  db:
    events: [start, stop, delete]
    commands:
      start: 'printf "{\"DB_HOST\": {\"value\": \"db.internal\", \"sensitive\": false}}" > "$TERRACE_OUTPUT_FILE"'
      stop: 'echo "pausing $DB_HOST"'
      delete: 'echo "deleting ${DB_HOST:?the delete needs DB_HOST}"'
  app:
    depends_on: [db]
    events: [start, delete]
    commands:
      start: 'echo "app against $DB_HOST"'
      delete: 'true'
"#,
    );
    p.run(&["up", "dev"]).ok();
    p.run(&["down", "dev"]).ok();
    let names = |p: &TestProject| -> Vec<String> {
        let outputs = p.json(&["outputs", "dev"]);
        outputs.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&p), ["DB_HOST"], "a stop that writes nothing keeps the outputs");
    let again = p.run(&["run", "app", "--env", "dev", "--event", "start", "--json"]).ok().json();
    let run = TestProject::job_in(&again, "app")["run_id"].as_str().unwrap().to_string();
    assert!(p.log(&run).contains("app against db.internal"), "{}", p.log(&run));
    let destroyed = p.run(&["destroy", "dev", "--json"]).ok().json();
    let run = TestProject::job_in(&destroyed, "db")["run_id"].as_str().unwrap().to_string();
    assert!(p.log(&run).contains("deleting db.internal"), "{}", p.log(&run));

    // `{}` is an answer: the job has no outputs any more.
    p.run(&["up", "dev"]).ok();
    p.write(
        "terrace.yaml",
        &std::fs::read_to_string(p.root().join("terrace.yaml"))
            .unwrap()
            .replace(r#"'echo "pausing $DB_HOST"'"#, r#"'echo "{}" > "$TERRACE_OUTPUT_FILE"'"#),
    );
    p.run(&["down", "dev"]).ok();
    assert!(names(&p).is_empty(), "{{}} replaced them with none");
}

#[test]
fn an_explicit_variable_wins_over_an_alias_and_the_log_says_so() {
    let p = TestProject::new(
        r#"project: p
variables: {REGION: from-project}
environments: {dev: {}}
jobs:
  a:
    events: [start]
    commands: {start: 'printf "{\"REGION\": {\"value\": \"from-output\", \"sensitive\": false}, \"X\": {\"value\": \"a\", \"sensitive\": false}}" > "$TERRACE_OUTPUT_FILE"'}
  b:
    events: [start]
    commands: {start: 'printf "{\"X\": {\"value\": \"b\", \"sensitive\": false}}" > "$TERRACE_OUTPUT_FILE"'}
  c:
    depends_on: [a, b]
    events: [start]
    commands: {start: 'echo "region=$REGION x=${X-unset} full=$TERRACE_OUTPUT_JOB_A_REGION"'}
"#,
    );
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let run = TestProject::job_in(&out, "c")["run_id"].as_str().unwrap().to_string();
    let log = p.log(&run);
    assert!(log.contains("region=from-project x=unset full=from-output"), "{log}");
    assert!(log.contains("alias `REGION`") && log.contains("explicit value wins"), "{log}");
    assert!(log.contains("alias `X` is ambiguous") && log.contains("TERRACE_OUTPUT_JOB_B_X"), "{log}");
}

#[test]
fn a_malformed_output_file_fails_the_run_with_its_line_and_applies_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mode = tmp.path().join("mode");
    std::fs::write(&mode, "good").unwrap();
    let yaml = format!(
        r#"project: p
environments: {{dev: {{}}}}
jobs:
  db:
    events: [start]
    commands:
      start: |
        if [ "$(cat {mode})" = good ]; then
          echo '{{"HOST": {{"value": "h1", "sensitive": false}}}}' > "$TERRACE_OUTPUT_FILE"
        else
          printf '{{\n"HOST": {{"value": "h2", "sensitive": false}},\n"POSTGRES_DB_PASS": {{\n"sensitive": False,\n"value": "x"}}}}' > "$TERRACE_OUTPUT_FILE"
        fi
"#,
        mode = mode.display()
    );
    let p = TestProject::new(&yaml);
    p.run(&["up", "dev"]).ok();
    std::fs::write(&mode, "seed").unwrap();
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let reason = TestProject::job_in(&out, "db")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("line 4") && reason.contains("true`/`false"), "{reason}");
    // The refused file is kept with the run, private, and the error says where.
    let kept = reason.split_once("the file is kept as ").map(|(_, p)| p.trim()).unwrap_or_else(|| panic!("{reason}"));
    assert!(kept.starts_with(&p.data.join("artifacts").display().to_string()), "{reason}");
    let meta = std::fs::metadata(kept).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(kept).unwrap().contains("False"));
    // Nothing of the bad file applied: HOST is still the earlier value.
    let outputs = p.json(&["outputs", "dev"]);
    assert_eq!(outputs[0]["value"], "h1");
}

#[test]
fn the_process_gets_a_fresh_copy_an_allow_listed_environment_and_the_params_file() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {variables: {LEVEL: env}}}
jobs:
  a:
    source: src
    input: params/values.json
    events: [start]
    passthrough: [TERRACE_TEST_PASSED]
    commands:
      start: |
        echo "pwd-has-marker=$(cat marker)"
        echo changed > marker
        echo "input=$(cat "$TERRACE_JOB_INPUT")"
        echo "blocked=${TERRACE_TEST_BLOCKED-unset} passed=${TERRACE_TEST_PASSED-unset} level=$LEVEL"
        echo "builtins=$TERRACE_PROJECT/$TERRACE_ENVIRONMENT/$TERRACE_JOB/$TERRACE_EVENT"
        echo "home=${HOME:+set} path=${PATH:+set}"
"#,
    );
    p.write("src/marker", "original").write("params/values.json", r#"{"size": 3}"#);
    let out = p
        .command(&["up", "dev", "--json"])
        .env("TERRACE_TEST_BLOCKED", "leak")
        .env("TERRACE_TEST_PASSED", "ok")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let o: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = TestProject::job_in(&o, "a")["run_id"].as_str().unwrap().to_string();
    let log = p.log(&run);
    assert!(log.contains("pwd-has-marker=original"), "{log}");
    assert!(log.contains(r#"input={"size": 3}"#), "{log}");
    assert!(log.contains("blocked=unset passed=ok level=env"), "{log}");
    assert!(log.contains("builtins=p/dev/a/start"), "{log}");
    assert!(log.contains("home=set path=set"), "{log}");
    // the job changed its copy, never the source
    assert_eq!(std::fs::read_to_string(p.root().join("src/marker")).unwrap(), "original");
}

#[test]
fn skip_unchanged_skips_a_start_whose_inputs_are_identical() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    source: src\n    events: [start]\n    skip_unchanged: true\n    commands: {start: 'cat file'}\n  b:\n    depends_on: [a]\n    events: [start]\n    commands: {start: 'echo {\\\"B_OUT\\\": {\\\"value\\\": \\\"$TERRACE_RUN_ID\\\", \\\"sensitive\\\": false}} > $TERRACE_OUTPUT_FILE'}\n",
    );
    p.write("src/file", "one");
    p.run(&["up", "dev"]).ok();
    let second = p.run(&["up", "dev", "--json"]).ok().json();
    let a = TestProject::job_in(&second, "a");
    assert_eq!(a["state"], "skipped");
    assert!(a["reason"].as_str().unwrap().contains("unchanged since its last successful start"), "{a}");
    assert_eq!(TestProject::job_in(&second, "b")["state"], "succeeded", "a skip counts as success");
    // b's outputs change on every run; they are not a's inputs, so a stays skipped.
    let third = p.run(&["up", "dev", "--json"]).ok().json();
    assert_eq!(TestProject::job_in(&third, "a")["state"], "skipped", "{third:#}");
    assert!(p.runs_of("a")[0]["reason"].as_str().unwrap().contains("unchanged since its last successful start"));
    p.write("src/file", "two");
    let fourth = p.run(&["up", "dev", "--json"]).ok().json();
    assert_eq!(TestProject::job_in(&fourth, "a")["state"], "succeeded");
}

#[test]
fn unset_env_reference_fails_the_run_naming_the_variable() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    variables: {TOKEN: '${env:TERRACE_TEST_SURELY_UNSET}'}\n    commands: {start: 'true'}\n",
    );
    let out = p.run(&["up", "dev", "--json"]).code(1).json();
    let reason = TestProject::job_in(&out, "a")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("TOKEN") && reason.contains("TERRACE_TEST_SURELY_UNSET"), "{reason}");
}

/// An output file of the wrong shape is reported in Terrace's words: which entry, which key,
/// what was expected; never a library's type names, never the value.
#[test]
fn a_wrong_shaped_output_file_says_which_entry_which_key_and_what_was_expected() {
    let cases = [
        (
            r#"{"HOST": "s3cr3t-host"}"#,
            "output `HOST`: expected an object with the keys value and sensitive (true or false), found a string",
        ),
        (r#"{"PW": {"value": "x", "sensitive": "s3cr3t-yes"}}"#, "output `PW`: expected a boolean, found a string"),
        (r#"{"PW": {"sensitive": false}}"#, "output `PW`: the key `value` is missing"),
        (
            r#"["s3cr3t-item"]"#,
            "expected a JSON object mapping each output name to an object with the keys value and sensitive (true or false), found an array",
        ),
    ];
    for (file, expected) in cases {
        let p = TestProject::new(
            "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    \
             commands: {start: 'cat body > $TERRACE_OUTPUT_FILE'}\n    source: src\n",
        );
        p.write("src/body", file);
        let out = p.run(&["up", "dev", "--json"]).code(1).json();
        let reason = TestProject::job_in(&out, "a")["reason"].as_str().unwrap().to_string();
        assert!(reason.contains(expected), "{file}: {reason}");
        for leak in ["s3cr3t", "EntryBody", "struct", "invalid type", "missing field"] {
            assert!(!reason.contains(leak), "{leak} in: {reason}");
        }
    }
}
