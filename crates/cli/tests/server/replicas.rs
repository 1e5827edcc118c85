//! Two `terrace server` replicas on two hosts (network and UTS namespaces, `hosts`) and
//! one PostgreSQL: events sent to either are run by either; after `kill -9` of one
//! mid-run, its runs are taken back by the other only once their lease expired (never
//! by pid: its processes are on another host, and are left alone), every request ends
//! once, each of its runs finishes once, and no run of the live replica is interrupted.
//!
//! Needs TERRACE_TEST_POSTGRES_URL (scripts/test starts one) and the right to make
//! namespaces (root); without either the test says why and skips, except under CI=true
//! where it fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::Connection;

use crate::hosts::{Forwarder, Host, skip};
use crate::support::*;

const ENVIRONMENTS: usize = 6;
const EVENTS: usize = 18;
/// Both replicas must open secrets alike: they share the master key.
/// The one master key of every process on a replica test's database (they must share it).
pub(crate) const MASTER_KEY: &str = "6b6579206f662074686520726570696361207465737420616e64206e6f6e6520";

pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var("TERRACE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip("set TERRACE_TEST_POSTGRES_URL (scripts/test does) to run the replica tests");
            None
        }
    }
}

/// Every row of every table of the database at `db`, as text (bytea as hex): what a
/// test searches for a secret in clear.
pub(crate) fn every_row_as_text(db: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(db).await.expect("connect to PostgreSQL");
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
                .fetch_all(&mut conn)
                .await
                .expect("list tables");
        let mut rows = Vec::new();
        for t in tables {
            let text: Vec<String> = sqlx::query_scalar(&format!("SELECT CAST(t AS TEXT) FROM \"{t}\" t"))
                .fetch_all(&mut conn)
                .await
                .expect("read a table");
            rows.extend(text);
        }
        rows
    })
}

/// A new database on the test server, so the test owns every row in it; its URL and
/// the server's address.
pub(crate) fn fresh_database(url: &str) -> (String, SocketAddr) {
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
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("PostgreSQL URL");
    let host = match options.get_host() {
        "localhost" => "127.0.0.1",
        h => h,
    };
    let addr: SocketAddr = format!("{host}:{}", options.get_port()).parse().expect("PostgreSQL address");
    (with_host_and_database(url, &addr.to_string(), &name), addr)
}

/// `url` with its `host:port` and database replaced.
pub(crate) fn with_host_and_database(url: &str, host_port: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{user}{host_port}/{database}{query}")
}

/// Each run notes where it works and the pid of its process as it starts, waits a
/// second (longer while HOLD exists), and notes that it completed at its very end.
fn project(f: &Fixture, ledger: &std::path::Path, hold: &std::path::Path) {
    let envs: String = (0..ENVIRONMENTS).map(|i| format!("  e{i}: {{}}\n")).collect();
    f.write(
        "proj/terrace.yaml",
        &format!(
            "project: shop\nvariables:\n  LEDGER: {}\n  HOLD: {}\nenvironments:\n{envs}jobs:\n  app:\n    \
             source: app\n    events: [start]\n    commands:\n      start: ./start.sh\n",
            ledger.display(),
            hold.display()
        ),
    );
    f.write(
        "proj/app/start.sh",
        "#!/bin/sh\necho \"start $TERRACE_RUN_ID $(hostname) $$\" >> \"$LEDGER\"\ni=0\n\
         while [ $i -lt 10 ] || [ -e \"$HOLD\" ]; do sleep 0.1; i=$((i+1)); done\n\
         echo \"done $TERRACE_RUN_ID\" >> \"$LEDGER\"\n",
    );
}

/// (run, host, pid) of every started run in the ledger.
pub(crate) fn starts(ledger: &str) -> Vec<(String, String, i32)> {
    ledger
        .lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("start ")?.split(' ');
            Some((parts.next()?.to_string(), parts.next()?.to_string(), parts.next()?.parse().ok()?))
        })
        .collect()
}

/// When the run's lease ends, as the store has it (the API does not show leases).
pub(crate) fn lease_end(db: &str, run: &str) -> Option<time::OffsetDateTime> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let nanos: Option<i64> = rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(db).await.expect("connect to PostgreSQL");
        sqlx::query_scalar("SELECT lease_expires_at FROM runs WHERE id = $1")
            .bind(run)
            .fetch_one(&mut conn)
            .await
            .expect("read the run's lease")
    });
    nanos.map(|n| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).unwrap())
}

pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn replicas_on_two_hosts_take_back_a_dead_ones_runs_only_when_its_leases_expire() {
    let Some(url) = postgres_url() else { return };
    let hosts = (Host::create(0, "host-a"), Host::create(1, "host-b"));
    let (host_a, host_b) = match hosts {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return skip(&format!("cannot make network namespaces here: {e}")),
    };
    let (db, postgres) = fresh_database(&url);
    let (fwd_a, fwd_b) = (Forwarder::start(host_a.gateway, postgres), Forwarder::start(host_b.gateway, postgres));
    let db_on = |fwd: &Forwarder| {
        let name = db.rsplit_once('/').map(|(_, n)| n.split('?').next().unwrap_or(n)).unwrap();
        with_host_and_database(&db, &fwd.addr.to_string(), name)
    };

    let f = Fixture::new("");
    let (ledger, hold) = (f.dir.path().join("ledger"), f.dir.path().join("hold"));
    project(&f, &ledger, &hold);
    let out = std::process::Command::new(bin())
        .args(["token", "create", "--role", "operator", "--name", "op", "--database", &db, "--data"])
        .arg(f.data())
        .env("TERRACE_MASTER_KEY", MASTER_KEY)
        .env_remove("TERRACE_SERVER")
        .output()
        .expect("run terrace token create");
    assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let start = |host: &Host, fwd: &Forwarder| {
        let database = db_on(fwd);
        let args = ["--database", database.as_str(), "--lease", "2s", "--max-attempts", "3", "--max-runs", "3"];
        let data = f.dir.path().join(format!("data-{}", host.name));
        let listen = format!("{}:0", host.address);
        Server::spawn(host.command(bin()), &listen, &f.project(), &data, &args, &[("TERRACE_MASTER_KEY", MASTER_KEY)])
    };
    let mut a = start(&host_a, &fwd_a);
    let mut b = start(&host_b, &fwd_b);
    let (api_a, api_b) = (a.api(Some(&token)), b.api(Some(&token)));

    // Every job holds (HOLD) until A is killed and its orphans are gone: a kill that
    // landed after a job of A wrote its last line but before A recorded its end would make
    // that job run twice (once per holder), which no holder can prevent.
    std::fs::write(&hold, "").unwrap();
    let ids: Vec<String> = (0..EVENTS)
        .map(|i| {
            let api = if i % 2 == 0 { &api_a } else { &api_b };
            let path = format!("/projects/shop/environments/e{}/events", i % ENVIRONMENTS);
            api.ok("POST", &path, Some(r#"{"event": "start"}"#))["request_id"].as_str().unwrap().to_string()
        })
        .collect();

    // Kill A while it runs a job.
    let (cut_run, cut_pid) = eventually(Duration::from_secs(90), "replica A to run a job", || {
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        starts(&text)
            .into_iter()
            .find(|(run, host, _)| host == "host-a" && !text.contains(&format!("done {run}")))
            .map(|(run, _, pid)| (run, pid))
    });
    let lease_before = lease_end(&db, &cut_run).expect("A holds the run under a lease");
    a.kill9();

    // B takes the run back once its lease expired, and leaves A's process alone.
    let cut = eventually(Duration::from_secs(60), "replica B to take back A's run", || {
        let run = api_b.ok("GET", &format!("/runs/{cut_run}"), None);
        (run["state"] != "running" && run["state"] != "queued").then_some(run)
    });
    assert_eq!(cut["state"], "interrupted", "{cut}");
    let reason = cut["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("host-a") && reason.contains("lease"), "the reason names the holder and its lease: {cut}");
    // Taken back after the lease A last renewed before it died, whenever that was.
    let ended = cut["finished_at"].as_str().unwrap();
    let ended_at = time::OffsetDateTime::parse(ended, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(ended_at > lease_before, "taken back at {ended}, before its lease ({lease_before}) expired");
    assert!(alive(cut_pid), "replica B killed a process of host A (pid {cut_pid})");
    // Host A's own cleanup, which this test stands in for: its orphaned jobs go before
    // they could complete (they wait on HOLD).
    let text = std::fs::read_to_string(&ledger).unwrap_or_default();
    let orphans: Vec<i32> = starts(&text)
        .into_iter()
        .filter(|(run, host, _)| host == "host-a" && !text.contains(&format!("done {run}")))
        .map(|(_, _, pid)| pid)
        .collect();
    assert!(orphans.contains(&cut_pid));
    for pid in &orphans {
        let group = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(*pid))).expect("the orphan's group");
        nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).ok();
    }
    eventually(Duration::from_secs(10), "A's orphaned jobs to end", || {
        orphans.iter().all(|p| !alive(*p)).then_some(())
    });
    std::fs::remove_file(&hold).unwrap();

    let requests: HashMap<&String, Value> =
        ids.iter().map(|id| (id, api_b.wait_request(id, Duration::from_secs(180)))).collect();
    let ledger = std::fs::read_to_string(&ledger).unwrap_or_default();
    let completions = |run: &str| ledger.lines().filter(|l| *l == format!("done {run}")).count();
    for (id, r) in &requests {
        assert_eq!(r["state"], "succeeded", "request {id}: {r}\n{}", b.log());
        let runs: Vec<&str> = r["run_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let states: Vec<(&str, Value)> =
            runs.iter().map(|run| (*run, api_b.ok("GET", &format!("/runs/{run}"), None)["state"].clone())).collect();
        // Exactly once: one run of the request applied, once. The others were cut by the
        // kill before they completed, or skipped because an earlier attempt had already
        // succeeded (A killed after its job ended, before it closed the request).
        let applied: Vec<&str> = states.iter().filter(|(_, s)| s == "succeeded").map(|(run, _)| *run).collect();
        assert_eq!(applied.len(), 1, "request {id} applied once: {states:?}");
        assert_eq!(completions(applied[0]), 1, "the run that applied request {id} completed once: {ledger}");
        for (run, state) in states.iter().filter(|(_, s)| s != "succeeded") {
            assert!(state == "interrupted" || state == "skipped", "an earlier attempt of {id}: {states:?}");
            assert_eq!(completions(run), 0, "a cut or skipped run never completed: {ledger}");
        }
    }
    let cut_request =
        requests.values().find(|r| r["run_ids"].as_array().unwrap().iter().any(|v| v == cut_run.as_str()));
    let cut_request = cut_request.expect("the run cut by the kill belongs to a request");
    assert!(cut_request["attempts"].as_u64().unwrap() >= 2, "the request A held was run again: {cut_request}");
    // No run of the live replica was interrupted.
    for (run, host, _) in starts(&ledger) {
        if host == "host-b" {
            let state = api_b.ok("GET", &format!("/runs/{run}"), None)["state"].clone();
            assert_eq!(state, "succeeded", "run {run} of replica B: {}", b.log());
        }
    }
    assert!(b.stop(), "replica B stops cleanly:\n{}", b.log());
    drop((fwd_a, fwd_b, host_a, host_b));
}
