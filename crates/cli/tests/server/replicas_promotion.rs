//! Two promotions into one environment at once, through two `terrace server` replicas on
//! one PostgreSQL: the store's promotion lock serialises them (never the file lock of one
//! replica's data folder), so both are recorded done, the environment's pin is the one
//! that finished last with the other kept as its previous, and the registry's tag points
//! where the pin says.
//!
//! Needs TERRACE_TEST_POSTGRES_URL (scripts/test starts one); without it the test says
//! why and skips, except under CI=true where it fails.

use std::process::Command;
use std::time::Duration;

use crate::registry::Registry;
use serde_json::Value;
use sqlx::Connection;

use crate::replicas::{fresh_database, postgres_url};
use crate::support::*;

const REPO: &str = "library/software";
const ROUNDS: usize = 3;

/// The pin of `software` in `dev`: (digest, previous digest).
fn pin(db: &str) -> (String, Option<String>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(db).await.expect("connect to PostgreSQL");
        sqlx::query_as(
            "SELECT digest, previous_digest FROM artifact_pins WHERE project = 'shop' AND environment = 'dev' \
             AND artifact = 'software'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("read the pin")
    })
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
             dev: {{}}\njobs:\n  service:\n    artifacts: [software]\n    events: [start]\n    commands:\n      \
             start: 'echo \"redeploy $SOFTWARE_DIGEST\" >> \"$MARKS\"'\n",
            marks.display(),
            registry.host
        ),
    );
    let out = Command::new(bin())
        .args(["token", "create", "--role", "operator", "--name", "release", "--database", &db, "--data"])
        .arg(f.data())
        .env_remove("TERRACE_SERVER")
        .output()
        .expect("run terrace token create");
    assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let start = |name: &str| {
        let data = f.dir.path().join(format!("data-{name}"));
        Server::spawn(Command::new(bin()), "127.0.0.1:0", &f.project(), &data, &["--database", &db], &[])
    };
    let mut servers = [start("a"), start("b")];
    let apis = [servers[0].api(Some(&token)), servers[1].api(Some(&token))];

    let mut promotions = 0;
    for round in 0..ROUNDS {
        // Each replica promotes one of the two versions into `dev`, at once.
        let answers: Vec<Value> = std::thread::scope(|s| {
            let calls: Vec<_> = (0..2)
                .map(|i| {
                    let api = &apis[i];
                    let body = format!(r#"{{"artifact": "software", "version": "0.0.{}"}}"#, (i + round) % 2 + 1);
                    s.spawn(move || api.ok("POST", "/projects/shop/environments/dev/promotions", Some(&body)))
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        promotions += 2;
        for answer in &answers {
            assert_eq!(answer["promotion"]["state"], "done", "both recorded done: {answer}");
            for id in answer["request_ids"].as_array().unwrap() {
                let done = apis[0].wait_request(id.as_str().unwrap(), Duration::from_secs(120));
                assert_eq!(done["state"], "succeeded", "{done}");
            }
        }
        // Serialised: the pin is the promotion that finished last, the other its previous,
        // and the tag in the registry is the pin's.
        let (digest, previous) = pin(&db);
        let other = digests.iter().find(|d| **d != digest).unwrap();
        assert_eq!(previous.as_ref(), Some(other), "round {round}: the pin replaced the other promotion's");
        assert_eq!(registry.tag_digest(REPO, "dev"), Some(digest), "round {round}: the tag is where the pin says");
    }
    let listed = apis[1].ok("GET", "/promotions?project=shop", None);
    let items = listed.as_array().or_else(|| listed["items"].as_array()).cloned().unwrap_or_default();
    assert_eq!(items.iter().filter(|p| p["state"] == "done").count(), promotions, "{listed}");
    let redeploys = std::fs::read_to_string(&marks).unwrap();
    assert_eq!(redeploys.lines().count(), promotions, "each promotion redeployed once:\n{redeploys}");
    for server in &mut servers {
        assert!(server.stop(), "{}", server.log());
    }
}
