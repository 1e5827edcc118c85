//! Terraform jobs on two `terrace server` replicas (two hosts, `hosts`) and one
//! PostgreSQL: the replica running an apply is killed with SIGKILL mid-apply; the other
//! takes the request over once the lease expired, and the state keeps one lineage whose
//! serial only grows, with every resource created once. Then, on PostgreSQL, the state's
//! lock: held by the applying run (a second writer through the http backend is refused,
//! naming the run) and released when the run ends.
//!
//! Needs TERRACE_TEST_POSTGRES_URL (scripts/test starts one) and, for the first test, the
//! right to make namespaces (root); without them the tests say why and skip, except under
//! CI=true where they fail.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;

use crate::hosts::{Forwarder, Host, skip};
use crate::replicas::{alive, fresh_database, lease_end, postgres_url, with_host_and_database};
use crate::support::*;

/// Both replicas must open the state alike: they share the master key.
const MASTER_KEY: &str = "7265706c6963617320616e64207465727261666f726d20737461746520746573";

/// `net` creates one resource; `app` (after `net`) creates one and then replaces its
/// `gate` whenever `TF_VAR_round` changes: the gate's provisioner notes the apply in the
/// ledger and holds while HOLD exists. Every create of a real resource appends to COUNTER.
fn project(f: &Fixture, round: u32) {
    let dir = f.dir.path();
    f.write(
        "proj/terrace.yaml",
        &format!(
            "project: tf\nvariables:\n  COUNTER: {}\n  LEDGER: {}\n  HOLD: {}\n  CREDS: {}\n\
             environments:\n  dev: {{}}\njobs:\n  net:\n    template: terraform\n    source: net\n    \
             events: [start]\n  app:\n    template: terraform\n    source: app\n    events: [start]\n    \
             depends_on: [net]\n    variables: {{TF_VAR_round: \"{round}\"}}\n",
            dir.join("counter").display(),
            dir.join("ledger").display(),
            dir.join("hold").display(),
            dir.join("creds").display(),
        ),
    );
    f.write(
        "proj/net/main.tf",
        "resource \"terraform_data\" \"net\" {\n  input = \"net\"\n  provisioner \"local-exec\" {\n    \
         command = \"echo \\\"create net $TERRACE_RUN_ID\\\" >> \\\"$COUNTER\\\"\"\n  }\n}\n",
    );
    f.write(
        "proj/app/main.tf",
        "variable \"round\" {\n  type = string\n}\n\
         resource \"terraform_data\" \"app\" {\n  input = \"app\"\n  provisioner \"local-exec\" {\n    \
         command = \"echo \\\"create app $TERRACE_RUN_ID\\\" >> \\\"$COUNTER\\\"\"\n  }\n}\n\
         resource \"terraform_data\" \"gate\" {\n  triggers_replace = var.round\n  depends_on = [terraform_data.app]\n  \
         provisioner \"local-exec\" {\n    command = \"sh ${path.module}/gate.sh\"\n  }\n}\n",
    );
    // The run's credentials for the state (TF_HTTP_*) are noted for the lock test, which
    // plays a second writer with them.
    f.write(
        "proj/app/gate.sh",
        "#!/bin/sh\necho \"$TF_HTTP_ADDRESS $TF_HTTP_USERNAME $TF_HTTP_PASSWORD\" > \"$CREDS.tmp\"\n\
         mv \"$CREDS.tmp\" \"$CREDS\"\n\
         echo \"apply-started $TERRACE_RUN_ID $(hostname) $$ $TF_VAR_round\" >> \"$LEDGER\"\n\
         while [ -e \"$HOLD\" ]; do sleep 0.1; done\n",
    );
}

/// (run, host, pid, round) of every apply the gate saw start.
fn applies(ledger: &Path) -> Vec<(String, String, i32, String)> {
    let text = std::fs::read_to_string(ledger).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut p = l.strip_prefix("apply-started ")?.split(' ');
            Some((p.next()?.into(), p.next()?.into(), p.next()?.parse().ok()?, p.next()?.into()))
        })
        .collect()
}

