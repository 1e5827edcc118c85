//! The master-key check's queries (see `crate::key_check`): read the recorded key id, or
//! record the given key's when the store has none yet (a new store, or one made before
//! the check), then compare.

use super::SqlStore;
use crate::db::value::now_db;
use crate::db::{Stmt, Tx};
use crate::error::StoreError;
use crate::key_check::WrongKey;
use crate::store::Result;

const T: &str = "master_key";

fn read() -> Stmt {
    Stmt::new(T, "SELECT key_id FROM master_key WHERE one = 1").doing("read the master key's id")
}

/// Refuses `s` when it records another key than its cipher's; records the cipher's when
/// it records none. `store` names it in the refusal.
pub(super) async fn check(s: &SqlStore, store: String) -> Result<()> {
    let given = s.cipher.key_id();
    // Every command opens the store: the usual case is one read, no write lock.
    let recorded = match s.db.query_opt(read()).await? {
        Some(mut row) => row.text(0)?,
        None => {
            // Two first openers at once: the first insert wins, and both read what it wrote.
            let mut tx = Tx::new();
            tx.push(
                Stmt::new(
                    T,
                    "INSERT INTO master_key (one, key_id, recorded_at) VALUES (1, $1, $2) ON CONFLICT (one) DO NOTHING",
                )
                .bind(given.clone())
                .bind(now_db()?)
                .doing("record the master key's id"),
            );
            let read = tx.push(read());
            let mut outs = s.db.write(tx).await?;
            let mut row = outs[read]
                .rows
                .pop()
                .ok_or_else(|| StoreError::Corrupt("master_key: no row after recording it".into()))?;
            row.text(0)?
        }
    };
    if recorded == given {
        return Ok(());
    }
    Err(StoreError::WrongMasterKey(Box::new(WrongKey::new(store, recorded, &s.cipher))))
}
