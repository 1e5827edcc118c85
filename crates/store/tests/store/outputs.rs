//! Job outputs: replace semantics, and sensitive values encrypted at rest.

use terrace_model::output::OutputEntry;
use terrace_store::{Cipher, SqliteStore, Store, StoreError};

use crate::common::*;

fn entry(name: &str, value: &str, sensitive: bool) -> OutputEntry {
    OutputEntry { name: name.into(), value: value.into(), sensitive }
}

#[tokio::test]
async fn put_replaces_the_outputs_of_one_job() {
    let f = fixture().await;
    let e = env(&f.store, "dev").await;
    let r1 = run(&f.store, &e, "db").await;
    let r2 = run(&f.store, &e, "db").await;
    let app = run(&f.store, &e, "app").await;
    f.store.put_outputs(e.id, "db", r1.id, &[entry("HOST", "h1", false), entry("OLD", "x", false)]).await.unwrap();
    f.store.put_outputs(e.id, "app", app.id, &[entry("URL", "http://app", false)]).await.unwrap();
    f.store.put_outputs(e.id, "db", r2.id, &[entry("HOST", "h2", false), entry("PASSWORD", "pw", true)]).await.unwrap();

    let got = f.store.outputs(e.id).await.unwrap();
    let summary: Vec<_> =
        got.iter().map(|o| (o.job.as_str(), o.name.as_str(), o.value.as_str(), o.sensitive)).collect();
    assert_eq!(
        summary,
        [("app", "URL", "http://app", false), ("db", "HOST", "h2", false), ("db", "PASSWORD", "pw", true)]
    );
    assert_eq!((got[0].run_id, got[1].run_id, got[2].run_id), (app.id, r2.id, r2.id));

    // Replacing with nothing clears the job's outputs; other jobs keep theirs.
    f.store.put_outputs(e.id, "db", r2.id, &[]).await.unwrap();
    assert_eq!(f.store.outputs(e.id).await.unwrap().len(), 1);
    f.store.put_outputs(e.id, "db", r2.id, &[entry("HOST", "h3", false)]).await.unwrap();
    f.store.delete_outputs(e.id, "app").await.unwrap();
    let names: Vec<_> = f.store.outputs(e.id).await.unwrap().into_iter().map(|o| o.value).collect();
    assert_eq!(names, ["h3"]);
    // Outputs belong to one environment.
    let other = env(&f.store, "prod").await;
    assert!(f.store.outputs(other.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_put_changes_nothing() {
    let f = fixture().await;
    let e = env(&f.store, "dev").await;
    let r = run(&f.store, &e, "db").await;
    f.store.put_outputs(e.id, "db", r.id, &[entry("A", "1", false)]).await.unwrap();
    // The same name twice violates the primary key half-way through the batch.
    let dup = [entry("B", "2", false), entry("B", "3", false)];
    assert!(matches!(f.store.put_outputs(e.id, "db", r.id, &dup).await, Err(StoreError::Database { .. })));
    let values: Vec<_> = f.store.outputs(e.id).await.unwrap().into_iter().map(|o| o.value).collect();
    assert_eq!(values, ["1"], "the old outputs survive a failed replace");
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test]
async fn sensitive_values_never_reach_the_files_in_plain_text() {
    let f = fixture().await;
    let e = env(&f.store, "dev").await;
    let r = run(&f.store, &e, "db").await;
    let secret = "hunter2-SECRET-d41d8cd98f00b204";
    let visible = "plain-VISIBLE-e3b0c44298fc1c14";
    f.store
        .put_outputs(e.id, "db", r.id, &[entry("PASSWORD", secret, true), entry("HOST", visible, false)])
        .await
        .unwrap();
    assert_eq!(f.store.outputs(e.id).await.unwrap()[1].value, secret);

    let db = f.db_path();
    let wal = db.with_file_name("terrace.db-wal");
    let live: Vec<u8> = [file_bytes(&db), file_bytes(&wal)].concat();
    assert!(contains(&live, visible), "the scan must see plain values, or it proves nothing");
    assert!(!contains(&live, secret), "a sensitive value is in the database or WAL file in plain text");

    // After closing, the WAL is checkpointed into the main file.
    f.store.close().await;
    let closed = file_bytes(&db);
    assert!(contains(&closed, visible));
    assert!(!contains(&closed, secret));

    // Another key cannot read it; the right key can.
    let wrong = SqliteStore::open(&db, Cipher::new([0; 32])).await.unwrap();
    assert!(matches!(wrong.outputs(e.id).await, Err(StoreError::Crypto(_))));
    let right = f.reopen().await;
    assert_eq!(right.outputs(e.id).await.unwrap()[1].value, secret);
}

#[tokio::test]
async fn an_encrypted_value_moved_to_another_output_does_not_open() {
    let f = fixture().await;
    let e = env(&f.store, "dev").await;
    let r = run(&f.store, &e, "db").await;
    f.store.put_outputs(e.id, "db", r.id, &[entry("A", "secret-a", true), entry("B", "secret-b", true)]).await.unwrap();
    let url = format!("sqlite://{}", f.db_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE outputs SET value_enc = (SELECT value_enc FROM outputs WHERE name = 'A') WHERE name = 'B'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = f.store.outputs(e.id).await.unwrap_err();
    assert!(matches!(&err, StoreError::Crypto(m) if !m.contains("secret")), "{err}");
}
