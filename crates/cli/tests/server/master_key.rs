//! A server keeps to the master key its store was sealed with: started with another key
//! it refuses to start (exit 2, the store's message naming the key's source and the fix),
//! on SQLite and on PostgreSQL. `terrace import` opens a local data folder with that
//! folder's own key and seals what it moves with the server's.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::replicas::{fresh_database, postgres_url};
use crate::support::*;

const SERVER_KEY: &str = "5345525645522d4b45592d6f662d7468652d6d61737465722d6b65792d746573";
const OTHER_KEY: &str = "4f544845522d4b45592d6e6f742d7468652d73746f7265732d6f776e2d6b6579";

const YAML: &str = "project: shop\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    commands:\n      \
                    start: 'printf \"{\\\"PW\\\": {\\\"value\\\": \\\"pw-sealed-7731\\\", \\\"sensitive\\\": true}}\" > $TERRACE_OUTPUT_FILE'\n";

/// `terrace server` that must stop before it listens: its exit status and stderr.
fn refused_server(f: &Fixture, extra: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let log = f.dir.path().join("refused-server.log");
    let mut child = Command::new(bin())
        .args(["server", "--listen", "127.0.0.1:0", "--project"])
        .arg(f.project())
        .arg("--data")
        .arg(f.data())
        .args(extra)
        .env_remove("TERRACE_SERVER")
        .env_remove("TERRACE_MASTER_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn terrace server");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(status) = child.try_wait().expect("wait") {
            return (status.code(), std::fs::read_to_string(&log).unwrap_or_default());
        }
        if text.contains("listening on") || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started (or hung) on a store sealed with another key:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_server_refuses_to_start_on_a_store_sealed_with_another_key() {
    let f = Fixture::new(YAML);
    // The store is made, and sealed with the data folder's master.key, by the first token.
    let admin = f.token("admin", "root");
    let (code, err) = refused_server(&f, &[], &[("TERRACE_MASTER_KEY", OTHER_KEY)]);
    assert_eq!(code, Some(2), "{err}");
    let store = f.data().join("terrace.db");
    assert!(err.contains(&format!("error: the store {} was sealed with another master key", store.display())), "{err}");
    let fix = format!("unset it if that key is the one in {}", f.data().join("master.key").display());
    assert!(err.contains("than the one from TERRACE_MASTER_KEY") && err.contains(&fix), "{err}");
    assert!(!err.contains(OTHER_KEY), "{err}");
    // Making a token on it with that key is refused the same way.
    let out = Command::new(bin())
        .args(["token", "create", "--role", "viewer", "--name", "v", "--data"])
        .arg(f.data())
        .env_remove("TERRACE_SERVER")
        .env("TERRACE_MASTER_KEY", OTHER_KEY)
        .output()
        .expect("run terrace token create");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was sealed with another master key"));

    // With the store's own key it starts, and knows the token made before.
    let mut server = f.start(&[]);
    server.api(Some(&admin)).ok("GET", "/projects", None);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn postgres_replicas_refuse_another_key_and_import_seals_with_the_servers() {
    let Some(url) = postgres_url() else { return };
    let (database, _) = fresh_database(&url);
    let f = Fixture::new(YAML);
    let here = f.dir.path().join("local");
    let (code, out, err) = f.local_in(&here, &["up", "dev"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let own = std::fs::read_to_string(here.join("master.key")).expect("the local folder's own key");
    assert_ne!(own.trim(), SERVER_KEY);

    // Read with the folder's key, sealed with the servers' (TERRACE_MASTER_KEY).
    let server_env = [("TERRACE_MASTER_KEY", SERVER_KEY)];
    let (code, out, err) = f.local_in(&here, &["import", "--database", &database, "--json"], &server_env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["environments"][0]["outputs"], 1, "{out}");
    let token = |name: &str, key: &str| {
        Command::new(bin())
            .args(["token", "create", "--role", "admin", "--name", name, "--database", &database])
            .env_remove("TERRACE_SERVER")
            .env("TERRACE_MASTER_KEY", key)
            .output()
            .expect("run terrace token create")
    };
    let out = token("other", OTHER_KEY);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = token("root", SERVER_KEY);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_string();

    // A replica with another key is refused; one with the servers' key reads what moved.
    let (code, err) = refused_server(&f, &["--database", &database], &[("TERRACE_MASTER_KEY", OTHER_KEY)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("error: the PostgreSQL store at ") && err.contains("was sealed with another master key"));
    assert!(!err.contains(OTHER_KEY) && !err.contains(SERVER_KEY) && !err.contains(&url), "{err}");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &["--database", &database], &server_env);
    let (code, out, err) = terrace(&server, &admin, &f.project(), &["outputs", "dev", "--reveal", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pw-sealed-7731"), "{out}");
    assert!(server.stop(), "{}", server.log());
    // The local folder still opens with its own key.
    let (code, out, err) = f.local_in(&here, &["outputs", "dev", "--reveal"], &[]);
    assert!(code == 0 && out.contains("pw-sealed-7731"), "{out}\n{err}");
}

#[test]
fn import_opens_a_folder_sealed_with_the_environments_key_beside_a_stray_key_file() {
    let f = Fixture::new(YAML);
    let here = f.dir.path().join("local");
    let env = [("TERRACE_MASTER_KEY", SERVER_KEY)];
    let (code, out, err) = f.local_in(&here, &["up", "dev"], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    // Once without the key: refused, leaving a master.key of a new key behind.
    let (code, _, err) = f.local_in(&here, &["status"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(here.join("master.key").exists());

    // The folder's key file is refused by its store; TERRACE_MASTER_KEY opens it.
    let database = format!("sqlite://{}", f.data().join("terrace.db").display());
    let (code, out, err) = f.local_in(&here, &["import", "--database", &database], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    let admin = f.token_with_env("admin", "root", &env);
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &env);
    let (code, out, err) = terrace(&server, &admin, &f.project(), &["outputs", "dev", "--reveal", "--json"]);
    assert!(code == 0 && out.contains("pw-sealed-7731"), "{out}\n{err}");
    assert!(server.stop(), "{}", server.log());
}
