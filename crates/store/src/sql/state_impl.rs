//! `StateStore` for `SqlStore`: Terraform state (`tf_state`) and saved plans (`tf_plans`).

use async_trait::async_trait;
use terrace_model::RunId;

use super::{SqlStore, tf_plans, tf_state};
use crate::owner::RunLease;
use crate::state::*;
use crate::store::Result;

/// What a state token is for, so it opens nothing else derived from the master key.
const STATE_TOKEN: &str = "terraform-http-backend";

#[async_trait]
impl StateStore for SqlStore {
    async fn state_versions(&self, key: &StateKey) -> Result<Vec<StateVersion>> {
        tf_state::versions(self, key).await
    }
    async fn read_state(&self, key: &StateKey, version: Option<u64>) -> Result<Option<(StateVersion, Vec<u8>)>> {
        tf_state::read(self, key, version).await
    }
    async fn write_state(
        &self,
        lease: &RunLease,
        key: &StateKey,
        lock_id: Option<&str>,
        body: &[u8],
    ) -> Result<StateVersion> {
        tf_state::write(self, lease, key, lock_id, body).await
    }
    async fn import_state(&self, key: &StateKey, body: &[u8], source: &str) -> Result<Option<StateVersion>> {
        tf_state::import(self, key, body, source).await
    }
    async fn lock_state(
        &self,
        lease: &RunLease,
        key: &StateKey,
        lock_id: &str,
        info: &str,
    ) -> Result<Option<StateLock>> {
        tf_state::lock(self, lease, key, lock_id, info).await
    }
    async fn unlock_state(&self, key: &StateKey, lock_id: &str) -> Result<bool> {
        tf_state::unlock(self, key, lock_id).await
    }
    async fn state_lock(&self, key: &StateKey) -> Result<Option<StateLock>> {
        tf_state::lock_of(self, key).await
    }
    async fn state_keys(&self, project: &str, environment: Option<&str>) -> Result<Vec<StateKey>> {
        tf_state::keys(self, project, environment).await
    }
    fn state_token(&self, run: RunId) -> String {
        self.cipher.token(STATE_TOKEN, &run.to_string())
    }
    fn check_state_token(&self, run: RunId, token: &str) -> bool {
        self.cipher.verify_token(STATE_TOKEN, &run.to_string(), token)
    }
    async fn save_plan(&self, lease: &RunLease, plan: &NewPlan, body: &[u8]) -> Result<SavedPlan> {
        tf_plans::save(self, lease, plan, body).await
    }
    async fn saved_plan(&self, run: RunId) -> Result<Option<(SavedPlan, Vec<u8>)>> {
        tf_plans::get(self, run).await
    }
}