fn token(f: &Fixture, db: &str, role: &str) -> String {
    let out = Command::new(bin())
        .args(["token", "create", "--role", role, "--name", role, "--database", db, "--data"])
        .arg(f.data())
        .env("TERRACE_MASTER_KEY", MASTER_KEY)
        .env_remove("TERRACE_SERVER")
        .output()
        .expect("run terrace token create");
    assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `terrace --server URL ARGS --json` as `token`.
fn cli_json(url: &str, token: &str, project: &Path, args: &[&str]) -> Value {
    let out = Command::new(bin())
        .args(args)
        .arg("--project")
        .arg(project)
        .env("TERRACE_SERVER", url)
        .env("TERRACE_TOKEN", token)
        .output()
        .expect("run terrace");
    assert!(out.status.success(), "terrace {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("terrace {args:?}: not JSON ({e})"))
}

/// The versions of a state, newest first: one lineage, and a serial that grows with
/// every version.
#[track_caller]
fn assert_one_lineage(listed: &Value) -> usize {
    let versions = listed["versions"].as_array().expect("versions");
    let lineages: BTreeSet<&str> = versions.iter().filter_map(|v| v["lineage"].as_str()).collect();
    assert_eq!(lineages.len(), 1, "one lineage: {listed}");
    let serials: Vec<u64> = versions.iter().map(|v| v["serial"].as_u64().expect("serial")).collect();
    assert!(serials.windows(2).all(|w| w[0] > w[1]), "the serial grows with every version: {listed}");
    versions.len()
}

fn post_event(api: &Api) -> String {
    let made = api.ok("POST", "/projects/tf/environments/dev/events", Some(r#"{"event": "start"}"#));
    made["request_id"].as_str().unwrap().to_string()
}

#[test]
fn a_replica_killed_mid_apply_leaves_one_state_lineage_and_each_resource_created_once() {
    let Some(url) = postgres_url() else { return };
    let hosts = (Host::create(4, "tf-host-a"), Host::create(5, "tf-host-b"));
    let (host_a, host_b) = match hosts {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return skip(&format!("cannot make network namespaces here: {e}")),
    };
    let (db, postgres) = fresh_database(&url);
    let (fwd_a, fwd_b) = (Forwarder::start(host_a.gateway, postgres), Forwarder::start(host_b.gateway, postgres));
    let db_name = db.rsplit_once('/').map(|(_, n)| n.split('?').next().unwrap_or(n).to_string()).unwrap();

    let f = Fixture::new("");
    project(&f, 1);
    let (ledger, hold, counter) =
        (f.dir.path().join("ledger"), f.dir.path().join("hold"), f.dir.path().join("counter"));
    let admin = token(&f, &db, "admin");
    let start = |host: &Host, fwd: &Forwarder| {
        let database = with_host_and_database(&db, &fwd.addr.to_string(), &db_name);
        let args = ["--database", database.as_str(), "--lease", "3s", "--max-attempts", "3"];
        let data = f.dir.path().join(format!("data-{}", host.name));
        let listen = format!("{}:0", host.address);
        Server::spawn(host.command(bin()), &listen, &f.project(), &data, &args, &[("TERRACE_MASTER_KEY", MASTER_KEY)])
    };

    // Round 1 on replica A alone: both jobs create their resources.
    let mut a = start(&host_a, &fwd_a);
    let api_a = a.api(Some(&admin));
    let first = api_a.wait_request(&post_event(&api_a), Duration::from_secs(180));
    assert_eq!(first["state"], "succeeded", "{first}\n{}", a.log());

    // Round 2: the gate is replaced, and holds mid-apply on A; B starts, A is killed.
    project(&f, 2);
    std::fs::write(&hold, "").unwrap();
    let second = post_event(&api_a);
    let (cut_run, _, cut_pid, _) = eventually(Duration::from_secs(120), "replica A to be mid-apply", || {
        applies(&ledger).into_iter().find(|(_, host, _, round)| host == "tf-host-a" && round == "2")
    });
    let mut b = start(&host_b, &fwd_b);
    let api_b = b.api(Some(&admin));
    let lease_before = lease_end(&db, &cut_run).expect("A holds the apply under a lease");
    a.kill9();

    let cut = eventually(Duration::from_secs(90), "replica B to take back A's apply", || {
        let run = api_b.ok("GET", &format!("/runs/{cut_run}"), None);
        (run["state"] != "running" && run["state"] != "queued").then_some(run)
    });
    assert_eq!(cut["state"], "interrupted", "{cut}");
    // Taken over only once the lease A last renewed had expired.
    let ended = cut["finished_at"].as_str().unwrap();
    let ended_at = time::OffsetDateTime::parse(ended, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(ended_at > lease_before, "taken over at {ended}, before the lease ({lease_before}) expired");
    assert!(alive(cut_pid), "replica B killed a process of host A (pid {cut_pid})");
    // Host A's own cleanup, which this test stands in for: its orphaned apply goes
    // before it could write anything (it holds on HOLD).
    let group = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(cut_pid))).expect("the orphan's group");
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).ok();
    eventually(Duration::from_secs(10), "A's orphaned apply to end", || (!alive(cut_pid)).then_some(()));
    std::fs::remove_file(&hold).unwrap();

    let second = api_b.wait_request(&second, Duration::from_secs(180));
    assert_eq!(second["state"], "succeeded", "{second}\n{}", b.log());
    assert!(second["attempts"].as_u64().unwrap() >= 2, "the request A held was run again: {second}");
    let retried = applies(&ledger);
    let finished = retried.last().expect("an apply");
    assert_eq!((finished.1.as_str(), finished.3.as_str()), ("tf-host-b", "2"), "{retried:?}");
    let run = api_b.ok("GET", &format!("/runs/{}", finished.0), None);
    assert_eq!(run["state"], "succeeded", "{run}");

    // Each real resource was created once, whatever the kill cut.
    let created = std::fs::read_to_string(&counter).unwrap();
    for what in ["create net ", "create app "] {
        assert_eq!(created.lines().filter(|l| l.starts_with(what)).count(), 1, "{what}once:\n{created}");
    }
    // One lineage per state, its serial growing; the state holds each resource once.
    assert_one_lineage(&cli_json(&b.url, &admin, &f.project(), &["state", "list", "dev", "net", "--json"]));
    let versions =
        assert_one_lineage(&cli_json(&b.url, &admin, &f.project(), &["state", "list", "dev", "app", "--json"]));
    assert!(versions >= 2, "rounds 1 and 2 each wrote the state of `app`");
    let pulled = cli_json(&b.url, &admin, &f.project(), &["state", "pull", "dev", "app"]);
    let resources: Vec<&str> =
        pulled["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(resources, ["app", "gate"], "{pulled}");
    let gate = &pulled["resources"][1]["instances"][0]["attributes"]["triggers_replace"];
    assert_eq!(gate["value"], "2", "the state is round 2's: {pulled}");
    assert!(b.stop(), "replica B stops cleanly:\n{}", b.log());
    drop((fwd_a, fwd_b, host_a, host_b));
}

/// The lock rows of the state of `job` in `dev`: (lock id, run).
fn state_locks(db: &str, job: &str) -> Vec<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(db).await.expect("connect to PostgreSQL");
        sqlx::query_as(
            "SELECT lock_id, run_id FROM tf_state_locks WHERE project = 'tf' AND environment = 'dev' AND job = $1",
        )
        .bind(job)
        .fetch_all(&mut conn)
        .await
        .expect("read the state locks")
    })
}

