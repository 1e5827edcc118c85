//! `ControlStore` for `SqlStore`: each method hands its work to the module of its part
//! (projects, requests, tokens, secrets, audit).

use async_trait::async_trait;
use terrace_model::RunId;
use time::OffsetDateTime;

use super::{SqlStore, approvals, attempts, audit, deliveries, projects, requests, secrets, tokens};
use crate::approvals::{ApprovalFilter, ApprovalId, ApprovalRecord, Decision, NewApproval};
use crate::control::*;
use crate::error::StoreError;
use crate::owner::{Owner, RequestLease};
use crate::store::Result;

#[async_trait]
impl ControlStore for SqlStore {
    async fn ready(&self) -> Result<()> {
        let (applied, known) = self.db.migrations().await?;
        if applied < known {
            return Err(StoreError::Invalid(format!("{applied} of {known} migrations applied")));
        }
        Ok(())
    }

    async fn put_project(&self, name: &str, path: &str) -> Result<ProjectRecord> {
        projects::put(self, name, path).await
    }
    async fn put_git_project(&self, name: &str, path: &str, git: &GitProject) -> Result<ProjectRecord> {
        projects::put_git(self, name, path, git).await
    }
    async fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        projects::get(self, name).await
    }
    async fn list_projects(&self) -> Result<Vec<ProjectRecord>> {
        projects::list(self).await
    }

    async fn enqueue_request(&self, req: NewRequest) -> Result<Option<RequestRecord>> {
        requests::enqueue(self, req).await
    }
    async fn get_request(&self, id: RequestId) -> Result<Option<RequestRecord>> {
        requests::get(self, id).await
    }
    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<RequestRecord>> {
        requests::list(self, filter).await
    }
    async fn claim_request(&self, owner: &Owner, lease_until: OffsetDateTime) -> Result<Option<RequestRecord>> {
        requests::claim(self, owner, lease_until).await
    }
    async fn renew_request_leases(
        &self,
        owner: &Owner,
        held: &[RequestId],
        until: OffsetDateTime,
    ) -> Result<Vec<RequestId>> {
        requests::renew(self, owner, held, until).await
    }
    async fn set_request_runs(&self, lease: &RequestLease, runs: &[RunId]) -> Result<()> {
        requests::set_runs(self, lease, runs).await
    }
    async fn finish_request(
        &self,
        lease: &RequestLease,
        state: RequestState,
        reason: Option<&str>,
        outcome: Option<&serde_json::Value>,
    ) -> Result<()> {
        requests::finish(self, lease, state, reason, outcome).await
    }
    async fn release_request(&self, lease: &RequestLease, reason: &str) -> Result<()> {
        requests::release(self, lease, reason).await
    }
    async fn cancel_request(&self, id: RequestId) -> Result<Option<RequestRecord>> {
        requests::cancel(self, id).await
    }
    async fn reap_requests(&self, now: OffsetDateTime, dead_owners: &[String]) -> Result<Vec<Reaped>> {
        requests::reap(self, now, dead_owners).await
    }
    async fn count_requests(&self) -> Result<Vec<(RequestState, u64)>> {
        requests::count(self).await
    }
    async fn count_runs(&self) -> Result<Vec<(String, u64)>> {
        attempts::count_by_state(self).await
    }

    async fn create_token(&self, name: &str, role: Role, token_hash: &str) -> Result<TokenRecord> {
        tokens::create(self, name, role, token_hash).await
    }
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        tokens::by_hash(self, token_hash).await
    }
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        tokens::list(self).await
    }
    async fn revoke_token(&self, id: TokenId) -> Result<bool> {
        tokens::revoke(self, id).await
    }

    async fn put_secret(&self, project: &str, env: &str, name: &str, value: &str, by: &str) -> Result<()> {
        if env == secrets::PROJECT_SCOPE {
            // An empty name would make it a project secret without saying so.
            return Err(StoreError::Invalid(format!(
                "secret {name}: an environment-scope secret needs an environment name"
            )));
        }
        secrets::put(self, project, env, name, value, by).await
    }
    async fn list_secrets(&self, project: &str, env: &str) -> Result<Vec<SecretInfo>> {
        secrets::list(self, project, env).await
    }
    async fn secret_values(&self, project: &str, env: &str) -> Result<Vec<(String, String)>> {
        secrets::values(self, project, env).await
    }
    async fn delete_secret(&self, project: &str, env: &str, name: &str) -> Result<bool> {
        secrets::delete(self, project, env, name).await
    }
    async fn put_project_secret(&self, project: &str, name: &str, value: &str, by: &str) -> Result<()> {
        secrets::put(self, project, secrets::PROJECT_SCOPE, name, value, by).await
    }
    async fn list_project_secrets(&self, project: &str) -> Result<Vec<SecretInfo>> {
        secrets::list_project(self, project).await
    }
    async fn delete_project_secret(&self, project: &str, name: &str) -> Result<bool> {
        secrets::delete(self, project, secrets::PROJECT_SCOPE, name).await
    }

    async fn record_delivery(&self, delivery: &crate::control::NewDelivery) -> Result<bool> {
        deliveries::record(self, delivery).await
    }
    async fn list_deliveries(&self, limit: u32) -> Result<Vec<crate::control::DeliveryRecord>> {
        deliveries::list(self, limit).await
    }
    async fn get_delivery(&self, key: &str) -> Result<Option<DeliveryRecord>> {
        deliveries::get(self, key).await
    }
    async fn claim_delivery(&self, owner: &Owner, lease_until: OffsetDateTime) -> Result<Option<DeliveryWork>> {
        deliveries::claim(self, owner, lease_until).await
    }
    async fn renew_delivery(&self, lease: &DeliveryLease, until: OffsetDateTime) -> Result<()> {
        deliveries::renew(self, lease, until).await
    }
    async fn set_delivery_progress(
        &self,
        lease: &DeliveryLease,
        progress: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        deliveries::set_progress(self, lease, progress).await
    }
    async fn defer_delivery(&self, lease: &DeliveryLease, next_at: OffsetDateTime) -> Result<()> {
        deliveries::defer(self, lease, next_at).await
    }
    async fn retry_delivery(&self, lease: &DeliveryLease, next_at: OffsetDateTime, error: &str) -> Result<()> {
        deliveries::retry(self, lease, next_at, error).await
    }
    async fn finish_delivery(
        &self,
        lease: &DeliveryLease,
        end: DeliveryEnd,
        outcome: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        deliveries::finish(self, lease, end, outcome, error).await
    }
    async fn audit(&self, actor: &str, action: &str, target: &str, detail: Option<&str>) -> Result<()> {
        audit::record(self, actor, action, target, detail).await
    }
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        audit::list(self, limit).await
    }

    async fn create_approval(&self, approval: NewApproval) -> Result<ApprovalRecord> {
        approvals::create(self, approval).await
    }
    async fn enqueue_awaiting_approval(
        &self,
        req: NewRequest,
        approval: NewApproval,
    ) -> Result<Option<(RequestRecord, ApprovalRecord)>> {
        approvals::enqueue_awaiting(self, req, approval).await
    }
    async fn get_approval(&self, id: ApprovalId) -> Result<Option<ApprovalRecord>> {
        approvals::get(self, id).await
    }
    async fn find_approvals(&self, prefix: &str) -> Result<Vec<ApprovalRecord>> {
        approvals::find(self, prefix).await
    }
    async fn list_approvals(&self, filter: &ApprovalFilter) -> Result<Vec<ApprovalRecord>> {
        approvals::list(self, filter).await
    }
    async fn decide_approval(
        &self,
        id: ApprovalId,
        decision: Decision,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Option<ApprovalRecord>> {
        approvals::decide(self, id, decision, by, reason).await
    }
    async fn set_approval_outcome(&self, id: ApprovalId, outcome: &serde_json::Value) -> Result<()> {
        approvals::set_outcome(self, id, outcome).await
    }
}
