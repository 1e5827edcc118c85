//! `terrace import` moves the secrets set with `terrace secret set` in local mode (the
//! project's and each environment's) into a server's store, on SQLite and on PostgreSQL:
//! opened with the data folder's key, sealed with the server's, so a job's `${secret:NAME}`
//! reads the same value through the server (masked in its log). A secret the server has
//! already is kept; a second import moves nothing; no value is printed, nor stored in clear.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::replicas::{MASTER_KEY, every_row_as_text, fresh_database, postgres_url};
use crate::support::*;
use crate::terraform::walk;

/// Every value set in this test: none may be printed or stored in clear.
const VALUES: [&str; 6] =
    ["dev-pw-5521", "prod-pw-8813", "local-keep-3391", "prod-keep-1177", "server-keep-4470", "proj-reg-6602"];

fn yaml(seen: &Path) -> String {
    format!(
        "project: shop\nenvironments: {{dev: {{}}, prod: {{}}}}\njobs:\n  a:\n    events: [start]\n    \
         variables: {{PW: '${{secret:DB_PW}}', KEEP: '${{secret:KEEP}}', REG: '${{secret:REGISTRY}}'}}\n    commands:\n      \
         start: |\n        echo \"pw=$PW keep=$KEEP reg=$REG\"\n        printf '%s|%s|%s' \"$PW\" \"$KEEP\" \"$REG\" > {}\n",
        seen.display()
    )
}

