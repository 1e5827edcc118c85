//! The scheduler: claims queued requests with a lease (owner = this server), runs each
//! through the engine, renews the leases while they run, and periodically hands requests
//! of dead servers back to the queue (`reaper`). One request per environment at a time, plans
//! aside (the claim statement guarantees it), at most `max_runs` at once on this server.

mod execute;
pub mod notify;
mod reaper;
pub mod timed;
mod wakeups;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use terrace_store::control::RequestId;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::App;

pub use reaper::reap;
pub use wakeups::listen as listen_for_wakeups;

/// How the scheduler runs requests.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Requests running at once on this server (each is one environment).
    pub max_runs: usize,
    /// Independent jobs of one environment running at once.
    pub parallel: usize,
    /// A request's lease; renewed every third of it while it runs.
    pub lease: Duration,
    /// How often the queue is looked at without a wake-up (other replicas, retries).
    pub poll: Duration,
    /// On stop: how long running requests may go on before they are stopped and re-queued.
    pub shutdown_grace: Duration,
    /// Between SIGTERM and SIGKILL when a job is stopped.
    pub kill_grace: Duration,
}

/// The requests this server runs, with the token that stops each.
#[derive(Default)]
struct Running {
    tasks: Mutex<HashMap<RequestId, Handle>>,
}

#[derive(Clone)]
struct Handle {
    cancel: CancellationToken,
    /// Set when the server, not a user, stopped it: the request goes back to the queue.
    released: CancellationToken,
}

impl Running {
    fn insert(&self, id: RequestId, handle: Handle) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).insert(id, handle);
    }
    fn remove(&self, id: RequestId) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
    fn cancel(&self, id: RequestId) {
        if let Some(h) = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            h.cancel.cancel();
        }
    }
    fn ids(&self) -> std::collections::HashSet<RequestId> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
    }
    fn release_all(&self) {
        for h in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).values() {
            h.released.cancel();
            h.cancel.cancel();
        }
    }
}

/// Runs until `stop` is cancelled, then lets running requests finish for the grace
/// period, stops and re-queues the rest, and returns.
pub async fn run(app: Arc<App>, cfg: SchedulerConfig, stop: CancellationToken) {
    let cfg = Arc::new(cfg);
    let running = Arc::new(Running::default());
    let renewing = CancellationToken::new();
    let renewal = tokio::spawn(renew(app.clone(), cfg.clone(), running.clone(), renewing.clone()));
    let mut tasks = JoinSet::new();
    let mut last_reap = Instant::now();
    let reap_every = (cfg.lease / 2).max(Duration::from_millis(200));
    while !stop.is_cancelled() {
        if last_reap.elapsed() >= reap_every {
            last_reap = Instant::now();
            if let Err(e) = reaper::reap(&app).await {
                tracing::warn!(error = %e, "could not re-queue the requests of dead servers");
            }
            // Taken here, where claims are made: a request claimed later is not yet in the store.
            if let Err(e) = reaper::give_up_unheld(&app, &running.ids()).await {
                tracing::warn!(error = %e, "could not look for requests this server no longer runs");
            }
        }
        while tasks.len() < cfg.max_runs.max(1) {
            let claimed = app.store.claim_request(&app.instance, lease_until(cfg.lease)).await;
            match claimed {
                Ok(Some(request)) => {
                    let handle = Handle { cancel: CancellationToken::new(), released: CancellationToken::new() };
                    if request.cancel_requested {
                        handle.cancel.cancel();
                    }
                    running.insert(request.id, handle.clone());
                    let (app, cfg, running) = (app.clone(), cfg.clone(), running.clone());
                    tasks.spawn(async move {
                        let id = request.id;
                        execute::execute(&app, &cfg, request, handle).await;
                        running.remove(id);
                        app.wake_scheduler.notify_one();
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a request");
                    break;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = app.wake_scheduler.notified() => {}
            _ = tokio::time::sleep(cfg.poll) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Stop claiming; give running requests the grace period, then stop and re-queue them.
    let drained = tokio::time::timeout(cfg.shutdown_grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(running = tasks.len(), "grace period over: stopping running requests and re-queueing them");
        running.release_all();
        let _ = tokio::time::timeout(cfg.kill_grace + Duration::from_secs(5), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }
    renewing.cancel();
    let _ = renewal.await;
}

fn lease_until(lease: Duration) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + lease
}

/// Renews this server's leases and passes on cancellations asked through the store.
async fn renew(app: Arc<App>, cfg: Arc<SchedulerConfig>, running: Arc<Running>, stop: CancellationToken) {
    let every = (cfg.lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        // Only the requests this server runs: one the store lists under its name without
        // a task here is ended by `give_up_unheld`, never kept alive.
        let held: Vec<RequestId> = running.ids().into_iter().collect();
        match app.store.renew_request_leases(&app.instance, &held, lease_until(cfg.lease)).await {
            Ok(cancelled) => cancelled.into_iter().for_each(|id| running.cancel(id)),
            Err(e) => tracing::warn!(error = %e, "could not renew request leases"),
        }
    }
}
