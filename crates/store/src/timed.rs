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

/// What a cron schedule is for: a job's `schedule` or an environment's `drift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    Job,
    Drift,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Job => "job",
            ScheduleKind::Drift => "drift",
        }
    }
}

impl std::str::FromStr for ScheduleKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "job" => Ok(ScheduleKind::Job),
            "drift" => Ok(ScheduleKind::Drift),
            other => Err(format!("unknown schedule kind `{other}`")),
        }
    }
}

/// A cron schedule of one environment (and job), with the next tick it fires at.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleRecord {
    /// `KIND:PROJECT/ENVIRONMENT[/JOB]`: one schedule per kind, environment and job.
    pub key: String,
    pub kind: ScheduleKind,
    pub project: String,
    pub environment: String,
    pub job: Option<String>,
    /// The cron expression it was recorded with; another one starts it over.
    pub cron: String,
    #[serde(with = "time::serde::rfc3339")]
    pub next_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_fired_at: Option<OffsetDateTime>,
}

impl ScheduleRecord {
    /// The key of a schedule: one per kind, environment and job.
    pub fn key_of(kind: ScheduleKind, project: &str, env: &str, job: Option<&str>) -> String {
        match job {
            Some(job) => format!("{}:{project}/{env}/{job}", kind.as_str()),
            None => format!("{}:{project}/{env}", kind.as_str()),
        }
    }
}

terrace_model::typed_id!(DriftCheckId, "a drift check");

/// What a drift check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// Nothing changed outside Terrace (output-only changes included).
    InSync,
    /// Resources changed outside Terrace: the plan would change them back.
    Drifted,
    /// The check itself failed (a plan that did not run to its end).
    Failed,
}

impl DriftState {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftState::InSync => "in_sync",
            DriftState::Drifted => "drifted",
            DriftState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for DriftState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DriftState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "in_sync" => Ok(DriftState::InSync),
            "drifted" => Ok(DriftState::Drifted),
            "failed" => Ok(DriftState::Failed),
            other => Err(format!("unknown drift state `{other}`")),
        }
    }
}

/// A resource a drift check found changed, in one job.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DriftedResource {
    pub job: String,
    /// The resource's address in the job's configuration.
    pub address: String,
    /// What applying the configuration again would do to it.
    pub actions: Vec<String>,
}

/// One drift check of an environment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DriftCheckRecord {
    pub id: DriftCheckId,
    pub project: String,
    pub environment: String,
    pub state: DriftState,
    pub resources: Vec<DriftedResource>,
    /// The plan runs it was made of.
    pub run_ids: Vec<terrace_model::RunId>,
    /// Why it failed.
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

terrace_model::typed_id!(NotificationId, "a notification");

/// A notification to queue for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub id: NotificationId,
    pub project: String,
    /// Its kind (`run_failed`, `drift`, `ttl_warning`, ...).
    pub kind: String,
    /// The endpoint's name under `notifications:`; its URL and secret are read at delivery.
    pub endpoint: String,
    /// The message, as the JSON a webhook receives (no secret in it).
    pub body: String,
}

/// A notification in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub project: String,
    pub kind: String,
    pub endpoint: String,
    #[serde(skip)]
    pub body: String,
    /// `pending`, `delivered` or `failed` (out of attempts).
    pub state: String,
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_at: OffsetDateTime,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
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

    // ---- cron schedules (jobs' `schedule`, environments' `drift`) ----
    /// The schedule `s.key`, recorded as `s` when it has none or its cron differs (a
    /// changed expression starts over at `s.next_at`); otherwise as it was.
    async fn ensure_schedule(&self, s: &ScheduleRecord) -> Result<ScheduleRecord>;
    /// Every schedule of `project`, by key.
    async fn schedules_of(&self, project: &str) -> Result<Vec<ScheduleRecord>>;
    /// Fires the tick `seen_next_at` of `key`: the next becomes `next_at`, fired at
    /// `fired_at`. False when another replica fired it first (or the schedule changed).
    async fn fire_schedule(
        &self,
        key: &str,
        seen_next_at: OffsetDateTime,
        next_at: OffsetDateTime,
        fired_at: OffsetDateTime,
    ) -> Result<bool>;
    async fn delete_schedule(&self, key: &str) -> Result<()>;

    // ---- drift checks ----
    async fn record_drift_check(&self, check: &DriftCheckRecord) -> Result<()>;
    /// The drift checks of an environment, newest first, at most `limit`.
    async fn drift_checks(&self, project: &str, env: &str, limit: u32) -> Result<Vec<DriftCheckRecord>>;

    // ---- the notification outbox ----
    async fn enqueue_notifications(&self, items: &[NewNotification], now: OffsetDateTime) -> Result<()>;
    /// `project`'s pending notifications due at `now` that no live sender holds, at most `limit`, each
    /// now held by `owner` until `lease_until`.
    async fn claim_notifications(
        &self,
        project: &str,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>>;
    /// Ends a delivery `owner` held: `Ok(at)` delivered; `Err((why, Some(at)))` tried
    /// again at `at`; `Err((why, None))` given up. False when `owner` no longer held it.
    async fn finish_notification(
        &self,
        id: NotificationId,
        owner: &str,
        outcome: std::result::Result<OffsetDateTime, (String, Option<OffsetDateTime>)>,
    ) -> Result<bool>;
    /// The newest notifications of `project`, at most `limit`.
    async fn notifications_of(&self, project: &str, limit: u32) -> Result<Vec<NotificationRecord>>;
}
