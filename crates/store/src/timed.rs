//! What the time half of Terrace keeps (`ScheduleStore`): ephemeral environments' destroy
//! times, cron schedules, drift checks and the notification outbox. Kept apart from
//! `Store` (the engine's runs) and `ControlStore` (the server's queue); both modes use it:
//! a server's scheduler loop, and `terrace tick` locally.
//!
//! Every change a replica makes to fire something (a warning, a destroy, a tick) is a
//! compare-and-set on what it read: of two replicas looking at once, one fires.

use async_trait::async_trait;
use terrace_model::EnvironmentId;
use time::OffsetDateTime;

use crate::records::EnvironmentRecord;
use crate::store::Result;

/// An ephemeral environment's destroy time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExpiryRecord {
    pub environment_id: EnvironmentId,
    pub project: String,
    pub environment: String,
    /// When its `delete` event is asked: its creation plus its `ttl`, plus extensions.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When the warning before the destroy went out.
    #[serde(with = "time::serde::rfc3339::option")]
    pub warned_at: Option<OffsetDateTime>,
    /// Destroys asked so far (a failed one is retried with backoff).
    pub attempts: u32,
    /// Not before this time is the next destroy asked (after one was).
    #[serde(with = "time::serde::rfc3339::option")]
    pub retry_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    // ---- ephemeral environments ----
    /// The environment's destroy time, recorded at `expires_at` when it has none yet.
    async fn ensure_expiry(&self, env: &EnvironmentRecord, expires_at: OffsetDateTime) -> Result<ExpiryRecord>;
    async fn get_expiry(&self, project: &str, env: &str) -> Result<Option<ExpiryRecord>>;
    /// Destroy times up to `until`, soonest first, at most `limit`.
    async fn expiries_until(&self, until: OffsetDateTime, limit: u32) -> Result<Vec<ExpiryRecord>>;
    /// Moves the destroy time to `expires_at`, as a new one: no warning sent yet, no
    /// destroy asked. None when the environment has no destroy time.
    async fn extend_expiry(&self, project: &str, env: &str, expires_at: OffsetDateTime)
    -> Result<Option<ExpiryRecord>>;
    /// Records the warning for the destroy time `seen`; false when another did first or
    /// the time moved.
    async fn mark_expiry_warned(&self, env: EnvironmentId, seen: OffsetDateTime) -> Result<bool>;
    /// Counts one more destroy (after `attempts` seen), the next not before `retry_at`;
    /// false when another replica counted it first or the time moved.
    async fn claim_expiry_destroy(
        &self,
        env: EnvironmentId,
        seen_expires_at: OffsetDateTime,
        attempts: u32,
        retry_at: OffsetDateTime,
    ) -> Result<bool>;
    /// Why the last destroy failed.
    async fn note_expiry_error(&self, env: EnvironmentId, error: &str) -> Result<()>;
    /// Forgets the destroy time (the environment is gone).
    async fn delete_expiry(&self, env: EnvironmentId) -> Result<()>;
}
