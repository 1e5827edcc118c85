//! Work that runs one at a time across every process and replica sharing the store,
//! under a named lock of the store (`LockStore`): the lock is waited for, renewed while
//! the work runs, and released after it. A holder that dies stops renewing, so its lock
//! is taken over once its lease expired; nothing stays locked by a crash.

use std::future::Future;
use std::time::Duration;

use terrace_store::{NamedLock, Store, StoreError};

/// How long a lock is held without a renewal.
const TTL: Duration = Duration::from_secs(30);
/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a waiter asks again.
const RETRY_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("waited {waited:?} for the lock {name}, still held by {holder}")]
    TimedOut { name: String, holder: String, waited: Duration },
    #[error("the lock {name} was lost (its lease expired and another holder took it) before the work ended")]
    Lost { name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `work` while holding the lock `name` as `holder`, waiting at most `wait` for it.
/// Should the lock be lost meanwhile (this process stalled past its lease), the work is
/// stopped where it is and `LockError::Lost` returned.
pub async fn with_lock<T>(
    store: &dyn Store,
    name: &str,
    holder: &str,
    wait: Duration,
    work: impl Future<Output = T>,
) -> Result<T, LockError> {
    let lock = acquire(store, name, holder, wait).await?;
    let renew = async {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match store.renew_lock(&lock, TTL).await {
                Ok(true) => {}
                Ok(false) => return LockError::Lost { name: name.to_string() },
                // The store is away for a moment: the lease covers a few missed renewals.
                Err(e) => tracing::warn!(lock = name, error = %e, "cannot renew the lock; trying again"),
            }
        }
    };
    let out = tokio::select! {
        out = work => out,
        lost = renew => return Err(lost),
    };
    if let Err(e) = store.unlock(&lock).await {
        tracing::warn!(lock = name, error = %e, "cannot release the lock; it goes when its lease expires");
    }
    Ok(out)
}

async fn acquire(store: &dyn Store, name: &str, holder: &str, wait: Duration) -> Result<NamedLock, LockError> {
    let started = tokio::time::Instant::now();
    let mut logged = false;
    loop {
        match store.try_lock(name, holder, TTL).await? {
            Ok(lock) => return Ok(lock),
            Err(held) if started.elapsed() >= wait => {
                return Err(LockError::TimedOut { name: name.to_string(), holder: held.holder, waited: wait });
            }
            Err(held) => {
                if !logged {
                    tracing::info!(lock = name, holder = %held.holder, "waiting for the lock");
                    logged = true;
                }
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
    }
}