/// `terrace secret set NAME [--env ENV]` with the value on stdin: in local mode on the
/// data folder `data`, or through the server when `server` is given as (url, token).
fn set_secret(f: &Fixture, data: &Path, server: Option<(&str, &str)>, name: &str, env: Option<&str>, value: &str) {
    let mut command = Command::new(bin());
    command
        .args(["secret", "set", name])
        .args(env.iter().flat_map(|e| ["--env", *e]))
        .current_dir(f.project())
        .env_remove("TERRACE_MASTER_KEY");
    match server {
        Some((url, token)) => command.env("TERRACE_SERVER", url).env("TERRACE_TOKEN", token),
        None => command.arg("--data").arg(data).env_remove("TERRACE_SERVER"),
    };
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(value.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "secret set {name}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `terrace import --database DATABASE ARGS` from the data folder `data`: (stdout, stderr).
fn import(f: &Fixture, data: &Path, database: &str, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let (code, stdout, stderr) = f.local_in(data, &[&["import", "--database", database], args].concat(), env);
    assert_eq!(code, 0, "import:\n{stdout}\n{stderr}");
    for v in VALUES {
        assert!(!stdout.contains(v) && !stderr.contains(v), "{v} printed by the import:\n{stdout}\n{stderr}");
    }
    (stdout, stderr)
}

/// `up ENV` through the server: what the job saw (`PW|KEEP`) and its log as stored.
fn up(f: &Fixture, server: &Server, token: &str, env: &str) -> (String, String) {
    let (code, out, err) = terrace(server, token, &f.project(), &["up", env, "--json"]);
    assert_eq!(code, 0, "up {env}:\n{out}\n{err}\n{}", server.log());
    let outcome: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let run = outcome["jobs"][0]["run_id"].as_str().expect("the job's run").to_string();
    let log = server.api(Some(token)).ok("GET", &format!("/runs/{run}/logs"), None);
    let text: Vec<&str> = log["lines"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str()).collect();
    let seen = std::fs::read_to_string(f.dir.path().join("seen")).expect("the job wrote what it saw");
    (seen, text.join("\n"))
}

/// The whole move onto the server's store (`--database` when given, else SQLite in the
/// server's data folder).
fn secrets_move(f: &Fixture, database: Option<&str>) {
    f.write("proj/terrace.yaml", &yaml(&f.dir.path().join("seen")));
    let here = f.dir.path().join("local");
    for (name, env, value) in [
        ("DB_PW", Some("dev"), VALUES[0]),
        ("DB_PW", Some("prod"), VALUES[1]),
        ("KEEP", Some("dev"), VALUES[2]),
        ("KEEP", Some("prod"), VALUES[3]),
        ("REGISTRY", None, VALUES[5]),
    ] {
        set_secret(f, &here, None, name, env, value);
    }

    // The server has its own KEEP for dev before the import.
    let (db_args, server_env, target) = match database {
        Some(db) => (vec!["--database", db], vec![("TERRACE_MASTER_KEY", MASTER_KEY)], db.to_string()),
        None => (vec![], vec![], format!("sqlite://{}", f.data().join("terrace.db").display())),
    };
    let admin = match database {
        Some(db) => {
            let out = Command::new(bin())
                .args(["token", "create", "--role", "admin", "--name", "root", "--database", db])
                .env_remove("TERRACE_SERVER")
                .env("TERRACE_MASTER_KEY", MASTER_KEY)
                .output()
                .expect("run terrace token create");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        }
        None => f.token("admin", "root"),
    };
    let mut server = Server::start_with_env(&f.project(), &f.data(), &db_args, &server_env);
    set_secret(f, &here, Some((&server.url, &admin)), "KEEP", Some("dev"), VALUES[4]);

    let (out, _) = import(f, &here, &target, &["--json"], &server_env);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(report["secrets"], serde_json::json!({"moved": 4, "kept": 1}), "{report}");
    // Again: the server has every one of them now.
    let (out, _) = import(f, &here, &target, &[], &server_env);
    assert!(out.contains("secrets: 0 moved, 5 kept (the server has them already"), "{out}");

    // Both imports are in the server's audit log, with counts and no value.
    let audit = server.api(Some(&admin)).ok("GET", "/audit", None);
    let imports: Vec<&str> = audit
        .as_array()
        .or_else(|| audit["items"].as_array())
        .unwrap_or_else(|| panic!("the audit log: {audit}"))
        .iter()
        .filter(|a| a["action"] == "import")
        .filter_map(|a| a["detail"].as_str())
        .collect();
    assert_eq!(imports.len(), 2, "{audit}");
    assert!(imports.iter().any(|d| d.contains("secrets 4 moved, 1 kept")), "{imports:?}");
    assert!(!VALUES.iter().any(|v| audit.to_string().contains(v)), "{audit}");

    // The jobs read the moved values through the server, the server's own KEEP for dev.
    let (seen, log) = up(f, &server, &admin, "dev");
    assert_eq!(seen, format!("{}|{}|{}", VALUES[0], VALUES[4], VALUES[5]), "dev's secrets on the server");
    assert!(log.contains("pw=*** keep=*** reg=***"), "masked in the log:\n{log}");
    let (seen, log) = up(f, &server, &admin, "prod");
    assert_eq!(seen, format!("{}|{}|{}", VALUES[1], VALUES[3], VALUES[5]), "prod's and the project's moved");
    assert!(log.contains("pw=*** keep=*** reg=***"), "masked in the log:\n{log}");
    let server_log = server.log();
    assert!(server.stop(), "{server_log}");
    for v in VALUES {
        assert!(!server_log.contains(v), "{v} in the server's log");
    }
    // The local folder keeps its own secrets: moved, not taken away.
    let (code, out, err) = f.local_in(&here, &["secret", "list", "--env", "dev"], &[]);
    assert!(code == 0 && out.contains("KEEP") && out.contains("DB_PW"), "{out}\n{err}");
}

#[test]
fn local_secrets_move_into_a_sqlite_server_and_jobs_read_them() {
    let f = Fixture::new("");
    secrets_move(&f, None);
    // No value in clear in the server's data folder (database, WAL, logs).
    for entry in walk(&f.data()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for v in VALUES {
            assert!(!bytes.windows(v.len()).any(|w| w == v.as_bytes()), "{v} in clear in {}", entry.display());
        }
    }
}

#[test]
fn local_secrets_move_into_a_postgres_server_and_jobs_read_them() {
    let Some(url) = postgres_url() else { return };
    let (db, _) = fresh_database(&url);
    let f = Fixture::new("");
    secrets_move(&f, Some(&db));
    let dump = every_row_as_text(&db);
    assert!(dump.iter().any(|r| r.contains("DB_PW")), "the secrets are there, by name");
    for v in VALUES {
        let hex: String = v.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.iter().any(|r| r.contains(v) || r.contains(&hex)), "{v} in clear in the database");
    }
}
