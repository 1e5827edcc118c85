//! The delivery worker: claims kept webhook deliveries one at a time per task, under a
//! lease renewed while it works (of several replicas, one processes each; a replica that
//! dies leaves a lease that expires, and another takes the delivery back), hands each to
//! the handlers, and records the outcome. A transient failure puts the delivery back in
//! the queue with exponential backoff, until `max_attempts`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use terrace_forge::Forge;
use terrace_store::control::{DeliveryEnd, DeliveryWork};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{HandleError, Handler, Incoming, Steps};
use crate::app::App;

/// How deliveries are processed.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Deliveries processed at once on this server.
    pub concurrency: usize,
    /// A delivery's lease; renewed every third of it while it is processed.
    pub lease: Duration,
    /// How often the queue is looked at without a wake-up (retries, other replicas).
    pub poll: Duration,
    /// First wait before a retry, doubled on each (at most `max_backoff`).
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Claims of one delivery before it is given up as failed.
    pub max_attempts: u32,
}

impl WorkerConfig {
    pub fn new(lease: Duration, poll: Duration) -> WorkerConfig {
        WorkerConfig {
            concurrency: 4,
            lease,
            poll,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            max_attempts: 8,
        }
    }

    /// The wait before the retry that follows attempt `attempt` (1-based).
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let doubled = self.backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        doubled.min(self.max_backoff)
    }
}