#[test]
fn on_postgres_the_state_lock_is_held_by_the_applying_run_and_released_after() {
    let Some(url) = postgres_url() else { return };
    let (db, _) = fresh_database(&url);
    let f = Fixture::new("");
    project(&f, 1);
    let (hold, creds) = (f.dir.path().join("hold"), f.dir.path().join("creds"));
    let admin = token(&f, &db, "admin");
    let mut server =
        Server::start_with_env(&f.project(), &f.data(), &["--database", &db], &[("TERRACE_MASTER_KEY", MASTER_KEY)]);
    let api = server.api(Some(&admin));

    std::fs::write(&hold, "").unwrap();
    let request = post_event(&api);
    let line = eventually(Duration::from_secs(180), "the apply of `app` to hold", || {
        std::fs::read_to_string(&creds).ok().filter(|l| !l.trim().is_empty())
    });
    let mut parts = line.split_whitespace();
    let (address, run, password) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let held = state_locks(&db, "app");
    assert_eq!(held.len(), 1, "the applying run holds the state's lock: {held:?}");
    assert_eq!(held[0].1, run, "{held:?}");

    // A second writer (here with the run's own credentials, under another lock id) is
    // refused while the apply holds the lock: its write names the run that holds it.
    let http = client();
    let state = r#"{"version": 4, "serial": 99, "lineage": "intruder", "resources": []}"#;
    let write = http.post(format!("{address}?ID=intruder")).basic_auth(run, Some(password)).body(state).send().unwrap();
    assert_eq!(write.status().as_u16(), 409);
    let why = write.text().unwrap();
    assert!(why.contains("is locked by run") && why.contains(run), "{why}");
    let lock = reqwest::Method::from_bytes(b"LOCK").unwrap();
    let taken = http
        .request(lock, address)
        .basic_auth(run, Some(password))
        .body(r#"{"ID": "intruder", "Operation": "OperationTypeApply"}"#)
        .send()
        .unwrap();
    assert_eq!(taken.status().as_u16(), 423, "a second lock is refused with the holder's info");
    let holder: Value = serde_json::from_str(&taken.text().unwrap()).unwrap();
    assert_eq!(holder["ID"].as_str(), Some(held[0].0.as_str()), "{holder}");

    std::fs::remove_file(&hold).unwrap();
    let done = api.wait_request(&request, Duration::from_secs(180));
    assert_eq!(done["state"], "succeeded", "{done}\n{}", server.log());
    assert_eq!(state_locks(&db, "app"), vec![], "the lock went with the run");
    let after = http.get(address).basic_auth(run, Some(password)).send().unwrap();
    assert_eq!(after.status().as_u16(), 403, "an ended run's credentials open nothing");
    // Released: the next run takes the lock and applies.
    project(&f, 2);
    let next = api.wait_request(&post_event(&api), Duration::from_secs(180));
    assert_eq!(next["state"], "succeeded", "{next}\n{}", server.log());
    assert!(server.stop(), "{}", server.log());
}
