//! SQLite only: the database file (migrations on reopen, several processes on one
//! file, no plain secret in it or its WAL) and the in-memory store.

use tempfile::TempDir;
use terrace_model::output::OutputEntry;
use terrace_store::{Cipher, SqlStore, Store, StoreError};

use crate::common::*;

struct FileFixture {
    dir: TempDir,
    store: SqlStore,
}

impl FileFixture {
    fn db_path(&self) -> std::path::PathBuf {
        db_path(self.dir.path())
    }

    async fn reopen(&self) -> SqlStore {
        SqlStore::open_sqlite(&self.db_path(), Cipher::new(KEY)).await.unwrap()
    }
}

async fn fixture() -> FileFixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&db_path(dir.path()), Cipher::new(KEY)).await.unwrap();
    FileFixture { dir, store }
}

fn entry(name: &str, value: &str, sensitive: bool) -> OutputEntry {
    OutputEntry { name: name.into(), value: value.into(), sensitive }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test]
async fn reopening_keeps_data_and_applies_migrations_once() {
    let f = fixture().await;
    let e = env(&f.store, "dev").await;
    let r = run(&f.store, &e, "db").await;
    f.store.close().await;
    for _ in 0..2 {
        let again = f.reopen().await;
        assert_eq!(again.get_run(r.id).await.unwrap().unwrap().id, r.id);
        again.close().await;
    }
    let conn = sqlite_conn(f.dir.path());
    let mut q = conn.prepare("SELECT version, success FROM _sqlx_migrations ORDER BY version").unwrap();
    let applied: Vec<(i64, bool)> =
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    // Every migration file applied exactly once, in order, and all succeeded.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
    let expected: Vec<(i64, bool)> = (1..=files as i64).map(|v| (v, true)).collect();
    assert_eq!(applied, expected);
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn processes_opening_a_new_file_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let path = path.clone();
        tasks.push(tokio::spawn(async move { SqlStore::open_sqlite(&path, Cipher::new(KEY)).await.unwrap() }));
    }
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap());
    }
    let e = stores[0].ensure_environment("shop", "dev").await.unwrap();
    for s in &stores {
        assert_eq!(s.get_environment("shop", "dev").await.unwrap().unwrap().id, e.id);
    }
}

#[tokio::test]
async fn two_handles_see_each_others_writes() {
    let f = fixture().await;
    let other = f.reopen().await;
    let e = env(&f.store, "dev").await;
    let r = run(&other, &e, "db").await;
    assert_eq!(f.store.start_attempt(&lease(&r), soon(), None, std::sync::Arc::new([])).await.unwrap(), 1);
    assert_eq!(other.start_attempt(&lease(&r), soon(), None, std::sync::Arc::new([])).await.unwrap(), 2);
    assert_eq!(f.store.attempts(r.id).await.unwrap().len(), 2);
    assert_eq!(other.get_run(r.id).await.unwrap().unwrap().attempts, 2);
}

#[tokio::test]
async fn in_memory_store_works() {
    let s = SqlStore::open_in_memory(Cipher::new(KEY)).await.unwrap();
    let e = env(&s, "dev").await;
    let r = run(&s, &e, "db").await;
    s.put_outputs(
        &lease(&r),
        e.id,
        "db",
        &[terrace_model::output::OutputEntry { name: "P".into(), value: "v".into(), sensitive: true }],
    )
    .await
    .unwrap();
    assert_eq!(s.outputs(e.id).await.unwrap()[0].value, "v");
    assert_eq!(s.list_environments(&e.project, &terrace_store::EnvPage::first(10)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqlStore::open_sqlite(&dir.path().join("nope/terrace.db"), Cipher::new(KEY)).await.unwrap_err();
    assert!(err.to_string().contains("nope/terrace.db"), "{err}");
}

#[tokio::test]
async fn sensitive_values_never_reach_the_files_in_plain_text() {
    let f = fixture().await;
    let e = env(&f.store, "dev").await;
    let r = run(&f.store, &e, "db").await;
    let secret = "hunter2-SECRET-d41d8cd98f00b204";
    let visible = "plain-VISIBLE-e3b0c44298fc1c14";
    f.store
        .put_outputs(&lease(&r), e.id, "db", &[entry("PASSWORD", secret, true), entry("HOST", visible, false)])
        .await
        .unwrap();
    assert_eq!(f.store.outputs(e.id).await.unwrap()[1].value, secret);

    let db = f.db_path();
    let wal = db.with_file_name("terrace.db-wal");
    let live: Vec<u8> = [file_bytes(&db), file_bytes(&wal)].concat();
    assert!(contains(&live, visible), "the scan must see plain values, or it proves nothing");
    assert!(!contains(&live, secret), "a sensitive value is in the database or WAL file in plain text");

    // Checkpointed into the main file, the values keep their form. Checkpointed here, not
    // by `close`: its checkpoint of the last connection is not reliable under load (two
    // connections closing at once may each leave it to the other); reported, not tested.
    f.store.close().await;
    let conn = sqlite_conn(f.dir.path());
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(conn);
    let closed = file_bytes(&db);
    assert!(contains(&closed, visible));
    assert!(!contains(&closed, secret));

    // Another key is refused at open; with the check pointed at it by hand, the store
    // opens but that key cannot read the value. The right key can.
    let other = Cipher::new([0; 32]);
    assert!(SqlStore::open_sqlite(&db, other.clone()).await.unwrap_err().is_wrong_master_key());
    let point_at = |c: &Cipher| {
        let sql = format!("UPDATE master_key SET key_id = '{}'", c.key_id());
        sqlite_conn(f.dir.path()).execute(&sql, []).unwrap();
    };
    point_at(&other);
    let wrong = SqlStore::open_sqlite(&db, other).await.unwrap();
    assert!(matches!(wrong.outputs(e.id).await, Err(StoreError::Crypto(_))));
    wrong.close().await;
    point_at(&Cipher::new(KEY));
    let right = f.reopen().await;
    assert_eq!(right.outputs(e.id).await.unwrap()[1].value, secret);
}
