//! Databases made by earlier versions keep working. SQLite: a data folder written by
//! the sqlx-based store (tests/fixtures/v0.1-sqlx, schema 5 in `_sqlx_migrations`) is
//! opened, migrated on from where it was, and reads back whole. PostgreSQL: a schema
//! brought to version 5 by the earlier migration files, with rows as that store wrote
//! them (booleans), is migrated, not dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use terrace_model::Event;
use terrace_model::log::{LogBatch, Stream};
use terrace_store::control::RequestState;
use terrace_store::{Cipher, ControlStore, Ending, EnvPage, EnvState, RunFilter, RunState, SqlStore, Store};
use time::OffsetDateTime;

use crate::common::*;

/// The fixture's master key: the bytes 0 to 31 (its README).
fn fixture_key() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1-sqlx")
}

/// A copy of the fixture's data folder (opening writes to it).
fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_dir().join("terrace.db"), dir.path().join("terrace.db")).unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    for entry in std::fs::read_dir(fixture_dir().join("logs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join("logs").join(entry.file_name())).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_data_folder_of_the_sqlx_store_opens_migrates_and_reads_back() {
    let dir = copy_fixture();
    let db = dir.path().join("terrace.db");
    let store = SqlStore::open_sqlite(&db, Cipher::new(fixture_key())).await.unwrap();

    // The migration table continued: sqlx's five rows as they were, then ours.
    let conn = sqlite_conn(dir.path());
    let mut q = conn
        .prepare("SELECT version, description, success, length(checksum) FROM _sqlx_migrations ORDER BY version")
        .unwrap();
    let rows: Vec<(i64, String, bool, i64)> =
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count() as i64;
    assert_eq!(versions, (1..=files).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r.2 && r.3 == 48), "{rows:?}");
    assert_eq!((rows[0].1.as_str(), rows[4].1.as_str()), ("init", "log batches"));
    store.ready().await.unwrap();

    // Environments, runs, attempts and logs (inline and in files) read back.
    let envs = store.list_environments("legacy", &EnvPage::first(10)).await.unwrap();
    let states: Vec<(&str, EnvState)> = envs.iter().map(|e| (e.name.as_str(), e.state)).collect();
    assert_eq!(states, [("dev", EnvState::Failed), ("prod", EnvState::Stopped)]);
    let runs = store.list_runs(&RunFilter { limit: Some(100), ..Default::default() }).await.unwrap();
    assert_eq!(runs.len(), 12);
    let big = runs.iter().find(|r| r.job == "big" && r.environment == "dev").unwrap();
    let lines = store.read_logs(big.id, 0, 10_000).await.unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l.line.text.as_str()).collect();
    assert!(texts.contains(&"big log line 599 with some padding to make it longer than sixteen kib"), "{texts:?}");
    assert!(texts.len() > 600);
    let flaky = runs.iter().find(|r| r.job == "flaky").unwrap();
    assert_eq!((flaky.state, flaky.attempts, flaky.exit_code), (RunState::Failed, 2, Some(3)));
    assert_eq!(store.attempts(flaky.id).await.unwrap().len(), 2);

    // Outputs, sealed ones too, under the same key.
    let dev = envs.iter().find(|e| e.name == "dev").unwrap();
    let outputs = store.outputs(dev.id).await.unwrap();
    let value = |name: &str| outputs.iter().find(|o| o.name == name).map(|o| (o.value.clone(), o.sensitive));
    assert_eq!(value("vpc_id"), Some(("vpc-123".into(), false)));
    assert_eq!(value("admin_token"), Some(("s3cr3t-token-value".into(), true)));

    // The control plane's records.
    let secrets = store.secret_values("legacy", "dev").await.unwrap();
    assert_eq!(secrets, [("DB_PASSWORD".to_string(), "secret-db-password".to_string())]);
    let tokens: Vec<String> = store.list_tokens().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(tokens, ["fixture-admin", "fixture-admin2", "fixture-viewer"]);
    assert_eq!(store.audit_log(10).await.unwrap().len(), 4);
    let requests = store.list_requests(&Default::default()).await.unwrap();
    let states: Vec<RequestState> = requests.iter().map(|r| r.state).collect();
    assert_eq!(states, [RequestState::Succeeded, RequestState::Failed]);
    assert_eq!(requests[1].run_ids.len(), 3);
    assert_eq!(store.get_project("legacy").await.unwrap().unwrap().name, "legacy");

    // The run a killed `terrace` left running is held by its old owner, lease long gone:
    // taken back like any other.
    let slow = store.active_runs().await.unwrap();
    assert_eq!(slow.len(), 1);
    let slow = &slow[0];
    assert_eq!((slow.job.as_str(), slow.state, slow.lease_token), ("slow", RunState::Running, 0));
    assert_eq!(slow.owner.as_deref(), Some("local:29792:126894@vm"));
    assert!(slow.lease_expires_at.unwrap() < OffsetDateTime::now_utc());
    let now = OffsetDateTime::now_utc();
    assert!(store.take_back_run(slow.id, 0, Some(now), "its holder is gone").await.unwrap());

    // And it takes new work.
    let r = store.create_run(new_run(dev, "network", Event::Start, None), &me(), soon()).await.unwrap();
    let l = lease(&r);
    let note: Arc<[LogBatch]> = Arc::new([LogBatch::now(Stream::Terrace, "after the upgrade")]);
    assert_eq!(store.start_attempt(&l, soon(), None, note).await.unwrap(), 1);
    let ok = Ending::new(RunState::Succeeded, Some(0), None);
    store.end_attempt(&l, 1, &ok, Arc::new([]), Some(&ok)).await.unwrap();
    store.close().await;
    let again = SqlStore::open_sqlite(&db, Cipher::new(fixture_key())).await.unwrap();
    assert_eq!(again.get_run(r.id).await.unwrap().unwrap().state, RunState::Succeeded);
    again.close().await;

    // It had no master-key check: the first open recorded its key, and another is refused.
    let refused = SqlStore::open_sqlite(&db, Cipher::new([0xee; 32])).await.unwrap_err();
    assert!(refused.is_wrong_master_key(), "{refused}");
}

