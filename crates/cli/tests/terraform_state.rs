//! Terraform's state and saved plans kept by Terrace (local mode, SQLite): the `http`
//! backend on 127.0.0.1 with a token valid for one run, one state per environment, its
//! lock held by the run during apply (a second `terraform apply` fails naming it), a
//! stale saved plan refused, an old local state folder imported, and no sensitive
//! output in clear anywhere in the data folder.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tools::require_terraform;
use common::{TestProject, contains};

const MAIN_TF: &str = r#"
variable "size" {
  type    = string
  default = "s"
}
variable "hold" {
  type    = string
  default = ""
}
resource "terraform_data" "db" {
  input = var.size
  # While HOLD names a file, note the run's credentials and wait for that file to go.
  provisioner "local-exec" {
    command = var.hold == "" ? "true" : "printf '%s:%s' \"$TF_HTTP_USERNAME\" \"$TF_HTTP_PASSWORD\" > ${var.hold}.creds.tmp && mv ${var.hold}.creds.tmp ${var.hold}.creds && while [ -e ${var.hold} ]; do sleep 0.05; done"
  }
}
output "password" {
  value     = "pw-${terraform_data.db.id}"
  sensitive = true
}
"#;

fn yaml(size: &str, hold: &str) -> String {
    format!(
        "project: tf\nenvironments: {{dev: {{}}, prod: {{}}}}\njobs:\n  db:\n    template: terraform\n    source: db\n    \
         events: [start, delete]\n    variables: {{TF_VAR_size: \"{size}\", TF_VAR_hold: \"{hold}\"}}\n"
    )
}

fn project() -> TestProject {
    require_terraform();
    let p = TestProject::new(&yaml("s", ""));
    p.write("db/main.tf", MAIN_TF);
    p
}

/// The job's inputs change: its `size` variable.
fn resize(p: &TestProject, size: &str) {
    p.write("terrace.yaml", &yaml(size, ""));
}

fn password(p: &TestProject, env: &str) -> String {
    let out = p.json(&["outputs", env, "--reveal"]);
    out.as_array().unwrap().iter().find(|o| o["name"] == "password").unwrap()["value"].as_str().unwrap().to_string()
}

fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

#[test]
fn two_environments_keep_their_own_state_in_the_store_and_nothing_in_clear() {
    let p = project();
    p.run(&["up", "dev"]).ok();
    p.run(&["up", "prod"]).ok();
    let (dev, prod) = (password(&p, "dev"), password(&p, "prod"));
    assert_ne!(dev, prod, "two environments share one state");
    let log = p.log(p.runs_of("db")[0]["id"].as_str().unwrap());
    assert!(log.contains("state: kept by Terrace, http backend at http://127.0.0.1:"), "{log}");
    assert!(!log.contains("TF_HTTP_PASSWORD="), "{log}");
    // A change writes a new version of dev's state; the resource stays the one of the state.
    resize(&p, "m");
    p.run(&["up", "dev"]).ok();
    assert_eq!(password(&p, "dev"), dev, "the same state, the same resource");
    check_state_commands(&p, &dev);
    // Destroy uses the same state.
    let destroyed = p.run(&["destroy", "prod", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&destroyed, "db")["run_id"].as_str().unwrap());
    assert!(log.contains("Resources: 1 destroyed"), "{log}");

    assert!(!p.data.join("state").exists(), "no local state folder");
    for (path, bytes) in p.data_files() {
        for secret in [&dev, &prod] {
            assert!(!contains(&bytes, secret), "{secret} in clear in {}", path.display());
        }
    }
}

