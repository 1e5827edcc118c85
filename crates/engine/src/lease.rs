//! Leases: every run of a pipeline is held by this process (`Owner`) from its creation,
//! renewed while the pipeline goes on. A lease another holder took back (ours had
//! expired: this process was stopped or cut off) is lost for good: the renewal, or the
//! next write (`StoreError::LeaseLost`), says so, and the run's work stops at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use terrace_model::RunId;
use terrace_store::{Owner, RunLease, Store};
use tokio_util::sync::CancellationToken;

/// How long a lease lasts without renewal (local mode; a server sets its own). It is
/// renewed every third of it.
pub const LEASE: Duration = Duration::from_secs(30);

/// This process as the holder of local runs (`terrace up` and the like).
pub fn local_owner() -> Owner {
    let pid = std::process::id();
    Owner::local(pid, terrace_exec::process::process_start_time(pid).unwrap_or(0), &hostname())
}

/// This process as a server replica.
pub fn replica_owner() -> Owner {
    let pid = std::process::id();
    Owner::replica(pid, terrace_exec::process::process_start_time(pid).unwrap_or(0), &hostname())
}

pub fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

pub(crate) fn until(lease: Duration) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + lease
}

/// A run this process holds: its lease, the token that stops its work, and why it was
/// lost, once it was.
pub(crate) struct Held {
    pub lease: RunLease,
    /// The run's number in its environment (`dev#17`).
    pub number: u64,
    pub cancel: CancellationToken,
    lost: Mutex<Option<String>>,
    done: std::sync::atomic::AtomicBool,
}

impl Held {
    pub(crate) fn new(lease: RunLease, number: u64, cancel: CancellationToken) -> Arc<Held> {
        Arc::new(Held { lease, number, cancel, lost: Mutex::new(None), done: Default::default() })
    }

    /// The lease is gone: remember why and stop the run's work.
    pub(crate) fn lose(&self, why: String) {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(why);
        self.cancel.cancel();
    }

    pub(crate) fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The run ended (its lease released): nothing more to renew.
    pub(crate) fn finish(&self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Renews the leases of `held` until `stop` is cancelled; a lease the store says is no
/// longer ours stops its run.
pub(crate) fn spawn_renewal(
    store: Arc<dyn Store>,
    held: BTreeMap<RunId, Arc<Held>>,
    lease: Duration,
    stop: CancellationToken,
) {
    let every = lease / 3;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let live: Vec<RunLease> = held.values().filter(|h| !h.is_done()).map(|h| h.lease.clone()).collect();
            if live.is_empty() {
                continue;
            }
            match store.renew_leases(&live, until(lease)).await {
                Ok(lost) => {
                    for id in lost {
                        if let Some(h) = held.get(&id).filter(|h| !h.is_done()) {
                            tracing::warn!(run = %id, "lost the lease on a run: another holder took it back");
                            h.lose(format!(
                                "its lease was taken back while {} held it (not renewed in time); its work was stopped",
                                h.lease.owner.describe()
                            ));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not renew run leases"),
            }
        }
    });
}