/// The PostgreSQL schema of the earlier store (migrations 1 to 5, booleans as BOOLEAN),
/// with rows as it wrote them, migrated by opening.
#[tokio::test]
async fn a_postgres_schema_of_the_earlier_store_is_migrated_not_dropped() {
    let Some(url) = postgres_url() else { return };
    let options = fresh_schema(&url).await;
    // The earlier migrations, from the files as they still are (never edited).
    let old = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.as_str() < "0006" {
            std::fs::copy(entry.path(), old.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
    sqlx::migrate::Migrator::new(old.path()).await.unwrap().run(&pool).await.unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
    let env_id = terrace_model::EnvironmentId::new().to_string();
    let run_id = terrace_model::RunId::new().to_string();
    let request_id = terrace_store::control::RequestId::new().to_string();
    for sql in [
        format!("INSERT INTO environments VALUES ('{env_id}', 'shop', 'dev', 'running', NULL, NULL, {now}, {now})"),
        format!(
            "INSERT INTO runs (id, environment_id, project, environment, job, event, forced, trigger, state, attempts, \
             created_at, finished_at) VALUES ('{run_id}', '{env_id}', 'shop', 'dev', 'db', 'start', TRUE, 'cli:old', \
             'succeeded', 1, {now}, {now})"
        ),
        format!("INSERT INTO outputs VALUES ('{env_id}', 'db', 'HOST', 'db.local', NULL, FALSE, '{run_id}', {now})"),
        format!(
            "INSERT INTO requests (id, project, environment, event, args, requested_by, state, max_attempts, \
             cancel_requested, created_at) VALUES ('{request_id}', 'shop', 'dev', 'start', '[]', 'api:old', 'queued', \
             2, TRUE, {now})"
        ),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let options_again = options.clone();
    let store = SqlStore::open_postgres_with(options, Cipher::new(KEY)).await.unwrap();
    store.ready().await.unwrap();
    let run = store.get_run(run_id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((run.forced, run.state, run.lease_token), (true, RunState::Succeeded, 0));
    let env = store.get_environment("shop", "dev").await.unwrap().unwrap();
    let outputs = store.outputs(env.id).await.unwrap();
    assert_eq!((outputs[0].value.as_str(), outputs[0].sensitive), ("db.local", false));
    let request = store.get_request(request_id.parse().unwrap()).await.unwrap().unwrap();
    assert!(request.cancel_requested);
    // The same statements as SQLite's work on the migrated columns.
    let r = store.create_run(new_run(&env, "app", Event::Start, None), &me(), soon()).await.unwrap();
    assert!(!r.forced);

    // It had no master-key check: the first open recorded its key, and another is refused.
    let refused = SqlStore::open_postgres_with(options_again, Cipher::new([0xee; 32])).await.unwrap_err();
    assert!(refused.is_wrong_master_key(), "{refused}");
}