/// `terrace state list|show|pull` on dev, applied twice: its versions in one lineage,
/// what it holds with the password masked, and the document itself with it in clear.
fn check_state_commands(p: &TestProject, password: &str) {
    let listed = p.json(&["state", "list", "dev", "db"]);
    let versions = listed["versions"].as_array().unwrap();
    assert!(versions.len() >= 2, "two applies, two versions at least: {listed}");
    let lineages: std::collections::BTreeSet<&str> = versions.iter().map(|v| v["lineage"].as_str().unwrap()).collect();
    assert_eq!(lineages.len(), 1, "one lineage: {listed}");
    let (newest, oldest) = (&versions[0], &versions[versions.len() - 1]);
    assert!(newest["serial"].as_u64() > oldest["serial"].as_u64(), "{listed}");
    assert!(newest["run"].as_str().unwrap().starts_with("dev#"), "{listed}");
    assert!(listed["lock"].is_null(), "no run holds it: {listed}");
    let table = p.run(&["state", "list", "dev", "db"]).ok().stdout;
    assert!(table.contains("LINEAGE") && table.contains(lineages.first().unwrap()), "{table}");

    let shown = p.json(&["state", "show", "dev", "db"]);
    assert_eq!(shown["resources"][0]["address"], "terraform_data.db", "{shown}");
    let out = &shown["outputs"][0];
    assert_eq!(
        (out["name"].as_str(), out["value"].as_str(), out["sensitive"].as_bool()),
        (Some("password"), Some("***"), Some(true))
    );
    let text = p.run(&["state", "show", "dev", "db"]).ok().stdout;
    assert!(text.contains("terraform_data.db") && text.contains("***") && !text.contains(password), "{text}");
    let first = p.json(&["state", "show", "dev", "db", "--version", "1"]);
    assert_eq!(first["version"]["version"], 1, "{first}");

    let pulled: serde_json::Value = serde_json::from_str(&p.run(&["state", "pull", "dev", "db"]).ok().stdout).unwrap();
    assert_eq!(pulled["lineage"].as_str(), lineages.first().copied());
    assert_eq!(pulled["outputs"]["password"]["value"], password, "pull gives the document as Terraform wrote it");
    let missing = p.run(&["state", "show", "dev", "nope"]).code(2);
    assert!(missing.stderr.contains("not found") && missing.stderr.contains("tf/dev/nope"), "{}", missing.stderr);
}

