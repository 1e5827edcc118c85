//! `ControlStore` for `PgStore`: each method hands its SQL to the module of its part
//! (requests, access, secrets).

use async_trait::async_trait;
use terrace_model::RunId;
use time::OffsetDateTime;

use super::{PgStore, access, requests, secrets};
use crate::control::*;
use crate::error::StoreError;
use crate::store::Result;

#[async_trait]
impl ControlStore for PgStore {
    async fn ready(&self) -> Result<()> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("read the applied migrations"))?;
        let known = super::MIGRATOR.iter().count();
        if usize::try_from(applied).unwrap_or(0) < known {
            return Err(StoreError::Invalid(format!("{applied} of {known} migrations applied")));
        }
        Ok(())
    }

    async fn put_project(&self, name: &str, path: &str) -> Result<ProjectRecord> {
        access::put_project(&self.pool, name, path).await
    }
    async fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        access::get_project(&self.pool, name).await
    }
    async fn list_projects(&self) -> Result<Vec<ProjectRecord>> {
        access::list_projects(&self.pool).await
    }

    async fn enqueue_request(&self, req: NewRequest) -> Result<Option<RequestRecord>> {
        requests::enqueue(&self.pool, req).await
    }
    async fn get_request(&self, id: RequestId) -> Result<Option<RequestRecord>> {
        requests::get(&self.pool, id).await
    }
    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<RequestRecord>> {
        requests::list(&self.pool, filter).await
    }
    async fn claim_request(&self, owner: &str, lease_until: OffsetDateTime) -> Result<Option<RequestRecord>> {
        requests::claim(&self.pool, owner, lease_until).await
    }
    async fn renew_request_leases(&self, owner: &str, until: OffsetDateTime) -> Result<Vec<RequestId>> {
        requests::renew(&self.pool, owner, until).await
    }
    async fn set_request_runs(&self, id: RequestId, owner: &str, runs: &[RunId]) -> Result<()> {
        requests::set_runs(&self.pool, id, owner, runs).await
    }
    async fn finish_request(
        &self,
        id: RequestId,
        owner: &str,
        state: RequestState,
        reason: Option<&str>,
        outcome: Option<&serde_json::Value>,
    ) -> Result<bool> {
        requests::finish(&self.pool, id, owner, state, reason, outcome).await
    }
    async fn release_request(&self, id: RequestId, owner: &str, reason: &str) -> Result<()> {
        requests::release(&self.pool, id, owner, reason).await
    }
    async fn cancel_request(&self, id: RequestId) -> Result<Option<RequestRecord>> {
        requests::cancel(&self.pool, id).await
    }
    async fn reap_requests(&self, now: OffsetDateTime, dead_owners: &[String]) -> Result<Vec<Reaped>> {
        requests::reap(&self.pool, now, dead_owners).await
    }
    async fn count_requests(&self) -> Result<Vec<(RequestState, u64)>> {
        requests::count(&self.pool).await
    }
    async fn count_runs(&self) -> Result<Vec<(String, u64)>> {
        requests::count_runs(&self.pool).await
    }

    async fn create_token(&self, name: &str, role: Role, token_hash: &str) -> Result<TokenRecord> {
        access::create_token(&self.pool, name, role, token_hash).await
    }
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        access::token_by_hash(&self.pool, token_hash).await
    }
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        access::list_tokens(&self.pool).await
    }
    async fn revoke_token(&self, id: TokenId) -> Result<bool> {
        access::revoke_token(&self.pool, id).await
    }

    async fn put_secret(&self, project: &str, env: &str, name: &str, value: &str, by: &str) -> Result<()> {
        secrets::put(&self.pool, &self.cipher, project, env, name, value, by).await
    }
    async fn list_secrets(&self, project: &str, env: &str) -> Result<Vec<SecretInfo>> {
        secrets::list(&self.pool, project, env).await
    }
    async fn secret_values(&self, project: &str, env: &str) -> Result<Vec<(String, String)>> {
        secrets::values(&self.pool, &self.cipher, project, env).await
    }
    async fn delete_secret(&self, project: &str, env: &str, name: &str) -> Result<bool> {
        secrets::delete(&self.pool, project, env, name).await
    }

    async fn audit(&self, actor: &str, action: &str, target: &str, detail: Option<&str>) -> Result<()> {
        access::audit(&self.pool, actor, action, target, detail).await
    }
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        access::audit_log(&self.pool, limit).await
    }
}
