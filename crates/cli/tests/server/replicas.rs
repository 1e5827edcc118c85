//! Two `terrace server` replicas on one PostgreSQL database: events sent to either are
//! run by either, and after `kill -9` of one mid-run every request still finishes, and
//! finishes exactly once. Needs TERRACE_TEST_POSTGRES_URL (scripts/test starts one);
//! without it the test skips, except under CI=true where it fails.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::Connection;

use crate::support::*;

const ENVIRONMENTS: usize = 6;
const EVENTS: usize = 18;
/// Both replicas must open secrets alike: they share the master key.
const MASTER_KEY: &str = "6b6579206f662074686520726570696361207465737420616e64206e6f6e6520";

fn postgres_url() -> Option<String> {
    match std::env::var("TERRACE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("TERRACE_TEST_POSTGRES_URL is not set under CI=true: run scripts/test, which starts PostgreSQL")
        }
        _ => {
            eprintln!("skipped: set TERRACE_TEST_POSTGRES_URL to run the replica tests");
            None
        }
    }
}

/// A new database on the test server, so the test owns every row in it.
fn fresh_database(url: &str) -> String {
    let name = format!(
        "terrace_replicas_{}_{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect to PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    });
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{name}{query}")
}

fn project(f: &Fixture, ledger: &std::path::Path) {
    let envs: String = (0..ENVIRONMENTS).map(|i| format!("  e{i}: {{}}\n")).collect();
    f.write(
        "proj/terrace.yaml",
        &format!(
            "project: shop\nvariables:\n  LEDGER: {}\nenvironments:\n{envs}jobs:\n  app:\n    source: app\n    \
             events: [start]\n    commands:\n      start: ./start.sh\n",
            ledger.display()
        ),
    );
    // A run notes where it works (each replica has its own work folders) as it starts, and
    // that it completed at its very end.
    f.write(
        "proj/app/start.sh",
        "#!/bin/sh\necho \"start $TERRACE_RUN_ID $PWD\" >> \"$LEDGER\"\nsleep 1\necho \"done $TERRACE_RUN_ID\" >> \"$LEDGER\"\n",
    );
}

#[test]
fn two_replicas_share_the_queue_and_survive_kill_9_of_one() {
    let Some(url) = postgres_url() else { return };
    let db = fresh_database(&url);
    let f = Fixture::new("");
    let ledger = f.dir.path().join("ledger");
    project(&f, &ledger);
    let out = Command::new(bin())
        .args(["token", "create", "--role", "operator", "--name", "op", "--database", &db, "--data"])
        .arg(f.data())
        .env("TERRACE_MASTER_KEY", MASTER_KEY)
        .env_remove("TERRACE_SERVER")
        .output()
        .expect("run terrace token create");
    assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let args = ["--database", db.as_str(), "--lease", "2s", "--max-attempts", "3", "--max-runs", "3"];
    let env = [("TERRACE_MASTER_KEY", MASTER_KEY)];
    let data = |n: &str| f.dir.path().join(format!("data-{n}"));
    let mut a = Server::start_with_env(&f.project(), &data("a"), &args, &env);
    let mut b = Server::start_with_env(&f.project(), &data("b"), &args, &env);
    let (api_a, api_b) = (a.api(Some(&token)), b.api(Some(&token)));

    let ids: Vec<String> = (0..EVENTS)
        .map(|i| {
            let api = if i % 2 == 0 { &api_a } else { &api_b };
            let path = format!("/projects/shop/environments/e{}/events", i % ENVIRONMENTS);
            api.ok("POST", &path, Some(r#"{"event": "start"}"#))["request_id"].as_str().unwrap().to_string()
        })
        .collect();

    // Kill A while it runs a job: a run started in A's work folders has not completed.
    let work_a = data("a").display().to_string();
    let cut_run = eventually(Duration::from_secs(60), "replica A to run a job", || {
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        text.lines().filter_map(|l| l.strip_prefix("start ")).find_map(|rest| {
            let (run, dir) = rest.split_once(' ')?;
            (dir.starts_with(&work_a) && !text.contains(&format!("done {run}"))).then(|| run.to_string())
        })
    });
    a.kill9();

    let requests: HashMap<&String, Value> =
        ids.iter().map(|id| (id, api_b.wait_request(id, Duration::from_secs(180)))).collect();
    let ledger = std::fs::read_to_string(&ledger).unwrap_or_default();
    let completions = |run: &str| ledger.lines().filter(|l| *l == format!("done {run}")).count();
    for (id, r) in &requests {
        assert_eq!(r["state"], "succeeded", "request {id}: {r}\n{}", b.log());
        let runs: Vec<&str> = r["run_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let (last, earlier) = runs.split_last().expect("a run");
        assert_eq!(api_b.ok("GET", &format!("/runs/{last}"), None)["state"], "succeeded", "{r}");
        assert_eq!(completions(last), 1, "the run that finished request {id} completed once: {ledger}");
        for run in earlier {
            let state = api_b.ok("GET", &format!("/runs/{run}"), None)["state"].clone();
            assert_eq!(state, "interrupted", "an earlier attempt of {id} was cut by the kill: {r}");
        }
    }
    let cut = requests.values().find(|r| r["run_ids"].as_array().unwrap().iter().any(|v| v == cut_run.as_str()));
    let cut = cut.expect("the run cut by the kill belongs to a request");
    assert!(cut["attempts"].as_u64().unwrap() >= 2, "the request A held was run again: {cut}");
    // Not asserted: that the cut job never reached its end. Its process outlives the
    // killed server until the survivor's recovery kills its group (within a reap
    // period), so a job that short may finish meanwhile; the store still records that
    // run as interrupted and the request as finished once, by its retry.
    assert!(b.stop(), "replica B stops cleanly:\n{}", b.log());
}