/// Runs until `stop`: claims while it has room, then waits for a wake-up, a finished
/// task or the poll. Deliveries being processed at `stop` are left to their leases.
pub async fn run(app: Arc<App>, cfg: WorkerConfig, handlers: Vec<Arc<dyn Handler>>, stop: CancellationToken) {
    let (cfg, handlers) = (Arc::new(cfg), Arc::new(handlers));
    let mut tasks = JoinSet::new();
    while !stop.is_cancelled() {
        while tasks.len() < cfg.concurrency.max(1) {
            match app.store.claim_delivery(&app.instance, lease_until(cfg.lease)).await {
                Ok(Some(work)) => {
                    let (app, cfg, handlers, stop) = (app.clone(), cfg.clone(), handlers.clone(), stop.clone());
                    tasks.spawn(async move { process(&app, &cfg, &handlers, work, &stop).await });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a webhook delivery");
                    break;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = app.wake_deliveries.notified() => {}
            _ = tokio::time::sleep(cfg.poll) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Give running handlers a moment to record their end; the rest resume elsewhere.
    let _ = tokio::time::timeout(Duration::from_secs(5), async { while tasks.join_next().await.is_some() {} }).await;
}

fn lease_until(lease: Duration) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + lease
}

fn forge_of(name: &str) -> Option<Forge> {
    match name {
        "github" => Some(Forge::GitHub),
        "gitlab" => Some(Forge::GitLab),
        _ => None,
    }
}

/// Processes one claimed delivery and records how it ended (or that it is to be retried).
async fn process(
    app: &Arc<App>,
    cfg: &WorkerConfig,
    handlers: &[Arc<dyn Handler>],
    work: DeliveryWork,
    stop: &CancellationToken,
) {
    let key = work.record.key.clone();
    let lease = work.lease.clone();
    // Tests stop here, as a replica that dies right after its claim.
    fail::fail_point!("delivery-claimed", |_| ());
    let lost = CancellationToken::new();
    let renewal = tokio::spawn(renew(app.clone(), cfg.lease, lease.clone(), lost.clone()));
    let ended = tokio::select! {
        ended = handle_all(app, cfg, handlers, &work) => Some(ended),
        _ = lost.cancelled() => None,
        _ = stop.cancelled() => None,
    };
    renewal.abort();
    let Some(ended) = ended else {
        tracing::warn!(delivery = %key, "stopped processing a webhook delivery; it will be taken back");
        return;
    };
    let written = match ended {
        Ended::Finished { end, outcome, error } => {
            tracing::info!(delivery = %key, end = %end, "webhook delivery processed");
            app.store.finish_delivery(&lease, end, &outcome, error.as_deref()).await
        }
        Ended::Wait(wait) => app.store.defer_delivery(&lease, lease_until(wait)).await,
        Ended::Retry(error) => {
            let wait = cfg.backoff_after(work.record.attempts);
            tracing::warn!(delivery = %key, error = %error, retry_in = ?wait, "webhook delivery to be retried");
            app.store.retry_delivery(&lease, lease_until(wait), &error).await
        }
        Ended::Lost(error) => {
            tracing::warn!(delivery = %key, error = %error, "lost a webhook delivery's lease");
            return;
        }
    };
    if let Err(e) = written {
        tracing::warn!(delivery = %key, error = %e, "could not record the end of a webhook delivery");
    }
}

enum Ended {
    Finished { end: DeliveryEnd, outcome: Value, error: Option<String> },
    Wait(Duration),
    Retry(String),
    Lost(String),
}

async fn handle_all(app: &Arc<App>, cfg: &WorkerConfig, handlers: &[Arc<dyn Handler>], work: &DeliveryWork) -> Ended {
    let record = &work.record;
    let failed = |error: String| Ended::Finished {
        end: DeliveryEnd::Failed,
        outcome: serde_json::json!({ "error": error }),
        error: Some(error),
    };
    if record.attempts > cfg.max_attempts {
        let last = record.last_error.as_deref().unwrap_or("no error recorded");
        return failed(format!("given up after {} attempts; the last failed: {last}", cfg.max_attempts));
    }
    let Some(forge) = forge_of(&record.forge) else {
        return failed(format!("unknown forge `{}`", record.forge));
    };
    let event = match terrace_forge::webhook::parse_verified(forge, &record.event, &work.body) {
        Ok(event) => event,
        Err(e) => return failed(e.to_string()),
    };
    let incoming = Incoming { key: record.key.clone(), forge, event, attempt: record.attempts };
    let mut steps = Steps::new(app.clone(), work.lease.clone(), work.progress.clone());
    let mut outcome = Map::new();
    let mut errors = Vec::new();
    let mut waiting: Option<Duration> = None;
    for handler in handlers {
        let name = handler.name();
        let steps = steps.scoped(name);
        // A handler that finished on an earlier attempt is not asked again.
        if let Some(done) = steps.get("outcome") {
            outcome.insert(name.into(), done.clone());
            continue;
        }
        let result = match handler.handle(app, &incoming, steps).await {
            Ok(value) => value,
            Err(HandleError::Fail(e)) => {
                errors.push(format!("{name}: {e}"));
                serde_json::json!({ "error": e })
            }
            Err(HandleError::Retry(e)) => return Ended::Retry(format!("{name}: {e}")),
            // The others go on meanwhile; this one is asked again after the wait.
            Err(HandleError::Wait(wait)) => {
                waiting = Some(waiting.map_or(wait, |w| w.min(wait)));
                continue;
            }
            Err(HandleError::LeaseLost(e)) => return Ended::Lost(e),
        };
        if let Err(e) = steps.record("outcome", result.clone()).await {
            return match e {
                HandleError::LeaseLost(e) => Ended::Lost(e),
                HandleError::Wait(wait) => Ended::Wait(wait),
                other => Ended::Retry(other.to_string()),
            };
        }
        outcome.insert(name.into(), result);
    }
    if let Some(wait) = waiting {
        return Ended::Wait(wait);
    }
    match errors.is_empty() {
        true => Ended::Finished { end: DeliveryEnd::Done, outcome: Value::Object(outcome), error: None },
        false => Ended::Finished {
            end: DeliveryEnd::Failed,
            outcome: Value::Object(outcome),
            error: Some(errors.join("; ")),
        },
    }
}

/// Renews the lease every third of it; cancels `lost` once another replica took it.
async fn renew(
    app: Arc<App>,
    lease_for: Duration,
    lease: terrace_store::control::DeliveryLease,
    lost: CancellationToken,
) {
    let every = (lease_for / 3).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::time::sleep(every).await;
        match app.store.renew_delivery(&lease, lease_until(lease_for)).await {
            Ok(()) => {}
            Err(e) if e.is_lease_lost() => {
                lost.cancel();
                return;
            }
            Err(e) => tracing::warn!(delivery = %lease.id, error = %e, "could not renew a webhook delivery's lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let cfg = WorkerConfig::new(Duration::from_secs(30), Duration::from_secs(1));
        assert_eq!(cfg.backoff_after(1), Duration::from_secs(2));
        assert_eq!(cfg.backoff_after(2), Duration::from_secs(4));
        assert_eq!(cfg.backoff_after(4), Duration::from_secs(16));
        assert_eq!(cfg.backoff_after(40), Duration::from_secs(300));
    }
}
