//! Secrets never leak: masked in stored and printed logs (also split across reads),
//! masked in `outputs` unless revealed, absent from the database file.

mod common;

use common::{TestProject, contains};

const PROJECT: &str = r#"project: p
variables:
  API_TOKEN: {value: "${env:TERRACE_TEST_TOKEN}", secret: true}
environments: {dev: {}}
jobs:
  db:
    events: [start]
    commands:
      start: |
        echo "token is $API_TOKEN"
        printf 'split: %s' "${API_TOKEN%%7d6c5b}"; sleep 0.3; printf '7d6c5b\n'
        printf '{"DB_PASS": {"value": "s3cret-pass-42", "sensitive": true}, "DB_HOST": {"value": "db.local", "sensitive": false}}' > "$TERRACE_OUTPUT_FILE"
        sleep 0.5
        echo "own output from then on: s3cret-pass-42"
  app:
    depends_on: [db]
    events: [start]
    commands:
      start: 'echo "app sees $DB_PASS and $TERRACE_OUTPUT_JOB_DB_DB_PASS" >&2'
"#;

#[test]
fn secrets_are_masked_everywhere_and_never_stored_in_clear() {
    let p = TestProject::new(PROJECT);
    let token = "tok-9f8e7d6c5b";
    let out = p.command(&["up", "dev", "--json"]).env("TERRACE_TEST_TOKEN", token).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for secret in [token, "s3cret-pass-42"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} printed:\n{stderr}");
    }
    assert!(stderr.contains("token is ***"), "{stderr}");
    let o: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let db_log = p.log(TestProject::job_in(&o, "db")["run_id"].as_str().unwrap());
    assert!(db_log.contains("token is ***"), "{db_log}");
    assert!(db_log.contains("split: ***"), "{db_log}");
    assert!(db_log.contains("own output from then on: ***"), "{db_log}");
    assert!(!db_log.contains("s3cret-pass-42") && !db_log.contains(token), "{db_log}");
    let app_log = p.log(TestProject::job_in(&o, "app")["run_id"].as_str().unwrap());
    assert!(app_log.contains("app sees *** and ***"), "{app_log}");

    let masked = p.run(&["outputs", "dev"]).ok().stdout;
    assert!(masked.contains("***") && !masked.contains("s3cret-pass-42"), "{masked}");
    assert!(masked.contains("db.local"), "{masked}");
    let revealed = p.json(&["outputs", "dev", "--reveal"]);
    let pass = revealed.as_array().unwrap().iter().find(|o| o["name"] == "DB_PASS").unwrap();
    assert_eq!(pass["value"], "s3cret-pass-42");
    assert_eq!(pass["sensitive"], true);

    let bytes = p.store_bytes();
    assert!(!bytes.is_empty());
    assert!(contains(&bytes, "db.local"), "the check must see plain values");
    assert!(!contains(&bytes, "s3cret-pass-42"), "a sensitive output is stored in clear");
    assert!(!contains(&bytes, token), "a secret variable is stored in clear");
    let key = std::fs::metadata(p.data.join("master.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_secret_split_across_reads_on_a_long_line_is_masked() {
    let p = TestProject::new(
        "project: p\nvariables:\n  K: {value: abcdefghij, secret: true}\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    commands:\n      start: |\n        printf 'x%.0s' $(seq 1 70000); printf 'abcde'; sleep 0.2; printf 'fghij tail\\n'\n",
    );
    let out = p.run(&["up", "dev", "--json", "--quiet"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "a")["run_id"].as_str().unwrap());
    assert!(!log.contains("abcdefghij"), "secret leaked");
    assert!(log.contains("*** tail"), "{}", &log[log.len().saturating_sub(200)..]);
}

/// `terrace secret set|list|delete` without a server: the store of the data folder,
/// encrypted, read by `${secret:NAME}`, masked; the same checks as the API.
#[test]
fn secrets_are_set_listed_and_deleted_in_local_mode_too() {
    let p = TestProject::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    variables: {PW: '${secret:DB_PW}'}\n    \
         commands: {start: 'echo \"pw is $PW\"'}\n",
    );
    let set = |name: &str, value: &str| {
        use std::io::Write;
        let mut child = p
            .command(&["secret", "set", name, "--env", "dev"])
            .env_remove("TERRACE_SERVER")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(value.as_bytes()).unwrap();
        common::Run::from_output(child.wait_with_output().unwrap())
    };
    let done = set("DB_PW", "s3cr3t-local-pw\n").ok();
    assert!(done.stderr.contains("secret DB_PW set for environment `dev`"), "{}", done.stderr);
    let list = p.json(&["secret", "list", "--env", "dev"]);
    assert_eq!(list[0]["name"], "DB_PW");
    assert!(!list.to_string().contains("s3cr3t"), "values are never listed: {list}");
    assert!(p.run(&["secret", "list", "--env", "dev"]).ok().stdout.contains("DB_PW"));

    let up = p.run(&["up", "dev"]).ok();
    assert!(up.stderr.contains("pw is ***") && !up.stderr.contains("s3cr3t"), "{}", up.stderr);
    assert!(!contains(&p.store_bytes(), "s3cr3t-local-pw"), "encrypted at rest");

    // The same refusals as the API, none repeating the value.
    assert!(set("not-a-name", "x").code(2).stderr.contains("not a variable name"));
    assert!(set("DB_PW2", &"x".repeat(70_000)).code(2).stderr.contains("at most 65536 bytes"));
    let unknown = p.run(&["secret", "list", "--env", "nope"]).code(2);
    assert!(unknown.stderr.contains("environment `nope` is not defined"), "{}", unknown.stderr);

    p.run(&["secret", "delete", "DB_PW", "--env", "dev"]).ok();
    assert_eq!(p.json(&["secret", "list", "--env", "dev"]), serde_json::json!([]));
    assert_eq!(p.run(&["secret", "delete", "DB_PW", "--env", "dev"]).code, 2, "already gone");
    let failed = p.run(&["up", "dev", "--json"]).code(1).json();
    let reason = TestProject::job_in(&failed, "a")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("DB_PW"), "the run names the missing secret: {reason}");
}
