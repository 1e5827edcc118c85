//! Terraform through a server, on SQLite and on PostgreSQL: the state served by the
//! server's own http backend, kept per environment with its versions, read through
//! `terrace --server URL state list|show|pull` (pull for admins only), a saved plan
//! applied through the server (`run --plan`) and refused once stale, and no sensitive
//! output in clear in the database.

use std::process::Command;

use serde_json::Value;

use crate::replicas::{every_row_as_text, fresh_database, postgres_url};
use crate::support::*;

const MAIN_TF: &str = r#"
variable "size" {
  type    = string
  default = "s"
}
resource "terraform_data" "db" {
  input = var.size
}
output "password" {
  value     = "pw-${terraform_data.db.id}"
  sensitive = true
}
"#;

fn yaml(size: &str) -> String {
    format!(
        "project: tf\nenvironments: {{dev: {{}}, prod: {{}}}}\njobs:\n  db:\n    template: terraform\n    source: db\n    \
         events: [start, delete]\n    variables: {{TF_VAR_size: \"{size}\"}}\n"
    )
}

struct Cli<'a> {
    server: &'a Server,
    project: std::path::PathBuf,
}

impl Cli<'_> {
    /// `terrace --server URL ARGS` with `token`: (exit code, stdout, stderr).
    fn run(&self, token: &str, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin())
            .args(args)
            .arg("--project")
            .arg(&self.project)
            .env("TERRACE_SERVER", &self.server.url)
            .env("TERRACE_TOKEN", token)
            .output()
            .expect("run terrace");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    #[track_caller]
    fn ok(&self, token: &str, args: &[&str]) -> String {
        let (code, out, err) = self.run(token, args);
        assert_eq!(code, 0, "terrace {args:?}:\n{out}\n{err}\n{}", self.server.log());
        out
    }

    #[track_caller]
    fn json(&self, token: &str, args: &[&str]) -> Value {
        let out = self.ok(token, args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

fn run_of(outcome: &Value) -> String {
    outcome["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "db").unwrap()["run_id"].as_str().unwrap().into()
}

/// The whole flow on the server's store (`--database` when given, else SQLite in the
/// data folder); returns the passwords the two environments' outputs hold.
fn through_the_server(f: &Fixture, database: Option<&str>) -> Vec<String> {
    f.write("proj/db/main.tf", MAIN_TF);
    let db_args: Vec<&str> = database.map(|d| vec!["--database", d]).unwrap_or_default();
    let token = |role: &str| {
        let out = Command::new(bin())
            .args(["token", "create", "--role", role, "--name", role, "--data"])
            .arg(f.data())
            .args(&db_args)
            .env_remove("TERRACE_SERVER")
            .output()
            .expect("run terrace token create");
        assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (admin, viewer) = (token("admin"), token("viewer"));
    let mut server = f.start(&db_args);
    let cli = Cli { server: &server, project: f.project() };

    cli.ok(&admin, &["up", "dev"]);
    cli.ok(&admin, &["up", "prod"]);
    let passwords: Vec<String> = ["dev", "prod"]
        .iter()
        .map(|env| {
            let outputs = cli.json(&admin, &["outputs", env, "--reveal", "--json"]);
            outputs[0]["value"].as_str().unwrap().to_string()
        })
        .collect();
    assert_ne!(passwords[0], passwords[1], "two environments share one state");

    // A saved plan applied through the server; then one made stale is refused.
    f.write("proj/terrace.yaml", &yaml("m"));
    let planned = run_of(&cli.json(&admin, &["plan", "dev", "--json"]));
    let applied = cli.json(&admin, &["run", "db", "--env", "dev", "--event", "start", "--plan", &planned, "--json"]);
    let api = server.api(Some(&admin));
    let log = api.ok("GET", &format!("/runs/{}/logs", run_of(&applied)), None);
    let text: Vec<&str> = log["lines"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(text.iter().any(|l| l.contains("applying the saved plan kept in the store")), "{text:#?}");
    f.write("proj/terrace.yaml", &yaml("l"));
    let stale = run_of(&cli.json(&admin, &["plan", "dev", "--json"]));
    cli.ok(&admin, &["up", "dev"]);
    let (code, out, _) =
        cli.run(&admin, &["run", "db", "--env", "dev", "--event", "start", "--plan", &stale, "--json"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("state has moved"), "{out}");
    let (code, _, err) = cli.run(&admin, &["run", "db", "--env", "prod", "--event", "start", "--plan", &stale]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a `plan` run of `db` in `prod`"), "{err}");

    // The state's versions: one lineage per environment, each version written by a run.
    let listed = cli.json(&viewer, &["state", "list", "dev", "db", "--json"]);
    let versions = listed["versions"].as_array().unwrap();
    assert!(versions.len() >= 3, "{listed}");
    let lineages: std::collections::BTreeSet<&str> = versions.iter().map(|v| v["lineage"].as_str().unwrap()).collect();
    assert_eq!(lineages.len(), 1, "{listed}");
    assert!(versions.iter().all(|v| v["run"].as_str().is_some_and(|r| r.starts_with("dev#"))), "{listed}");
    let prod = cli.json(&viewer, &["state", "list", "prod", "db", "--json"]);
    assert_ne!(prod["versions"][0]["lineage"], versions[0]["lineage"], "each environment has its own state");
    let shown = cli.ok(&viewer, &["state", "show", "dev", "db"]);
    assert!(shown.contains("terraform_data.db") && shown.contains("***"), "{shown}");
    assert!(!shown.contains(&passwords[0]), "{shown}");
    // The document holds every secret: admins only, and audited.
    let (code, _, err) = cli.run(&viewer, &["state", "pull", "dev", "db"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("admin"), "{err}");
    let pulled: Value = serde_json::from_str(&cli.ok(&admin, &["state", "pull", "dev", "db"])).unwrap();
    assert_eq!(pulled["lineage"].as_str(), lineages.first().copied());
    let audit = api.ok("GET", "/audit", None);
    assert!(audit.as_array().unwrap().iter().any(|a| a["action"] == "state.pull"), "{audit}");
    assert!(server.stop(), "{}", server.log());
    passwords
}

#[test]
fn terraform_through_the_server_on_sqlite() {
    let f = Fixture::new(&yaml("s"));
    let passwords = through_the_server(&f, None);
    for entry in walk(&f.data()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for p in &passwords {
            assert!(!bytes.windows(p.len()).any(|w| w == p.as_bytes()), "{p} in clear in {}", entry.display());
        }
    }
}

#[test]
fn terraform_through_the_server_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (db, _) = fresh_database(&url);
    let f = Fixture::new(&yaml("s"));
    let passwords = through_the_server(&f, Some(&db));
    let dump = every_row_as_text(&db);
    assert!(!dump.is_empty(), "the database holds rows");
    for p in &passwords {
        let hex: String = p.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.iter().any(|r| r.contains(p.as_str()) || r.contains(&hex)), "{p} in clear in the database");
    }
}

/// Every file under `dir`.
pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_local_data_folder_moves_into_a_server_which_goes_on_with_the_same_state() {
    let f = Fixture::new(&yaml("s"));
    f.write("proj/db/main.tf", MAIN_TF);
    let here = f.dir.path().join("local");
    let (code, out, err) = f.local_in(&here, &["up", "dev"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (_, out, _) = f.local_in(&here, &["outputs", "dev", "--reveal", "--json"], &[]);
    let password = serde_json::from_str::<Value>(&out).unwrap()[0]["value"].as_str().unwrap().to_string();
    let (_, out, _) = f.local_in(&here, &["state", "list", "dev", "db", "--json"], &[]);
    let before: Value = serde_json::from_str(&out).unwrap();

    let database = format!("sqlite://{}", f.data().join("terrace.db").display());
    let (code, out, err) = f.local_in(&here, &["import", "--database", &database, "--json"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let env = &report["environments"][0];
    assert_eq!((env["environment"].as_str(), env["outcome"].as_str()), (Some("dev"), Some("imported")), "{report}");
    assert_eq!(env["runs"], 1, "{report}");
    assert_eq!(env["outputs"], 1, "{report}");
    assert_eq!(report["states"][0][0], "dev/db", "{report}");
    // Read with the local folder's key, sealed with the server's: two keys, two stores.
    let keys = [here.join("master.key"), f.data().join("master.key")].map(|k| std::fs::read_to_string(k).unwrap());
    assert_ne!(keys[0], keys[1], "the local folder and the server each have their own key");
    // Again: nothing new to move.
    let (code, out, err) = f.local_in(&here, &["import", "--database", &database], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("environment `dev`: updated, 0 runs, 0 outputs"), "{out}");
    assert!(out.contains("state dev/db: the server has it already"), "{out}");

    let admin = f.token("admin", "root");
    let mut server = f.start(&[]);
    let cli = Cli { server: &server, project: f.project() };
    let status = cli.json(&admin, &["status", "dev", "--json"]);
    assert_eq!(status["state"], "running", "{status}");
    let outputs = cli.json(&admin, &["outputs", "dev", "--reveal", "--json"]);
    assert_eq!(outputs[0]["value"].as_str(), Some(password.as_str()), "outputs moved, secrets opened again");
    let moved = cli.json(&admin, &["state", "list", "dev", "db", "--json"]);
    assert_eq!(moved["versions"], before["versions"], "every version, as it was");

    // `up` through the server: the same resource (no re-create), the same lineage.
    f.write("proj/terrace.yaml", &yaml("m"));
    let up = cli.json(&admin, &["up", "dev", "--json"]);
    let run = run_of(&up);
    let number = up["jobs"][0]["number"].as_u64().unwrap();
    assert_eq!(number, 2, "numbering goes on from the local runs: {up}");
    let api = server.api(Some(&admin));
    let log = api.ok("GET", &format!("/runs/{run}/logs"), None);
    let text: Vec<&str> = log["lines"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(text.iter().any(|l| l.contains("0 added")), "the resource was kept, not created again: {text:#?}");
    let outputs = cli.json(&admin, &["outputs", "dev", "--reveal", "--json"]);
    assert_eq!(outputs[0]["value"].as_str(), Some(password.as_str()), "the same resource");
    let after = cli.json(&admin, &["state", "list", "dev", "db", "--json"]);
    let lineages: std::collections::BTreeSet<&str> =
        after["versions"].as_array().unwrap().iter().map(|v| v["lineage"].as_str().unwrap()).collect();
    assert_eq!(lineages.len(), 1, "one lineage: {after}");
    assert!(after["versions"].as_array().unwrap().len() > before["versions"].as_array().unwrap().len());
    assert!(server.stop(), "{}", server.log());
}
