//! `source_snapshots`: the content of a job's source folder as a start applied it (a
//! compressed tar), named by its hash and stored once, sealed with the master key and
//! bound to that hash (a folder may hold secrets). Written beside the `applied_jobs`
//! record that refers to it; goes when no record refers to it any more.

use crate::applied::SourceSnapshot;
use crate::db::value::now_db;
use crate::db::{Stmt, Tx};
use crate::error::StoreError;
use crate::store::Result;

use super::SqlStore;

const T: &str = "source_snapshots";

fn binding(hash: &str) -> Vec<u8> {
    format!("terrace-source-snapshot\0{hash}").into_bytes()
}

/// Whether a snapshot named `hash` is stored.
pub(super) async fn exists(s: &SqlStore, hash: &str) -> Result<bool> {
    let stmt = Stmt::new(T, "SELECT 1 FROM source_snapshots WHERE hash = $1")
        .bind(hash)
        .doing(format!("look for source snapshot {hash}"));
    Ok(s.db.query_opt(stmt).await?.is_some())
}

/// The insert of `snapshot` (sealed), nothing when a snapshot of that hash is stored.
pub(super) fn insert_stmt(s: &SqlStore, snapshot: &SourceSnapshot) -> Result<Stmt> {
    let sealed = s.cipher.encrypt_bound(&snapshot.tar_gz, &binding(&snapshot.hash))?;
    let size = i64::try_from(snapshot.tar_gz.len()).unwrap_or(i64::MAX);
    Ok(Stmt::new(
        T,
        "INSERT INTO source_snapshots (hash, data_enc, size, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) \
         DO NOTHING",
    )
    .bind(snapshot.hash.as_str())
    .bind(sealed)
    .bind(size)
    .bind(now_db()?)
    .doing(format!("store source snapshot {}", snapshot.hash)))
}

/// Removes the snapshots no applied job refers to (after a record changed or went).
pub(super) fn sweep(tx: &mut Tx) {
    tx.push(sweep_stmt());
}

/// The statement of [`sweep`].
pub(super) fn sweep_stmt() -> Stmt {
    Stmt::new(
        T,
        "DELETE FROM source_snapshots WHERE hash NOT IN (SELECT source_snapshot FROM applied_jobs WHERE \
         source_snapshot IS NOT NULL)",
    )
    .doing("remove source snapshots no applied job refers to")
}

/// The compressed tar of snapshot `hash`, opened.
pub(super) async fn read(s: &SqlStore, hash: &str) -> Result<Option<Vec<u8>>> {
    let stmt = Stmt::new(T, "SELECT data_enc FROM source_snapshots WHERE hash = $1")
        .bind(hash)
        .doing(format!("read source snapshot {hash}"));
    match s.db.query_opt(stmt).await? {
        Some(mut row) => {
            let sealed = row.blob(0)?;
            let plain = s
                .cipher
                .decrypt_bound(&sealed, &binding(hash))
                .map_err(|e| StoreError::Corrupt(format!("source_snapshots.data_enc of {hash}: {e}")))?;
            Ok(Some(plain))
        }
        None => Ok(None),
    }
}
