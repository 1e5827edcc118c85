//! Named locks held under a lease (`LockStore`), for work that must run one at a time
//! across processes and replicas sharing the store: a promotion of one environment and
//! artifact. The holder renews its lease while it works; a holder that died stops
//! renewing and its lock is taken over once the lease expired, so nothing stays locked.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::store::Result;

/// A lock as held: by whom, under which token (each take-over bumps it), until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedLock {
    pub name: String,
    pub holder: String,
    pub token: i64,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait LockStore: Send + Sync {
    /// Takes `name` for `holder` for `ttl` when it is free or its lease expired:
    /// `Ok(lock)`; otherwise `Err(the current holder's lock)`, nothing written.
    async fn try_lock(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<std::result::Result<NamedLock, NamedLock>>;
    /// Extends the lease of `lock` by `ttl` from now; false when it is no longer held
    /// under that token (it expired and another took it).
    async fn renew_lock(&self, lock: &NamedLock, ttl: Duration) -> Result<bool>;
    /// Releases `lock`; false when it was no longer held under its token.
    async fn unlock(&self, lock: &NamedLock) -> Result<bool>;
}
