//! Two promotions into one environment at once, through two `terrace server` replicas on
//! one PostgreSQL: the store's promotion lock serialises them (never the file lock of one
//! replica's data folder). The first holds the lock while the registry is paused
//! (SIGSTOP) mid-promotion; the second, on the other replica, is seen waiting for it.
//! Once the registry resumes, both are recorded done, the environment's pin is the second
//! with the first as its previous, and the registry's tag points where the pin says.
//!
//! Needs TERRACE_TEST_POSTGRES_URL (scripts/test starts one); without it the test says
//! why and skips, except under CI=true where it fails.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use sqlx::Connection;

use crate::registry::Registry;
use crate::replicas::{MASTER_KEY, fresh_database, postgres_url};
use crate::support::*;

const REPO: &str = "library/software";
const WITHIN: Duration = Duration::from_secs(120);

fn query<T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>>(db: &str, sql: &str) -> Vec<T> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(db).await.expect("connect to PostgreSQL");
        sqlx::query_as(sql).fetch_all(&mut conn).await.expect("query PostgreSQL")
    })
}

fn token(f: &Fixture, db: &str, name: &str) -> String {
    let out = Command::new(bin())
        .args(["token", "create", "--role", "operator", "--name", name, "--database", db, "--data"])
        .arg(f.data())
        .env_remove("TERRACE_SERVER")
        .env("TERRACE_MASTER_KEY", MASTER_KEY)
        .output()
        .expect("run terrace token create");
    assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Pauses (or resumes) the registry: a promotion that reaches it waits.
fn pause(registry: &Registry, signal: Signal) {
    let pid = registry.pid().expect("the registry runs") as i32;
    kill(Pid::from_raw(pid), signal).expect("signal the registry");
}

#[test]
fn two_replicas_promoting_into_one_environment_at_once_are_serialised_and_both_recorded() {
    let Some(url) = postgres_url() else { return };
    let (db, _) = fresh_database(&url);
    let registry = Registry::start();
    let digests: Vec<String> =
        (1..=2).map(|i| registry.push_image(REPO, Some(&format!("0.0.{i}")), &format!("0.0.{i}"), "amd64")).collect();
    let f = Fixture::new("");
    let marks = f.dir.path().join("marks");
    f.write(
        "proj/terrace.yaml",
        &format!(
            "project: shop\nvariables:\n  MARKS: {}\nartifacts:\n  software:\n    image: {}/{REPO}\nenvironments:\n  \
             dev:\n    approval: required\njobs:\n  service:\n    artifacts: [software]\n    events: [start]\n    \
             commands:\n      start: 'echo \"redeploy $SOFTWARE_DIGEST\" >> \"$MARKS\"'\n",
            marks.display(),
            registry.host
        ),
    );
    let (release, manager) = (token(&f, &db, "release"), token(&f, &db, "manager"));
    let start = |name: &str| {
        let data = f.dir.path().join(format!("data-{name}"));
        Server::spawn(
            Command::new(bin()),
            "127.0.0.1:0",
            &f.project(),
            &data,
            &["--database", &db],
            &[("TERRACE_MASTER_KEY", MASTER_KEY)],
        )
    };
    let mut servers = [start("a"), start("b")];
    let asked: Vec<(String, String)> = (0..2)
        .map(|i| {
            let body = format!(r#"{{"artifact": "software", "version": "0.0.{}"}}"#, i + 1);
            let v =
                servers[i].api(Some(&release)).ok("POST", "/projects/shop/environments/dev/promotions", Some(&body));
            (v["promotion"]["id"].as_str().unwrap().to_string(), v["approval_id"].as_str().unwrap().to_string())
        })
        .collect();

    // The registry paused: the first promotion, approved on replica A, holds the lock
    // mid-promotion; the second, approved on replica B, waits for it.
    pause(&registry, Signal::SIGSTOP);
    let approve = |i: usize| {
        let api = servers[i].api(Some(&manager));
        let approval = asked[i].1.clone();
        move || api.ok("POST", &format!("/approvals/{approval}/approve"), None)
    };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(approve(0));
        eventually(WITHIN, "the first promotion to hold the lock", || {
            let held: Vec<(String,)> = query(&db, "SELECT holder FROM named_locks");
            held.iter().any(|(h,)| h.contains(&asked[0].0)).then_some(())
        });
        let second = s.spawn(approve(1));
        eventually(WITHIN, "the second promotion to wait for the lock", || {
            servers[1].log().contains("waiting for the lock").then_some(())
        });
        pause(&registry, Signal::SIGCONT);
        (first.join().unwrap(), second.join().unwrap())
    });
    for decided in [&first, &second] {
        assert_eq!(decided["state"], "approved", "{decided}");
    }

    // Both recorded, in order: the pin is the second, the first its previous; the tag is
    // where the pin says; the lock is gone.
    let promotions = servers[1].api(Some(&release)).ok("GET", "/promotions?project=shop", None);
    let items: Vec<Value> =
        promotions.as_array().or_else(|| promotions["items"].as_array()).cloned().unwrap_or_default();
    for (id, _) in &asked {
        let p = items.iter().find(|p| p["id"] == id.as_str()).unwrap_or_else(|| panic!("{id} listed: {promotions}"));
        assert_eq!(p["state"], "done", "{p}");
    }
    let second_record = items.iter().find(|p| p["id"] == asked[1].0.as_str()).unwrap();
    assert_eq!(
        second_record["old_digest"].as_str(),
        Some(digests[0].as_str()),
        "the second replaced the first: {second_record}"
    );
    let pin: Vec<(String, Option<String>)> = query(&db, "SELECT digest, previous_digest FROM artifact_pins");
    assert_eq!(pin, vec![(digests[1].clone(), Some(digests[0].clone()))]);
    assert_eq!(registry.tag_digest(REPO, "dev").as_ref(), Some(&digests[1]), "the tag is where the pin says");
    assert!(query::<(String,)>(&db, "SELECT name FROM named_locks").is_empty(), "the lock is released");
    for server in &mut servers {
        assert!(server.stop(), "{}", server.log());
    }
}
