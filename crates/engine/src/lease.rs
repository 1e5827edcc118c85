//! Leases: a running run is held by an owner that renews its lease; a run whose owner is
//! gone is found by `recovery`. A local owner is `local:<pid>:<start>@<host>`, so a later
//! process on the same host can tell at once whether the holder still lives.

use std::sync::Arc;
use std::time::Duration;

use terrace_store::Store;
use tokio_util::sync::CancellationToken;

/// How long a lease lasts without renewal, and how often it is renewed.
pub const LEASE: Duration = Duration::from_secs(30);
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// This process's owner id.
pub fn owner_id() -> String {
    let pid = std::process::id();
    let start = terrace_exec::process::process_start_time(pid).unwrap_or(0);
    format!("local:{pid}:{start}@{}", hostname())
}

pub(crate) fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

/// Parses a local owner id into (pid, start, host).
pub(crate) fn parse_local_owner(owner: &str) -> Option<(u32, u64, &str)> {
    let rest = owner.strip_prefix("local:")?;
    let (ids, host) = rest.split_once('@')?;
    let (pid, start) = ids.split_once(':')?;
    Some((pid.parse().ok()?, start.parse().ok()?, host))
}

pub(crate) fn lease_until() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + LEASE
}

/// Renews this owner's leases until `stop` is cancelled.
pub(crate) fn spawn_renewal(store: Arc<dyn Store>, owner: String, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RENEW_EVERY) => {}
            }
            if let Err(e) = store.renew_leases(&owner, lease_until()).await {
                tracing::warn!(error = %e, "could not renew run leases");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_round_trip() {
        let id = owner_id();
        let (pid, _, host) = parse_local_owner(&id).unwrap();
        assert_eq!(pid, std::process::id());
        assert_eq!(host, hostname());
        assert!(parse_local_owner("server:abc").is_none());
    }
}
