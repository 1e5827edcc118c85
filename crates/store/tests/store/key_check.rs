//! The master-key check: a store records the id of the key it was first opened with and
//! refuses any other key at open, with what to do, on both backends; two first openers
//! with different keys cannot both win; a store made before the check gets one at its
//! next open.

use std::sync::Arc;

use terrace_store::{Cipher, KeySource, SqlStore, StoreError};

use crate::common::*;

/// A cipher read from a key file holding `key`, as `terrace` finds one in a data folder.
fn from_key_file(dir: &std::path::Path, key: [u8; 32]) -> Cipher {
    std::fs::write(dir.join("master.key"), format!("{}\n", hex::encode(key))).unwrap();
    Cipher::from_key_file(dir).unwrap().unwrap()
}

async fn another_key_is_refused_at_open_with_what_to_do(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    f.control.put_secret("shop", "dev", "PW", "hunter2-pw", "test").await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let other = from_key_file(keys.path(), [1; 32]);
    let err = f.open_with(other.clone()).await.unwrap_err();
    assert!(err.is_wrong_master_key(), "{err}");
    let text = err.to_string();
    let store = match f.sqlite_path() {
        Some(path) => format!("the store {}", path.display()),
        None => "the PostgreSQL store at ".into(),
    };
    assert!(text.starts_with(&store), "{text}");
    let (recorded, given) = (&Cipher::new(KEY).key_id()[..16], &other.key_id()[..16]);
    assert!(text.contains(&format!("another master key (key id {recorded})")), "{text}");
    assert!(text.contains(&format!("the key file {} (key id {given})", keys.path().join("master.key").display())));
    assert!(text.contains("set TERRACE_MASTER_KEY to it"), "{text}");
    for key in [KEY, [1; 32]] {
        assert!(!text.contains(&hex::encode(key)), "a key in the message: {text}");
    }
    assert!(matches!(other.source(), KeySource::File { created: false, .. }));

    // Refused before writing anything: the store's key still opens it, and only its own.
    let again = f.reopen().await;
    assert_eq!(again.get_environment("shop", "dev").await.unwrap().unwrap().id, e.id);
    assert_eq!(f.control.secret_values("shop", "dev").await.unwrap()[0].1, "hunter2-pw");
    assert!(f.open_with(Cipher::new([1; 32])).await.unwrap_err().is_wrong_master_key());
    let recorded = f.texts("SELECT key_id FROM master_key").await;
    assert_eq!(recorded, [Cipher::new(KEY).key_id()], "one id, the first key's, never the key");
}

async fn a_store_made_before_the_check_gets_one_at_its_next_open(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    // As a store of an earlier version is after the migration: the table, no row.
    f.execute("DELETE FROM master_key").await;
    let opened = f.reopen().await;
    assert_eq!(opened.get_environment("shop", "dev").await.unwrap().unwrap().id, e.id);
    let recorded = f.texts("SELECT key_id FROM master_key").await;
    assert_eq!(recorded, [Cipher::new(KEY).key_id()]);
    assert!(f.open_with(Cipher::new([1; 32])).await.unwrap_err().is_wrong_master_key());
}

backends!(another_key_is_refused_at_open_with_what_to_do, a_store_made_before_the_check_gets_one_at_its_next_open);

/// Two processes opening a new store at once with different keys: one wins, the other
/// is refused; whoever opens next with the loser's key is refused too.
async fn first_openers_race(
    open: impl Fn([u8; 32]) -> futures_util::future::BoxFuture<'static, Result<SqlStore, StoreError>>,
) {
    let (a, b) = tokio::join!(open([1; 32]), open([2; 32]));
    let (won, lost) = match (a, b) {
        (Ok(s), Err(e)) => (s, ([2; 32], e)),
        (Err(e), Ok(s)) => (s, ([1; 32], e)),
        (a, b) => panic!("exactly one first opener must win: {:?} / {:?}", a.map(|_| ()), b.map(|_| ())),
    };
    assert!(lost.1.is_wrong_master_key(), "{}", lost.1);
    won.close().await;
    assert!(open(lost.0).await.unwrap_err().is_wrong_master_key());
}

#[tokio::test]
async fn sqlite_first_openers_with_different_keys_cannot_both_win() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    first_openers_race(move |key| {
        let path = db_path(dir.path());
        Box::pin(async move { SqlStore::open_sqlite(&path, Cipher::new(key)).await })
    })
    .await;
}

#[tokio::test]
async fn postgres_first_openers_with_different_keys_cannot_both_win() {
    let Some(url) = postgres_url() else { return };
    let options = fresh_schema(&url).await;
    first_openers_race(move |key| {
        let options = options.clone();
        Box::pin(async move { SqlStore::open_postgres_with(options, Cipher::new(key)).await })
    })
    .await;
}
