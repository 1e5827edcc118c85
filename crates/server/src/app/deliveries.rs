//! Webhook deliveries as the API shows them: what each was read as, whether it was
//! processed, and what its processing did (viewer role).

use serde::Serialize;
use terrace_store::control::{DeliveryRecord, Role};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::access::clip;
use super::events::check_limit;
use super::{App, AppError, AppResult, Caller};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// `github:<X-GitHub-Delivery>` or `gitlab:<uuid>`.
    pub key: String,
    pub forge: String,
    /// The forge's event name (`push`, `pull_request`, `Merge Request Hook`...).
    pub event: String,
    /// What Terrace read in it, e.g. `push acme/infra refs/heads/main 1a2b3c4d5e6f`.
    pub summary: String,
    /// `queued` (waiting, or waiting to be retried), `processing`, `done` or `failed`.
    pub state: String,
    /// How many times it was taken up.
    pub attempts: u32,
    /// What each handler did (`pipelines`: the requests it queued, the comment it posted).
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<serde_json::Value>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(r: DeliveryRecord) -> Self {
        DeliveryView {
            key: r.key,
            forge: r.forge,
            event: r.event,
            summary: r.summary,
            state: r.state,
            attempts: r.attempts,
            outcome: r.outcome,
            last_error: r.last_error,
            received_at: r.received_at,
            finished_at: r.finished_at,
        }
    }
}

pub async fn list(app: &App, caller: &Caller, limit: Option<u32>) -> AppResult<Vec<DeliveryView>> {
    caller.require(Role::Viewer)?;
    let limit = check_limit(limit)?.unwrap_or(100);
    Ok(app.store.list_deliveries(limit).await?.into_iter().map(DeliveryView::from).collect())
}

pub async fn get(app: &App, caller: &Caller, key: &str) -> AppResult<DeliveryView> {
    caller.require(Role::Viewer)?;
    let record = app.store.get_delivery(key).await?.ok_or_else(|| AppError::not_found("delivery", clip(key)))?;
    Ok(record.into())
}