#[test]
fn the_run_holds_the_lock_during_apply_and_only_its_own_credentials_open_the_state() {
    let p = project();
    let hold = p.root().join("hold");
    std::fs::write(&hold, "").unwrap();
    p.write("terrace.yaml", &yaml("s", &hold.display().to_string()));
    let mut up = p
        .command(&["up", "dev"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let creds = wait_for(&hold.with_extension("creds"));
    let (run, token) = creds.split_once(':').unwrap();
    let log = p.log(run);
    let address = log.split("http backend at ").nth(1).unwrap().lines().next().unwrap().trim().to_string();

    // A second `terraform apply` on the same state, with valid credentials, is refused:
    // the run holds the lock.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("main.tf"), "resource \"terraform_data\" \"x\" {}\n").unwrap();
    std::fs::write(
        other.path().join("backend_override.tf"),
        format!(
            "terraform {{\n  backend \"http\" {{\n    address = \"{address}\"\n    lock_address = \"{address}\"\n    \
             unlock_address = \"{address}\"\n    lock_method = \"LOCK\"\n    unlock_method = \"UNLOCK\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let terraform = |args: &[&str]| {
        Command::new("terraform")
            .args(args)
            .current_dir(other.path())
            .env("TF_HTTP_USERNAME", run)
            .env("TF_HTTP_PASSWORD", token)
            .env("TF_IN_AUTOMATION", "1")
            .output()
            .unwrap()
    };
    let init = terraform(&["init", "-input=false", "-no-color"]);
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let second = terraform(&["apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=0s"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second apply ran while the state was locked");
    assert!(stderr.contains("lock"), "the refusal names the lock: {stderr}");

    // Credentials are those of this run, for this job's state only.
    let get = |url: &str, user: &str, pass: &str| {
        client().get(url).basic_auth(user, Some(pass)).send().unwrap().status().as_u16()
    };
    assert!([200, 204].contains(&get(&address, run, token)));
    assert_eq!(get(&address, run, &"0".repeat(64)), 401);
    assert_eq!(get(&address, "not-a-run", token), 401);
    assert_eq!(client().get(&address).send().unwrap().status().as_u16(), 401);
    assert_eq!(get(&address.replace("/dev/", "/prod/"), run, token), 403);

    std::fs::remove_file(&hold).unwrap();
    assert!(up.wait().unwrap().success());
    let done = p.runs_of("db");
    assert_eq!(done[0]["state"], "succeeded", "{done:#?}");
}

#[test]
fn a_saved_plan_is_applied_from_the_store_and_refused_once_stale() {
    let p = project();
    let plan = p.run(&["plan", "dev", "--json"]).ok().json();
    let planned = TestProject::job_in(&plan, "db")["run_id"].as_str().unwrap().to_string();
    let applied = p.run(&["run", "db", "--env", "dev", "--event", "start", "--plan", &planned, "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&applied, "db")["run_id"].as_str().unwrap());
    assert!(log.contains("applying the saved plan kept in the store"), "{log}");
    assert!(!log.contains("plan: terraform plan"), "it planned again: {log}");
    assert!(log.contains("1 added"), "{log}");

    // A plan made, then the state moves: that plan is refused, and nothing is applied.
    resize(&p, "m");
    let plan = p.run(&["plan", "dev", "--json"]).ok().json();
    let stale = TestProject::job_in(&plan, "db")["run_id"].as_str().unwrap().to_string();
    resize(&p, "l");
    p.run(&["up", "dev"]).ok();
    resize(&p, "m");
    let refused = p.run(&["run", "db", "--env", "dev", "--event", "start", "--plan", &stale, "--json"]).code(1).json();
    let reason = TestProject::job_in(&refused, "db")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("saved plan refused") && reason.contains("state has moved"), "{reason}");
    // Other inputs than the plan's are refused too.
    let fresh = p.run(&["plan", "dev", "--json"]).ok().json();
    let fresh = TestProject::job_in(&fresh, "db")["run_id"].as_str().unwrap().to_string();
    resize(&p, "xl");
    let other = p.run(&["run", "db", "--env", "dev", "--event", "start", "--plan", &fresh, "--json"]).code(1).json();
    let reason = TestProject::job_in(&other, "db")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("other inputs"), "{reason}");
    // A run that is not a plan of this job is refused before anything runs.
    let err = p.run(&["run", "db", "--env", "prod", "--event", "start", "--plan", &fresh]).code(2);
    assert!(err.stderr.contains("not a `plan` run of `db` in `prod`"), "{}", err.stderr);
}

#[test]
fn an_old_local_state_folder_is_imported_on_first_use() {
    let p = project();
    // A state as an earlier Terrace kept it: applied with the local backend.
    let old = p.data.join("state/tf/dev/db");
    std::fs::create_dir_all(&old).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("main.tf"), MAIN_TF).unwrap();
    let state = old.join("terraform.tfstate");
    let apply = Command::new("terraform")
        .args(["apply", "-auto-approve", "-input=false", "-no-color"])
        .arg(format!("-state={}", state.display()))
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", String::from_utf8_lossy(&apply.stderr));
    let before = String::from_utf8(std::fs::read(&state).unwrap()).unwrap();
    let id = before.split("\"id\": \"").nth(1).unwrap().split('"').next().unwrap().to_string();

    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "db")["run_id"].as_str().unwrap());
    assert!(log.contains("state: imported") && log.contains("as version 1"), "{log}");
    assert!(log.contains("0 added, 0 changed, 0 destroyed"), "the imported resource was kept: {log}");
    assert_eq!(password(&p, "dev"), format!("pw-{id}"));
    assert!(!state.exists(), "the clear-text state is gone once imported");
}
