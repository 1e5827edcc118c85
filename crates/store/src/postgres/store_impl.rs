//! `Store` for `PgStore`: each method hands its SQL to the module of its part
//! (environments, runs, attempts, logs, outputs, events).

use std::sync::Arc;

use async_trait::async_trait;
use terrace_model::log::LogBatch;
use terrace_model::output::OutputEntry;
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use time::OffsetDateTime;

use super::{PgStore, attempts, environments, events, logs, outputs, runs};
use crate::records::*;
use crate::store::{Result, Store};

#[async_trait]
impl Store for PgStore {
    async fn ensure_environment(&self, project: &str, name: &str) -> Result<EnvironmentRecord> {
        environments::ensure(&self.pool, project, name).await
    }
    async fn get_environment(&self, project: &str, name: &str) -> Result<Option<EnvironmentRecord>> {
        environments::get(&self.pool, project, name).await
    }
    async fn list_environments(&self, project: &str, page: &EnvPage) -> Result<Vec<EnvironmentRecord>> {
        environments::list(&self.pool, project, page).await
    }
    async fn set_environment_state(
        &self,
        id: EnvironmentId,
        state: EnvState,
        failed_job: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()> {
        environments::set_state(&self.pool, id, state, failed_job, reason).await
    }
    async fn delete_environment(&self, id: EnvironmentId) -> Result<()> {
        environments::delete(&self.pool, id).await
    }

    async fn create_pipeline(&self, env: EnvironmentId, event: Event, trigger: &str) -> Result<PipelineId> {
        runs::create_pipeline(&self.pool, env, event, trigger).await
    }
    async fn finish_pipeline(&self, id: PipelineId, state: RunState) -> Result<()> {
        runs::finish_pipeline(&self.pool, id, state).await
    }
    async fn create_run(&self, run: NewRun) -> Result<RunRecord> {
        runs::create(&self.pool, run).await
    }
    async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>> {
        runs::get(&self.pool, id).await
    }
    async fn find_runs_by_prefix(&self, prefix: &str) -> Result<Vec<RunRecord>> {
        runs::find_by_prefix(&self.pool, prefix).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        runs::list(&self.pool, filter).await
    }
    async fn last_runs(&self, env: EnvironmentId) -> Result<Vec<RunRecord>> {
        runs::last_per_job(&self.pool, env).await
    }
    async fn last_success_inputs(&self, env: EnvironmentId, job: &str, event: Event) -> Result<Option<String>> {
        runs::last_success_inputs(&self.pool, env, job, event).await
    }
    async fn active_runs(&self) -> Result<Vec<RunRecord>> {
        runs::active(&self.pool).await
    }

    async fn start_attempt(
        &self,
        run: RunId,
        owner: &str,
        lease_until: OffsetDateTime,
        inputs_hash: Option<&str>,
    ) -> Result<u32> {
        attempts::start(&self.pool, run, owner, lease_until, inputs_hash).await
    }
    async fn record_attempt_handle(&self, run: RunId, attempt: u32, executor: &str, handle: &str) -> Result<()> {
        attempts::record_handle(&self.pool, run, attempt, executor, handle).await
    }
    async fn finish_attempt(
        &self,
        run: RunId,
        attempt: u32,
        state: RunState,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> Result<()> {
        attempts::finish(&self.pool, run, attempt, state, exit_code, reason).await
    }
    async fn finish_run(
        &self,
        run: RunId,
        state: RunState,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> Result<()> {
        attempts::finish_run(&self.pool, run, state, exit_code, reason).await
    }
    async fn set_run_plan(&self, run: RunId, summary: &serde_json::Value, artifacts: &str) -> Result<()> {
        runs::set_plan(&self.pool, run, summary, artifacts).await
    }
    async fn attempts(&self, run: RunId) -> Result<Vec<AttemptRecord>> {
        attempts::list(&self.pool, run).await
    }
    async fn renew_leases(&self, owner: &str, until: OffsetDateTime) -> Result<()> {
        attempts::renew_leases(&self.pool, owner, until).await
    }

    async fn append_logs(&self, run: RunId, attempt: u32, batches: Arc<[LogBatch]>) -> Result<()> {
        logs::append(&self.pool, run, attempt, batches).await
    }
    async fn read_logs(&self, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>> {
        logs::read(&self.pool, run, offset, limit).await
    }

    async fn put_outputs(&self, env: EnvironmentId, job: &str, run: RunId, entries: &[OutputEntry]) -> Result<()> {
        outputs::put(&self.pool, &self.cipher, env, job, run, entries).await
    }
    async fn outputs(&self, env: EnvironmentId) -> Result<Vec<StoredOutput>> {
        outputs::list(&self.pool, &self.cipher, env).await
    }
    async fn delete_outputs(&self, env: EnvironmentId, job: &str) -> Result<()> {
        outputs::delete(&self.pool, env, job).await
    }

    async fn record_event(&self, env: EnvironmentId, run: Option<RunId>, kind: &str, message: &str) -> Result<()> {
        events::record(&self.pool, env, run, kind, message).await
    }
    async fn events(&self, env: EnvironmentId, limit: u32) -> Result<Vec<EventRecord>> {
        events::list(&self.pool, env, limit).await
    }
}
