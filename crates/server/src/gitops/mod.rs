//! GitOps from git: the webhook deliveries `app::hooks` keeps are processed here, each
//! by one replica (`worker`), and handed to every `Handler` of `handlers()`, the one
//! dispatch point: pipelines (plans on pull requests, plan-apply on pushes) and, beside
//! them, previews. A handler records its steps as it goes, so a retry or another replica
//! after a crash does none of them twice.

mod comment;
pub(crate) mod links;
mod newest;
mod pipelines;
mod pull_request;
mod push;
pub mod worker;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use terrace_forge::{Event, Forge};
use terrace_store::control::DeliveryLease;

use crate::app::App;

/// A delivery, parsed, as handlers get it.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// `github:<X-GitHub-Delivery>`, `gitlab:<uuid>`.
    pub key: String,
    pub forge: Forge,
    pub event: Event,
    /// 1 on the first processing, 2 on the first retry, ...
    pub attempt: u32,
}

/// Why a handler did not finish.
#[derive(Clone, Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth trying again later (a fetch, the store, a forge that did not answer): the
    /// delivery goes back in the queue with backoff.
    #[error("{0}")]
    Retry(String),
    /// Trying again would fail the same way: recorded as the handler's outcome.
    #[error("{0}")]
    Fail(String),
    /// Not done yet, waiting for work it started (plans running): the delivery goes back
    /// in the queue, looked at again after this long, without counting an attempt.
    #[error("waiting")]
    Wait(std::time::Duration),
    /// Another replica took the delivery back: this one stops, writing nothing more.
    #[error("lost the delivery's lease: {0}")]
    LeaseLost(String),
}

impl From<terrace_store::StoreError> for HandleError {
    fn from(e: terrace_store::StoreError) -> Self {
        if e.is_lease_lost() { HandleError::LeaseLost(e.to_string()) } else { HandleError::Retry(e.to_string()) }
    }
}

impl From<crate::app::AppError> for HandleError {
    fn from(e: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match e {
            AppError::Internal { detail } => HandleError::Retry(detail),
            AppError::Unavailable(_) | AppError::TimedOut { .. } => HandleError::Retry(e.to_string()),
            other => HandleError::Fail(other.to_string()),
        }
    }
}

/// Something that acts on webhook deliveries.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Names its part of the delivery's outcome and its steps.
    fn name(&self) -> &'static str;
    /// Acts on one delivery (a handler that has nothing to do returns `Value::Null`).
    /// What it returns is its part of the delivery's outcome.
    async fn handle(&self, app: &Arc<App>, delivery: &Incoming, steps: &mut Steps) -> Result<Value, HandleError>;
}

/// Every handler a delivery is handed to, in order. Add one here to act on deliveries.
pub fn handlers() -> Vec<Arc<dyn Handler>> {
    vec![Arc::new(pipelines::Pipelines)]
}

/// The steps a delivery's processing did so far, kept in the store under its lease.
pub struct Steps {
    app: Arc<App>,
    lease: DeliveryLease,
    done: Map<String, Value>,
    /// The handler whose steps these are (keys are `<handler>/<step>`).
    scope: &'static str,
}

impl Steps {
    pub(crate) fn new(app: Arc<App>, lease: DeliveryLease, done: Map<String, Value>) -> Steps {
        Steps { app, lease, done, scope: "" }
    }

    pub(crate) fn scoped(&mut self, scope: &'static str) -> &mut Steps {
        self.scope = scope;
        self
    }

    fn key(&self, step: &str) -> String {
        format!("{}/{step}", self.scope)
    }

    /// What `step` recorded, when an earlier attempt did it.
    pub fn get(&self, step: &str) -> Option<&Value> {
        self.done.get(&self.key(step))
    }

    /// Records that `step` is done (with what a retry needs of it), durably.
    pub async fn record(&mut self, step: &str, value: Value) -> Result<(), HandleError> {
        let key = self.key(step);
        self.done.insert(key, value);
        self.app.store.set_delivery_progress(&self.lease, &self.done).await?;
        Ok(())
    }
}
