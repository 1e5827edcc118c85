//! `Store` for `SqlStore`: each method hands its work to the module of its part
//! (environments, runs, attempts, logs, outputs, events).

use std::sync::Arc;

use async_trait::async_trait;
use terrace_model::log::LogBatch;
use terrace_model::output::OutputEntry;
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use time::OffsetDateTime;

use super::{SqlStore, attempts, environments, events, logs, outputs, promotions, runs};
use crate::owner::{Owner, RunLease};
use crate::promotions::{NewPromotion, PinRecord, PromotionId, PromotionRecord, PromotionState};
use crate::records::*;
use crate::store::{Result, Store};

#[async_trait]
impl Store for SqlStore {
    async fn ensure_environment(&self, project: &str, name: &str) -> Result<EnvironmentRecord> {
        environments::ensure(self, project, name).await
    }
    async fn get_environment(&self, project: &str, name: &str) -> Result<Option<EnvironmentRecord>> {
        environments::get(self, project, name).await
    }
    async fn create_runtime_environment(&self, env: &NewRuntimeEnvironment) -> Result<EnvironmentRecord> {
        environments::create_runtime(self, env).await
    }
    async fn set_runtime_variables(
        &self,
        project: &str,
        name: &str,
        variables: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        environments::set_runtime_variables(self, project, name, variables).await
    }
    async fn runtime_environments(&self, project: &str) -> Result<Vec<EnvironmentRecord>> {
        environments::runtime(self, project).await
    }
    async fn list_environments(&self, project: &str, page: &EnvPage) -> Result<Vec<EnvironmentRecord>> {
        environments::list(self, project, page).await
    }
    async fn set_environment_state(
        &self,
        id: EnvironmentId,
        state: EnvState,
        failed_job: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()> {
        environments::set_state(self, id, state, failed_job, reason).await
    }
    async fn delete_environment(&self, id: EnvironmentId) -> Result<()> {
        environments::delete(self, id).await
    }

    async fn create_pipeline(&self, env: EnvironmentId, event: Event, trigger: &str) -> Result<PipelineId> {
        runs::create_pipeline(self, env, event, trigger).await
    }
    async fn open_pipeline(
        &self,
        pipeline: &NewPipeline,
        holder: &Owner,
        lease_until: OffsetDateTime,
    ) -> Result<(PipelineId, Vec<OpenedRun>)> {
        runs::open_pipeline(self, pipeline, holder, lease_until).await
    }
    async fn finish_pipeline(&self, id: PipelineId, state: RunState) -> Result<()> {
        runs::finish_pipeline(self, id, state).await
    }
    async fn close_pipeline(&self, end: &PipelineEnd<'_>) -> Result<()> {
        runs::close_pipeline(self, end).await
    }
    async fn create_run(&self, run: NewRun, holder: &Owner, lease_until: OffsetDateTime) -> Result<RunRecord> {
        runs::create(self, run, holder, lease_until).await
    }
    async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>> {
        runs::get(self, id).await
    }
    async fn find_runs_by_prefix(&self, prefix: &str) -> Result<Vec<RunRecord>> {
        runs::find_by_prefix(self, prefix).await
    }
    async fn find_runs(&self, project: Option<&str>, reference: &str, limit: u32) -> Result<Vec<RunRecord>> {
        runs::find(self, project, reference, limit).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        runs::list(self, filter).await
    }
    async fn last_runs(&self, env: EnvironmentId) -> Result<Vec<RunRecord>> {
        runs::last_per_job(self, env).await
    }
    async fn last_success_inputs(&self, env: EnvironmentId, job: &str, event: Event) -> Result<Option<String>> {
        runs::last_success_inputs(self, env, job, event).await
    }
    async fn active_runs(&self) -> Result<Vec<RunRecord>> {
        runs::active(self).await
    }

    async fn start_attempt(
        &self,
        lease: &RunLease,
        lease_until: OffsetDateTime,
        inputs_hash: Option<&str>,
        log: Arc<[LogBatch]>,
    ) -> Result<u32> {
        attempts::start(self, lease, lease_until, inputs_hash, log).await
    }
    async fn record_attempt_handle(
        &self,
        lease: &RunLease,
        attempt: u32,
        executor: &str,
        handle: &str,
        phase: &str,
    ) -> Result<()> {
        attempts::record_handle(self, lease, attempt, executor, handle, phase).await
    }
    async fn end_attempt(
        &self,
        lease: &RunLease,
        attempt: u32,
        end: &Ending,
        log: Arc<[LogBatch]>,
        run_end: Option<&Ending>,
    ) -> Result<()> {
        attempts::end(self, lease, attempt, end, log, run_end).await
    }
    async fn finish_run(&self, lease: &RunLease, end: &Ending) -> Result<()> {
        attempts::finish_run(self, lease, end).await
    }
    async fn last_success(&self, env: EnvironmentId, job: &str, event: Event) -> Result<Option<RunRecord>> {
        runs::last_success(self, env, job, event).await
    }
    async fn last_good_start(&self, env: EnvironmentId) -> Result<Vec<RunRecord>> {
        runs::last_good_start(self, env).await
    }
    async fn set_run_inputs(&self, lease: &RunLease, inputs: &RunInputs) -> Result<()> {
        runs::set_inputs(self, lease, inputs).await
    }
    async fn set_run_image(&self, lease: &RunLease, image: &str) -> Result<()> {
        runs::set_image(self, lease, image).await
    }
    async fn set_run_plan(&self, lease: &RunLease, summary: &serde_json::Value, artifacts: Option<&str>) -> Result<()> {
        runs::set_plan(self, lease, summary, artifacts).await
    }
    async fn attempts(&self, run: RunId) -> Result<Vec<AttemptRecord>> {
        attempts::list(self, run).await
    }
    async fn renew_leases(&self, leases: &[RunLease], until: OffsetDateTime) -> Result<Vec<RunId>> {
        attempts::renew(self, leases, until).await
    }
    async fn take_back_run(
        &self,
        run: RunId,
        token: u64,
        expired_before: Option<OffsetDateTime>,
        reason: &str,
    ) -> Result<bool> {
        attempts::take_back(self, run, token, expired_before, reason).await
    }
    async fn adopt_run(
        &self,
        run: RunId,
        token: u64,
        expired_before: Option<OffsetDateTime>,
        holder: &Owner,
        until: OffsetDateTime,
    ) -> Result<Option<RunLease>> {
        super::adopt::adopt(self, run, token, expired_before, holder, until).await
    }

    async fn append_logs(&self, lease: &RunLease, attempt: u32, batches: Arc<[LogBatch]>) -> Result<()> {
        logs::append(self, lease, attempt, batches).await
    }
    async fn read_logs(&self, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>> {
        logs::read(self, run, offset, limit).await
    }

    async fn put_outputs(
        &self,
        lease: &RunLease,
        env: EnvironmentId,
        job: &str,
        entries: &[OutputEntry],
    ) -> Result<()> {
        outputs::put(self, lease, env, job, entries).await
    }
    async fn outputs(&self, env: EnvironmentId) -> Result<Vec<StoredOutput>> {
        outputs::list(self, env).await
    }
    async fn delete_outputs(&self, lease: &RunLease, env: EnvironmentId, job: &str) -> Result<()> {
        outputs::delete(self, lease, env, job).await
    }

    async fn record_event(&self, env: EnvironmentId, run: Option<RunId>, kind: &str, message: &str) -> Result<()> {
        events::record(self, env, run, kind, message).await
    }
    async fn events(&self, env: EnvironmentId, limit: u32) -> Result<Vec<EventRecord>> {
        events::list(self, env, limit).await
    }

    async fn create_promotion(&self, promotion: NewPromotion) -> Result<PromotionRecord> {
        promotions::create(self, promotion).await
    }
    async fn get_promotion(&self, id: PromotionId) -> Result<Option<PromotionRecord>> {
        promotions::get(self, id).await
    }
    async fn list_promotions(
        &self,
        project: &str,
        to_env: Option<&str>,
        artifact: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PromotionRecord>> {
        promotions::list(self, project, to_env, artifact, limit).await
    }
    async fn set_promotion_state(&self, id: PromotionId, state: PromotionState, reason: Option<&str>) -> Result<()> {
        promotions::set_state(self, id, state, reason).await
    }
    async fn finish_promotion(&self, id: PromotionId, env: EnvironmentId, message: &str) -> Result<()> {
        promotions::finish(self, id, env, message).await
    }
    async fn artifact_pins(&self, project: &str, env: &str) -> Result<Vec<PinRecord>> {
        promotions::pins(self, project, env).await
    }
    async fn was_promoted(&self, project: &str, env: &str, artifact: &str, digest: &str) -> Result<bool> {
        promotions::was_promoted(self, project, env, artifact, digest).await
    }
}
