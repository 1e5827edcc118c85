//! Named locks under a lease: taken by an upsert that only overwrites an expired holder
//! (one statement, so two takers never both win), renewed and released under the
//! holder's token.

use std::time::Duration;

use super::SqlStore;
use crate::db::value::{now_db, ts_to_db};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::locks::{LockStore, NamedLock};
use crate::store::Result;

const T: &str = "named_locks";

fn until(ttl: Duration) -> Result<i64> {
    ts_to_db(time::OffsetDateTime::now_utc() + ttl)
}

fn from_row(mut r: Row) -> Result<NamedLock> {
    Ok(NamedLock { name: r.text(0)?, holder: r.text(1)?, token: r.int(2)?, expires_at: r.ts(3)? })
}

pub(super) async fn try_lock(
    s: &SqlStore,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<std::result::Result<NamedLock, NamedLock>> {
    let mut tx = Tx::new();
    let take = tx.push(
        Stmt::new(
            T,
            "INSERT INTO named_locks (name, holder, token, acquired_at, expires_at) VALUES ($1, $2, 1, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = named_locks.token + 1, \
             acquired_at = excluded.acquired_at, expires_at = excluded.expires_at \
             WHERE named_locks.expires_at <= excluded.acquired_at \
             RETURNING name, holder, token, expires_at",
        )
        .bind(name)
        .bind(holder)
        .bind(now_db()?)
        .bind(until(ttl)?)
        .doing(format!("take the lock {name}")),
    );
    let read = tx.push(
        Stmt::new(T, "SELECT name, holder, token, expires_at FROM named_locks WHERE name = $1")
            .bind(name)
            .doing(format!("read the lock {name}")),
    );
    let mut outs = s.db.write(tx).await?;
    if let Some(row) = outs[take].rows.pop() {
        return Ok(Ok(from_row(row)?));
    }
    let row =
        outs[read].rows.pop().ok_or_else(|| StoreError::Corrupt(format!("lock {name}: no row after taking it")))?;
    Ok(Err(from_row(row)?))
}

pub(super) async fn renew(s: &SqlStore, lock: &NamedLock, ttl: Duration) -> Result<bool> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(T, "UPDATE named_locks SET expires_at = $1 WHERE name = $2 AND holder = $3 AND token = $4")
            .bind(until(ttl)?)
            .bind(&lock.name)
            .bind(&lock.holder)
            .bind(lock.token)
            .doing(format!("renew the lock {}", lock.name)),
    );
    Ok(s.db.write(tx).await?[i].changed == 1)
}

pub(super) async fn unlock(s: &SqlStore, lock: &NamedLock) -> Result<bool> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(T, "DELETE FROM named_locks WHERE name = $1 AND holder = $2 AND token = $3")
            .bind(&lock.name)
            .bind(&lock.holder)
            .bind(lock.token)
            .doing(format!("release the lock {}", lock.name)),
    );
    Ok(s.db.write(tx).await?[i].changed == 1)
}

#[async_trait::async_trait]
impl LockStore for SqlStore {
    async fn try_lock(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<std::result::Result<NamedLock, NamedLock>> {
        try_lock(self, name, holder, ttl).await
    }
    async fn renew_lock(&self, lock: &NamedLock, ttl: Duration) -> Result<bool> {
        renew(self, lock, ttl).await
    }
    async fn unlock(&self, lock: &NamedLock) -> Result<bool> {
        unlock(self, lock).await
    }
}
