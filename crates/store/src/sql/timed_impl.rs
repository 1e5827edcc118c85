//! `ScheduleStore` for `SqlStore`: each method hands its work to the module of its part.

use async_trait::async_trait;
use terrace_model::EnvironmentId;
use time::OffsetDateTime;

use super::{SqlStore, drift_checks, expiries, notifications, schedules};
use crate::records::EnvironmentRecord;
use crate::store::Result;
use crate::timed::{
    DriftCheckRecord, ExpiryRecord, NewNotification, NotificationId, NotificationRecord, ScheduleRecord, ScheduleStore,
};

#[async_trait]
impl ScheduleStore for SqlStore {
    async fn ensure_expiry(&self, env: &EnvironmentRecord, expires_at: OffsetDateTime) -> Result<ExpiryRecord> {
        expiries::ensure(self, env, expires_at).await
    }
    async fn get_expiry(&self, project: &str, env: &str) -> Result<Option<ExpiryRecord>> {
        expiries::get(self, project, env).await
    }
    async fn expiries_until(&self, until: OffsetDateTime, limit: u32) -> Result<Vec<ExpiryRecord>> {
        expiries::until(self, until, limit).await
    }
    async fn extend_expiry(
        &self,
        project: &str,
        env: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Option<ExpiryRecord>> {
        expiries::extend(self, project, env, expires_at).await
    }
    async fn mark_expiry_warned(&self, env: EnvironmentId, seen: OffsetDateTime) -> Result<bool> {
        expiries::mark_warned(self, env, seen).await
    }
    async fn claim_expiry_destroy(
        &self,
        env: EnvironmentId,
        seen_expires_at: OffsetDateTime,
        attempts: u32,
        retry_at: OffsetDateTime,
    ) -> Result<bool> {
        expiries::claim_destroy(self, env, seen_expires_at, attempts, retry_at).await
    }
    async fn note_expiry_error(&self, env: EnvironmentId, error: &str) -> Result<()> {
        expiries::note_error(self, env, error).await
    }
    async fn delete_expiry(&self, env: EnvironmentId) -> Result<()> {
        expiries::delete(self, env).await
    }
    async fn ensure_schedule(&self, s: &ScheduleRecord) -> Result<ScheduleRecord> {
        schedules::ensure(self, s).await
    }
    async fn schedules_of(&self, project: &str) -> Result<Vec<ScheduleRecord>> {
        schedules::of(self, project).await
    }
    async fn fire_schedule(
        &self,
        key: &str,
        seen_next_at: OffsetDateTime,
        next_at: OffsetDateTime,
        fired_at: OffsetDateTime,
    ) -> Result<bool> {
        schedules::fire(self, key, seen_next_at, next_at, fired_at).await
    }
    async fn delete_schedule(&self, key: &str) -> Result<()> {
        schedules::delete(self, key).await
    }
    async fn record_drift_check(&self, check: &DriftCheckRecord) -> Result<()> {
        drift_checks::record(self, check).await
    }
    async fn drift_checks(&self, project: &str, env: &str, limit: u32) -> Result<Vec<DriftCheckRecord>> {
        drift_checks::of(self, project, env, limit).await
    }
    async fn enqueue_notifications(&self, items: &[NewNotification], now: OffsetDateTime) -> Result<()> {
        notifications::enqueue(self, items, now).await
    }
    async fn claim_notifications(
        &self,
        project: &str,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>> {
        notifications::claim(self, project, owner, now, lease_until, limit).await
    }
    async fn finish_notification(
        &self,
        id: NotificationId,
        owner: &str,
        outcome: std::result::Result<OffsetDateTime, (String, Option<OffsetDateTime>)>,
    ) -> Result<bool> {
        notifications::finish(self, id, owner, outcome).await
    }
    async fn notifications_of(&self, project: &str, limit: u32) -> Result<Vec<NotificationRecord>> {
        notifications::of(self, project, limit).await
    }
}
