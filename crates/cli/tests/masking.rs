//! A sensitive value a job writes to its output file is masked in every line the job
//! prints after the write, with no delay between them (issue #10): in the live log, the
//! stored log and the database, every time. What the masker takes is bounded, and
//! values too short to mask are left alone, said once in the log.

mod common;

use common::{TestProject, contains};

/// The brief's own commands, no delay, in 200 jobs of one pipeline.
#[test]
fn a_value_printed_right_after_it_is_written_never_leaks() {
    const JOBS: usize = 200;
    let mut yaml = String::from("project: p\nenvironments: {dev: {}}\njobs:\n");
    for i in 0..JOBS {
        yaml.push_str(&format!(
            "  j{i:03}:\n    events: [start]\n    commands:\n      start: |\n        printf '{{\"TOKEN_{i}\":{{\"value\":\"s3cr3t-{i:03}-x\",\"sensitive\":true}}}}' > \"$TERRACE_OUTPUT_FILE\"; cat \"$TERRACE_OUTPUT_FILE\"\n"
        ));
    }
    let p = TestProject::new(&yaml);
    let out = p.command(&["up", "dev", "--json", "--parallel", "4"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains("s3cr3t") && !stderr.contains("s3cr3t"), "printed in clear:\n{stderr}");
    assert_eq!(stderr.matches(r#"{"TOKEN_"#).count(), JOBS, "every job's echo reaches the live log");
    assert_no_secret_at_rest(&p, "s3cr3t");
    let o: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let log = p.log(TestProject::job_in(&o, "j042")["run_id"].as_str().unwrap());
    assert!(log.contains(r#"{"TOKEN_42":{"value":"***","sensitive":true}}"#), "{log}");
}

/// One job rewrites the file 300 times (`>`: truncated, then written), each version
/// keeping the values before it, and prints each version at once.
#[test]
fn a_file_rewritten_and_printed_300_times_never_leaks() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  rewrites:
    events: [start]
    commands:
      start: |
        i=0; all=''
        while [ $i -lt 300 ]; do
          all="$all\"T$i\": {\"value\": \"s3cr3t-rw-$i\", \"sensitive\": true}, "
          printf '{%s"N": {"value": "%d", "sensitive": false}}' "$all" $i > "$TERRACE_OUTPUT_FILE"
          cat "$TERRACE_OUTPUT_FILE" >&2; echo >&2
          i=$((i+1))
        done
"#,
    );
    let out = p.command(&["up", "dev", "--json"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "printed in clear");
    assert_no_secret_at_rest(&p, "s3cr3t");
    let o: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let log = p.log(TestProject::job_in(&o, "rewrites")["run_id"].as_str().unwrap());
    assert_eq!(log.matches(r#"{"T0": {"value": "***", "sensitive": true}"#).count(), 300);
}

fn assert_no_secret_at_rest(p: &TestProject, secret: &str) {
    for (path, bytes) in p.data_files() {
        assert!(!contains(&bytes, secret), "a secret at rest in clear in {}", path.display());
    }
}

/// `terraform output -json > "$TERRACE_OUTPUT_FILE"; cat "$TERRACE_OUTPUT_FILE"` in a job.
#[test]
fn terraform_output_json_printed_at_once_is_masked() {
    common::tools::require_terraform();
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  tf:
    source: tf
    events: [start]
    commands:
      start: |
        export TF_IN_AUTOMATION=1
        terraform init -input=false -no-color >/dev/null
        terraform apply -auto-approve -input=false -no-color >/dev/null
        terraform output -json > "$TERRACE_OUTPUT_FILE"; cat "$TERRACE_OUTPUT_FILE"
"#,
    );
    p.write(
        "tf/main.tf",
        r#"resource "terraform_data" "x" { input = "tf-s3cr3t-value-9" }
output "token" {
  value     = terraform_data.x.output
  sensitive = true
}
output "db-host" { value = "db.internal" }
"#,
    );
    let out = p.command(&["up", "dev", "--json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("tf-s3cr3t-value-9"), "{stderr}");
    assert!(stderr.contains(r#""value": "***""#), "{stderr}");
    assert_no_secret_at_rest(&p, "tf-s3cr3t-value-9");
    // `db-host` is not a variable name: renamed, said in the log, not a failure.
    let o: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = p.log(TestProject::job_in(&o, "tf")["run_id"].as_str().unwrap());
    assert!(log.contains("output `db-host` is available as `db_host`"), "{log}");
    let outputs = p.json(&["outputs", "dev"]);
    assert!(outputs.as_array().unwrap().iter().any(|o| o["name"] == "db_host" && o["value"] == "db.internal"));
}

/// A 64 KiB repetitive secret (the size that took 25 s) is masked in three jobs; one of
/// two characters is not masked at all, and the log says so once.
#[test]
fn a_maximal_secret_is_masked_and_a_tiny_one_is_left_alone_with_a_note() {
    let p = TestProject::new(
        r#"project: p
environments: {dev: {}}
jobs:
  a:
    events: [start]
    commands:
      start: |
        big=$(head -c 65536 /dev/zero | tr '\0' 'Z' | sed 's/ZZ/ab/g')
        printf '{"BIG": {"value": "%s", "sensitive": true}, "PIN": {"value": "42", "sensitive": true}}' "$big" > "$TERRACE_OUTPUT_FILE"
        echo "a: <$big>"
  b:
    depends_on: [a]
    events: [start]
    commands: {start: 'echo "b: <$BIG> pin=$PIN 1942"'}
  c:
    depends_on: [a]
    events: [start]
    commands: {start: 'echo "c: <$BIG>"'}
"#,
    );
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let big = "ab".repeat(32 * 1024);
    for job in ["a", "b", "c"] {
        let log = p.log(TestProject::job_in(&out, job)["run_id"].as_str().unwrap());
        assert!(log.contains(&format!("{job}: <***>")), "{job}: {}", &log[..log.len().min(2000)]);
        assert!(!log.contains(&big[..64]), "{job} leaked the big secret");
    }
    let b = p.log(TestProject::job_in(&out, "b")["run_id"].as_str().unwrap());
    assert!(b.contains("pin=42 1942"), "a two-character secret must not mask every 42: {b}");
    assert_eq!(b.matches("fewer than 4 characters are not masked").count(), 1, "{b}");
    let a = p.log(TestProject::job_in(&out, "a")["run_id"].as_str().unwrap());
    assert!(a.contains("sensitive output `PIN`"), "{a}");
}
