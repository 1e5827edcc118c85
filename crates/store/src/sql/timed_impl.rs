//! `ScheduleStore` for `SqlStore`: each method hands its work to the module of its part.

use async_trait::async_trait;
use terrace_model::EnvironmentId;
use time::OffsetDateTime;

use super::{SqlStore, expiries};
use crate::records::EnvironmentRecord;
use crate::store::Result;
use crate::timed::{ExpiryRecord, ScheduleStore};

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
}
